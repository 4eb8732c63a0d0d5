// A dataset's manifest is the single source of truth for which Parquet files are live. Writers add files,
// then swap the manifest with one atomic rename; readers list files from the manifest only. A crash at any
// moment leaves either the old or the new manifest, never a mix, and files no manifest names are ignored.

import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Exchange, Interval, Kind } from '../consts.js'
import { FatalError } from '../errors.js'
import { writeFileAtomic } from '../util/fs.js'
import type { DatasetId, Granularity } from './schema.js'

export const MANIFEST_FILE = '_manifest.json'
export const MANIFEST_VERSION = 1

export interface PartitionInfo {
  /** Files relative to the dataset folder, in key order */
  readonly files: readonly string[]
  readonly rows: number
  readonly bytes: number
  /** µs range of the time column */
  readonly minTime: number
  readonly maxTime: number
  /** Range of the first key column (µs for bars, ids for trades) */
  readonly minKey: number
  readonly maxKey: number
  /** Gaps inside the partition and the number of missing bars or ids they hold */
  readonly gaps: number
  readonly missing: number
}

export interface Manifest {
  readonly version: number
  readonly kind: Kind
  readonly exchange: Exchange
  readonly symbol: string
  readonly interval?: Interval
  readonly granularity: Granularity
  readonly generation: number
  readonly updatedAt: string
  /** Keyed by partition value (`2024-01-31`, `2024-01`, `2024`) */
  readonly partitions: Readonly<Record<string, PartitionInfo>>
  /** Files dropped from the manifest, kept a while for readers still holding the previous generation */
  readonly retired: readonly { readonly file: string; readonly at: number }[]
}

export function emptyManifest(ds: DatasetId, granularity: Granularity): Manifest {
  return {
    version: MANIFEST_VERSION,
    kind: ds.kind,
    exchange: ds.exchange,
    symbol: ds.symbol,
    ...(ds.interval ? { interval: ds.interval } : {}),
    granularity,
    generation: 0,
    updatedAt: new Date(0).toISOString(),
    partitions: {},
    retired: [],
  }
}

/** Reads a dataset's manifest; undefined when the dataset has none yet. */
export function readManifest(datasetDir: string): Manifest | undefined {
  const path = join(datasetDir, MANIFEST_FILE)
  if (!existsSync(path)) return undefined
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as Manifest
    if (m.version !== MANIFEST_VERSION) {
      throw new FatalError(`Lake manifest ${path} has version ${m.version}, expected ${MANIFEST_VERSION}`)
    }
    return m
  } catch (err) {
    if (err instanceof FatalError) throw err
    throw new FatalError(`Lake manifest ${path} is unreadable: ${(err as Error).message}`)
  }
}

export function writeManifest(datasetDir: string, m: Manifest): void {
  writeFileAtomic(join(datasetDir, MANIFEST_FILE), JSON.stringify(m, null, 1) + '\n')
}

/** Partition values in time order. */
export function sortedPartitions(m: Manifest): string[] {
  return Object.keys(m.partitions).sort()
}
