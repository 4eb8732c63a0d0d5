import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DATASETS, FIXTURES, OUTAGE, cli, cliJson, tempDir } from '../helpers.js'

const SLICE = join(FIXTURES, 'binance', 'BTCUSDT-1m-2024-08-08T2350.csv')
const TRADES = join(DATASETS, 'binance', 'spot', 'trades', 'BTCUSDT', '*.zip')
const BAR_ARGS = ['--instrument', 'binance:BTCUSDT', '--kind', 'bars', '--interval', '1m']

interface Report {
  bars: number
  tradeSource: string | null
  compared: number
  mismatches: { time: string; fields: Record<string, { stored: number; rebuilt: number }> }[]
  outliers: { time: string; z: number }[]
  zeroVolumeRuns: { from: string; to: string; bars: number }[]
  issues: number
}

describe('mercury data validate', () => {
  it('rebuilds real bars from real trades and finds them equal', () => {
    const lake = tempDir()
    expect(cli(['backfill', '--archive', TRADES], lake).code).toBe(0)
    expect(cli(['backfill', '--archive', SLICE, ...BAR_ARGS], lake).code).toBe(0)
    const r = cliJson<Report>(['data', 'validate', 'binance:BTCUSDT'], lake)
    // The recorded trades cover 2024-08-08 23:54:15 to 00:05:05: ten whole minutes, 23:55 to 00:04
    expect(r).toMatchObject({ bars: 20, tradeSource: 'trades', compared: 10, mismatches: [], issues: 0 })
  })

  it('reports a bar that disagrees with its trades, field by field', () => {
    const lake = tempDir()
    const work = tempDir()
    const lines = readFileSync(SLICE, 'utf8').trimEnd().split('\n')
    // 2024-08-09 00:00 (line 11): close moved by one cent, volume doubled
    const f = lines[10].split(',')
    const close = Number(f[4])
    f[4] = (close + 0.01).toFixed(8)
    f[2] = Math.max(Number(f[2]), close + 0.01).toFixed(8)
    f[5] = (Number(f[5]) * 2).toFixed(8)
    f[9] = (Number(f[9]) * 2).toFixed(8)
    lines[10] = f.join(',')
    const bad = join(work, 'bars.csv')
    writeFileSync(bad, lines.join('\n') + '\n')
    expect(cli(['backfill', '--archive', TRADES], lake).code).toBe(0)
    expect(cli(['backfill', '--archive', bad, ...BAR_ARGS], lake).code).toBe(0)
    const r = cliJson<Report>(['data', 'validate', 'binance:BTCUSDT'], lake)
    expect(r.compared).toBe(10)
    expect(r.mismatches).toHaveLength(1)
    expect(r.mismatches[0].time).toBe('2024-08-09T00:00:00Z')
    expect(Object.keys(r.mismatches[0].fields).sort()).toEqual(expect.arrayContaining(['close', 'taker_buy_volume', 'volume']))
    expect(r.mismatches[0].fields.close).toEqual({ stored: close + 0.01, rebuilt: close })
    const strict = cli(['data', 'validate', 'binance:BTCUSDT', '--fail-on-issues'], lake)
    expect(strict.code).toBe(1)
    expect(strict.stderr).toMatch(/issues found in binance:BTCUSDT 1m/)
  })

  it('flags the real frozen market before the 2023-03-24 outage and extreme returns, without changing data', () => {
    const lake = tempDir()
    expect(cli(['backfill', '--archive', OUTAGE], lake).code).toBe(0)
    const r = cliJson<Report>(['data', 'validate', 'binance:BTCUSDT', '--outlier-z', '40'], lake)
    expect(r.tradeSource).toBeNull()
    expect(r.zeroVolumeRuns).toEqual([{ from: '2023-03-24T11:28:00Z', to: '2023-03-24T12:39:00Z', bars: 72 }])
    expect(r.outliers.map((o) => o.time)).toEqual(['2023-03-03T01:31:00Z', '2023-03-07T15:00:00Z'])
    expect(cliJson<{ rows: number }[]>(['data', 'ls'], lake)[0].rows).toBe(44_560)
    const table = cli(['data', 'validate', 'binance:BTCUSDT'], lake)
    expect(table.stdout).toMatch(/44,560 bars; no trades in the lake to rebuild bars from; \d+ outlier returns; 1 zero-volume runs/)
    expect(cli(['data', 'validate', 'binance:BTCUSDT', '--zero-run', '0'], lake).code).toBe(2)
  })

  it('takes no return across a hole in the data for an outlier', () => {
    const lake = tempDir()
    // 2023-03 then 2024-11: twenty months missing, and BTC from about 28,000 to 70,000 across them
    const nov = join(DATASETS, 'binance', 'spot', 'klines', 'BTCUSDT', '1m', 'BTCUSDT-1m-2024-11.zip')
    expect(cli(['backfill', '--archive', OUTAGE, nov], lake).code).toBe(0)
    const r = cliJson<Report>(['data', 'validate', 'binance:BTCUSDT', '--outlier-z', '40'], lake)
    expect(r.bars).toBe(44_560 + 43_200)
    expect(r.outliers.map((o) => o.time)).not.toContain('2024-11-01T00:00:00Z')
    expect(r.outliers.map((o) => o.time).filter((t) => t < '2024')).toEqual(['2023-03-03T01:31:00Z', '2023-03-07T15:00:00Z'])
  })
})
