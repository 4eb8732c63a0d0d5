// Binance spot and USD-M futures live feeds: stream names, the 2026 routed futures paths, REST snapshots and
// trade repair. Docs: https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams and
// https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams

import type { Channel, RestAnswer, VenueAdapter, VenueConnectionSpec } from '../../collect/venue.js'
import { UsageError } from '../../errors.js'
import { WeightBudget } from '../../net/budget.js'
import { RestClient } from '../../net/client.js'
import type { BookChange, FeedControl, MarketRecord, OpenInterest, Trade } from '../../types.js'
import type { BinanceMarket } from './rest.js'
import { mapBinanceMessage, parseBinanceDepthSnapshot, parseBinanceHistoricalTrades } from './stream.js'

export interface BinanceFeedOptions {
  readonly symbols: readonly string[]
  readonly channels: readonly Channel[]
  /** WebSocket base, e.g. wss://stream.binance.com:9443 */
  readonly wsUrl: string
  readonly restUrl: string
  /** Diff-depth update speed (DEPTH_SPEEDS): spot 100ms|1000ms, futures 0ms|100ms|250ms|500ms */
  readonly depthSpeed?: string
  /** REST snapshot depth (spot 1 to 5000, futures one of FUTURES_DEPTH_LIMITS) */
  readonly snapshotLimit?: number
  /** Sent as X-MBX-APIKEY when set (futures historicalTrades needs a key) */
  readonly apiKey?: string
  readonly staleMs?: number
  readonly timeoutMs?: number
  /** Receives every REST body (for `--record`) */
  readonly onRest?: (url: string, body: string) => void
}

export const BINANCE_WS: Record<BinanceMarket, { live: string; testnet: string; env: string }> = {
  binance: { live: 'wss://stream.binance.com:9443', testnet: 'wss://stream.testnet.binance.vision', env: 'MERCURY_BINANCE_WS_URL' },
  'binance-futures': { live: 'wss://fstream.binance.com', testnet: 'wss://stream.binancefuture.com', env: 'MERCURY_BINANCE_FUTURES_WS_URL' },
}

const SPOT_CHANNELS: readonly Channel[] = ['trades', 'book', 'bars', 'ticker']
const FUTURES_CHANNELS: readonly Channel[] = ['trades', 'book', 'bars', 'ticker', 'funding', 'liquidations', 'oi']

/** Streams per connection: spot allows 1024, futures 200; stay below with room for URL length */
const MAX_STREAMS: Record<BinanceMarket, number> = { binance: 400, 'binance-futures': 190 }

/** A connection lives at most 24 h: rotate make-before-break ten minutes before */
const MAX_AGE_MS = 24 * 3_600_000 - 10 * 60_000

/**
 * Diff-depth update speeds per market (spot `@depth` is 1000ms, futures `@depth` 250ms). Futures `@depth@0ms` is
 * not in Binance's documentation but is served: hftbacktest's collector subscribes to it, and the real USD-M
 * recording in tests/fixtures holds it.
 */
export const DEPTH_SPEEDS: Record<BinanceMarket, readonly string[]> = { binance: ['100ms', '1000ms'], 'binance-futures': ['0ms', '100ms', '250ms', '500ms'] }

/** The `limit` values USD-M futures accepts for GET /fapi/v1/depth (spot takes any from 1 to 5000) */
export const FUTURES_DEPTH_LIMITS: readonly number[] = [5, 10, 20, 50, 100, 500, 1000]

/** Checks a depth speed and snapshot limit against what the market accepts, before anything connects. */
export function checkDepthOptions(market: BinanceMarket, speed: string | undefined, limit: number | undefined): void {
  if (speed !== undefined && !DEPTH_SPEEDS[market].includes(speed)) {
    throw new UsageError(`Invalid --depth-speed: '${speed}'. ${market} diff depth comes at ${DEPTH_SPEEDS[market].join(', ')}`)
  }
  if (limit === undefined) return
  if (market === 'binance' ? !Number.isInteger(limit) || limit < 1 || limit > 5000 : !FUTURES_DEPTH_LIMITS.includes(limit)) {
    const allowed = market === 'binance' ? 'an integer from 1 to 5000' : `one of ${FUTURES_DEPTH_LIMITS.join(', ')}`
    throw new UsageError(`Invalid --snapshot-limit: '${limit}'. ${market} depth snapshots take ${allowed}`)
  }
}

/** REST depth weight by limit (spot table; futures: 5/10/20/50 by the same breakpoints). */
export function depthWeight(market: BinanceMarket, limit: number): number {
  if (market === 'binance') return limit <= 100 ? 5 : limit <= 500 ? 25 : limit <= 1000 ? 50 : 250
  return limit <= 50 ? 2 : limit <= 100 ? 5 : limit <= 500 ? 10 : 20
}

export class BinanceFeedAdapter implements VenueAdapter {
  readonly supports: readonly Channel[]
  readonly openInterestEveryMs = 10_000
  private readonly client: RestClient
  private readonly paths: { depth: string; trades: string; oi: string | undefined }

