import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OUTAGE, cli, cliJson, tempDir, treeHash, type LsRow } from '../helpers.js'
import type { BinanceRestServer } from '../servers/binance-rest.js'
import { MONTH_ZIPS, ms, readBars, realServer, runCli, runJson, startTimes } from './util.js'

interface RunReport {
  targets: { instrument: string; status: string; requests: number; rowsFetched: number; rowsWritten: number; resumedFrom: string | null; coveredTo: string; error: string | null }[]
  requests: number
  rowsWritten: number
  rowsFetched: number
}

let server: BinanceRestServer
beforeAll(async () => {
  server = await realServer()
})
afterAll(() => server.close())

const MARCH = ['--from', '2023-03-01', '--to', '2023-04-01']

describe('REST backfill of bars against the local Binance', () => {
  it('gives the same rows as importing the archive of the month, and a second run requests and writes nothing', async () => {
    const viaArchive = tempDir()
    expect(cli(['backfill', '--archive', OUTAGE], viaArchive).code).toBe(0)
    const lake = tempDir()
    const n0 = server.log.length
    const first = await runJson<RunReport>(['backfill', 'binance:BTCUSDT', '--kind', 'bars', '--interval', '1m', ...MARCH, '--rest-url', server.url], lake)
    const firstLog = server.log.slice(n0)
    expect(first.targets[0]).toMatchObject({ status: 'done', rowsFetched: 44_560, rowsWritten: 44_560 })
    // One request per 1000 minutes of the month, at the largest page
    expect(firstLog).toHaveLength(Math.ceil((31 * 1440) / 1000))
    expect(firstLog.every((e) => e.params.limit === '1000' && e.status === 200)).toBe(true)

    const rest = await readBars(lake)
    const archive = await readBars(viaArchive)
    expect(rest.length).toBe(44_560)
    for (const c of Object.keys(archive.columns) as (keyof typeof archive.columns)[]) {
      expect([...rest.columns[c]], c).toEqual([...archive.columns[c]])
    }
    // The real 2023-03-24 outage is a gap in both, not something the backfill invents or fills
    const gaps = cliJson<{ gaps: { from: string; missing: number }[] }>(['data', 'gaps', 'binance:BTCUSDT', '--interval', '1m'], lake)
    expect(gaps.gaps).toEqual([expect.objectContaining({ from: '2023-03-24T12:40:00Z', missing: 80 })])

    const before = treeHash(lake)
    const n1 = server.log.length
    const again = await runJson<RunReport>(['backfill', 'binance:BTCUSDT', ...MARCH, '--rest-url', server.url], lake)
    expect(server.log.length - n1).toBe(0)
    expect(again).toMatchObject({ requests: 0, rowsWritten: 0 })
    expect(treeHash(lake)).toEqual(before)

    // Extending the range asks only for the new part: one request past the last page, nothing written
    const n2 = server.log.length
    const more = await runJson<RunReport>(['backfill', 'binance:BTCUSDT', '--from', '2023-03-01', '--to', '2023-04-02', '--rest-url', server.url], lake)
    const moreLog = server.log.slice(n2)
    expect(moreLog).toHaveLength(1)
    expect(startTimes(moreLog)).toEqual([ms('2023-04-01T00:00:00Z')])
    expect(more.rowsWritten).toBe(0)
    expect(more.targets[0].resumedFrom).toBe('2023-04-01T00:00:00Z')

    // The checkpoint sits in the lake folder and names the complete range
    const cp = JSON.parse(readFileSync(join(lake, '_state', 'backfill', 'binance', 'BTCUSDT', 'bars-1m.json'), 'utf8'))
    expect(cp.ranges).toEqual([expect.objectContaining({ fromIso: '2023-03-01T00:00:00Z', toIso: '2023-04-02T00:00:00Z' })])
  })

  it('without --to runs up to the last closed bar; the next run asks once past the last page and writes nothing', async () => {
    const lake = tempDir()
    const n0 = server.log.length
    const first = await runJson<RunReport>(['backfill', 'binance:BTCUSDT', '--from', '2024-12-31', '--rest-url', server.url], lake)
    // 2,880 rows in 3 pages; after the recorded data ends, one empty window (and those in flight behind it) and one probe
    expect(first.targets[0]).toMatchObject({ status: 'done', rowsFetched: 2880 })
    expect(server.log.length - n0).toBeLessThanOrEqual(3 + 4 + 1)
    const n1 = server.log.length
    const again = await runJson<RunReport>(['backfill', 'binance:BTCUSDT', '--from', '2024-12-31', '--rest-url', server.url], lake)
    const log = server.log.slice(n1)
    expect(log).toHaveLength(1)
    expect(log[0].rows).toBe(0)
    expect(Number(log[0].params.startTime)).toBeGreaterThan(ms('2025-01-02T00:00:00Z'))
    expect(again).toMatchObject({ rowsWritten: 0, rowsFetched: 0 })
  })

  it('pages USD-M klines at 1500 rows (weight 10) and stores them as binance-futures', async () => {
    const lake = tempDir()
    const n0 = server.log.length
    const run = await runCli(['backfill', 'binance-futures:BTCUSDT', ...MARCH, '--rest-url', server.url, '--batch-rows', '20000', '--json'], lake)
    expect(run.code, run.stderr).toBe(0)
    const r = JSON.parse(run.stdout) as RunReport
    // Progress on stderr: one line per commit when stderr is not a terminal, with rate and ETA
    const progress = run.stderr.trim().split('\n')
    expect(progress).toHaveLength(3)
    expect(progress[0]).toMatch(/^binance-futures:BTCUSDT bars 1m: \d+% to 2023-03-\d\dT\d\d:\d\d:00Z, [\d,]+ rows, [\d,]+ rows\/s, \d+ requests, ETA \d+s$/)
    expect(progress[2]).toMatch(/: 100% to 2023-04-01T00:00:00Z, 44,560 rows, .* ETA 0s$/)
    const log = server.log.slice(n0)
    expect(r.targets[0]).toMatchObject({ instrument: 'binance-futures:BTCUSDT', rowsFetched: 44_560 })
    expect(log).toHaveLength(Math.ceil((31 * 1440) / 1500))
    expect(log.every((e) => e.path === '/fapi/v1/klines' && e.params.limit === '1500' && e.weight === 10)).toBe(true)
    expect((await readBars(lake, 'binance-futures')).length).toBe(44_560)
  })

  it('starts after what the lake already holds (an archive import), without a checkpoint', async () => {
    const lake = tempDir()
    expect(cli(['backfill', '--archive', MONTH_ZIPS[0], MONTH_ZIPS[1]], lake).code).toBe(0)
    const n0 = server.log.length
    const r = await runJson<RunReport>(['backfill', 'binance:BTCUSDT', '--from', '2024-11-01', '--to', '2025-01-02', '--rest-url', server.url], lake)
    const log = server.log.slice(n0)
    expect(startTimes(log)[0]).toBe(ms('2025-01-01T00:00:00Z'))
    expect(r.targets[0]).toMatchObject({ rowsFetched: 1440, resumedFrom: '2025-01-01T00:00:00Z' })
    const ls = cliJson<LsRow[]>(['data', 'ls'], lake)
    expect(ls[0]).toMatchObject({ rows: 89_280, gaps: 0, first: '2024-11-01T00:00:00Z', last: '2025-01-01T23:59:00Z' })
  })

  it('--dry-run prints the plan (requests, weight, time) and sends nothing', async () => {
    const lake = tempDir()
    const n0 = server.log.length
    const plan = await runJson<{ dryRun: boolean; targets: { requests: number; weight: number; seconds: number; fetch: unknown[]; url: string; pageRows: number }[] }>(
      ['backfill', 'binance:BTCUSDT', ...MARCH, '--dry-run', '--rest-url', server.url],
      lake,
    )
    expect(server.log.length).toBe(n0)
    expect(plan.targets[0]).toMatchObject({ requests: 45, weight: 90, pageRows: 1000, url: server.url, fetch: [{ from: '2023-03-01T00:00:00Z', to: '2023-04-01T00:00:00Z' }] })
    expect(plan.targets[0].seconds).toBeGreaterThan(0)
    const table = await runCli(['backfill', 'binance:BTCUSDT', ...MARCH, '--dry-run', '--rest-url', server.url], lake)
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/binance:BTCUSDT bars 1m .*2023-03-01T00:00:00Z \.\. 2023-04-01T00:00:00Z .*45 .*90/)
    expect(table.stdout).toMatch(/dry run: nothing was sent/)
    // A dry run writes nothing, not even the lake folder
    expect(treeHash(lake)).toEqual({})
    // Presets and environment: --testnet, then the venue's variable
    const t = await runJson<{ targets: { url: string }[] }>(['backfill', 'binance-futures:BTCUSDT', ...MARCH, '--dry-run', '--testnet'], lake)
    expect(t.targets[0].url).toBe('https://testnet.binancefuture.com')
    const e = await runJson<{ targets: { url: string; urlSource: string }[] }>(['backfill', 'binance:BTCUSDT', ...MARCH, '--dry-run'], lake, { MERCURY_BINANCE_REST_URL: 'http://example.invalid:8080/' })
    expect(e.targets[0]).toMatchObject({ url: 'http://example.invalid:8080', urlSource: 'MERCURY_BINANCE_REST_URL' })
  })
})

