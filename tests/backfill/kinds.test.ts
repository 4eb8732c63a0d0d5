import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runBackfill } from '../../src/lib/backfill/run.js'
import { LakeReader } from '../../src/lib/lake/reader.js'
import { XRPETH_AGG, cli, cliJson, tempDir, type LsRow } from '../helpers.js'
import { startBinanceRestServer, type BinanceRestServer } from '../servers/binance-rest.js'
import { FUNDING, ms, realServer, runCli, runJson } from './util.js'

interface RunReport {
  targets: { status: string; requests: number; rowsFetched: number; rowsWritten: number; resumedFrom: string | null }[]
  requests: number
  rowsWritten: number
}

const AGG = '/api/v3/aggTrades'

let server: BinanceRestServer
beforeAll(async () => {
  server = await realServer()
})
afterAll(() => server.close())

/** A digest of every stored column of a kind, in key order */
const digest = (lake: string, kind: string, key: string) =>
  cliJson<{ n: number; h: string }[]>(['data', 'query', `SELECT count(*)::INT n, md5(string_agg(CAST(x AS VARCHAR), ';' ORDER BY x.${key})) h FROM ${kind} x`], lake)[0]

describe('REST backfill of trades, funding and open interest', () => {
  it('--kind trades stores aggTrades identical to the archive import, resumes by id, and repeats nothing', async () => {
    const archive = tempDir()
    expect(cli(['backfill', '--archive', XRPETH_AGG, '--instrument', 'binance:XRPETH', '--kind', 'agg_trades'], archive).code).toBe(0)
    const lake = tempDir()
    const n0 = server.log.length
    // Half the range first, then all of it: the second run continues from the next id, not from a time
    const half = await runJson<RunReport>(['backfill', 'binance:XRPETH', '--kind', 'trades', '--from', '2019-10-11', '--to', '2019-10-12T12:00', '--rest-url', server.url], lake)
    expect(half.targets[0].status).toBe('done')
    const firstLog = server.log.slice(n0)
    expect(firstLog[0].params).toEqual({ symbol: 'XRPETH', startTime: String(ms('2019-10-11T00:00:00Z')), limit: '1000' })
    expect(firstLog.slice(1).every((e) => e.params.fromId !== undefined && e.params.startTime === undefined)).toBe(true)
    const n1 = server.log.length
    const rest = await runJson<RunReport>(['backfill', 'binance:XRPETH', '--kind', 'trades', '--from', '2019-10-11', '--to', '2019-10-14', '--rest-url', server.url], lake)
    const secondLog = server.log.slice(n1)
    expect(rest.targets[0].resumedFrom).toBe('2019-10-12T12:00:00Z')
    expect(secondLog[0].params.fromId).toBe(String(half.targets[0].rowsFetched + 13_519_807))
    expect(half.targets[0].rowsFetched + rest.targets[0].rowsFetched).toBe(12_477)
    expect(digest(lake, 'agg_trades', 'id')).toEqual(digest(archive, 'agg_trades', 'id'))
    expect(cliJson<{ count: number }>(['data', 'gaps', 'binance:XRPETH', '--kind', 'agg_trades'], lake).count).toBe(0)
    const n2 = server.log.length
    const again = await runJson<RunReport>(['backfill', 'binance:XRPETH', '--kind', 'trades', '--from', '2019-10-11', '--to', '2019-10-14', '--rest-url', server.url], lake)
    expect(again).toMatchObject({ requests: 0, rowsWritten: 0 })
    expect(server.log.length).toBe(n2)
    expect(server.log.slice(n0).every((e) => e.path === AGG && e.weight === 4 && Number(e.params.limit) === 1000)).toBe(true)
  })

  it('--kind funding stores the real funding history exactly (no mark price in the recording: NaN, not 0)', async () => {
    const lake = tempDir()
    const n0 = server.log.length
    const r = await runJson<RunReport>(['backfill', 'binance-futures:BTCUSDT', '--kind', 'funding', '--from', '2024-01-01', '--to', '2024-12-05', '--rest-url', server.url], lake)
    expect(r.targets[0]).toMatchObject({ status: 'done', rowsFetched: 999, requests: 1 })
    expect(server.log.slice(n0).map((e) => [e.path, e.params.limit])).toEqual([['/fapi/v1/fundingRate', '1000']])
    const csv = gunzipSync(readFileSync(FUNDING)).toString('utf8').trim().split('\n').slice(1).map((l) => l.split(','))
    const reader = await LakeReader.open(lake)
    try {
      const f = await reader.readColumns({ kind: 'funding', exchange: 'binance-futures', symbol: 'BTCUSDT' }, ['timestamp', 'funding_time', 'funding_rate', 'mark_price'])
      expect(f.length).toBe(999)
      expect([...f.columns.funding_time]).toEqual(csv.map((c) => Number(c[0]) * 1000))
      expect([...f.columns.timestamp]).toEqual(csv.map((c) => Number(c[0]) * 1000))
      expect([...f.columns.funding_rate]).toEqual(csv.map((c) => Number(c[1])))
      expect(f.columns.mark_price.every((x) => Number.isNaN(x))).toBe(true)
    } finally {
      reader.close()
    }
    const again = await runJson<RunReport>(['backfill', 'binance-futures:BTCUSDT', '--kind', 'funding', '--from', '2024-01-01', '--to', '2024-12-05', '--rest-url', server.url], lake)
    expect(again.requests).toBe(0)
  })

  it('pages funding from the last funding time + 1 ms (library, small pages)', async () => {
    const lake = tempDir()
    const n0 = server.log.length
    const report = await runBackfill({
      lakeDir: lake,
      targets: [{ instrument: { exchange: 'binance-futures', symbol: 'BTCUSDT' }, kind: 'funding', interval: undefined }],
      from: Date.parse('2024-01-01') * 1000,
      to: Date.parse('2024-12-05') * 1000,
      restUrl: server.url,
      pageSize: 100,
    })
    expect(report.targets[0]).toMatchObject({ status: 'done', rowsFetched: 999, requests: 10 })
    const log = server.log.slice(n0)
    const rows = JSON.parse(JSON.stringify(log.map((e) => e.params)))
    expect(rows.every((p: Record<string, string>) => p.limit === '100')).toBe(true)
    const fundingTimes = gunzipSync(readFileSync(FUNDING)).toString('utf8').trim().split('\n').slice(1).map((l) => Number(l.split(',')[0]))
    for (let k = 1; k < log.length; k++) expect(Number(log[k].params.startTime)).toBe(fundingTimes[100 * k - 1] + 1)
  })

  it('refetch: fetches a complete range again (re-checking holes) and writes nothing when the exchange agrees', async () => {
    const lake = tempDir()
    const o = {
      lakeDir: lake,
      targets: [{ instrument: { exchange: 'binance' as const, symbol: 'BTCUSDT' }, kind: 'bars' as const, interval: '1m' as const }],
      from: Date.parse('2023-03-24T00:00:00Z') * 1000,
      to: Date.parse('2023-03-25T00:00:00Z') * 1000,
      restUrl: server.url,
    }
    expect((await runBackfill(o)).targets[0]).toMatchObject({ rowsFetched: 1360, requests: 2 })
    expect((await runBackfill(o)).targets[0]).toMatchObject({ rowsFetched: 0, requests: 0 })
    expect((await runBackfill({ ...o, refetch: true })).targets[0]).toMatchObject({ rowsFetched: 1360, requests: 2, rowsWritten: 0 })
  })

  it('--kind oi keeps to the 30 days Binance serves, in windows of at most 500 periods', async () => {
    const lake = tempDir()
    const oi = await startBinanceRestServer({ futures: { openInterestHist: { BTCUSDT: { '1h': [] } } } })
    try {
      const t0 = Date.now()
      const r = await runCli(['backfill', 'binance-futures:BTCUSDT', '--kind', 'oi', '--interval', '1h', '--from', '2020-01-01', '--rest-url', oi.url], lake)
      expect(r.code, r.stderr).toBe(0)
      expect(r.stderr).toMatch(/binance-futures:BTCUSDT open interest: Binance serves only the last 30 days of openInterestHist; starting at \S+ instead of --from 2020-01-01T00:00:00Z/)
      expect(oi.log.map((e) => e.status)).toEqual([200, 200])
      for (const e of oi.log) {
        expect(e.params).toMatchObject({ symbol: 'BTCUSDT', period: '1h', limit: '500' })
        expect(Number(e.params.startTime)).toBeGreaterThanOrEqual(t0 - 30 * 86_400_000)
        expect(Number(e.params.endTime) - Number(e.params.startTime)).toBeLessThan(500 * 3_600_000)
      }
    } finally {
      await oi.close()
    }
  })

  it('stores open interest rows (the documented payload, on a server clock one day after it)', async () => {
    const lake = tempDir()
    const at = 1583127900000
    const row = { symbol: 'BTCUSDT', sumOpenInterest: '20403.63700000', sumOpenInterestValue: '150570784.07809979', timestamp: at }
    const oi = await startBinanceRestServer({ futures: { openInterestHist: { BTCUSDT: { '5m': [row] } } }, now: () => at + 86_400_000 })
    try {
      const notices: string[] = []
      const report = await runBackfill({
        lakeDir: lake,
        targets: [{ instrument: { exchange: 'binance-futures', symbol: 'BTCUSDT' }, kind: 'open_interest', interval: '5m' }],
        from: Date.parse('2020-01-01') * 1000,
        restUrl: oi.url,
        now: () => at + 86_400_000,
        onNotice: (m) => notices.push(m),
      })
      expect(notices).toHaveLength(1)
      // 30 days of 5m periods in windows of 500
      expect(report.targets[0]).toMatchObject({ status: 'done', rowsFetched: 1, requests: Math.ceil((30 * 288 - 2) / 500) })
      expect(oi.log.every((e) => e.status === 200)).toBe(true)
      const ls = cliJson<LsRow[]>(['data', 'ls'], lake)
      expect(ls).toEqual([expect.objectContaining({ kind: 'open_interest', instrument: 'binance-futures:BTCUSDT', rows: 1 })])
      const q = cliJson<{ t: string; oi: number; v: number }[]>(['data', 'query', 'SELECT time::VARCHAR t, open_interest oi, open_interest_value v FROM open_interest'], lake)
      expect(q).toEqual([{ t: '2020-03-02 05:45:00', oi: 20403.637, v: 150570784.07809979 }])
    } finally {
      await oi.close()
    }
  })
})

