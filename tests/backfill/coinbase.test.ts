// REST backfill from Coinbase (Exchange API) against a local server with Coinbase's paging, rate limit and faults.
// Data: real Coinbase SKL-USD trades (cryptofeed capture, tests/fixtures/coinbase-rest/), and, where volume is
// needed, real Binance BTCUSDT 1m klines and trades served under the product id BTC-USD in Coinbase's shapes (the
// loaders in tests/servers/coinbase-rest.ts say so); the Binance 2023-03-24 outage stands for minutes without a
// Coinbase candle.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cursorIdPages, findFirstId, idWindow, missingRuns } from '../../src/lib/backfill/pager.js'
import { addExchangeGaps, gapStates } from '../../src/lib/backfill/ledger.js'
import { CoinbaseRestParseError, parseCoinbaseCandles, parseCoinbaseRestTrades } from '../../src/lib/exchanges/coinbase/index.js'
import { isoToUs } from '../../src/lib/exchanges/coinbase/parse.js'
import { RateBudget } from '../../src/lib/net/budget.js'
import { DATASETS, FIXTURES, OUTAGE, cli, cliJson, tempDir, treeHash, type LsRow } from '../helpers.js'
import {
  loadCandlesFromBinanceKlines,
  loadTradeFixture,
  loadTradesFromBinanceArchives,
  matchesInCapture,
  startCoinbaseRestServer,
  type CandleRow,
  type CoinbaseRestServer,
  type TradeRow,
} from '../servers/coinbase-rest.js'
import { runCli, type RunResult } from './util.js'

const SKL_FIXTURE = join(FIXTURES, 'coinbase-rest', 'SKL-USD-trades-2021-04-17.json')
const CAPTURE = join(FIXTURES, 'recordings', 'cryptofeed', 'COINBASE.ws.28.0.txt.gz')
const TRADE_ZIPS = ['08', '09'].map((d) => join(DATASETS, 'binance', 'spot', 'trades', 'BTCUSDT', `BTCUSDT-trades-2024-08-${d}.zip`))

const us = (iso: string) => Date.parse(iso) * 1000
const sec = (iso: string) => Date.parse(iso) / 1000

interface RunReport {
  targets: { instrument: string; kind: string; status: string; error: string | null; requests: number; rowsFetched: number; rowsWritten: number; resumedFrom: string | null; coveredTo: string }[]
  failed: number
  requests: number
  retries: number
  rateLimited: number
  pausedMs: number
  maxWindowWeight: Record<string, number>
  rowsFetched: number
  rowsWritten: number
}

interface GapsJson {
  gaps: { from?: string; to?: string; fromId?: number; toId?: number; missing: number; state: string; note: string | null }[]
  count: number
  missing: number
}

let server: CoinbaseRestServer
let candles: CandleRow[]
let btcTrades: TradeRow[]
let sklTrades: TradeRow[]

beforeAll(async () => {
  candles = await loadCandlesFromBinanceKlines([OUTAGE])
  btcTrades = await loadTradesFromBinanceArchives(TRADE_ZIPS)
  sklTrades = loadTradeFixture(SKL_FIXTURE)
  server = await startCoinbaseRestServer({ products: { 'BTC-USD': { candles, trades: btcTrades }, 'SKL-USD': { trades: sklTrades } } })
})
afterAll(() => server.close())

/** The CLI with the Coinbase URL pointed at the local server (or nowhere), never at the exchange. */
function cb(args: string[], lake: string, env: Record<string, string> = {}): Promise<RunResult> {
  return runCli(args, lake, { env: { MERCURY_COINBASE_REST_URL: server.url, ...env } })
}

