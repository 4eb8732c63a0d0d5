// dataset-metadata.json: the Frictionless Data Package Kaggle reads beside the files (docs: Kaggle/kaggle-api
// docs/datasets_metadata.md). Built from, in order of precedence: the command's flags, an existing
// dataset-metadata.json in the folder (so hand edits such as keywords and resource descriptions survive), the
// folder's README.md (the dataset card `convert-lob` writes: its text is the description, its first heading a
// default title) and its manifest.json (column names and types for the Parquet shards). Validation is the
// official client's, done before anything is sent.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { UsageError } from '../errors.js'
import { ARCHIVE_CACHE, folderEntries, type DirMode, type FolderEntry } from './archive.js'
import { STATE_FILE } from './state.js'

export const DATASET_METADATA_FILE = 'dataset-metadata.json'
/** Files the official client never uploads */
export const NEVER_UPLOADED = ['dataset-metadata.json', 'datapackage.json', 'kernel-metadata.json'] as const
export const DEFAULT_LICENSE = 'CC0-1.0'
/** The licence names Kaggle accepts in dataset-metadata.json (Kaggle/kaggle-api docs/datasets_metadata.md) */
export const KAGGLE_LICENSES = [
  'CC0-1.0', 'CC-BY-SA-3.0', 'CC-BY-SA-4.0', 'CC-BY-NC-SA-4.0', 'GPL-2.0', 'ODbL-1.0', 'DbCL-1.0', 'copyright-authors', 'other',
  'unknown', 'CC-BY-4.0', 'CC-BY-NC-4.0', 'PDDL', 'CC-BY-3.0', 'CC-BY-3.0-IGO', 'US-Government-Works', 'CC-BY-NC-SA-3.0-IGO',
  'CDLA-Permissive-1.0', 'CDLA-Sharing-1.0', 'CC-BY-ND-4.0', 'CC-BY-NC-ND-4.0', 'ODC-BY-1.0', 'LGPL-3.0', 'AGPL-3.0', 'FDL-1.3',
  'EU-ODP-Legal-Notice', 'apache-2.0', 'GPL-3.0',
] as const

/** Kaggle's spelling of a licence name given in any case, or undefined when Kaggle has no such licence. */
export function kaggleLicense(name: string): string | undefined {
  const n = name.trim().toLowerCase()
  return KAGGLE_LICENSES.find((l) => l.toLowerCase() === n)
}
const SLUG_PLACEHOLDER = 'INSERT_SLUG_HERE'
const TITLE_PLACEHOLDER = 'INSERT_TITLE_HERE'

export interface DatasetId {
  readonly owner: string
  readonly slug: string
}

/** Parses `owner/slug`; `flag` names where it came from in the error. */
export function parseDatasetId(value: string, flag = '--dataset'): DatasetId {
  const m = /^([A-Za-z0-9][A-Za-z0-9_.-]*)\/([^/\s]+)$/.exec(value.trim())
  if (!m) throw new UsageError(`Invalid ${flag}: '${value}'. Expected OWNER/SLUG, e.g. alice/btc-lob-l10`)
  return { owner: m[1], slug: m[2] }
}

export interface DatasetFile {
  /** Name inside the folder, as uploaded */
  readonly name: string
  readonly path: string
  /** For a folder to zip: the size of its files until the archive is built */
  readonly bytes: number
  readonly mtimeMs: number
  /** Set when this is a sub-folder uploaded as `<folder>.zip` (built at upload time) */
  readonly archive?: { readonly folder: string; readonly entries: readonly FolderEntry[] } | undefined
}

export interface SkippedEntry {
  readonly name: string
  readonly reason: string
}

