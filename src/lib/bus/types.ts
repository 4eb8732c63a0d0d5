// The record bus: the collector publishes every normalised record once; backtests, signals and dashboards in
// other processes consume by channel pattern. Two transports share one contract: `memory` (in-process, synchronous
// fan-out) and `redis` (pub/sub or streams, batched publishing with a bounded backlog).
//
// Channels are `market.<stream>.<exchange>.<symbol>` with the exchange-native symbol (BTCUSDT, BTC-USD). Patterns
// use Redis glob rules on both transports: `*` matches any run of characters (dots included), `?` one character,
// `[abc]`/`[^a]`/`[a-z]` a class, and `\` escapes the next character.

import type { MarketRecord } from '../types.js'

/** Counters every bus keeps; cumulative since the bus was created. */
export interface BusStats {
  /** Records given to `publish` */
  readonly published: number
  /** Records handed to the transport (memory: fanned out; redis: acknowledged by the server) */
  readonly sent: number
  /** Records thrown away: the oldest beyond the backlog bound, or published after `close` */
  readonly dropped: number
  /** Records the transport failed to take (a batch the server refused or a connection lost for good) */
  readonly failed: number
  /** Records given to subscribers' handlers in this process */
  readonly delivered: number
  /** Exceptions thrown by handlers (caught, never reaching the publisher) */
  readonly handlerErrors: number
  /** Incoming payloads that were not a record (another publisher on the same channel) */
  readonly decodeErrors: number
  /** Times the transport reconnected */
  readonly reconnects: number
  /** Records accepted but not yet handed to the transport */
  readonly backlog: number
  /** Whether the publishing side can hand records to the transport now */
  readonly connected: boolean
}

export type BusHandler = (channel: string, record: MarketRecord) => void

export interface Bus {
  /** Publishes without blocking the caller; delivery is asynchronous for remote buses */
  publish(record: MarketRecord): void
  /** Subscribes to channels by pattern (`market.trades.*`, exact names, `*` glob); returns an unsubscribe */
  subscribe(pattern: string, handler: BusHandler): Promise<() => Promise<void>>
  /** Records accepted but not yet handed to the transport (for the `bus backlog` metric) */
  backlog(): number
  /** Resolves when everything published so far has been handed to the transport */
  flush(): Promise<void>
  /** Flushes (bounded by `closeTimeoutMs`), then ends subscriptions and connections; idempotent */
  close(): Promise<void>
  /** Counters for metrics and status output */
  stats(): BusStats
  /** Spec safe to print (a password is shown as `***`) */
  readonly display: string
  readonly kind: 'memory' | 'redis'
}

export interface BusOptions {
  /** Records kept while the transport cannot take them; beyond it the oldest are dropped and counted (100,000) */
  readonly maxBacklog?: number
  /** Records per pipeline sent to Redis (2,000) */
  readonly batchSize?: number
  /** Records sent but not yet acknowledged, beyond which sending waits (20,000) */
  readonly maxInFlight?: number
  /** How long `close` waits for the backlog to drain, ms (5,000) */
  readonly closeTimeoutMs?: number
  /** First reconnect delay after a lost connection, doubling to a 5 s cap, ms (100) */
  readonly reconnectBaseMs?: number
  /** How long `createBus` waits for the first connection, ms (10,000) */
  readonly connectTimeoutMs?: number
  /** Called with each batch as it is handed to the transport (receipt-to-bus latency) */
  readonly onSent?: (records: readonly MarketRecord[]) => void
  /** Called with the count of records dropped from the backlog (the `bus dropped` metric) */
  readonly onDropped?: (count: number) => void
  /** How a Redis batch is sent: one EVALSHA looping over it (`script`, default; pipelines where scripts are refused)
   *  or a pipeline of one PUBLISH/XADD per record (`pipeline`) */
  readonly batchCommand?: 'script' | 'pipeline'
  /** Redis CLIENT SETNAME prefix, shown in CLIENT LIST with `-pub`, `-sub`, `-stream` (`mercury-bus`) */
  readonly clientName?: string
  /** Flag named in error messages (`--bus`) */
  readonly flag?: string
}

