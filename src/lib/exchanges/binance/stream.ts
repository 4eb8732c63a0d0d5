// Pure parsers of Binance WebSocket frames (and the two REST bodies the stream needs) into normalised records.
// Spot: https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams
// USD-M: https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams
//
// These run once per frame on the collector's hot path, so fields are checked with plain comparisons (no regex, no
// spread). Nothing that is not a finite number leaves a parser: a bad frame throws `BinanceStreamParseError`
// with the frame attached. A well-formed frame of a kind mercury does not know throws `UnknownMessageError`,
// which the collector counts rather than treating as corrupt data.

import { isInterval, type Exchange } from '../../consts.js'
import { MercuryError } from '../../errors.js'
import type {
  AggTrade,
  Bar,
  BookChange,
  BookLevel,
  BookTicker,
  FeedControl,
  Funding,
  Liquidation,
  MarketRecord,
  Side,
  Trade,
} from '../../types.js'
import { BinanceParseError } from './parse.js'
import { fieldReaders, frameText } from '../fields.js'

export { FRAME_CHARS } from '../fields.js'
import type {
  BinanceAggTradeMsg,
  BinanceBookTickerMsg,
  BinanceDepthMsg,
  BinanceDepthSnapshot,
  BinanceForceOrderMsg,
  BinanceHistoricalTrade,
  BinanceKlineMsg,
  BinanceMarkPriceMsg,
  BinanceTradeMsg,
} from './stream-raw.js'

export type BinanceExchange = Extract<Exchange, 'binance' | 'binance-futures'>

/** Most of a frame kept on errors: enough to see what arrived, bounded so a 5000-level snapshot is not retained. */

/** A stream frame that is not what Binance documents; `frame` holds its first 500 characters. */
export class BinanceStreamParseError extends BinanceParseError {
  readonly frame: string
  constructor(
    readonly reason: string,
    raw: unknown,
  ) {
    super(reason, raw)
    this.frame = frameText(raw)
  }
}

/** A well-formed frame of a kind the mapper does not handle; the collector counts these and carries on. */
export class UnknownMessageError extends MercuryError {
  readonly frame: string
  constructor(
    readonly venue: Exchange,
    readonly kind: string,
    raw: unknown,
  ) {
    const frame = frameText(raw)
    super(`Unknown ${venue} message '${kind}': ${frame.slice(0, 200)}`)
    this.frame = frame
  }
}

// ---- field readers: each throws with the frame attached ----

function fail(what: string, raw: unknown): never {
  throw new BinanceStreamParseError(what, raw)
}

const { obj, num, positive, nonNegative, uint } = fieldReaders(fail)

/** Binance times are ms unless the connection asked for µs; a value of 1e15 or more is already µs. */
function time(x: unknown, what: string, raw: unknown): number {
  const t = uint(x, what, raw)
  return t >= 1e15 ? t : t * 1000
}

function str(x: unknown, what: string, raw: unknown): string {
  if (typeof x !== 'string' || x.length === 0) fail(`${what} is not a non-empty string`, raw)
  return x
}

function bool(x: unknown, what: string, raw: unknown): boolean {
  if (typeof x !== 'boolean') fail(`${what} is not a boolean`, raw)
  return x
}

function levels(x: unknown, what: string, raw: unknown): BookLevel[] {
  if (!Array.isArray(x)) fail(`${what} is not an array of levels`, raw)
  const out: BookLevel[] = new Array(x.length)
  for (let i = 0; i < x.length; i++) {
    const l = x[i]
    if (!Array.isArray(l) || l.length < 2) fail(`${what}[${i}] is not a [price, quantity] pair`, raw)
    out[i] = { price: positive(l[0], `${what}[${i}] price`, raw), amount: nonNegative(l[1], `${what}[${i}] quantity`, raw) }
  }
  return out
}

/** `m` (buyer was maker) means the seller crossed the spread */
const takerSide = (buyerIsMaker: boolean): Side => (buyerIsMaker ? 'sell' : 'buy')

// ---- parsers ----

/**
 * Parses a `trade` event into a `Trade`; `timestamp` is the trade time `T`. Futures prints that are not order-book
 * trades (`X` of `INSURANCE_FUND`, `ADL`, or `NA`, which comes with price and quantity 0) return undefined: they
 * would put off-market prices into bars. Their ids are skipped, so a trade-id check sees a hole there.
 *
 *   {"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000",
 *    "T":1723161255342,"m":true,"M":true}
 */
