// A local Coinbase Exchange REST server for tests: serves candles and trades with the paging the docs describe,
// limits requests with a token bucket like Coinbase's public endpoints (10 per second, bursts up to 15) and answers
// 429 past it, and injects faults on demand (429, 5xx, slow answers). Every request is logged for assertions.
//
// Semantics, from https://docs.cdp.coinbase.com/api-reference/exchange-api/rest-api/products/get-product-candles,
// .../get-product-trades and https://docs.cdp.coinbase.com/exchange/rest-api/pagination:
// - `GET /products/{id}/candles?granularity=&start=&end=`: granularity in {60, 300, 900, 3600, 21600, 86400} or 400;
//   start and end (ISO 8601 or Unix seconds) both or neither (neither: the latest 300 buckets); more than 300
//   buckets in [start, end] is a 400; rows `[time, low, high, open, close, volume]`, newest first; a start inside a
//   bucket returns that bucket too (candles "may precede your declared start value"); buckets without trades are
//   absent. Granularities above 60 are aggregated from the served 1m candles.
// - `GET /products/{id}/trades?limit=&after=&before=`: newest first, limit 1..1000 (default 1000); `after` gives the
//   page of trades older than that id, `before` the page newer than it; CB-BEFORE and CB-AFTER name the first
//   (newest) and last (oldest) trade id of the page.
// - Unknown products are a 404 `{"message":"NotFound"}`; errors are `{"message": ...}`.
//
// The data it serves is what it is given; the loaders below say where theirs comes from.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { openArchive } from '../../src/lib/archive/source.js'
import { LoopbackServer } from './loopback.js'
import { loadKlines } from './binance-rest.js'

/** `[time (s), low, high, open, close, volume]` as the API sends it. */
export type CandleRow = [number, number, number, number, number, number]

export interface TradeRow {
  time: string
  trade_id: number
  price: string
  size: string
  /** The maker's side */
  side: 'buy' | 'sell'
}

export interface ProductData {
  /** 1m candles, oldest first */
  candles?: CandleRow[]
  /** Trades in id order */
  trades?: TradeRow[]
}

export interface Fault {
  /** `candles` or `trades`; any endpoint when absent */
  endpoint?: 'candles' | 'trades'
  product?: string
  /** Only requests whose query parameters pass this test */
  match?: (params: Record<string, string>) => boolean
  /** Matching requests let through before the fault applies */
  skip?: number
  /** Matching requests faulted (default 1; Infinity for all) */
  times?: number
  /** Status to answer with (429, 500, 503, ...); the normal answer when absent */
  status?: number
  /** Retry-After in seconds, on any status */
  retryAfter?: number
  /** Wait this long before answering (a timeout when longer than the client's) */
  delayMs?: number
}

export interface LogEntry {
  /** Receipt and answer times, ms since the epoch */
  at: number
  answeredAt: number
  endpoint: 'candles' | 'trades' | 'other'
  product: string
  params: Record<string, string>
  status: number
  rows: number
  /** Ids or bucket times of the first and last row answered (newest first) */
  first: number | undefined
  last: number | undefined
}

export interface ServerOptions {
  products: Record<string, ProductData>
  /** Token bucket: requests per second and burst (default 10 and 15, Coinbase's public limits) */
  rate?: number
  burst?: number
  /** Send Retry-After (seconds) with the limiter's 429s; Coinbase's documentation promises none */
  limiterRetryAfter?: number
  /** Trade ids the exchange never published (answered as absent) */
  omitIds?: Record<string, [number, number][]>
  /** Delay every answer by this many ms */
  latencyMs?: number
  /** Called on each request as it arrives, `index` counting arrivals from 0 (tests kill the client from here) */
  onRequest?: (entry: { endpoint: string; product: string; params: Record<string, string>; index: number }) => void
}

const GRANULARITIES = [60, 300, 900, 3600, 21600, 86400]

class Reply extends Error {
  constructor(
    readonly status: number,
    readonly msg: string,
  ) {
    super(msg)
  }
}

/** ISO 8601 or Unix seconds, as the candles endpoint takes them, to Unix seconds */
function seconds(v: string, name: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Math.floor(Number(v))
  const ms = Date.parse(v)
  if (!Number.isFinite(ms)) throw new Reply(400, `Invalid ${name} time`)
  return Math.floor(ms / 1000)
}

