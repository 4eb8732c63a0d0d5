// Coinbase REST history: candles and trades from the Exchange API's public market data.
// Candles: https://docs.cdp.coinbase.com/api-reference/exchange-api/rest-api/products/get-product-candles
// Trades: https://docs.cdp.coinbase.com/api-reference/exchange-api/rest-api/products/get-product-trades
// Pagination: https://docs.cdp.coinbase.com/exchange/rest-api/pagination
// Rate limits: https://docs.cdp.coinbase.com/exchange/rest-api/rate-limits
// Sandbox: https://docs.cdp.coinbase.com/exchange/docs/sandbox
//
// Why the Exchange API (api.exchange.coinbase.com) and not Advanced Trade's public market endpoints
// (/api/v3/brokerage/market/products/{id}/candles and /ticker): Advanced Trade pages candles by time too (350 per
// request instead of 300, granularities named ONE_MINUTE, ...), but its trades endpoint is a snapshot of the
// latest trades between two times with no id cursor, so trade history cannot be walked completely or resumed by id
// there. The Exchange API serves both kinds from one host under one rate limit, and its trade ids are integers,
// contiguous per product, which is what gap detection and repairs by id need.
//
// What the docs say, and what follows from it here:
// - Candles: `GET /products/{id}/candles?granularity=&start=&end=`; granularity one of 60, 300, 900, 3600, 21600,
//   86400 s (anything else is rejected); at most 300 candles per request (a range with more is rejected); rows
//   `[time, low, high, open, close, volume]`, `time` the bucket start in Unix seconds, newest first; "some of those
//   candles may precede your declared start value" (dropped here); "No data is published for intervals where
//   there are no ticks". So a missing candle is not an outage: the window's answer confirms that Coinbase has no
//   row for it, and the backfill records it in the gap ledger as an exchange gap (`confirmedEmpty`). Windows ask
//   for 300 buckets with `end` at the last bucket's open, so the request holds 300 points whether Coinbase counts
//   the end in or not.
// - Candles carry no quote volume, trade count or taker-buy volumes: those `Bar` fields are undefined, never 0; the
//   lake stores them as its missing values (NaN in the DOUBLE columns, NULL in the `trades` count).
// - Trades: `GET /products/{id}/trades?limit=&after=`; newest first, `limit` at most 1000; `after` asks for the
//   page after (older than) a trade id, and CB-BEFORE/CB-AFTER carry the cursors of the page. The cursor is a
//   trade id, so a window of ids `[lo, lo + 999]` is one request with `after=lo + 1000`, whatever was asked before:
//   `cursorIdPages` walks the history forwards in such windows (after one lookup of the first id at --from), and
//   the checkpoint records time ranges plus the next id exactly as for Binance aggTrades.
// - Trade `side` is the maker's side: the aggressor (`Trade.side`) is the opposite, as for the Exchange feed.
// - Public endpoints allow 10 requests per second per IP, bursts up to 15, and answer 429 past that; there is no
//   usage header, so requests go through a token bucket of 10/s with bursts of 5 (room for a second of jitter).
//   A 429 with no Retry-After pauses every request for a growing backoff from 1 s.

import type { Interval } from '../../consts.js'
import { FatalError, UsageError } from '../../errors.js'
import { formatInstrument } from '../../instrument.js'
import { backoffMs } from '../../net/backoff.js'
import type { RestClient } from '../../net/client.js'
import { intervalUs, isoUs, US_PER_SECOND } from '../../time.js'
import type { Bar, Side, Trade } from '../../types.js'
import { cursorIdPages, timePages } from '../../backfill/pager.js'
import type {
  HistoryKind,
  HistoryPage,
  HistoryRange,
  HistoryTarget,
  HistoryVenue,
  KeyRange,
  PageOptions,
  RequestRate,
} from '../../backfill/types.js'
import { fieldReaders, frameText } from '../fields.js'
import { isoToUs } from './parse.js'

/** A candle as the Exchange API sends it: `[time (s), low, high, open, close, volume]`, numbers. */
export type CoinbaseRestCandle = readonly [number, number, number, number, number, number]

/** A trade as `GET /products/{id}/trades` sends it; `side` is the maker's. */
export interface CoinbaseRestTrade {
  readonly time: string
  readonly trade_id: number
  readonly price: string
  readonly size: string
  readonly side: 'buy' | 'sell'
}

