// Optimiser bench: a grid of 1,000 `rsi-reversion` parameter sets over one year of 1m BTCUSDT bars on every core
// (worker threads reading the data from shared memory), with the data transfer modes compared, and published
// figures of vectorbt and backtesting.py beside it. Uses the real 2024 year from ../shared/data/real when present
// (imported into a temp lake with importArchives), else the shipped sample months repeated to a year (said so).
// Run alone after a build: node dist/bench/backtest-opt.js

import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { importArchives } from '../src/lib/archive/import.js'
import { loadMarketData, marketDataFromColumns, type MarketData } from '../src/lib/backtest/data.js'
import { simulate } from '../src/lib/backtest/engine.js'
import { computeMetrics } from '../src/lib/backtest/metrics.js'
import { parseParamOverride } from '../src/lib/backtest/opt-space.js'
import { runOptimization } from '../src/lib/backtest/optimize.js'
import { rsiReversion } from '../src/lib/backtest/strategies/index.js'

const ROOT = resolve(import.meta.dirname, '..', '..')
const SHARED = resolve(ROOT, '..', 'shared', 'data', 'real', 'jan-kluger-backtest')
const KLINES = join(ROOT, 'datasets', 'binance', 'spot', 'klines', 'BTCUSDT', '1m')
const BTC = [{ exchange: 'binance' as const, symbol: 'BTCUSDT' }]
const YEAR_MINUTES = 525_600
const MINUTE_US = 60_000_000
/** 10 × 10 × 10 = 1,000 parameter sets */
const GRID = ['period=6:24:2', 'lower=20:38:2', 'upper=60:78:2']

const log = (...a: unknown[]) => console.log(...a)
const fmt = (x: number, d = 0) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })

/** The shipped months tiled to a year of 1m bars (times shifted, prices as they are) */
function repeatToYear(d: MarketData): MarketData {
  const s = d.instruments[0]
  const n = d.time.length
  const cols = ['open', 'high', 'low', 'close', 'volume'] as const
  const out: Record<string, Float64Array> = { open_time: new Float64Array(YEAR_MINUTES) }
  for (const c of cols) out[c] = new Float64Array(YEAR_MINUTES)
  const t0 = d.time[0]
  for (let i = 0; i < YEAR_MINUTES; i++) {
    const j = i % n
    out.open_time[i] = t0 + i * MINUTE_US
    for (const c of cols) out[c][i] = s.bars[c][j]
  }
  return marketDataFromColumns('1m', [{ instrument: BTC[0], bars: out }])
}