  constructor(
    readonly exchange: BinanceMarket,
    private readonly o: BinanceFeedOptions,
  ) {
    this.supports = exchange === 'binance' ? SPOT_CHANNELS : FUTURES_CHANNELS
    for (const c of o.channels) {
      if (!this.supports.includes(c)) {
        throw new UsageError(`Invalid --channels: ${exchange} has no '${c}' channel. Expected some of ${this.supports.join(', ')}`)
      }
    }
    const spot = exchange === 'binance'
    this.paths = spot
      ? { depth: '/api/v3/depth', trades: '/api/v3/historicalTrades', oi: undefined }
      : { depth: '/fapi/v1/depth', trades: '/fapi/v1/historicalTrades', oi: '/fapi/v1/openInterest' }
    this.client = new RestClient({
      baseUrl: o.restUrl,
      name: exchange,
      // A shared budget per market: re-snapshots of many symbols queue instead of tripping a ban
      budget: new WeightBudget(spot ? 5000 : 2000),
      timeoutMs: o.timeoutMs ?? 10_000,
      retries: 4,
      headers: o.apiKey ? { 'X-MBX-APIKEY': o.apiKey } : undefined,
      onBody: o.onRest,
    })
  }

  private streamsFor(symbol: string): { route: 'public' | 'market'; stream: string; channel: Channel }[] {
    const s = symbol.toLowerCase()
    const spot = this.exchange === 'binance'
    const speed = this.o.depthSpeed ?? '100ms'
    const out: { route: 'public' | 'market'; stream: string; channel: Channel }[] = []
    for (const c of this.o.channels) {
      if (c === 'trades') out.push({ route: 'market', stream: `${s}@trade`, channel: c })
      else if (c === 'book') {
        // The bare stream is the market's default speed: 1000ms on spot, 250ms on futures
        const bare = spot ? speed === '1000ms' : speed === '250ms'
        out.push({ route: 'public', stream: bare ? `${s}@depth` : `${s}@depth@${speed}`, channel: c })
      }
      else if (c === 'ticker') out.push({ route: 'public', stream: `${s}@bookTicker`, channel: c })
      else if (c === 'bars') out.push({ route: 'market', stream: `${s}@kline_1m`, channel: c })
      else if (c === 'funding') out.push({ route: 'market', stream: `${s}@markPrice@1s`, channel: c })
      else if (c === 'liquidations') out.push({ route: 'market', stream: `${s}@forceOrder`, channel: c })
    }
    return out
  }

  connections(): VenueConnectionSpec[] {
    const spot = this.exchange === 'binance'
    const base = this.o.wsUrl.replace(/\/+$/, '')
    // Spot has one route; futures splits /public (depth, bookTicker) from /market (everything else) since 2026
    const groups = new Map<string, { streams: string[]; symbols: Set<string>; channels: Set<Channel> }>()
    for (const symbol of this.o.symbols) {
      for (const st of this.streamsFor(symbol)) {
        const route = spot ? 'spot' : st.route
        let g = groups.get(route)
        if (!g) groups.set(route, (g = { streams: [], symbols: new Set(), channels: new Set() }))
        g.streams.push(st.stream)
        g.symbols.add(symbol)
        g.channels.add(st.channel)
      }
    }
    const specs: VenueConnectionSpec[] = []
    for (const [route, g] of groups) {
      const max = MAX_STREAMS[this.exchange]
      for (let i = 0; i < g.streams.length; i += max) {
        const chunk = g.streams.slice(i, i + max)
        const prefix = spot ? '' : `/${route}`
        const symbols = [...g.symbols].filter((sym) => chunk.some((st) => st.startsWith(`${sym.toLowerCase()}@`)))
        specs.push({
          name: `${this.exchange}/${route}${g.streams.length > max ? `#${i / max + 1}` : ''}`,
          url: () => `${base}${prefix}/stream?streams=${chunk.join('/')}`,
          symbols,
          channels: [...g.channels],
          maxAgeMs: MAX_AGE_MS,
          staleMs: this.o.staleMs,
        })
      }
    }
    return specs
  }

  map(msg: unknown, localTimestamp: number): (MarketRecord | FeedControl)[] {
    return mapBinanceMessage(this.exchange, msg, localTimestamp)
  }

  parseSnapshot(raw: unknown, symbol: string, localTimestamp: number): BookChange {
    return parseBinanceDepthSnapshot(raw, this.exchange, symbol, localTimestamp)
  }

  async fetchSnapshot(symbol: string, now: () => number): Promise<RestAnswer<BookChange>> {
    const limit = this.o.snapshotLimit ?? 1000
    const { value, url, body } = await this.client.getJsonText(this.paths.depth, { symbol, limit }, depthWeight(this.exchange, limit))
    return { value: parseBinanceDepthSnapshot(value, this.exchange, symbol, now()), url, body }
  }

  async fetchTrades(symbol: string, fromId: number, now: () => number): Promise<RestAnswer<Trade[]>> {
    const weight = this.exchange === 'binance' ? 25 : 20
    const { value, url, body } = await this.client.getJsonText(this.paths.trades, { symbol, fromId, limit: 1000 }, weight)
    return { value: parseBinanceHistoricalTrades(value, this.exchange, symbol, now()), url, body }
  }

  async pollOpenInterest(symbol: string, now: () => number): Promise<RestAnswer<OpenInterest>> {
    if (!this.paths.oi) throw new UsageError(`${this.exchange} has no open interest`)
    const { value, url, body } = await this.client.getJsonText(this.paths.oi, { symbol }, 1)
    const v = value as { openInterest?: string; symbol?: string; time?: number }
    const oi = Number(v.openInterest)
    const t = Number(v.time)
    if (!Number.isFinite(oi) || !Number.isFinite(t)) throw new Error(`Unexpected open interest answer: ${body.slice(0, 200)}`)
    return {
      value: {
        type: 'open_interest', exchange: this.exchange, symbol, timestamp: t * 1000, localTimestamp: now(),
        openInterest: oi, openInterestValue: undefined,
      },
      url,
      body,
    }
  }
}
