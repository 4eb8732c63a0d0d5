// Backtest bar-loop benchmark: one instrument, a strategy reading two registry indicators (RSI 14 and EMA 50) at
// every bar, over 1,000,000 real-derived 1m bars, single-threaded.
//
// Data: the shipped BTCUSDT 1m months (datasets/, 89,280 real bars) repeated end to end with shifted times until
// 1,000,000 bars; each copy is scaled so it opens where the previous one closed (no price jump at the seams). The
// bars are real; their sequence beyond 89,280 is not.

import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { cpus } from 'node:os'
import { NumericCsvScanner } from '../src/lib/archive/csv.js'
import { openArchive } from '../src/lib/archive/source.js'
import { marketDataFromColumns, simulate, type MarketData } from '../src/lib/backtest/engine.js'
import { indicatorSeries } from '../src/lib/backtest/indicators.js'
import type { Strategy, StrategyContext } from '../src/lib/backtest/strategy.js'
import { expandGlob } from '../src/lib/util/glob.js'
import { KlineParser } from '../src/lib/exchanges/binance/archive.js'

const ROOT = resolve(import.meta.dirname, '..', '..')
const KLINES = join(ROOT, 'datasets', 'binance', 'spot', 'klines', 'BTCUSDT', '1m')
const N = 1_000_000
const MINUTE = 60_000_000

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (x: number) => Math.round(x).toLocaleString('en-US')

async function sampleBars(): Promise<Record<string, Float64Array>> {
  const p = new KlineParser('1m')
  for (const f of expandGlob(join(KLINES, '*.zip')).sort()) {
    for await (const e of openArchive(f).entries()) {
      const s = new NumericCsvScanner(12, (v, n, l, t) => p.row(v, n, l, t))
      for await (const c of e.stream) s.push(c)
      s.end()
    }
  }
  const n = p.batch.rows
  return Object.fromEntries(Object.entries(p.batch.cols).map(([k, v]) => [k, v.slice(0, n)]))
}

/** The sample repeated to `n` bars: times shifted to follow on, prices scaled to continue from the last close. */
export async function millionBars(n = N): Promise<MarketData> {
  const src = await sampleBars()
  const m = src.open_time.length
  const out = {
    open_time: new Float64Array(n),
    open: new Float64Array(n),
    high: new Float64Array(n),
    low: new Float64Array(n),
    close: new Float64Array(n),
    volume: new Float64Array(n),
  }
  let scale = 1
  for (let i = 0; i < n; i++) {
    const j = i % m
    if (i > 0 && j === 0) scale = out.close[i - 1] / src.open[0]
    out.open_time[i] = src.open_time[0] + i * MINUTE
    out.open[i] = src.open[j] * scale
    out.high[i] = src.high[j] * scale
    out.low[i] = src.low[j] * scale
    out.close[i] = src.close[j] * scale
    out.volume[i] = src.volume[j]
  }
  return marketDataFromColumns('1m', [{ instrument: { exchange: 'binance', symbol: 'BTCUSDT' }, bars: out }])
}

interface St {
  rsi: number
  ema: number
}

/** RSI reversion below the EMA: two indicator reads and a position check every bar */
const rsiEma: Strategy = {
  name: 'rsi-ema-bench',
  description: 'buy RSI < 30 below the EMA(50), sell RSI > 70 or 1% above the EMA',
  params: [],
  onStart(ctx: StrategyContext) {
    const st = ctx.state as unknown as St
    st.rsi = ctx.indicator('rsi', { timePeriod: 14 })
    st.ema = ctx.indicator('ema', { timePeriod: 50 })
  },
  onBar(ctx: StrategyContext) {
    const st = ctx.state as unknown as St
    const r = ctx.value(st.rsi)
    const e = ctx.value(st.ema)
    const pos = ctx.position()
    if (pos === 0) {
      if (r < 30 && ctx.close() < e) ctx.order({ instrument: 'binance:BTCUSDT', side: 'buy', type: 'market' })
    } else if (r > 70 || ctx.close() > e * 1.01) {
      ctx.order({ instrument: 'binance:BTCUSDT', side: 'sell', type: 'market', qty: pos, reduceOnly: true })
    }
  },
}

/** Runs the bar-loop bench and returns its BENCHMARKS.md section. */
export async function runBacktestLoopBench(): Promise<string> {
  const log = (...a: unknown[]) => console.log(...a)
  const tLoad = performance.now()
  const data = await millionBars()
  const loadMs = performance.now() - tLoad
  // Indicators alone (batch, once per data: runs on the same data share them)
  const indMs: number[] = []
  for (let k = 0; k < 5; k++) {
    data.cache.clear()
    const t = performance.now()
    indicatorSeries(data, 'rsi', { timePeriod: 14 })
    indicatorSeries(data, 'ema', { timePeriod: 50 })
    indMs.push(performance.now() - t)
  }
  // The loop: indicators cached, so this is the engine and the strategy only
  const loopMs: number[] = []
  let trades = 0
  let fills = 0
  for (let k = 0; k < 11; k++) {
    const t = performance.now()
    const r = simulate(data, rsiEma, {})
    loopMs.push(performance.now() - t)
    trades = r.trades.length
    fills = r.fills.length
  }
  // A cold run: indicators computed inside
  const coldMs: number[] = []
  for (let k = 0; k < 3; k++) {
    data.cache.clear()
    const t = performance.now()
    simulate(data, rsiEma, {})
    coldMs.push(performance.now() - t)
  }
  // The same loop with the accounting invariant checked at every bar (the test/debug mode)
  const checkMs: number[] = []
  for (let k = 0; k < 3; k++) {
    const t = performance.now()
    simulate(data, rsiEma, { checkInvariant: true })
    checkMs.push(performance.now() - t)
  }
  const loop = median(loopMs)
  const rate = (ms: number) => `${fmt(N / (ms / 1000))} bars/s`
  const rows = [
    ['bar loop, 2 indicators (cached), 1 instrument', `${loop.toFixed(0)} ms`, rate(loop), '≥ 5,000,000 bars/s, < 200 ms', `median of 11 (fastest ${Math.min(...loopMs).toFixed(0)} ms); ${fmt(fills)} fills, ${fmt(trades)} round trips`],
    ['same, indicators computed in the run (cold)', `${median(coldMs).toFixed(0)} ms`, rate(median(coldMs)), '-', 'median of 3'],
    ['RSI(14) + EMA(50) batch alone', `${median(indMs).toFixed(0)} ms`, rate(median(indMs)), '-', 'median of 5'],
    ['bar loop with the invariant checked every bar', `${median(checkMs).toFixed(0)} ms`, rate(median(checkMs)), '-', 'median of 3; test/debug mode'],
  ]
  for (const r of rows) log(`${r[0]}: ${r[1]} (${r[2]})`)
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  return [
    `### Backtest bar loop`,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu}, Node ${process.version}, one thread. Data: 1,000,000 1m bars built from the ` +
      `shipped BTCUSDT sample (89,280 real bars, 2024-11-01 to 2025-01-01) repeated with shifted times, each copy scaled to open ` +
      `where the previous closed (real bars, a synthetic sequence past the first 89,280; ${loadMs.toFixed(0)} ms to build). ` +
      'Strategy: RSI(14) reversion below an EMA(50), market orders at the next open, default costs.',
    '',
    '| benchmark | time | throughput | target | notes |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n')
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  console.log(await runBacktestLoopBench())
}
