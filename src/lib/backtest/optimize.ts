// Parameter optimisation: grid, random or TPE search over a strategy's parameter ranges, optionally walk-forward,
// with `simulate` running on worker threads over data loaded once.
//
// Walk-forward with K folds cuts the range into K + 1 consecutive windows of equal bar count. Fold k optimises on
// window k (in-sample) and runs its best parameters on window k + 1 (out-of-sample), so every out-of-sample window
// directly follows its training window and none overlaps another. Bars before a window are warm-up for its
// indicators (seen, never traded), exactly as bars before --from are in a backtest. The out-of-sample runs chained
// end to end (each starting from the equity the previous one ended with) give the combined out-of-sample curve,
// whose metrics are the honest estimate; in-sample scores are optimistic by construction. Without folds the whole
// range is searched once.
//
// Workers: one per core (os.availableParallelism()) unless told otherwise. By default the market data is loaded
// once here and its columns copied into SharedArrayBuffers that every worker reads in place (`transfer: 'shared'`);
// `transfer: 'load'` makes each worker read the lake itself (slower to start, kept for comparison; see the bench).
// A run depends only on its data window, strategy, settings and parameters, so results are identical on any
// number of threads. Searches are reproducible from the seed: TPE proposes `batch` points per round (default 8)
// from the trials finished before the round, so the same seed and batch give the same trials on any thread count.

import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Interval } from '../consts.js'
import { FatalError, UsageError } from '../errors.js'
import type { Instrument } from '../instrument.js'
import { isoUs } from '../time.js'
import { toJsonData } from '../util/json.js'
import { loadMarketData, type Market, type MarketData } from './data.js'
import { computeMetrics, objectiveValue, type Objective } from './metrics.js'
import { Evaluator, shareMarketData, type ReplyMsg, type RunSummary, type TaskMsg, type Window, type WorkerData } from './opt-eval.js'
import { buildSpace, gridPoint, paramsKey, randomPoint, Rng, type ParamOverride, type ParamSet, type ParamSpace } from './opt-space.js'
import { loadStrategy, type Strategy } from './strategy.js'
import { TpeSampler, type Observation, type TpeOptions } from './tpe.js'
import type { BacktestResult, Metrics, SimConfig } from './types.js'

export const METHODS = ['grid', 'random', 'tpe'] as const
export type OptimizeMethod = (typeof METHODS)[number]

/** Points a grid search may have before it is refused in favour of random or TPE */
export const MAX_GRID = 1_000_000

export interface OptimizeProgress {
  readonly fold: number
  readonly folds: number
  /** Trials finished in this fold */
  readonly done: number
  readonly total: number
  /** Best in-sample score of this fold so far */
  readonly best: number
}

export interface OptimizeOptions {
  /** A built-in strategy name or a .js/.mjs/.ts path (workers load it by that); a Strategy object runs in this thread only */
  readonly strategy: string | Strategy
  readonly lakeDir?: string | undefined
  readonly instruments?: readonly Instrument[] | undefined
  readonly interval?: Interval | undefined
  readonly from?: number | undefined
  readonly to?: number | undefined
  readonly market?: Market | undefined
  /** Preloaded data (tests, benches); the lake options are then unused and `transfer` is `shared` */
  readonly data?: MarketData | undefined
  /** How every run trades (capital, fees, slippage, risk…); the parameters come from the search */
  readonly sim?: Omit<SimConfig, 'params'> | undefined
  /** `--param` ranges or fixed values; unnamed parameters use the strategy's declared range */
  readonly params?: readonly ParamOverride[] | undefined
  /** Default `tpe` */
  readonly method?: OptimizeMethod | undefined
  /** Trials per fold for random and TPE (default 100); grid runs every point */
  readonly trials?: number | undefined
  /** Default `sharpe` */
  readonly objective?: Objective | undefined
  /** Walk-forward folds; 0 (default) searches the whole range once */
  readonly folds?: number | undefined
  /** Default 1 */
  readonly seed?: number | undefined
  /** Worker threads; default os.availableParallelism(). 1 runs in this thread */
  readonly threads?: number | undefined
  /** TPE proposals per round (default 8) */
  readonly batch?: number | undefined
  readonly tpe?: TpeOptions | undefined
  /** How workers get the data: shared memory (default) or their own load from the lake */
  readonly transfer?: 'shared' | 'load' | undefined
  readonly onProgress?: ((p: OptimizeProgress) => void) | undefined
}

