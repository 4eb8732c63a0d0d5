// Multi-timeframe: resample bars to a higher timeframe using closed buckets only, and join higher-timeframe
// values back onto the base rows as of each base bar's close, so no base row ever sees a bucket that had not
// closed when that row closed.
//
// A bucket [T, T + step) is closed, and emitted, when the base data holds either the bar that completes it
// (open time T + step - baseStep) or any bar opening at or after T + step (a hole at the end of the bucket).
// The last bucket of the data is therefore left out until it completes: recomputing on a longer history never
// changes an earlier value (tested on every truncation in tests/signals/mtf.test.ts).

import type { Interval } from '../consts.js'
import { UsageError } from '../errors.js'
import { barOpen, intervalUs } from '../time.js'
import type { Columns } from './types.js'

export interface Resampled {
  /** Bucket open time (µs) */
  readonly open_time: Float64Array
  /** First µs after the bucket: when its values became known */
  readonly end_time: Float64Array
  readonly open: Float64Array
  readonly high: Float64Array
  readonly low: Float64Array
  readonly close: Float64Array
  readonly volume: Float64Array
  readonly quote_volume: Float64Array
  readonly trades: Float64Array
  readonly taker_buy_volume: Float64Array
  readonly taker_buy_quote_volume: Float64Array
  /** Base rows in each bucket (fewer than the full count where the base data has holes) */
  readonly rows: Float64Array
  readonly length: number
}

const SUMS = ['volume', 'quote_volume', 'trades', 'taker_buy_volume', 'taker_buy_quote_volume'] as const

/** Checks that `target` is a whole multiple of `base` with fixed lengths, and returns both steps in µs. */
export function mtfSteps(base: Interval, target: Interval): { baseStep: number; step: number } {
  const baseStep = intervalUs(base)
  const step = intervalUs(target)
  if (baseStep === undefined || step === undefined || step <= baseStep || step % baseStep !== 0) {
    throw new UsageError(`Invalid --mtf: ${target} is not a whole multiple of the ${base} bars`)
  }
  return { baseStep, step }
}

/** Resamples base bars (open_time in µs, OHLCV) into closed buckets of `target`. */
export function resample(bars: Columns, base: Interval, target: Interval): Resampled {
  const { baseStep, step } = mtfSteps(base, target)
  const t = bars.open_time
  const n = t.length
  const cap = Math.ceil(n / (step / baseStep)) + 2
  const mk = () => new Float64Array(cap)
  const out = {
    open_time: mk(), end_time: mk(), open: mk(), high: mk(), low: mk(), close: mk(), volume: mk(),
    quote_volume: mk(), trades: mk(), taker_buy_volume: mk(), taker_buy_quote_volume: mk(), rows: mk(),
  }
  const has = (k: string) => bars[k] !== undefined
  let m = 0
  let cur = -1
  const close = (k: number) => {
    out.end_time[k] = out.open_time[k] + step
  }
  for (let i = 0; i < n; i++) {
    const bucket = barOpen(t[i], step)
    if (cur < 0 || bucket !== out.open_time[cur]) {
      // A bar in a later bucket closes the current one
      if (cur >= 0) close(cur)
      cur = m++
      out.open_time[cur] = bucket
      out.open[cur] = bars.open[i]
      out.high[cur] = bars.high[i]
      out.low[cur] = bars.low[i]
      out.rows[cur] = 0
      for (const s of SUMS) out[s][cur] = 0
    }
    if (bars.high[i] > out.high[cur]) out.high[cur] = bars.high[i]
    if (bars.low[i] < out.low[cur]) out.low[cur] = bars.low[i]
    out.close[cur] = bars.close[i]
    out.rows[cur]++
    for (const s of SUMS) if (has(s)) out[s][cur] += bars[s][i]
  }
  // The last bucket counts only if its final base bar is there
  let length = m
  if (m > 0) {
    const last = m - 1
    if (t[n - 1] === out.open_time[last] + step - baseStep) close(last)
    else length = m - 1
  }
  const cut = (a: Float64Array) => a.subarray(0, length)
  return {
    open_time: cut(out.open_time), end_time: cut(out.end_time), open: cut(out.open), high: cut(out.high),
    low: cut(out.low), close: cut(out.close), volume: cut(out.volume), quote_volume: cut(out.quote_volume),
    trades: cut(out.trades), taker_buy_volume: cut(out.taker_buy_volume),
    taker_buy_quote_volume: cut(out.taker_buy_quote_volume), rows: cut(out.rows), length,
  }
}

/**
 * For each base row, the index of the newest higher-timeframe bucket that had closed when the base bar closed
 * (end_time <= base open + baseStep), or -1.
 */
export function asOfIndex(baseOpen: Float64Array, baseStep: number, htfEnd: Float64Array): Int32Array {
  const idx = new Int32Array(baseOpen.length)
  let k = -1
  for (let i = 0; i < baseOpen.length; i++) {
    const known = baseOpen[i] + baseStep
    while (k + 1 < htfEnd.length && htfEnd[k + 1] <= known) k++
    idx[i] = k
  }
  return idx
}

/** Spreads higher-timeframe values over the base rows as of each base bar's close (NaN before the first). */
export function joinAsOf(values: Float64Array, idx: Int32Array): Float64Array {
  const out = new Float64Array(idx.length)
  for (let i = 0; i < idx.length; i++) out[i] = idx[i] < 0 ? NaN : values[idx[i]]
  return out
}
