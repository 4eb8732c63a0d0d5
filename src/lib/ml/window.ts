// Model input windows: batches built from stored book rows, and a rolling window fed by a live book

import { OrderBook } from '../book/book.js'
import { FatalError, UsageError } from '../errors.js'
import { normalizeInto, rawRowFromBook, rawRowFromLevels, rowWidth, transformRow, transformRows, type LobLevels, type Normalization } from './features.js'

/** What building windows needs from a model card. */
export interface WindowSpec {
  readonly levels: number
  readonly window: number
  readonly normalization: Normalization
}

/** A batch of normalised windows, `[count, window, features]` row-major, and the row each one ends at. */
export interface Windows {
  readonly windows: Float32Array
  readonly count: number
  /** Index of each window's last row in the input */
  readonly ends: Int32Array
}

function checkSpec(spec: WindowSpec): number {
  const w = rowWidth(spec.levels)
  if (spec.normalization.mean.length !== w || spec.normalization.std.length !== w) {
    throw new UsageError(`Normalisation has ${spec.normalization.mean.length} features, expected ${w} for ${spec.levels} levels`)
  }
  return w
}

function cut(features: Float64Array, rows: number, spec: WindowSpec, ends: ArrayLike<number> | undefined): Windows {
  const w = rowWidth(spec.levels)
  const win = spec.window
  let at: Int32Array
  if (ends === undefined) {
    at = new Int32Array(Math.max(0, rows - win + 1))
    for (let i = 0; i < at.length; i++) at[i] = win - 1 + i
  } else {
    at = Int32Array.from(ends)
  }
  const out = new Float32Array(at.length * win * w)
  for (let i = 0; i < at.length; i++) {
    const end = at[i]
    if (!(end >= win - 1 && end < rows)) throw new UsageError(`Window end ${end} is out of range. Expected ${win - 1} to ${rows - 1}`)
    normalizeInto(features, (end - win + 1) * w, win, spec.normalization, out, i * win * w)
  }
  return { windows: out, count: at.length, ends: at }
}

/**
 * Builds windows from raw rows in the convert-lob wide layout (`npy/features.npy`, shard rows): every full window,
 * or those ending at `ends`. Row 0's mid return is 0, as in the trainer.
 *
 * Rows without a positive mid or a finite spread (a side was empty: NULL in the shards, NaN in the npy) are left out
 * as the trainer (kaggle/train_mamba.py) leaves them out: the next row's mid return is taken from the last good row,
 * and no window holds a left-out row. Without `ends` such windows are simply not built; an `ends` entry whose window
 * would hold one is refused, naming the row.
 */
export function windowsFromRaw(raw: ArrayLike<number>, rows: number, spec: WindowSpec, ends?: ArrayLike<number>): Windows {
  const w = checkSpec(spec)
  if (raw.length < rows * w) throw new FatalError(`Book rows: ${rows} rows of ${w} values need ${rows * w} values, was ${raw.length}`)
  const n = spec.levels
  // run[r]: good rows in a row ending at r (0 for a left-out row)
  const run = new Int32Array(rows)
  let bad = 0
  for (let r = 0; r < rows; r++) {
    const mid = raw[r * w + 4 * n]
    const spread = raw[r * w + 4 * n + 1]
    const good = mid > 0 && mid !== Infinity && Number.isFinite(spread)
    run[r] = good ? (r > 0 ? run[r - 1] : 0) + 1 : 0
    if (!good) bad++
  }
  if (bad === 0) return cut(transformRows(raw, rows, n), rows, spec, ends)

  const features = new Float64Array(rows * w)
  let prevMid: number | undefined
  for (let r = 0; r < rows; r++) if (run[r] > 0) prevMid = transformRow(raw, r * w, n, prevMid, features, r * w)
  const win = spec.window
  let at: Int32Array
  if (ends === undefined) {
    const kept: number[] = []
    for (let r = win - 1; r < rows; r++) if (run[r] >= win) kept.push(r)
    at = Int32Array.from(kept)
  } else {
    at = Int32Array.from(ends)
    for (const end of at) {
      if (!(end >= win - 1 && end < rows)) continue
      if (run[end] < win) {
        const row = end - run[end]
        throw new UsageError(`Window ending at row ${end} holds row ${row}, which has no positive mid or finite spread (an empty book side)`)
      }
    }
  }
  return cut(features, rows, spec, at)
}