describe('kill -9 during a REST backfill', () => {
  it('leaves a consistent lake and a checkpoint that never runs ahead of it; re-running completes with no duplicate and no hole', async () => {
    const slow = await realServer({ latencyMs: 8 })
    try {
      const reference = tempDir()
      expect(cli(['backfill', '--archive', ...MONTH_ZIPS], reference).code).toBe(0)
      const lake = tempDir()
      const args = ['backfill', 'binance:BTCUSDT', '--from', '2024-11-01', '--to', '2025-01-02', '--rest-url', slow.url, '--batch-rows', '5000', '--concurrency', '2']
      const cpPath = join(lake, '_state', 'backfill', 'binance', 'BTCUSDT', 'bars-1m.json')
      let partial = 0
      for (const killAt of [8, 20, 14]) {
        const start = slow.received
        let child: import('node:child_process').ChildProcess | undefined
        slow.o.onRequest = ({ index }) => {
          if (index - start === killAt) child?.kill('SIGKILL')
        }
        const r = await runCli(args, lake, { onSpawn: (p) => (child = p) })
        slow.o.onRequest = undefined
        expect(r.code).toBeNull()
        const ls = cliJson<LsRow[]>(['data', 'ls'], lake)
        const rows = ls[0]?.rows ?? 0
        if (rows > 0 && rows < 89_280) partial++
        if (rows > 0) {
          const q = cliJson<{ n: number; d: number; lastopen: number }[]>(['data', 'query', 'SELECT count(*)::INT n, count(DISTINCT open_time)::INT d, max(open_time) lastopen FROM bars'], lake)
          expect(q[0].n).toBe(rows)
          expect(q[0].d).toBe(rows)
          expect(ls[0].gaps).toBe(0)
          const cp = JSON.parse(readFileSync(cpPath, 'utf8')) as { ranges: { from: number; to: number }[] }
          // What the checkpoint vouches for is in the lake
          expect(cp.ranges[0].to).toBeLessThanOrEqual(q[0].lastopen + 60_000_000)
        }
      }
      expect(partial).toBeGreaterThan(0)
      const n0 = slow.log.length
      const done = await runJson<RunReport>(args, lake)
      expect(done.targets[0].status).toBe('done')
      // The last run resumed: it did not start over from --from
      expect(startTimes(slow.log.slice(n0))[0]).toBeGreaterThan(ms('2024-11-01T00:00:00Z'))
      const ls = cliJson<LsRow[]>(['data', 'ls'], lake)
      expect(ls[0]).toMatchObject({ rows: 89_280, gaps: 0, missing: 0 })
      const a = await readBars(lake)
      const b = await readBars(reference)
      for (const c of Object.keys(b.columns) as (keyof typeof b.columns)[]) expect([...a.columns[c]], c).toEqual([...b.columns[c]])
    } finally {
      await slow.close()
    }
  })
})

