// manifest.json (written last: its presence means the dataset is complete) and .progress.json (the shards done
// so far, for --resume), plus the checksums both carry

import { createHash } from 'node:crypto'
import { createReadStream, existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../util/fs.js'
import type { LobColumn } from './layout.js'
import type { ValidationReport } from './report.js'

export const MANIFEST_FILE = 'manifest.json'
export const PROGRESS_FILE = '.progress.json'
export const MANIFEST_VERSION = 1

export interface ShardInfo {
  readonly file: string
  readonly rows: number
  /** First and last `ts`, µs */
  readonly ts_min: number
  readonly ts_max: number
  readonly sha256: string
  readonly bytes: number
}

export interface SourceInfo {
  /** As given on the command line */
  readonly path: string
  readonly bytes: number
  readonly sha256: string
  readonly kind: string
  readonly format: string | null
}

/** What decides the content of the shards; a resume must see the same. */
export interface DatasetOptions {
  readonly levels: number
  /** Sampling period in µs; null keeps every snapshot */
  readonly every_us: number | null
  readonly shard_rows: number
  readonly shards_target: number | null
  readonly compression: string
  readonly with_trades: boolean
  readonly max_gap_us: number
  readonly exchange: string | null
  readonly symbol: string | null
  readonly input_kind: string
}

export interface NpyInfo {
  readonly file: string
  readonly dtype: string
  readonly shape: readonly number[]
  readonly sha256: string
  readonly bytes: number
}

export interface Manifest {
  readonly format: 'mercury-lob'
  readonly version: number
  readonly mercury_version: string
  readonly options: DatasetOptions
  readonly schema: { readonly columns: readonly LobColumn[] }
  readonly total_rows: number
  readonly ts_min: number | null
  readonly ts_max: number | null
  readonly shards: readonly ShardInfo[]
  readonly sources: readonly SourceInfo[]
  readonly npy: readonly NpyInfo[] | null
  readonly validation: ValidationReport
}

export interface Progress {
  readonly format: 'mercury-lob-progress'
  readonly version: number
  readonly options: DatasetOptions
  /** name:bytes of every input, in order */
  readonly inputs: readonly string[]
  readonly shards: readonly ShardInfo[]
}

/** sha256 and size of a file, streamed. */
export async function fileSha256(path: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256')
  let bytes = 0
  for await (const b of createReadStream(path, { highWaterMark: 1 << 20 })) {
    h.update(b as Buffer)
    bytes += (b as Buffer).length
  }
  return { sha256: h.digest('hex'), bytes }
}

function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T
  } catch {
    return undefined
  }
}

export function readManifest(dir: string): Manifest | undefined {
  const m = readJson<Manifest>(join(dir, MANIFEST_FILE))
  return m?.format === 'mercury-lob' ? m : undefined
}

export function readProgress(dir: string): Progress | undefined {
  const p = readJson<Progress>(join(dir, PROGRESS_FILE))
  return p?.format === 'mercury-lob-progress' ? p : undefined
}

export function writeProgress(dir: string, p: Progress): void {
  writeFileAtomic(join(dir, PROGRESS_FILE), JSON.stringify(p, null, 2) + '\n')
}

export function writeManifest(dir: string, m: Manifest): void {
  writeFileAtomic(join(dir, MANIFEST_FILE), JSON.stringify(m, null, 2) + '\n')
}

/** Same options, field by field (key order does not matter). */
export function sameOptions(a: DatasetOptions, b: DatasetOptions): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof DatasetOptions>
  for (const k of keys) if (a[k] !== b[k]) return false
  return true
}

/** Shard file name: part-00000.parquet */
export function shardName(i: number): string {
  return `part-${String(i).padStart(5, '0')}.parquet`
}
