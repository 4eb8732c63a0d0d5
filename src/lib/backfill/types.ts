// What the backfill runner needs from a venue: how to clamp a range to what the venue serves, what a page
// costs, and an ordered stream of pages over a range

import type { Exchange, Interval } from '../consts.js'
import type { Instrument } from '../instrument.js'
import type { RestClient } from '../net/client.js'
import type { AggTrade, Bar, Funding, OpenInterest } from '../types.js'

/** Kinds a REST backfill can fill; `agg_trades` is what `--kind trades` means for Binance. */
export const REST_KINDS = ['bars', 'agg_trades', 'funding', 'open_interest'] as const
export type RestKind = (typeof REST_KINDS)[number]

export interface BackfillTarget {
  readonly instrument: Instrument
  readonly kind: RestKind
  /** Bar interval, or the open-interest period; undefined for trades and funding */
  readonly interval: Interval | undefined
}

export type HistoryRecord = Bar | AggTrade | Funding | OpenInterest

/** A half-open µs range `[from, to)`; `fromId` resumes an id-paged kind exactly where a previous run stopped. */
export interface HistoryRange {
  readonly from: number
  readonly to: number
  readonly fromId?: number | undefined
}

/** One page of history, in key order. */
export interface HistoryPage {
  readonly records: readonly HistoryRecord[]
  /** Every record with a time below this (µs) has been delivered by this page or an earlier one */
  readonly coveredTo: number
  /** Id-paged kinds: the first id not delivered yet */
  readonly nextId?: number | undefined
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

/** One venue's REST history. */
export interface HistoryVenue {
  readonly exchange: Exchange
  /** Default REST base URL, its testnet preset, and the environment variable that overrides it */
  readonly restUrl: string
  readonly testnetUrl: string
  readonly urlEnv: string
  /** Request weight allowed per minute (the exchange's published limit) */
  readonly weightLimit: number
  /** Throws a UsageError naming the flag when the venue cannot serve the target */
  check(target: BackfillTarget): void
  /** Weight and rows of one full page */
  pageCost(target: BackfillTarget, pageSize?: number): { readonly weight: number; readonly rows: number }
  /** Ends the range at closed bars and settled history; starts it where the venue's history begins */
  clamp(target: BackfillTarget, from: number, to: number, nowUs: number): ClampedRange
  /** Requests a range takes when that is known in advance (time-paged kinds); undefined otherwise */
  estimateRequests(target: BackfillTarget, range: HistoryRange, pageSize?: number): number | undefined
  pages(client: RestClient, target: BackfillTarget, range: HistoryRange, o: PageOptions): AsyncIterable<HistoryPage>
}
