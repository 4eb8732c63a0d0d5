// Coinbase live feeds: Advanced Trade market data (default) or the Exchange feed. Both deliver the book
// snapshot on the socket, so a resync is a re-subscription, not a REST call.
// Docs: https://docs.cdp.coinbase.com/advanced-trade/docs/ws-overview and
// https://docs.cdp.coinbase.com/exchange/websocket-feed/overview

import type { FeedConnection } from '../../collect/feed.js'
import type { Channel, RestAnswer, VenueAdapter, VenueConnectionSpec } from '../../collect/venue.js'
import { UsageError } from '../../errors.js'
import { RateBudget } from '../../net/budget.js'
import { RestClient } from '../../net/client.js'
import type { FeedControl, MarketRecord, Trade } from '../../types.js'
import { mapCoinbaseMessage } from './parse.js'
import { COINBASE_REQUEST_RATE, parseCoinbaseRestTrades } from './rest.js'

export type CoinbaseFeedKind = 'advanced' | 'exchange'

export const COINBASE_URLS: Record<
  CoinbaseFeedKind,
  { ws: string; rest: string; sandboxWs: string; sandboxRest: string; wsEnv: string; restEnv: string }
> = {
  advanced: {
    ws: 'wss://advanced-trade-ws.coinbase.com',
    rest: 'https://api.coinbase.com',
    // Advanced Trade has no public sandbox for market data; the Exchange sandbox is the nearest
    sandboxWs: 'wss://ws-feed-public.sandbox.exchange.coinbase.com',
    sandboxRest: 'https://api-public.sandbox.exchange.coinbase.com',
    wsEnv: 'MERCURY_COINBASE_WS_URL',
    restEnv: 'MERCURY_COINBASE_REST_URL',
  },
  exchange: {
    ws: 'wss://ws-feed.exchange.coinbase.com',
    rest: 'https://api.exchange.coinbase.com',
    sandboxWs: 'wss://ws-feed-public.sandbox.exchange.coinbase.com',
    sandboxRest: 'https://api-public.sandbox.exchange.coinbase.com',
    wsEnv: 'MERCURY_COINBASE_WS_URL',
    restEnv: 'MERCURY_COINBASE_REST_URL',
  },
}

export interface CoinbaseFeedOptions {
  readonly symbols: readonly string[]
  readonly channels: readonly Channel[]
  readonly wsUrl: string
  readonly restUrl: string
  readonly feed: CoinbaseFeedKind
  readonly staleMs?: number | undefined
  /** Sees every REST body with its URL (`--record`) */
  readonly onRest?: ((url: string, body: string) => void) | undefined
}

const SUPPORTED: readonly Channel[] = ['trades', 'book', 'ticker']

/** Channel names per feed; the Exchange feed's unauthenticated book is `level2_batch` */
const NAMES: Record<CoinbaseFeedKind, Partial<Record<Channel, string>>> = {
  advanced: { trades: 'market_trades', book: 'level2', ticker: 'ticker' },
  exchange: { trades: 'matches', book: 'level2_batch', ticker: 'ticker' },
}

export class CoinbaseFeedAdapter implements VenueAdapter {
  readonly exchange = 'coinbase' as const
  readonly supports = SUPPORTED

  /**
   * Trade repair by id from the Exchange REST API (`GET /products/{id}/trades`), for the Exchange feed, whose
   * `match` ids are that API's. Advanced Trade's `market_trades` ids are not documented to be the same, so a hole
   * there stays a recorded gap rather than risk filling it with trades of another numbering.
   */
  readonly fetchTrades?: (symbol: string, fromId: number, localTimestamp: () => number) => Promise<RestAnswer<Trade[]>>

  constructor(private readonly o: CoinbaseFeedOptions) {
    for (const c of o.channels) {
      if (!SUPPORTED.includes(c)) {
        throw new UsageError(`Invalid --channels: coinbase has no '${c}' channel. Expected some of ${SUPPORTED.join(', ')}`)
      }
    }
    if (o.feed === 'exchange') {
      const client = new RestClient({
        baseUrl: o.restUrl,
        name: 'coinbase',
        budget: new RateBudget(COINBASE_REQUEST_RATE.perSecond, COINBASE_REQUEST_RATE.burst),
        timeoutMs: 10_000,
        retries: 4,
        unnamed429PauseMs: COINBASE_REQUEST_RATE.unnamed429PauseMs,
        onBody: o.onRest,
      })
      this.fetchTrades = (symbol, fromId, now) => fetchTradesFrom(client, symbol, fromId, now)
    }
  }

  private subscribe(conn: FeedConnection, channel: string, productIds: readonly string[], type = 'subscribe'): void {
    if (this.o.feed === 'advanced') conn.send(JSON.stringify({ type, product_ids: productIds, channel }))
    else conn.send(JSON.stringify({ type, product_ids: productIds, channels: [channel] }))
  }

  connections(): VenueConnectionSpec[] {
    const names = NAMES[this.o.feed]
    const channels = this.o.channels
    return [
      {
        name: `coinbase/${this.o.feed}`,
        url: () => this.o.wsUrl,
        symbols: this.o.symbols,
        channels,
        staleMs: this.o.staleMs,
        onOpen: (conn) => {
          // Subscribe within 5 s of connecting; heartbeats keep quiet channels from being closed
          for (const c of channels) {
            const n = names[c]
            if (n) this.subscribe(conn, n, this.o.symbols)
          }
          this.subscribe(conn, this.o.feed === 'advanced' ? 'heartbeats' : 'heartbeat', this.o.symbols)
        },
      },
    ]
  }

  sequenceOf(msg: unknown): number | undefined {
    if (this.o.feed !== 'advanced') return undefined
    const n = (msg as { sequence_num?: unknown } | null)?.sequence_num
    return typeof n === 'number' ? n : undefined
  }

  map(msg: unknown, localTimestamp: number): (MarketRecord | FeedControl)[] {
    return mapCoinbaseMessage(msg, localTimestamp)
  }

  /** A fresh snapshot comes from re-subscribing the product's book channel. */
  resubscribeBook(symbol: string, conn: FeedConnection): void {
    const n = NAMES[this.o.feed].book
    if (!n) return
    this.subscribe(conn, n, [symbol], 'unsubscribe')
    this.subscribe(conn, n, [symbol])
  }
}

/** Trades with ids from `fromId` on (up to 1000), oldest first. */
async function fetchTradesFrom(client: RestClient, symbol: string, fromId: number, now: () => number): Promise<RestAnswer<Trade[]>> {
  const path = `/products/${encodeURIComponent(symbol)}/trades`
  const ctx = { exchange: 'coinbase' as const, symbol }
  // `after` pages to trades older than the cursor id: `after = fromId + 1000` is the window [fromId, fromId + 999]
  const first = await client.getJsonText(path, { limit: 1000, after: fromId + 1000 }, 1)
  const trades = parseCoinbaseRestTrades(first.value, now(), ctx).filter((t) => t.id >= fromId)
  const lowest = trades.reduce((m, t) => Math.min(m, t.id), Infinity)
  // Should the cursor count its own id, the window starts one later: ask for what is below it, so a repair never
  // takes a page for complete when its first id is missing
  if (trades.length > 0 && lowest > fromId) {
    const more = await client.getJsonText(path, { limit: lowest - fromId, after: lowest }, 1)
    for (const t of parseCoinbaseRestTrades(more.value, now(), ctx)) {
      if (t.id >= fromId && t.id < lowest) trades.push(t)
    }
  }
  trades.sort((a, b) => a.id - b.id)
  return { value: trades, url: first.url, body: first.body }
}