export interface TrialRecord {
  readonly fold: number
  /** Order within the fold */
  readonly index: number
  readonly params: ParamSet
  /** Objective value in-sample (NaN when undefined, e.g. Sharpe of a flat curve) */
  readonly score: number
  readonly metrics: Metrics
}

/** Clock rows [start, end) and their time span [from, to) µs. */
export interface FoldWindow {
  readonly start: number
  readonly end: number
  readonly from: number
  readonly to: number
  readonly bars: number
}

export interface FoldResult {
  readonly fold: number
  readonly train: FoldWindow
  /** The next window; undefined without walk-forward */
  readonly test: FoldWindow | undefined
  readonly trials: number
  /** Best in-sample trial */
  readonly best: { readonly params: ParamSet; readonly score: number; readonly metrics: Metrics }
  /** The best parameters run on the test window */
  readonly oos: { readonly score: number; readonly metrics: Metrics } | undefined
}

export interface OptimizationResult {
  readonly strategy: string
  readonly method: OptimizeMethod
  readonly objective: Objective
  readonly seed: number
  readonly interval: Interval
  readonly instruments: readonly string[]
  /** Walk-forward folds (0: none) */
  readonly foldCount: number
  readonly space: {
    readonly axes: readonly { readonly name: string; readonly min: number; readonly max: number; readonly step: number; readonly values: number }[]
    readonly fixed: ParamSet
    readonly size: number
  }
  /** Every trial, fold by fold */
  readonly trials: readonly TrialRecord[]
  readonly folds: readonly FoldResult[]
  /** The parameters to trade next: the best of the only fold, or of the last (most recent) walk-forward fold */
  readonly best: FoldResult['best']
  /** The out-of-sample runs chained; undefined without walk-forward */
  readonly oos: { readonly time: Float64Array; readonly equity: Float64Array; readonly benchmark: Float64Array; readonly metrics: Metrics } | undefined
  readonly threads: number
  readonly transfer: 'shared' | 'load' | 'in-thread'
  /** Simulations run (trials and out-of-sample runs) */
  readonly runs: number
  readonly wallMs: number
  /** Time to get the data into the workers: this thread's load and share, then the slowest worker's start */
  readonly loadMs: number
  readonly workerStartMs: number
}

// --- Executors ----------------------------------------------------------------------------------------------

interface Executor {
  readonly threads: number
  score(w: Window, p: ParamSet): Promise<Metrics>
  summary(w: Window, p: ParamSet): Promise<RunSummary>
  close(): Promise<void>
}

class InThread implements Executor {
  readonly threads = 1
  private readonly ev: Evaluator
  constructor(data: MarketData, strategy: Strategy, sim: SimConfig) {
    this.ev = new Evaluator(data, strategy, sim)
  }
  async score(w: Window, p: ParamSet): Promise<Metrics> {
    return this.ev.score(w, p)
  }
  async summary(w: Window, p: ParamSet): Promise<RunSummary> {
    return this.ev.summary(w, p)
  }
  async close(): Promise<void> {}
}

/** The compiled worker: beside this module, or in dist/ when this runs from TypeScript sources (vitest). */
export function workerUrl(): URL {
  const here = fileURLToPath(import.meta.url)
  if (here.endsWith('.js')) return new URL('./worker.js', import.meta.url)
  const built = join(resolve(dirname(here), '..', '..', '..'), 'dist', 'src', 'lib', 'backtest', 'worker.js')
  if (!existsSync(built)) throw new FatalError(`The optimiser's worker is not built (${built} is missing): run npm run build`)
  return pathToFileURL(built)
}

