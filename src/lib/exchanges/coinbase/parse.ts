// Pure parsers of Coinbase WebSocket frames into normalised records, for both public APIs.
// Exchange feed: https://docs.cdp.coinbase.com/exchange/websocket-feed/channels
// Advanced Trade: https://docs.cdp.coinbase.com/advanced-trade/docs/ws-channels
//
// Choices, written down once:
// - Times are ISO-8601 strings with µs (Exchange) or ns (Advanced Trade) digits; `isoToUs` keeps the µs that
//   `Date.parse` would drop and truncates anything finer.
// - Exchange `match.side` is the MAKER's side, so the aggressor is the opposite. Advanced Trade `market_trades`
//   `side` is documented as the taker's side and is used as is.
// - `last_match` (the latest trade, repeated on subscribing) is emitted as a trade: after a reconnect it may be a
//   trade that was missed, and its `trade_id` lets the lake drop a repeat.
// - `Trade.id` is a number. Advanced Trade sends `trade_id` as a string; digit strings are converted, anything
//   else throws (a non-numeric id cannot be stored or gap-checked, and every id Coinbase publishes is numeric).
// - `ticker` becomes a `BookTicker` only when it carries the best bid and ask with their sizes (the current
//   Exchange feed does); older tickers without sizes emit nothing rather than an invented size. Advanced Trade
//   tickers emit nothing: they carry no update id to compare with the book.
// - Advanced Trade `sequence_num` numbers every frame of a connection: book changes carry it as both update ids
//   and heartbeats/acks as `sequence`. Frames with no such record (trades, unknown channels) are still numbered,
//   so a feed checking for lost frames reads `sequence_num` from the frame itself.
// - Exchange snapshots and `l2update`s carry no sequence, so their update ids are undefined.
// - Unknown `type`/`channel` values are ignored (empty result), as Coinbase asks clients to do.

import { FatalError } from '../../errors.js'
import { fieldReaders, frameText } from '../fields.js'
import type { BookChange, BookLevel, BookTicker, FeedControl, MarketRecord, Side, Trade } from '../../types.js'
import type {
  CoinbaseAdvancedEnvelope,
  CoinbaseAdvancedL2Event,
  CoinbaseAdvancedTrade,
  CoinbaseAdvancedTradesEvent,
  CoinbaseErrorMsg,
  CoinbaseHeartbeatMsg,
  CoinbaseL2UpdateMsg,
  CoinbaseMatchMsg,
  CoinbaseSnapshotMsg,
  CoinbaseTickerMsg,
} from './raw.js'

/** A frame that is not what Coinbase documents; `frame` holds its first 500 characters. */
export class CoinbaseParseError extends FatalError {
  readonly frame: string
  constructor(
    readonly reason: string,
    raw: unknown,
  ) {
    const frame = frameText(raw)
    super(`${reason}: ${frame.slice(0, 200)}`)
    this.frame = frame
  }
}

// ---- field readers ----

function fail(what: string, raw: unknown): never {
  throw new CoinbaseParseError(what, raw)
}

const { obj, arr, str, num, positive, nonNegative, uint } = fieldReaders(fail)

/** A numeric id sent as a number (Exchange) or a digit string (Advanced Trade). */
function numericId(x: unknown, what: string, raw: unknown): number {
  if (typeof x === 'number') return uint(x, what, raw)
  if (typeof x === 'string' && x.length > 0 && x.length <= 16) {
    let n = 0
    for (let i = 0; i < x.length; i++) {
      const c = x.charCodeAt(i) - 48
      if (c < 0 || c > 9) return fail(`${what} is not numeric`, raw)
      n = n * 10 + c
    }
    if (Number.isSafeInteger(n)) return n
  }
  return fail(`${what} is not a numeric id`, raw)
}

function digits(s: string, at: number, n: number): number {
  let v = 0
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48
    if (c < 0 || c > 9) return -1
    v = v * 10 + c
  }
  return v
}

/**
 * Converts an ISO-8601 UTC time (`2020-01-31T20:03:41.158814Z`, up to 9 fractional digits, `Z` or `+00:00`) to
 * µs since the epoch, keeping the µs digits and truncating finer ones. Undefined when the text is not such a time.
 */