describe('REST backfill usage errors', () => {
  it('answers bad input with one line naming the flag and exit code 2, before sending anything', () => {
    const lake = tempDir()
    const F = ['--from', '2024-01-01']
    const cases: [string[], RegExp, Record<string, string>?][] = [
      [['backfill'], /Missing instrument: give exchange:SYMBOL/],
      [['backfill', 'binance:BTCUSDT'], /Missing --from/],
      [['backfill', 'BTCUSDT', ...F], /Invalid instrument: 'BTCUSDT'\. Expected exchange:SYMBOL/],
      [['backfill', 'binance:BTCUSDT', '--kind', 'candles', ...F], /Invalid --kind: 'candles'\. Expected bars, trades \(aggTrades\), funding or oi/],
      [['backfill', 'binance:BTCUSDT', '--from', 'soon'], /Invalid --from: 'soon'/],
      [['backfill', 'binance:BTCUSDT', '--from', '2024-02-01', '--to', '2024-01-01'], /Invalid --to: '2024-01-01T00:00:00Z'\. Expected a time after --from/],
      [['backfill', 'binance:BTCUSDT', ...F, '--interval', '7m'], /Invalid --interval: '7m'/],
      [['backfill', 'binance:BTCUSDT', ...F, '--kind', 'trades', '--interval', '1m'], /Invalid --interval: '1m'\. trades have no interval/],
      [['backfill', 'binance:BTCUSDT', ...F, '--kind', 'funding'], /Invalid --kind: 'funding' for binance:BTCUSDT\. Funding rates exist on binance-futures only/],
      [['backfill', 'binance-futures:BTCUSDT', ...F, '--kind', 'oi', '--interval', '1m'], /Invalid --interval: '1m' for open interest/],
      [['backfill', 'coinbase:BTC-USD', ...F, '--interval', '3m'], /Invalid --interval: '3m' for coinbase:BTC-USD\. Coinbase candles come in 1m, 5m, 15m, 1h, 6h, 1d/],
      [['backfill', 'binance-futures:BTCUSDT', ...F, '--max-weight', '5'], /Invalid --max-weight: '5'\. One binance-futures:BTCUSDT bars 1m request weighs 10/],
      [['backfill', 'binance:BTCUSDT', ...F, '--max-weight', '0'], /Invalid --max-weight: '0'\. Expected a positive integer/],
      [['backfill', 'binance:BTCUSDT', ...F, '--timeout', 'soon'], /Invalid --timeout: 'soon'/],
      [['backfill', 'binance:BTCUSDT', ...F, '--rest-url', 'ftp://x'], /Invalid --rest-url: 'ftp:\/\/x'\. Expected an http\(s\) URL/],
      [['backfill', 'binance:BTCUSDT', ...F, '--rest-url', 'http://x', '--testnet'], /Invalid --testnet with --rest-url/],
      [['backfill', 'binance:BTCUSDT', 'binance-futures:BTCUSDT', ...F, '--rest-url', 'http://x'], /Invalid --rest-url: one URL cannot serve binance and binance-futures/],
      [['backfill', 'binance:BTCUSDT', ...F], /Invalid MERCURY_BINANCE_REST_URL: 'nope'/, { MERCURY_BINANCE_REST_URL: 'nope' }],
      [['backfill', 'binance:BTCUSDT', '--archive', XRPETH_AGG], /Invalid instrument 'binance:BTCUSDT' with --archive/],
      [['backfill', '--archive', XRPETH_AGG, '--from', '2024-01-01'], /Invalid --from with --archive/],
    ]
    for (const [args, message, env] of cases) {
      const r = cli(args, lake, env)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr.trim().split('\n')[0]).toMatch(message)
    }
  })

  it('documents the REST flags, the trades alias and examples in --help', () => {
    const h = cli(['backfill', '--help'], tempDir())
    expect(h.code).toBe(0)
    for (const flag of ['--from', '--to', '--dry-run', '--max-weight', '--rest-url', '--testnet', '--timeout', '--retries', '--batch-rows', '--archive']) {
      expect(h.stdout).toContain(flag)
    }
    expect(h.stdout).toMatch(/--kind trades stores Binance aggTrades/)
    expect(h.stdout).toMatch(/\$ mercury backfill binance:BTCUSDT --kind bars --interval 1m --from/)
  })
})
