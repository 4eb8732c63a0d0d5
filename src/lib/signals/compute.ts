// Computes a set of indicators over bars, on the bars' own timeframe and on higher ones (closed buckets,
// joined as of each base bar's close)

import type { Interval } from '../consts.js'
import { UsageError } from '../errors.js'
import { intervalUs, periodsPerYear } from '../time.js'
import { BatchArena, resolveParams, runBatch } from './engine.js'
import { asOfIndex, joinAsOf, mtfSteps, resample } from './mtf.js'
import { INDICATORS, indicator } from './registry.js'
import type { Columns, IndicatorDef, Reading } from './types.js'

export interface Series {
  /** `rsi`, `macd.macdSignal`, `rsi@4h` */
  readonly name: string
  readonly id: string
  readonly output: string
  /** Timeframe the indicator ran on */
  readonly timeframe: Interval
  readonly values: Float64Array
}

export interface Latest {
  readonly id: string
  readonly timeframe: Interval
  readonly outputs: Readonly<Record<string, number>>
  readonly reading: Reading | undefined
}

export interface SignalsResult {
  readonly rows: number
  readonly series: readonly Series[]
  /** Values and reading of every indicator at the last row */
  readonly latest: readonly Latest[]
}

export interface SignalsOptions {
  /** Indicator ids; default every bar-based indicator */
  readonly only?: readonly string[]
  readonly mtf?: readonly Interval[]
  /** Parameters per indicator id */
  readonly params?: Readonly<Record<string, Readonly<Record<string, number>>>>
}

/** Bar-based indicators to run, validated. */
export function selectIndicators(only?: readonly string[]): IndicatorDef[] {
  const defs = only?.length ? only.map((id) => indicator(id)) : INDICATORS.filter((d) => d.source === 'bars')
  for (const d of defs) {
    if (d.source !== 'bars') {
      throw new UsageError(`${d.id} reads ${d.source} data, not bars; it runs on the live bus or from the library`)
    }
  }
  return defs
}

/** Name of one output's series: `rsi`, `macd.macdSignal`, `rsi@4h` (a higher timeframe joined onto the base bars). */
export function seriesName(d: IndicatorDef, output: string, tf: Interval | undefined): string {
  const base = d.outputs.length === 1 ? d.id : `${d.id}.${output}`
  return tf ? `${base}@${tf}` : base
}

/** Warm-up rows each indicator needs at its defaults (or given parameters), on its own timeframe. */
export function warmup(defs: readonly IndicatorDef[], params: SignalsOptions['params'] = {}): number {
  return Math.max(0, ...defs.map((d) => d.lookback(resolveParams(d, params[d.id]))))
}

const LADDER: readonly Interval[] = ['1m', '5m', '15m', '1h', '4h', '1d', '1w']

/** Higher timeframes for mtf_alignment: the first two of --mtf, else two standard steps above the bars. */
function alignmentTimeframes(interval: Interval, baseMinutes: number, mtf?: readonly Interval[]): Record<string, number> {
  const minutes = (i: Interval) => (intervalUs(i) ?? 0) / 60e6
  let pair = mtf && mtf.length >= 2 ? [mtf[0], mtf[1]] : undefined
  if (!pair) {
    const above = LADDER.filter((i) => minutes(i) > baseMinutes && minutes(i) % baseMinutes === 0)
    const start = baseMinutes < 15 ? above.indexOf('1h') : 0
    pair = [above[Math.max(0, start)], above[Math.max(0, start) + 1]]
  }
  if (!pair[0] || !pair[1]) throw new UsageError(`mtf_alignment needs two timeframes above ${interval}; pass --mtf`)
  return { baseMinutes, tf1Minutes: minutes(pair[0]), tf2Minutes: minutes(pair[1]) }
}

/**
 * Parameters an indicator runs with on bars of `interval`: the given ones; for annualised volatilities, unless given,
 * `periodsPerYear` of the interval; and for mtf_alignment the timeframes that fit the bars (the first two of `mtf`,
 * else two standard steps above them).
 */
export function indicatorParams(d: IndicatorDef, interval: Interval, opts: SignalsOptions = {}): Readonly<Record<string, number>> | undefined {
  const given = opts.params?.[d.id]
  // Annualised volatilities scale by the bars they run on (a 1h bar's return by sqrt(8760), not the 1m default)
  if (d.params.some((p) => p.name === 'periodsPerYear')) return { periodsPerYear: periodsPerYear(interval), ...given }
  if (d.id !== 'mtf_alignment') return given
  const baseMinutes = (intervalUs(interval) ?? 0) / 60e6
  return { ...alignmentTimeframes(interval, baseMinutes, opts.mtf), ...given }
}

/** One indicator's latest outputs (in `outputs` order) and its reading from them and the row's inputs. */
export function latestOf(d: IndicatorDef, timeframe: Interval, out: ArrayLike<number>, x: ArrayLike<number>): Latest {
  const outputs = Object.fromEntries(d.outputs.map((o, k) => [o, out[k]]))
  return { id: d.id, timeframe, outputs, reading: d.reading?.(d.outputs.map((o) => outputs[o]), x) }
}

/** The confluence entry on the base timeframe, when confluence was computed. */
export function confluenceOf(latest: readonly Latest[], interval: Interval): Latest | undefined {
  return latest.find((l) => l.id === 'confluence' && l.timeframe === interval)
}

/** Runs indicators over bars (`open_time` in µs plus OHLCV) of `interval` and optional higher timeframes. */
export function computeSignals(bars: Columns, interval: Interval, opts: SignalsOptions = {}): SignalsResult {
  const defs = selectIndicators(opts.only)
  const n = bars.open_time?.length ?? 0
  const series: Series[] = []
  const latest: Latest[] = []
  // Higher-timeframe outputs are only copied onto the base bars (joinAsOf) and read for `latest`, so they are
  // computed into one reused arena; base-timeframe outputs are returned and get arrays of their own
  const htf = new BatchArena()
  const run = (cols: Columns, tf: Interval, join?: Int32Array) => {
    const len = cols.open_time?.length ?? 0
    for (const d of defs) {
      // mtf_alignment is already multi-timeframe: it runs on the base bars only, with timeframes that fit them
      if (d.id === 'mtf_alignment' && join) continue
      if (join) htf.reset()
      const outs = runBatch(d, cols, indicatorParams(d, tf, opts), join ? { arena: htf } : {})
      d.outputs.forEach((o, k) => {
        series.push({
          name: seriesName(d, o, join ? tf : undefined),
          id: d.id,
          output: o,
          timeframe: tf,
          values: join ? joinAsOf(outs[k], join) : outs[k],
        })
      })
      const last = join ? (join.length ? join[join.length - 1] : -1) : len - 1
      if (last >= 0) latest.push(latestOf(d, tf, outs.map((o) => o[last]), d.inputs.map((c) => cols[c][last])))
    }
  }
  run(bars, interval)
  for (const tf of opts.mtf ?? []) {
    const { baseStep } = mtfSteps(interval, tf)
    const r = resample(bars, interval, tf)
    run(r as unknown as Columns, tf, asOfIndex(bars.open_time, baseStep, r.end_time))
  }
  return { rows: n, series, latest }
}
