// Creating a Kaggle dataset, or a new version of one, from a folder (the flow of `kaggle datasets create` and
// `kaggle datasets version`, Kaggle/kaggle-api kaggle_api_extended.py): check the credentials, ask
// GetDatasetStatus whether the dataset exists, write dataset-metadata.json, upload every file through
// StartBlobUpload and a resumable PUT, then CreateDataset or CreateDatasetVersion with the blob tokens. The plan
// is built from local files only; nothing is sent until `uploadDataset` runs.

import { join } from 'node:path'
import { FatalError } from '../errors.js'
import { logger } from '../log.js'
import type { BackoffOptions } from '../net/backoff.js'
import { writeFileAtomic } from '../util/fs.js'
import { ARCHIVE_CACHE, buildFolderArchive, removeArchives } from './archive.js'
import { putResumable } from './blob.js'
import { KaggleApiError, KaggleAuthError, SERVICES, type KaggleClient } from './client.js'
import { describeCredentials } from './credentials.js'
import {
  buildDatasetMetadata,
  DATASET_METADATA_FILE,
  kaggleColumns,
  validateDatasetMetadata,
  type DatasetFile,
  type DatasetMetadata,
  type DatasetMetadataInput,
  type SkippedEntry,
} from './metadata.js'
import { readState, removeState, writeState, type FileUploadState, type UploadState } from './state.js'

const log = logger('mercury:kaggle')

export const KAGGLE_WEB = 'https://www.kaggle.com'

export type DatasetAction = 'create' | 'version'

export interface DatasetUploadInput extends DatasetMetadataInput {
  /** Make a new dataset public (default private); ignored by versions */
  readonly isPublic?: boolean | undefined
  /** Version notes (a new version only) */
  readonly notes?: string | undefined
}

export interface PlannedFile {
  readonly name: string
  readonly bytes: number
  /** `new`: a fresh upload; `resume`: a session from the state file continues; `uploaded`: done in an earlier run */
  readonly state: 'new' | 'resume' | 'uploaded'
  /** A sub-folder zipped at upload time: its name and file count (`bytes` is then the size before compression) */
  readonly archive?: { readonly folder: string; readonly files: number } | undefined
}

export interface DatasetPlan {
  readonly dir: string
  readonly dataset: string
  readonly owner: string
  readonly slug: string
  readonly url: string
  readonly metadataPath: string
  readonly metadata: DatasetMetadata
  readonly titleFrom: string
  readonly schemaFromManifest: readonly string[]
  readonly isPrivate: boolean
  readonly notes: string
  readonly files: readonly PlannedFile[]
  readonly skipped: readonly SkippedEntry[]
  readonly totalBytes: number
  /** Local paths and sizes of the files (not printed) */
  readonly sources: readonly DatasetFile[]
}

export const DEFAULT_VERSION_NOTES = 'Updated with mercury kaggle-upload'

function sameFile(s: FileUploadState | undefined, f: DatasetFile): s is FileUploadState {
  return s !== undefined && s.size === f.bytes && s.mtimeMs === f.mtimeMs
}

/** Builds and validates the upload plan of `dir` from local files only (sends nothing, writes nothing). */
export function planDatasetUpload(input: DatasetUploadInput): DatasetPlan {
  const built = buildDatasetMetadata(input)
  validateDatasetMetadata(built.metadata)
  const dataset = `${built.id.owner}/${built.id.slug}`
  const state = readState(input.dir, dataset)
  const files: PlannedFile[] = built.files.map((f) => {
    const s = state.files[f.name]
    // An archive's size is known once it is built; its mtime (the newest file's) already tells whether it changed
    const same = f.archive ? s !== undefined && s.mtimeMs === f.mtimeMs : sameFile(s, f)
    return {
      name: f.name,
      bytes: f.bytes,
      state: same && s ? (s.done ? 'uploaded' : 'resume') : 'new',
      ...(f.archive ? { archive: { folder: f.archive.folder, files: f.archive.entries.length } } : {}),
    }
  })
  return {
    dir: input.dir,
    dataset,
    owner: built.id.owner,
    slug: built.id.slug,
    url: `${KAGGLE_WEB}/datasets/${dataset}`,
    metadataPath: join(input.dir, DATASET_METADATA_FILE),
    metadata: built.metadata,
    titleFrom: built.titleFrom,
    schemaFromManifest: built.schemaFromManifest,
    isPrivate: !input.isPublic,
    notes: input.notes ?? DEFAULT_VERSION_NOTES,
    files,
    skipped: built.skipped,
    totalBytes: built.files.reduce((a, f) => a + f.bytes, 0),
    sources: built.files,
  }
}

/**
 * Proves the credentials work before anything is uploaded: IntrospectToken for an access token (which also names
 * its user); a legacy key has no such call, so the caller's GetDatasetStatus is the check. Returns the username
 * when known.
 */
