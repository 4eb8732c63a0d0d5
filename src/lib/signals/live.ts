// Live signals: warm every indicator's streaming state from the lake, then follow the collector's bus and update
// them on each closed bar, with the readings and confluence score the batch command prints.
//
// What happens, in order (`liveMarkdown` at the end writes the same for docs/SIGNALS.md):
// - The bus is subscribed first and records are buffered, so nothing published during the warm-up is lost.
// - Warm-up: the lake's closed bars of the interval (or finer ones resampled, as `signals` does), then bars built
//   from the lake's trades after the last of them (the trades the collector has persisted). Lake data is warm-up
//   only; bars are emitted from the bus on.
// - Bars are built from trades (`trade`, or `agg_trade` when that is what the bus carries) by exchange time, with the
//   conventions of `mercury data validate`: open and close are the prices of the lowest and highest trade id, volume
//   and taker-buy volume sum the amounts, `trades` counts exchange trades. A bucket closes when a trade of a later
//   bucket arrives, or when the clock passes its end plus the feed's lag and a grace period, so quiet markets still
//   close bars. An interval without trades is a flat bar at the previous close with zero volume and zero trades
//   (Binance's kline convention), so there is one row per interval. Exchange `bar` records of the interval are used
//   as they arrive (`auto`) or exclusively (`bars`); a trade-built bar that the exchange's bar contradicts is
//   reported.
// - Trades are released in id order. A hole in the ids holds every later trade until the missing ones arrive (the
//   collector fetches them from REST and publishes them; at start-up the hole between the lake's last trade and the
//   first one on the bus is read back from the lake once the collector has persisted it), until a `gap` integrity
//   event declares them lost, or until `gapWaitMs` passes. Lost trades never make a silently wrong bar: the bars
//   around the hole are emitted with `complete: false`, the intervals inside it are reported missing, not flat.
// - Trades and book snapshots also feed the microstructure indicators that read them, in id and arrival order; each
//   closed bar reports their values as of its close.

import type { Bus } from '../bus/types.js'
import type { Interval } from '../consts.js'
import { FatalError, UsageError, oneLine } from '../errors.js'
import type { Instrument } from '../instrument.js'
import { LakeReader, coverageOf, listDatasets } from '../lake/reader.js'
import { sqlString, type DatasetId } from '../lake/schema.js'
import { LakeWriter } from '../lake/writer.js'
import { logger } from '../log.js'
import { barOpen, intervalUs, isoUs, nowUs } from '../time.js'
import type { AggTrade, Bar, BookLevel, BookSnapshot, IntegrityEvent, MarketRecord, Trade } from '../types.js'
import { confluenceOf, indicatorParams, latestOf, seriesName, warmup, type Latest, type SignalsOptions } from './compute.js'
import { openStream } from './engine.js'
import { LIVE_INPUTS } from './catalog.js'
import { BOOK_LEVELS } from './indicators/microstructure.js'
import { sourceInterval } from './lake.js'
import { mtfSteps, resample } from './mtf.js'
import { INDICATORS, indicator } from './registry.js'
import type { Columns, IndicatorDef, Source, Stream } from './types.js'

const log = logger('mercury:signals:live')

/** Where closed bars come from: trades (with exchange bars as a check and a stand-in), trades only, or bars only. */
export const LIVE_SOURCES = ['auto', 'trades', 'bars'] as const
export type LiveSource = (typeof LIVE_SOURCES)[number]


/** Bar columns, in the order of a bar row. */
export const BAR_FIELDS = [
  'open_time', 'open', 'high', 'low', 'close', 'volume', 'quote_volume', 'trades', 'taker_buy_volume', 'taker_buy_quote_volume',
] as const
const TRADE_FIELDS = ['id', 'timestamp', 'price', 'amount', 'side'] as const
const BOOK_FIELDS: readonly string[] = [
  'timestamp',
  ...Array.from({ length: BOOK_LEVELS }, (_, k) => [`bid_px_${k}`, `bid_sz_${k}`, `ask_px_${k}`, `ask_sz_${k}`]).flat(),
]
/** A higher-timeframe row also carries its end and the base rows it holds, like `resample` */
const TF_FIELDS = [...BAR_FIELDS, 'end_time', 'rows'] as const
/** Summing float64 amounts differs from the exchange's decimal sums in the last bits (as in lake/validate.ts) */
const REL_TOL = 1e-9

/** A closed bar of the live stream. Times in µs; `openTime` is the bucket start, like bars in the lake. */
export interface LiveBar {
  readonly openTime: number
  readonly open: number
  readonly high: number
  readonly low: number
  readonly close: number
  /** Base-asset volume */
  readonly volume: number
  readonly quoteVolume: number
  /** Exchange trades in the bar (an aggTrade counts its trade-id range) */
  readonly trades: number
  readonly takerBuyVolume: number
  readonly takerBuyQuoteVolume: number
  /** Built from trades, or the exchange's own bar from the bus */
  readonly source: 'trades' | 'exchange'
  /** No trade in the interval: flat at the previous close, zero volume */
  readonly empty: boolean
  /** False when trades of the interval were lost (a trade-id gap declared lost) or may be missing */
  readonly complete: boolean
}

/** One trade as the bar builder and the trade indicators see it. */
export interface TapeTrade {
  /** Sequence key: the trade id, or the aggregate id of an aggTrade */
  readonly id: number
  /** Exchange time, µs */
  readonly timestamp: number
  readonly price: number
  readonly amount: number
  /** +1 the buyer was the aggressor, -1 the seller, 0 unknown */
  readonly side: number
  /** Exchange trades it stands for: 1, or an aggTrade's last - first + 1 */
  readonly count: number
}

export type LiveWarningKind =
  | 'no_warmup'
  | 'warmup_gaps'
  | 'missing_bars'
  | 'trade_gap'
  | 'late_trades'
  | 'bar_mismatch'
  | 'bus_reconnect'
  | 'mixed_trades'
  | 'store_failed'

export type LiveEvent =
  | {
      readonly type: 'bar'
      readonly bar: LiveBar
      /** Every indicator's latest outputs and reading: base timeframe, then trade/book indicators, then --mtf */
      readonly latest: readonly Latest[]
      /** The confluence entry on the base timeframe, when confluence is selected */
      readonly confluence: Latest | undefined
      /** Latest values by series name (`rsi`, `macd.macdSignal`, `rsi@4h`), as stored in the lake */
      readonly values: Readonly<Record<string, number>>
    }
  | { readonly type: 'warning'; readonly kind: LiveWarningKind; readonly message: string; readonly from?: number | undefined; readonly to?: number | undefined }
  | { readonly type: 'integrity'; readonly event: IntegrityEvent }