export const DEFAULT_MAX_BACKLOG = 100_000

/** The stream segment of each record type's channel. */
export const CHANNEL_STREAMS = {
  trade: 'trades',
  agg_trade: 'trades',
  book_change: 'depth',
  book_snapshot: 'book',
  book_ticker: 'ticker',
  bar: 'bars',
  funding: 'funding',
  liquidation: 'liquidations',
  open_interest: 'oi',
  integrity: 'integrity',
} as const satisfies Record<MarketRecord['type'], string>

/** The channel a record is published on, e.g. `market.trades.binance.BTCUSDT`. */
export function channelFor(record: MarketRecord): string {
  return `market.${CHANNEL_STREAMS[record.type]}.${record.exchange}.${record.symbol}`
}

/** True when a pattern has glob characters (Redis PSUBSCRIBE rather than SUBSCRIBE). */
export function isGlob(pattern: string): boolean {
  return /[*?[\\]/.test(pattern)
}

/** Compiles a Redis-style glob once into a channel test. */
export function compilePattern(pattern: string): (channel: string) => boolean {
  if (!isGlob(pattern)) return (channel) => channel === pattern
  if (pattern === '*') return () => true
  let re = '^'
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '*') {
      re += '[\\s\\S]*'
    } else if (c === '?') {
      re += '[\\s\\S]'
    } else if (c === '\\' && i + 1 < pattern.length) {
      re += escapeRe(pattern[++i])
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2)
      if (end < 0) {
        re += '\\['
        continue
      }
      let body = pattern.slice(i + 1, end)
      const negate = body.startsWith('^')
      if (negate) body = body.slice(1)
      // Keep ranges (a-z), escape everything else that means something inside a JS class
      const cls = body.replace(/[\]\\^]/g, (m) => `\\${m}`)
      re += `[${negate ? '^' : ''}${cls}]`
      i = end
    } else {
      re += escapeRe(c)
    }
  }
  const compiled = new RegExp(`${re}$`)
  return (channel) => compiled.test(channel)
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')
}

// Optional fields per record type: JSON drops keys whose value is undefined, so decoding puts them back and a
// record read from Redis is deep- and key-equal to the one published
const OPTIONAL_FIELDS: { readonly [T in MarketRecord['type']]: readonly (keyof Extract<MarketRecord, { type: T }>)[] } = {
  trade: [],
  agg_trade: [],
  bar: ['quoteVolume', 'trades', 'takerBuyVolume', 'takerBuyQuoteVolume'],
  book_change: ['firstUpdateId', 'lastUpdateId', 'prevUpdateId'],
  book_snapshot: [],
  funding: ['fundingTime', 'markPrice', 'indexPrice'],
  liquidation: [],
  open_interest: ['openInterestValue'],
  book_ticker: ['updateId'],
  integrity: ['from', 'to'],
}

/** Encodes a record for a remote bus (JSON: float64 values round-trip exactly). */
export function encodeRecord(record: MarketRecord): string {
  return JSON.stringify(record)
}

/** Decodes a payload written by `encodeRecord`; throws when it is not a record. */
export function decodeRecord(payload: string): MarketRecord {
  const r = JSON.parse(payload) as Record<string, unknown>
  const optional = r !== null && typeof r === 'object' ? OPTIONAL_FIELDS[r.type as MarketRecord['type']] : undefined
  if (!optional || typeof r.exchange !== 'string' || typeof r.symbol !== 'string') {
    throw new Error(`not a market record: ${payload.slice(0, 120)}`)
  }
  for (const k of optional as readonly string[]) if (!(k in r)) r[k] = undefined
  return r as unknown as MarketRecord
}