export function parseBinanceTrade(raw: unknown, exchange: BinanceExchange, localTimestamp: number): Trade | undefined {
  const r = obj(raw, 'trade', raw) as Partial<BinanceTradeMsg>
  const x = r.X
  if (x !== undefined && x !== 'MARKET' && x !== 'LIQUIDATION') return undefined
  const amount = positive(r.q, 'q (quantity)', raw)
  return {
    type: 'trade',
    exchange,
    symbol: str(r.s, 's (symbol)', raw),
    timestamp: time(r.T, 'T (trade time)', raw),
    localTimestamp,
    id: uint(r.t, 't (trade id)', raw),
    price: positive(r.p, 'p (price)', raw),
    amount,
    side: takerSide(bool(r.m, 'm (buyer is maker)', raw)),
  }
}

/**
 * Parses an `aggTrade` event into an `AggTrade`; `timestamp` is the trade time `T`.
 *
 *   {"e":"aggTrade","E":1626992741575,"a":16599292,"s":"CTKUSDT","p":"1.01100","q":"10","f":23961322,
 *    "l":23961322,"T":1626992741421,"m":false}
 */
export function parseBinanceAggTradeMsg(raw: unknown, exchange: BinanceExchange, localTimestamp: number): AggTrade {
  const r = obj(raw, 'aggTrade', raw) as Partial<BinanceAggTradeMsg>
  const firstTradeId = uint(r.f, 'f (first trade id)', raw)
  const lastTradeId = uint(r.l, 'l (last trade id)', raw)
  if (firstTradeId > lastTradeId) fail('f (first trade id) is above l (last trade id)', raw)
  return {
    type: 'agg_trade',
    exchange,
    symbol: str(r.s, 's (symbol)', raw),
    timestamp: time(r.T, 'T (trade time)', raw),
    localTimestamp,
    id: uint(r.a, 'a (aggregate id)', raw),
    firstTradeId,
    lastTradeId,
    price: positive(r.p, 'p (price)', raw),
    amount: positive(r.q, 'q (quantity)', raw),
    side: takerSide(bool(r.m, 'm (buyer is maker)', raw)),
  }
}

/**
 * Parses a `depthUpdate` diff into a `BookChange` carrying `U`/`u` (and futures `pu`, which is required there).
 * `timestamp` is the event time `E`.
 *
 *   {"e":"depthUpdate","E":1680652700594,"T":1680652700586,"s":"BTCUSDT","U":2710246765373,"u":2710246765597,
 *    "pu":2710246765326,"b":[["5000.00","14.368"],["28018.90","0.000"]],"a":[["28145.20","6.961"]]}
 */
export function parseBinanceDepthDiff(raw: unknown, exchange: BinanceExchange, localTimestamp: number): BookChange {
  const r = obj(raw, 'depthUpdate', raw) as Partial<BinanceDepthMsg>
  const first = uint(r.U, 'U (first update id)', raw)
  const last = uint(r.u, 'u (final update id)', raw)
  if (first > last) fail('U (first update id) is above u (final update id)', raw)
  let prev: number | undefined
  if (r.pu !== undefined) {
    // Futures may send -1 for a symbol's first event, so any integer is accepted here; the sync checks the chain
    if (typeof r.pu !== 'number' || !Number.isSafeInteger(r.pu)) fail('pu (previous update id) is not an integer', raw)
    prev = r.pu
  } else if (exchange === 'binance-futures') {
    fail('pu (previous update id) is missing from a futures diff', raw)
  }
  return {
    type: 'book_change',
    exchange,
    symbol: str(r.s, 's (symbol)', raw),
    timestamp: time(r.E, 'E (event time)', raw),
    localTimestamp,
    isSnapshot: false,
    firstUpdateId: first,
    lastUpdateId: last,
    prevUpdateId: prev,
    bids: levels(r.b, 'b (bids)', raw),
    asks: levels(r.a, 'a (asks)', raw),
  }
}

/**
 * Parses a REST depth snapshot into a `BookChange` with `isSnapshot` and both ids set to `lastUpdateId`.
 * `timestamp` is the futures event time `E` (else `T`); spot snapshots carry no time, so it is `localTimestamp`.
 *
 *   {"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}
 */
