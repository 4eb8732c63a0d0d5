// Performance statistics of a backtest, following empyrical's conventions (quantopian/empyrical `stats.py`,
// which quantstats shares for the ratios below):
//
// - Returns are per-bar simple returns of the equity curve, r_i = E_i / E_{i-1} - 1, where E_{-1} is the start
//   capital (so a run of n bars has n returns and a fee paid on the first bar counts).
// - Periods per year = 365 * 24 * 3600e6 / interval µs: crypto trades every day, so a year is 365 days of bars
//   (525,600 one-minute bars, 8,760 hourly, 365 daily). A calendar-month interval counts 12 per year.
// - volatility = std(r, ddof=1) * sqrt(P); sharpe = mean(r) / std(r, ddof=1) * sqrt(P), risk-free rate zero
//   (empyrical `sharpe_ratio`, quantstats `sharpe`).
// - sortino = mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(P): the downside deviation averages over every bar, not
//   only the losing ones (empyrical `downside_risk` and `sortino_ratio`, quantstats `sortino`), target return 0.
// - cagr = (E_last / start capital)^(1 / years) - 1, years = the curve's calendar span (first bar's open to the last
//   bar's end) / 365 days, which is n / P for bars without holes (empyrical `cagr` / `annual_return` count bars);
//   counting bars across a hole in the data would shrink the years and inflate the rate. -1 when the equity ends
//   at or below zero.
// - maxDrawdown = min(E / running max(E) - 1), a number <= 0 as in empyrical `max_drawdown` (-0.25 means a 25%
//   fall from the peak); the start capital is the first peak.
// - calmar = cagr / |maxDrawdown| (empyrical `calmar_ratio`).
//
// Degenerate inputs give documented non-finite values, never an exception:
// - Fewer than 2 returns: volatility, sharpe and sortino are NaN.
// - Zero volatility (every return equal): sharpe is NaN when the mean is 0, else +/-Infinity.
// - No losing bar: sortino is +Infinity for a positive mean, NaN for a zero mean.
// - No drawdown: calmar is NaN (empyrical returns NaN too).
//
// Two deliberate differences from empyrical: a zero standard deviation gives +/-Infinity for a non-zero mean (as
// quantstats' plain division does; empyrical returns NaN), and the start capital is the first drawdown peak
// (empyrical's running maximum starts at the first point, so a loss on the first bar would not count).
// - No closed trade: winRate, profitFactor and expectancy are NaN; only winners: profitFactor is +Infinity.

import { FatalError } from '../errors.js'
import type { Interval } from '../consts.js'
import { intervalUs, periodsPerYear, US_PER_DAY, US_PER_MS, US_PER_YEAR } from '../time.js'
import type { BacktestResult, ClosedTrade, Metrics } from './types.js'

/** Per-bar simple returns of a curve that starts from `base` (the value before its first point). */
export function simpleReturns(equity: ArrayLike<number>, base: number): Float64Array {
  const n = equity.length
  const out = new Float64Array(n)
  let prev = base
  for (let i = 0; i < n; i++) {
    const e = equity[i]
    out[i] = e / prev - 1
    prev = e
  }
  return out
}

/** Arithmetic mean; NaN when empty. */
export function mean(xs: ArrayLike<number>): number {
  const n = xs.length
  if (n === 0) return NaN
  let s = 0
  for (let i = 0; i < n; i++) s += xs[i]
  return s / n
}

/** Sample standard deviation (ddof = 1); exactly 0 when every value is equal, NaN below 2 values. */
export function sampleStd(xs: ArrayLike<number>): number {
  const n = xs.length
  if (n < 2) return NaN
  let allEqual = true
  for (let i = 1; i < n && allEqual; i++) allEqual = xs[i] === xs[0]
  if (allEqual) return 0
  const m = mean(xs)
  let ss = 0
  for (let i = 0; i < n; i++) {
    const d = xs[i] - m
    ss += d * d
  }
  return Math.sqrt(ss / (n - 1))
}

/** Root mean square of the negative returns over all returns (target 0); NaN when empty. */
export function downsideDeviation(xs: ArrayLike<number>): number {
  const n = xs.length
  if (n === 0) return NaN
  let ss = 0
  for (let i = 0; i < n; i++) if (xs[i] < 0) ss += xs[i] * xs[i]
  return Math.sqrt(ss / n)
}

