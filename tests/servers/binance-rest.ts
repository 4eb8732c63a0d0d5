// A local Binance REST server for tests and benchmarks: serves recorded real data with Binance's paging
// semantics (startTime/endTime inclusive in ms, limit caps, fromId), counts request weight per fixed window and
// reports it in X-MBX-USED-WEIGHT-<window>, answers 429/418 with Retry-After past its limit, and injects
// faults on demand (429, 418, 500, slow responses). Every request is logged for assertions.
//
// Data it serves is whatever it is given; the loaders below read the repo's real files: data.binance.vision
// kline archives, the freqtrade aggTrades recording and the freqtrade funding-rate history.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { openArchive } from '../../src/lib/archive/source.js'
import { LoopbackServer } from './loopback.js'

export type Market = 'spot' | 'futures'

/** A kline as Binance sends it: times and trade count as integers, decimals as the archive's strings. */
export type KlineRow = [number, string, string, string, string, string, number, string, number, string, string, string]

export interface AggTradeRow {
  a: number
  p: string
  q: string
  f: number
  l: number
  T: number
  m: boolean
  M?: boolean
}

export interface FundingRow {
  symbol: string
  fundingRate: string
  fundingTime: number
  markPrice: string
}

export interface OpenInterestRow {
  symbol: string
  sumOpenInterest: string
  sumOpenInterestValue: string
  timestamp: number
}

export interface MarketData {
  /** symbol -> interval -> klines in open-time order */
  klines?: Record<string, Record<string, KlineRow[]>>
  /** symbol -> aggTrades in id order */
  aggTrades?: Record<string, AggTradeRow[]>
  /** futures only: symbol -> funding events in time order */
  fundingRate?: Record<string, FundingRow[]>
  /** futures only: symbol -> period -> rows in time order */
  openInterestHist?: Record<string, Record<string, OpenInterestRow[]>>
}

export interface Fault {
  /** Endpoint path, e.g. `/api/v3/klines`; any endpoint when absent */
  path?: string
  symbol?: string
  /** Matching requests let through before the fault applies */
  skip?: number
  /** Matching requests faulted (default 1; Infinity for all) */
  times?: number
  /** Status to answer with (429, 418, 500, ...); the normal answer when absent */
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
  market: Market
  path: string
  params: Record<string, string>
  status: number
  weight: number
  /** The market's used weight in the window after this request */
  usedWeight: number
  rows: number
}

export interface ServerOptions {
  spot?: MarketData
  futures?: MarketData
  /** Weight window, written like Binance's header suffix: `1M` (default) or e.g. `2S` for fast tests */
  weightWindow?: string
  /** Per-window weight limits; past them the server answers 429 (default spot 6000, futures 2400) */
  weightLimit?: Partial<Record<Market, number>>
  /** Delay every answer by this many ms */
  latencyMs?: number
  /** Clock for openInterestHist's 30-day window, ms */
  now?: () => number
  /** Called on each request as it arrives, `index` counting arrivals from 0 (tests kill the client from here) */
  onRequest?: (entry: { market: Market; path: string; params: Record<string, string>; index: number }) => void
}

const INTERVAL_MS: Record<string, number> = {
  '1s': 1000, '1m': 60_000, '3m': 180_000, '5m': 300_000, '15m': 900_000, '30m': 1_800_000, '1h': 3_600_000,
  '2h': 7_200_000, '4h': 14_400_000, '6h': 21_600_000, '8h': 28_800_000, '12h': 43_200_000, '1d': 86_400_000,
  '3d': 259_200_000, '1w': 604_800_000, '1M': 2_678_400_000,
}
const OI_PERIODS = ['5m', '15m', '30m', '1h', '2h', '4h', '6h', '12h', '1d']
const UNIT_MS: Record<string, number> = { S: 1000, M: 60_000, H: 3_600_000, D: 86_400_000 }

class BinanceReply extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    readonly msg: string,
  ) {
    super(msg)
  }
}

const bad = (code: number, msg: string) => new BinanceReply(400, code, msg)

function intParam(params: Record<string, string>, name: string): number | undefined {
  const v = params[name]
  if (v === undefined) return undefined
  if (!/^\d{1,20}$/.test(v)) throw bad(-1100, `Illegal characters found in parameter '${name}'; legal range is '^[0-9]{1,20}$'.`)
  return Number(v)
}