function rebuildError(name: string, message: string): Error {
  if (name === 'UsageError') return new UsageError(message)
  if (name === 'FatalError' || name === 'DataError') return new FatalError(message)
  return new FatalError(`Optimiser worker failed: ${name}: ${message}`)
}

interface Pending {
  readonly msg: TaskMsg
  resolve(x: Metrics | RunSummary): void
  reject(e: Error): void
}

class WorkerPool implements Executor {
  private readonly idle: Worker[] = []
  private readonly queue: Pending[] = []
  private readonly inFlight = new Map<Worker, Pending>()
  private nextId = 0
  private failed: Error | undefined

  private constructor(private readonly workers: Worker[]) {}

  get threads(): number {
    return this.workers.length
  }

  /** Starts `n` workers and waits until each has its data; returns the pool and the slowest start in ms. */
  static async start(n: number, init: WorkerData): Promise<{ pool: WorkerPool; startMs: number }> {
    const t0 = performance.now()
    const url = workerUrl()
    const workers = Array.from({ length: n }, () => new Worker(url, { workerData: init }))
    const pool = new WorkerPool(workers)
    try {
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((res, rej) => {
              const onMsg = (m: ReplyMsg) => {
                if (m.type === 'ready') {
                  w.off('message', onMsg)
                  w.off('error', rej)
                  res()
                } else if (m.type === 'error') rej(rebuildError(m.name, m.message))
              }
              w.on('message', onMsg)
              w.on('error', rej)
            }),
        ),
      )
    } catch (err) {
      await pool.close()
      throw err
    }
    for (const w of workers) {
      w.on('message', (m: ReplyMsg) => pool.onReply(w, m))
      w.on('error', (e) => pool.fail(e instanceof Error ? e : new Error(String(e))))
      w.on('exit', (code) => {
        if (code !== 0 && !pool.closing) pool.fail(new FatalError(`An optimiser worker exited with code ${code}`))
      })
      pool.idle.push(w)
    }
    return { pool, startMs: performance.now() - t0 }
  }

  private closing = false

  private onReply(w: Worker, m: ReplyMsg): void {
    const p = this.inFlight.get(w)
    if (!p || m.type === 'ready') return
    this.inFlight.delete(w)
    if (m.type === 'error') p.reject(rebuildError(m.name, m.message))
    else p.resolve((m.metrics ?? m.summary) as Metrics | RunSummary)
    this.idle.push(w)
    this.pump()
  }

  private fail(e: Error): void {
    if (this.failed) return
    this.failed = e
    for (const p of this.inFlight.values()) p.reject(e)
    this.inFlight.clear()
    for (const p of this.queue.splice(0)) p.reject(e)
  }

  private pump(): void {
    while (this.idle.length && this.queue.length) {
      const w = this.idle.shift() as Worker
      const p = this.queue.shift() as Pending
      this.inFlight.set(w, p)
      w.postMessage(p.msg)
    }
  }

  private exec(kind: TaskMsg['kind'], window: Window, params: ParamSet): Promise<Metrics | RunSummary> {
    if (this.failed) return Promise.reject(this.failed)
    return new Promise((resolve, reject) => {
      this.queue.push({ msg: { id: this.nextId++, kind, window, params }, resolve, reject })
      this.pump()
    })
  }

  score(w: Window, p: ParamSet): Promise<Metrics> {
    return this.exec('score', w, p) as Promise<Metrics>
  }

  summary(w: Window, p: ParamSet): Promise<RunSummary> {
    return this.exec('summary', w, p) as Promise<RunSummary>
  }

  async close(): Promise<void> {
    this.closing = true
    await Promise.all(this.workers.map((w) => w.terminate()))
  }
}

// --- Search -------------------------------------------------------------------------------------------------

export interface SearchOptions {
  readonly method: OptimizeMethod
  /** Random and TPE: points to evaluate (at most the space's size) */
  readonly trials: number
  readonly rng: Rng
  readonly batch?: number | undefined
  readonly tpe?: TpeOptions | undefined
}

