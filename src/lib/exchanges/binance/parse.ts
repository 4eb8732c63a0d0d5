// Pure parsers of Binance REST history responses into normalised records.
// Spot: https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints
// USD-M: https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api
//
// Binance sends decimals as strings. Each is checked to be a plain decimal and converted with Number(), which
// gives the nearest double, the same value the archive importer's CSV scanner produces for the same digits, so
// REST and archive rows are identical in the lake. Nothing that is not a finite number leaves a parser: a bad
// row throws with the row attached.

import type { Exchange, Interval } from '../../consts.js'
import { FatalError } from '../../errors.js'
import { intervalUs, nextOpen, US_PER_DAY, US_PER_MS } from '../../time.js'
import type { AggTrade, Bar, Funding, OpenInterest } from '../../types.js'
import type { BinanceFundingRate, BinanceOpenInterestHist, BinanceRestAggTrade, BinanceRestKline } from './raw.js'

/** A response that is not what the endpoint documents; carries the offending row. */
export class BinanceParseError extends FatalError {
  constructor(
    message: string,
    readonly raw: unknown,
  ) {
    super(`${message}: ${JSON.stringify(raw)?.slice(0, 200)}`)
  }
}

export interface ParseContext {
  readonly exchange: Exchange
  readonly symbol: string
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)$/

function dec(s: unknown, what: string, raw: unknown): number {
  if (typeof s !== 'string' || !DECIMAL.test(s)) throw new BinanceParseError(`${what} is not a decimal string`, raw)
  return Number(s)
}

function int(x: unknown, what: string, raw: unknown): number {
  const n = typeof x === 'string' && /^\d+$/.test(x) ? Number(x) : x
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new BinanceParseError(`${what} is not a non-negative integer`, raw)
  return n
}

function list(raw: unknown, what: string): readonly unknown[] {
  if (!Array.isArray(raw)) throw new BinanceParseError(`expected an array of ${what}`, raw)
  return raw
}

/** ms (or µs, above 1e14) to µs */
const toUs = (t: number) => (t > 1e14 ? t : t * US_PER_MS)
/** A ms close time covers its whole last ms: `…59999` ms ends at `…59999999` µs, as the archive importer stores it */
const closeToUs = (t: number) => (t > 1e14 ? t : t * US_PER_MS + (US_PER_MS - 1))

/**
 * Parses klines into bars, checked like archive rows (OHLC consistency, volumes, grid, close inside the bar).
 * `localTimestamp` undefined means history: each bar is stamped with its close time, as archive imports are.
 *
 *   [[1499040000000,"0.01634790","0.80000000","0.01575800","0.01577100","148976.11427815",1499644799999,
 *     "2434.19055334",308,"1756.87402397","28.46694368","0"]]
 */
export function parseBinanceKlines(
  raw: unknown,
  localTimestamp: number | undefined,
  ctx: ParseContext & { readonly interval: Interval },
): Bar[] {
  const rows = list(raw, 'klines') as readonly BinanceRestKline[]
  const step = intervalUs(ctx.interval)
  const onGrid = step !== undefined && step <= US_PER_DAY
  const out: Bar[] = new Array(rows.length)
  let prev = -Infinity
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]
    if (!Array.isArray(r) || r.length < 11) throw new BinanceParseError('kline is not an array of 12 fields', r)
    const openTime = toUs(int(r[0], 'open time', r))
    const closeTime = closeToUs(int(r[6], 'close time', r))
    const open = dec(r[1], 'open', r)
    const high = dec(r[2], 'high', r)
    const low = dec(r[3], 'low', r)
    const close = dec(r[4], 'close', r)
    const volume = dec(r[5], 'volume', r)
    const quoteVolume = dec(r[7], 'quote volume', r)
    const trades = int(r[8], 'trade count', r)
    const takerBuyVolume = dec(r[9], 'taker buy volume', r)
    const takerBuyQuoteVolume = dec(r[10], 'taker buy quote volume', r)
    if (!(open > 0 && high > 0 && low > 0 && close > 0)) throw new BinanceParseError('non-positive price', r)
    if (high < open || high < close || low > open || low > close) throw new BinanceParseError('inconsistent OHLC', r)
    if (volume < 0 || quoteVolume < 0 || takerBuyVolume < 0 || takerBuyQuoteVolume < 0) {
      throw new BinanceParseError('negative volume', r)
    }
    if (takerBuyVolume > volume * (1 + 1e-9) + 1e-12) throw new BinanceParseError('taker buy volume exceeds volume', r)
    if (onGrid && openTime % (step as number) !== 0) throw new BinanceParseError(`open time is not on the ${ctx.interval} grid`, r)
    if (closeTime < openTime || closeTime >= nextOpen(ctx.interval, openTime)) {
      throw new BinanceParseError(`close time outside the ${ctx.interval} bar`, r)
    }
    if (openTime <= prev) throw new BinanceParseError('open times do not increase', r)
    prev = openTime
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
      quoteVolume,
      trades,
      takerBuyVolume,
      takerBuyQuoteVolume,
    }
  }
  return out
}

