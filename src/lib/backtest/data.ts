// Market data for a backtest: bars of every instrument on one clock, as Float64Array columns, plus what the
// simulator needs besides bars (funding events, 1m bars inside each bar, book snapshots). Loading reads the lake
// once; `simulate` then runs any number of times on the same columns without I/O.

import type { Exchange, Interval } from '../consts.js'
import { FatalError, UsageError } from '../errors.js'
import { formatInstrument, type Instrument } from '../instrument.js'
import { LakeReader, listDatasets } from '../lake/reader.js'
import type { DatasetId } from '../lake/schema.js'
import { sourceInterval } from '../signals/lake.js'
import { resample } from '../signals/mtf.js'
import type { Columns } from '../signals/types.js'
import { intervalUs, isoUs, US_PER_MINUTE } from '../time.js'
import type { BacktestResult } from './types.js'

/** Bar columns read from the lake; every one is kept, so any bar indicator can run. */
export const BAR_COLUMNS = [
  'open_time', 'open', 'high', 'low', 'close', 'volume', 'quote_volume', 'trades', 'taker_buy_volume', 'taker_buy_quote_volume',
] as const

export type Market = 'spot' | 'perp'

/** Funding events of a perpetual, in time order. */
export interface FundingSeries {
  /** When the rate is charged, µs */
  readonly time: Float64Array
  readonly rate: Float64Array
  /** Mark price at that time; NaN when the lake has none (the bar price is used) */
  readonly mark: Float64Array
}

/** 1m bars inside each bar of the clock: bar i holds rows start[i] .. end[i] - 1. */
export interface IntrabarSeries {
  readonly time: Float64Array
  readonly open: Float64Array
  readonly high: Float64Array
  readonly low: Float64Array
  readonly close: Float64Array
  readonly volume: Float64Array
  readonly start: Int32Array
  readonly end: Int32Array
}

/** Order book snapshots: snapshot s has levels offset[s] .. offset[s + 1] - 1 (level 0 first). */
export interface BookSeries {
  /** When each snapshot became known (receipt time), µs */
  readonly time: Float64Array
  readonly offset: Int32Array
  readonly bidPrice: Float64Array
  readonly bidAmount: Float64Array
  readonly askPrice: Float64Array
  readonly askAmount: Float64Array
}

/** One instrument's data, aligned on the run's clock. */
export interface InstrumentSeries {
  readonly exchange: Exchange
  readonly symbol: string
  /** `exchange:SYMBOL` */
  readonly key: string
  readonly market: Market
  /** Every bar column, aligned on the clock (NaN where this instrument has no bar); `open_time` is the clock */
  readonly bars: Columns
  readonly open: Float64Array
  readonly high: Float64Array
  readonly low: Float64Array
  readonly close: Float64Array
  readonly volume: Float64Array
  /** Bars the lake held at the interval, or the finer interval resampled to it */
  readonly source: Interval
  readonly funding: FundingSeries | undefined
  readonly intrabar: IntrabarSeries | undefined
  readonly book: BookSeries | undefined
}

/** Everything a run reads, preloaded. Bars before `start` are warm-up: indicators see them, nothing trades. */
export interface MarketData {
  readonly interval: Interval
  /** Bar length, µs */
  readonly step: number
  /** Bar open times of the clock (the union of the instruments' bars), µs */
  readonly time: Float64Array
  readonly start: number
  readonly instruments: readonly InstrumentSeries[]
  readonly gaps: BacktestResult['gaps']
  readonly warnings: readonly string[]
  /** Indicator series computed on this data, shared by every run on it (keyed by instrument, id, params, output, timeframe) */
  readonly cache: Map<string, Float64Array>
}

export interface LoadOptions {
  /** Spot or perpetual for every instrument; default from the exchange (binance-futures: perp) */
  readonly market?: Market | undefined
  /** Bars to read before `from` for indicator warm-up */
  readonly warmupBars?: number | undefined
  /** Load the 1m bars inside each bar, for `intrabar: '1m'` */
  readonly intrabar?: boolean | undefined
  /** Load book snapshots, for `slippage: book` (instruments without any fall back to bps) */
  readonly book?: boolean | undefined
}

/** Perpetual unless told otherwise when the exchange lists only perpetuals. */
export function defaultMarket(exchange: Exchange): Market {
  return exchange === 'binance-futures' ? 'perp' : 'spot'
}

