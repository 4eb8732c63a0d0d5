// The order-book feature transform, written once in TypeScript and once in Python (`lob_features` in
// kaggle/train_mamba.py). Both must agree to 1e-6; tests/ml checks them on the same rows. Change both together
// and bump FEATURE_TRANSFORM.
//
// Input: one "raw row" per book sample in the wide layout of `mercury convert-lob` (and its npy export), N levels
// per side, level 0 the best:
//   bid_px_0..N-1, bid_sz_0..N-1, ask_px_0..N-1, ask_sz_0..N-1, mid, spread
// Output: 4N + 2 features per row, in the same order:
//   bid_px_rel_bps_k = ln(bid_px_k / mid) * 1e4   (log-return of the level price relative to mid, in bps)
//   bid_sz_log_k     = ln(1 + bid_sz_k)
//   ask_px_rel_bps_k = ln(ask_px_k / mid) * 1e4
//   ask_sz_log_k     = ln(1 + ask_sz_k)
//   spread_bps       = spread / mid * 1e4
//   mid_ret_bps      = ln(mid / previous row's mid) * 1e4, 0 on the first row
// A missing level (price NaN, non-finite or <= 0: the book is shallower than N) repeats the price feature of the
// level above it (0 for level 0) and has size feature 0. A row without a positive mid cannot be transformed.
// All arithmetic is float64; normalisation `(x - mean) / std` is float64 too and only its result is float32.

import { FatalError } from '../errors.js'
import type { BookLevel } from '../types.js'
import type { OrderBook } from '../book/book.js'

/** Name of the transform; a model card must name the same one. */
export const FEATURE_TRANSFORM = 'mercury-lob-v1'

const BPS = 1e4

/** Columns of a raw row with `levels` levels per side (the convert-lob wide layout). */
export function rawColumns(levels: number): string[] {
  const out: string[] = []
  for (const name of ['bid_px', 'bid_sz', 'ask_px', 'ask_sz']) for (let k = 0; k < levels; k++) out.push(`${name}_${k}`)
  out.push('mid', 'spread')
  return out
}

/** Feature names in model input order. */
export function featureNames(levels: number): string[] {
  const out: string[] = []
  for (const name of ['bid_px_rel_bps', 'bid_sz_log', 'ask_px_rel_bps', 'ask_sz_log']) for (let k = 0; k < levels; k++) out.push(`${name}_${k}`)
  out.push('spread_bps', 'mid_ret_bps')
  return out
}

/** Values per raw row and per feature row: 4 per level plus mid and spread. */
export function rowWidth(levels: number): number {
  return 4 * levels + 2
}

/** The two sides of a book at one instant, best level first: `BookSnapshot` fits. */
export interface LobLevels {
  readonly bids: readonly BookLevel[]
  readonly asks: readonly BookLevel[]
}

/** Writes the raw row of a live book; false (and nothing written) when a side is empty. */
export function rawRowFromBook(book: OrderBook, levels: number, out: Float64Array | Float32Array, offset = 0): boolean {
  const bid = book.bidPrice(0)
  const ask = book.askPrice(0)
  if (bid === undefined || ask === undefined) return false
  for (let k = 0; k < levels; k++) {
    out[offset + k] = book.bidPrice(k) ?? NaN
    out[offset + levels + k] = book.bidAmount(k) ?? NaN
    out[offset + 2 * levels + k] = book.askPrice(k) ?? NaN
    out[offset + 3 * levels + k] = book.askAmount(k) ?? NaN
  }
  out[offset + 4 * levels] = (ask + bid) / 2
  out[offset + 4 * levels + 1] = ask - bid
  return true
}

