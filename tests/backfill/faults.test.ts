import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cliJson, tempDir, type LsRow } from '../helpers.js'
import type { BinanceRestServer } from '../servers/binance-rest.js'
import { KLINES_PATH, ms, realServer, runCli, startTimes } from './util.js'

interface RunReport {
  targets: { instrument: string; status: string; error: string | null; rowsFetched: number; coveredTo: string; requests: number }[]
  failed: number
  retries: number
  rateLimited: number
  pausedMs: number
  budgetWaits: number
  maxWindowWeight: Record<string, number>
  rowsFetched: number
}

const MARCH = ['--from', '2023-03-01', '--to', '2023-04-01']

let server: BinanceRestServer
beforeAll(async () => {
  server = await realServer()
})
afterAll(() => server.close())

const bars = (lake: string, exchange = 'binance') =>
  cliJson<LsRow[]>(['data', 'ls'], lake).find((r) => r.kind === 'bars' && r.instrument === `${exchange}:BTCUSDT`)

describe('REST backfill under rate limits and failures', () => {
  it('pauses for the Retry-After of a 429, then completes', async () => {
    for (const concurrency of ['1', '4']) {
      const lake = tempDir()
      const n0 = server.log.length
      server.inject({ path: KLINES_PATH, skip: 5, status: 429, retryAfter: 1 })
      const r = await runCli(['backfill', 'binance:BTCUSDT', ...MARCH, '--rest-url', server.url, '--concurrency', concurrency, '--json'], lake)
      server.clearFaults()
      expect(r.code, r.stderr).toBe(0)
      const report = JSON.parse(r.stdout) as RunReport
      expect(report).toMatchObject({ rateLimited: 1, failed: 0 })
      expect(report.pausedMs).toBeGreaterThanOrEqual(900)
      const log = server.log.slice(n0)
      const limited = log.filter((e) => e.status === 429)
      expect(limited).toHaveLength(1)
      const t429 = limited[0].answeredAt
      // One request at a time: the next one comes a full second later. Four in flight: those sent before the
      // client read the 429 may land just after it, then nothing until the second has passed
      const grace = concurrency === '1' ? 0 : 400
      const after = log.filter((e) => e.at > t429 + grace)
      expect(after.length).toBeGreaterThan(0)
      expect(Math.min(...after.map((e) => e.at)) - t429, `concurrency ${concurrency}`).toBeGreaterThanOrEqual(1000)
      expect(log.filter((e) => e.at > t429 && e.at <= t429 + grace).length).toBeLessThanOrEqual(3)
      expect(r.stderr).toMatch(/HTTP 429, pausing 1\.0 s as Retry-After asks/)
      expect(bars(lake)).toMatchObject({ rows: 44_560, gaps: 1, missing: 80 })
    }
  })

  it('stops an instrument on a 418 with a clear message, finishes the others, exits non-zero, and resumes later', async () => {
    const lake = tempDir()
    const env = { MERCURY_BINANCE_REST_URL: server.url, MERCURY_BINANCE_FUTURES_REST_URL: server.url }
    const n0 = server.log.length
    server.inject({ path: KLINES_PATH, skip: 6, status: 418, retryAfter: 120 })
    const r = await runCli(['backfill', 'binance:BTCUSDT', 'binance-futures:BTCUSDT', ...MARCH, '--json', '--batch-rows', '2000'], lake, { env })
    server.clearFaults()
    expect(r.code).toBe(1)
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('mercury: '))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(
      /^mercury: binance:BTCUSDT bars 1m: binance banned this IP \(HTTP 418\) for 120 s; stopped this instrument, complete up to 2023-03-0\dT\d\d:\d\d:00Z\. Run the same command again after the ban until .* to resume$/,
    )
    const report = JSON.parse(r.stdout) as RunReport
    expect(report.failed).toBe(1)
    expect(report.targets.map((t) => [t.instrument, t.status])).toEqual([['binance:BTCUSDT', 'failed'], ['binance-futures:BTCUSDT', 'done']])
    const log = server.log.slice(n0)
    const ban = log.find((e) => e.status === 418)
    // No spot request after the ban, beyond those already in flight
    const spotAfter = log.filter((e) => e.market === 'spot' && ban && e.at > ban.answeredAt + 400)
    expect(spotAfter).toEqual([])
    expect(bars(lake, 'binance-futures')).toMatchObject({ rows: 44_560 })
    // What was committed before the ban stays, and the same command later resumes from there
    const kept = bars(lake)?.rows ?? 0
    expect(kept).toBeGreaterThan(0)
    expect(kept).toBeLessThan(44_560)
    const n1 = server.log.length
    const again = await runCli(['backfill', 'binance:BTCUSDT', 'binance-futures:BTCUSDT', ...MARCH, '--json'], lake, { env })
    expect(again.code, again.stderr).toBe(0)
    const resumed = server.log.slice(n1)
    expect(resumed.every((e) => e.market === 'spot')).toBe(true)
    expect(startTimes(resumed)[0]).toBeGreaterThan(ms('2023-03-01T00:00:00Z'))
    expect(bars(lake)).toMatchObject({ rows: 44_560, gaps: 1, missing: 80 })
  })

  it('never exceeds the weight budget (--max-weight 50 against a server that counts it per window)', async () => {
    // The server counts weight in 2 s windows (and says so in its X-MBX-USED-WEIGHT-2S header) to keep the test short
    const strict = await realServer({ weightWindow: '2S', weightLimit: { spot: 50 } })
    try {
      const lake = tempDir()
      const r = await runCli(['backfill', 'binance:BTCUSDT', ...MARCH, '--rest-url', strict.url, '--max-weight', '50', '--json'], lake)
      expect(r.code, r.stderr).toBe(0)
      const report = JSON.parse(r.stdout) as RunReport
      expect(strict.log.filter((e) => e.status !== 200)).toEqual([])
      expect(strict.maxUsedWeight.spot).toBeLessThanOrEqual(50)
      const perWindow = new Map<number, number>()
      for (const e of strict.log) perWindow.set(Math.floor(e.at / 2000), (perWindow.get(Math.floor(e.at / 2000)) ?? 0) + e.weight)
      expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(50)
      // 90 weight needed, so the budget really had to wait for the next window
      expect(perWindow.size).toBeGreaterThanOrEqual(2)
      expect(report.budgetWaits).toBeGreaterThan(0)
      expect(report.maxWindowWeight.binance).toBeLessThanOrEqual(50)
      expect(bars(lake)).toMatchObject({ rows: 44_560 })
    } finally {
      await strict.close()
    }
  })

  it('retries 500s and timeouts and still completes the data', async () => {
    const lake = tempDir()
    const n0 = server.log.length
    server.inject({ path: KLINES_PATH, skip: 2, times: 3, status: 500 })
    server.inject({ path: KLINES_PATH, skip: 12, times: 2, delayMs: 2500 })
    const r = await runCli(['backfill', 'binance:BTCUSDT', ...MARCH, '--rest-url', server.url, '--timeout', '700', '--json'], lake)
    server.clearFaults()
    expect(r.code, r.stderr).toBe(0)
    const report = JSON.parse(r.stdout) as RunReport
    expect(report.retries).toBe(5)
    const log = server.log.slice(n0)
    expect(log.filter((e) => e.status === 500)).toHaveLength(3)
    expect(r.stderr).toMatch(/failed with HTTP 500: -1001 Internal error.*; retry 1\/5 in \d+ ms/)
    expect(r.stderr).toMatch(/timed out after 700 ms; retry \d\/5/)
    expect(bars(lake)).toMatchObject({ rows: 44_560, gaps: 1, missing: 80 })
  })

  it('gives up on an instrument after the retries, naming it, and exits 1', async () => {
    const lake = tempDir()
    server.inject({ path: KLINES_PATH, skip: 1, times: Infinity, status: 503 })
    const r = await runCli(['backfill', 'binance:BTCUSDT', ...MARCH, '--rest-url', server.url, '--retries', '1', '--concurrency', '1'], lake)
    server.clearFaults()
    expect(r.code).toBe(1)
    expect(r.stderr.split('\n').filter((l) => l.startsWith('mercury: '))).toEqual([
      expect.stringMatching(/^mercury: binance:BTCUSDT bars 1m: stopped: GET http:\/\/127\.0\.0\.1:\d+\/api\/v3\/klines\?.* failed with HTTP 503.*; complete up to 2023-03-01T16:40:00Z, the same command resumes from there$/),
    ])
  })
})