export interface LiveCounts {
  /** Bars emitted (closed live) */
  bars: number
  emptyBars: number
  incompleteBars: number
  exchangeBars: number
  /** Trades released in id order (lake and bus) */
  trades: number
  duplicateTrades: number
  /** Trades that arrived after their bar had closed, or after their ids were declared lost */
  lateTrades: number
  /** Trade ids declared lost (gap events, timeouts) */
  lostTrades: number
  bookSnapshots: number
  /** Trade-built bars compared with the exchange's bar for the same interval, and how many differed */
  compared: number
  mismatched: number
  integrity: number
  warnings: number
  /** Values appended to the lake (`store`) */
  stored: number
}

/** Parameters and data shared by the engine and `startLive`. */
export interface LiveConfig extends SignalsOptions {
  readonly instrument: Instrument
  readonly interval: Interval
  readonly source?: LiveSource
  /** Wait after a bucket's end (plus the feed's lag) before closing it on the clock, ms (2,000) */
  readonly graceMs?: number
  /** How long trades behind a hole in the ids wait for the missing ones, ms (10,000) */
  readonly gapWaitMs?: number
}

/** Indicators `--live` runs: the ids given (bars, trades or book sources), else every bar indicator. */
export function selectLiveIndicators(only?: readonly string[]): IndicatorDef[] {
  const defs = only?.length ? [...new Set(only.map((id) => indicator(id)))] : INDICATORS.filter((d) => d.source === 'bars')
  for (const d of defs) {
    if (!LIVE_INPUTS.includes(d.source)) {
      throw new UsageError(
        `${d.id} reads ${d.source} data, which --live does not feed (it feeds bars, trades and book snapshots); it runs from the library (runBatch, openStream)`,
      )
    }
  }
  return defs
}

const sideNum = (s: Trade['side']) => (s === 'buy' ? 1 : s === 'sell' ? -1 : 0)

/** A trade or aggTrade record as a tape row. */
export function tapeTrade(r: Trade | AggTrade): TapeTrade {
  return {
    id: r.id,
    timestamp: r.timestamp,
    price: r.price,
    amount: r.amount,
    side: sideNum(r.side),
    count: r.type === 'agg_trade' ? r.lastTradeId - r.firstTradeId + 1 : 1,
  }
}

/** Trades of one interval bucket. */
class Bucket {
  private openId = Infinity
  private closeId = -Infinity
  open = NaN
  close = NaN
  high = -Infinity
  low = Infinity
  volume = 0
  quote = 0
  trades = 0
  buy = 0
  buyQuote = 0
  n = 0
  complete = true
  constructor(
    readonly t: number,
    /** Trades before the first one seen may belong here too (the first bucket of a stream) */
    readonly partial: boolean,
  ) {}
  add(x: TapeTrade): void {
    if (x.id < this.openId) {
      this.openId = x.id
      this.open = x.price
    }
    if (x.id > this.closeId) {
      this.closeId = x.id
      this.close = x.price
    }
    if (x.price > this.high) this.high = x.price
    if (x.price < this.low) this.low = x.price
    const q = x.price * x.amount
    this.volume += x.amount
    this.quote += q
    this.trades += x.count
    if (x.side > 0) {
      this.buy += x.amount
      this.buyQuote += q
    }
    this.n++
  }
  bar(prevClose: number): LiveBar {
    const empty = this.n === 0
    const p = prevClose
    return {
      openTime: this.t,
      open: empty ? p : this.open,
      high: empty ? p : this.high,
      low: empty ? p : this.low,
      close: empty ? p : this.close,
      volume: this.volume,
      quoteVolume: this.quote,
      trades: this.trades,
      takerBuyVolume: this.buy,
      takerBuyQuoteVolume: this.buyQuote,
      source: 'trades',
      empty,
      complete: this.complete,
    }
  }
}

/** A bucket the builder closed: the bar, and whether trades before the stream's first one may be missing from it. */
export interface ClosedBucket {
  readonly bar: LiveBar
  readonly partial: boolean
}

/**
 * Builds bars of one interval from trades released in id order, bucketed by exchange time. Empty intervals between
 * two trades become flat bars; a lost stretch of trades (`markLoss`) is a break instead: the buckets on both sides
 * of it are incomplete and the intervals inside it are not emitted.
 */
export class BarBuilder {
  private cur: Bucket | undefined
  private lastClose = NaN
  private loss = false
  constructor(
    readonly step: number,
    private readonly onClose: (b: ClosedBucket) => void,
  ) {}

  /** Open time of the bucket being filled; undefined before the first trade */
  get openTime(): number | undefined {
    return this.cur?.t
  }

  /** Adds a trade; `false` when its bucket has already closed (a late trade, not added). */
  add(x: TapeTrade): boolean {
    const t = barOpen(x.timestamp, this.step)
    const cur = this.cur
    if (cur === undefined) {
      this.cur = new Bucket(t, true)
    } else if (t < cur.t) {
      return false
    } else if (this.loss) {
      // The missing trades lie between the last trade and this one: both buckets are incomplete, and nothing is
      // known about the intervals between them
      cur.complete = false
      if (t > cur.t) {
        this.emit(cur)
        const next = new Bucket(t, false)
        next.complete = false
        this.cur = next
      }
    } else if (t > cur.t) {
      this.advance(t)
    }
    this.loss = false
    this.cur!.add(x)
    return true
  }

  /** Trades were lost just before the next one. */
  markLoss(): void {
    if (this.cur) this.loss = true
  }

  /** Closes the bucket being filled and the empty ones after it, up to `t` (the clock, or an exchange bar, says so). */
  closeBefore(t: number, complete = true): void {
    const cur = this.cur
    if (!cur || cur.t >= t || this.loss) return
    if (!complete) cur.complete = false
    this.advance(t, complete)
  }

  private advance(t: number, complete = true): void {
    const cur = this.cur!
    this.emit(cur)
    for (let e = cur.t + this.step; e < t; e += this.step) {
      const b = new Bucket(e, false)
      if (!complete) b.complete = false
      this.emit(b)
    }
    this.cur = new Bucket(t, false)
    if (!complete) this.cur.complete = false
  }

  private emit(b: Bucket): void {
    const bar = b.bar(this.lastClose)
    this.lastClose = bar.close
    this.onClose({ bar, partial: b.partial })
  }
}

/**
 * Bars of `interval` from trades in id order, with the live conventions: one bar per interval from the first trade's
 * bucket to the last one's, flat bars for intervals without trades. The first and last bars may be partial.
 */