async function cbJson<T>(args: string[], lake: string, env: Record<string, string> = {}): Promise<T> {
  const r = await cb([...args, '--json'], lake, env)
  if (r.code !== 0) throw new Error(`mercury ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

async function columns<C extends string>(lake: string, kind: 'bars' | 'trades', symbol: string, cols: readonly C[]) {
  const { LakeReader } = await import('../../src/lib/lake/reader.js')
  const r = await LakeReader.open(lake)
  try {
    return await r.readColumns({ kind, exchange: 'coinbase', symbol, ...(kind === 'bars' ? { interval: '1m' as const } : {}) }, cols)
  } finally {
    r.close()
  }
}

/** The trades of the served data with times in [from, to) */
const btcBetween = (from: string, to: string) => btcTrades.filter((t) => isoToUs(t.time)! >= us(from) && isoToUs(t.time)! < us(to))

const tradeWindows = (log: CoinbaseRestServer['log']) => log.filter((e) => e.endpoint === 'trades')

describe('Coinbase REST parsers', () => {
  it('reads real Coinbase trades: oldest first, µs times, the aggressor opposite to the maker side', () => {
    const raw = JSON.parse(readFileSync(SKL_FIXTURE, 'utf8')).trades
    const trades = parseCoinbaseRestTrades(raw, undefined, { exchange: 'coinbase', symbol: 'SKL-USD' })
    const frames = matchesInCapture(CAPTURE, 'SKL-USD')
    expect(trades).toHaveLength(53)
    expect(frames).toHaveLength(53)
    expect(trades.map((t) => t.id)).toEqual(frames.map((f) => f.trade_id))
    expect(trades.map((t) => t.id)).toEqual(Array.from({ length: 53 }, (_, i) => 1568267 + i))
    expect(trades[0]).toEqual({
      type: 'trade',
      exchange: 'coinbase',
      symbol: 'SKL-USD',
      timestamp: Date.UTC(2021, 3, 17, 16, 43, 37) * 1000 + 56_746,
      localTimestamp: Date.UTC(2021, 3, 17, 16, 43, 37) * 1000 + 56_746,
      id: 1568267,
      price: 0.7904,
      amount: 1338.3,
      side: 'buy',
    })
    for (let i = 0; i < 53; i++) {
      expect(trades[i].side).toBe(frames[i].side === 'buy' ? 'sell' : 'buy')
      expect(trades[i].price).toBe(Number(frames[i].price))
      expect(trades[i].amount).toBe(Number(frames[i].size))
    }
  })

  it('reads candles into bars on the grid, without quote volume or trade count, and refuses bad rows', () => {
    const rows = candles.slice(0, 3).reverse()
    const bars = parseCoinbaseCandles(rows, undefined, { exchange: 'coinbase', symbol: 'BTC-USD', interval: '1m' })
    expect(bars.map((b) => b.timestamp)).toEqual(candles.slice(0, 3).map((c) => c[0] * 1_000_000))
    expect(bars[0]).toMatchObject({
      open: candles[0][3],
      high: candles[0][2],
      low: candles[0][1],
      close: candles[0][4],
      volume: candles[0][5],
      closeTime: candles[0][0] * 1_000_000 + 59_999_999,
      localTimestamp: candles[0][0] * 1_000_000 + 59_999_999,
      quoteVolume: undefined,
      trades: undefined,
      takerBuyVolume: undefined,
    })
    const ctx = { exchange: 'coinbase' as const, symbol: 'BTC-USD', interval: '1m' as const }
    const c = candles[0]
    const bad: [unknown, RegExp][] = [
      [[[c[0], c[2] + 1, c[2], c[3], c[4], c[5]]], /inconsistent OHLC/],
      [[[c[0] + 1, c[1], c[2], c[3], c[4], c[5]]], /not on the 1m grid/],
      [[[c[0], c[1], c[2], c[3], c[4], -1]], /negative volume/],
      [[c, c], /two candles/],
      [[[c[0], c[1], c[2]]], /not \[time, low, high, open, close, volume\]/],
      [{ message: 'NotFound' }, /candles is not an array/],
    ]
    for (const [raw, why] of bad) expect(() => parseCoinbaseCandles(raw, undefined, ctx)).toThrow(why)
    const t = { time: '2021-04-17T16:44:06.669388Z', trade_id: 1, price: '1', size: '1', side: 'buy' }
    expect(() => parseCoinbaseRestTrades([{ ...t, side: 'up' }], undefined, ctx)).toThrow(CoinbaseRestParseError)
    expect(() => parseCoinbaseRestTrades([{ ...t, time: 'yesterday' }], undefined, ctx)).toThrow(/not an ISO-8601 UTC time/)
    expect(() => parseCoinbaseRestTrades([t, t], undefined, ctx)).toThrow(/trade_id 1 twice/)
  })
})

interface Row {
  id: number
  t: number
}

/** A backwards-paging trade endpoint over real trades: `before` excludes its own id (or includes it). */
function source(rows: Row[], inclusive = false) {
  const calls: (number | undefined)[] = []
  const below = (x: number) => {
    let lo = 0
    let hi = rows.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (rows[mid].id < x) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  return {
    calls,
    limit: 1000,
    idOf: (r: Row) => r.id,
    timeOf: (r: Row) => r.t,
    fetchBelow: async (before: number | undefined, n: number): Promise<Row[]> => {
      calls.push(before)
      const end = before === undefined ? rows.length : below(inclusive ? before + 1 : before)
      return rows.slice(Math.max(0, end - n), end).reverse()
    },
  }
}

describe('paging trades forwards on an endpoint that pages backwards', () => {
  const rows = () => btcTrades.map((t) => ({ id: t.trade_id, t: isoToUs(t.time)! }))

  it('finds the first trade at a time in a few probes, wherever it lies', async () => {
    const all = rows()
    const newest = all.slice(-1000).reverse()
    const probesSeen: number[] = []
    for (const at of ['2024-08-08T23:54:20Z', '2024-08-08T23:57:00.5Z', '2024-08-09T00:01:00Z', '2024-08-09T00:05:01Z']) {
      const s = source(all)
      const want = all.find((r) => r.t >= us(at))!.id
      const got = await findFirstId(s, us(at), newest)
      expect(got.id, at).toBe(want)
      expect(s.calls).toHaveLength(got.probes)
      probesSeen.push(got.probes)
    }
    // 19,895 trades over 11 minutes: interpolation lands next to the answer
    expect(Math.max(...probesSeen)).toBeLessThanOrEqual(6)
    // Before the first trade ever: its id; after the newest: the id after it
    expect((await findFirstId(source(all), us('2020-01-01T00:00:00Z'), newest)).id).toBe(all[0].id)
    expect((await findFirstId(source(all), us('2030-01-01T00:00:00Z'), newest))).toEqual({ id: all.at(-1)!.id + 1, probes: 0 })
  })

  it('delivers every trade of a range once, oldest first, in windows of 1000 ids asked with the cursor past their end', async () => {
    const all = rows()
    const s = source(all)
    const from = us('2024-08-08T23:56:00Z')
    const to = us('2024-08-09T00:03:00Z')
    const pages = []
    for await (const p of cursorIdPages({ ...s, from, to, concurrency: 3, settledBefore: Infinity })) pages.push(p)
    const got = pages.flatMap((p) => p.rows.map((r) => r.id))
    const want = all.filter((r) => r.t >= from && r.t < to).map((r) => r.id)
    expect(got).toEqual(want)
    expect(pages.at(-1)).toMatchObject({ coveredTo: to, nextId: want.at(-1)! + 1 })
    expect(pages.every((p) => p.empty.length === 0)).toBe(true)
    // Coverage only grows, and each page ends below the time of its last trade's successors
    const covered = pages.map((p) => p.coveredTo)
    expect(covered).toEqual([...covered].sort((a, b) => a - b))
    const windows = s.calls.slice(-Math.ceil(want.length / 1000) - 3)
    expect(windows.filter((c) => c !== undefined && (c - want[0]) % 1000 === 0).length).toBeGreaterThanOrEqual(Math.floor(want.length / 1000))
  })

  it('resumes from an id without a lookup; stops after a repair end id; reports ids the exchange does not have', async () => {
    const all = rows().filter((r) => r.id < 3735690000 || r.id > 3735690009)
    const s = source(all)
    const pages = []
    const fromId = 3735689500
    for await (const p of cursorIdPages({ ...s, from: 0, to: Infinity, fromId, toId: 3735690999, concurrency: 2, settledBefore: 0 })) pages.push(p)
    // One request for the newest trades, then the windows: no lookup
    expect(s.calls[0]).toBeUndefined()
    expect(s.calls.slice(1)).toEqual([fromId + 1000, fromId + 1500])
    const ids = pages.flatMap((p) => p.rows.map((r) => r.id))
    expect(ids[0]).toBe(fromId)
    expect(ids.at(-1)).toBe(3735690999)
    expect(ids).toHaveLength(1500 - 10)
    expect(pages.flatMap((p) => p.empty)).toEqual([{ from: 3735690000, to: 3735690009 }])
    expect(pages.at(-1)).toMatchObject({ coveredTo: Infinity, nextId: 3735691000 })
  })

  it('misses nothing when the server counts the cursor id in (an extra request per window, not a hole)', async () => {
    const all = rows().slice(0, 5000)
    const s = source(all, true)
    const got = await idWindow(s, all[1000].id, all[1999].id)
    expect(got.map((r) => r.id)).toEqual(all.slice(1000, 2000).map((r) => r.id))
    expect(s.calls).toHaveLength(2)
    expect(missingRuns([1, 2, 5, 9], 0, 10)).toEqual([{ from: 0, to: 0 }, { from: 3, to: 4 }, { from: 6, to: 8 }, { from: 10, to: 10 }])
  })
})

describe('request-rate budget and exchange-gap ledger', () => {
  it('sends a burst, then no faster than the rate', async () => {
    const b = new RateBudget(20, 5)
    const t0 = Date.now()
    const at: number[] = []
    await Promise.all(Array.from({ length: 25 }, () => b.acquire(1).then(() => at.push(Date.now() - t0))))
    // 5 at once, then 20 more at 20/s: about a second
    expect(Math.max(...at)).toBeGreaterThanOrEqual(950)
    expect(at.filter((t) => t < 40).length).toBe(5)
    for (let i = 0; i < at.length; i++) expect(at.filter((t) => t >= at[i] && t < at[i] + 500).length).toBeLessThanOrEqual(5 + 10 + 1)
    expect(b.snapshot()).toMatchObject({ weight: 25 })
    expect(b.snapshot().maxWindowWeight).toBeLessThanOrEqual(25)
  })

  it('merges touching confirmed-empty ranges into one exchange gap that holds the whole hole', () => {
    const m = 60_000_000
    let l = addExchangeGaps({ version: 1, entries: [] }, [{ from: 10 * m, to: 12 * m }], m, 'none published', '2024-01-01T00:00:00Z')
    l = addExchangeGaps(l, [{ from: 13 * m, to: 15 * m }, { from: 30 * m, to: 30 * m }], m, 'none published', '2024-01-02T00:00:00Z')
    expect(l.entries.map((e) => [e.from / m, e.to / m, e.missing, e.state])).toEqual([[10, 15, 6, 'exchange_gap'], [30, 30, 1, 'exchange_gap']])
    expect(l.entries[0].firstSeen).toBe('2024-01-01T00:00:00Z')
    const views = gapStates([{ from: 10 * m, to: 15 * m, missing: 6 }, { from: 20 * m, to: 21 * m, missing: 2 }], l)
    expect(views.map((v) => v.state)).toEqual(['exchange_gap', 'open'])
  })
})

const DAY = ['--from', '2023-03-24', '--to', '2023-03-25']

describe('coinbase bars over REST', () => {
  it('pages candles 300 at a time, stores them as bars, records minutes without a candle as exchange gaps, and a second run sends nothing', async () => {
    const lake = tempDir()
    const n0 = server.log.length
    const r = await cbJson<RunReport>(['backfill', 'coinbase:BTC-USD', '--kind', 'bars', '--interval', '1m', ...DAY], lake)
    const log = server.log.slice(n0)
    // 1,440 minutes less the 80 of the outage
    expect(r.targets[0]).toMatchObject({ instrument: 'coinbase:BTC-USD', status: 'done', rowsFetched: 1360, rowsWritten: 1360, requests: 5 })
    expect(log.map((e) => [e.endpoint, e.params.granularity, e.params.start, e.params.end, e.status])).toEqual(
      [0, 5, 10, 15, 20].map((h) => {
        const start = Date.UTC(2023, 2, 24, h)
        // 300 buckets, the end being the last one's open; the last window ends with the day
        const end = Math.min(start + 299 * 60_000, Date.UTC(2023, 2, 24, 23, 59))
        return ['candles', '60', new Date(start).toISOString().replace('.000', ''), new Date(end).toISOString().replace('.000', ''), 200]
      }),
    )
    expect(server.limited).toBe(0)

    const want = candles.filter((c) => c[0] >= sec('2023-03-24T00:00:00Z') && c[0] < sec('2023-03-25T00:00:00Z'))
    const got = await columns(lake, 'bars', 'BTC-USD', ['open_time', 'close_time', 'open', 'high', 'low', 'close', 'volume', 'quote_volume', 'trades'])
    expect(got.length).toBe(1360)
    expect([...got.columns.open_time]).toEqual(want.map((c) => c[0] * 1_000_000))
    expect([...got.columns.close_time]).toEqual(want.map((c) => c[0] * 1_000_000 + 59_999_999))
    expect([...got.columns.low]).toEqual(want.map((c) => c[1]))
    expect([...got.columns.high]).toEqual(want.map((c) => c[2]))
    expect([...got.columns.open]).toEqual(want.map((c) => c[3]))
    expect([...got.columns.close]).toEqual(want.map((c) => c[4]))
    expect([...got.columns.volume]).toEqual(want.map((c) => c[5]))
    // Candles have no quote volume, trade count or taker volumes: missing (NaN for the lake's doubles, NULL for the
    // count), never 0
    const missing = cliJson<{ q: number; n: number; tb: number }[]>(
      ['data', 'query', 'SELECT count(*) FILTER (WHERE isnan(quote_volume))::INT q, count(trades)::INT n, count(*) FILTER (WHERE isnan(taker_buy_volume) AND isnan(taker_buy_quote_volume))::INT tb FROM bars'],
      lake,
    )
    expect(missing).toEqual([{ q: 1360, n: 0, tb: 1360 }])
    expect(got.columns.quote_volume.every((x) => Number.isNaN(x))).toBe(true)

    // The missing minutes were asked for and not published: an exchange gap from the start
    const gaps = cliJson<GapsJson>(['data', 'gaps', 'coinbase:BTC-USD', '--interval', '1m'], lake)
    expect(gaps.gaps).toEqual([expect.objectContaining({ from: '2023-03-24T12:40:00Z', to: '2023-03-24T13:59:00Z', missing: 80, state: 'exchange_gap' })])
    expect(gaps.gaps[0].note).toMatch(/Coinbase published no candle/)
    const table = cli(['data', 'gaps', 'coinbase:BTC-USD', '--state', 'exchange_gap'], lake)
    expect(table.stdout).toMatch(/2023-03-24T12:40:00Z .*2023-03-24T13:59:00Z .*80 .*exchange_gap/)

    const cp = JSON.parse(readFileSync(join(lake, '_state', 'backfill', 'coinbase', 'BTC-USD', 'bars-1m.json'), 'utf8'))
    expect(cp.ranges).toEqual([expect.objectContaining({ fromIso: '2023-03-24T00:00:00Z', toIso: '2023-03-25T00:00:00Z' })])
    const before = treeHash(lake)
    const n1 = server.log.length
    const again = await cbJson<RunReport>(['backfill', 'coinbase:BTC-USD', ...DAY], lake)
    expect(server.log.length).toBe(n1)
    expect(again).toMatchObject({ requests: 0, rowsWritten: 0 })
    expect(treeHash(lake)).toEqual(before)
  })

  it('serves other granularities (1h: 23 hours, the one without a candle is a gap) in one request', async () => {
    const lake = tempDir()
    const n0 = server.log.length
    const r = await cbJson<RunReport>(['backfill', 'coinbase:BTC-USD', '--interval', '1h', ...DAY], lake)
    expect(r.targets[0]).toMatchObject({ rowsFetched: 23, requests: 1 })
    expect(server.log.slice(n0).map((e) => e.params.granularity)).toEqual(['3600'])
    const ls = cliJson<LsRow[]>(['data', 'ls'], lake)
    expect(ls).toEqual([expect.objectContaining({ kind: 'bars', instrument: 'coinbase:BTC-USD', interval: '1h', rows: 23, gaps: 1, missing: 1 })])
    const q = cliJson<{ o: number; h: number; v: number }[]>(['data', 'query', "SELECT open o, high h, volume v FROM bars WHERE open_time = epoch_us(TIMESTAMP '2023-03-24 00:00:00')"], lake)
    const hour = candles.filter((c) => c[0] >= sec('2023-03-24T00:00:00Z') && c[0] < sec('2023-03-24T01:00:00Z'))
    expect(q[0].o).toBe(hour[0][3])
    expect(q[0].h).toBe(Math.max(...hour.map((c) => c[2])))
    expect(q[0].v).toBeCloseTo(hour.reduce((a, c) => a + c[5], 0), 6)
  })

  it('refuses an interval Coinbase does not serve, other kinds and the wrong budget flag: one line, exit 2, nothing sent', async () => {
    const lake = tempDir()
    const n0 = server.log.length
    const cases: [string[], RegExp][] = [
      [['--interval', '3m'], /^mercury: Invalid --interval: '3m' for coinbase:BTC-USD\. Coinbase candles come in 1m, 5m, 15m, 1h, 6h, 1d \(granularity 60, 300, 900, 3600, 21600, 86400 s\)$/],
      [['--interval', '4h'], /Invalid --interval: '4h' for coinbase:BTC-USD/],
      [['--kind', 'funding'], /^mercury: Invalid --kind: 'funding' for coinbase:BTC-USD\. Coinbase REST backfill serves bars and trades$/],
      [['--kind', 'oi'], /Invalid --kind: 'oi' for coinbase:BTC-USD/],
      [['--kind', 'agg_trades'], /Invalid --kind: 'agg_trades' for coinbase:BTC-USD\. Coinbase has no aggregated trades; --kind trades fetches its trades/],
      [['--kind', 'trades', '--interval', '1m'], /Invalid --interval: '1m'\. trades have no interval/],
      [['--max-weight', '100'], /Invalid --max-weight: coinbase limit requests per second, not weight\. Use --max-rate/],
      [['--max-rate', '0'], /Invalid --max-rate: '0'\. Expected a positive integer/],
    ]
    for (const [extra, message] of cases) {
      const r = await cb(['backfill', 'coinbase:BTC-USD', ...DAY, ...extra], lake)
      expect(r.code, `${extra.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr.trim()).toMatch(message)
    }
    const binance = await runCli(['backfill', 'binance:BTCUSDT', ...DAY, '--max-rate', '5'], lake)
    expect(binance.code).toBe(2)
    expect(binance.stderr).toMatch(/Invalid --max-rate: binance limit request weight per minute\. Use --max-weight/)
    expect(server.log.length).toBe(n0)
    expect(existsSync(join(lake, 'bars'))).toBe(false)
  })

  it('--dry-run prints the plan (requests, rate, time, URL and where it came from) and sends nothing', async () => {
    const lake = tempDir()
    const n0 = server.log.length
    type Plan = { dryRun: boolean; targets: { kind: string; requests: number | null; weight: number | null; pageRows: number; maxRequestsPerSecond: number | null; maxWeightPerMinute: number | null; seconds: number | null; url: string; urlSource: string; fetch: { from: string; to: string; fromId?: number }[] }[] }
    const plan = await cbJson<Plan>(['backfill', 'coinbase:BTC-USD', '--from', '2023-03-01', '--to', '2023-03-08', '--dry-run'], lake)
    // A week of minutes in windows of 300
    expect(plan.targets[0]).toMatchObject({ kind: 'bars', requests: 34, weight: 34, pageRows: 300, maxRequestsPerSecond: 10, maxWeightPerMinute: null, url: server.url, urlSource: 'MERCURY_COINBASE_REST_URL' })
    expect(plan.targets[0].fetch).toEqual([{ from: '2023-03-01T00:00:00Z', to: '2023-03-08T00:00:00Z' }])
    // 34 requests at 10/s after a burst of 5
    expect(plan.targets[0].seconds).toBeCloseTo(2.9, 5)
    const slow = await cbJson<Plan>(['backfill', 'coinbase:BTC-USD', '--from', '2023-03-01', '--to', '2023-03-08', '--dry-run', '--max-rate', '2'], lake)
    expect(slow.targets[0]).toMatchObject({ maxRequestsPerSecond: 2, seconds: 16 })
    const capped = await cbJson<Plan>(['backfill', 'coinbase:BTC-USD', ...DAY, '--dry-run', '--max-rate', '50'], lake)
    expect(capped.targets[0].maxRequestsPerSecond).toBe(10)
    const trades = await cbJson<Plan>(['backfill', 'coinbase:BTC-USD', '--kind', 'trades', ...DAY, '--dry-run'], lake)
    expect(trades.targets[0]).toMatchObject({ kind: 'trades', requests: null, pageRows: 1000 })
    const table = await cb(['backfill', 'coinbase:BTC-USD', '--kind', 'trades', ...DAY, '--dry-run'], lake)
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/coinbase:BTC-USD trades .*>= 1 \(1 per 1,000 trades, plus a lookup\)/)
    expect(table.stdout).toMatch(/dry run: nothing was sent; request rate coinbase 10\/s; estimates assume 250 ms per request/)
    // URL presets: --rest-url, --testnet (the Exchange sandbox), the production API when nothing is set
    const flag = await cbJson<Plan>(['backfill', 'coinbase:BTC-USD', ...DAY, '--dry-run', '--rest-url', 'http://127.0.0.1:1/'], lake)
    expect(flag.targets[0]).toMatchObject({ url: 'http://127.0.0.1:1', urlSource: '--rest-url' })
    const sandbox = await cbJson<Plan>(['backfill', 'coinbase:BTC-USD', ...DAY, '--dry-run', '--testnet'], lake)
    expect(sandbox.targets[0]).toMatchObject({ url: 'https://api-public.sandbox.exchange.coinbase.com', urlSource: '--testnet' })
    const prod = await cbJson<Plan>(['backfill', 'coinbase:BTC-USD', ...DAY, '--dry-run'], lake, { MERCURY_COINBASE_REST_URL: '' })
    expect(prod.targets[0]).toMatchObject({ url: 'https://api.exchange.coinbase.com', urlSource: 'default' })
    expect(server.log.length).toBe(n0)
    expect(treeHash(lake)).toEqual({})
  })
})