function limitParam(params: Record<string, string>, def: number, max: number): number {
  const n = intParam(params, 'limit') ?? def
  if (n < 1 || n > max) throw bad(-1130, `Data sent for parameter 'limit' is not valid.`)
  return n
}

/** First index with key >= x in a sorted array */
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

/** Binance's time-range semantics: startTime gives the oldest rows from there, endTime alone the newest up to it */
function timeSlice<T>(rows: readonly T[], key: (r: T) => number, start: number | undefined, end: number | undefined, limit: number, newestFirst = false): T[] {
  const lo = start === undefined ? 0 : lowerBound(rows, key, start)
  const hi = end === undefined ? rows.length : lowerBound(rows, key, end + 1)
  if (hi <= lo) return []
  if (start === undefined || newestFirst) return rows.slice(Math.max(lo, hi - limit), hi)
  return rows.slice(lo, Math.min(hi, lo + limit))
}

function futuresKlineWeight(limit: number): number {
  return limit < 100 ? 1 : limit < 500 ? 2 : limit <= 1000 ? 5 : 10
}

export class BinanceRestServer extends LoopbackServer<Fault> {
  readonly log: LogEntry[] = []
  /** Requests received so far, answered or not */
  received = 0
  private readonly used = new Map<string, number>()
  /** Highest weight counted in any window, per market */
  readonly maxUsedWeight: Record<Market, number> = { spot: 0, futures: 0 }
  private readonly windowMs: number
  private readonly windowLabel: string

  constructor(readonly o: ServerOptions = {}) {
    super()
    this.windowLabel = o.weightWindow ?? '1M'
    const m = /^(\d+)([SMHD])$/.exec(this.windowLabel)
    if (!m) throw new Error(`bad weightWindow ${this.windowLabel}`)
    this.windowMs = Number(m[1]) * UNIT_MS[m[2]]
  }

  /** Log entries of one endpoint. */
  requests(path?: string): LogEntry[] {
    return path ? this.log.filter((e) => e.path === path) : this.log
  }

