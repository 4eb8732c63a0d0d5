// The optimiser: TPE against random search on a known synthetic objective (seeded), walk-forward windows, and
// workers giving exactly the single-thread results. The backtests run on the shipped BTCUSDT 1m sample imported
// into a temp lake. Worker threads run the compiled worker in dist/ (npm test builds first).

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importArchives } from '../../src/lib/archive/import.js'
import { loadMarketData, type MarketData } from '../../src/lib/backtest/data.js'
import { simulate } from '../../src/lib/backtest/engine.js'
import { computeMetrics } from '../../src/lib/backtest/metrics.js'
import { buildSpace, gridPoint, paramsKey, parseParamOverride, Rng, type ParamSet } from '../../src/lib/backtest/opt-space.js'
import { formatOptimization, optimizationToJson, runOptimization, searchSpace, splitWindows, type OptimizeMethod } from '../../src/lib/backtest/optimize.js'
import { sliceMarketData } from '../../src/lib/backtest/data.js'
import { strategyParam } from '../../src/lib/backtest/strategy.js'
import { rsiReversion } from '../../src/lib/backtest/strategies/index.js'
import { UsageError } from '../../src/lib/errors.js'
import { KLINES } from '../helpers.js'

const BTC = [{ exchange: 'binance' as const, symbol: 'BTCUSDT' }]

// Not tempDir(): that is removed after each test, and the lake serves the whole file
const lake = mkdtempSync(join(tmpdir(), 'mercury-opt-lake-'))
let data15m: MarketData

beforeAll(async () => {
  await importArchives({ lakeDir: lake, patterns: [join(KLINES, '*.zip')] })
  data15m = await loadMarketData(lake, BTC, '15m')
}, 120_000)

afterAll(() => rmSync(lake, { recursive: true, force: true }))

describe('search space', () => {
  const specs = [strategyParam('fast', 10, 2, 50, 'fast'), strategyParam('slow', 30, 10, 200, 'slow'), strategyParam('k', 1.5, 0.5, 3, 'k', { step: 0.5 })]

  it('uses the declared ranges, narrowed or fixed by --param', () => {
    const s = buildSpace(specs, [parseParamOverride('fast=5:20:5'), parseParamOverride('slow=50')])
    expect(s.axes.map((a) => [a.name, a.values])).toEqual([
      ['fast', [5, 10, 15, 20]],
      ['k', [0.5, 1, 1.5, 2, 2.5, 3]],
    ])
    expect(s.fixed).toEqual({ slow: 50 })
    expect(s.size).toBe(24)
    expect(gridPoint(s, 0)).toEqual({ slow: 50, fast: 5, k: 0.5 })
    expect(gridPoint(s, 23)).toEqual({ slow: 50, fast: 20, k: 3 })
    expect(new Set(Array.from({ length: 24 }, (_, i) => paramsKey(s, gridPoint(s, i)))).size).toBe(24)
  })

  it('refuses bad overrides with the flag, the value and the expected form', () => {
    expect(() => parseParamOverride('fast=5:x')).toThrow(/Invalid --param: 'fast=5:x'. Expected NAME=LO:HI:STEP/)
    expect(() => parseParamOverride('fast=20:5')).toThrow(UsageError)
    expect(() => buildSpace(specs, [parseParamOverride('nope=1:2')], 'demo')).toThrow(/'nope' is not a parameter of demo. Expected one of fast, slow, k/)
    expect(() => buildSpace(specs, [parseParamOverride('fast=1:20')], 'demo')).toThrow(/demo accepts fast from 2 to 50/)
    expect(() => buildSpace(specs, [parseParamOverride('fast=2:20:0.5')], 'demo')).toThrow(/integer parameter/)
  })

  it('draws the same stream from the same seed', () => {
    const a = new Rng(42)
    const b = new Rng(42)
    const c = new Rng(43)
    const xs = Array.from({ length: 5 }, () => a.uniform())
    expect(Array.from({ length: 5 }, () => b.uniform())).toEqual(xs)
    expect(Array.from({ length: 5 }, () => c.uniform())).not.toEqual(xs)
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true)
  })
})

