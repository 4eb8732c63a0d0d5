import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { idPages, timePages } from '../../src/lib/backfill/pager.js'
import { addCovered, uncovered } from '../../src/lib/backfill/ranges.js'
import { backoffMs } from '../../src/lib/net/backoff.js'
import { usedWeightHeader, WeightBudget } from '../../src/lib/net/budget.js'
import { RestClient } from '../../src/lib/net/client.js'
import { BannedError, RejectedError, RequestTimeoutError, ServerError } from '../../src/lib/net/errors.js'
import { redactUrl, retryAfterMs } from '../../src/lib/net/http.js'
import { startBinanceRestServer, type BinanceRestServer } from '../servers/binance-rest.js'
import { realKlines } from './util.js'

describe('weight budget', () => {
  it('reads the used-weight header, preferring the 1-minute counter', () => {
    expect(usedWeightHeader(new Headers({ 'X-MBX-USED-WEIGHT-1S': '3', 'X-MBX-USED-WEIGHT-1M': '120' }))).toEqual({ used: 120, windowMs: 60_000 })
    expect(usedWeightHeader(new Headers({ 'x-mbx-used-weight-2s': '7' }))).toEqual({ used: 7, windowMs: 2000 })
    expect(usedWeightHeader(new Headers({ 'x-mbx-used-weight': '7' }))).toBeUndefined()
  })

  it('never lets concurrent requests past the limit of any window', async () => {
    const b = new WeightBudget(10, 250)
    const at: number[] = []
    await Promise.all(Array.from({ length: 12 }, () => b.acquire(3).then(() => at.push(Date.now()))))
    const perWindow = new Map<number, number>()
    for (const t of at) perWindow.set(Math.floor(t / 250), (perWindow.get(Math.floor(t / 250)) ?? 0) + 3)
    expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(10)
    expect(b.snapshot()).toMatchObject({ weight: 36 })
    expect(b.snapshot().maxWindowWeight).toBeLessThanOrEqual(10)
    expect(b.snapshot().waits).toBeGreaterThan(0)
  })

  it("takes the exchange's count and window from the header (another process on the IP spent weight)", async () => {
    const b = new WeightBudget(10)
    b.observe(new Headers({ 'x-mbx-used-weight-1s': '9' }), Date.now())
    expect(b.window).toBe(1000)
    const t0 = Date.now()
    const nextWindow = Math.floor(t0 / 1000) * 1000 + 1000
    await b.acquire(2)
    expect(Date.now()).toBeGreaterThanOrEqual(nextWindow)
  })

  it('keeps counting requests still in flight when the header names another window', async () => {
    // Four requests reserved under the assumed 1-minute window; the first answer says the exchange counts per
    // second and has seen only that one request. The other three will still be counted there when they arrive
    let clock = 1_000_000_000_500
    const b = new WeightBudget(10, 60_000, () => clock)
    for (let i = 0; i < 4; i++) await b.acquire(2)
    b.observe(new Headers({ 'x-mbx-used-weight-1s': '2' }), clock)
    expect(b.window).toBe(1000)
    // 8 of 10 are taken in this window: one more request of 2 fits, the next has to wait for the next window
    await b.acquire(2)
    let waited = false
    const next = b.acquire(2).then(() => (waited = true))
    await new Promise((r) => setTimeout(r, 20))
    expect(waited).toBe(false)
    clock += 1000
    await next
    expect(b.snapshot().maxWindowWeight).toBe(10)
  })

  it('rejects a request heavier than the whole budget instead of waiting forever', async () => {
    await expect(new WeightBudget(5).acquire(10)).rejects.toThrow(/can never fit a budget of 5/)
  })
})

describe('backoff, Retry-After, URLs', () => {
  it('doubles from the base, caps, and jitters between half and all of the step', () => {
    const o = { baseMs: 100, capMs: 1000 }
    expect(backoffMs(1, o, () => 0)).toBe(50)
    expect(backoffMs(1, o, () => 1)).toBe(100)
    expect(backoffMs(3, o, () => 1)).toBe(400)
    expect(backoffMs(10, o, () => 1)).toBe(1000)
    expect(backoffMs(10, o, () => 0)).toBe(500)
  })

  it('parses Retry-After in seconds or as a date, and hides credentials in URLs', () => {
    expect(retryAfterMs(new Headers({ 'retry-after': '1' }))).toBe(1000)
    expect(retryAfterMs(new Headers({ 'retry-after': '0.5' }))).toBe(500)
    expect(retryAfterMs(new Headers({ 'retry-after': 'Wed, 21 Oct 2015 07:28:10 GMT' }), Date.parse('2015-10-21T07:28:00Z'))).toBe(10_000)
    expect(retryAfterMs(new Headers())).toBeUndefined()
    expect(redactUrl('https://me:secret@api.example.com/api/v3/klines?symbol=X')).toBe('https://api.example.com/api/v3/klines?symbol=X')
  })
})