function lowerBound<T>(rows: readonly T[], key: (r: T) => number, x: number): number {
  let lo = 0
  let hi = rows.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (key(rows[mid]) < x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Candles of a coarser granularity from 1m ones: first open, max high, min low, last close, summed volume. */
export function aggregateCandles(oneMinute: readonly CandleRow[], granularity: number): CandleRow[] {
  if (granularity === 60) return [...oneMinute]
  const out: CandleRow[] = []
  for (const c of oneMinute) {
    const t = Math.floor(c[0] / granularity) * granularity
    const last = out[out.length - 1]
    if (last && last[0] === t) {
      last[1] = Math.min(last[1], c[1])
      last[2] = Math.max(last[2], c[2])
      last[4] = c[4]
      last[5] += c[5]
    } else {
      out.push([t, c[1], c[2], c[3], c[4], c[5]])
    }
  }
  return out
}

export class CoinbaseRestServer extends LoopbackServer<Fault> {
  readonly log: LogEntry[] = []
  /** Requests received so far, answered or not */
  received = 0
  /** 429s the rate limiter gave (not injected ones) */
  limited = 0
  private readonly aggregated = new Map<string, CandleRow[]>()
  private tokens: number
  private refilledAt = Date.now()

  constructor(readonly o: ServerOptions) {
    super()
    this.tokens = o.burst ?? 15
  }

  /** Log entries of one endpoint. */
  requests(endpoint?: LogEntry['endpoint']): LogEntry[] {
    return endpoint ? this.log.filter((e) => e.endpoint === endpoint) : this.log
  }

  /** Takes a token from the bucket; false when it is empty (the request gets a 429). */
  private admit(now: number): boolean {
    const rate = this.o.rate ?? 10
    const burst = this.o.burst ?? 15
    this.tokens = Math.min(burst, this.tokens + ((now - this.refilledAt) * rate) / 1000)
    this.refilledAt = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now()
    const u = new URL(req.url ?? '/', 'http://local')
    const params = Object.fromEntries(u.searchParams)
    const m = /^\/products\/([^/]+)\/(candles|trades)$/.exec(u.pathname)
    const endpoint = m ? (m[2] as 'candles' | 'trades') : 'other'
    const product = m ? decodeURIComponent(m[1]) : ''
    const index = this.received++
    this.o.onRequest?.({ endpoint, product, params, index })
    let status = 200
    let body: unknown
    let rows: (CandleRow | TradeRow)[] = []
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' }
    let active: (Fault & { seen: number; used: number }) | undefined
    for (const f of this.faults) {
      if (f.endpoint !== undefined && f.endpoint !== endpoint) continue
      if (f.product !== undefined && f.product !== product) continue
      if (f.match !== undefined && !f.match(params)) continue
      f.seen++
      if (!active && f.seen > (f.skip ?? 0) && f.used < (f.times ?? 1)) {
        f.used++
        active = f
      }
    }
    try {
      if (!this.admit(at)) {
        this.limited++
        status = 429
        body = { message: 'Public rate limit exceeded' }
        if (this.o.limiterRetryAfter !== undefined) headers['retry-after'] = String(this.o.limiterRetryAfter)
      } else if (active?.status !== undefined) {
        status = active.status
        body = { message: status === 429 ? 'Public rate limit exceeded' : status >= 500 ? 'Internal server error' : 'Bad request' }
      } else {
        rows = this.route(endpoint, product, params, headers)
        body = rows
      }
      if (active?.retryAfter !== undefined) headers['retry-after'] = String(active.retryAfter)
    } catch (err) {
      if (!(err instanceof Reply)) throw err
      status = err.status
      body = { message: err.msg }
    }
    const delay = (active?.delayMs ?? 0) + (this.o.latencyMs ?? 0)
    if (delay > 0) await new Promise((r) => setTimeout(r, delay))
    const keyOf = (r: CandleRow | TradeRow) => (Array.isArray(r) ? r[0] : r.trade_id)
    this.log.push({
      at,
      answeredAt: Date.now(),
      endpoint,
      product,
      params,
      status,
      rows: rows.length,
      first: rows.length ? keyOf(rows[0]) : undefined,
      last: rows.length ? keyOf(rows[rows.length - 1]) : undefined,
    })
    const text = JSON.stringify(body)
    if (res.destroyed || res.socket?.destroyed) return
    try {
      res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(text)) })
      res.end(text)
    } catch {
      // The client gave up (timeout) and closed the socket
    }
  }

  private route(endpoint: LogEntry['endpoint'], product: string, params: Record<string, string>, headers: Record<string, string>): (CandleRow | TradeRow)[] {
    if (endpoint === 'other') throw new Reply(404, 'NotFound')
    const data = Object.hasOwn(this.o.products, product) ? this.o.products[product] : undefined
    if (!data) throw new Reply(404, 'NotFound')
    if (endpoint === 'candles') {
      const g = Number(params.granularity)
      if (!GRANULARITIES.includes(g)) throw new Reply(400, 'Unsupported granularity')
      const key = `${product}/${g}`
      let all = this.aggregated.get(key)
      if (!all) {
        all = aggregateCandles(data.candles ?? [], g)
        this.aggregated.set(key, all)
      }
      let hi: number
      let lo: number
      if (params.start !== undefined && params.end !== undefined) {
        // A start inside a bucket returns that bucket: candles may precede the declared start
        lo = Math.floor(seconds(params.start, 'start') / g) * g
        hi = seconds(params.end, 'end')
        if (hi < lo) throw new Reply(400, 'start must be before end')
        if (Math.floor((hi - lo) / g) + 1 > 300) throw new Reply(400, 'granularity too small for the requested time range. Count of aggregations requested exceeds 300')
      } else {
        hi = Math.floor(Date.now() / 1000)
        lo = Math.floor(hi / g) * g - 299 * g
      }
      const a = lowerBound(all, (r) => r[0], lo)
      const b = lowerBound(all, (r) => r[0], hi + 1)
      return all.slice(a, b).reverse()
    }
    const limitText = params.limit ?? '1000'
    if (!/^\d+$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > 1000) throw new Reply(400, 'Invalid limit')
    const limit = Number(limitText)
    if (params.after !== undefined && params.before !== undefined) throw new Reply(400, 'before and after are mutually exclusive')
    for (const name of ['after', 'before']) {
      if (params[name] !== undefined && !/^\d+$/.test(params[name])) throw new Reply(400, `Invalid ${name} cursor`)
    }
    const omitted = this.o.omitIds?.[product] ?? []
    const trades = (data.trades ?? []).filter((t) => !omitted.some(([x, y]) => t.trade_id >= x && t.trade_id <= y))
    let page: TradeRow[]
    if (params.after !== undefined) {
      // Older than the cursor: the newest `limit` ids below it
      const end = lowerBound(trades, (t) => t.trade_id, Number(params.after))
      page = trades.slice(Math.max(0, end - limit), end)
    } else if (params.before !== undefined) {
      // Newer than the cursor: the `limit` ids just above it
      const start = lowerBound(trades, (t) => t.trade_id, Number(params.before) + 1)
      page = trades.slice(start, start + limit)
    } else {
      page = trades.slice(Math.max(0, trades.length - limit))
    }
    page = [...page].reverse()
    if (page.length > 0) {
      headers['cb-before'] = String(page[0].trade_id)
      headers['cb-after'] = String(page[page.length - 1].trade_id)
    }
    return page
  }
}