export function parseBinanceDepthSnapshot(
  raw: unknown,
  exchange: BinanceExchange,
  symbol: string,
  localTimestamp: number,
): BookChange {
  const r = obj(raw, 'depth snapshot', raw) as Partial<BinanceDepthSnapshot>
  const id = uint(r.lastUpdateId, 'lastUpdateId', raw)
  const t = r.E !== undefined ? time(r.E, 'E (event time)', raw) : r.T !== undefined ? time(r.T, 'T (transaction time)', raw) : localTimestamp
  return {
    type: 'book_change',
    exchange,
    symbol,
    timestamp: t,
    localTimestamp,
    isSnapshot: true,
    firstUpdateId: id,
    lastUpdateId: id,
    prevUpdateId: undefined,
    bids: levels(r.bids, 'bids', raw),
    asks: levels(r.asks, 'asks', raw),
  }
}

/**
 * Parses a `bookTicker` into a `BookTicker`. Spot sends no time, so `timestamp` is `localTimestamp` there;
 * futures uses `E` (else `T`). Prices may be 0 when a side of a thin book is empty.
 *
 *   {"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}
 */
export function parseBinanceBookTicker(raw: unknown, exchange: BinanceExchange, localTimestamp: number): BookTicker {
  const r = obj(raw, 'bookTicker', raw) as Partial<BinanceBookTickerMsg>
  const t = r.E !== undefined ? time(r.E, 'E (event time)', raw) : r.T !== undefined ? time(r.T, 'T (transaction time)', raw) : localTimestamp
  return {
    type: 'book_ticker',
    exchange,
    symbol: str(r.s, 's (symbol)', raw),
    timestamp: t,
    localTimestamp,
    updateId: uint(r.u, 'u (update id)', raw),
    bidPrice: nonNegative(r.b, 'b (bid price)', raw),
    bidAmount: nonNegative(r.B, 'B (bid quantity)', raw),
    askPrice: nonNegative(r.a, 'a (ask price)', raw),
    askAmount: nonNegative(r.A, 'A (ask quantity)', raw),
  }
}

/**
 * Parses a `markPriceUpdate` into `Funding`: rate `r`, next funding time `T`, mark `p`, index `i`. Delivery
 * contracts have no funding (`r` is empty) and return undefined.
 *
 *   {"e":"markPriceUpdate","E":1680652701000,"s":"BTCUSDT","p":"28147.27373413","P":"28142.15563565",
 *    "i":"28159.75642857","r":"0.00002754","T":1680652800000}
 */
export function parseBinanceMarkPrice(raw: unknown, exchange: BinanceExchange, localTimestamp: number): Funding | undefined {
  const r = obj(raw, 'markPriceUpdate', raw) as Partial<BinanceMarkPriceMsg>
  if (r.r === '') return undefined
  const fundingTime = time(r.T, 'T (next funding time)', raw)
  return {
    type: 'funding',
    exchange,
    symbol: str(r.s, 's (symbol)', raw),
    timestamp: time(r.E, 'E (event time)', raw),
    localTimestamp,
    fundingRate: num(r.r, 'r (funding rate)', raw),
    fundingTime: fundingTime === 0 ? undefined : fundingTime,
    markPrice: positive(r.p, 'p (mark price)', raw),
    indexPrice: r.i === undefined || r.i === '' ? undefined : positive(r.i, 'i (index price)', raw),
  }
}

/**
 * Parses a `forceOrder` into a `Liquidation`; `timestamp` is the order's trade time `o.T`. The price is the
 * average fill price `ap` (what the liquidation actually traded at) unless it is 0, then the order price `p`.
 * The amount is the filled quantity `z` (what hit the market) unless it is 0, then the order quantity `q`.
 *
 *   {"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.014","p":"9910",
 *    "ap":"9910","X":"FILLED","l":"0.014","z":"0.014","T":1568014460893}}
 */
export function parseBinanceForceOrder(raw: unknown, exchange: BinanceExchange, localTimestamp: number): Liquidation {
  const r = obj(raw, 'forceOrder', raw) as Partial<BinanceForceOrderMsg>
  const o = obj(r.o, 'o (order)', raw) as Partial<BinanceForceOrderMsg['o']>
  const S = o.S
  const side: Side = S === 'SELL' ? 'sell' : S === 'BUY' ? 'buy' : fail('o.S (side) is not BUY or SELL', raw)
  const ap = o.ap === undefined ? 0 : nonNegative(o.ap, 'o.ap (average price)', raw)
  const z = o.z === undefined ? 0 : nonNegative(o.z, 'o.z (filled quantity)', raw)
  return {
    type: 'liquidation',
    exchange,
    symbol: str(o.s, 'o.s (symbol)', raw),
    timestamp: time(o.T ?? r.E, 'o.T (trade time)', raw),
    localTimestamp,
    side,
    price: ap > 0 ? ap : positive(o.p, 'o.p (price)', raw),
    amount: z > 0 ? z : positive(o.q, 'o.q (quantity)', raw),
  }
}