export function barsFromTrades(trades: readonly TapeTrade[], interval: Interval): LiveBar[] {
  const step = intervalUs(interval)
  if (step === undefined) throw new UsageError('Invalid --interval: 1M bars are not built from trades')
  const out: LiveBar[] = []
  const b = new BarBuilder(step, (c) => out.push(c.bar))
  for (const x of trades) b.add(x)
  const open = b.openTime
  if (open !== undefined) b.closeBefore(open + step)
  return out
}

/**
 * Releases trades in id order: drops duplicates and holds the trades behind a hole in the ids until the hole fills,
 * is declared lost (`declareLost`, e.g. a `gap` integrity event) or has waited `waitUs` (`expire`).
 */
export class TradeSequencer {
  private last: number | undefined
  private readonly held = new Map<number, { x: TapeTrade; at: number }>()
  /** Declared lost, ahead of `last` */
  private ahead: { from: number; to: number }[] = []
  /** Declared lost, already passed: trades from them arriving now are late */
  private behind: { from: number; to: number }[] = []
  private lostRun = 0
  constructor(
    private readonly release: (x: TapeTrade, lostBefore: number) => void,
    private readonly onLost: (from: number, to: number, why: string) => void,
    private readonly waitUs: number,
  ) {}

  /** Id of the last trade released */
  get lastId(): number | undefined {
    return this.last
  }

  /** The ids trades are waiting for, and since when (µs) */
  get hole(): { from: number; to: number; since: number } | undefined {
    if (this.held.size === 0 || this.last === undefined) return undefined
    let min = Infinity
    let since = 0
    for (const [id, h] of this.held) {
      if (id < min) {
        min = id
        since = h.at
      }
    }
    return { from: this.last + 1, to: min - 1, since }
  }

  /** Takes a trade; says whether it was released (or is held), a duplicate, or late. */
  push(x: TapeTrade, now: number): 'ok' | 'duplicate' | 'late' {
    const last = this.last
    if (last === undefined || (x.id === last + 1 && this.held.size === 0 && this.ahead.length === 0)) {
      this.last = x.id
      const lost = this.lostRun
      this.lostRun = 0
      this.release(x, lost)
      return 'ok'
    }
    if (x.id <= last) return this.behind.some((r) => x.id >= r.from && x.id <= r.to) ? 'late' : 'duplicate'
    if (this.held.has(x.id)) return 'duplicate'
    this.held.set(x.id, { x, at: now })
    this.drain()
    return 'ok'
  }

  /** Ids `from..to` will not arrive: trades behind them are released. */
  declareLost(from: number, to: number, why: string): void {
    // Before the first trade there is nothing to hold
    if (this.last === undefined) return
    const lo = Math.max(from, this.last + 1)
    if (to < lo) return
    this.ahead.push({ from: lo, to })
    this.ahead.sort((a, b) => a.from - b.from)
    this.onLost(lo, to, why)
    this.drain()
  }

  /** Declares a hole lost once it has waited long enough. */
  expire(now: number): void {
    for (let h = this.hole; h && now - h.since >= this.waitUs; h = this.hole) {
      this.declareLost(h.from, h.to, `not received within ${Math.round(this.waitUs / 1000)} ms`)
    }
  }

  private drain(): void {
    for (;;) {
      const next = (this.last as number) + 1
      const h = this.held.get(next)
      if (h) {
        this.held.delete(next)
        this.last = next
        const lost = this.lostRun
        this.lostRun = 0
        this.release(h.x, lost)
        continue
      }
      const r = this.ahead[0]
      if (r && r.from <= next) {
        this.ahead.shift()
        if (r.to >= next) {
          this.lostRun += r.to - next + 1
          this.last = r.to
          this.behind.push(r)
          if (this.behind.length > 1000) this.behind.shift()
        }
        continue
      }
      return
    }
  }
}

/** Field index of every input of a definition, or a usage error naming the column. */
function inputIndex(d: IndicatorDef, fields: readonly string[]): Int32Array {
  return Int32Array.from(d.inputs, (c) => {
    const k = fields.indexOf(c)
    if (k < 0) throw new UsageError(`${d.id} needs the '${c}' column of ${d.source}, which --live does not provide`)
    return k
  })
}

/** Streams of several indicators fed the same rows (bars of one timeframe, trades, or book snapshots). */
class StreamSet {
  private readonly entries: { d: IndicatorDef; s: Stream; idx: Int32Array; x: Float64Array; fed: boolean }[]
  constructor(defs: readonly IndicatorDef[], fields: readonly string[], params: (d: IndicatorDef) => Readonly<Record<string, number>> | undefined) {
    this.entries = defs.map((d) => ({ d, s: openStream(d, params(d)), idx: inputIndex(d, fields), x: new Float64Array(d.inputs.length), fed: false }))
  }
  get size(): number {
    return this.entries.length
  }
  update(row: ArrayLike<number>): void {
    for (const e of this.entries) {
      const { idx, x } = e
      for (let k = 0; k < idx.length; k++) x[k] = row[idx[k]]
      e.s.update(x)
      e.fed = true
    }
  }
  /** Latest outputs and readings; indicators that have seen no row yet report NaN and no reading */
  latest(tf: Interval, out: Latest[]): void {
    for (const e of this.entries) {
      if (e.fed) out.push(latestOf(e.d, tf, e.s.out, e.x))
      else out.push({ id: e.d.id, timeframe: tf, outputs: Object.fromEntries(e.d.outputs.map((o) => [o, NaN])), reading: undefined })
    }
  }
}

/** Streaming twin of `resample` (mtf.ts): closed buckets of a higher timeframe from base bars, same rules. */
class Resampler {
  private cur: Float64Array | undefined
  constructor(
    private readonly baseStep: number,
    private readonly step: number,
    private readonly onClose: (row: Float64Array) => void,
  ) {}
  add(bar: Float64Array): void {
    const t = bar[0]
    const bucket = barOpen(t, this.step)
    let cur = this.cur
    // A bar in a later bucket closes the current one
    if (cur && cur[0] !== bucket) {
      this.close(cur)
      cur = undefined
    }
    if (!cur) {
      cur = new Float64Array(TF_FIELDS.length)
      cur[0] = bucket
      cur[1] = bar[1]
      cur[2] = bar[2]
      cur[3] = bar[3]
      this.cur = cur
    }
    if (bar[2] > cur[2]) cur[2] = bar[2]
    if (bar[3] < cur[3]) cur[3] = bar[3]
    cur[4] = bar[4]
    // volume, quote_volume, trades, taker_buy_volume, taker_buy_quote_volume
    for (let k = 5; k < BAR_FIELDS.length; k++) cur[k] += bar[k]
    cur[11]++
    // The bar that completes the bucket closes it now
    if (t === bucket + this.step - this.baseStep) this.close(cur)
  }
  private close(row: Float64Array): void {
    row[10] = row[0] + this.step
    this.cur = undefined
    this.onClose(row)
  }
}