/** a / b with the sign conventions above: 0/0 is NaN, x/0 is +/-Infinity. */
function ratio(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return NaN
  if (b === 0) return a === 0 ? NaN : a > 0 ? Infinity : -Infinity
  return a / b
}

/** Annualised Sharpe ratio of per-bar returns, zero risk-free rate. */
export function sharpeRatio(returns: ArrayLike<number>, periods: number): number {
  if (returns.length < 2) return NaN
  return ratio(mean(returns), sampleStd(returns)) * Math.sqrt(periods)
}

/** Annualised Sortino ratio of per-bar returns, target 0. */
export function sortinoRatio(returns: ArrayLike<number>, periods: number): number {
  if (returns.length < 2) return NaN
  return ratio(mean(returns), downsideDeviation(returns)) * Math.sqrt(periods)
}

/** Compound annual growth over `bars` bars. */
export function cagrOf(endValue: number, base: number, bars: number, periods: number): number {
  if (bars === 0 || !(base > 0)) return NaN
  const growth = endValue / base
  if (growth <= 0) return -1
  return Math.pow(growth, periods / bars) - 1
}

export interface DrawdownStats {
  /** <= 0 */
  readonly maxDrawdown: number
  /** Longest stretch under a previous peak, in the units of `time` */
  readonly maxDuration: number
  /** Drawdown at each point, <= 0 */
  readonly series: Float64Array
}

/**
 * Drawdowns of a curve whose first peak is `base` at `baseTime`. A stretch under water lasts from its peak's time to
 * the first point back at or above the peak, or to the last point when it never recovers.
 */
export function drawdowns(time: ArrayLike<number>, equity: ArrayLike<number>, base: number, baseTime: number): DrawdownStats {
  const n = equity.length
  const series = new Float64Array(n)
  let peak = base
  let peakTime = baseTime
  let under = false
  let maxDd = 0
  let maxDur = 0
  for (let i = 0; i < n; i++) {
    const e = equity[i]
    if (e >= peak) {
      if (under) maxDur = Math.max(maxDur, time[i] - peakTime)
      under = false
      peak = e
      peakTime = time[i]
    } else {
      under = true
      const dd = peak > 0 ? e / peak - 1 : -1
      series[i] = dd
      if (dd < maxDd) maxDd = dd
    }
  }
  if (under) maxDur = Math.max(maxDur, time[n - 1] - peakTime)
  return { maxDrawdown: maxDd, maxDuration: maxDur, series }
}

/** Trade statistics: share of winners, gross profit / gross loss, mean PnL per trade (quote currency). */
export function tradeStats(trades: readonly ClosedTrade[]): { winRate: number; profitFactor: number; expectancy: number } {
  if (trades.length === 0) return { winRate: NaN, profitFactor: NaN, expectancy: NaN }
  let wins = 0
  let gain = 0
  let loss = 0
  let total = 0
  for (const t of trades) {
    if (t.pnl > 0) {
      wins++
      gain += t.pnl
    } else if (t.pnl < 0) loss -= t.pnl
    total += t.pnl
  }
  return { winRate: wins / trades.length, profitFactor: ratio(gain, loss), expectancy: total / trades.length }
}

/** Time of the point before a curve's first one: one bar earlier. */
function baseTimeOf(time: Float64Array, interval: Interval): number {
  if (time.length === 0) return 0
  const step = intervalUs(interval) ?? (time.length > 1 ? time[1] - time[0] : 30 * US_PER_DAY)
  return time[0] - step
}

function assertFinite(xs: Float64Array, what: string): void {
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isFinite(xs[i])) throw new FatalError(`${what} holds a non-finite value (${xs[i]}) at point ${i}; the engine produced a corrupt curve`)
  }
}