  private data(market: Market): MarketData {
    return (market === 'spot' ? this.o.spot : this.o.futures) ?? {}
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now()
    const u = new URL(req.url ?? '/', 'http://local')
    const path = u.pathname
    const params = Object.fromEntries(u.searchParams)
    const market: Market = path.startsWith('/api/') ? 'spot' : 'futures'
    const index = this.received++
    this.o.onRequest?.({ market, path, params, index })
    let status = 200
    let body: unknown
    let weight = 0
    let rows = 0
    const headers: Record<string, string> = { 'content-type': 'application/json;charset=UTF-8' }
    let active: (Fault & { seen: number; used: number }) | undefined
    for (const f of this.faults) {
      if (f.path !== undefined && f.path !== path) continue
      if (f.symbol !== undefined && f.symbol !== params.symbol) continue
      f.seen++
      if (!active && f.seen > (f.skip ?? 0) && f.used < (f.times ?? 1)) {
        f.used++
        active = f
      }
    }
    try {
      const r = this.route(market, path, params)
      weight = r.weight
      const w = Math.floor(at / this.windowMs) * this.windowMs
      const key = `${market}:${w}`
      const usedNow = (this.used.get(key) ?? 0) + weight
      this.used.set(key, usedNow)
      if (usedNow > this.maxUsedWeight[market]) this.maxUsedWeight[market] = usedNow
      headers[`x-mbx-used-weight-${this.windowLabel.toLowerCase()}`] = String(usedNow)
      const limit = this.o.weightLimit?.[market] ?? (market === 'spot' ? 6000 : 2400)
      if (usedNow > limit) {
        status = 429
        headers['retry-after'] = String(Math.ceil((w + this.windowMs - at) / 1000))
        body = { code: -1003, msg: 'Too much request weight used; current limit is ' + limit + ' request weight per window.' }
      } else if (active?.status !== undefined) {
        status = active.status
        body =
          status === 429
            ? { code: -1003, msg: 'Too many requests; please use the websocket for live updates.' }
            : status === 418
              ? { code: -1003, msg: 'Way too many requests; IP banned until further notice.' }
              : { code: -1001, msg: 'Internal error; unable to process your request. Please try again.' }
      } else {
        body = r.body()
        rows = Array.isArray(body) ? body.length : 0
      }
      if (active?.retryAfter !== undefined) headers['retry-after'] = String(active.retryAfter)
    } catch (err) {
      if (!(err instanceof BinanceReply)) throw err
      status = err.status
      body = { code: err.code, msg: err.msg }
    }
    const delay = (active?.delayMs ?? 0) + (this.o.latencyMs ?? 0)
    if (delay > 0) await new Promise((r) => setTimeout(r, delay))
    const text = JSON.stringify(body)
    const entry: LogEntry = { at, answeredAt: Date.now(), market, path, params, status, weight, usedWeight: Number(Object.entries(headers).find(([k]) => k.startsWith('x-mbx-used-weight'))?.[1] ?? 0), rows }
    this.log.push(entry)
    if (res.destroyed || res.socket?.destroyed) return
    try {
      res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(text)) })
      res.end(text)
    } catch {
      // The client gave up (timeout) and closed the socket
    }
  }

  private route(market: Market, path: string, params: Record<string, string>): { weight: number; body: () => unknown } {
    const d = this.data(market)
    const symbolOf = (table: Record<string, unknown> | undefined) => {
      const s = params.symbol
      if (s === undefined) throw bad(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
      if (!table || !Object.hasOwn(table, s)) throw bad(-1121, 'Invalid symbol.')
      return s
    }
    switch (path) {
      case '/api/v3/ping':
      case '/fapi/v1/ping':
        return { weight: 1, body: () => ({}) }
      case '/api/v3/klines':
      case '/fapi/v1/klines': {
        const max = market === 'spot' ? 1000 : 1500
        const limit = limitParam(params, 500, max)
        const symbol = symbolOf(d.klines)
        const interval = params.interval
        if (interval === undefined || !(interval in INTERVAL_MS)) throw bad(-1120, 'Invalid interval.')
        const rows = d.klines?.[symbol]?.[interval]
        if (!rows) throw new Error(`test server has no ${interval} klines for ${symbol}`)
        const start = intParam(params, 'startTime')
        const end = intParam(params, 'endTime')
        return {
          weight: market === 'spot' ? 2 : futuresKlineWeight(limit),
          body: () => timeSlice(rows, (r) => r[0], start, end, limit),
        }
      }
      case '/api/v3/aggTrades':
      case '/fapi/v1/aggTrades': {
        const limit = limitParam(params, 500, 1000)
        const symbol = symbolOf(d.aggTrades)
        const rows = d.aggTrades?.[symbol] ?? []
        const fromId = intParam(params, 'fromId')
        const start = intParam(params, 'startTime')
        const end = intParam(params, 'endTime')
        if (fromId !== undefined && (start !== undefined || end !== undefined)) throw bad(-1128, 'Combination of optional parameters invalid.')
        return {
          weight: market === 'spot' ? 4 : 20,
          body: () => {
            if (fromId !== undefined) {
              const i = lowerBound(rows, (r) => r.a, fromId)
              return rows.slice(i, i + limit)
            }
            return timeSlice(rows, (r) => r.T, start, end, limit)
          },
        }
      }
      case '/fapi/v1/fundingRate': {
        if (market !== 'futures') break
        const limit = limitParam(params, 100, 1000)
        const symbol = symbolOf(d.fundingRate)
        const rows = d.fundingRate?.[symbol] ?? []
        const start = intParam(params, 'startTime')
        const end = intParam(params, 'endTime')
        return { weight: 1, body: () => timeSlice(rows, (r) => r.fundingTime, start, end, limit) }
      }
      case '/futures/data/openInterestHist': {
        if (market !== 'futures') break
        const limit = limitParam(params, 30, 500)
        const symbol = symbolOf(d.openInterestHist)
        const period = params.period
        if (period === undefined || !OI_PERIODS.includes(period)) throw bad(-1130, "Data sent for parameter 'period' is not valid.")
        const now = (this.o.now ?? Date.now)()
        const oldest = now - 30 * 86_400_000
        const start = intParam(params, 'startTime')
        const end = intParam(params, 'endTime')
        if (start !== undefined && start < oldest) throw bad(-1130, "parameter 'startTime' is invalid.")
        const rows = (d.openInterestHist?.[symbol]?.[period] ?? []).filter((r) => r.timestamp >= oldest && r.timestamp <= now)
        // With more rows in range than `limit`, this server answers the newest ones: clients must not rely on either end
        return { weight: 1, body: () => timeSlice(rows, (r) => r.timestamp, start, end, limit, true) }
      }
    }
    throw new BinanceReply(404, -1, `no endpoint ${path}`)
  }
}

