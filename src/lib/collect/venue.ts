// What the collector needs from a venue: its connections, its message mapper and its REST repairs. One
// implementation per exchange folder (`src/lib/exchanges/<venue>/feed.ts`)

import type { Exchange } from '../consts.js'
import type { BookChange, FeedControl, MarketRecord, OpenInterest, Trade } from '../types.js'
import type { FeedConnection } from './feed.js'

/** Channels a user can ask `collect` for. */
export const CHANNELS = ['trades', 'book', 'bars', 'funding', 'liquidations', 'oi', 'ticker'] as const
export type Channel = (typeof CHANNELS)[number]

export interface VenueConnectionSpec {
  /** e.g. `binance-futures/public` */
  readonly name: string
  readonly url: () => string
  /** Subscribes by message on a fresh connection (Coinbase) */
  readonly onOpen?: (conn: FeedConnection) => void
  /** Symbols whose streams ride on this connection: their books are reset when it drops */
  readonly symbols: readonly string[]
  /** Channels it carries */
  readonly channels: readonly Channel[]
  readonly maxAgeMs?: number
  readonly staleMs?: number
}

export interface RestAnswer<T> {
  readonly value: T
  /** Request URL and the raw body, for `--record` */
  readonly url: string
  readonly body: string
}

export interface VenueAdapter {
  readonly exchange: Exchange
  /** Channels the venue can deliver */
  readonly supports: readonly Channel[]
  connections(): VenueConnectionSpec[]
  /** A connection-wide frame counter (Coinbase Advanced Trade `sequence_num`), when the venue sends one */
  sequenceOf?(msg: unknown): number | undefined
  /** Maps one parsed frame; throws on malformed or unknown frames (the collector counts them) */
  map(msg: unknown, localTimestamp: number): (MarketRecord | FeedControl)[]
  /** REST depth snapshot (Binance); venues whose snapshot comes on the socket leave it out */
  fetchSnapshot?(symbol: string, localTimestamp: () => number): Promise<RestAnswer<BookChange>>
  /** Parses a recorded REST depth snapshot body (replays) */
  parseSnapshot?(raw: unknown, symbol: string, localTimestamp: number): BookChange
  /** Venues that resync by re-subscribing (Coinbase) */
  resubscribeBook?(symbol: string, conn: FeedConnection): void
  /** Trades with ids from `fromId` on, one page; empty when none are available */
  fetchTrades?(symbol: string, fromId: number, localTimestamp: () => number): Promise<RestAnswer<Trade[]>>
  pollOpenInterest?(symbol: string, localTimestamp: () => number): Promise<RestAnswer<OpenInterest>>
  /** Seconds between open-interest polls, when supported */
  readonly openInterestEveryMs?: number
}
