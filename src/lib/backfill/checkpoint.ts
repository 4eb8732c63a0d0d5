// Where a REST backfill stands, per dataset: the ranges known complete in the lake, in
// <lake>/_state/backfill/<exchange>/<symbol>/<kind>[-<interval>].json, written atomically after each commit
// (so it never claims rows the lake does not hold), plus what the lake's own manifest proves (a run of
// partitions with no gap, e.g. from an archive import). A kill loses at most the batch in flight: the next run
// starts after the last commit and the lake's merge by natural key absorbs any row fetched twice.

import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { FatalError } from '../errors.js'
import { readManifest, sortedPartitions } from '../lake/manifest.js'
import { datasetDir } from '../lake/paths.js'
import { intervalDir, type DatasetId } from '../lake/schema.js'
import { barsBetween, isoUs, nextOpen, US_PER_MS } from '../time.js'
import { writeFileAtomic } from '../util/fs.js'
import { addCovered, type Covered } from './ranges.js'
import type { HistoryTarget } from './types.js'

export const CHECKPOINT_VERSION = 1

export interface CheckpointFile {
  readonly version: number
  readonly exchange: string
  readonly symbol: string
  readonly kind: string
  readonly interval: string | null
  readonly updatedAt: string
  /** Complete ranges, µs; `fromIso`/`toIso` are for people reading the file */
  readonly ranges: readonly (Covered & { readonly fromIso: string; readonly toIso: string })[]
}

/** The lake dataset a target fills (open interest is stored without its period). */
export function datasetOf(t: HistoryTarget): DatasetId {
  return {
    kind: t.kind,
    exchange: t.instrument.exchange,
    symbol: t.instrument.symbol,
    ...(t.kind === 'bars' ? { interval: t.interval } : {}),
  }
}

export function checkpointPath(lakeDir: string, t: HistoryTarget): string {
  const name = t.interval ? `${t.kind}-${intervalDir(t.interval)}` : t.kind
  return join(lakeDir, '_state', 'backfill', t.instrument.exchange, t.instrument.symbol, `${name}.json`)
}

/** Ranges the checkpoint records; none when the dataset is gone from the lake (the rows it vouched for are too). */
export function readCheckpoint(lakeDir: string, t: HistoryTarget): Covered[] {
  const path = checkpointPath(lakeDir, t)
  if (!existsSync(path) || !readManifest(datasetDir(lakeDir, datasetOf(t)))) return []
  let f: CheckpointFile
  try {
    f = JSON.parse(readFileSync(path, 'utf8')) as CheckpointFile
  } catch (err) {
    throw new FatalError(`Backfill checkpoint ${path} is unreadable: ${(err as Error).message}; delete it to start over`)
  }
  if (f.version !== CHECKPOINT_VERSION || !Array.isArray(f.ranges)) {
    throw new FatalError(`Backfill checkpoint ${path} has version ${f.version}, expected ${CHECKPOINT_VERSION}; delete it to start over`)
  }
  return f.ranges.map((r) => ({ from: r.from, to: r.to, ...(r.nextId !== undefined ? { nextId: r.nextId } : {}) }))
}

export function writeCheckpoint(lakeDir: string, t: HistoryTarget, ranges: readonly Covered[], now = Date.now()): void {
  const path = checkpointPath(lakeDir, t)
  mkdirSync(dirname(path), { recursive: true })
  const f: CheckpointFile = {
    version: CHECKPOINT_VERSION,
    exchange: t.instrument.exchange,
    symbol: t.instrument.symbol,
    kind: t.kind,
    interval: t.interval ?? null,
    updatedAt: new Date(now).toISOString(),
    ranges: ranges.map((r) => ({ ...r, fromIso: isoUs(r.from), toIso: isoUs(r.to) })),
  }
  writeFileAtomic(path, JSON.stringify(f, null, 1) + '\n')
}

/**
 * The trailing run of the lake's partitions with no gap inside or between them: bars from its first open to
 * one interval past its last; trades and aggTrades from just after its first time to its last time, resuming at
 * the id after its last (contiguous ids). Funding and open interest have no gap measure, so nothing is derived.
 */
export function coveredByLake(lakeDir: string, t: HistoryTarget): Covered | undefined {
  const ds = datasetOf(t)
  if (ds.kind !== 'bars' && ds.kind !== 'agg_trades' && ds.kind !== 'trades') return undefined
  const m = readManifest(datasetDir(lakeDir, ds))
  if (!m) return undefined
  const parts = sortedPartitions(m).map((p) => m.partitions[p])
  let i = parts.length - 1
  if (i < 0 || parts[i].gaps > 0) return undefined
  while (i > 0) {
    const prev = parts[i - 1]
    const cur = parts[i]
    const joined = ds.kind === 'bars' ? barsBetween(ds.interval!, prev.maxKey, cur.minKey) === 0 : cur.minKey === prev.maxKey + 1
    if (!joined || prev.gaps > 0) break
    i--
  }
  const first = parts[i]
  const last = parts[parts.length - 1]
  if (ds.kind === 'bars') return { from: first.minKey, to: nextOpen(ds.interval!, last.maxKey) }
  // Trades sharing the first millisecond with lower ids may be missing; the last millisecond may continue
  const from = first.minTime + US_PER_MS
  return last.maxTime > from ? { from, to: last.maxTime, nextId: last.maxKey + 1 } : undefined
}

/** Everything known complete for a target: the checkpoint and the lake's trailing gap-free run. */
export function knownCovered(lakeDir: string, t: HistoryTarget): Covered[] {
  let ranges = readCheckpoint(lakeDir, t)
  const lake = coveredByLake(lakeDir, t)
  if (lake) ranges = addCovered(ranges, lake)
  return ranges
}