/**
 * Parses a `kline` event into a `Bar` once the bar is closed (`k.x`); an open bar's interim pushes return
 * undefined because only the final values belong in the lake. `closeTime` covers the bar's whole last ms.
 *
 *   {"e":"kline","E":1626992760203,"s":"SUSHIUSDT","k":{"t":1626992700000,"T":1626992759999,"s":"SUSHIUSDT",
 *    "i":"1m","f":126902874,"L":126902986,"o":"7.6080","c":"7.6170","h":"7.6180","l":"7.6070","v":"3005",
 *    "n":113,"x":true,"q":"22875.8590","V":"1900","Q":"14464.6960","B":"0"}}
 */
export function parseBinanceKline(raw: unknown, exchange: BinanceExchange, localTimestamp: number): Bar | undefined {
  const r = obj(raw, 'kline', raw) as Partial<BinanceKlineMsg>
  const k = obj(r.k, 'k (kline)', raw) as Partial<BinanceKlineMsg['k']>
  if (!bool(k.x, 'k.x (closed)', raw)) return undefined
  const interval = k.i
  if (typeof interval !== 'string' || !isInterval(interval)) fail('k.i (interval) is not a Binance interval', raw)
  const closeMs = uint(k.T, 'k.T (close time)', raw)
  const open = positive(k.o, 'k.o (open)', raw)
  const high = positive(k.h, 'k.h (high)', raw)
  const low = positive(k.l, 'k.l (low)', raw)
  const close = positive(k.c, 'k.c (close)', raw)
  if (high < open || high < close || low > open || low > close) fail('inconsistent OHLC', raw)
  const timestamp = time(k.t, 'k.t (open time)', raw)
  // A ms close time covers its whole last ms, as the archive importer stores it
  const closeTime = closeMs >= 1e15 ? closeMs : closeMs * 1000 + 999
  if (closeTime < timestamp) fail('k.T (close time) is before k.t (open time)', raw)
  return {
    type: 'bar',
    exchange,
    symbol: str(r.s ?? k.s, 's (symbol)', raw),
    interval,
    timestamp,
    localTimestamp,
    closeTime,
    open,
    high,
    low,
    close,
    volume: nonNegative(k.v, 'k.v (volume)', raw),
    quoteVolume: nonNegative(k.q, 'k.q (quote volume)', raw),
    trades: uint(k.n, 'k.n (trade count)', raw),
    takerBuyVolume: nonNegative(k.V, 'k.V (taker buy volume)', raw),
    takerBuyQuoteVolume: nonNegative(k.Q, 'k.Q (taker buy quote volume)', raw),
  }
}

/**
 * Parses `GET /api/v3/historicalTrades` (or `/fapi/v1/historicalTrades`) rows into trades, used to fill a trade-id
 * gap in the stream. Ids must increase.
 *
 *   [{"id":28457,"price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012","time":1499865549590,
 *     "isBuyerMaker":true,"isBestMatch":true}]
 */
export function parseBinanceHistoricalTrades(
  raw: unknown,
  exchange: BinanceExchange,
  symbol: string,
  localTimestamp: number,
): Trade[] {
  if (!Array.isArray(raw)) fail('historical trades is not an array', raw)
  const out: Trade[] = []
  let prev = -1
  for (let i = 0; i < raw.length; i++) {
    const row = obj(raw[i], `row ${i}`, raw[i]) as Partial<BinanceHistoricalTrade>
    const id = uint(row.id, 'id', row)
    if (id <= prev) fail('ids do not increase', row)
    prev = id
    // Futures `NA` prints come with price and quantity 0 (see parseBinanceTrade): not trades, skipped alike
    if (row.price !== undefined && Number(row.price) === 0 && Number(row.qty) === 0) continue
    out.push({
      type: 'trade',
      exchange,
      symbol,
      timestamp: time(row.time, 'time', row),
      localTimestamp,
      id,
      price: positive(row.price, 'price', row),
      amount: positive(row.qty, 'qty', row),
      side: takerSide(bool(row.isBuyerMaker, 'isBuyerMaker', row)),
    })
  }
  return out
}

// ---- dispatch ----

/** Partial book streams (`@depth5`, `@depth10@100ms`, ...) are top-N pictures, never diffs */
function isPartialDepth(stream: string): boolean {
  const i = stream.indexOf('@depth')
  if (i < 0) return false
  const c = stream.charCodeAt(i + 6)
  return c >= 48 && c <= 57
}