export function isoToUs(s: string): number | undefined {
  const len = s.length
  if (len < 20) return undefined
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) {
    return undefined
  }
  const y = digits(s, 0, 4)
  const mo = digits(s, 5, 2)
  const d = digits(s, 8, 2)
  const h = digits(s, 11, 2)
  const mi = digits(s, 14, 2)
  const se = digits(s, 17, 2)
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59) return undefined
  let i = 19
  let frac = 0
  let n = 0
  if (s.charCodeAt(i) === 46) {
    i++
    while (i < len) {
      const c = s.charCodeAt(i) - 48
      if (c < 0 || c > 9) break
      if (n < 6) frac = frac * 10 + c
      n++
      i++
    }
    if (n === 0) return undefined
    for (let k = n; k < 6; k++) frac *= 10
  }
  const zone = len - i
  if (!((zone === 1 && s.charCodeAt(i) === 90) || (zone === 6 && s.endsWith('+00:00')))) return undefined
  return Date.UTC(y, mo - 1, d, h, mi, se) * 1000 + frac
}

function time(x: unknown, what: string, raw: unknown): number {
  const t = typeof x === 'string' ? isoToUs(x) : undefined
  if (t === undefined) fail(`${what} is not an ISO-8601 UTC time`, raw)
  return t
}

function pairs(x: unknown, what: string, raw: unknown): BookLevel[] {
  const a = arr(x, what, raw)
  const out: BookLevel[] = new Array(a.length)
  for (let i = 0; i < a.length; i++) {
    const l = a[i]
    if (!Array.isArray(l) || l.length < 2) fail(`${what}[${i}] is not a [price, size] pair`, raw)
    out[i] = { price: positive(l[0], `${what}[${i}] price`, raw), amount: nonNegative(l[1], `${what}[${i}] size`, raw) }
  }
  return out
}

// ---- Exchange feed ----

/**
 * Parses an Exchange `snapshot` into a `BookChange` with `isSnapshot`. It has no time in older captures, so
 * `timestamp` is then `localTimestamp`.
 *
 *   {"type":"snapshot","product_id":"BTC-USD","bids":[["10101.10","0.45054140"]],"asks":[["10102.55","0.57753524"]]}
 */
export function parseCoinbaseSnapshot(raw: unknown, localTimestamp: number): BookChange {
  const r = obj(raw, 'snapshot', raw) as Partial<CoinbaseSnapshotMsg>
  return {
    type: 'book_change',
    exchange: 'coinbase',
    symbol: str(r.product_id, 'product_id', raw),
    timestamp: r.time === undefined ? localTimestamp : time(r.time, 'time', raw),
    localTimestamp,
    isSnapshot: true,
    firstUpdateId: undefined,
    lastUpdateId: undefined,
    prevUpdateId: undefined,
    bids: pairs(r.bids, 'bids', raw),
    asks: pairs(r.asks, 'asks', raw),
  }
}

/**
 * Parses an Exchange `l2update` into a `BookChange`: `buy` changes are bids, `sell` changes asks.
 *
 *   {"type":"l2update","product_id":"BTC-USD","time":"2019-08-14T20:42:27.265Z","changes":[["buy","10101.80000000","0.162567"]]}
 */
export function parseCoinbaseL2Update(raw: unknown, localTimestamp: number): BookChange {
  const r = obj(raw, 'l2update', raw) as Partial<CoinbaseL2UpdateMsg>
  const changes = arr(r.changes, 'changes', raw)
  const bids: BookLevel[] = []
  const asks: BookLevel[] = []
  for (let i = 0; i < changes.length; i++) {
    const c = changes[i]
    if (!Array.isArray(c) || c.length < 3) fail(`changes[${i}] is not [side, price, size]`, raw)
    const level = { price: positive(c[1], `changes[${i}] price`, raw), amount: nonNegative(c[2], `changes[${i}] size`, raw) }
    if (c[0] === 'buy') bids.push(level)
    else if (c[0] === 'sell') asks.push(level)
    else fail(`changes[${i}] side is not buy or sell`, raw)
  }
  return {
    type: 'book_change',
    exchange: 'coinbase',
    symbol: str(r.product_id, 'product_id', raw),
    timestamp: time(r.time, 'time', raw),
    localTimestamp,
    isSnapshot: false,
    firstUpdateId: undefined,
    lastUpdateId: undefined,
    prevUpdateId: undefined,
    bids,
    asks,
  }
}

/**
 * Parses an Exchange `match` or `last_match` into a `Trade`. `side` there is the maker's, so the aggressor is the
 * opposite side.
 *
 *   {"type":"match","trade_id":82047307,"maker_order_id":"0f35…","taker_order_id":"252b…","side":"sell",
 *    "size":"0.00513192","price":"9314.78","product_id":"BTC-USD","sequence":12038915443,"time":"2020-01-31T20:03:41.158814Z"}
 */