/**
 * Searches a space for the highest score: every point (grid), `trials` distinct uniform points (random), or TPE
 * rounds of `batch` proposals. `evaluate` scores a batch (in parallel where it can); NaN scores rank last.
 * Returns every evaluation in order.
 */
export async function searchSpace(
  space: ParamSpace,
  opts: SearchOptions,
  evaluate: (batch: readonly ParamSet[]) => Promise<readonly number[]>,
): Promise<Observation[]> {
  const out: Observation[] = []
  const run = async (ps: readonly ParamSet[]) => {
    const scores = await evaluate(ps)
    for (let i = 0; i < ps.length; i++) out.push({ params: ps[i], score: scores[i] })
  }
  if (opts.method === 'grid') {
    if (space.size > MAX_GRID) {
      throw new UsageError(`Invalid --method grid: the space has ${space.size.toLocaleString('en-US')} points; expected at most ${MAX_GRID.toLocaleString('en-US')}. Use --method random or tpe, or coarser --param steps`)
    }
    await run(Array.from({ length: space.size }, (_, i) => gridPoint(space, i)))
    return out
  }
  const n = Math.min(opts.trials, space.size)
  if (opts.method === 'random') {
    const ps: ParamSet[] = []
    if (n === space.size) {
      // The whole space, in a random order (Fisher-Yates)
      const idx = Array.from({ length: n }, (_, i) => i)
      for (let i = n - 1; i > 0; i--) {
        const j = opts.rng.int(i + 1)
        ;[idx[i], idx[j]] = [idx[j], idx[i]]
      }
      for (const i of idx) ps.push(gridPoint(space, i))
    } else {
      const seen = new Set<string>()
      while (ps.length < n) {
        const p = randomPoint(space, opts.rng)
        const k = paramsKey(space, p)
        if (seen.has(k)) continue
        seen.add(k)
        ps.push(p)
      }
    }
    await run(ps)
    return out
  }
  const sampler = new TpeSampler(space, opts.rng, opts.tpe)
  const batch = Math.max(1, opts.batch ?? 8)
  const seen = new Set<string>()
  while (out.length < n) {
    // Startup points are random; the model takes over once `startup` trials have finished
    const want = out.length < sampler.startup ? Math.min(sampler.startup - out.length, n - out.length) : Math.min(batch, n - out.length)
    const ps = sampler.propose(out, want, seen)
    if (ps.length === 0) break
    for (const p of ps) seen.add(paramsKey(space, p))
    await run(ps)
  }
  return out
}

// --- Walk-forward -------------------------------------------------------------------------------------------

/** Cuts rows [first, n) into `count` consecutive windows of (nearly) equal length. */
export function splitWindows(time: Float64Array, first: number, count: number, step: number): FoldWindow[] {
  const n = time.length
  const bars = n - first
  const out: FoldWindow[] = []
  for (let j = 0; j < count; j++) {
    const start = first + Math.round((j * bars) / count)
    const end = first + Math.round(((j + 1) * bars) / count)
    out.push({ start, end, from: time[start], to: end < n ? time[end] : time[n - 1] + step, bars: end - start })
  }
  return out
}

/** Largest warm-up the strategy asks for over the space (the corners, and the defaults) */
function maxWarmup(strategy: Strategy, space: ParamSpace, interval: Interval): number {
  if (!strategy.warmup) return 0
  const defaults = Object.fromEntries(strategy.params.map((p) => [p.name, p.default]))
  const axes = space.axes
  let best = Math.ceil(strategy.warmup({ ...defaults, ...space.fixed }, interval))
  const corners = axes.length <= 12 ? 1 << axes.length : 1
  for (let c = 0; c < corners; c++) {
    const p: Record<string, number> = { ...defaults, ...space.fixed }
    axes.forEach((a, j) => (p[a.name] = axes.length <= 12 ? ((c >> j) & 1 ? a.max : a.min) : a.max))
    best = Math.max(best, Math.ceil(strategy.warmup(p, interval)))
  }
  return Math.max(0, best)
}

