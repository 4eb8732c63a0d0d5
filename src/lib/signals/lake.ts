// Signals over the lake: read bars (resampling a finer interval when needed), warm up, compute, store

import type { Interval } from '../consts.js'
import { UsageError } from '../errors.js'
import type { Instrument } from '../instrument.js'
import { LakeReader, listDatasets } from '../lake/reader.js'
import type { DatasetId } from '../lake/schema.js'
import { LakeWriter, type CommitResult } from '../lake/writer.js'
import { intervalUs } from '../time.js'
import { computeSignals, selectIndicators, warmup, type SignalsOptions, type SignalsResult } from './compute.js'
import { resample } from './mtf.js'
import type { Columns } from './types.js'

const BAR_COLUMNS = ['open_time', 'open', 'high', 'low', 'close', 'volume', 'quote_volume', 'trades', 'taker_buy_volume', 'taker_buy_quote_volume'] as const

export interface LakeSignalsOptions extends SignalsOptions {
  readonly lakeDir: string
  readonly instrument: Instrument
  readonly interval: Interval
  readonly from?: number | undefined
  readonly to?: number | undefined
  /** Write the series into the lake as kind `signals` */
  readonly store: boolean
}

export interface LakeSignalsResult extends SignalsResult {
  /** Bars the lake held for the interval, or the finer interval resampled to it */
  readonly source: Interval
  readonly first: number | undefined
  readonly last: number | undefined
  /** Holes in the bars of the requested range */
  readonly gaps: number
  readonly missingBars: number
  readonly stored: CommitResult | undefined
}

/** Picks the bars to read: the interval itself, else the coarsest finer interval that divides it. */
export function sourceInterval(lakeDir: string, instrument: Instrument, interval: Interval): Interval {
  const held = listDatasets(lakeDir)
    .filter((d) => d.ds.kind === 'bars' && d.ds.exchange === instrument.exchange && d.ds.symbol === instrument.symbol)
    .map((d) => d.ds.interval as Interval)
  if (held.includes(interval)) return interval
  const target = intervalUs(interval)
  const finer = held
    .filter((i) => {
      const u = intervalUs(i)
      return u !== undefined && target !== undefined && u < target && target % u === 0
    })
    .sort((a, b) => (intervalUs(b) ?? 0) - (intervalUs(a) ?? 0))
  if (finer.length === 0) {
    throw new UsageError(
      `No bars for ${instrument.exchange}:${instrument.symbol} at ${interval} or finer in the lake` +
        (held.length ? ` (it holds ${held.join(', ')})` : '') + '. Import some: mercury backfill --archive <files>',
    )
  }
  return finer[0]
}

/** Computes signals for one instrument over the lake and optionally stores them. */
export async function signalsFromLake(o: LakeSignalsOptions): Promise<LakeSignalsResult> {
  const defs = selectIndicators(o.only)
  const step = intervalUs(o.interval)
  if (step === undefined) throw new UsageError('Invalid --interval: 1M bars are not supported by signals')
  const source = sourceInterval(o.lakeDir, o.instrument, o.interval)
  // Enough history before --from for every indicator to be warm on every timeframe
  const tfSteps = [step, ...(o.mtf ?? []).map((t) => intervalUs(t) ?? step)]
  const warm = (warmup(defs, o.params) + 2) * Math.max(...tfSteps)
  const readFrom = o.from === undefined ? undefined : o.from - warm
  const ds: DatasetId = { kind: 'bars', ...o.instrument, interval: source }
  const reader = await LakeReader.open(o.lakeDir)
  let bars: Columns
  let gaps = 0
  let missingBars = 0
  try {
    const r = await reader.readColumns(ds, BAR_COLUMNS, { from: readFrom, to: o.to })
    bars = r.columns
    const holes = await reader.gaps(ds, { from: o.from, to: o.to })
    gaps = holes.length
    missingBars = holes.reduce((a, g) => a + g.missing, 0)
  } finally {
    reader.close()
  }
  if (source !== o.interval) {
    const r = resample(bars, source, o.interval)
    bars = r as unknown as Columns
  }
  const n = bars.open_time.length
  if (n === 0) throw new UsageError(`No ${o.interval} bars for ${o.instrument.exchange}:${o.instrument.symbol} in the requested range`)
  const result = computeSignals(bars, o.interval, o)
  // Rows in the requested range (the warm-up rows before --from are not reported or stored)
  let start = 0
  if (o.from !== undefined) while (start < n && bars.open_time[start] < o.from) start++
  let stored: CommitResult | undefined
  if (o.store && start < n) {
    stored = await storeSignals(o.lakeDir, { kind: 'signals', ...o.instrument, interval: o.interval }, bars.open_time, result, start)
  }
  return {
    ...result,
    // Rows of the requested range (warm-up rows excluded)
    rows: n - start,
    source,
    first: start < n ? bars.open_time[start] : undefined,
    last: bars.open_time[n - 1],
    gaps,
    missingBars,
    stored,
  }
}

async function storeSignals(lakeDir: string, ds: DatasetId, openTime: Float64Array, r: SignalsResult, start: number): Promise<CommitResult> {
  let rows = 0
  for (const s of r.series) for (let i = start; i < s.values.length; i++) if (Number.isFinite(s.values[i])) rows++
  const t = new Float64Array(rows)
  const value = new Float64Array(rows)
  const line = new Float64Array(rows)
  const series: string[] = new Array(rows)
  let j = 0
  for (const s of r.series) {
    for (let i = start; i < s.values.length; i++) {
      const v = s.values[i]
      if (!Number.isFinite(v)) continue
      t[j] = openTime[i]
      value[j] = v
      series[j] = s.name
      line[j] = j + 1
      j++
    }
  }
  const w = await LakeWriter.open(lakeDir)
  try {
    await w.stage(ds, { rows, source: 0, line, f64: { open_time: t, value }, text: { series } })
    return await w.commit(ds)
  } finally {
    w.close()
  }
}