/** A bar as a row in BAR_FIELDS order. */
function barRow(b: LiveBar, into = new Float64Array(BAR_FIELDS.length)): Float64Array {
  into[0] = b.openTime
  into[1] = b.open
  into[2] = b.high
  into[3] = b.low
  into[4] = b.close
  into[5] = b.volume
  into[6] = b.quoteVolume
  into[7] = b.trades
  into[8] = b.takerBuyVolume
  into[9] = b.takerBuyQuoteVolume
  return into
}

const num = (x: number | undefined) => (x === undefined ? NaN : x)

/** An exchange `bar` record as a live bar. */
export function exchangeBar(r: Bar): LiveBar {
  return {
    openTime: r.timestamp,
    open: r.open,
    high: r.high,
    low: r.low,
    close: r.close,
    volume: r.volume,
    quoteVolume: num(r.quoteVolume),
    trades: num(r.trades),
    takerBuyVolume: num(r.takerBuyVolume),
    takerBuyQuoteVolume: num(r.takerBuyQuoteVolume),
    source: 'exchange',
    empty: r.volume === 0,
    complete: true,
  }
}

/**
 * A book snapshot as a book row (timestamp, then bid_px_k, bid_sz_k, ask_px_k, ask_sz_k for k = 0..19). Levels the
 * snapshot does not have repeat the deepest price it has with size 0; a side with no level makes the row missing.
 */
export function bookRow(r: BookSnapshot, into = new Float64Array(BOOK_FIELDS.length)): Float64Array {
  into[0] = r.timestamp
  const side = (levels: readonly BookLevel[], off: number) => {
    const n = levels.length
    for (let k = 0; k < BOOK_LEVELS; k++) {
      const l = k < n ? levels[k] : undefined
      into[1 + 4 * k + off] = l ? l.price : n ? levels[n - 1].price : NaN
      into[2 + 4 * k + off] = l ? l.amount : n ? 0 : NaN
    }
  }
  side(r.bids, 0)
  side(r.asks, 2)
  return into
}

/** Whether two bars of the same interval agree: prices and counts exactly, volumes to 1e-9 relative. */
function barsAgree(a: LiveBar, b: LiveBar): string[] {
  const diff: string[] = []
  const exact = ['open', 'high', 'low', 'close', 'trades'] as const
  const near = ['volume', 'quoteVolume', 'takerBuyVolume'] as const
  for (const f of exact) if (Number.isFinite(a[f]) && Number.isFinite(b[f]) && a[f] !== b[f]) diff.push(`${f} ${a[f]} vs ${b[f]}`)
  for (const f of near) {
    if (Number.isFinite(a[f]) && Number.isFinite(b[f]) && Math.abs(a[f] - b[f]) > REL_TOL * Math.max(1, Math.abs(a[f]))) {
      diff.push(`${f} ${a[f]} vs ${b[f]}`)
    }
  }
  return diff
}

/**
 * The live engine without I/O: warm-up rows in, bus records in (with the clock as an argument), closed bars with
 * indicator values out through `emit`. `startLive` wires it to the lake, the bus and timers.
 */
export class LiveSignals {
  readonly interval: Interval
  readonly step: number
  readonly source: LiveSource
  readonly defs: readonly IndicatorDef[]
  readonly counts: LiveCounts = {
    bars: 0, emptyBars: 0, incompleteBars: 0, exchangeBars: 0, trades: 0, duplicateTrades: 0, lateTrades: 0, lostTrades: 0,
    bookSnapshots: 0, compared: 0, mismatched: 0, integrity: 0, warnings: 0, stored: 0,
  }
  private readonly base: StreamSet
  private readonly tradeSet: StreamSet
  private readonly bookSet: StreamSet
  private readonly tfs: { tf: Interval; set: StreamSet; resampler: Resampler; state: { closed: boolean } }[]
  private readonly builder: BarBuilder | undefined
  private readonly seq: TradeSequencer
  private readonly graceUs: number
  private readonly row = new Float64Array(BAR_FIELDS.length)
  private readonly tradeRow = new Float64Array(TRADE_FIELDS.length)
  private readonly bookQueue: Float64Array[] = []
  /** Open time after the last bar fed to the indicators (warm-up or live) */
  private warmEnd: number | undefined
  private lastEmitted: number | undefined
  private readonly recent = new Map<number, LiveBar>()
  private live = false
  private tradeKind: 'trade' | 'agg_trade' | undefined
  private lagUs: number | undefined
  /** After a disconnect, the clock closes no bucket until a trade shows the feed is back */
  private awaitingTrade = false
  private lastTradeTs: number | undefined
  private mixedWarned = false

  constructor(
    cfg: LiveConfig,
    private readonly emit: (e: LiveEvent) => void,
  ) {
    const step = intervalUs(cfg.interval)
    if (step === undefined) throw new UsageError('Invalid --interval: 1M bars are not supported by signals')
    this.interval = cfg.interval
    this.step = step
    this.source = cfg.source ?? 'auto'
    this.graceUs = (cfg.graceMs ?? 2000) * 1000
    this.defs = selectLiveIndicators(cfg.only)
    const params = (d: IndicatorDef) => indicatorParams(d, cfg.interval, cfg)
    const bars = this.defs.filter((d) => d.source === 'bars')
    this.base = new StreamSet(bars, BAR_FIELDS, params)
    this.tradeSet = new StreamSet(this.defs.filter((d) => d.source === 'trades'), TRADE_FIELDS, params)
    this.bookSet = new StreamSet(this.defs.filter((d) => d.source === 'book'), BOOK_FIELDS, params)
    this.tfs = (cfg.mtf ?? []).map((tf) => {
      const { baseStep, step: tfStep } = mtfSteps(cfg.interval, tf)
      // mtf_alignment is already multi-timeframe: it runs on the base bars only
      const set = new StreamSet(bars.filter((d) => d.id !== 'mtf_alignment'), TF_FIELDS, (d: IndicatorDef) => indicatorParams(d, tf, cfg))
      // Values exist once a bucket of the timeframe has closed, as in the batch join
      const state = { closed: false }
      const resampler = new Resampler(baseStep, tfStep, (row) => {
        set.update(row)
        state.closed = true
      })
      return { tf, set, resampler, state }
    })
    if (this.source !== 'bars') this.builder = new BarBuilder(step, (c) => this.onBucket(c))
    this.seq = new TradeSequencer(
      (x, lost) => this.onTrade(x, lost),
      (from, to, why) => {
        this.counts.lostTrades += to - from + 1
        this.warn('trade_gap', `trade ids ${from}..${to} (${to - from + 1}) lost: ${why}; the bars around them are marked incomplete`, from, to)
      },
      (cfg.gapWaitMs ?? 10_000) * 1000,
    )
  }