/** The headline numbers of one curve. */
export function curveStats(
  time: Float64Array,
  equity: Float64Array,
  base: number,
  interval: Interval,
): { totalReturn: number; cagr: number; volatility: number; sharpe: number; sortino: number; calmar: number; maxDrawdown: number; maxDrawdownDuration: number } {
  const periods = periodsPerYear(interval)
  const n = equity.length
  const rets = simpleReturns(equity, base)
  const end = n > 0 ? equity[n - 1] : base
  const totalReturn = end / base - 1
  // The calendar span in bars: n when no bar is missing, more across holes (the calendar month has no fixed step)
  const step = intervalUs(interval)
  const spanBars = step !== undefined && n > 0 ? ((time[n - 1] - time[0] + step) / US_PER_YEAR) * periods : n
  const cagr = cagrOf(end, base, Math.max(n, spanBars), periods)
  const dd = drawdowns(time, equity, base, baseTimeOf(time, interval))
  return {
    totalReturn,
    cagr,
    volatility: n < 2 ? NaN : sampleStd(rets) * Math.sqrt(periods),
    sharpe: sharpeRatio(rets, periods),
    sortino: sortinoRatio(rets, periods),
    calmar: dd.maxDrawdown < 0 ? cagr / Math.abs(dd.maxDrawdown) : NaN,
    maxDrawdown: dd.maxDrawdown,
    maxDrawdownDuration: dd.maxDuration,
  }
}

/** Computes the performance statistics of a backtest result and of its buy-and-hold benchmark. */
export function computeMetrics(r: BacktestResult): Metrics {
  if (!(r.startCapital > 0)) throw new FatalError(`Start capital must be positive, was ${r.startCapital}`)
  assertFinite(r.equity.equity, 'The equity curve')
  const s = curveStats(r.equity.time, r.equity.equity, r.startCapital, r.interval)
  const bench = r.benchmark.equity.length
    ? curveStats(r.benchmark.time, r.benchmark.equity, r.startCapital, r.interval)
    : { totalReturn: NaN, cagr: NaN, sharpe: NaN, maxDrawdown: NaN }
  const ts = tradeStats(r.trades)
  const n = r.equity.equity.length
  let exposed = 0
  for (let i = 0; i < n; i++) if (r.equity.exposure[i] > 0) exposed++
  const avgEquity = mean(r.equity.equity)
  return {
    totalReturn: s.totalReturn,
    cagr: s.cagr,
    volatility: s.volatility,
    sharpe: s.sharpe,
    sortino: s.sortino,
    calmar: s.calmar,
    maxDrawdown: s.maxDrawdown,
    maxDrawdownDurationMs: s.maxDrawdownDuration / US_PER_MS,
    winRate: ts.winRate,
    profitFactor: ts.profitFactor,
    expectancy: ts.expectancy,
    exposure: n ? exposed / n : NaN,
    turnover: n ? r.turnover / avgEquity : NaN,
    fees: r.fees,
    funding: r.funding,
    trades: r.trades.length,
    benchmark: { totalReturn: bench.totalReturn, cagr: bench.cagr, sharpe: bench.sharpe, maxDrawdown: bench.maxDrawdown },
  }
}

/** One calendar month's return (UTC), from the equity at the end of the previous month (or the start capital). */
export interface MonthlyReturn {
  readonly year: number
  /** 1..12 */
  readonly month: number
  readonly ret: number
}

/** Calendar-month returns of a curve, in time order. */
export function monthlyReturns(time: Float64Array, equity: Float64Array, base: number): MonthlyReturn[] {
  const out: MonthlyReturn[] = []
  let prevEnd = base
  let key = -1
  let last = base
  let y = 0
  let m = 0
  for (let i = 0; i < equity.length; i++) {
    const d = new Date(Math.floor(time[i] / US_PER_MS))
    const k = d.getUTCFullYear() * 12 + d.getUTCMonth()
    if (k !== key) {
      if (key >= 0) {
        out.push({ year: y, month: m, ret: last / prevEnd - 1 })
        prevEnd = last
      }
      key = k
      y = d.getUTCFullYear()
      m = d.getUTCMonth() + 1
    }
    last = equity[i]
  }
  if (key >= 0) out.push({ year: y, month: m, ret: last / prevEnd - 1 })
  return out
}

/** Metric names the optimiser can maximise, and how to read each from `Metrics`. */
export const OBJECTIVES = ['sharpe', 'total_return', 'calmar', 'sortino', 'cagr'] as const
export type Objective = (typeof OBJECTIVES)[number]

/** The objective's value of a result's metrics; NaN counts as the worst score. */
export function objectiveValue(m: Metrics, objective: Objective): number {
  switch (objective) {
    case 'sharpe':
      return m.sharpe
    case 'total_return':
      return m.totalReturn
    case 'calmar':
      return m.calmar
    case 'sortino':
      return m.sortino
    case 'cagr':
      return m.cagr
  }
}