const TRADES = ['--kind', 'trades']

describe('coinbase trades over REST', () => {
  it('stores real Coinbase trades exactly (SKL-USD): the newest page, then one window', async () => {
    const lake = tempDir()
    const n0 = server.log.length
    const args = ['backfill', 'coinbase:SKL-USD', ...TRADES, '--from', '2021-04-17T16:43', '--to', '2021-04-17T16:45']
    const r = await cbJson<RunReport>(args, lake)
    expect(r.targets[0]).toMatchObject({ kind: 'trades', status: 'done', rowsFetched: 53, rowsWritten: 53, requests: 2, coveredTo: '2021-04-17T16:45:00Z' })
    expect(server.log.slice(n0).map((e) => [e.params.after, e.params.limit, e.rows])).toEqual([
      [undefined, '1000', 53],
      // The window of ids from the first at --from to the newest
      [String(1568319 + 1), '1000', 53],
    ])
    const got = await columns(lake, 'trades', 'SKL-USD', ['id', 'timestamp', 'price', 'amount', 'local_timestamp'])
    expect([...got.columns.id]).toEqual(sklTrades.map((t) => t.trade_id))
    expect([...got.columns.timestamp]).toEqual(sklTrades.map((t) => isoToUs(t.time)))
    expect([...got.columns.local_timestamp]).toEqual(sklTrades.map((t) => isoToUs(t.time)))
    expect([...got.columns.price]).toEqual(sklTrades.map((t) => Number(t.price)))
    expect([...got.columns.amount]).toEqual(sklTrades.map((t) => Number(t.size)))
    // The aggressor is the side opposite to the maker's
    const sides = cliJson<{ side: string; n: number }[]>(['data', 'query', 'SELECT side, count(*)::INT n FROM trades GROUP BY side ORDER BY side'], lake)
    expect(sides).toEqual([
      { side: 'buy', n: sklTrades.filter((t) => t.side === 'sell').length },
      { side: 'sell', n: sklTrades.filter((t) => t.side === 'buy').length },
    ])
    const n1 = server.log.length
    expect(await cbJson<RunReport>(args, lake)).toMatchObject({ requests: 0, rowsWritten: 0 })
    expect(server.log.length).toBe(n1)
  })

  it('walks 10k trades forwards by id in windows of 1000 after a short lookup; a second run sends nothing', async () => {
    const lake = tempDir()
    const want = btcBetween('2024-08-08T23:56:00Z', '2024-08-09T00:03:00Z')
    const n0 = server.log.length
    const args = ['backfill', 'coinbase:BTC-USD', ...TRADES, '--from', '2024-08-08T23:56', '--to', '2024-08-09T00:03']
    const r = await cbJson<RunReport>(args, lake)
    expect(r.targets[0]).toMatchObject({ status: 'done', rowsFetched: want.length, rowsWritten: want.length, coveredTo: '2024-08-09T00:03:00Z' })
    const log = tradeWindows(server.log.slice(n0))
    expect(log.every((e) => e.params.limit === '1000' && e.status === 200)).toBe(true)
    expect(log[0].params.after).toBeUndefined()
    const first = want[0].trade_id
    const windows = log
      .filter((e) => e.params.after !== undefined && (Number(e.params.after) - first) % 1000 === 0 && Number(e.params.after) > first)
      .map((e) => Number(e.params.after))
      .sort((a, b) => a - b)
    const needed = Math.ceil(want.length / 1000)
    expect(windows.slice(0, needed)).toEqual(Array.from({ length: needed }, (_, i) => first + 1000 * (i + 1)))
    // Past the end time: at most the windows already in flight (--concurrency 4)
    expect(windows.length - needed).toBeLessThanOrEqual(3)
    // Everything else was the lookup of the first id at --from
    expect(log.length - 1 - windows.length).toBeLessThanOrEqual(6)
    expect(server.limited).toBe(0)
    const got = await columns(lake, 'trades', 'BTC-USD', ['id', 'timestamp', 'price', 'amount'])
    expect([...got.columns.id]).toEqual(want.map((t) => t.trade_id))
    expect([...got.columns.timestamp]).toEqual(want.map((t) => isoToUs(t.time)))
    expect([...got.columns.price]).toEqual(want.map((t) => Number(t.price)))
    expect([...got.columns.amount]).toEqual(want.map((t) => Number(t.size)))
    expect(cliJson<GapsJson>(['data', 'gaps', 'coinbase:BTC-USD', '--kind', 'trades'], lake).count).toBe(0)
    const cp = JSON.parse(readFileSync(join(lake, '_state', 'backfill', 'coinbase', 'BTC-USD', 'trades.json'), 'utf8'))
    expect(cp.ranges).toEqual([expect.objectContaining({ fromIso: '2024-08-08T23:56:00Z', toIso: '2024-08-09T00:03:00Z', nextId: want.at(-1)!.trade_id + 1 })])

    const before = treeHash(lake)
    const n1 = server.log.length
    expect(await cbJson<RunReport>(args, lake)).toMatchObject({ requests: 0, rowsWritten: 0 })
    expect(server.log.length).toBe(n1)
    expect(treeHash(lake)).toEqual(before)
    // A longer range asks only for the new part, from the next id, without a lookup
    const more = await cbJson<RunReport>(['backfill', 'coinbase:BTC-USD', ...TRADES, '--from', '2024-08-08T23:56', '--to', '2024-08-09T00:04'], lake)
    const moreLog = server.log.slice(n1)
    const nextId = want.at(-1)!.trade_id + 1
    const afters = moreLog.map((e) => e.params.after)
    expect(afters.slice(0, 2)).toEqual([undefined, String(nextId + 1000)])
    expect(afters.slice(1).every((a) => (Number(a) - nextId) % 1000 === 0 || Number(a) === btcTrades.at(-1)!.trade_id + 1)).toBe(true)
    expect(more.targets[0]).toMatchObject({ resumedFrom: '2024-08-09T00:03:00Z', rowsFetched: btcBetween('2024-08-09T00:03:00Z', '2024-08-09T00:04:00Z').length })
  })

  it('resumes after a failed window from the next id: no lookup, nothing fetched twice, no hole', async () => {
    const lake = tempDir()
    const want = btcBetween('2024-08-08T23:55:00Z', '2024-08-09T00:05:00Z')
    const first = want[0].trade_id
    const args = ['backfill', 'coinbase:BTC-USD', ...TRADES, '--from', '2024-08-08T23:55', '--to', '2024-08-09T00:05', '--batch-rows', '1000', '--concurrency', '1']
    const fault = server.inject({ endpoint: 'trades', match: (p) => p.after === String(first + 5000), status: 500, times: Infinity })
    const r1 = await cb([...args, '--retries', '0', '--json'], lake)
    server.clearFaults()
    expect(fault.used).toBe(1)
    expect(r1.code).toBe(1)
    expect(r1.stderr).toMatch(/^mercury: coinbase:BTC-USD trades: stopped: GET http:\/\/127\.0\.0\.1:\d+\/products\/BTC-USD\/trades\?limit=1000&after=\d+ failed with HTTP 500: Internal server error; complete up to 2024-08-0\dT\d\d:\d\d:\d\d\.\d+Z, the same command resumes from there$/m)
    // Progress: one line per commit on a stderr that is not a terminal
    const progress = r1.stderr.split('\n').filter((l) => l.startsWith('coinbase:BTC-USD trades: '))
    expect(progress.length).toBeGreaterThanOrEqual(4)
    expect(progress[0]).toMatch(/^coinbase:BTC-USD trades: \d+% to 2024-08-08T23:5\d:\d\d\.\d+Z, [\d,]+ rows, [\d,]+ rows\/s, \d+ requests, ETA \S+$/)
    const first1 = JSON.parse(r1.stdout) as RunReport
    expect(first1.targets[0]).toMatchObject({ status: 'failed', rowsFetched: 4000 })
    const cp = JSON.parse(readFileSync(join(lake, '_state', 'backfill', 'coinbase', 'BTC-USD', 'trades.json'), 'utf8'))
    expect(cp.ranges).toEqual([expect.objectContaining({ fromIso: '2024-08-08T23:55:00Z', nextId: first + 4000 })])
    expect(cp.ranges[0].to).toBe(isoToUs(btcTrades.find((t) => t.trade_id === first + 3999)!.time))

    const n0 = server.log.length
    const r2 = await cbJson<RunReport>(args, lake)
    const log = server.log.slice(n0)
    expect(log[0].params.after).toBeUndefined()
    expect(log[1].params.after).toBe(String(first + 5000))
    expect(r2.targets[0].rowsFetched + first1.targets[0].rowsFetched).toBe(want.length)
    const q = cliJson<{ n: number; d: number; lo: number; hi: number }[]>(['data', 'query', 'SELECT count(*)::INT n, count(DISTINCT id)::INT d, min(id) lo, max(id) hi FROM trades'], lake)
    expect(q).toEqual([{ n: want.length, d: want.length, lo: first, hi: want.at(-1)!.trade_id }])
    expect(cliJson<GapsJson>(['data', 'gaps', 'coinbase:BTC-USD', '--kind', 'trades'], lake).count).toBe(0)
  })

  it('kill -9 at any request leaves a checkpoint never ahead of the lake; re-running completes with no duplicate and no hole', async () => {
    const slow = await startCoinbaseRestServer({ products: { 'BTC-USD': { trades: btcTrades } }, latencyMs: 25 })
    try {
      const lake = tempDir()
      const want = btcBetween('2024-08-08T23:55:00Z', '2024-08-09T00:05:00Z')
      const args = ['backfill', 'coinbase:BTC-USD', ...TRADES, '--from', '2024-08-08T23:55', '--to', '2024-08-09T00:05', '--batch-rows', '1000', '--concurrency', '2']
      const cpPath = join(lake, '_state', 'backfill', 'coinbase', 'BTC-USD', 'trades.json')
      let partial = 0
      for (const killAt of [9, 13]) {
        const start = slow.received
        let child: import('node:child_process').ChildProcess | undefined
        slow.o.onRequest = ({ index }) => {
          if (index - start === killAt) child?.kill('SIGKILL')
        }
        const r = await runCli(args, lake, { env: { MERCURY_COINBASE_REST_URL: slow.url }, onSpawn: (p) => (child = p) })
        slow.o.onRequest = undefined
        expect(r.code).toBeNull()
        const q = cliJson<{ n: number; d: number; hi: number | null }[]>(['data', 'query', 'SELECT count(*)::INT n, count(DISTINCT id)::INT d, max(id) hi FROM trades'], lake)
        if (q[0].n > 0 && q[0].n < want.length) partial++
        expect(q[0].n).toBe(q[0].d)
        if (existsSync(cpPath)) {
          const cp = JSON.parse(readFileSync(cpPath, 'utf8')) as { ranges: { nextId: number }[] }
          // What the checkpoint vouches for is in the lake
          expect(cp.ranges[0].nextId - 1).toBeLessThanOrEqual(q[0].hi as number)
        }
      }
      expect(partial).toBeGreaterThan(0)
      // Requests of the killed runs may still be answered (and logged) after they died: look at this run's only
      const t0 = Date.now()
      const done = await runJson(args, lake, slow.url)
      expect(done.targets[0]).toMatchObject({ status: 'done' })
      // The last run resumed from an id: no lookup, straight to windows of 1000 ids (the last one ends at the newest)
      const newest = btcTrades.at(-1)!.trade_id
      const afters = slow.log.filter((e) => e.at >= t0).map((e) => e.params.after)
      expect(afters[0]).toBeUndefined()
      expect(afters.slice(1).every((a) => (Number(a) - want[0].trade_id) % 1000 === 0 || Number(a) === newest + 1)).toBe(true)
      const q = cliJson<{ n: number; d: number }[]>(['data', 'query', 'SELECT count(*)::INT n, count(DISTINCT id)::INT d FROM trades'], lake)
      expect(q).toEqual([{ n: want.length, d: want.length }])
      expect(cliJson<GapsJson>(['data', 'gaps', 'coinbase:BTC-USD', '--kind', 'trades'], lake).count).toBe(0)
    } finally {
      await slow.close()
    }
  })
})