/** Files of `dir` to upload, sorted by name, and what is left out and why; sub-folders as zips unless `dirMode` is skip. */
export function listDatasetFiles(dir: string, dirMode: DirMode = 'zip'): { files: DatasetFile[]; skipped: SkippedEntry[] } {
  const files: DatasetFile[] = []
  const skipped: SkippedEntry[] = []
  const names = readdirSync(dir).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  for (const name of names) {
    const path = join(dir, name)
    if ((NEVER_UPLOADED as readonly string[]).includes(name)) {
      if (name !== DATASET_METADATA_FILE) skipped.push({ name, reason: 'metadata file the Kaggle client never uploads' })
      continue
    }
    if (name === STATE_FILE || name.startsWith(`${STATE_FILE}.`) || name === ARCHIVE_CACHE) continue
    if (name.startsWith('.')) {
      skipped.push({ name, reason: 'hidden file' })
      continue
    }
    if (/\.\d+\.[0-9a-f]{8}\.tmp$/.test(name)) {
      skipped.push({ name, reason: 'temp file of an interrupted write' })
      continue
    }
    let st
    try {
      st = statSync(path)
    } catch {
      skipped.push({ name, reason: 'unreadable (a dangling link?)' })
      continue
    }
    if (st.isDirectory()) {
      if (dirMode === 'skip') {
        skipped.push({ name: `${name}/`, reason: 'sub-folder, left out by --dir-mode skip' })
        continue
      }
      const entries = folderEntries(path)
      if (entries.length === 0) {
        skipped.push({ name: `${name}/`, reason: 'sub-folder without files' })
        continue
      }
      const zipName = `${name}.zip`
      if (names.includes(zipName)) {
        throw new UsageError(`Cannot upload ${join(dir, name)}/ as ${zipName}: the folder already has a file of that name (rename one, or pass --dir-mode skip)`)
      }
      files.push({
        name: zipName,
        path: join(dir, ARCHIVE_CACHE, zipName),
        bytes: entries.reduce((a, e) => a + e.bytes, 0),
        mtimeMs: Math.floor(Math.max(...entries.map((e) => e.mtimeMs))),
        archive: { folder: name, entries },
      })
      continue
    }
    if (!st.isFile()) {
      skipped.push({ name, reason: 'not a regular file' })
      continue
    }
    files.push({ name, path, bytes: st.size, mtimeMs: st.mtimeMs })
  }
  return { files, skipped }
}

export interface FrictionlessField {
  readonly name: string
  readonly type: string
  readonly description?: string
}

export interface DatasetResource {
  readonly path: string
  readonly description?: string
  readonly schema?: { readonly fields: readonly FrictionlessField[] }
}

/** dataset-metadata.json as mercury writes it (Frictionless names, as the Kaggle client reads them). */
export interface DatasetMetadata {
  readonly title: string
  readonly id: string
  readonly subtitle?: string
  readonly description?: string
  readonly licenses: readonly { readonly name: string }[]
  readonly keywords: readonly string[]
  readonly resources: readonly DatasetResource[]
}

const FRICTIONLESS_TYPES = new Set([
  'string', 'number', 'integer', 'boolean', 'object', 'array', 'date', 'time', 'datetime', 'year', 'yearmonth', 'duration',
  'geopoint', 'geojson', 'any',
])

/** Maps a Parquet, Arrow, DuckDB or NumPy type name to a Frictionless field type; `string` when unknown. */
export function frictionlessType(type: unknown): string {
  if (typeof type !== 'string' || !type.trim()) return 'string'
  const t = type.trim().toLowerCase()
  if (FRICTIONLESS_TYPES.has(t)) return t
  if (/^bool/.test(t)) return 'boolean'
  if (/^(u?int\d*|u?(tiny|small|big|huge)int|uinteger|long|short|u?int(8|16|32|64)(_t)?)$/.test(t)) return 'integer'
  if (/^(float|double|real|decimal|numeric|f[248]|float(16|32|64))/.test(t)) return 'number'
  if (/^(timestamp|datetime)/.test(t)) return 'datetime'
  if (/^date/.test(t)) return 'date'
  if (/^time/.test(t)) return 'time'
  return 'string'
}

interface ManifestColumns {
  readonly all: FrictionlessField[] | undefined
  readonly perFile: ReadonlyMap<string, FrictionlessField[]>
}

function fieldsOf(v: unknown): FrictionlessField[] | undefined {
  const list = Array.isArray(v)
    ? v
    : v && typeof v === 'object'
      ? ((v as { columns?: unknown; fields?: unknown }).columns ?? (v as { fields?: unknown }).fields)
      : undefined
  if (!Array.isArray(list) || list.length === 0) return undefined
  const out: FrictionlessField[] = []
  for (const c of list) {
    if (typeof c === 'string') out.push({ name: c, type: 'string' })
    else if (c && typeof c === 'object' && typeof (c as { name?: unknown }).name === 'string') {
      const o = c as { name: string; type?: unknown; dtype?: unknown; logical_type?: unknown; description?: unknown }
      const d = typeof o.description === 'string' && o.description ? o.description : undefined
      out.push({ name: o.name, type: frictionlessType(o.type ?? o.dtype ?? o.logical_type), ...(d ? { description: d } : {}) })
    } else return undefined
  }
  return out
}

/**
 * Column lists from a manifest.json: `columns` or `schema` (a list, or an object with `columns`/`fields`) for
 * every shard, and per shard from `files`/`shards`/`parts` entries `{path|file|name, columns|schema}`.
 */
