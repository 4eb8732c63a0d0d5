// computeMetrics on small equity curves. The curves and trades here are synthetic, chosen so every expected value
// can be worked out by hand with exact arithmetic (the arithmetic is written out beside each assertion). A second
// curve is checked against values computed with NumPy using empyrical's formulas (quantopian/empyrical
// `stats.py`: sharpe_ratio, annual_volatility, sortino_ratio with downside_risk, cagr, max_drawdown,
// calmar_ratio, with annualization = 365).

import { describe, expect, it } from 'vitest'
import { FatalError } from '../../src/lib/errors.js'
import {
  computeMetrics,
  drawdowns,
  monthlyReturns,
  objectiveValue,
  sampleStd,
  simpleReturns,
} from '../../src/lib/backtest/metrics.js'
import type { BacktestResult, ClosedTrade } from '../../src/lib/backtest/types.js'
import type { Interval } from '../../src/lib/consts.js'
import { periodsPerYear } from '../../src/lib/time.js'

const DAY_US = 86_400_000_000
const DAY_MS = 86_400_000
const T0 = Date.UTC(2024, 0, 1) * 1000

function trade(pnl: number): ClosedTrade {
  return {
    instrument: 'binance:BTCUSDT',
    direction: 'long',
    entryTime: T0,
    exitTime: T0 + DAY_US,
    entryPrice: 100,
    exitPrice: 100 + pnl,
    qty: 1,
    pnl,
    fees: 0.1,
    funding: 0,
    returnPct: pnl / 100,
    bars: 1,
  }
}

/** A synthetic result: one point per bar, `step` µs apart from T0. */
function result(opts: {
  equity: number[]
  start?: number
  interval?: Interval
  step?: number
  exposure?: number[]
  bench?: number[]
  trades?: ClosedTrade[]
  turnover?: number
}): BacktestResult {
  const n = opts.equity.length
  const step = opts.step ?? DAY_US
  const time = Float64Array.from({ length: n }, (_, i) => T0 + i * step)
  return {
    strategy: 'synthetic',
    params: {},
    instruments: [{ exchange: 'binance', symbol: 'BTCUSDT' }],
    interval: opts.interval ?? '1d',
    from: T0,
    to: T0 + n * step,
    startCapital: opts.start ?? 100,
    equity: {
      time,
      equity: Float64Array.from(opts.equity),
      cash: Float64Array.from(opts.equity),
      exposure: Float64Array.from(opts.exposure ?? opts.equity.map(() => 0)),
    },
    benchmark: { time, equity: Float64Array.from(opts.bench ?? opts.equity) },
    trades: opts.trades ?? [],
    fills: [],
    riskEvents: [],
    fees: 1.5,
    funding: -0.25,
    slippage: 0,
    turnover: opts.turnover ?? 0,
    bars: n,
    gaps: [],
  }
}

describe('annualisation', () => {
  it('counts bars in a 365-day year', () => {
    expect(periodsPerYear('1m')).toBe(525_600)
    expect(periodsPerYear('1h')).toBe(8_760)
    expect(periodsPerYear('4h')).toBe(2_190)
    expect(periodsPerYear('1d')).toBe(365)
    expect(periodsPerYear('1w')).toBeCloseTo(365 / 7, 12)
    expect(periodsPerYear('1M')).toBe(12)
  })
})