async function runJson(args: string[], lake: string, url: string): Promise<RunReport> {
  const r = await runCli([...args, '--json'], lake, { env: { MERCURY_COINBASE_REST_URL: url } })
  if (r.code !== 0) throw new Error(`mercury ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as RunReport
}

describe('coinbase rate limit and failures', () => {
  it('keeps under the request rate with many requests in flight: the server never answers 429', async () => {
    const lake = tempDir()
    const n0 = server.log.length
    const limited = server.limited
    const t0 = Date.now()
    const r = await cbJson<RunReport>(['backfill', 'coinbase:BTC-USD', '--from', '2023-03-20', '--to', '2023-03-25', '--concurrency', '8'], lake)
    const log = server.log.slice(n0)
    // Five days of minutes: 24 windows of 300
    expect(r.targets[0]).toMatchObject({ status: 'done', requests: 24, rowsFetched: 5 * 1440 - 80 })
    expect(server.limited).toBe(limited)
    expect(log.every((e) => e.status === 200)).toBe(true)
    // 24 requests: a burst of 5, then 10 per second, so never more than 15 sent in any second
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1800)
    expect(r.maxWindowWeight.coinbase).toBeGreaterThanOrEqual(10)
    expect(r.maxWindowWeight.coinbase).toBeLessThanOrEqual(15)
  })

  it('the local Coinbase answers 429 to a client that ignores the limit', async () => {
    const limited = server.limited
    const answers = await Promise.all(Array.from({ length: 30 }, () => fetch(`${server.url}/products/SKL-USD/trades?limit=1`).then(async (res) => [res.status, await res.text()] as const)))
    const refused = answers.filter(([status]) => status === 429)
    expect(refused.length).toBeGreaterThanOrEqual(10)
    expect(refused[0][1]).toBe('{"message":"Public rate limit exceeded"}')
    expect(server.limited - limited).toBe(refused.length)
    // Let the bucket fill again for the tests after this one
    await new Promise((r) => setTimeout(r, 1600))
  })

  it('pauses every request after a 429: a growing backoff without Retry-After, the Retry-After when named', async () => {
    for (const retryAfter of [undefined, 1]) {
      const lake = tempDir()
      const n0 = server.log.length
      server.inject({ endpoint: 'candles', skip: 2, status: 429, ...(retryAfter !== undefined ? { retryAfter } : {}) })
      const r = await cb(['backfill', 'coinbase:BTC-USD', '--from', '2023-03-20', '--to', '2023-03-22', '--json'], lake)
      server.clearFaults()
      expect(r.code, r.stderr).toBe(0)
      const report = JSON.parse(r.stdout) as RunReport
      expect(report).toMatchObject({ rateLimited: 1, failed: 0, retries: 0 })
      expect(report.targets[0]).toMatchObject({ rowsFetched: 2880 })
      const log = server.log.slice(n0)
      const t429 = log.find((e) => e.status === 429)!.answeredAt
      // Requests already on their way (up to 3 others of --concurrency 4) may land after it, late on a busy machine
      // (one landed 466 ms after the 429 in a loaded run); no new one goes out until the pause is over, so at most
      // those 3 land within it, and the rest (7 more requests: without a pause they would all land in it) after it
      const minPause = retryAfter === undefined ? 500 : 1000
      const during = log.filter((e) => e.at > t429 && e.at < t429 + minPause - 50)
      expect(during.length).toBeLessThanOrEqual(3)
      expect(log.filter((e) => e.at >= t429 + minPause - 50).length).toBeGreaterThanOrEqual(5)
      expect(report.pausedMs).toBeGreaterThanOrEqual(minPause)
      expect(r.stderr).toMatch(retryAfter === undefined ? /HTTP 429 without Retry-After, pausing \d\.\d s \(backoff 1\)/ : /HTTP 429, pausing 1\.0 s as Retry-After asks/)
      expect(cliJson<LsRow[]>(['data', 'ls'], lake)[0]).toMatchObject({ rows: 2880, gaps: 0 })
    }
  })

  it('retries 5xx answers and timeouts, and stops after --retries with the range complete so far', async () => {
    const lake = tempDir()
    server.inject({ endpoint: 'trades', status: 503, times: 2 })
    const r = await cbJson<RunReport>(['backfill', 'coinbase:SKL-USD', ...TRADES, '--from', '2021-04-17T16:43', '--to', '2021-04-17T16:45'], lake)
    server.clearFaults()
    expect(r).toMatchObject({ retries: 2, failed: 0, rowsFetched: 53 })
    const slowLake = tempDir()
    server.inject({ endpoint: 'trades', delayMs: 1500, times: 1 })
    const t = await cbJson<RunReport>(['backfill', 'coinbase:SKL-USD', ...TRADES, '--from', '2021-04-17T16:43', '--to', '2021-04-17T16:45', '--timeout', '400'], slowLake)
    server.clearFaults()
    expect(t).toMatchObject({ retries: 1, failed: 0, rowsFetched: 53 })
    const failLake = tempDir()
    server.inject({ endpoint: 'candles', skip: 1, status: 502, times: Infinity })
    const f = await cb(['backfill', 'coinbase:BTC-USD', ...DAY, '--retries', '1', '--concurrency', '1'], failLake)
    server.clearFaults()
    expect(f.code).toBe(1)
    expect(f.stderr).toMatch(/coinbase: GET \S+ failed with HTTP 502: Internal server error; retry 1\/1 in \d+ ms/)
    expect(f.stderr.trim().split('\n').at(-1)).toMatch(/^mercury: coinbase:BTC-USD bars 1m: stopped: GET \S+\/candles\?granularity=60&start=2023-03-24T05%3A00%3A00Z&end=2023-03-24T09%3A59%3A00Z failed with HTTP 502: Internal server error; complete up to 2023-03-24T05:00:00Z, the same command resumes from there$/)
    expect(cliJson<LsRow[]>(['data', 'ls'], failLake)[0]).toMatchObject({ rows: 300, last: '2023-03-24T04:59:00Z' })
  })
})

describe('coinbase gaps and --repair', () => {
  it('repairs a hole in the bars, leaves the minutes Coinbase never published as an exchange gap, and never re-asks for them', async () => {
    const lake = tempDir()
    // Two runs with 06:00 to 07:59 never asked for: an open hole
    await cbJson(['backfill', 'coinbase:BTC-USD', '--from', '2023-03-24T00:00', '--to', '2023-03-24T06:00'], lake)
    await cbJson(['backfill', 'coinbase:BTC-USD', '--from', '2023-03-24T08:00', '--to', '2023-03-25T00:00'], lake)
    const before = cliJson<GapsJson>(['data', 'gaps', 'coinbase:BTC-USD', '--interval', '1m'], lake)
    expect(before.gaps.map((g) => [g.from, g.missing, g.state])).toEqual([
      ['2023-03-24T06:00:00Z', 120, 'open'],
      ['2023-03-24T12:40:00Z', 80, 'exchange_gap'],
    ])
    const n0 = server.log.length
    type Repair = { datasets: { instrument: string; kind: string; gaps: { from?: string; fromId?: number; state: string; rowsFetched: number }[] }[]; repaired: number; exchangeGaps: number; open: number }
    const r = await cbJson<Repair>(['backfill', '--repair', 'coinbase:BTC-USD'], lake)
    expect(r).toMatchObject({ repaired: 1, exchangeGaps: 1, open: 0 })
    expect(r.datasets[0].gaps.map((g) => [g.from, g.state, g.rowsFetched])).toEqual([
      ['2023-03-24T06:00:00Z', 'repaired', 120],
      ['2023-03-24T12:40:00Z', 'exchange_gap', 0],
    ])
    // Only the open hole was asked for
    expect(server.log.slice(n0).map((e) => [e.params.start, e.params.end])).toEqual([['2023-03-24T06:00:00Z', '2023-03-24T07:59:00Z']])
    const after = cliJson<GapsJson>(['data', 'gaps', 'coinbase:BTC-USD', '--interval', '1m'], lake)
    expect(after.gaps.map((g) => [g.from, g.to, g.state])).toEqual([
      ['2023-03-24T06:00:00Z', '2023-03-24T07:59:00Z', 'repaired'],
      ['2023-03-24T12:40:00Z', '2023-03-24T13:59:00Z', 'exchange_gap'],
    ])
    expect(after).toMatchObject({ count: 1, missing: 80 })
    expect(cliJson<LsRow[]>(['data', 'ls'], lake)[0]).toMatchObject({ rows: 1360, gaps: 1, missing: 80 })
    const n1 = server.log.length
    expect(await cbJson<Repair>(['backfill', '--repair'], lake)).toMatchObject({ repaired: 0, exchangeGaps: 1, open: 0 })
    expect(server.log.length).toBe(n1)
    // --recheck asks again, and Coinbase still has nothing there
    const re = await cbJson<Repair>(['backfill', '--repair', '--recheck'], lake)
    expect(re).toMatchObject({ exchangeGaps: 1, open: 0 })
    expect(server.log.slice(n1).map((e) => e.params.start)).toEqual(['2023-03-24T12:40:00Z'])
  })

  it('repairs a hole in the trades by id, and records trade ids Coinbase never published as an exchange gap', async () => {
    const lake = tempDir()
    await cbJson(['backfill', 'coinbase:BTC-USD', ...TRADES, '--from', '2024-08-08T23:56', '--to', '2024-08-08T23:58'], lake)
    await cbJson(['backfill', 'coinbase:BTC-USD', ...TRADES, '--from', '2024-08-09T00:00', '--to', '2024-08-09T00:02'], lake)
    const hole = btcBetween('2024-08-08T23:58:00Z', '2024-08-09T00:00:00Z')
    const gaps = cliJson<GapsJson>(['data', 'gaps', 'coinbase:BTC-USD', '--kind', 'trades'], lake)
    expect(gaps.gaps).toEqual([expect.objectContaining({ fromId: hole[0].trade_id, toId: hole.at(-1)!.trade_id, missing: hole.length, state: 'open' })])
    const n0 = server.log.length
    const r = await cbJson<{ datasets: { kind: string; gaps: { fromId: number; toId: number; state: string; rowsFetched: number }[] }[]; repaired: number; open: number }>(['backfill', '--repair', 'coinbase:BTC-USD'], lake)
    expect(r).toMatchObject({ repaired: 1, open: 0 })
    expect(r.datasets).toEqual([expect.objectContaining({ kind: 'trades', gaps: [{ fromId: hole[0].trade_id, toId: hole.at(-1)!.trade_id, missing: hole.length, state: 'repaired', rowsFetched: hole.length, error: null }] })])
    // The newest trades, then windows from the first missing id: no lookup by time
    const afters = server.log.slice(n0).map((e) => e.params.after)
    expect(afters[0]).toBeUndefined()
    expect(afters.slice(1).sort()).toEqual(Array.from({ length: Math.ceil(hole.length / 1000) }, (_, i) => String(Math.min(hole[0].trade_id + 1000 * (i + 1), hole.at(-1)!.trade_id + 1))).sort())
    const all = btcBetween('2024-08-08T23:56:00Z', '2024-08-09T00:02:00Z')
    const q = cliJson<{ n: number; d: number }[]>(['data', 'query', 'SELECT count(*)::INT n, count(DISTINCT id)::INT d FROM trades'], lake)
    expect(q).toEqual([{ n: all.length, d: all.length }])
    expect(cliJson<GapsJson>(['data', 'gaps', 'coinbase:BTC-USD', '--kind', 'trades'], lake)).toMatchObject({ count: 0, gaps: [expect.objectContaining({ state: 'repaired' })] })

    // Ids the exchange never published: asked for, answered without them
    const missingFrom = hole[100].trade_id
    const sparse = await startCoinbaseRestServer({ products: { 'BTC-USD': { trades: btcTrades } }, omitIds: { 'BTC-USD': [[missingFrom, missingFrom + 9]] } })
    try {
      const lake2 = tempDir()
      await runJson(['backfill', 'coinbase:BTC-USD', ...TRADES, '--from', '2024-08-08T23:58', '--to', '2024-08-09T00:00'], lake2, sparse.url)
      const g = cliJson<GapsJson>(['data', 'gaps', 'coinbase:BTC-USD', '--kind', 'trades'], lake2)
      expect(g.gaps).toEqual([expect.objectContaining({ fromId: missingFrom, toId: missingFrom + 9, missing: 10, state: 'exchange_gap' })])
      expect(g.gaps[0].note).toMatch(/without a trade/)
      const n1 = sparse.log.length
      const rr = await runCli(['backfill', '--repair', '--json'], lake2, { env: { MERCURY_COINBASE_REST_URL: sparse.url } })
      expect(rr.code, rr.stderr).toBe(0)
      expect(JSON.parse(rr.stdout)).toMatchObject({ repaired: 0, exchangeGaps: 1, open: 0 })
      expect(sparse.log.length).toBe(n1)
    } finally {
      await sparse.close()
    }
  })
})