export async function startBinanceRestServer(o: ServerOptions = {}): Promise<BinanceRestServer> {
  const s = new BinanceRestServer(o)
  await s.start()
  return s
}

/** Reads data.binance.vision kline archives (.zip, .csv.gz, .csv) into REST rows; µs times become ms as the API sends. */
export async function loadKlines(paths: readonly string[]): Promise<KlineRow[]> {
  const byOpen = new Map<number, KlineRow>()
  for (const p of paths) {
    for await (const entry of openArchive(p).entries()) {
      const chunks: Buffer[] = []
      for await (const c of entry.stream) chunks.push(c)
      for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
        if (!line.trim() || !/^\d/.test(line)) continue
        const f = line.trim().split(',')
        const ms = (t: string) => {
          const n = Number(t)
          return n > 1e14 ? Math.floor(n / 1000) : n
        }
        const open = ms(f[0])
        byOpen.set(open, [open, f[1], f[2], f[3], f[4], f[5], ms(f[6]), f[7], Number(f[8]), f[9], f[10], f[11] ?? '0'])
      }
    }
  }
  return [...byOpen.values()].sort((a, b) => a[0] - b[0])
}

function gzLines(path: string): string[] {
  const buf = readFileSync(path)
  const text = (path.endsWith('.gz') ? gunzipSync(buf) : buf).toString('utf8')
  return text.split('\n').filter((l) => l.trim() !== '')
}

/** Reads aggTrades in data.binance.vision column order (agg_id, price, qty, first_id, last_id, time, is_buyer_maker[, is_best_match]). */
export function loadAggTrades(path: string): AggTradeRow[] {
  return gzLines(path)
    .filter((l) => /^\d/.test(l))
    .map((l) => {
      const f = l.split(',')
      const row: AggTradeRow = { a: Number(f[0]), p: f[1], q: f[2], f: Number(f[3]), l: Number(f[4]), T: Number(f[5]), m: /^true$/i.test(f[6]) }
      if (f[7] !== undefined) row.M = /^true$/i.test(f[7])
      return row
    })
    .sort((a, b) => a.a - b.a)
}

/**
 * Writes a decimal the way Binance does, fixed-point with at least 8 decimals, digit for digit (no float
 * rounding): freqtrade stored rates as Python floats, so the recording has `8.966e-05` where Binance sent
 * `0.00008966`.
 */
export function binanceDecimal(text: string): string {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim())
  if (!m) throw new Error(`not a number: ${text}`)
  const [, sign, int = '', frac = '', exp = '0'] = m
  let digits = int + frac
  let point = int.length + Number(exp)
  if (point <= 0) {
    digits = '0'.repeat(1 - point) + digits
    point = 1
  }
  digits = digits.padEnd(point, '0')
  const whole = digits.slice(0, point).replace(/^0+(?=\d)/, '')
  const fraction = digits.slice(point).padEnd(8, '0')
  return `${sign}${whole}.${fraction}`
}

/**
 * Reads a funding history CSV (`funding_time_ms,funding_rate`, freqtrade's download of /fapi/v1/fundingRate).
 * The recording has no mark price; it is served empty, as Binance does for old records.
 */
export function loadFunding(path: string, symbol: string): FundingRow[] {
  return gzLines(path)
    .filter((l) => /^\d/.test(l))
    .map((l) => {
      const [t, rate] = l.split(',')
      return { symbol, fundingRate: binanceDecimal(rate), fundingTime: Number(t), markPrice: '' }
    })
    .sort((a, b) => a.fundingTime - b.fundingTime)
}
