// backfill --repair: the real 2023-03-24 outage ends as an exchange gap (and is not asked for again), a hole
// punched into the real 2024 data is filled from the local exchange
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BinanceRestServer } from '../servers/binance-rest.js'
import { OUTAGE, cli, tempDir } from '../helpers.js'
import { realServer, runCli, runJson } from './util.js'

let server: BinanceRestServer
beforeAll(async () => {
  server = await realServer()
})
afterAll(() => server.close())

interface Repair {
  datasets: { instrument: string; gaps: { from: string; to: string; missing: number; state: string; rowsFetched: number }[] }[]
  repaired: number
  exchangeGaps: number
  open: number
}
interface Gaps { gaps: { from: string; to: string; missing: number; state: string }[]; count: number }

describe('backfill --repair', () => {
  it('records the real outage as an exchange gap, repairs a punched hole, and never re-asks for the exchange gap', async () => {
    const lake = tempDir()
    const work = tempDir()
    // March 2023 with its real outage, and 2023-03-10 00:00 to 01:59 removed from the archive (a hole the exchange can fill)
    const lines = gunzipSync(readFileSync(OUTAGE)).toString('utf8').trimEnd().split('\n')
    const holeFrom = Date.UTC(2023, 2, 10) 
    const punched = lines.filter((l) => {
      const t = Number(l.split(',')[0])
      return t < holeFrom || t >= holeFrom + 120 * 60_000
    })
    expect(punched.length).toBe(lines.length - 120)
    const file = join(work, 'BTCUSDT-1m-2023-03.csv')
    writeFileSync(file, punched.join('\n') + '\n')
    expect(cli(['backfill', '--archive', file], lake).code).toBe(0)
    const before = JSON.parse(cli(['data', 'gaps', 'binance:BTCUSDT', '--json'], lake).stdout) as Gaps
    expect(before.gaps.map((g) => [g.from, g.missing, g.state])).toEqual([
      ['2023-03-10T00:00:00Z', 120, 'open'],
      ['2023-03-24T12:40:00Z', 80, 'open'],
    ])

    const n0 = server.log.length
    const r = await runJson<Repair>(['backfill', '--repair', '--rest-url', server.url], lake)
    expect(server.log.length).toBeGreaterThan(n0)
    expect(r).toMatchObject({ repaired: 1, exchangeGaps: 1, open: 0 })
    expect(r.datasets[0].gaps.map((g) => [g.from, g.state, g.rowsFetched])).toEqual([
      ['2023-03-10T00:00:00Z', 'repaired', 120],
      ['2023-03-24T12:40:00Z', 'exchange_gap', 0],
    ])
    const after = JSON.parse(cli(['data', 'gaps', 'binance:BTCUSDT', '--json'], lake).stdout) as Gaps
    expect(after.count).toBe(1)
    expect(after.gaps.map((g) => [g.from, g.to, g.state])).toEqual([
      ['2023-03-10T00:00:00Z', '2023-03-10T01:59:00Z', 'repaired'],
      ['2023-03-24T12:40:00Z', '2023-03-24T13:59:00Z', 'exchange_gap'],
    ])
    expect(cli(['data', 'ls', '--json'], lake).stdout).toMatch(/"rows": 44560/)

    // Not retried forever: a second repair sends nothing; --recheck asks again and still finds nothing
    const n1 = server.log.length
    const again = await runJson<Repair>(['backfill', '--repair', 'binance:BTCUSDT', '--rest-url', server.url], lake)
    expect(server.log.length).toBe(n1)
    expect(again).toMatchObject({ repaired: 0, exchangeGaps: 1, open: 0 })
    const re = await runJson<Repair>(['backfill', '--repair', '--recheck', '--rest-url', server.url], lake)
    expect(server.log.length).toBeGreaterThan(n1)
    expect(re).toMatchObject({ exchangeGaps: 1, open: 0 })
    const table = cli(['data', 'gaps', 'binance:BTCUSDT', '--state', 'exchange_gap'], lake)
    expect(table.stdout).toMatch(/2023-03-24T12:40:00Z.*exchange_gap/)
    expect(table.stdout).not.toMatch(/repaired/)
  })

  it('rejects flags that do not apply to a repair', async () => {
    const lake = tempDir()
    for (const args of [['--repair', '--from', '2024-01-01'], ['--repair', '--archive', OUTAGE], ['--recheck', 'binance:BTCUSDT', '--from', '2024-01-01']]) {
      const r = await runCli(['backfill', ...args], lake)
      expect(r.code, r.stderr).toBe(2)
      expect(r.stderr).toMatch(/Invalid --(from|archive|recheck)/)
    }
  })
})