  /** Whether trades are read: to build bars, or for trade indicators */
  get readsTrades(): boolean {
    return this.tradeSet.size > 0 || this.source !== 'bars'
  }

  get readsBook(): boolean {
    return this.bookSet.size > 0
  }

  /** Ids the trade sequencer waits for (a hole), if any */
  get hole(): { from: number; to: number; since: number } | undefined {
    return this.seq.hole
  }

  get lastTradeId(): number | undefined {
    return this.seq.lastId
  }

  /** Exchange time of the last trade released (µs) */
  get lastTradeTime(): number | undefined {
    return this.lastTradeTs
  }

  /** Open time after the last bar the indicators have seen */
  get warmedUntil(): number | undefined {
    return this.warmEnd
  }

  /** Feeds the lake's closed bars (columns in BAR_FIELDS names, in time order) as warm-up. */
  warmBars(cols: Columns): void {
    const n = cols.open_time?.length ?? 0
    const row = this.row
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < BAR_FIELDS.length; k++) row[k] = cols[BAR_FIELDS[k]]?.[i] ?? NaN
      this.feedBar(row)
    }
  }

  /** Feeds the lake's trades (id order) as warm-up: trade indicators, and bars after the warm-up bars. */
  warmTrades(trades: readonly TapeTrade[], kind: 'trade' | 'agg_trade'): void {
    this.tradeKind ??= kind
    for (let i = 0; i < trades.length; i++) {
      const x = trades[i]
      // Ids the lake does not hold will not come back: a hole, not a wait
      if (i > 0 && x.id > trades[i - 1].id + 1) this.seq.declareLost(trades[i - 1].id + 1, x.id - 1, 'missing in the lake')
      this.seq.push(x, 0)
    }
  }

  /** Ends the warm-up: from now on closed bars are emitted. */
  goLive(): void {
    this.live = true
  }

  /** Handles one bus record received at `now` (µs). */
  handle(r: MarketRecord, now: number): void {
    switch (r.type) {
      case 'trade':
      case 'agg_trade': {
        this.tradeKind ??= r.type
        if (r.type !== this.tradeKind) {
          if (!this.mixedWarned) {
            this.mixedWarned = true
            this.warn('mixed_trades', `the bus carries both trades and aggTrades; bars use ${this.tradeKind === 'trade' ? 'trades' : 'aggTrades'} only`)
          }
          return
        }
        // Receipt minus exchange time: follows a rise at once and a fall slowly, so the clock waits out lag spikes
        const sample = now - r.timestamp
        this.lagUs = this.lagUs === undefined || sample > this.lagUs ? sample : this.lagUs + (sample - this.lagUs) / 32
        const res = this.seq.push(tapeTrade(r), now)
        if (res === 'duplicate') this.counts.duplicateTrades++
        else if (res === 'late') this.late(r.id, 'its ids had been declared lost')
        return
      }
      case 'bar':
        if (r.interval === this.interval) this.onExchangeBar(exchangeBar(r))
        return
      case 'book_snapshot':
        if (this.bookSet.size) this.onBook(bookRow(r, new Float64Array(BOOK_FIELDS.length)))
        return
      case 'integrity':
        this.onIntegrity(r)
        return
      default:
    }
  }

  /** Trades read back from the lake for a hole (`hole`), in any order. */
  fill(trades: readonly TapeTrade[], now: number): void {
    for (const x of trades) if (this.seq.push(x, now) === 'duplicate') this.counts.duplicateTrades++
  }

  /** The clock: declares old holes lost and closes buckets whose end (plus lag and grace) has passed. */
  tick(now: number): void {
    this.seq.expire(now)
    const b = this.builder
    const open = b?.openTime
    if (!b || open === undefined || this.awaitingTrade || this.seq.hole || this.lagUs === undefined) return
    const due = barOpen(now - this.lagUs - this.graceUs, this.step)
    if (due > open) b.closeBefore(due)
  }

  /** Our own bus connection came back: records published meanwhile are lost (pub/sub). */
  busReconnected(): void {
    this.awaitingTrade = true
    this.warn('bus_reconnect', 'the bus connection was re-established; records published meanwhile are lost (trade ids will show the hole)')
  }

  /** Reports a warning event. */
  warn(kind: LiveWarningKind, message: string, from?: number, to?: number): void {
    this.counts.warnings++
    this.emit({ type: 'warning', kind, message, from, to })
  }

  private late(id: number, why: string): void {
    const n = ++this.counts.lateTrades
    // The first few in full, then one line per thousand
    if (n <= 5 || n % 1000 === 0) {
      this.warn('late_trades', `trade ${id} arrived late (${why}); ${n} late so far. Its bar is final; raise --grace if this repeats`)
    }
  }

  private onIntegrity(r: IntegrityEvent): void {
    this.counts.integrity++
    this.emit({ type: 'integrity', event: r })
    if (r.kind === 'disconnect') this.awaitingTrade = true
    if (r.kind === 'gap' && r.stream === 'trades' && r.from !== undefined && r.to !== undefined && this.tradeKind !== 'agg_trade') {
      this.seq.declareLost(r.from, r.to, r.detail)
    }
  }

  private onTrade(x: TapeTrade, lost: number): void {
    this.counts.trades++
    this.awaitingTrade = false
    this.lastTradeTs = x.timestamp
    const b = this.builder
    if (b) {
      if (lost > 0) b.markLoss()
      if (!b.add(x)) this.late(x.id, `its ${this.interval} bar had closed`)
    }
    if (this.tradeSet.size) {
      const t = this.tradeRow
      t[0] = x.id
      t[1] = x.timestamp
      t[2] = x.price
      t[3] = x.amount
      t[4] = x.side
      this.tradeSet.update(t)
    }
  }

  private onBook(row: Float64Array): void {
    this.counts.bookSnapshots++
    // A snapshot later than the bucket being built waits for that bucket's bar, so each bar sees the book as of its end
    const open = this.builder?.openTime
    const horizon = open === undefined ? Infinity : open + this.step
    if (this.bookQueue.length === 0 && row[0] < horizon) this.bookSet.update(row)
    else this.bookQueue.push(row)
    // No trade for a long while (a trade feed down, the book alive): the book goes on rather than piling up
    if (this.bookQueue.length > 10_000) this.bookSet.update(this.bookQueue.shift() as Float64Array)
  }

  private drainBook(end: number): void {
    const q = this.bookQueue
    let k = 0
    while (k < q.length && q[k][0] < end) this.bookSet.update(q[k++])
    if (k) q.splice(0, k)
  }

  /** A bucket the trade builder closed. */
  private onBucket(c: ClosedBucket): void {
    const t = c.bar.openTime
    // Bars the indicators have already seen (the lake's, or an exchange bar for the interval)
    if (this.warmEnd !== undefined && t < this.warmEnd) {
      if (this.lastEmitted !== undefined && t <= this.lastEmitted && !c.partial) this.compare(c.bar)
      return
    }
    if (c.partial) return
    if (!this.live) {
      this.feedBar(barRow(c.bar, this.row))
      return
    }
    this.emitBar(c.bar)
  }

  private onExchangeBar(bar: LiveBar): void {
    if (this.source === 'trades') return
    const t = bar.openTime
    if (this.warmEnd !== undefined && t < this.warmEnd) {
      if (this.lastEmitted !== undefined && t <= this.lastEmitted) this.compare(bar)
      return
    }
    if (!this.live) return
    // The exchange's bar closes the interval: earlier buckets close from their trades first
    this.builder?.closeBefore(t, this.seq.hole === undefined)
    if (this.warmEnd !== undefined && t < this.warmEnd) return
    this.emitBar(bar)
  }

  /** A trade-built bar against the exchange's bar for the same interval (whichever came second). */
  private compare(other: LiveBar): void {
    const mine = this.recent.get(other.openTime)
    if (!mine || mine.source === other.source) return
    const built = mine.source === 'trades' ? mine : other
    if (!built.complete) return
    this.counts.compared++
    const diff = barsAgree(mine, other)
    if (diff.length) {
      this.counts.mismatched++
      this.warn('bar_mismatch', `the ${this.interval} bar at ${isoUs(other.openTime)} built from trades differs from the exchange's: ${diff.join(', ')}`, other.openTime, other.openTime)
    }
  }

  private feedBar(row: Float64Array): void {
    this.base.update(row)
    for (const t of this.tfs) t.resampler.add(row)
    this.warmEnd = row[0] + this.step
  }

  private emitBar(bar: LiveBar): void {
    const t = bar.openTime
    if (this.warmEnd !== undefined && t > this.warmEnd) {
      const missing = Math.round((t - this.warmEnd) / this.step)
      this.warn(
        'missing_bars',
        `${missing} ${this.interval} bar${missing === 1 ? '' : 's'} from ${isoUs(this.warmEnd)} to ${isoUs(t - this.step)} missing ` +
          `(${this.lastEmitted === undefined ? 'between the warm-up and the first live bar' : 'no data for them'}); indicators continue across the hole, as in the batch command`,
        this.warmEnd,
        t - this.step,
      )
    }
    this.drainBook(t + this.step)
    this.feedBar(barRow(bar, this.row))
    this.lastEmitted = t
    this.recent.set(t, bar)
    if (this.recent.size > 64) this.recent.delete(this.recent.keys().next().value as number)
    this.counts.bars++
    if (bar.empty) this.counts.emptyBars++
    if (!bar.complete) this.counts.incompleteBars++
    if (bar.source === 'exchange') this.counts.exchangeBars++
    const latest: Latest[] = []
    this.base.latest(this.interval, latest)
    this.tradeSet.latest(this.interval, latest)
    this.bookSet.latest(this.interval, latest)
    for (const t of this.tfs) if (t.state.closed) t.set.latest(t.tf, latest)
    const values: Record<string, number> = {}
    for (const l of latest) {
      const d = indicator(l.id)
      for (const o of d.outputs) values[seriesName(d, o, l.timeframe === this.interval ? undefined : l.timeframe)] = l.outputs[o]
    }
    this.emit({ type: 'bar', bar, latest, confluence: confluenceOf(latest, this.interval), values })
  }
}