/** Chains out-of-sample runs: each continues from the equity the previous one ended with. */
function chainOos(runs: readonly RunSummary[], template: { interval: Interval; step: number; strategy: string; instruments: BacktestResult['instruments'] }) {
  const total = runs.reduce((a, r) => a + r.time.length, 0)
  const time = new Float64Array(total)
  const equity = new Float64Array(total)
  const benchmark = new Float64Array(total)
  const exposure = new Float64Array(total)
  const capital = runs[0].startCapital
  let scale = 1
  let bScale = 1
  let at = 0
  let fees = 0
  let funding = 0
  let slippage = 0
  let turnover = 0
  const trades: BacktestResult['trades'][number][] = []
  for (const r of runs) {
    const n = r.time.length
    for (let i = 0; i < n; i++) {
      time[at + i] = r.time[i]
      equity[at + i] = r.equity[i] * scale
      benchmark[at + i] = r.benchmark[i] * bScale
      exposure[at + i] = r.exposure[i]
    }
    for (const t of r.trades) trades.push({ ...t, qty: t.qty * scale, pnl: t.pnl * scale, fees: t.fees * scale, funding: t.funding * scale })
    fees += r.fees * scale
    funding += r.funding * scale
    slippage += r.slippage * scale
    turnover += r.turnover * scale
    if (n > 0) {
      scale = equity[at + n - 1] / r.startCapital
      bScale = benchmark[at + n - 1] / r.startCapital
    }
    at += n
  }
  const result: BacktestResult = {
    strategy: template.strategy,
    params: {},
    instruments: template.instruments,
    interval: template.interval,
    from: time[0],
    to: time[total - 1] + template.step,
    startCapital: capital,
    equity: { time, equity, cash: equity, exposure },
    benchmark: { time, equity: benchmark },
    trades,
    fills: [],
    riskEvents: [],
    fees,
    funding,
    slippage,
    turnover,
    bars: total,
    gaps: [],
  }
  return { time, equity, benchmark, metrics: computeMetrics(result) }
}

function foldSeed(seed: number, fold: number): number {
  return (seed ^ Math.imul(fold + 1, 0x9e3779b1)) >>> 0
}