describe('computeMetrics, hand-computed', () => {
  // Start 100; equity 110, 99, 108.9, 108.9: returns +10%, -10%, +10%, 0
  const r = result({
    equity: [110, 99, 108.9, 108.9],
    exposure: [1, 0.5, 0, 0],
    bench: [100, 120, 90, 105],
    trades: [trade(10), trade(-4), trade(6), trade(0)],
    turnover: 426.8,
  })
  const m = computeMetrics(r)

  it('returns and ratios', () => {
    expect(m.totalReturn).toBeCloseTo(0.089, 14)
    // mean = 0.1/4 = 0.025; squared deviations 0.075², 0.125², 0.075², 0.025² sum to 0.0275; ddof 1: /3
    const std = Math.sqrt(0.0275 / 3)
    expect(m.volatility).toBeCloseTo(std * Math.sqrt(365), 12)
    expect(m.sharpe).toBeCloseTo((0.025 / std) * Math.sqrt(365), 10)
    // Downside deviation: sqrt(0.1² / 4) = 0.05 (mean over all four bars)
    expect(m.sortino).toBeCloseTo((0.025 / 0.05) * Math.sqrt(365), 10)
    // Four daily bars are 4/365 of a year
    expect(m.cagr).toBeCloseTo(Math.pow(1.089, 365 / 4) - 1, 8)
    // Peak 110, trough 99
    expect(m.maxDrawdown).toBeCloseTo(-0.1, 14)
    expect(m.calmar).toBeCloseTo(m.cagr / 0.1, 6)
    // Under water from the peak (bar 0) to the end (bar 3): 3 days
    expect(m.maxDrawdownDurationMs).toBe(3 * DAY_MS)
  })

  it('trade statistics, exposure, turnover and costs', () => {
    // Winners 10 and 6 of four trades (a zero PnL is no win); gross profit 16 / gross loss 4; mean PnL 12 / 4
    expect(m.trades).toBe(4)
    expect(m.winRate).toBe(0.5)
    expect(m.profitFactor).toBe(4)
    expect(m.expectancy).toBe(3)
    // Two of four bars hold a position
    expect(m.exposure).toBe(0.5)
    // 426.8 / mean(110, 99, 108.9, 108.9) = 426.8 / 106.7
    expect(m.turnover).toBeCloseTo(4, 12)
    expect(m.fees).toBe(1.5)
    expect(m.funding).toBe(-0.25)
  })

  it('buy-and-hold benchmark', () => {
    // 100 → 105; peak 120, trough 90
    expect(m.benchmark.totalReturn).toBeCloseTo(0.05, 14)
    expect(m.benchmark.maxDrawdown).toBeCloseTo(-0.25, 14)
    expect(m.benchmark.cagr).toBeCloseTo(Math.pow(1.05, 365 / 4) - 1, 8)
    // Returns 0, 0.2, -0.25, 1/6
    const rets = [0, 0.2, -0.25, 1 / 6]
    const mu = rets.reduce((a, b) => a + b) / 4
    const sd = Math.sqrt(rets.reduce((a, b) => a + (b - mu) ** 2, 0) / 3)
    expect(m.benchmark.sharpe).toBeCloseTo((mu / sd) * Math.sqrt(365), 10)
  })

  it('reads the objective', () => {
    expect(objectiveValue(m, 'sharpe')).toBe(m.sharpe)
    expect(objectiveValue(m, 'total_return')).toBe(m.totalReturn)
    expect(objectiveValue(m, 'calmar')).toBe(m.calmar)
    expect(objectiveValue(m, 'sortino')).toBe(m.sortino)
  })
})

describe('cagr over a hole in the data', () => {
  it('counts calendar years, not bars: two daily bars a year apart are one year of growth', () => {
    const r = result({ equity: [100, 150] })
    const t = Float64Array.from([T0, T0 + 364 * DAY_MS * 1000])
    const holed = { ...r, equity: { ...r.equity, time: t }, benchmark: { time: t, equity: Float64Array.from([100, 150]) } }
    const m = computeMetrics(holed)
    // 365 days from the first bar's open to the last bar's end: +50% in one year
    expect(m.cagr).toBeCloseTo(0.5, 12)
    expect(m.benchmark.cagr).toBeCloseTo(0.5, 12)
    // Without the hole, two bars are 2/365 of a year
    expect(computeMetrics(r).cagr).toBeCloseTo(Math.pow(1.5, 365 / 2) - 1, 6)
  })
})

describe('computeMetrics against empyrical formulas', () => {
  it('matches NumPy values of empyrical sharpe_ratio, annual_volatility, sortino_ratio, cagr, max_drawdown, calmar_ratio', () => {
    // Values from NumPy with empyrical's formulas: r = pct_change with the start capital before the first
    // point, std ddof=1, downside = sqrt(mean(min(r,0)²)), annualization 365
    const m = computeMetrics(result({ start: 1000, equity: [1010, 1005, 1030, 1001, 990, 1015, 1040, 1032, 1050, 1047, 1060, 1055] }))
    expect(m.sharpe).toBeCloseTo(5.162084508752713, 10)
    expect(m.volatility).toBeCloseTo(0.3255844031072831, 12)
    expect(m.sortino).toBeCloseTo(9.506625886617563, 10)
    expect(m.cagr).toBeCloseTo(4.096385998182465, 9)
    expect(m.maxDrawdown).toBeCloseTo(-0.03883495145631082, 14)
    expect(m.calmar).toBeCloseTo(105.4819394531981, 7)
  })
})