/** Checks a live configuration (indicators, parameters, timeframes) without touching the lake or the bus. */
export function checkLive(cfg: LiveConfig): void {
  new LiveSignals(cfg, () => undefined)
}

/** Options of `startLive`. */
export interface LiveOptions extends LiveConfig {
  readonly lakeDir: string
  /** The collector's bus (the caller opens and closes it) */
  readonly bus: Bus
  /** Lake bars read for the warm-up: the last N bars of the interval, or all of them (default) */
  readonly warmupBars?: number | 'all'
  /** Append every emitted value to the lake as kind `signals` */
  readonly store?: boolean
  /** Batch window of those appends, ms (5,000) */
  readonly storeEveryMs?: number
  /** Timer period for clock-driven closes, hole timeouts and lake read-backs, ms (250) */
  readonly tickMs?: number
  /** Clock in µs (tests) */
  readonly now?: () => number
  readonly onEvent: (e: LiveEvent) => void
}

/** What the warm-up read. */
export interface LiveReady {
  readonly channels: readonly string[]
  readonly indicators: readonly string[]
  /** Lake bars the warm-up read and their interval (finer ones resampled), or none */
  readonly warmupBars: number
  readonly warmupSource: Interval | undefined
  readonly warmupFrom: number | undefined
  /** Open time after the last warm-up bar: the first bar the bus should close */
  readonly warmedUntil: number | undefined
  readonly warmupGaps: number
  /** Lake trades read (trade indicators, bars after the warm-up bars, the id to continue from) */
  readonly warmupTrades: number
  readonly lastTradeId: number | undefined
}

export interface LiveSession {
  readonly ready: LiveReady
  readonly counts: Readonly<LiveCounts>
  /**
   * Starts emitting: the warm-up's warnings first, then what the bus delivered during the warm-up, then live. Until
   * then records are buffered, so the caller can announce `ready` before the first bar.
   */
  begin(): void
  /** Runs the clock once now (tests) */
  tick(): void
  /** Unsubscribes, stops the timers, writes what `store` buffered; the bar being built is dropped */
  stop(): Promise<LiveCounts>
}

/** Most lake trades read at start-up; beyond it only the newest are read and the first bucket is partial */
const MAX_WARMUP_TRADES = 1_000_000
/** Lake trades before the warm-up's end read for the trade indicators */
const TRADE_WARMUP_US = 3_600_000_000