function hasDataset(lakeDir: string, ds: DatasetId): boolean {
  return listDatasets(lakeDir).some(
    (d) => d.ds.kind === ds.kind && d.ds.exchange === ds.exchange && d.ds.symbol === ds.symbol && (ds.interval === undefined || d.ds.interval === ds.interval),
  )
}

/** Fails on rows out of key order or repeated: a backtest refuses unsorted input. */
function assertIncreasing(t: Float64Array, what: string): void {
  for (let i = 1; i < t.length; i++) {
    if (!(t[i] > t[i - 1])) {
      throw new FatalError(`${what} are not in strictly increasing time order at ${isoUs(t[i])} (after ${isoUs(t[i - 1])}); refusing to backtest unsorted input`)
    }
  }
}

/**
 * Reads bars (resampled from finer bars when the interval is not stored, closed buckets only), funding, gaps and
 * optionally 1m bars and book snapshots for the instruments over [from, to).
 */
export async function loadMarketData(
  lakeDir: string,
  instruments: readonly Instrument[],
  interval: Interval,
  from?: number,
  to?: number,
  opts: LoadOptions = {},
): Promise<MarketData> {
  if (instruments.length === 0) throw new UsageError('Missing <instrument>: pass at least one exchange:SYMBOL')
  const step = intervalUs(interval)
  if (step === undefined) throw new UsageError(`Invalid --interval: ${interval} bars have no fixed length; backtests need a fixed interval (1m to 1w)`)
  if (from !== undefined && to !== undefined && to <= from) throw new UsageError('Invalid --to: it must be after --from')
  const keys = instruments.map(formatInstrument)
  const dup = keys.find((k, i) => keys.indexOf(k) !== i)
  if (dup) throw new UsageError(`Invalid <instrument>: ${dup} is given twice`)
  const warm = Math.max(0, Math.floor(opts.warmupBars ?? 0))
  const readFrom = from === undefined ? undefined : from - warm * step
  const reader = await LakeReader.open(lakeDir)
  const gaps: { instrument: string; from: number; to: number; missing: number }[] = []
  const warnings: string[] = []
  const raw: {
    instrument: Instrument
    key: string
    market: Market
    source: Interval
    bars: Columns
    funding: FundingSeries | undefined
    minute: Columns | undefined
    book: BookSeries | undefined
  }[] = []
  try {
    for (let n = 0; n < instruments.length; n++) {
      const instrument = instruments[n]
      const key = keys[n]
      const market = opts.market ?? defaultMarket(instrument.exchange)
      const source = sourceInterval(lakeDir, instrument, interval)
      const ds: DatasetId = { kind: 'bars', ...instrument, interval: source }
      const r = await reader.readColumns(ds, BAR_COLUMNS, { from: readFrom, to })
      let bars: Columns = r.columns
      assertIncreasing(bars.open_time, `${key} ${source} bars`)
      const srcStep = intervalUs(source) as number
      for (const g of await reader.gaps(ds, { from, to })) gaps.push({ instrument: key, ...g })
      // A range reaching past the data is missing data too
      const inRange = bars.open_time.filter((t) => from === undefined || t >= from)
      if (inRange.length === 0) {
        throw new UsageError(
          `No ${interval} bars for ${key} in the requested range` + (from !== undefined || to !== undefined ? ` (${from !== undefined ? isoUs(from) : '…'} to ${to !== undefined ? isoUs(to) : '…'})` : ''),
        )
      }
      if (from !== undefined && inRange[0] > from) {
        gaps.push({ instrument: key, from, to: inRange[0] - srcStep, missing: Math.round((inRange[0] - from) / srcStep) })
      }
      if (to !== undefined) {
        const lastEnd = inRange[inRange.length - 1] + srcStep
        if (lastEnd < to) gaps.push({ instrument: key, from: lastEnd, to: to - srcStep, missing: Math.round((to - lastEnd) / srcStep) })
      }
      if (source !== interval) bars = resample(bars, source, interval) as unknown as Columns

      let funding: FundingSeries | undefined
      if (market === 'perp') {
        const fds: DatasetId = { kind: 'funding', ...instrument }
        if (hasDataset(lakeDir, fds)) {
          const f = await reader.readColumns(fds, ['timestamp', 'funding_time', 'funding_rate', 'mark_price'], {
            from: readFrom === undefined ? undefined : readFrom - step,
            to,
          })
          const time = new Float64Array(f.length)
          for (let i = 0; i < f.length; i++) {
            const ft = f.columns.funding_time[i]
            time[i] = Number.isFinite(ft) ? ft : f.columns.timestamp[i]
          }
          assertIncreasing(time, `${key} funding events`)
          funding = { time, rate: f.columns.funding_rate, mark: f.columns.mark_price }
          if (f.length === 0) warnings.push(`no funding events for ${key} in the range: funding payments are zero`)
        } else {
          warnings.push(`no funding data for ${key} in the lake: funding payments are not simulated (mercury backfill ${key} --kind funding)`)
        }
      }

      let minute: Columns | undefined
      if (opts.intrabar && step > US_PER_MINUTE) {
        const mds: DatasetId = { kind: 'bars', ...instrument, interval: '1m' }
        if (!hasDataset(lakeDir, mds)) {
          throw new UsageError(`Invalid --intrabar 1m: the lake has no 1m bars of ${key} to resolve bars with. Import some: mercury backfill --archive <files>`)
        }
        const m = await reader.readColumns(mds, ['open_time', 'open', 'high', 'low', 'close', 'volume'], { from: readFrom, to })
        assertIncreasing(m.columns.open_time, `${key} 1m bars`)
        minute = m.columns
      }

      let book: BookSeries | undefined
      if (opts.book) {
        const bds: DatasetId = { kind: 'book_snapshots', ...instrument }
        if (hasDataset(lakeDir, bds)) {
          const b = await reader.readColumns(bds, ['local_timestamp', 'level', 'bid_price', 'bid_amount', 'ask_price', 'ask_amount'], {
            from: readFrom,
            to,
          })
          book = bookSeries(b.columns, b.length)
          if (book.time.length === 0) warnings.push(`no book snapshots for ${key} in the range: slippage falls back to bps`)
        } else {
          warnings.push(`no book snapshots for ${key} in the lake: slippage falls back to bps`)
        }
      }
      raw.push({ instrument, key, market, source, bars, funding, minute, book })
    }
  } finally {
    reader.close()
  }

  // The clock: the union of every instrument's bar opens
  const time = unionTimes(raw.map((r) => r.bars.open_time))
  const series: InstrumentSeries[] = raw.map((r) => {
    const bars = align(r.bars, time)
    const intrabar = r.minute ? intrabarSeries(r.minute, time, step) : undefined
    return {
      exchange: r.instrument.exchange,
      symbol: r.instrument.symbol,
      key: r.key,
      market: r.market,
      bars,
      open: bars.open,
      high: bars.high,
      low: bars.low,
      close: bars.close,
      volume: bars.volume,
      source: r.source,
      funding: r.funding,
      intrabar,
      book: r.book,
    }
  })
  let start = 0
  if (from !== undefined) while (start < time.length && time[start] < from) start++
  gaps.sort((a, b) => a.from - b.from || a.instrument.localeCompare(b.instrument))
  return { interval, step, time, start, instruments: series, gaps, warnings, cache: new Map() }
}