/** Spot `bookTicker` has no `e`: recognise it by its fields */
function looksLikeBookTicker(d: Record<string, unknown>): boolean {
  return d.u !== undefined && d.s !== undefined && d.b !== undefined && d.B !== undefined && d.a !== undefined && d.A !== undefined
}

function errorDetail(d: Record<string, unknown>): string {
  const e = d.error
  if (e !== null && typeof e === 'object') {
    const eo = e as Record<string, unknown>
    return `${String(eo.code)} ${String(eo.msg)}`
  }
  if (e !== undefined) return String(e)
  return `${String(d.code)} ${String(d.msg)}`
}

function mapPayload(
  exchange: BinanceExchange,
  d: Record<string, unknown>,
  stream: string | undefined,
  frame: unknown,
  localTimestamp: number,
  out: (MarketRecord | FeedControl)[],
): void {
  const e = d.e
  switch (e) {
    case 'depthUpdate':
      // Futures partial depth arrives as `depthUpdate` too; applying it as a diff would corrupt the book
      if (stream !== undefined && isPartialDepth(stream)) throw new UnknownMessageError(exchange, `partial depth ${stream}`, frame)
      out.push(parseBinanceDepthDiff(d, exchange, localTimestamp))
      return
    case 'trade': {
      const t = parseBinanceTrade(d, exchange, localTimestamp)
      if (t !== undefined) out.push(t)
      return
    }
    case 'aggTrade':
      out.push(parseBinanceAggTradeMsg(d, exchange, localTimestamp))
      return
    case 'bookTicker':
      out.push(parseBinanceBookTicker(d, exchange, localTimestamp))
      return
    case 'markPriceUpdate': {
      const f = parseBinanceMarkPrice(d, exchange, localTimestamp)
      if (f !== undefined) out.push(f)
      return
    }
    case 'forceOrder':
      out.push(parseBinanceForceOrder(d, exchange, localTimestamp))
      return
    case 'kline': {
      const b = parseBinanceKline(d, exchange, localTimestamp)
      if (b !== undefined) out.push(b)
      return
    }
    case 'serverShutdown':
      out.push({ type: 'control', event: 'shutdown', localTimestamp, detail: 'serverShutdown' })
      return
    case undefined:
      break
    default:
      throw new UnknownMessageError(exchange, typeof e === 'string' ? e : `e=${frameText(e)}`, frame)
  }
  // `{"result":null,"id":1}` answers SUBSCRIBE; LIST_SUBSCRIPTIONS answers with an array
  if (d.result !== undefined && 'id' in d) {
    out.push({ type: 'control', event: 'ack', localTimestamp, detail: `id ${String(d.id)}` })
    return
  }
  if (d.error !== undefined || (d.code !== undefined && d.msg !== undefined)) {
    out.push({ type: 'control', event: 'error', localTimestamp, detail: errorDetail(d) })
    return
  }
  if (looksLikeBookTicker(d)) {
    out.push(parseBinanceBookTicker(d, exchange, localTimestamp))
    return
  }
  throw new UnknownMessageError(exchange, stream ?? 'frame without e', frame)
}

/**
 * Maps one parsed Binance frame (combined-stream wrapper or bare payload) to records and feed controls.
 * Throws `UnknownMessageError` for an unknown event type and `BinanceStreamParseError` for a malformed frame.
 */
export function mapBinanceMessage(exchange: BinanceExchange, msg: unknown, localTimestamp: number): (MarketRecord | FeedControl)[] {
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) fail('frame is not a JSON object', msg)
  const m = msg as Record<string, unknown>
  let stream: string | undefined
  let data: unknown = m
  if (typeof m.stream === 'string' && m.data !== undefined) {
    stream = m.stream
    data = m.data
  }
  const out: (MarketRecord | FeedControl)[] = []
  try {
    if (Array.isArray(data)) {
      // `!markPrice@arr` and friends carry many payloads in one frame
      for (let i = 0; i < data.length; i++) mapPayload(exchange, obj(data[i], 'payload', msg), stream, msg, localTimestamp, out)
    } else {
      mapPayload(exchange, obj(data, 'data', msg), stream, msg, localTimestamp, out)
    }
  } catch (err) {
    // Parsers attach the payload they were given; the collector wants the whole frame
    if (err instanceof BinanceStreamParseError && err.raw !== msg) throw new BinanceStreamParseError(err.reason, msg)
    throw err
  }
  return out
}