/** Reads lake trades (or aggTrades) of an instrument as tape rows in id order. */
async function readTapeTrades(
  reader: LakeReader,
  ds: DatasetId,
  where: { from?: number; ids?: { from: number; to: number } },
  limit: number,
): Promise<TapeTrade[]> {
  let files: string[]
  try {
    files = reader.files(ds, { from: where.from })
  } catch (err) {
    if (err instanceof UsageError) return []
    throw err
  }
  if (files.length === 0) return []
  const count = ds.kind === 'agg_trades' ? 'last_trade_id - first_trade_id + 1' : '1'
  const cond = [
    ...(where.from !== undefined ? [`timestamp >= ${Math.floor(where.from)}`] : []),
    ...(where.ids ? [`id BETWEEN ${where.ids.from} AND ${where.ids.to}`] : []),
  ]
  const res = await reader.query(`
    SELECT * FROM (
      SELECT CAST(id AS DOUBLE), CAST(timestamp AS DOUBLE), price, amount,
             CASE side WHEN 'buy' THEN 1 WHEN 'sell' THEN -1 ELSE 0 END, CAST(${count} AS DOUBLE)
      FROM read_parquet([${files.map(sqlString).join(', ')}])
      ${cond.length ? `WHERE ${cond.join(' AND ')}` : ''}
      ORDER BY id DESC LIMIT ${limit}
    ) ORDER BY 1`)
  return res.rows.map((r) => ({
    id: Number(r[0]), timestamp: Number(r[1]), price: Number(r[2]), amount: Number(r[3]), side: Number(r[4]), count: Number(r[5]),
  }))
}

/** Appends emitted values to the lake's `signals` kind in batches, through the collector's append path. */
class SignalStore {
  private open_time: number[] = []
  private value: number[] = []
  private series: string[] = []
  private flushing: Promise<void> | undefined
  private wrote = false
  private readonly ds: DatasetId
  constructor(
    private readonly lakeDir: string,
    o: { instrument: Instrument; interval: Interval },
    private readonly onError: (msg: string) => void,
    private readonly onWritten: (rows: number) => void,
  ) {
    this.ds = { kind: 'signals', ...o.instrument, interval: o.interval }
  }
  add(t: number, values: Readonly<Record<string, number>>): void {
    for (const [s, v] of Object.entries(values)) {
      if (!Number.isFinite(v)) continue
      this.open_time.push(t)
      this.value.push(v)
      this.series.push(s)
    }
  }
  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => this.flush())
    if (this.series.length === 0) return Promise.resolve()
    const rows = this.series.length
    const batch = { open_time: this.open_time, value: this.value, series: this.series }
    this.open_time = []
    this.value = []
    this.series = []
    const p = (async () => {
      let w: LakeWriter | undefined
      try {
        w = await LakeWriter.open(this.lakeDir)
        const line = new Float64Array(rows)
        for (let i = 0; i < rows; i++) line[i] = i + 1
        await w.stage(this.ds, {
          rows, source: 0, line,
          f64: { open_time: Float64Array.from(batch.open_time), value: Float64Array.from(batch.value) },
          text: { series: batch.series },
        })
        const r = await w.commitAppend(this.ds)
        if (r.rowsWritten) this.wrote = true
        this.onWritten(r.rowsWritten)
      } catch (err) {
        // Kept for the next window, ahead of what arrived meanwhile (the lock may be the collector's, briefly)
        this.open_time = [...batch.open_time, ...this.open_time]
        this.value = [...batch.value, ...this.value]
        this.series = [...batch.series, ...this.series]
        this.onError(oneLine(err))
      } finally {
        w?.close()
      }
    })().finally(() => {
      this.flushing = undefined
    })
    this.flushing = p
    return p
  }
  get pending(): number {
    return this.series.length
  }

  /** Writes what is left (retrying while another writer, e.g. the collector, holds the lock) and compacts. */
  async close(): Promise<void> {
    for (let attempt = 0; attempt < 20 && (this.pending || this.flushing); attempt++) {
      await this.flush()
      if (this.pending) await new Promise((r) => setTimeout(r, 250))
    }
    if (this.pending) throw new FatalError(`Could not store the last ${this.pending} live values in the lake at ${this.lakeDir}`)
    if (!this.wrote) return
    // Appends leave a file per batch; compacting at exit keeps partitions to one file, as the collector does
    for (let attempt = 0; ; attempt++) {
      let w: LakeWriter | undefined
      try {
        w = await LakeWriter.open(this.lakeDir)
        await w.compact(this.ds)
        return
      } catch (err) {
        if (attempt >= 19) throw err
        await new Promise((r) => setTimeout(r, 250))
      } finally {
        w?.close()
      }
    }
  }
}

/**
 * Warms up every selected indicator from the lake, subscribes to the instrument on the bus and emits each closed
 * bar with every indicator's latest values, readings and confluence, until `stop`.
 */
