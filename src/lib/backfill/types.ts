// What the backfill runner needs from a venue: how to clamp a range to what the venue serves, what a page
// costs, how fast it may be asked, and an ordered stream of pages over a range

import type { Exchange, Interval } from '../consts.js'
import type { Instrument } from '../instrument.js'
import type { RestClient } from '../net/client.js'
import type { AggTrade, Bar, Funding, OpenInterest, Trade } from '../types.js'

/** The kinds Binance's REST history serves; `agg_trades` is what `--kind trades` means there. */
export const REST_KINDS = ['bars', 'agg_trades', 'funding', 'open_interest'] as const
export type RestKind = (typeof REST_KINDS)[number]

/** Every kind a REST backfill can fill: Binance's, plus `trades` (what `--kind trades` means on Coinbase). */
export const HISTORY_KINDS = [...REST_KINDS, 'trades'] as const
export type HistoryKind = (typeof HISTORY_KINDS)[number]

/** What one backfill fills: an instrument, a kind and, for bars and open interest, an interval. */
export interface HistoryTarget {
  readonly instrument: Instrument
  readonly kind: HistoryKind
  /** Bar interval, or the open-interest period; undefined for trades and funding */
  readonly interval: Interval | undefined
}

/** A target of one of Binance's kinds (its adapter's switches are exhaustive over `RestKind`). */
export interface BackfillTarget extends HistoryTarget {
  readonly kind: RestKind
}

export type HistoryRecord = Bar | Trade | AggTrade | Funding | OpenInterest

/**
 * A half-open µs range `[from, to)`; `fromId` resumes an id-paged kind exactly where a previous run stopped.
 * `toId` (repairs of id holes) ends it after that id whatever the times say; `from` and `to` then only bound
 * what the checkpoint records.
 */
export interface HistoryRange {
  readonly from: number
  readonly to: number
  readonly fromId?: number | undefined
  readonly toId?: number | undefined
}

/** Keys `from` to `to`, both included: bar open times (µs) or trade ids. */
export interface KeyRange {
  readonly from: number
  readonly to: number
}

/** One page of history, in key order. */
export interface HistoryPage {
  readonly records: readonly HistoryRecord[]
  /** Every record with a time below this (µs) has been delivered by this page or an earlier one */
  readonly coveredTo: number
  /** Id-paged kinds: the first id not delivered yet */
  readonly nextId?: number | undefined
  /**
   * Keys the exchange was asked for and answered without a row (Coinbase publishes no candle for a minute without
   * trades): the gap ledger records them as exchange gaps once the page's rows are committed
   */
  readonly confirmedEmpty?: readonly KeyRange[] | undefined
}

export interface PageOptions {
  /** Requests in flight at once for one target */
  readonly concurrency: number
  /** Rows per request; the venue's maximum unless a test asks for less */
  readonly pageSize?: number | undefined
  /** History before this µs time is final (trades done, bars closed) */
  readonly settledBefore: number
}

/** A range clamped to what the venue can serve, with a note when the user's range was cut. */
export interface ClampedRange {
  readonly from: number
  readonly to: number
  readonly notice?: string | undefined
}

/** A request-rate limit (requests per second and IP) for venues that publish no weight and send no usage header. */
export interface RequestRate {
  /** Sustained requests per second allowed (the exchange's published limit) */
  readonly perSecond: number
  /** Requests sent at once at most; below the exchange's burst, to leave room for jitter on the way */
  readonly burst: number
  /** Pause after the n-th consecutive 429 that names no Retry-After, ms */
  unnamed429PauseMs(consecutive: number): number
}

/** One venue's REST history. */
export interface HistoryVenue {
  readonly exchange: Exchange
  /** Default REST base URL, its testnet preset, and the environment variable that overrides it */
  readonly restUrl: string
  readonly testnetUrl: string
  readonly urlEnv: string
  /** Request weight allowed per minute (the exchange's published limit); request-rate venues: requests per minute */
  readonly weightLimit: number
  /** Set on venues limited by request rate instead of weight (a token bucket instead of weight windows) */
  readonly requestRate?: RequestRate | undefined
  /** Kinds the venue serves; `REST_KINDS` when absent */
  readonly kinds?: readonly HistoryKind[] | undefined
  /** Why the exchange has no rows for a confirmed-empty range of a target, as the gap ledger notes it */
  emptyNote?(target: HistoryTarget): string
  /** Throws a UsageError naming the flag when the venue cannot serve the target */
  check(target: HistoryTarget): void
  /** Weight and rows of one full page */
  pageCost(target: HistoryTarget, pageSize?: number): { readonly weight: number; readonly rows: number }
  /** Ends the range at closed bars and settled history; starts it where the venue's history begins */
  clamp(target: HistoryTarget, from: number, to: number, nowUs: number): ClampedRange
  /** Requests a range takes when that is known in advance (time-paged kinds); undefined otherwise */
  estimateRequests(target: HistoryTarget, range: HistoryRange, pageSize?: number): number | undefined
  pages(client: RestClient, target: HistoryTarget, range: HistoryRange, o: PageOptions): AsyncIterable<HistoryPage>
}