export function parseCoinbaseMatch(raw: unknown, localTimestamp: number): Trade {
  const r = obj(raw, 'match', raw) as Partial<CoinbaseMatchMsg>
  const maker = r.side
  const side: Side = maker === 'sell' ? 'buy' : maker === 'buy' ? 'sell' : fail('side is not buy or sell', raw)
  return {
    type: 'trade',
    exchange: 'coinbase',
    symbol: str(r.product_id, 'product_id', raw),
    timestamp: time(r.time, 'time', raw),
    localTimestamp,
    id: numericId(r.trade_id, 'trade_id', raw),
    price: positive(r.price, 'price', raw),
    amount: positive(r.size, 'size', raw),
    side,
  }
}

/**
 * Parses an Exchange `ticker` into a `BookTicker` when it carries best bid and ask with sizes; otherwise
 * undefined. `updateId` is the product's `sequence`.
 *
 *   {"type":"ticker","sequence":333938798,"product_id":"BAND-GBP","price":"14.7775","best_bid":"14.7550",
 *    "best_ask":"14.8060","side":"buy","time":"2021-04-17T16:43:30.244075Z","trade_id":881613,"last_size":"0.04"}
 */
export function parseCoinbaseTicker(raw: unknown, localTimestamp: number): BookTicker | undefined {
  const r = obj(raw, 'ticker', raw) as Partial<CoinbaseTickerMsg>
  if (r.best_bid === undefined || r.best_ask === undefined || r.best_bid_size === undefined || r.best_ask_size === undefined) {
    return undefined
  }
  return {
    type: 'book_ticker',
    exchange: 'coinbase',
    symbol: str(r.product_id, 'product_id', raw),
    timestamp: r.time === undefined ? localTimestamp : time(r.time, 'time', raw),
    localTimestamp,
    updateId: r.sequence === undefined ? undefined : uint(r.sequence, 'sequence', raw),
    bidPrice: nonNegative(r.best_bid, 'best_bid', raw),
    bidAmount: nonNegative(r.best_bid_size, 'best_bid_size', raw),
    askPrice: nonNegative(r.best_ask, 'best_ask', raw),
    askAmount: nonNegative(r.best_ask_size, 'best_ask_size', raw),
  }
}

// ---- Advanced Trade ----

/**
 * Parses an Advanced Trade `l2_data` frame into one `BookChange` per event (`snapshot` events set `isSnapshot`).
 * Both update ids are the frame's `sequence_num`; `timestamp` is the frame's publish time, because snapshot
 * levels carry an `event_time` of 1970-01-01.
 *
 *   {"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":1,"events":[{"type":
 *    "update","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"1970-01-01T00:00:00Z","price_level":
 *    "21921.73","new_quantity":"0.06317902"}]}]}
 */
export function parseCoinbaseAdvancedL2(raw: unknown, localTimestamp: number): BookChange[] {
  const r = obj(raw, 'l2_data frame', raw) as Partial<CoinbaseAdvancedEnvelope<CoinbaseAdvancedL2Event>>
  const seq = uint(r.sequence_num, 'sequence_num', raw)
  const timestamp = time(r.timestamp, 'timestamp', raw)
  const events = arr(r.events, 'events', raw)
  const out: BookChange[] = new Array(events.length)
  for (let i = 0; i < events.length; i++) {
    const e = obj(events[i], `events[${i}]`, raw) as Partial<CoinbaseAdvancedL2Event>
    const type = e.type
    if (type !== 'snapshot' && type !== 'update') fail(`events[${i}].type is not snapshot or update`, raw)
    const updates = arr(e.updates, `events[${i}].updates`, raw)
    const bids: BookLevel[] = []
    const asks: BookLevel[] = []
    for (let j = 0; j < updates.length; j++) {
      const u = obj(updates[j], `events[${i}].updates[${j}]`, raw)
      const level = {
        price: positive(u.price_level, `updates[${j}].price_level`, raw),
        amount: nonNegative(u.new_quantity, `updates[${j}].new_quantity`, raw),
      }
      if (u.side === 'bid') bids.push(level)
      else if (u.side === 'offer') asks.push(level)
      else fail(`updates[${j}].side is not bid or offer`, raw)
    }
    out[i] = {
      type: 'book_change',
      exchange: 'coinbase',
      symbol: str(e.product_id, `events[${i}].product_id`, raw),
      timestamp,
      localTimestamp,
      isSnapshot: type === 'snapshot',
      firstUpdateId: seq,
      lastUpdateId: seq,
      prevUpdateId: undefined,
      bids,
      asks,
    }
  }
  return out
}

