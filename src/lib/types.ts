// Normalised records: every stage of mercury (collect, backfill, lake, signals, backtest, execute) speaks these.
//
// Semantics, written down once:
// - Times are integer microseconds since the Unix epoch, UTC. `timestamp` is the exchange's event time;
//   `localTimestamp` is when mercury received the record. History imported from archives has no receipt time:
//   there `localTimestamp` is the moment the record became knowable (a trade's own time, a bar's close time),
//   so merges ordered by `localTimestamp` never let a bar be seen before it closed.
// - `side` is the aggressor (taker) side. Binance's `m`/`is_buyer_maker = true` means the seller was the taker.
// - Prices and amounts are float64 for analytics; `execute` keeps exchange strings for orders.
// - Numeric fields the source does not carry are `undefined`, never 0, unless stated.

import type { Exchange, Interval } from './consts.js'

export type Side = 'buy' | 'sell' | 'unknown'

interface RecordBase {
  readonly exchange: Exchange
  /** Exchange-native symbol, e.g. `BTCUSDT`, `BTC-USD` */
  readonly symbol: string
  /** Exchange event time, µs */
  readonly timestamp: number
  /** Receipt time, µs (see the header comment for imported history) */
  readonly localTimestamp: number
}

/** One executed trade. */
export interface Trade extends RecordBase {
  readonly type: 'trade'
  /** Exchange trade id; contiguous on Binance, so gaps are detectable */
  readonly id: number
  readonly price: number
  readonly amount: number
  readonly side: Side
}

/** A Binance aggregated trade: fills of one taker order at one price. */
export interface AggTrade extends RecordBase {
  readonly type: 'agg_trade'
  readonly id: number
  readonly firstTradeId: number
  readonly lastTradeId: number
  readonly price: number
  readonly amount: number
  readonly side: Side
}

/** OHLCV bar keyed by its open time (`timestamp` = open time, like Binance klines). */
export interface Bar extends RecordBase {
  readonly type: 'bar'
  readonly interval: Interval
  /** Last µs covered by the bar (Binance `close_time`, converted to µs) */
  readonly closeTime: number
  readonly open: number
  readonly high: number
  readonly low: number
  readonly close: number
  /** Base-asset volume */
  readonly volume: number
  readonly quoteVolume: number | undefined
  readonly trades: number | undefined
  readonly takerBuyVolume: number | undefined
  readonly takerBuyQuoteVolume: number | undefined
}

export interface BookLevel {
  readonly price: number
  /** Absolute size at this price; 0 deletes the level */
  readonly amount: number
}

/** L2 level updates. `isSnapshot` means "discard the earlier book, this is the whole book". */
export interface BookChange extends RecordBase {
  readonly type: 'book_change'
  readonly isSnapshot: boolean
  /** First and last update id covered (Binance U/u; Coinbase sequence in both) */
  readonly firstUpdateId: number | undefined
  readonly lastUpdateId: number | undefined
  /** Binance futures `pu`: last update id of the previous event */
  readonly prevUpdateId: number | undefined
  readonly bids: readonly BookLevel[]
  readonly asks: readonly BookLevel[]
}

/** Top-N of the locally maintained book at one instant. Level 0 is the best. */
export interface BookSnapshot extends RecordBase {
  readonly type: 'book_snapshot'
  readonly depth: number
  readonly bids: readonly BookLevel[]
  readonly asks: readonly BookLevel[]
}

/** Perpetual funding and mark price. */
export interface Funding extends RecordBase {
  readonly type: 'funding'
  readonly fundingRate: number
  /** When the rate is (or was) charged, µs */
  readonly fundingTime: number | undefined
  readonly markPrice: number | undefined
  readonly indexPrice: number | undefined
}

/** A forced liquidation order as published by the exchange (Binance sends at most one per second per symbol). */
export interface Liquidation extends RecordBase {
  readonly type: 'liquidation'
  /** Side of the liquidation order: `sell` liquidates a long */
  readonly side: Side
  readonly price: number
  readonly amount: number
}

export interface OpenInterest extends RecordBase {
  readonly type: 'open_interest'
  /** Contracts (base units on Binance USD-M) */
  readonly openInterest: number
  readonly openInterestValue: number | undefined
}

/** Best bid and offer as the exchange pushes it (Binance `bookTicker`): a check on the local book, not stored. */
export interface BookTicker extends RecordBase {
  readonly type: 'book_ticker'
  /** Order-book update id the quote reflects (Binance `u`), when sent */
  readonly updateId: number | undefined
  readonly bidPrice: number
  readonly bidAmount: number
  readonly askPrice: number
  readonly askAmount: number
}

export const INTEGRITY_KINDS = ['gap', 'resync', 'checksum_failure', 'crossed_book', 'disconnect'] as const
export type IntegrityKind = (typeof INTEGRITY_KINDS)[number]

/** Something about the data itself: a hole, a book thrown away, a bad checksum. */
export interface IntegrityEvent extends RecordBase {
  readonly type: 'integrity'
  readonly kind: IntegrityKind
  /** Which stream it concerns: `trades`, `book`, `bars:1m`, ... */
  readonly stream: string
  /** Start and end of the affected range, in the stream's key units (µs or ids); undefined when unknown */
  readonly from: number | undefined
  readonly to: number | undefined
  readonly detail: string
}

export type MarketRecord =
  | Trade
  | AggTrade
  | Bar
  | BookChange
  | BookSnapshot
  | Funding
  | Liquidation
  | OpenInterest
  | BookTicker
  | IntegrityEvent

/** Instructions a feed's wire carries besides market data (not stored). */
export interface FeedControl {
  readonly type: 'control'
  /** `shutdown`: the server will close this connection soon (Binance `serverShutdown`): reconnect make-before-break.
   *  `ack`: a subscription answer. `error`: the venue reported an error. `heartbeat`: liveness only. */
  readonly event: 'shutdown' | 'ack' | 'error' | 'heartbeat'
  readonly localTimestamp: number
  /** Venue sequence carried by the frame (Coinbase `sequence_num`), for connection-wide gap checks */
  readonly sequence?: number | undefined
  readonly detail?: string | undefined
}