/** A REST answer that is not what Coinbase documents; `frame` holds its first 500 characters. */
export class CoinbaseRestParseError extends FatalError {
  readonly frame: string
  constructor(
    readonly reason: string,
    raw: unknown,
  ) {
    const frame = frameText(raw)
    super(`Coinbase REST: ${reason}: ${frame.slice(0, 200)}`)
    this.frame = frame
  }
}

function fail(what: string, raw: unknown): never {
  throw new CoinbaseRestParseError(what, raw)
}

const { arr, num, positive, nonNegative, uint } = fieldReaders(fail)

/** A candle field: the API sends numbers; decimal strings are read too. */
function figure(x: unknown, what: string, raw: unknown): number {
  if (typeof x === 'number') {
    if (!Number.isFinite(x)) fail(`${what} is not a finite number`, raw)
    return x
  }
  return num(x, what, raw)
}

export const COINBASE_REST = {
  restUrl: 'https://api.exchange.coinbase.com',
  sandboxUrl: 'https://api-public.sandbox.exchange.coinbase.com',
  urlEnv: 'MERCURY_COINBASE_REST_URL',
  /** Largest page of each endpoint */
  candleLimit: 300,
  tradeLimit: 1000,
} as const

/** Candle granularities the Exchange API accepts, in seconds, by our interval names. */
export const COINBASE_GRANULARITY: Readonly<Partial<Record<Interval, number>>> = {
  '1m': 60,
  '5m': 300,
  '15m': 900,
  '1h': 3600,
  '6h': 21_600,
  '1d': 86_400,
}

/** Public endpoints: 10 requests/s per IP, bursts up to 15; ours stay at bursts of 5 */
export const COINBASE_REQUEST_RATE: RequestRate = {
  perSecond: 10,
  burst: 5,
  unnamed429PauseMs: (n) => backoffMs(n, { baseMs: 1000, capMs: 30_000 }),
}

/**
 * Candles whose bucket closed less than this long ago are left for the next run: a candle published late would
 * otherwise be recorded as confirmed missing. A precaution; the docs name no delay.
 */
const CANDLE_SETTLE_US = 60 * US_PER_SECOND

/** Trades older than this are final */
const TRADE_SETTLE_US = 60 * US_PER_SECOND

const KINDS: readonly HistoryKind[] = ['bars', 'trades']

interface ParseContext {
  readonly exchange: 'coinbase'
  readonly symbol: string
}

/**
 * Parses candles into bars, oldest first, checked like archive rows (OHLC consistency, volume, grid). Candles
 * have no quote volume, trade count or taker volumes: undefined. `localTimestamp` undefined means history: each
 * bar is stamped with its close time, as archive imports are.
 *
 *   [[1679616000,27550.01,27601.5,27583.01,27560.88,41.22841]]
 */
export function parseCoinbaseCandles(raw: unknown, localTimestamp: number | undefined, ctx: ParseContext & { readonly interval: Interval }): Bar[] {
  const rows = arr(raw, 'candles', raw)
  const step = intervalUs(ctx.interval)
  if (step === undefined) fail(`interval ${ctx.interval} has no fixed length`, raw)
  const out: Bar[] = new Array(rows.length)
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]
    if (!Array.isArray(r) || r.length < 6) fail('candle is not [time, low, high, open, close, volume]', r)
    const openTime = uint(r[0], 'candle time', r) * US_PER_SECOND
    const low = figure(r[1], 'low', r)
    const high = figure(r[2], 'high', r)
    const open = figure(r[3], 'open', r)
    const close = figure(r[4], 'close', r)
    const volume = figure(r[5], 'volume', r)
    if (!(open > 0 && high > 0 && low > 0 && close > 0)) fail('non-positive price', r)
    if (high < open || high < close || low > open || low > close) fail('inconsistent OHLC', r)
    if (volume < 0) fail('negative volume', r)
    if (openTime % step !== 0) fail(`candle time is not on the ${ctx.interval} grid`, r)
    const closeTime = openTime + step - 1
    out[i] = {
      type: 'bar',
      exchange: ctx.exchange,
      symbol: ctx.symbol,
      interval: ctx.interval,
      timestamp: openTime,
      localTimestamp: localTimestamp ?? closeTime,
      closeTime,
      open,
      high,
      low,
      close,
      volume,
      quoteVolume: undefined,
      trades: undefined,
      takerBuyVolume: undefined,
      takerBuyQuoteVolume: undefined,
    }
  }
  // Newest first on the wire
  out.sort((a, b) => a.timestamp - b.timestamp)
  for (let i = 1; i < out.length; i++) {
    if (out[i].timestamp === out[i - 1].timestamp) fail(`two candles at ${isoUs(out[i].timestamp)}`, raw)
  }
  return out
}

