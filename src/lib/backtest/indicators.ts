// Indicator series for strategies: the signals registry run on an instrument's bars, on the run's timeframe or a
// higher one. Higher timeframes use closed buckets joined as of each bar's close (the rule of src/lib/signals/mtf.ts),
// so a value at row i depends on rows 0..i only and truncating the data never changes it.

import { UsageError } from '../errors.js'
import { resolveParams, runBatch } from '../signals/engine.js'
import { asOfIndex, joinAsOf } from '../signals/mtf.js'
import { indicator } from '../signals/registry.js'
import type { Columns } from '../signals/types.js'
import { barOpen, intervalUs } from '../time.js'
import type { MarketData } from './data.js'
import type { IndicatorOptions } from './strategy.js'

const SUMS = ['volume', 'quote_volume', 'trades', 'taker_buy_volume', 'taker_buy_quote_volume'] as const

/**
 * Resamples bars (open_time µs plus OHLCV, no missing rows) into buckets of `step` µs, keeping closed buckets only:
 * a bucket closes when its last base bar is present or a later bar arrives (mtf.ts's rule, for any whole multiple,
 * not only the named intervals). `end_time` is when each bucket became known.
 */
export function resampleClosed(bars: Columns, baseStep: number, step: number): Columns & { end_time: Float64Array } {
  if (!(step > baseStep) || step % baseStep !== 0) throw new UsageError(`Invalid timeframe: ${step / 60e6}m is not a whole multiple above the ${baseStep / 60e6}m bars`)
  const t = bars.open_time
  const n = t.length
  const cap = Math.ceil(n / (step / baseStep)) + 2
  const out: Record<string, Float64Array> = {}
  for (const c of ['open_time', 'end_time', 'open', 'high', 'low', 'close', ...SUMS]) out[c] = new Float64Array(cap)
  let m = 0
  for (let i = 0; i < n; i++) {
    const bucket = barOpen(t[i], step)
    if (m === 0 || bucket !== out.open_time[m - 1]) {
      const k = m++
      out.open_time[k] = bucket
      out.end_time[k] = bucket + step
      out.open[k] = bars.open[i]
      out.high[k] = bars.high[i]
      out.low[k] = bars.low[i]
      for (const s of SUMS) out[s][k] = 0
    }
    const k = m - 1
    if (bars.high[i] > out.high[k]) out.high[k] = bars.high[i]
    if (bars.low[i] < out.low[k]) out.low[k] = bars.low[i]
    out.close[k] = bars.close[i]
    for (const s of SUMS) if (bars[s]) out[s][k] += bars[s][i]
  }
  // The last bucket counts only once its final base bar is there
  let length = m
  if (m > 0 && t[n - 1] !== out.open_time[m - 1] + step - baseStep) length = m - 1
  for (const c of Object.keys(out)) out[c] = out[c].slice(0, length)
  return out as Columns & { end_time: Float64Array }
}

/** The step in µs of a timeframe option, or undefined for the run's own bars. */
export function timeframeStep(data: MarketData, tf: IndicatorOptions['timeframe']): number | undefined {
  if (tf === undefined) return undefined
  const step = typeof tf === 'number' ? tf * data.step : intervalUs(tf)
  if (step === undefined || !Number.isInteger(step / data.step) || step < data.step) {
    throw new UsageError(`Invalid indicator timeframe ${tf}: expected a whole multiple of the ${data.interval} bars`)
  }
  return step === data.step ? undefined : step
}

/**
 * One output of a registry indicator on instrument `k`, aligned on the clock (NaN on rows the instrument has no bar).
 * Cached on the data, so runs on the same data share it.
 */
export function indicatorSeries(
  data: MarketData,
  id: string,
  given: Readonly<Record<string, number>> = {},
  opts: IndicatorOptions = {},
): Float64Array {
  const def = indicator(id)
  if (def.source !== 'bars') throw new UsageError(`${def.id} reads ${def.source} data, not bars; strategies can use bar indicators only`)
  const k = opts.instrument ?? 0
  const inst = data.instruments[k]
  if (!inst) throw new UsageError(`Invalid indicator instrument ${k}: the run has ${data.instruments.length}`)
  const p = resolveParams(def, given)
  const output = opts.output ?? def.outputs[0]
  const o = def.outputs.indexOf(output)
  if (o < 0) throw new UsageError(`Unknown output '${output}' of ${def.id}. Expected one of ${def.outputs.join(', ')}`)
  const step = timeframeStep(data, opts.timeframe)
  const key = `${k}|${def.id}|${JSON.stringify(p)}|${output}|${step ?? ''}`
  const hit = data.cache.get(key)
  if (hit) return hit
  // mtf_alignment needs the bar length; give it the run's unless set
  const params: Record<string, number> = { ...p }
  if (def.id === 'mtf_alignment' && given.baseMinutes === undefined) params.baseMinutes = (step ?? data.step) / 60e6
  let values: Float64Array
  if (step === undefined) {
    values = runBatch(def, inst.bars, params)[o]
  } else {
    // Compact the instrument's own rows, resample, run, and join back as of each bar's close
    const rows: number[] = []
    for (let i = 0; i < data.time.length; i++) if (inst.close[i] * 0 === 0) rows.push(i)
    const compact: Record<string, Float64Array> = {}
    for (const [c, v] of Object.entries(inst.bars)) compact[c] = Float64Array.from(rows, (i) => v[i])
    const htf = resampleClosed(compact, data.step, step)
    const out = runBatch(def, htf, params)[o]
    const joined = joinAsOf(out, asOfIndex(compact.open_time, data.step, htf.end_time))
    values = new Float64Array(data.time.length).fill(NaN)
    for (let j = 0; j < rows.length; j++) values[rows[j]] = joined[j]
  }
  data.cache.set(key, values)
  return values
}