describe('covered ranges', () => {
  it('merges touching and overlapping ranges, keeping the end id', () => {
    let c = addCovered([], { from: 10, to: 20 })
    c = addCovered(c, { from: 30, to: 40, nextId: 7 })
    expect(c).toEqual([{ from: 10, to: 20 }, { from: 30, to: 40, nextId: 7 }])
    c = addCovered(c, { from: 20, to: 30 })
    expect(c).toEqual([{ from: 10, to: 40, nextId: 7 }])
    expect(addCovered(c, { from: 15, to: 50, nextId: 9 })).toEqual([{ from: 10, to: 50, nextId: 9 }])
    expect(addCovered(c, { from: 5, to: 5 })).toEqual(c)
  })

  it('lists what is not covered, resuming id-paged kinds at the covered end', () => {
    const c = [{ from: 10, to: 20, nextId: 100 }, { from: 30, to: 40 }]
    expect(uncovered(0, 50, c)).toEqual([{ from: 0, to: 10 }, { from: 20, to: 30, fromId: 100 }, { from: 40, to: 50 }])
    expect(uncovered(12, 18, c)).toEqual([])
    expect(uncovered(20, 25, c)).toEqual([{ from: 20, to: 25, fromId: 100 }])
    expect(uncovered(35, 40, c)).toEqual([])
  })
})

describe('pagers', () => {
  // Keys every 10 µs from 0 to 990 with a hole from 300 to 590: a listing, an outage and the end of the data
  const keys = Array.from({ length: 100 }, (_, i) => i * 10).filter((k) => k < 300 || k >= 600)

  const fetcher = () => {
    const calls: [number, number][] = []
    return {
      calls,
      fetch: async (s: number, e: number, limit: number) => {
        calls.push([s, e])
        await new Promise((r) => setTimeout(r, Math.random() * 3))
        return keys.filter((k) => k >= s && k < e).slice(0, limit)
      },
    }
  }

  it('probe-windows: every row once, in order, empty stretches cost one probe each', async () => {
    const f = fetcher()
    const got: number[] = []
    const covered: number[] = []
    for await (const p of timePages({ from: -500, to: 5000, limit: 10, mode: 'probe-windows', windowUs: 100, stepUs: 10, concurrency: 3, fetch: f.fetch, keyOf: (k) => k })) {
      got.push(...p.rows)
      covered.push(p.coveredTo)
    }
    expect(got).toEqual(keys)
    expect(covered).toEqual([...covered].sort((a, b) => a - b))
    expect(covered.at(-1)).toBe(5000)
    // 7 full pages; the hole and the end each cost one empty window and the 2 windows in flight behind it; the
    // end costs one last empty probe
    expect(f.calls.length).toBeLessThanOrEqual(7 + 2 * (1 + 2) + 1)
  })

  it('windows: a fixed grid of windows, never more than limit rows each', async () => {
    const f = fetcher()
    const got: number[] = []
    for await (const p of timePages({ from: 0, to: 1000, limit: 10, mode: 'windows', windowUs: 100, stepUs: 10, concurrency: 4, fetch: f.fetch, keyOf: (k) => k })) got.push(...p.rows)
    expect(got).toEqual(keys)
    expect(f.calls).toHaveLength(10)
    for (const [s, e] of f.calls) expect(e - s).toBeLessThanOrEqual(100)
  })

  it('probe: follows the last key (funding) and stops at a short page', async () => {
    const f = fetcher()
    const got: number[] = []
    for await (const p of timePages({ from: 0, to: 1000, limit: 25, mode: 'probe', stepUs: 1, concurrency: 1, fetch: f.fetch, keyOf: (k) => k })) got.push(...p.rows)
    expect(got).toEqual(keys)
    expect(f.calls.map((c) => c[0])).toEqual([0, 241, 791])
  })

  // Trades: id i at time 1000 + 10 * i; ids 40 to 44 missing (not contiguous) to prove nothing is skipped
  const trades = Array.from({ length: 100 }, (_, i) => ({ id: i, t: 1000 + 10 * i })).filter((x) => x.id < 40 || x.id > 44)
  const tradeFetch = () => {
    const calls: string[] = []
    return {
      calls,
      fetchFrom: async (s: number, n: number) => (calls.push(`t${s}`), trades.filter((x) => x.t >= s).slice(0, n)),
      fetchId: async (id: number, n: number) => (calls.push(`i${id}`), trades.filter((x) => x.id >= id).slice(0, n)),
    }
  }

  it('ids: from a time, in windows, cut at the end time with the next id', async () => {
    const f = tradeFetch()
    const pages = []
    for await (const p of idPages({ from: 1055, to: 1805, limit: 10, concurrency: 3, settledBefore: 1e9, ...f, idOf: (x) => x.id, timeOf: (x) => x.t })) pages.push(p)
    const ids = pages.flatMap((p) => p.rows.map((x) => x.id))
    expect(ids).toEqual(trades.filter((x) => x.t >= 1055 && x.t < 1805).map((x) => x.id))
    expect(pages.at(-1)).toMatchObject({ coveredTo: 1805, nextId: 81 })
    expect(f.calls[0]).toBe('t1055')
  })

  it('ids: resumes from an id; the end of the data completes a settled range, or stops at the last time', async () => {
    const f = tradeFetch()
    const pages = []
    for await (const p of idPages({ from: 1500, to: 5000, fromId: 50, limit: 10, concurrency: 2, settledBefore: 1e9, ...f, idOf: (x) => x.id, timeOf: (x) => x.t })) pages.push(p)
    expect(pages.flatMap((p) => p.rows.map((x) => x.id))).toEqual(Array.from({ length: 50 }, (_, i) => 50 + i))
    expect(f.calls[0]).toBe('i50')
    expect(pages.at(-1)).toMatchObject({ coveredTo: 5000, nextId: 100 })
    const live = []
    for await (const p of idPages({ from: 1500, to: 5000, fromId: 50, limit: 10, concurrency: 2, settledBefore: 3000, ...tradeFetch(), idOf: (x) => x.id, timeOf: (x) => x.t })) live.push(p)
    expect(live.at(-1)).toMatchObject({ coveredTo: 1990, nextId: 100 })
  })
})