export async function startLive(o: LiveOptions): Promise<LiveSession> {
  const now = o.now ?? nowUs
  const events: LiveEvent[] = []
  let started = false
  const emit = (e: LiveEvent) => {
    if (e.type === 'bar' && store) store.add(e.bar.openTime, e.values)
    o.onEvent(e)
  }
  let store: SignalStore | undefined
  const engine = new LiveSignals(o, (e) => (started ? emit(e) : events.push(e)))
  if (o.warmupBars !== undefined && o.warmupBars !== 'all' && (!Number.isInteger(o.warmupBars) || o.warmupBars < 1)) {
    throw new UsageError(`Invalid --warmup: '${o.warmupBars}'. Expected a positive number of bars or 'all'`)
  }
  if (o.store) {
    store = new SignalStore(
      o.lakeDir,
      o,
      (msg) => emit({ type: 'warning', kind: 'store_failed', message: `storing signals failed, kept for the next window: ${msg}` }),
      (rows) => (engine.counts.stored += rows),
    )
  }

  // Subscribe first and buffer, so nothing published during the warm-up is lost
  const { exchange, symbol } = o.instrument
  const streams = ['trades', 'bars', 'integrity', ...(engine.readsBook ? ['book'] : [])]
  const channels = streams.map((s) => `market.${s}.${exchange}.${symbol}`)
  const buffered: { r: MarketRecord; at: number }[] = []
  let running = false
  let stopping: Promise<LiveCounts> | undefined
  const onRecord = (_channel: string, r: MarketRecord) => {
    if (r.exchange !== exchange || r.symbol !== symbol) return
    if (running) engine.handle(r, now())
    else if (!stopping) buffered.push({ r, at: now() })
  }
  const unsubs: (() => Promise<void>)[] = []
  const reader = await LakeReader.open(o.lakeDir)
  let ready: LiveReady
  try {
    for (const c of channels) unsubs.push(await o.bus.subscribe(c, onRecord))
    ready = await warmUp(o, engine, reader, channels)
  } catch (err) {
    for (const u of unsubs) await u().catch(() => undefined)
    reader.close()
    throw err
  }

  // The clock, hole read-backs from the lake, and our own bus reconnects
  let reconnects = o.bus.stats().reconnects
  let lastPoll = 0
  let polling = false
  const tick = () => {
    const t = now()
    const r = o.bus.stats().reconnects
    if (r > reconnects) {
      reconnects = r
      engine.busReconnected()
    }
    const hole = engine.hole
    const tradeDs = hole && !polling && t - lastPoll >= 1_000_000 ? tradeDataset(o.lakeDir, o.instrument) : undefined
    if (hole && tradeDs) {
      lastPoll = t
      polling = true
      // The missing trades are younger than the last one released; a minute back covers clock skew between them
      const from = (engine.lastTradeTime ?? 0) - 60_000_000
      readTapeTrades(reader, tradeDs, { from, ids: hole }, hole.to - hole.from + 1)
        .then((rows) => {
          if (running && rows.length) engine.fill(rows, now())
        })
        .catch((err) => log.warn(`reading trades ${hole.from}..${hole.to} back from the lake failed: ${oneLine(err)}`))
        .finally(() => (polling = false))
    }
    engine.tick(t)
  }
  let timer: NodeJS.Timeout | undefined
  let storeTimer: NodeJS.Timeout | undefined
  return {
    ready,
    counts: engine.counts,
    begin() {
      if (started || stopping) return
      engine.goLive()
      started = true
      running = true
      for (const e of events) emit(e)
      events.length = 0
      for (const b of buffered) engine.handle(b.r, b.at)
      buffered.length = 0
      timer = setInterval(tick, o.tickMs ?? 250)
      if (store) storeTimer = setInterval(() => void store!.flush(), o.storeEveryMs ?? 5000)
    },
    tick,
    stop() {
      stopping ??= (async () => {
        running = false
        if (timer) clearInterval(timer)
        if (storeTimer) clearInterval(storeTimer)
        for (const u of unsubs) await u().catch((err) => log.warn(`unsubscribe failed: ${oneLine(err)}`))
        // Let a read-back in flight finish before the reader closes
        while (polling) await new Promise((r) => setTimeout(r, 10))
        reader.close()
        await store?.close()
        return { ...engine.counts }
      })()
      return stopping
    },
  }
}

/** The trades dataset the lake holds for an instrument (`trades`, else `agg_trades`). */
function tradeDataset(lakeDir: string, instrument: Instrument): DatasetId | undefined {
  const held = listDatasets(lakeDir).filter((d) => d.ds.exchange === instrument.exchange && d.ds.symbol === instrument.symbol)
  const kind = held.some((d) => d.ds.kind === 'trades') ? 'trades' : held.some((d) => d.ds.kind === 'agg_trades') ? 'agg_trades' : undefined
  return kind ? { kind, ...instrument } : undefined
}

/** Reads the warm-up bars and trades from the lake into the engine. */
async function warmUp(o: LiveOptions, engine: LiveSignals, reader: LakeReader, channels: readonly string[]): Promise<LiveReady> {
  const step = engine.step
  let bars = 0
  let source: Interval | undefined
  let first: number | undefined
  let gaps = 0
  let missing = 0
  try {
    source = sourceInterval(o.lakeDir, o.instrument, o.interval)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    engine.warn('no_warmup', `no bars for ${o.instrument.exchange}:${o.instrument.symbol} at ${o.interval} or finer in the lake: indicators start cold`)
  }
  if (source !== undefined) {
    const ds: DatasetId = { kind: 'bars', ...o.instrument, interval: source }
    const cov = coverageOf(ds, reader.manifest(ds))
    let from: number | undefined
    if (o.warmupBars !== undefined && o.warmupBars !== 'all' && cov.last !== undefined) {
      // The last N bars of the interval, plus mtf and alignment history do not change this count: N is the user's cap
      from = barOpen(cov.last, step) - o.warmupBars * step
    }
    const r = await reader.readColumns(ds, BAR_FIELDS, { from })
    let cols: Columns = r.columns
    if (source !== o.interval) cols = resample(cols, source, o.interval) as unknown as Columns
    if (o.warmupBars !== undefined && o.warmupBars !== 'all' && cols.open_time.length > o.warmupBars) {
      const cut = cols.open_time.length - o.warmupBars
      cols = Object.fromEntries(Object.entries(cols).map(([k, v]) => [k, v.subarray(cut)]))
    }
    bars = cols.open_time.length
    if (bars) {
      first = cols.open_time[0]
      const holes = await reader.gaps(ds, { from: first })
      gaps = holes.length
      missing = holes.reduce((a, g) => a + g.missing, 0)
      if (gaps) {
        engine.warn('warmup_gaps', `the warm-up bars have ${gaps} gaps (${missing} ${source} bars missing); indicators ran over the rows present, as in the batch command`)
      }
      const need = warmup(engine.defs.filter((d) => d.source === 'bars'), o.params) + 1
      if (bars < need) {
        engine.warn('no_warmup', `only ${bars} warm-up bars for a lookback of ${need - 1}: some indicators stay NaN until enough live bars have closed`)
      }
    }
    engine.warmBars(cols)
  }

  // Lake trades: the trade indicators' warm-up, bars after the warm-up bars, and the id the bus continues from
  let trades = 0
  const tradeDs = tradeDataset(o.lakeDir, o.instrument)
  if (tradeDs && engine.readsTrades) {
    const end = engine.warmedUntil
    const back = engine.defs.some((d) => d.source === 'trades') ? Math.max(step, TRADE_WARMUP_US) : step
    const cov = coverageOf(tradeDs, reader.manifest(tradeDs))
    const from = end !== undefined ? end - back : cov.last !== undefined ? cov.last - back : undefined
    const rows = await readTapeTrades(reader, tradeDs, { from }, MAX_WARMUP_TRADES)
    trades = rows.length
    engine.warmTrades(rows, tradeDs.kind === 'agg_trades' ? 'agg_trade' : 'trade')
  }
  return {
    channels,
    indicators: engine.defs.map((d) => d.id),
    warmupBars: bars,
    warmupSource: source,
    warmupFrom: first,
    warmedUntil: engine.warmedUntil,
    warmupGaps: gaps,
    warmupTrades: trades,
    lastTradeId: engine.lastTradeId,
  }
}