/** Runs the optimisation described by `opts`. */
export async function runOptimization(opts: OptimizeOptions): Promise<OptimizationResult> {
  const started = performance.now()
  const method = opts.method ?? 'tpe'
  if (!METHODS.includes(method)) throw new UsageError(`Invalid --method: '${method}'. Expected one of ${METHODS.join(', ')}`)
  const objective = opts.objective ?? 'sharpe'
  const trials = opts.trials ?? 100
  if (!(Number.isInteger(trials) && trials >= 1)) throw new UsageError(`Invalid --trials: ${trials}. Expected a positive integer`)
  const foldCount = opts.folds ?? 0
  if (!(Number.isInteger(foldCount) && foldCount >= 0)) throw new UsageError(`Invalid --folds: ${foldCount}. Expected 0 (no walk-forward) or a positive integer`)
  const seed = opts.seed ?? 1
  const strategy = typeof opts.strategy === 'string' ? await loadStrategy(opts.strategy) : opts.strategy
  const space = buildSpace(strategy.params, opts.params ?? [], strategy.name)
  const sim: SimConfig = { ...(opts.sim ?? {}) }

  // Data: loaded once here (the windows need the clock), shared with the workers
  const t0 = performance.now()
  const warmupBars = opts.from !== undefined ? maxWarmup(strategy, space, opts.interval ?? '1m') : 0
  const load = () => {
    if (!opts.lakeDir || !opts.instruments || !opts.interval) throw new UsageError('runOptimization needs lakeDir, instruments and interval, or preloaded data')
    return loadMarketData(opts.lakeDir, opts.instruments, opts.interval, opts.from, opts.to, {
      market: opts.market,
      warmupBars,
      intrabar: sim.intrabar === '1m',
      book: sim.slippage?.kind === 'book',
    })
  }
  const data = opts.data ?? (await load())
  const windows = splitWindows(data.time, data.start, foldCount + 1, data.step)
  for (const w of windows) {
    if (w.bars < 2) {
      throw new UsageError(`Invalid --folds: ${foldCount} folds cut ${data.time.length - data.start} bars into windows of ${w.bars}; expected at least 2 bars each`)
    }
  }

  const wanted = Math.max(1, Math.floor(opts.threads ?? availableParallelism()))
  const evaluations = method === 'grid' ? space.size : Math.min(trials, space.size)
  const threads = Math.min(wanted, Math.max(1, evaluations))
  const inThread = threads === 1 || typeof opts.strategy !== 'string'
  const transfer = inThread ? 'in-thread' : opts.data ? 'shared' : (opts.transfer ?? 'shared')
  let exec: Executor
  let workerStartMs = 0
  let loadMs = performance.now() - t0
  if (inThread) exec = new InThread(data, strategy, sim)
  else {
    const spec = opts.strategy as string
    // A path is resolved here so a worker finds the same file whatever its working folder
    const strategySpec = /[\\/]|\.(m?js|cjs|m?ts)$/i.test(spec) ? resolve(spec) : spec
    let init: WorkerData
    if (transfer === 'shared') {
      const ts = performance.now()
      init = { mode: 'shared', data: shareMarketData(data), strategy: strategySpec, sim }
      loadMs += performance.now() - ts
    } else {
      init = {
        mode: 'load',
        load: {
          lakeDir: opts.lakeDir as string,
          instruments: (opts.instruments ?? []).map((i) => ({ exchange: i.exchange, symbol: i.symbol })),
          interval: data.interval,
          from: opts.from,
          to: opts.to,
          market: opts.market,
          warmupBars,
          intrabar: sim.intrabar === '1m',
          book: sim.slippage?.kind === 'book',
        },
        strategy: strategySpec,
        sim,
      }
    }
    const pool = await WorkerPool.start(threads, init)
    exec = pool.pool
    workerStartMs = pool.startMs
  }

  const allTrials: TrialRecord[] = []
  const folds: FoldResult[] = []
  const oosRuns: RunSummary[] = []
  let runs = 0
  try {
    const nFolds = Math.max(1, foldCount)
    for (let f = 0; f < nFolds; f++) {
      const train = windows[f]
      const test = foldCount > 0 ? windows[f + 1] : undefined
      const records: TrialRecord[] = []
      let bestSoFar = -Infinity
      const total = method === 'grid' ? space.size : Math.min(trials, space.size)
      const obs = await searchSpace(space, { method, trials, rng: new Rng(foldSeed(seed, f)), batch: opts.batch, tpe: opts.tpe }, async (batch) => {
        const ms = await Promise.all(
          batch.map(async (p) => {
            const m = await exec.score(train, p)
            const s = objectiveValue(m, objective)
            if (s > bestSoFar) bestSoFar = s
            records.push({ fold: f, index: records.length, params: p, score: s, metrics: m })
            opts.onProgress?.({ fold: f, folds: nFolds, done: records.length, total, best: bestSoFar })
            return m
          }),
        )
        return ms.map((m) => objectiveValue(m, objective))
      })
      runs += obs.length
      // Records arrive in completion order; keep the proposal order (deterministic whatever the threads)
      const byKey = new Map(records.map((r) => [paramsKey(space, r.params), r]))
      const ordered = obs.map((o, index) => ({ ...(byKey.get(paramsKey(space, o.params)) as TrialRecord), index }))
      allTrials.push(...ordered)
      let best = ordered[0]
      for (const r of ordered) if (rank(r.score) > rank(best.score)) best = r
      let oos: FoldResult['oos']
      if (test) {
        const s = await exec.summary(test, best.params)
        runs++
        oosRuns.push(s)
        oos = { score: objectiveValue(s.metrics, objective), metrics: s.metrics }
      }
      folds.push({ fold: f, train, test, trials: ordered.length, best: { params: best.params, score: best.score, metrics: best.metrics }, oos })
    }
  } finally {
    await exec.close()
  }

  const instruments = data.instruments.map((s) => ({ exchange: s.exchange, symbol: s.symbol }))
  return {
    strategy: strategy.name,
    method,
    objective,
    seed,
    interval: data.interval,
    instruments: data.instruments.map((s) => s.key),
    foldCount,
    space: {
      axes: space.axes.map((a) => ({ name: a.name, min: a.min, max: a.max, step: a.step, values: a.values.length })),
      fixed: space.fixed,
      size: space.size,
    },
    trials: allTrials,
    folds,
    best: folds[folds.length - 1].best,
    oos: oosRuns.length ? chainOos(oosRuns, { interval: data.interval, step: data.step, strategy: strategy.name, instruments }) : undefined,
    threads: inThread ? 1 : threads,
    transfer,
    runs,
    wallMs: performance.now() - started,
    loadMs,
    workerStartMs,
  }
}