/** Builds windows from a sequence of top-N snapshots (`BookSnapshot` records, lake rows grouped per instant). */
export function windowsFromSnapshots(snapshots: readonly LobLevels[], spec: WindowSpec, ends?: ArrayLike<number>): Windows {
  const w = checkSpec(spec)
  const raw = new Float64Array(snapshots.length * w)
  for (let i = 0; i < snapshots.length; i++) {
    if (!rawRowFromLevels(snapshots[i], spec.levels, raw, i * w)) throw new FatalError(`Snapshot ${i} has an empty side. Expected both best levels`)
  }
  return windowsFromRaw(raw, snapshots.length, spec, ends)
}

/**
 * The last `window` feature rows of a live book. Push one row per sampling interval (the card's
 * `sample_interval_us`; `advance` does the sampling); reset after a disconnect or resync.
 */
export class LobWindow {
  private readonly width: number
  private readonly raw: Float64Array
  /** Feature rows, a ring of `window` rows; `next` is where the next one goes */
  private readonly ring: Float64Array
  private next = 0
  private held = 0
  private prevMid: number | undefined = undefined
  private nextSampleAt: number | undefined = undefined

  constructor(readonly spec: WindowSpec) {
    this.width = checkSpec(spec)
    this.raw = new Float64Array(this.width)
    this.ring = new Float64Array(spec.window * this.width)
  }

  /** Appends the book's current state as one row; false (nothing appended) while a side is empty. */
  push(source: OrderBook | LobLevels): boolean {
    const ok = source instanceof OrderBook ? rawRowFromBook(source, this.spec.levels, this.raw) : rawRowFromLevels(source, this.spec.levels, this.raw)
    if (!ok) return false
    this.prevMid = transformRow(this.raw, 0, this.spec.levels, this.prevMid, this.ring, this.next * this.width)
    this.next = (this.next + 1) % this.spec.window
    if (this.held < this.spec.window) this.held++
    return true
  }

  /**
   * Samples the book on a time grid: call it with a change's time before applying the change. It appends one row
   * (the book as it stands) for every grid point before `timestamp`, so each row holds every change stamped at or
   * before its grid point. The grid starts at the first call, rounded up to `intervalUs`. Returns the rows appended.
   */
  advance(book: OrderBook, timestamp: number, intervalUs: number): number {
    if (!(intervalUs > 0)) throw new UsageError(`Invalid interval: ${intervalUs}. Expected a positive number of µs`)
    if (this.nextSampleAt === undefined) this.nextSampleAt = Math.ceil(timestamp / intervalUs) * intervalUs
    let n = 0
    while (this.nextSampleAt < timestamp) {
      if (this.push(book)) n++
      this.nextSampleAt += intervalUs
    }
    return n
  }

  /** Rows held, up to `window`. */
  get size(): number {
    return this.held
  }

  /** True once `window` rows are held. */
  get ready(): boolean {
    return this.held === this.spec.window
  }

  /** The normalised window, oldest row first, `[window, features]` as float32; throws before `ready`. */
  features(): Float32Array {
    const out = new Float32Array(this.spec.window * this.width)
    this.featuresInto(out, 0)
    return out
  }

  /** Writes the normalised window into a batch at `offset` (in values). */
  featuresInto(out: Float32Array, offset: number): void {
    if (!this.ready) throw new UsageError(`The window holds ${this.held} of ${this.spec.window} rows. Check ready before reading features`)
    const w = this.width
    // Oldest row is at `next` (the ring is full), then wrap
    const tail = this.spec.window - this.next
    normalizeInto(this.ring, this.next * w, tail, this.spec.normalization, out, offset)
    normalizeInto(this.ring, 0, this.next, this.spec.normalization, out, offset + tail * w)
  }

  /** Forgets every row and the previous mid (after a disconnect or a resync the next row starts afresh). */
  reset(): void {
    this.next = 0
    this.held = 0
    this.prevMid = undefined
    this.nextSampleAt = undefined
  }
}