/**
 * Parses an Advanced Trade `market_trades` frame into trades; `side` is the taker's. The `snapshot` event on
 * subscribing repeats recent trades; their ids let the lake drop repeats.
 *
 *   {"channel":"market_trades","client_id":"","timestamp":"2023-02-09T20:19:35.39625135Z","sequence_num":0,"events":[{"type":
 *    "snapshot","trades":[{"trade_id":"000000000","product_id":"ETH-USD","price":"1260.01","size":"0.3","side":"BUY",
 *    "time":"2019-08-14T20:42:27.265Z"}]}]}
 */
export function parseCoinbaseAdvancedTrades(raw: unknown, localTimestamp: number): Trade[] {
  const r = obj(raw, 'market_trades frame', raw) as Partial<CoinbaseAdvancedEnvelope<CoinbaseAdvancedTradesEvent>>
  const events = arr(r.events, 'events', raw)
  const out: Trade[] = []
  for (let i = 0; i < events.length; i++) {
    const e = obj(events[i], `events[${i}]`, raw)
    const trades = arr(e.trades, `events[${i}].trades`, raw)
    for (let j = 0; j < trades.length; j++) {
      const t = obj(trades[j], `trades[${j}]`, raw) as Partial<CoinbaseAdvancedTrade>
      const s = t.side
      const side: Side = s === 'BUY' ? 'buy' : s === 'SELL' ? 'sell' : fail(`trades[${j}].side is not BUY or SELL`, raw)
      out.push({
        type: 'trade',
        exchange: 'coinbase',
        symbol: str(t.product_id, `trades[${j}].product_id`, raw),
        timestamp: time(t.time, `trades[${j}].time`, raw),
        localTimestamp,
        id: numericId(t.trade_id, `trades[${j}].trade_id`, raw),
        price: positive(t.price, `trades[${j}].price`, raw),
        amount: positive(t.size, `trades[${j}].size`, raw),
        side,
      })
    }
  }
  return out
}

// ---- dispatch ----

function mapAdvanced(m: Record<string, unknown>, channel: string, localTimestamp: number): (MarketRecord | FeedControl)[] {
  switch (channel) {
    case 'l2_data':
      return parseCoinbaseAdvancedL2(m, localTimestamp)
    case 'market_trades':
      return parseCoinbaseAdvancedTrades(m, localTimestamp)
    case 'heartbeats':
      return [{ type: 'control', event: 'heartbeat', localTimestamp, sequence: uint(m.sequence_num, 'sequence_num', m) }]
    case 'subscriptions': {
      const events = arr(m.events, 'events', m)
      const first = events.length > 0 ? obj(events[0], 'events[0]', m).subscriptions : undefined
      return [{ type: 'control', event: 'ack', localTimestamp, sequence: uint(m.sequence_num, 'sequence_num', m), detail: frameText(first ?? {}) }]
    }
    default:
      return []
  }
}

/**
 * Maps one parsed Coinbase frame, from either the Exchange feed or Advanced Trade, to records and feed controls.
 * Throws `CoinbaseParseError` for a malformed frame; unknown types and channels give an empty result.
 */
export function mapCoinbaseMessage(msg: unknown, localTimestamp: number): (MarketRecord | FeedControl)[] {
  const m = obj(msg, 'frame', msg)
  const channel = m.channel
  if (typeof channel === 'string') return mapAdvanced(m, channel, localTimestamp)
  switch (m.type) {
    case 'l2update':
      return [parseCoinbaseL2Update(m, localTimestamp)]
    case 'snapshot':
      return [parseCoinbaseSnapshot(m, localTimestamp)]
    case 'match':
    case 'last_match':
      return [parseCoinbaseMatch(m, localTimestamp)]
    case 'ticker': {
      const t = parseCoinbaseTicker(m, localTimestamp)
      return t === undefined ? [] : [t]
    }
    case 'heartbeat': {
      // Its `sequence` is per product, not per connection, so it stays out of `FeedControl.sequence`
      const h = m as Partial<CoinbaseHeartbeatMsg>
      return [{ type: 'control', event: 'heartbeat', localTimestamp, detail: typeof h.product_id === 'string' ? h.product_id : undefined }]
    }
    case 'subscriptions':
      return [{ type: 'control', event: 'ack', localTimestamp, detail: frameText(m.channels) }]
    case 'error': {
      const e = m as Partial<CoinbaseErrorMsg>
      const detail = e.reason === undefined ? String(e.message) : `${String(e.message)}: ${String(e.reason)}`
      return [{ type: 'control', event: 'error', localTimestamp, detail }]
    }
    default:
      return []
  }
}