/**
 * Parses aggregated trades. `m` (buyer was maker) means the seller was the aggressor, so `side` is `sell`.
 * `localTimestamp` undefined means history: each trade is stamped with its own time.
 *
 *   [{"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1498793709153,"m":true,"M":true}]
 */
export function parseBinanceAggTrades(raw: unknown, localTimestamp: number | undefined, ctx: ParseContext): AggTrade[] {
  const rows = list(raw, 'aggTrades') as readonly BinanceRestAggTrade[]
  const out: AggTrade[] = new Array(rows.length)
  let prev = -1
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]
    if (r === null || typeof r !== 'object') throw new BinanceParseError('aggTrade is not an object', r)
    const id = int(r.a, 'a (id)', r)
    const firstTradeId = int(r.f, 'f (first trade id)', r)
    const lastTradeId = int(r.l, 'l (last trade id)', r)
    const timestamp = toUs(int(r.T, 'T (time)', r))
    const price = dec(r.p, 'p (price)', r)
    const amount = dec(r.q, 'q (quantity)', r)
    if (typeof r.m !== 'boolean') throw new BinanceParseError('m (buyer is maker) is not a boolean', r)
    if (!(price > 0) || !(amount > 0)) throw new BinanceParseError('non-positive price or quantity', r)
    if (firstTradeId > lastTradeId) throw new BinanceParseError('f (first trade id) is above l (last trade id)', r)
    if (id <= prev) throw new BinanceParseError('ids do not increase', r)
    prev = id
    out[i] = {
      type: 'agg_trade',
      exchange: ctx.exchange,
      symbol: ctx.symbol,
      timestamp,
      localTimestamp: localTimestamp ?? timestamp,
      id,
      firstTradeId,
      lastTradeId,
      price,
      amount,
      side: r.m ? 'sell' : 'buy',
    }
  }
  return out
}

/**
 * Parses funding-rate history. `timestamp` and `fundingTime` are both the charge time (Binance's raw
 * `fundingTime`, which carries a few ms of jitter); an empty or missing `markPrice` (old records) is undefined.
 *
 *   [{"symbol":"BTCUSDT","fundingRate":"-0.03750000","fundingTime":1570608000000,"markPrice":"34287.54619963"}]
 */
export function parseBinanceFundingRates(raw: unknown, localTimestamp: number | undefined, ctx: ParseContext): Funding[] {
  const rows = list(raw, 'funding rates') as readonly BinanceFundingRate[]
  const out: Funding[] = new Array(rows.length)
  let prev = -1
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]
    if (r === null || typeof r !== 'object') throw new BinanceParseError('funding rate is not an object', r)
    const t = toUs(int(r.fundingTime, 'fundingTime', r))
    const fundingRate = dec(r.fundingRate, 'fundingRate', r)
    const markPrice = r.markPrice === undefined || r.markPrice === '' ? undefined : dec(r.markPrice, 'markPrice', r)
    if (t <= prev) throw new BinanceParseError('funding times do not increase', r)
    prev = t
    out[i] = {
      type: 'funding',
      exchange: ctx.exchange,
      symbol: ctx.symbol,
      timestamp: t,
      localTimestamp: localTimestamp ?? t,
      fundingRate,
      fundingTime: t,
      markPrice,
      indexPrice: undefined,
    }
  }
  return out
}

/**
 * Parses open-interest statistics: `sumOpenInterest` (contracts) and `sumOpenInterestValue` (quote) at the
 * end of each period. `localTimestamp` undefined means history: each row is stamped with its own time.
 *
 *   [{"symbol":"BTCUSDT","sumOpenInterest":"20403.63700000","sumOpenInterestValue":"150570784.07809979",
 *     "timestamp":"1583127900000"}]
 */
export function parseBinanceOpenInterestHist(raw: unknown, localTimestamp: number | undefined, ctx: ParseContext): OpenInterest[] {
  const rows = list(raw, 'open interest statistics') as readonly BinanceOpenInterestHist[]
  const out: OpenInterest[] = new Array(rows.length)
  let prev = -1
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]
    if (r === null || typeof r !== 'object') throw new BinanceParseError('open interest row is not an object', r)
    const t = toUs(int(r.timestamp, 'timestamp', r))
    const openInterest = dec(r.sumOpenInterest, 'sumOpenInterest', r)
    const openInterestValue = dec(r.sumOpenInterestValue, 'sumOpenInterestValue', r)
    if (openInterest < 0 || openInterestValue < 0) throw new BinanceParseError('negative open interest', r)
    if (t <= prev) throw new BinanceParseError('timestamps do not increase', r)
    prev = t
    out[i] = {
      type: 'open_interest',
      exchange: ctx.exchange,
      symbol: ctx.symbol,
      timestamp: t,
      localTimestamp: localTimestamp ?? t,
      openInterest,
      openInterestValue,
    }
  }
  return out
}