describe('REST client against the local server', () => {
  let server: BinanceRestServer
  beforeAll(async () => {
    server = await startBinanceRestServer({ spot: { klines: { BTCUSDT: { '1m': (await realKlines()).slice(0, 3000) } } } })
  })
  afterAll(() => server.close())
  const client = (o: { timeoutMs?: number; retries?: number } = {}) =>
    new RestClient({ baseUrl: server.url, name: 'binance', budget: new WeightBudget(6000), timeoutMs: o.timeoutMs ?? 2000, retries: o.retries ?? 3, backoff: { baseMs: 20, capMs: 100 } })
  const q = { symbol: 'BTCUSDT', interval: '1m', limit: 5 }

  it('retries 5xx and timeouts, pauses on 429, and classifies 418 and 400', async () => {
    server.inject({ path: '/api/v3/klines', status: 500, times: 2 })
    const c1 = client()
    expect(await c1.getJson<unknown[]>('/api/v3/klines', q, 2)).toHaveLength(5)
    expect(c1.snapshot()).toMatchObject({ requests: 3, retries: 2 })

    server.inject({ path: '/api/v3/klines', delayMs: 1000, times: 1 })
    const c2 = client({ timeoutMs: 200 })
    expect(await c2.getJson<unknown[]>('/api/v3/klines', q, 2)).toHaveLength(5)
    expect(c2.snapshot().retries).toBe(1)

    server.inject({ path: '/api/v3/klines', status: 429, retryAfter: 0.3, times: 1 })
    const c3 = client()
    const t0 = Date.now()
    expect(await c3.getJson<unknown[]>('/api/v3/klines', q, 2)).toHaveLength(5)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300)
    expect(c3.snapshot()).toMatchObject({ rateLimited: 1, retries: 0 })

    server.inject({ path: '/api/v3/klines', status: 418, retryAfter: 120, times: 1 })
    const banned = await client().getJson('/api/v3/klines', q, 2).catch((e: unknown) => e)
    expect(banned).toBeInstanceOf(BannedError)
    expect((banned as BannedError).retryAfterMs).toBe(120_000)

    const rejected = await client().getJson('/api/v3/klines', { ...q, symbol: 'NOPE' }, 2).catch((e: unknown) => e)
    expect(rejected).toBeInstanceOf(RejectedError)
    expect((rejected as Error).message).toMatch(/HTTP 400: -1121 Invalid symbol\./)

    server.inject({ path: '/api/v3/klines', status: 503, times: 5 })
    const gaveUp = await client({ retries: 2 }).getJson('/api/v3/klines', q, 2).catch((e: unknown) => e)
    expect(gaveUp).toBeInstanceOf(ServerError)
    server.clearFaults()

    server.inject({ path: '/api/v3/klines', delayMs: 1000, times: 5 })
    const slow = await client({ timeoutMs: 100, retries: 1 }).getJson('/api/v3/klines', q, 2).catch((e: unknown) => e)
    expect(slow).toBeInstanceOf(RequestTimeoutError)
    expect((slow as Error).message).toMatch(/timed out after 100 ms/)
    server.clearFaults()
  })
})
