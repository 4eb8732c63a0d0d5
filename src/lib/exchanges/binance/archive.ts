// data.binance.vision CSV archives: spot and USD-M klines, aggTrades and trades.
// https://github.com/binance/binance-public-data (columns, header rows, the 2025 microsecond switch)
//
// Spot files have no header; USD-M files gained one in 2022. Spot files dated from 2025-01-01 use µs, older
// ones ms; a time above 1e14 is taken as µs. Trimmed sample rows:
//   kline:    1704067200000,42283.58000000,42298.62000000,...,1704067259999,...,1337,...,0
//   aggTrade: 13519807,0.00142300,175.00000000,15373518,15373518,1570752011620,True,True
//   trade:    50093239218,61215.99,0.00012,7.34591880,1723161253407,False,True

import type { Exchange, Interval } from '../../consts.js'
import { ColumnBatch } from '../../archive/batch.js'
import { barOpen, intervalUs, nextOpen, US_PER_MS, US_PER_DAY } from '../../time.js'

export type ArchiveKind = 'bars' | 'trades' | 'agg_trades'

/** One bad line of an archive. */
export interface RowProblem {
  readonly line: number
  readonly reason: string
  readonly text: string
}

/** Parses rows of one archive into a column batch, validating each. */
export interface ArchiveRowParser {
  readonly kind: ArchiveKind
  readonly batch: ColumnBatch
  /** Exchange implied by the file's shape (USD-M files have headers or fewer columns), if any */
  impliedExchange: Exchange | undefined
  row(vals: Float64Array, fields: number, line: number, text: () => string): void
  readonly problems: RowProblem[]
  /** Total bad rows (problems keeps the first ones only) */
  badRows: number
  goodRows: number
}

const MAX_PROBLEMS = 1000

const isBool = (x: number) => x === 0 || x === 1
const toUs = (t: number) => (t > 1e14 ? t : t * US_PER_MS)
/** A ms close time covers the whole last ms: `…59999` ms ends at `…59999999` µs. */
const closeToUs = (t: number) => (t > 1e14 ? t : t * US_PER_MS + (US_PER_MS - 1))

abstract class BaseParser {
  readonly problems: RowProblem[] = []
  badRows = 0
  goodRows = 0
  impliedExchange: Exchange | undefined = undefined

  protected bad(line: number, reason: string, text: () => string): void {
    this.badRows++
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ line, reason, text: text().slice(0, 200) })
  }

  /** A first line whose first field is not a number is a header; it must name the expected columns. */
  protected header(line: number, vals: Float64Array, text: () => string, expect: RegExp): boolean {
    if (line !== 1 || !Number.isNaN(vals[0])) return false
    const t = text()
    if (expect.test(t.toLowerCase())) {
      this.impliedExchange = 'binance-futures'
      return true
    }
    this.bad(line, `unrecognised header, expected columns like ${expect.source}`, () => t)
    return true
  }
}

/** Klines: open_time, open, high, low, close, volume, close_time, quote_volume, count, taker_buy_base, taker_buy_quote, ignore. */
export class KlineParser extends BaseParser implements ArchiveRowParser {
  readonly kind = 'bars' as const
  readonly batch = new ColumnBatch([
    'open_time', 'close_time', 'open', 'high', 'low', 'close', 'volume', 'quote_volume', 'trades',
    'taker_buy_volume', 'taker_buy_quote_volume', 'local_timestamp',
  ])
  private prevOpen = -Infinity
  private readonly step: number | undefined
  private readonly aligned: boolean

  constructor(readonly interval: Interval) {
    super()
    this.step = intervalUs(interval)
    // Weekly and 3-day bars are anchored on exchange-specific days; only check the grid up to 1d
    this.aligned = this.step !== undefined && this.step <= US_PER_DAY
  }

  row(v: Float64Array, n: number, line: number, text: () => string): void {
    if (this.header(line, v, text, /open_time.*close/)) return
    if (n < 11) return this.bad(line, `expected 12 columns, found ${n}`, text)
    for (let j = 0; j < 11; j++) {
      if (!Number.isFinite(v[j])) return this.bad(line, `column ${j + 1} is not a number`, text)
    }
    const open = v[1], high = v[2], low = v[3], close = v[4], volume = v[5]
    const openUs = toUs(v[0])
    const closeUs = closeToUs(v[6])
    if (!(open > 0 && high > 0 && low > 0 && close > 0)) return this.bad(line, 'non-positive price', text)
    if (high < open || high < close || low > open || low > close || low > high) {
      return this.bad(line, 'inconsistent OHLC (high must be >= open, close, low; low <= open, close)', text)
    }
    if (volume < 0 || v[7] < 0 || v[8] < 0 || v[9] < 0 || v[10] < 0) return this.bad(line, 'negative volume or count', text)
    if (v[9] > volume * (1 + 1e-9) + 1e-12) return this.bad(line, 'taker buy volume exceeds volume', text)
    if (!Number.isInteger(v[8])) return this.bad(line, 'trade count is not an integer', text)
    // On the grid when it is its own bar's open (barOpen divides and floors, exact below 2^53: V8 computes a double
    // `%` by calling fmod, which cost 5% of the parse, measured)
    const step = this.step
    if (this.aligned && step !== undefined && barOpen(openUs, step) !== openUs) {
      return this.bad(line, `open time is not on the ${this.interval} grid`, text)
    }
    if (closeUs < openUs || closeUs >= (step !== undefined ? openUs + step : nextOpen(this.interval, openUs))) {
      return this.bad(line, `close time outside the ${this.interval} bar`, text)
    }
    if (openUs === this.prevOpen) return this.bad(line, 'duplicate open time', text)
    if (openUs < this.prevOpen) return this.bad(line, 'open time goes backwards', text)
    this.prevOpen = openUs
    const b = this.batch
    const i = b.next()
    b.line[i] = line
    const c = b.cols
    c.open_time[i] = openUs
    c.close_time[i] = closeUs
    c.open[i] = open
    c.high[i] = high
    c.low[i] = low
    c.close[i] = close
    c.volume[i] = volume
    c.quote_volume[i] = v[7]
    c.trades[i] = v[8]
    c.taker_buy_volume[i] = v[9]
    c.taker_buy_quote_volume[i] = v[10]
    c.local_timestamp[i] = closeUs
    this.goodRows++
  }
}