describe('TPE on a known objective', () => {
  // Synthetic objectives with a known maximum (0): a smooth bowl in 2-D and a 3-D one with an integer axis
  const bowl2 = (p: ParamSet) => -((p.x - 3.2) ** 2 + (p.y + 6.1) ** 2)
  const space2 = buildSpace([strategyParam('x', 0, -10, 10, 'x', { step: 0.1, integer: false }), strategyParam('y', 0, -10, 10, 'y', { step: 0.1, integer: false })])
  const bowl3 = (p: ParamSet) => -((p.a - 71) ** 2 / 400 + (p.b - 0.35) ** 2 * 25 + (p.c - 7) ** 2 / 4)
  const space3 = buildSpace([
    strategyParam('a', 10, 2, 200, 'a'),
    strategyParam('b', 0.5, 0, 1, 'b', { step: 0.01 }),
    strategyParam('c', 5, 1, 20, 'c'),
  ])

  /** Trials needed until a score reaches `target` (budget + 1 when never) */
  async function trialsToTarget(method: OptimizeMethod, seed: number, f: (p: ParamSet) => number, space: typeof space2, target: number, budget: number): Promise<number> {
    const obs = await searchSpace(space, { method, trials: budget, rng: new Rng(seed), batch: 4 }, async (ps) => ps.map(f))
    const i = obs.findIndex((o) => o.score >= target)
    return i < 0 ? budget + 1 : i + 1
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

  for (const [name, f, space, target] of [
    ['2-D bowl (40,401 points)', bowl2, space2, -0.25],
    ['3-D bowl with an integer axis (425,880 points)', bowl3, space3, -0.5],
  ] as const) {
    it(`reaches the optimum's neighbourhood in fewer trials than random search: ${name}`, async () => {
      const seeds = Array.from({ length: 12 }, (_, i) => i + 1)
      const tpe = await Promise.all(seeds.map((s) => trialsToTarget('tpe', s, f, space, target, 250)))
      const rnd = await Promise.all(seeds.map((s) => trialsToTarget('random', s, f, space, target, 250)))
      // Far fewer trials for the median seed, and better on most seeds (seeds 1-15 at 400 trials gave TPE medians
      // of 35 and 35 trials against random's 364 and 265)
      expect(median(tpe) * 2).toBeLessThan(median(rnd))
      expect(seeds.filter((_, i) => tpe[i] < rnd[i]).length).toBeGreaterThanOrEqual(9)
    }, 60_000)
  }

  it('is reproducible from the seed, and never proposes a point twice', async () => {
    const run = (seed: number) => searchSpace(space2, { method: 'tpe', trials: 80, rng: new Rng(seed), batch: 4 }, async (ps) => ps.map(bowl2))
    const a = await run(7)
    const b = await run(7)
    const c = await run(8)
    expect(b).toEqual(a)
    expect(c).not.toEqual(a)
    expect(new Set(a.map((o) => paramsKey(space2, o.params))).size).toBe(80)
  })

  it('grid runs every point; random runs distinct points; both stop at the size of a small space', async () => {
    const small = buildSpace([strategyParam('p', 2, 1, 4, 'p'), strategyParam('q', 2, 1, 3, 'q')])
    const f = (p: ParamSet) => p.p * 10 + p.q
    const grid = await searchSpace(small, { method: 'grid', trials: 1, rng: new Rng(1) }, async (ps) => ps.map(f))
    expect(grid.map((o) => o.score)).toEqual([11, 12, 13, 21, 22, 23, 31, 32, 33, 41, 42, 43])
    const rnd = await searchSpace(small, { method: 'random', trials: 100, rng: new Rng(1) }, async (ps) => ps.map(f))
    expect(rnd.map((o) => o.score).sort()).toEqual(grid.map((o) => o.score))
    const tpe = await searchSpace(small, { method: 'tpe', trials: 100, rng: new Rng(1) }, async (ps) => ps.map(f))
    expect(tpe.length).toBe(12)
  })
})

describe('walk-forward', () => {
  it('splits into consecutive windows that cover the range once', () => {
    const t = Float64Array.from({ length: 103 }, (_, i) => i * 60)
    const w = splitWindows(t, 3, 4, 60)
    expect(w.map((x) => [x.start, x.end])).toEqual([[3, 28], [28, 53], [53, 78], [78, 103]])
    expect(w[3].to).toBe(103 * 60)
    expect(w.reduce((a, x) => a + x.bars, 0)).toBe(100)
  })

  it('tests each fold on the window after its training window; test windows never overlap', async () => {
    const r = await runOptimization({ strategy: 'rsi-reversion', data: data15m, method: 'random', trials: 6, folds: 3, threads: 1, seed: 3 })
    expect(r.folds.length).toBe(3)
    expect(r.trials.length).toBe(18)
    for (const f of r.folds) {
      const test = f.test
      expect(test).toBeDefined()
      if (!test) continue
      expect(f.train.start).toBeLessThan(f.train.end)
      // OOS starts exactly where training ends: no overlap, no gap
      expect(test.start).toBe(f.train.end)
      expect(test.from).toBe(f.train.to)
      expect(f.trials).toBe(6)
      expect(r.trials.filter((t) => t.fold === f.fold).length).toBe(6)
    }
    for (let k = 1; k < r.folds.length; k++) {
      const prev = r.folds[k - 1].test
      const cur = r.folds[k].test
      expect(cur && prev && cur.start >= prev.end).toBe(true)
    }
    // The combined out-of-sample curve is the test windows, in order, each bar once
    const oos = r.oos
    expect(oos).toBeDefined()
    if (!oos) return
    const tests = r.folds.map((f) => f.test as NonNullable<typeof f.test>)
    expect(oos.time.length).toBe(tests.reduce((a, w) => a + w.bars, 0))
    expect(oos.time[0]).toBe(data15m.time[tests[0].start])
    expect(oos.time[oos.time.length - 1]).toBe(data15m.time[tests[2].end - 1])
    for (let i = 1; i < oos.time.length; i++) expect(oos.time[i]).toBeGreaterThan(oos.time[i - 1])

    // Each fold's OOS metrics are a run of its best params on exactly its test window
    const f1 = r.folds[1]
    const again = computeMetrics(simulate(sliceMarketData(data15m, f1.test?.start ?? 0, f1.test?.end), rsiReversion, { params: f1.best.params }))
    expect(again).toEqual(f1.oos?.metrics)
    // The first fold's OOS curve opens the combined curve unscaled
    expect(oos.metrics.totalReturn).toBeCloseTo(
      r.folds.reduce((a, f) => a * (1 + (f.oos?.metrics.totalReturn ?? 0)), 1) - 1,
      10,
    )

    const rows = formatOptimization(r)
    expect(rows[0]).toEqual(['fold', 'train', 'test', 'best params', 'IS sharpe', 'OOS sharpe', 'OOS return', 'OOS max drawdown', 'OOS trades'])
    expect(rows.length).toBe(5)
    expect(rows[4][0]).toBe('all')
    const json = optimizationToJson(r) as { oos: { equity: number[] }; trials: unknown[] }
    expect(json.oos.equity).toEqual(Array.from(oos.equity))
    expect(json.trials.length).toBe(18)
  }, 120_000)

  it('refuses more folds than the bars allow', async () => {
    const tiny = sliceMarketData(data15m, 0, 10)
    await expect(runOptimization({ strategy: 'rsi-reversion', data: tiny, method: 'random', trials: 2, folds: 8, threads: 1 })).rejects.toThrow(/Invalid --folds: 8 folds/)
  })
})

describe('worker threads', () => {
  it('give exactly the single-thread results for the same params (shared memory and own load)', async () => {
    const base = { strategy: 'rsi-reversion', method: 'tpe' as const, trials: 24, folds: 1, seed: 11, batch: 4, objective: 'sortino' as const }
    const single = await runOptimization({ ...base, data: data15m, threads: 1 })
    const shared = await runOptimization({ ...base, data: data15m, threads: 2 })
    const loaded = await runOptimization({ ...base, lakeDir: lake, instruments: BTC, interval: '15m', threads: 2, transfer: 'load' })
    expect(single.transfer).toBe('in-thread')
    expect(shared.transfer).toBe('shared')
    expect(shared.threads).toBe(2)
    expect(loaded.transfer).toBe('load')
    expect(single.trials.length).toBe(24)
    expect(shared.trials).toEqual(single.trials)
    expect(loaded.trials).toEqual(single.trials)
    expect(shared.folds).toEqual(single.folds)
    expect(Array.from(shared.oos?.equity ?? [])).toEqual(Array.from(single.oos?.equity ?? []))
    // And the trials are what a plain backtest of those params gives
    const t = single.trials[5]
    const direct = computeMetrics(simulate(sliceMarketData(data15m, single.folds[0].train.start, single.folds[0].train.end), rsiReversion, { params: t.params }))
    expect(direct).toEqual(t.metrics)
  }, 180_000)

  it('reports a worker-side usage error as a UsageError', async () => {
    await expect(
      runOptimization({ strategy: 'rsi-reversion', data: data15m, method: 'random', trials: 4, threads: 2, sim: { leverage: -3 } }),
    ).rejects.toThrow(UsageError)
  }, 60_000)
})