function unionTimes(times: readonly Float64Array[]): Float64Array {
  if (times.length === 1) return times[0].slice()
  const all = new Float64Array(times.reduce((a, t) => a + t.length, 0))
  let at = 0
  for (const t of times) {
    all.set(t, at)
    at += t.length
  }
  all.sort()
  let m = 0
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[m - 1]) all[m++] = all[i]
  return all.slice(0, m)
}

/** Spreads an instrument's bars onto the clock; rows it has no bar for are NaN. */
function align(bars: Columns, time: Float64Array): Columns {
  const t = bars.open_time
  const n = time.length
  const out: Record<string, Float64Array> = {}
  if (t.length === n) {
    // Same clock (one instrument, or all alike): copy as is
    let same = true
    for (let i = 0; i < n && same; i++) same = t[i] === time[i]
    if (same) {
      for (const c of BAR_COLUMNS) out[c] = bars[c] ? bars[c].slice() : new Float64Array(n).fill(NaN)
      return out
    }
  }
  for (const c of BAR_COLUMNS) out[c] = new Float64Array(n).fill(NaN)
  out.open_time = time.slice()
  let j = 0
  for (let i = 0; i < n && j < t.length; i++) {
    if (time[i] !== t[j]) continue
    for (const c of BAR_COLUMNS) if (c !== 'open_time' && bars[c]) out[c][i] = bars[c][j]
    j++
  }
  return out
}