export async function verifyCredentials(client: KaggleClient): Promise<string | undefined> {
  const c = client.credentials
  if (c.kind === 'key') return c.username
  const r = await client.call<{ active?: boolean; username?: string; userName?: string }>(SERVICES.security, 'IntrospectToken', { token: c.token })
  if (r.active === false) throw new KaggleAuthError(`Kaggle rejected the credentials (${c.source}): the token is not active`)
  return r.username ?? r.userName
}

/** Asks GetDatasetStatus whether `owner/slug` exists: `version` if it does, `create` when Kaggle answers 404. */
export async function decideAction(client: KaggleClient, owner: string, slug: string): Promise<DatasetAction> {
  try {
    await client.call(SERVICES.datasets, 'GetDatasetStatus', { ownerSlug: owner, datasetSlug: slug })
    return 'version'
  } catch (err) {
    if (err instanceof KaggleApiError && err.status === 404) return 'create'
    throw err
  }
}

export interface UploadProgress {
  readonly file: string
  readonly fileBytes: number
  /** Bytes of this file the server holds */
  readonly committed: number
  /** Bytes of earlier files done plus `committed` */
  readonly totalCommitted: number
  readonly totalBytes: number
}

export interface DatasetUploadOptions {
  readonly chunkBytes?: number
  readonly retries?: number
  readonly backoff?: BackoffOptions
  readonly timeoutMs?: number
  readonly onProgress?: (p: UploadProgress) => void
  /** Called once the create-or-version decision is made, before any upload */
  readonly onAction?: (action: DatasetAction) => void
}

export interface UploadedFile {
  readonly name: string
  readonly bytes: number
  /** Body bytes sent in this run (a resumed file sends only what the server lacked) */
  readonly bytesSent: number
  /** Bytes the server already held when this run took the file up: > 0 for a resumed upload */
  readonly resumedFrom: number
  /** Sessions started again because the previous one expired (404) */
  readonly restarts: number
}

export interface DatasetUploadResult {
  readonly dataset: string
  readonly action: DatasetAction
  readonly ref: string
  readonly url: string
  readonly versionNumber: number | null
  readonly status: string | null
  readonly isPrivate: boolean
  readonly metadataPath: string
  readonly files: readonly UploadedFile[]
  readonly totalBytes: number
  readonly bytesSent: number
  readonly invalidTags: readonly string[]
  readonly credentials: ReturnType<typeof describeCredentials>
}

interface StartBlobUploadResponse {
  readonly token?: string
  readonly createUrl?: string
}

interface CreateDatasetResponse {
  readonly ref?: string
  readonly url?: string
  readonly status?: string
  readonly error?: string
  readonly invalidTags?: string[]
  readonly versionNumber?: number
}

