import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { KLINES, cli, cliJson, tempDir } from '../helpers.js'

interface Listed { id: string; category: string; source: string; params: { name: string; default: number; min: number; max: number }[]; outputs: string[]; notes: string }
interface Computed {
  interval: string
  source: string
  rows: number
  last: string
  gaps: number
  stored: number
  confluence: number | null
  latest: { id: string; timeframe: string; outputs: Record<string, number>; reading: string | null }[]
}

describe('mercury signals', () => {
  it('lists the catalog by category with parameters and ranges', () => {
    const all = cliJson<Listed[]>(['signals', 'list'], tempDir())
    expect(all.length).toBeGreaterThanOrEqual(60)
    expect(new Set(all.map((d) => d.category))).toEqual(new Set(['momentum', 'trend', 'volatility', 'volume', 'microstructure', 'research', 'composite']))
    const rsi = all.find((d) => d.id === 'rsi')!
    expect(rsi.params).toEqual([expect.objectContaining({ name: 'timePeriod', default: 14, min: 2, max: 500 })])
    const momentum = cliJson<Listed[]>(['signals', 'list', '--category', 'momentum'], tempDir())
    expect(momentum.every((d) => d.category === 'momentum')).toBe(true)
    const table = cli(['signals', 'list'], tempDir())
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/momentum \(\d+\)/)
    expect(table.stdout).toMatch(/\d+ indicators\n$/)
  })

  it('computes every bar indicator on 1h bars resampled from the real 1m sample, with MTF, and stores them', () => {
    const lake = tempDir()
    expect(cli(['backfill', '--archive', join(KLINES, '*.zip')], lake).code).toBe(0)
    const r = cliJson<Computed>(['signals', 'binance:BTCUSDT', '--interval', '1h', '--from', '2024-12-01', '--mtf', '4h,1d'], lake)
    expect(r).toMatchObject({ interval: '1h', source: '1m', gaps: 0, last: '2025-01-01T23:00:00Z' })
    expect(r.rows).toBe(24 * 32)
    expect(r.confluence).toBeGreaterThanOrEqual(-1)
    expect(r.confluence).toBeLessThanOrEqual(1)
    const base = r.latest.filter((l) => l.timeframe === '1h')
    expect(base.length).toBeGreaterThanOrEqual(50)
    for (const l of base) for (const [k, v] of Object.entries(l.outputs)) expect(Number.isFinite(v), `${l.id}.${k}`).toBe(true)
    expect(r.latest.some((l) => l.timeframe === '1d' && l.id === 'rsi')).toBe(true)
    expect(r.stored).toBeGreaterThan(0)
    const q = cliJson<{ n: number; t0: string }[]>(
      ['data', 'query', `SELECT count(*)::INT n, min(time)::VARCHAR t0 FROM signals WHERE series = 'rsi' AND interval = '1h'`],
      lake,
    )
    expect(q).toEqual([{ n: 24 * 31 + 24, t0: '2024-12-01 00:00:00' }])
    // Re-running stores nothing new
    const again = cliJson<Computed>(['signals', 'binance:BTCUSDT', '--interval', '1h', '--from', '2024-12-01', '--mtf', '4h,1d'], lake)
    expect(again.stored).toBe(0)
    // The printed table has a reading per indicator and the confluence line
    const table = cli(['signals', 'binance:BTCUSDT', '--interval', '1h', '--only', 'rsi,macd,confluence', '--no-store'], lake)
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/rsi .* (bullish|bearish|neutral)/)
    expect(table.stdout).toMatch(/confluence -?[\d.]+ \((bullish|bearish|neutral)\)/)
  })

  it('rejects bad input with exit code 2', () => {
    const lake = tempDir()
    expect(cli(['backfill', '--archive', join(KLINES, 'BTCUSDT-1m-2025-01-01.zip')], lake).code).toBe(0)
    const cases: [string[], RegExp][] = [
      [['signals', 'binance:BTCUSDT'], /Missing --interval/],
      [['signals', 'binance:BTCUSDT', '--interval', '1h', '--only', 'nope'], /Unknown indicator 'nope'/],
      [['signals', 'binance:BTCUSDT', '--interval', '1h', '--param', 'rsi.timePeriod=1'], /Invalid rsi timePeriod: 1/],
      [['signals', 'binance:BTCUSDT', '--interval', '1h', '--param', 'rsi=3'], /Invalid --param: 'rsi=3'/],
      [['signals', 'binance:BTCUSDT', '--interval', '1h', '--mtf', '90m'], /Invalid --mtf: '90m'/],
      [['signals', 'binance:ETHUSDT', '--interval', '1h'], /No bars for binance:ETHUSDT/],
      [['signals', 'list', '--category', 'astrology'], /Invalid --category: 'astrology'/],
    ]
    for (const [args, msg] of cases) {
      const r = cli(args, lake)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr).toMatch(msg)
    }
  })
})