/** Indexes 1m rows by the clock bar holding them. */
function intrabarSeries(m: Columns, time: Float64Array, step: number): IntrabarSeries {
  const t = m.open_time
  const start = new Int32Array(time.length)
  const end = new Int32Array(time.length)
  let j = 0
  for (let i = 0; i < time.length; i++) {
    while (j < t.length && t[j] < time[i]) j++
    start[i] = j
    while (j < t.length && t[j] < time[i] + step) j++
    end[i] = j
  }
  return { time: t, open: m.open, high: m.high, low: m.low, close: m.close, volume: m.volume, start, end }
}

/** Groups long-format book rows (one per level) into snapshots by receipt time. */
function bookSeries(c: Columns, n: number): BookSeries {
  const times: number[] = []
  const offset: number[] = []
  for (let i = 0; i < n; i++) {
    if (i === 0 || c.local_timestamp[i] !== c.local_timestamp[i - 1]) {
      times.push(c.local_timestamp[i])
      offset.push(i)
    }
  }
  offset.push(n)
  return {
    time: Float64Array.from(times),
    offset: Int32Array.from(offset),
    bidPrice: c.bid_price,
    bidAmount: c.bid_amount,
    askPrice: c.ask_price,
    askAmount: c.ask_amount,
  }
}

/**
 * A window of the data for a run over clock rows [start, end): rows before `start` stay as warm-up, rows from `end`
 * on are cut (so the run cannot see them). Shares the columns; the indicator cache is fresh.
 */
export function sliceMarketData(data: MarketData, start: number, end: number = data.time.length): MarketData {
  const n = data.time.length
  if (!(start >= 0 && end <= n && start < end)) throw new Error(`sliceMarketData: bad window [${start}, ${end}) of ${n} rows`)
  const cut = (a: Float64Array) => a.subarray(0, end)
  const t0 = data.time[start]
  const t1 = end < n ? data.time[end] : Infinity
  return {
    ...data,
    time: cut(data.time),
    start,
    gaps: data.gaps.filter((g) => g.to >= t0 && g.from < t1),
    cache: new Map(),
    instruments: data.instruments.map((s) => {
      const bars: Record<string, Float64Array> = {}
      for (const [k, v] of Object.entries(s.bars)) bars[k] = cut(v)
      return {
        ...s,
        bars,
        open: bars.open,
        high: bars.high,
        low: bars.low,
        close: bars.close,
        volume: bars.volume,
        intrabar: s.intrabar ? { ...s.intrabar, start: s.intrabar.start.subarray(0, end), end: s.intrabar.end.subarray(0, end) } : undefined,
      }
    }),
  }
}

/** Builds market data from columns in memory (tests, benches, synthetic ledgers): one instrument per entry. */
export function marketDataFromColumns(
  interval: Interval,
  entries: readonly {
    readonly instrument: Instrument
    readonly market?: Market | undefined
    /** open_time (µs), open, high, low, close, volume at least */
    readonly bars: Columns
    readonly funding?: FundingSeries | undefined
    /** 1m bars (open_time, open, high, low, close, volume) for intrabar resolution */
    readonly minute?: Columns | undefined
    readonly book?: BookSeries | undefined
  }[],
  start = 0,
): MarketData {
  const step = intervalUs(interval)
  if (step === undefined) throw new UsageError(`Invalid interval ${interval}: backtests need a fixed interval`)
  for (const e of entries) assertIncreasing(e.bars.open_time, `${formatInstrument(e.instrument)} bars`)
  const time = unionTimes(entries.map((e) => e.bars.open_time))
  const instruments = entries.map((e): InstrumentSeries => {
    const full: Record<string, Float64Array> = {}
    const n = e.bars.open_time.length
    for (const c of BAR_COLUMNS) full[c] = e.bars[c] ?? new Float64Array(n).fill(NaN)
    const bars = align(full, time)
    return {
      exchange: e.instrument.exchange,
      symbol: e.instrument.symbol,
      key: formatInstrument(e.instrument),
      market: e.market ?? defaultMarket(e.instrument.exchange),
      bars,
      open: bars.open,
      high: bars.high,
      low: bars.low,
      close: bars.close,
      volume: bars.volume,
      source: interval,
      funding: e.funding,
      intrabar: e.minute ? intrabarSeries(e.minute, time, step) : undefined,
      book: e.book,
    }
  })
  return { interval, step, time, start, instruments, gaps: [], warnings: [], cache: new Map() }
}