/** aggTrades: agg_id, price, qty, first_id, last_id, time, is_buyer_maker[, is_best_match] (USD-M has 7 columns). */
export class AggTradeParser extends BaseParser implements ArchiveRowParser {
  readonly kind = 'agg_trades' as const
  readonly batch = new ColumnBatch([
    'id', 'first_trade_id', 'last_trade_id', 'timestamp', 'local_timestamp', 'price', 'amount', 'side',
  ])

  row(v: Float64Array, n: number, line: number, text: () => string): void {
    if (this.header(line, v, text, /agg_trade_id.*price/)) return
    if (n !== 7 && n !== 8) return this.bad(line, `expected 7 or 8 columns, found ${n}`, text)
    if (n === 7 && this.goodRows === 0) this.impliedExchange = 'binance-futures'
    for (let j = 0; j < 7; j++) {
      if (!Number.isFinite(v[j])) return this.bad(line, `column ${j + 1} is not a number or boolean`, text)
    }
    if (!isBool(v[6])) return this.bad(line, 'is_buyer_maker is not True/False', text)
    if (!(v[1] > 0)) return this.bad(line, 'non-positive price', text)
    if (!(v[2] > 0)) return this.bad(line, 'non-positive quantity', text)
    if (!Number.isInteger(v[0]) || !Number.isInteger(v[3]) || !Number.isInteger(v[4]) || v[0] < 0) {
      return this.bad(line, 'ids must be non-negative integers', text)
    }
    if (v[3] > v[4]) return this.bad(line, 'first_trade_id is above last_trade_id', text)
    const b = this.batch
    const i = b.next()
    b.line[i] = line
    const c = b.cols
    const t = toUs(v[5])
    c.id[i] = v[0]
    c.price[i] = v[1]
    c.amount[i] = v[2]
    c.first_trade_id[i] = v[3]
    c.last_trade_id[i] = v[4]
    c.timestamp[i] = t
    c.local_timestamp[i] = t
    // Buyer was maker: the seller took liquidity
    c.side[i] = v[6] === 1 ? -1 : 1
    this.goodRows++
  }
}

/** trades: id, price, qty, quote_qty, time, is_buyer_maker[, is_best_match] (USD-M has 6 columns). */
export class TradeParser extends BaseParser implements ArchiveRowParser {
  readonly kind = 'trades' as const
  readonly batch = new ColumnBatch(['id', 'timestamp', 'local_timestamp', 'price', 'amount', 'side'])

  row(v: Float64Array, n: number, line: number, text: () => string): void {
    if (this.header(line, v, text, /id.*price.*qty/)) return
    if (n !== 6 && n !== 7) return this.bad(line, `expected 6 or 7 columns, found ${n}`, text)
    if (n === 6 && this.goodRows === 0) this.impliedExchange = 'binance-futures'
    for (let j = 0; j < 6; j++) {
      if (!Number.isFinite(v[j])) return this.bad(line, `column ${j + 1} is not a number or boolean`, text)
    }
    if (!isBool(v[5])) return this.bad(line, 'is_buyer_maker is not True/False', text)
    if (!(v[1] > 0)) return this.bad(line, 'non-positive price', text)
    if (!(v[2] > 0)) return this.bad(line, 'non-positive quantity', text)
    if (!Number.isInteger(v[0]) || v[0] < 0) return this.bad(line, 'id must be a non-negative integer', text)
    const b = this.batch
    const i = b.next()
    b.line[i] = line
    const c = b.cols
    const t = toUs(v[4])
    c.id[i] = v[0]
    c.price[i] = v[1]
    c.amount[i] = v[2]
    c.timestamp[i] = t
    c.local_timestamp[i] = t
    c.side[i] = v[5] === 1 ? -1 : 1
    this.goodRows++
  }
}

export function parserFor(kind: ArchiveKind, interval: Interval | undefined): ArchiveRowParser {
  switch (kind) {
    case 'bars':
      if (!interval) throw new Error('klines need an interval')
      return new KlineParser(interval)
    case 'agg_trades':
      return new AggTradeParser()
    case 'trades':
      return new TradeParser()
  }
}

/** Most fields any archive row has (parsers ignore the rest). */
export const MAX_ARCHIVE_FIELDS = 12