/** Uploads the plan's files and creates the dataset or its new version; see the file comment. */
export async function uploadDataset(plan: DatasetPlan, client: KaggleClient, o: DatasetUploadOptions = {}): Promise<DatasetUploadResult> {
  await verifyCredentials(client)
  const action = await decideAction(client, plan.owner, plan.slug)
  o.onAction?.(action)
  writeFileAtomic(plan.metadataPath, JSON.stringify(plan.metadata, null, 2) + '\n')

  // Sub-folders become zips now (deterministic: the same folder gives the same bytes, so a session resumes)
  const sources: DatasetFile[] = []
  for (const f of plan.sources) {
    if (!f.archive) {
      sources.push(f)
      continue
    }
    const built = await buildFolderArchive(join(plan.dir, ARCHIVE_CACHE), f.archive.folder, f.archive.entries)
    sources.push({ ...f, path: built.path, bytes: built.bytes, mtimeMs: built.mtimeMs })
  }
  const totalBytes = sources.reduce((a, f) => a + f.bytes, 0)

  let state: UploadState = readState(plan.dir, plan.dataset)
  const save = (name: string, f: FileUploadState | undefined) => {
    const files = { ...state.files }
    if (f) files[name] = f
    else delete files[name]
    state = { ...state, files }
    writeState(plan.dir, state)
  }
  // Sessions of files no longer in the folder are dropped
  for (const name of Object.keys(state.files)) if (!sources.some((f) => f.name === name)) save(name, undefined)

  const start = async (f: DatasetFile): Promise<FileUploadState> => {
    const r = await client.call<StartBlobUploadResponse>(SERVICES.blobs, 'StartBlobUpload', {
      type: 'DATASET',
      name: f.name,
      contentLength: f.bytes,
      lastModifiedEpochSeconds: Math.floor(f.mtimeMs / 1000),
    })
    if (typeof r.token !== 'string' || !r.token || typeof r.createUrl !== 'string' || !r.createUrl) {
      throw new FatalError(`StartBlobUpload for ${f.name} answered without a token and createUrl`)
    }
    const s: FileUploadState = { size: f.bytes, mtimeMs: f.mtimeMs, token: r.token, createUrl: r.createUrl, done: false }
    // Recorded before the first byte is sent, so a crash from here on resumes this session
    save(f.name, s)
    return s
  }

  const uploaded: UploadedFile[] = []
  let doneBytes = 0
  for (const f of sources) {
    let s: FileUploadState | undefined = state.files[f.name]
    if (s !== undefined && !sameFile(s, f)) {
      log.info(`${f.name} changed since its upload started; starting it over`)
      save(f.name, undefined)
      s = undefined
    }
    let fresh = s === undefined
    if (s === undefined) s = await start(f)
    let bytesSent = 0
    let restarts = 0
    let resumedFrom = 0
    for (;;) {
      const out = await putResumable({
        path: f.path,
        size: f.bytes,
        createUrl: s.createUrl,
        // A session from an earlier run: ask the server what it holds (it also confirms a "done" one still exists)
        knownOffset: fresh ? 0 : undefined,
        chunkBytes: o.chunkBytes,
        retries: o.retries,
        backoff: o.backoff,
        timeoutMs: o.timeoutMs,
        onProgress: (committed) =>
          o.onProgress?.({ file: f.name, fileBytes: f.bytes, committed, totalCommitted: doneBytes + committed, totalBytes }),
      })
      bytesSent += out.bytesSent
      if (out.kind === 'done') {
        if (!fresh) resumedFrom = out.resumedFrom
        break
      }
      if (++restarts > 3) throw new FatalError(`The upload session of ${f.name} expired ${restarts} times in a row; try again later`)
      log.warn(`The upload session of ${f.name} expired (HTTP 404); starting it over`)
      s = await start(f)
      fresh = true
      resumedFrom = 0
    }
    save(f.name, { ...s, done: true })
    doneBytes += f.bytes
    uploaded.push({ name: f.name, bytes: f.bytes, bytesSent, resumedFrom, restarts })
  }

  const files = sources.map((f) => {
    const res = plan.metadata.resources.find((r) => r.path === f.name)
    return {
      token: state.files[f.name].token,
      ...(res?.description ? { description: res.description } : {}),
      ...(res?.schema ? { columns: kaggleColumns(res.schema.fields) } : {}),
    }
  })
  const m = plan.metadata
  const keywords = [...m.keywords]
  let reply: CreateDatasetResponse
  if (action === 'create') {
    reply = await client.call<CreateDatasetResponse>(
      SERVICES.datasets,
      'CreateDataset',
      {
        ownerSlug: plan.owner,
        slug: plan.slug,
        title: m.title,
        ...(m.subtitle !== undefined ? { subtitle: m.subtitle } : {}),
        ...(m.description !== undefined ? { description: m.description } : {}),
        licenseName: m.licenses[0].name,
        isPrivate: plan.isPrivate,
        files,
        categoryIds: keywords,
      },
      { kind: 'create' },
    )
  } else {
    reply = await client.call<CreateDatasetResponse>(
      SERVICES.datasets,
      'CreateDatasetVersion',
      {
        ownerSlug: plan.owner,
        datasetSlug: plan.slug,
        body: {
          versionNotes: plan.notes,
          ...(m.subtitle !== undefined ? { subtitle: m.subtitle } : {}),
          ...(m.description !== undefined ? { description: m.description } : {}),
          files,
          categoryIds: keywords,
          deleteOldVersions: false,
        },
      },
      { kind: 'create' },
    )
  }
  const method = action === 'create' ? 'CreateDataset' : 'CreateDatasetVersion'
  if (reply.error) throw new KaggleApiError(`Kaggle refused ${method}: ${reply.error}`, 200, reply.error)
  if (reply.status !== undefined && reply.status !== '' && reply.status.toLowerCase() !== 'ok') {
    throw new KaggleApiError(`Kaggle refused ${method}: status ${reply.status}`, 200, reply.status)
  }
  removeState(plan.dir)
  removeArchives(plan.dir)
  const invalidTags = reply.invalidTags ?? []
  return {
    dataset: plan.dataset,
    action,
    ref: reply.ref || plan.dataset,
    url: reply.url || plan.url,
    versionNumber: typeof reply.versionNumber === 'number' ? reply.versionNumber : null,
    status: reply.status ?? null,
    isPrivate: plan.isPrivate,
    metadataPath: plan.metadataPath,
    files: uploaded,
    totalBytes,
    bytesSent: uploaded.reduce((a, f) => a + f.bytesSent, 0),
    invalidTags,
    credentials: describeCredentials(client.credentials),
  }
}