export async function startCoinbaseRestServer(o: ServerOptions): Promise<CoinbaseRestServer> {
  const s = new CoinbaseRestServer(o)
  await s.start()
  return s
}

/**
 * Candles from data.binance.vision kline archives: REAL Binance BTCUSDT 1m OHLCV, not Coinbase's, served in
 * Coinbase's row shape (time in s, numbers). Minutes Binance has no kline for (the 2023-03-24 outage) are absent,
 * just as Coinbase publishes no candle for an interval without trades.
 */
export async function loadCandlesFromBinanceKlines(paths: readonly string[]): Promise<CandleRow[]> {
  return (await loadKlines(paths)).map((k) => [k[0] / 1000, Number(k[3]), Number(k[2]), Number(k[1]), Number(k[4]), Number(k[5])])
}

/** µs since the epoch as Coinbase writes times: ISO 8601 with six fractional digits. */
export function coinbaseTime(us: number): string {
  const ms = Math.floor(us / 1000)
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${String(us % 1_000_000).padStart(6, '0')}Z`)
}

/**
 * Trades from data.binance.vision trade archives (`id, price, qty, quote_qty, time, is_buyer_maker,
 * is_best_match`): REAL Binance BTCUSDT trades, not Coinbase's, in Coinbase's REST shape. The ids, prices, sizes
 * and times are Binance's, unchanged (times in ms, written with µs digits); `side` is the maker's, as Coinbase
 * reports it: `buy` when the buyer was the maker.
 */
export async function loadTradesFromBinanceArchives(paths: readonly string[]): Promise<TradeRow[]> {
  const out: TradeRow[] = []
  for (const p of paths) {
    for await (const entry of openArchive(p).entries()) {
      const chunks: Buffer[] = []
      for await (const c of entry.stream) chunks.push(c)
      for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
        if (!/^\d/.test(line)) continue
        const f = line.trim().split(',')
        const t = Number(f[4])
        const us = t > 1e14 ? t : t * 1000
        out.push({ time: coinbaseTime(us), trade_id: Number(f[0]), price: f[1], size: f[2], side: /^true$/i.test(f[5]) ? 'buy' : 'sell' })
      }
    }
  }
  return out.sort((a, b) => a.trade_id - b.trade_id)
}

/** Reads a fixture of Coinbase REST trades (`tests/fixtures/coinbase-rest/*.json`, newest first as served). */
export function loadTradeFixture(path: string): TradeRow[] {
  const f = JSON.parse(readFileSync(path, 'utf8')) as { trades: TradeRow[] }
  return [...f.trades].sort((a, b) => a.trade_id - b.trade_id)
}

/** A `match` or `last_match` frame of the Exchange feed (`side` is the maker's). */
export interface CaptureMatch {
  type: string
  trade_id: number
  time: string
  price: string
  size: string
  side: string
}

/** The `match` frames of one product in a cryptofeed Coinbase capture, for checking fixtures against it. */
export function matchesInCapture(path: string, product: string): CaptureMatch[] {
  const text = gunzipSync(readFileSync(path)).toString('utf8')
  const out: CaptureMatch[] = []
  for (const line of text.split('\n')) {
    const i = line.indexOf('{')
    if (i < 0 || !line.includes('match')) continue
    let frame: CaptureMatch & { product_id?: string }
    try {
      frame = JSON.parse(line.slice(i))
    } catch {
      continue
    }
    if ((frame.type === 'match' || frame.type === 'last_match') && frame.product_id === product) out.push(frame)
  }
  return out.sort((a, b) => a.trade_id - b.trade_id)
}