/** NaN ranks below every number */
function rank(x: number): number {
  return Number.isNaN(x) ? -Infinity : x
}

// --- Printing -----------------------------------------------------------------------------------------------

/**
 * The result as plain JSON data (for --json): typed arrays become arrays and non-finite numbers become strings
 * ('NaN', 'Infinity', '-Infinity') rather than JSON's lossy null.
 */
export function optimizationToJson(r: OptimizationResult): unknown {
  return toJsonData(r)
}

function fmtNum(x: number, digits = 2): string {
  if (Number.isNaN(x)) return 'n/a'
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf'
  return x.toFixed(digits)
}

function fmtPct(x: number): string {
  if (Number.isNaN(x)) return 'n/a'
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf'
  return `${(x * 100).toFixed(2)}%`
}

function fmtParams(p: ParamSet, space: OptimizationResult['space']): string {
  return space.axes.map((a) => `${a.name}=${p[a.name]}`).join(' ')
}

function day(us: number): string {
  return isoUs(us).slice(0, 16).replace('T', ' ').replace(/ 00:00$/, '')
}

/**
 * Rows for a table (the first row is the header): per walk-forward fold the windows, best parameters, in-sample
 * and out-of-sample objective, return and drawdown, then the combined out-of-sample line; without folds, the top
 * `top` trials by in-sample objective.
 */
export function formatOptimization(r: OptimizationResult, top = 10): string[][] {
  const obj = r.objective
  if (r.foldCount === 0) {
    const rows: string[][] = [['rank', 'params', obj, 'return', 'max drawdown', 'trades']]
    const sorted = [...r.trials].sort((a, b) => rank(b.score) - rank(a.score)).slice(0, top)
    sorted.forEach((t, i) =>
      rows.push([String(i + 1), fmtParams(t.params, r.space), fmtNum(t.score), fmtPct(t.metrics.totalReturn), fmtPct(t.metrics.maxDrawdown), String(t.metrics.trades)]),
    )
    return rows
  }
  const rows: string[][] = [['fold', 'train', 'test', 'best params', `IS ${obj}`, `OOS ${obj}`, 'OOS return', 'OOS max drawdown', 'OOS trades']]
  for (const f of r.folds) {
    const o = f.oos?.metrics
    rows.push([
      String(f.fold + 1),
      `${day(f.train.from)} to ${day(f.train.to)}`,
      f.test ? `${day(f.test.from)} to ${day(f.test.to)}` : '',
      fmtParams(f.best.params, r.space),
      fmtNum(f.best.score),
      f.oos ? fmtNum(f.oos.score) : '',
      o ? fmtPct(o.totalReturn) : '',
      o ? fmtPct(o.maxDrawdown) : '',
      o ? String(o.trades) : '',
    ])
  }
  if (r.oos) {
    const m = r.oos.metrics
    const first = r.folds[0].test
    const last = r.folds[r.folds.length - 1].test
    rows.push([
      'all',
      '',
      first && last ? `${day(first.from)} to ${day(last.to)}` : '',
      'out-of-sample combined',
      '',
      fmtNum(objectiveValue(m, obj)),
      fmtPct(m.totalReturn),
      fmtPct(m.maxDrawdown),
      String(m.trades),
    ])
  }
  return rows
}