const flip = (makerSide: unknown, raw: unknown): Side => {
  if (makerSide === 'buy') return 'sell'
  if (makerSide === 'sell') return 'buy'
  return fail("side is not 'buy' or 'sell'", raw)
}

/**
 * Parses trades, oldest first. `side` on the wire is the maker's, so the aggressor is the opposite. `localTimestamp`
 * undefined means history: each trade is stamped with its own time.
 *
 *   [{"time":"2021-04-17T16:44:06.669388Z","trade_id":1568319,"price":"0.4302","size":"39.22","side":"sell"}]
 */
export function parseCoinbaseRestTrades(raw: unknown, localTimestamp: number | undefined, ctx: ParseContext): Trade[] {
  const rows = arr(raw, 'trades', raw)
  const out: Trade[] = new Array(rows.length)
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] as Partial<CoinbaseRestTrade> | null
    if (r === null || typeof r !== 'object' || Array.isArray(r)) fail('trade is not an object', r)
    const timestamp = typeof r.time === 'string' ? isoToUs(r.time) : undefined
    if (timestamp === undefined) fail('time is not an ISO-8601 UTC time', r)
    out[i] = {
      type: 'trade',
      exchange: ctx.exchange,
      symbol: ctx.symbol,
      timestamp,
      localTimestamp: localTimestamp ?? timestamp,
      id: uint(r.trade_id, 'trade_id', r),
      price: positive(r.price, 'price', r),
      amount: nonNegative(r.size, 'size', r),
      side: flip(r.side, r),
    }
  }
  out.sort((a, b) => a.id - b.id)
  for (let i = 1; i < out.length; i++) {
    if (out[i].id === out[i - 1].id) fail(`trade_id ${out[i].id} twice`, raw)
  }
  return out
}

/** Runs of grid opens in `[from, to)` that `bars` (oldest first) lack. */
function missingOpens(bars: readonly Bar[], from: number, to: number, step: number): KeyRange[] {
  const out: KeyRange[] = []
  let next = from
  for (const b of bars) {
    if (b.timestamp < from || b.timestamp >= to) continue
    if (b.timestamp > next) out.push({ from: next, to: b.timestamp - step })
    next = b.timestamp + step
  }
  if (next < to) out.push({ from: next, to: Math.ceil(to / step) * step - step })
  return out
}

/** The Coinbase Exchange REST history (`coinbase:<product id>`, e.g. `coinbase:BTC-USD`). */
export class CoinbaseHistory implements HistoryVenue {
  readonly exchange = 'coinbase' as const
  readonly restUrl = COINBASE_REST.restUrl
  readonly testnetUrl = COINBASE_REST.sandboxUrl
  readonly urlEnv = COINBASE_REST.urlEnv
  /** Each request weighs 1: 10 per second */
  readonly weightLimit = COINBASE_REQUEST_RATE.perSecond * 60
  readonly requestRate = COINBASE_REQUEST_RATE
  readonly kinds = KINDS

  emptyNote(target: HistoryTarget): string {
    return target.kind === 'bars'
      ? 'Coinbase published no candle for these intervals (no trades in them, or an outage)'
      : 'Coinbase answered for these trade ids without a trade'
  }

  check(target: HistoryTarget): void {
    const name = formatInstrument(target.instrument)
    if (target.kind === 'agg_trades') {
      throw new UsageError(`Invalid --kind: 'agg_trades' for ${name}. Coinbase has no aggregated trades; --kind trades fetches its trades`)
    }
    if (!KINDS.includes(target.kind)) {
      throw new UsageError(`Invalid --kind: '${target.kind === 'open_interest' ? 'oi' : target.kind}' for ${name}. Coinbase REST backfill serves bars and trades`)
    }
    if (target.kind === 'bars') {
      if (!target.interval) throw new UsageError('Missing --interval: bars need one, e.g. --interval 1m')
      if (COINBASE_GRANULARITY[target.interval] === undefined) {
        const ok = Object.entries(COINBASE_GRANULARITY)
        throw new UsageError(
          `Invalid --interval: '${target.interval}' for ${name}. Coinbase candles come in ${ok.map(([k]) => k).join(', ')} ` +
            `(granularity ${ok.map(([, v]) => v).join(', ')} s)`,
        )
      }
    }
  }