/** Runs the bench and returns its Markdown section. */
export async function runOptimizeBench(): Promise<string> {
  const tmp = mkdtempSync(join(tmpdir(), 'mercury-bench-opt-'))
  const threads = availableParallelism()
  // Other work on the machine slows every number here; say how busy it was
  const load = loadavg()[0]
  try {
    const haveYear = Array.from({ length: 12 }, (_, i) => join(SHARED, `BTCUSDT-1m-2024-${String(i + 1).padStart(2, '0')}.csv.gz`)).every((f) => existsSync(f))
    const lake = join(tmp, 'lake')
    const t0 = performance.now()
    await importArchives({ lakeDir: lake, patterns: [haveYear ? join(SHARED, 'BTCUSDT-1m-2024-*.csv.gz') : join(KLINES, '*.zip')] })
    const importS = (performance.now() - t0) / 1000
    const t1 = performance.now()
    const loaded = await loadMarketData(lake, BTC, '1m')
    const loadMs = performance.now() - t1
    const data = haveYear ? loaded : repeatToYear(loaded)
    const source = haveYear
      ? `the real 2024 BTCUSDT 1m year (${fmt(data.time.length)} bars, 12 monthly .csv.gz from ../shared/data/real, imported in ${importS.toFixed(1)} s)`
      : `the shipped sample (${fmt(loaded.time.length)} bars) repeated to ${fmt(data.time.length)} bars: ../shared/data/real was not found`
    log(`data: ${source}`)

    // One run in this thread: the unit cost (the first call also computes the RSI series)
    const params = { period: 14, lower: 30, upper: 70 }
    let t = performance.now()
    const first = simulate(data, rsiReversion, { params })
    const firstMs = performance.now() - t
    const warm: number[] = []
    for (let k = 0; k < 3; k++) {
      t = performance.now()
      computeMetrics(simulate(data, rsiReversion, { params }))
      warm.push(performance.now() - t)
    }
    const oneMs = warm.sort((a, b) => a - b)[1]
    log(`one run: ${oneMs.toFixed(0)} ms warm (${firstMs.toFixed(0)} ms first), ${first.trades.length} trades`)

    // Single-thread rate on a random sample of the same grid (runs differ in cost with their trade counts)
    const sample = await runOptimization({ strategy: 'rsi-reversion', data, method: 'random', trials: 24, params: GRID.map(parseParamOverride), threads: 1, seed: 2 })
    const rate1 = sample.trials.length / (sample.wallMs / 1000)
    log(`one thread: ${rate1.toFixed(2)} sets/s over ${sample.trials.length} random sets of the grid`)

    // How workers get the data: shared columns (loaded once here) against each worker loading the lake itself
    const probe = { strategy: 'rsi-reversion', method: 'random' as const, trials: threads, params: GRID.map(parseParamOverride), threads, seed: 1 }
    const viaShared = await runOptimization({ ...probe, lakeDir: lake, instruments: BTC, interval: '1m', transfer: 'shared' })
    const viaLoad = await runOptimization({ ...probe, lakeDir: lake, instruments: BTC, interval: '1m', transfer: 'load' })
    log(`start: shared ${viaShared.loadMs.toFixed(0)} + ${viaShared.workerStartMs.toFixed(0)} ms, load ${viaLoad.loadMs.toFixed(0)} + ${viaLoad.workerStartMs.toFixed(0)} ms`)

    // The optimisation: every point of the 1,000-set grid, on every core
    t = performance.now()
    const r = await runOptimization({ strategy: 'rsi-reversion', data, method: 'grid', params: GRID.map(parseParamOverride), threads, objective: 'sharpe' })
    const wallS = (performance.now() - t) / 1000
    const sets = r.trials.length
    const rate = sets / wallS
    const best = r.best
    log(`grid: ${sets} sets in ${wallS.toFixed(1)} s = ${rate.toFixed(2)} sets/s on ${r.threads} threads`)
    const barsPerS = (sets * data.time.length) / wallS

    const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU'
    return [
      `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu}, ${cpus().length} cores (os.availableParallelism() = ${threads}), ` +
        `${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}; 1-minute load average ${load.toFixed(1)} at the start ` +
        `(above ${threads} means other work shared the cores). Data: ${source}.`,
      '',
      `Grid of ${fmt(sets)} \`rsi-reversion\` parameter sets (${GRID.map((g) => `\`${g}\``).join(', ')}), each a full event-driven ` +
        'run (next-open fills, 0.1% taker fees, 1 bps slippage, risk gate, equity marked every bar) plus metrics, objective Sharpe:',
      '',
      '| measure | value | note |',
      '|---|---|---|',
      `| optimisation wall time | ${wallS.toFixed(1)} s | ${fmt(sets)} sets on ${r.threads} worker threads, data shared |`,
      `| parameter sets per second | ${rate.toFixed(2)} | ${fmt(barsPerS / 1e6, 1)} M bar-steps/s across the workers |`,
      `| one thread, same grid | ${rate1.toFixed(2)} sets/s | in this thread, ${sample.trials.length} random sets of the grid |`,
      `| parallel efficiency | ${((rate / rate1 / r.threads) * 100).toFixed(0)}% | sets/s ÷ (one-thread sets/s × threads) |`,
      `| one run of the defaults | ${fmt(oneMs)} ms | period=14 lower=30 upper=70, ${fmt(first.trades.length)} trades, warm (first call ${fmt(firstMs)} ms: computes the RSI, JIT warm-up) |`,
      `| data into workers, shared memory | ${fmt(viaShared.loadMs + viaShared.workerStartMs)} ms | lake read + copy to SharedArrayBuffers ${fmt(viaShared.loadMs)} ms, ${threads} workers ready ${fmt(viaShared.workerStartMs)} ms |`,
      `| data into workers, each loads the lake | ${fmt(viaLoad.loadMs + viaLoad.workerStartMs)} ms | clock read here ${fmt(viaLoad.loadMs)} ms, ${threads} workers each reading the lake ${fmt(viaLoad.workerStartMs)} ms; memory: ${threads}× the columns |`,
      `| best in-sample | ${best.score.toFixed(2)} Sharpe | ${Object.entries(best.params).map(([k, v]) => `${k}=${v}`).join(' ')}, ${best.metrics.trades} trades, return ${(best.metrics.totalReturn * 100).toFixed(1)}% |`,
      `| (lake read of the year, for reference) | ${fmt(loadMs)} ms | loadMarketData, ${fmt(loaded.time.length)} bars |`,
      '',
      'Shared memory is the default: the columns are read once and copied once into SharedArrayBuffers that every worker ' +
        'reads in place, so start-up does not grow with the worker count and memory holds one copy; loading in each ' +
        'worker reads the lake N times concurrently.',
      '',
      'Published figures of other tools (not run here; different machines, strategies and fill models):',
      '',
      '| tool | published figure | source |',
      '|---|---|---|',
      '| vectorbt (open source) | "fills 1,000,000 orders in 70-100ms on Apple M1" (order fills from prepared arrays, not whole strategy runs) | https://github.com/polakowo/vectorbt (README, Features › Portfolio modeling) |',
      '| VectorBT PRO | 1,000,000 1m bars × 8 columns in parallel, sparse orders: 25 ms high-level Rust (≈320 M bars/s), 1.7 ms low-level; Backtrader 65 s for the same (8-core Apple M3) | https://vectorbt.pro/features/performance/benchmarks |',
      '| backtesting.py | no official benchmark found. User reports: ~2,000 bars/s on a Ryzen 7 7700 for a 204,342-bar run, slowing as trades accumulate; 50 optimisation tries on 7,700 candles took 15 minutes | https://github.com/kernc/backtesting.py/issues/1275 and /issues/1011 |',
      '',
      `Read against these: vectorbt's numbers are array throughput of a vectorised fill simulator (orders or signals ` +
        `precomputed for every parameter set, no per-bar strategy callback); here each set is a separate event-driven run ` +
        `at ${fmt(barsPerS / 1e6, 1)} M bar-steps/s in total, far below vectorbt's vectorised figures and far above the ` +
        `backtesting.py user reports. A one-year 1m run per set is what makes 1,000 sets cost minutes rather than seconds.`,
    ].join('\n')
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runOptimizeBench().then(
    (md) => log(`\n${md}`),
    (err) => {
      console.error(err)
      process.exitCode = 1
    },
  )
}