describe('edge cases', () => {
  it('no trades: trade statistics are NaN, nothing throws', () => {
    const m = computeMetrics(result({ equity: [100, 101, 102] }))
    expect(m.trades).toBe(0)
    expect(m.winRate).toBeNaN()
    expect(m.profitFactor).toBeNaN()
    expect(m.expectancy).toBeNaN()
    expect(m.exposure).toBe(0)
  })

  it('flat equity: zero volatility, Sharpe and Sortino NaN (0/0), no drawdown, Calmar NaN', () => {
    const m = computeMetrics(result({ equity: [100, 100, 100, 100] }))
    expect(m.totalReturn).toBe(0)
    expect(m.cagr).toBe(0)
    expect(m.volatility).toBe(0)
    expect(m.sharpe).toBeNaN()
    expect(m.sortino).toBeNaN()
    expect(m.maxDrawdown).toBe(0)
    expect(m.maxDrawdownDurationMs).toBe(0)
    expect(m.calmar).toBeNaN()
  })

  it('steady growth: zero volatility gives Sharpe +Infinity, no losing bar gives Sortino +Infinity', () => {
    // Doubling each bar: every return is exactly 1
    const m = computeMetrics(result({ equity: [200, 400, 800] }))
    expect(m.volatility).toBe(0)
    expect(m.sharpe).toBe(Infinity)
    expect(m.sortino).toBe(Infinity)
    expect(m.calmar).toBeNaN()
  })

  it('steady loss: Sharpe -Infinity', () => {
    const m = computeMetrics(result({ equity: [50, 25, 12.5] }))
    expect(m.sharpe).toBe(-Infinity)
    expect(m.sortino).toBeCloseTo(-0.5 / 0.5 * Math.sqrt(365), 12)
    expect(m.maxDrawdown).toBe(-0.875)
  })

  it('only winning trades: profit factor +Infinity', () => {
    const m = computeMetrics(result({ equity: [100, 105], trades: [trade(2), trade(3)] }))
    expect(m.profitFactor).toBe(Infinity)
    expect(m.winRate).toBe(1)
  })

  it('a single bar: no volatility estimate', () => {
    const m = computeMetrics(result({ equity: [105] }))
    expect(m.totalReturn).toBeCloseTo(0.05, 14)
    expect(m.volatility).toBeNaN()
    expect(m.sharpe).toBeNaN()
    expect(m.sortino).toBeNaN()
  })

  it('an empty curve', () => {
    const m = computeMetrics(result({ equity: [] }))
    expect(m.totalReturn).toBe(0)
    expect(m.cagr).toBeNaN()
    expect(m.sharpe).toBeNaN()
    expect(m.exposure).toBeNaN()
    expect(m.benchmark.totalReturn).toBeNaN()
  })

  it('equity wiped out: CAGR -1, drawdown -100%', () => {
    const m = computeMetrics(result({ equity: [50, 0, 0] }))
    expect(m.totalReturn).toBe(-1)
    expect(m.cagr).toBe(-1)
    expect(m.maxDrawdown).toBe(-1)
  })

  it('a first bar below the start capital is a drawdown from the start capital', () => {
    const m = computeMetrics(result({ equity: [90, 95, 101] }))
    expect(m.maxDrawdown).toBeCloseTo(-0.1, 14)
    // The start capital is the peak one bar before the first point; recovered at bar 2: 3 days
    expect(m.maxDrawdownDurationMs).toBe(3 * DAY_MS)
  })

  it('refuses a corrupt curve', () => {
    expect(() => computeMetrics(result({ equity: [100, NaN, 101] }))).toThrow(FatalError)
    expect(() => computeMetrics({ ...result({ equity: [100] }), startCapital: 0 })).toThrow(FatalError)
  })
})

describe('helpers', () => {
  it('drawdown duration runs from the peak to the first point back at it', () => {
    const t = [0, 1, 2, 3, 4, 5]
    // Peak 110 at t0, recovered at t3 (3 units); peak 111 at t3, under water to the end at t5 (2 units)
    const d = drawdowns(t, [110, 100, 105, 111, 90, 95], 100, -1)
    expect(d.maxDuration).toBe(3)
    expect(d.maxDrawdown).toBeCloseTo(90 / 111 - 1, 14)
    expect(Array.from(d.series.slice(0, 4))).toEqual([0, 100 / 110 - 1, 105 / 110 - 1, 0])
  })

  it('returns start from the base, std is exactly 0 for equal values', () => {
    expect(Array.from(simpleReturns([110, 121], 100))).toEqual([0.10000000000000009, 0.10000000000000009])
    expect(sampleStd([0.1, 0.1, 0.1])).toBe(0)
    expect(sampleStd([1])).toBeNaN()
  })

  it('monthly returns chain from the start capital', () => {
    const t = Float64Array.from([Date.UTC(2024, 0, 5), Date.UTC(2024, 0, 31), Date.UTC(2024, 1, 1), Date.UTC(2024, 2, 10)].map((x) => x * 1000))
    const months = monthlyReturns(t, Float64Array.from([105, 110, 99, 108.9]), 100)
    expect(months.map((m) => [m.year, m.month])).toEqual([[2024, 1], [2024, 2], [2024, 3]])
    expect(months[0].ret).toBeCloseTo(0.1, 14)
    expect(months[1].ret).toBeCloseTo(-0.1, 14)
    expect(months[2].ret).toBeCloseTo(0.1, 14)
  })
})