  pageCost(target: HistoryTarget, pageSize?: number): { weight: number; rows: number } {
    const max = target.kind === 'bars' ? COINBASE_REST.candleLimit : COINBASE_REST.tradeLimit
    return { weight: 1, rows: Math.min(pageSize ?? max, max) }
  }

  clamp(target: HistoryTarget, from: number, to: number, nowUs: number): { from: number; to: number } {
    if (target.kind !== 'bars') return { from, to: Math.min(to, nowUs) }
    const step = intervalUs(target.interval as Interval) as number
    // Bars open on the grid: the first at or after --from; only bars closed a while ago
    return { from: Math.ceil(from / step) * step, to: Math.min(to, nowUs - step - CANDLE_SETTLE_US) }
  }

  estimateRequests(target: HistoryTarget, range: HistoryRange, pageSize?: number): number | undefined {
    if (range.to <= range.from) return 0
    if (target.kind !== 'bars') return undefined
    const step = intervalUs(target.interval as Interval) as number
    const first = Math.ceil(range.from / step) * step
    return Math.max(1, Math.ceil((range.to - first) / (step * this.pageCost(target, pageSize).rows)))
  }

  pages(client: RestClient, target: HistoryTarget, range: HistoryRange, o: PageOptions): AsyncIterable<HistoryPage> {
    const limit = this.pageCost(target, o.pageSize).rows
    const product = target.instrument.symbol
    const ctx: ParseContext = { exchange: 'coinbase', symbol: product }
    const base = `/products/${encodeURIComponent(product)}`
    if (target.kind === 'bars') {
      const interval = target.interval as Interval
      const granularity = COINBASE_GRANULARITY[interval] as number
      const step = granularity * US_PER_SECOND
      return candlePages(range, step, o, (start, end) => {
        // `end` is the open of the window's last bucket, so the request holds at most `limit` points either way
        const last = Math.ceil(end / step) * step - step
        return client
          .getJson(`${base}/candles`, { granularity, start: isoUs(start), end: isoUs(last) }, 1)
          .then((raw) => parseCoinbaseCandles(raw, undefined, { ...ctx, interval }).filter((b) => b.timestamp >= start && b.timestamp < end))
      }, limit)
    }
    return tradePages(
      cursorIdPages<Trade>({
        from: range.from,
        to: range.to,
        fromId: range.fromId,
        toId: range.toId,
        limit,
        concurrency: o.concurrency,
        settledBefore: o.settledBefore - TRADE_SETTLE_US,
        idOf: (t) => t.id,
        timeOf: (t) => t.timestamp,
        fetchBelow: async (before, n) => parseCoinbaseRestTrades(await client.getJson(`${base}/trades`, { limit: n, after: before }, 1), undefined, ctx),
      }),
    )
  }
}

/** Windows of `limit` buckets from the first grid open, with the buckets each answer confirms empty. */
async function* candlePages(
  range: HistoryRange,
  step: number,
  o: PageOptions,
  fetch: (start: number, end: number) => Promise<Bar[]>,
  limit: number,
): AsyncGenerator<HistoryPage> {
  const from = Math.ceil(range.from / step) * step
  if (from >= range.to) return
  let prev = from
  for await (const p of timePages<Bar>({
    from,
    to: range.to,
    limit,
    // No probe: a request for more buckets than 300 is rejected, so every window is a fixed grid window
    mode: 'windows',
    windowUs: step * limit,
    stepUs: step,
    concurrency: o.concurrency,
    keyOf: (b) => b.timestamp,
    fetch: (start, end) => fetch(start, end),
  })) {
    const empty = missingOpens(p.rows, prev, p.coveredTo, step)
    prev = p.coveredTo
    yield { records: p.rows, coveredTo: p.coveredTo, confirmedEmpty: empty }
  }
}

async function* tradePages(pages: AsyncIterable<{ rows: Trade[]; coveredTo: number; nextId?: number | undefined; empty: KeyRange[] }>): AsyncGenerator<HistoryPage> {
  for await (const p of pages) yield { records: p.rows, coveredTo: p.coveredTo, nextId: p.nextId, confirmedEmpty: p.empty }
}