export function manifestColumns(manifest: unknown): ManifestColumns {
  const perFile = new Map<string, FrictionlessField[]>()
  if (!manifest || typeof manifest !== 'object') return { all: undefined, perFile }
  const m = manifest as Record<string, unknown>
  const all = fieldsOf(m.columns) ?? fieldsOf(m.schema)
  for (const key of ['files', 'shards', 'parts']) {
    const entries = m[key]
    if (!Array.isArray(entries)) continue
    for (const e of entries) {
      if (!e || typeof e !== 'object') continue
      const r = e as Record<string, unknown>
      const name = [r.path, r.file, r.name].find((x): x is string => typeof x === 'string')
      const f = fieldsOf(r.columns) ?? fieldsOf(r.schema)
      if (name && f) perFile.set(name.split('/').pop() as string, f)
    }
  }
  return { all, perFile }
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new UsageError(`Invalid ${path}: ${(err as Error).message.split('\n')[0]}. Expected JSON`)
  }
}

/** The first Markdown heading of a README, if any. */
function firstHeading(text: string): string | undefined {
  const m = /^#{1,2}\s+(.+?)\s*#*\s*$/m.exec(text)
  return m ? m[1].trim() : undefined
}

/** `btc-lob-l10` -> `Btc Lob L10`. */
function humanize(slug: string): string {
  return slug
    .split(/[-_]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join(' ')
}

export interface DatasetMetadataInput {
  readonly dir: string
  /** `owner/slug`; from dataset-metadata.json when absent */
  readonly dataset?: string | undefined
  readonly title?: string | undefined
  readonly subtitle?: string | undefined
  readonly license?: string | undefined
  readonly keywords?: readonly string[] | undefined
  /** What to do with sub-folders: upload each as a zip (default) or leave them out */
  readonly dirMode?: DirMode | undefined
}

export interface BuiltMetadata {
  readonly metadata: DatasetMetadata
  readonly id: DatasetId
  /** Where the title came from: `--title`, `dataset-metadata.json`, `README.md` or `slug` */
  readonly titleFrom: string
  /** Resources whose schema came from manifest.json */
  readonly schemaFromManifest: readonly string[]
  readonly files: readonly DatasetFile[]
  readonly skipped: readonly SkippedEntry[]
}

/** Builds (without writing) the dataset-metadata.json for `dir`; see the file comment for precedence. */
export function buildDatasetMetadata(input: DatasetMetadataInput): BuiltMetadata {
  const { dir } = input
  const metaPath = join(dir, DATASET_METADATA_FILE)
  const existing = existsSync(metaPath) ? (readJson(metaPath) as Partial<Record<string, unknown>>) : {}
  const existingId = typeof existing.id === 'string' ? existing.id : undefined
  if (input.dataset === undefined && (existingId === undefined || existingId.endsWith(`/${SLUG_PLACEHOLDER}`))) {
    throw new UsageError(`Missing --dataset: pass OWNER/SLUG, e.g. --dataset alice/btc-lob-l10 (or set "id" in ${metaPath})`)
  }
  const id = input.dataset !== undefined ? parseDatasetId(input.dataset) : parseDatasetId(existingId as string, `"id" in ${metaPath}`)
  const { files, skipped } = listDatasetFiles(dir, input.dirMode)

  const readmeName = files.find((f) => f.name.toLowerCase() === 'readme.md')?.name
  const readme = readmeName ? readFileSync(join(dir, readmeName), 'utf8') : undefined
  const heading = readme ? firstHeading(readme) : undefined

  let title: string
  let titleFrom: string
  if (input.title !== undefined) [title, titleFrom] = [input.title, '--title']
  else if (typeof existing.title === 'string') [title, titleFrom] = [existing.title, DATASET_METADATA_FILE]
  else if (heading && heading.length >= 6 && heading.length <= 50) [title, titleFrom] = [heading, readmeName as string]
  else [title, titleFrom] = [humanize(id.slug), 'slug']

  const subtitle = input.subtitle ?? (typeof existing.subtitle === 'string' ? existing.subtitle : undefined)
  const description = readme?.trim() || (typeof existing.description === 'string' ? existing.description : undefined)
  const existingLicenses = Array.isArray(existing.licenses)
    ? (existing.licenses as unknown[]).map((l) => ({ name: typeof (l as { name?: unknown })?.name === 'string' ? (l as { name: string }).name : '' }))
    : undefined
  // Kaggle's spelling whichever case was given, by flag or in an existing dataset-metadata.json
  const licenses = (input.license !== undefined ? [{ name: input.license }] : existingLicenses ?? [{ name: DEFAULT_LICENSE }]).map((l) => ({
    name: kaggleLicense(l.name) ?? l.name,
  }))
  const keywords =
    input.keywords ?? (Array.isArray(existing.keywords) ? (existing.keywords as unknown[]).filter((k): k is string => typeof k === 'string') : [])

  const oldResources = new Map<string, Record<string, unknown>>()
  if (Array.isArray(existing.resources)) {
    for (const r of existing.resources as unknown[]) {
      if (r && typeof r === 'object' && typeof (r as { path?: unknown }).path === 'string') oldResources.set((r as { path: string }).path, r as Record<string, unknown>)
    }
  }
  const manifestFile = files.find((f) => f.name === 'manifest.json')
  const cols = manifestFile ? manifestColumns(readJson(manifestFile.path)) : manifestColumns(undefined)
  const schemaFromManifest: string[] = []
  const resources: DatasetResource[] = files.map((f) => {
    const old = oldResources.get(f.name)
    const desc = typeof old?.description === 'string' && old.description ? old.description : undefined
    let fields: FrictionlessField[] | undefined
    if (f.name.toLowerCase().endsWith('.parquet')) fields = cols.perFile.get(f.name) ?? cols.all
    if (fields) schemaFromManifest.push(f.name)
    else fields = fieldsOf(old?.schema)
    return { path: f.name, ...(desc ? { description: desc } : {}), ...(fields ? { schema: { fields } } : {}) }
  })

  const metadata: DatasetMetadata = {
    title,
    id: `${id.owner}/${id.slug}`,
    ...(subtitle !== undefined ? { subtitle } : {}),
    ...(description !== undefined ? { description } : {}),
    licenses,
    keywords,
    resources,
  }
  return { metadata, id, titleFrom, schemaFromManifest, files, skipped }
}

/** The official client's checks (see file comment); throws one UsageError listing every problem. */
export function validateDatasetMetadata(m: DatasetMetadata): void {
  const problems: string[] = []
  const { slug } = parseDatasetId(m.id, 'id')
  if (slug === SLUG_PLACEHOLDER) problems.push(`the slug is the placeholder ${SLUG_PLACEHOLDER}: pass --dataset OWNER/SLUG`)
  else if (slug.length < 6 || slug.length > 50) problems.push(`Invalid --dataset slug: '${slug}'. Expected 6 to 50 characters, was ${slug.length}`)
  if (m.title === TITLE_PLACEHOLDER) problems.push(`the title is the placeholder ${TITLE_PLACEHOLDER}: pass --title`)
  else if (m.title.length < 6 || m.title.length > 50) problems.push(`Invalid --title: '${m.title}'. Expected 6 to 50 characters, was ${m.title.length}`)
  if (m.subtitle !== undefined && (m.subtitle.length < 20 || m.subtitle.length > 80)) {
    problems.push(`Invalid --subtitle: '${m.subtitle}'. Expected 20 to 80 characters, was ${m.subtitle.length}`)
  }
  if (m.licenses.length !== 1) problems.push(`Invalid licenses: ${m.licenses.length} given. Expected exactly one (--license, e.g. ${DEFAULT_LICENSE})`)
  else if (!m.licenses[0].name.trim()) problems.push(`Invalid --license: ''. Expected a licence name such as ${DEFAULT_LICENSE}`)
  else if (kaggleLicense(m.licenses[0].name) === undefined) {
    problems.push(`Invalid --license: '${m.licenses[0].name}'. Expected one of Kaggle's licence names: ${KAGGLE_LICENSES.join(', ')}`)
  }
  if (m.resources.length === 0) problems.push('the folder has no file to upload')
  if (problems.length) throw new UsageError(problems.join('; '))
}

export interface KaggleColumn {
  readonly order: number
  readonly name: string
  readonly type: string
  readonly originalType: string
  readonly description: string
}

/** Frictionless fields as the API's `columns`, with the official client's type mapping. */
export function kaggleColumns(fields: readonly FrictionlessField[]): KaggleColumn[] {
  return fields.map((f, order) => {
    const original = f.type.toLowerCase()
    const type = ['string', 'date', 'time', 'yearmonth', 'duration', 'geopoint', 'geojson'].includes(original)
      ? 'string'
      : ['number', 'numeric', 'year'].includes(original)
        ? 'numeric'
        : original
    return { order, name: f.name, type, originalType: original, description: f.description ?? '' }
  })
}
