// Strategy interface: built-ins and their parameter metadata, loading user files, higher-timeframe indicators
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importArchives } from '../../src/lib/archive/import.js'
import { loadMarketData, simulate, type MarketData } from '../../src/lib/backtest/engine.js'
import { indicatorSeries, resampleClosed } from '../../src/lib/backtest/indicators.js'
import { STRATEGIES } from '../../src/lib/backtest/strategies/index.js'
import { loadStrategy, resolveStrategyParams } from '../../src/lib/backtest/strategy.js'
import { UsageError } from '../../src/lib/errors.js'
import { resample } from '../../src/lib/signals/mtf.js'
import { KLINES } from '../helpers.js'
import { SMA_CROSS } from './user-strategy.js'


describe('strategies', () => {
  let dir: string
  let data: MarketData
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mercury-bt-st-'))
    await importArchives({ lakeDir: join(dir, 'lake'), patterns: [join(KLINES, '*.zip')] })
    data = await loadMarketData(join(dir, 'lake'), [{ exchange: 'binance', symbol: 'BTCUSDT' }], '1h')
  }, 60_000)
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('built-ins carry parameter metadata an optimiser can build ranges from', () => {
    expect(STRATEGIES.map((s) => s.name)).toEqual(['rsi-reversion', 'mtf-trend', 'buy-and-hold'])
    const rsi = STRATEGIES[0]
    expect(rsi.params.map((p) => [p.name, p.default, p.min, p.max, p.step, p.integer])).toEqual([
      ['period', 14, 2, 100, 1, true],
      ['lower', 30, 5, 50, 1, true],
      ['upper', 70, 50, 95, 1, true],
    ])
    const mtf = STRATEGIES[1]
    expect(mtf.params.find((p) => p.name === 'entry')).toMatchObject({ default: 0.5, min: 0.125, max: 1, step: 0.125, integer: false })
    for (const s of STRATEGIES) for (const p of s.params) expect(p.default >= p.min && p.default <= p.max && p.step > 0, `${s.name}.${p.name}`).toBe(true)
    expect(resolveStrategyParams(rsi, { period: 21 })).toEqual({ period: 21, lower: 30, upper: 70 })
    expect(() => resolveStrategyParams(rsi, { period: 1 })).toThrow(/^Invalid rsi-reversion period: 1\. Expected an integer from 2 to 100$/)
    expect(() => resolveStrategyParams(rsi, { lenght: 3 })).toThrow(/^Unknown parameter 'lenght' for strategy rsi-reversion\. Expected one of period, lower, upper$/)
  })

  it('every built-in runs on the real sample; buy-and-hold tracks the benchmark less its costs', () => {
    for (const s of STRATEGIES) {
      const r = simulate(data, s, { checkInvariant: true })
      expect(r.bars).toBe(data.time.length)
    }
    const bh = simulate(data, STRATEGIES[2], { fees: { maker: 0, taker: 0 }, slippage: { kind: 'bps', bps: 0 } })
    const i = data.instruments[0]
    // Bought at bar 1's open (decided at bar 0's close) vs the benchmark at bar 0's open
    const ratio = bh.equity.equity.at(-1)! / bh.benchmark.equity.at(-1)!
    expect(ratio).toBeCloseTo(i.open[0] / i.open[1], 9)
  })

  it('loads a user strategy from an .mjs file and runs it like a built-in', async () => {
    const file = join(dir, 'sma-cross.mjs')
    writeFileSync(file, SMA_CROSS)
    const s = await loadStrategy(file)
    expect(s.name).toBe('sma-cross')
    expect(s.params.map((p) => p.name)).toEqual(['fast', 'slow'])
    const r = simulate(data, s, { params: { fast: 5, slow: 20 }, checkInvariant: true })
    expect(r.trades.length).toBeGreaterThan(5)
    expect(r.params).toEqual({ fast: 5, slow: 20 })
  })

  it('loads a TypeScript strategy, compiling it when this Node cannot strip types', async () => {
    const file = join(dir, 'sma-cross.ts')
    writeFileSync(file, SMA_CROSS.replace('export default', 'const s: { name: string } & Record<string, unknown> =') + '\nexport default s\n')
    const s = await loadStrategy(file)
    expect(s.name).toBe('sma-cross')
    const r = simulate(data, s, { params: { fast: 5, slow: 20 }, checkInvariant: true })
    expect(r.trades.length).toBeGreaterThan(5)
    // The temporary compiled file is gone
    expect(readdirSync(dir).filter((f) => f.includes('.mercury-'))).toEqual([])
  })

  it('says what is wrong with a strategy that cannot load', async () => {
    const bad = join(dir, 'bad.mjs')
    writeFileSync(bad, 'export default { name: "x", params: [] }\n')
    const ts = join(dir, 'mine.ts')
    writeFileSync(ts, 'export default {}\n')
    const cases: [string, RegExp][] = [
      ['nonsense', /^Invalid --strategy: 'nonsense'\. Expected a built-in \(rsi-reversion, mtf-trend, buy-and-hold\) or a \.js\/\.mjs\/\.ts file$/],
      [join(dir, 'missing.mjs'), /is not a file$/],
      [bad, /bad\.mjs' has no onBar function/],
    ]
    // A .ts file that is not a strategy loads (Node strips types or the TypeScript compiler transpiles it) and is refused
    cases.push([ts, /mine\.ts' has no onBar function/])
    for (const [spec, msg] of cases) {
      const err = await loadStrategy(spec).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(UsageError)
      expect((err as Error).message).toMatch(msg)
    }
  })

  it('higher-timeframe buckets match signals/mtf.ts and are joined only once closed', () => {
    const bars = data.instruments[0].bars
    const mine = resampleClosed(bars, data.step, 4 * data.step)
    const theirs = resample(bars, '1h', '4h')
    for (const c of ['open_time', 'end_time', 'open', 'high', 'low', 'close', 'volume'] as const) {
      expect(Array.from(mine[c]), c).toEqual(Array.from(theirs[c]))
    }
    // SMA(2) of 4h closes joined onto 1h bars: from the last two completed 4h buckets, never the running one
    const htf = indicatorSeries(data, 'sma', { timePeriod: 2 }, { timeframe: '4h' })
    for (let i = 0; i < data.time.length; i++) {
      const closeT = data.time[i] + data.step
      let k = -1
      while (k + 1 < theirs.length && theirs.end_time[k + 1] <= closeT) k++
      if (k < 1) expect(htf[i]).toBeNaN()
      else expect(htf[i]).toBeCloseTo((theirs.close[k] + theirs.close[k - 1]) / 2, 6)
    }
    // Cached: the same series object for the same request
    expect(indicatorSeries(data, 'sma', { timePeriod: 2 }, { timeframe: 4 })).toBe(htf)
  })
})