/** Writes the raw row of a snapshot (`BookSnapshot`, a lake or shard row); false when a side is empty. */
export function rawRowFromLevels(snap: LobLevels, levels: number, out: Float64Array | Float32Array, offset = 0): boolean {
  const bid = snap.bids[0]?.price
  const ask = snap.asks[0]?.price
  if (bid === undefined || ask === undefined) return false
  for (let k = 0; k < levels; k++) {
    out[offset + k] = snap.bids[k]?.price ?? NaN
    out[offset + levels + k] = snap.bids[k]?.amount ?? NaN
    out[offset + 2 * levels + k] = snap.asks[k]?.price ?? NaN
    out[offset + 3 * levels + k] = snap.asks[k]?.amount ?? NaN
  }
  out[offset + 4 * levels] = (ask + bid) / 2
  out[offset + 4 * levels + 1] = ask - bid
  return true
}

function side(raw: ArrayLike<number>, pxAt: number, szAt: number, levels: number, mid: number, out: Float64Array, pxOut: number, szOut: number): void {
  let prev = 0
  for (let k = 0; k < levels; k++) {
    const px = raw[pxAt + k]
    const sz = raw[szAt + k]
    // `px > 0` is false for NaN, so one test covers missing and nonsense prices
    if (px > 0 && px !== Infinity) {
      prev = Math.log(px / mid) * BPS
      out[szOut + k] = sz > 0 && sz !== Infinity ? Math.log1p(sz) : 0
    } else {
      out[szOut + k] = 0
    }
    out[pxOut + k] = prev
  }
}

/**
 * Transforms one raw row into its feature row; returns the row's mid (the next row's `prevMid`).
 * Throws when the mid is not a positive number.
 */
export function transformRow(
  raw: ArrayLike<number>,
  rawOffset: number,
  levels: number,
  prevMid: number | undefined,
  out: Float64Array,
  outOffset: number,
): number {
  const n = levels
  const mid = raw[rawOffset + 4 * n]
  const spread = raw[rawOffset + 4 * n + 1]
  if (!(mid > 0 && mid !== Infinity)) throw new FatalError(`Bad book row: mid is ${mid}. Expected a positive price (both best levels present)`)
  if (!Number.isFinite(spread)) throw new FatalError(`Bad book row: spread is ${spread}. Expected a finite number`)
  side(raw, rawOffset, rawOffset + n, n, mid, out, outOffset, outOffset + n)
  side(raw, rawOffset + 2 * n, rawOffset + 3 * n, n, mid, out, outOffset + 2 * n, outOffset + 3 * n)
  out[outOffset + 4 * n] = (spread / mid) * BPS
  out[outOffset + 4 * n + 1] = prevMid === undefined ? 0 : Math.log(mid / prevMid) * BPS
  return mid
}

/** Transforms consecutive raw rows (row 0's `mid_ret_bps` is 0); float64 features, row-major. */
export function transformRows(raw: ArrayLike<number>, rows: number, levels: number): Float64Array {
  const w = rowWidth(levels)
  if (raw.length < rows * w) throw new FatalError(`Book rows: ${rows} rows of ${w} values need ${rows * w} values, was ${raw.length}`)
  const out = new Float64Array(rows * w)
  let prevMid: number | undefined
  for (let r = 0; r < rows; r++) {
    try {
      prevMid = transformRow(raw, r * w, levels, prevMid, out, r * w)
    } catch (err) {
      throw new FatalError(`Book row ${r}: ${(err as Error).message}`)
    }
  }
  return out
}

/** Per-feature normalisation computed on the training split: `(x - mean) / std`. */
export interface Normalization {
  readonly mean: readonly number[]
  readonly std: readonly number[]
}

/** Normalises `rows` feature rows from `features[from..]` into `out[outOffset..]` as float32. */
export function normalizeInto(
  features: Float64Array,
  from: number,
  rows: number,
  norm: Normalization,
  out: Float32Array,
  outOffset: number,
): void {
  const w = norm.mean.length
  for (let r = 0; r < rows; r++) {
    const src = from + r * w
    const dst = outOffset + r * w
    for (let j = 0; j < w; j++) out[dst + j] = (features[src + j] - norm.mean[j]) / norm.std[j]
  }
}
