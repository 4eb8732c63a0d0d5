// What the optimiser's workers (and the in-thread fallback) do: run `simulate` on windows of data loaded once, and
// the messages between the optimiser and its workers. Market data crosses threads as SharedArrayBuffers: every
// column is copied once into shared memory and each worker reads the same bytes (no per-worker copy or reload).

import type { MarketData } from './data.js'
import { simulate } from './engine.js'
import { computeMetrics } from './metrics.js'
import { sliceMarketData } from './data.js'
import type { Strategy } from './strategy.js'
import type { BacktestResult, ClosedTrade, Metrics, SimConfig } from './types.js'

/** Clock rows [start, end) a run trades on; rows before `start` are warm-up. */
export interface Window {
  readonly start: number
  readonly end: number
}

/** What a full run sends back: the curve and costs for combining out-of-sample folds, not the fills. */
export interface RunSummary {
  readonly metrics: Metrics
  readonly time: Float64Array
  readonly equity: Float64Array
  readonly benchmark: Float64Array
  readonly exposure: Float64Array
  readonly trades: readonly ClosedTrade[]
  readonly fees: number
  readonly funding: number
  readonly slippage: number
  readonly turnover: number
  readonly startCapital: number
}

/** Runs parameter sets on windows of one dataset; slices are made once per window so indicator caches are shared. */
export class Evaluator {
  private readonly slices = new Map<string, MarketData>()

  constructor(
    private readonly data: MarketData,
    private readonly strategy: Strategy,
    private readonly sim: SimConfig,
  ) {}

  private slice(w: Window): MarketData {
    const key = `${w.start}:${w.end}`
    let s = this.slices.get(key)
    if (!s) {
      s = w.start === this.data.start && w.end === this.data.time.length ? this.data : sliceMarketData(this.data, w.start, w.end)
      this.slices.set(key, s)
    }
    return s
  }

  run(w: Window, params: Readonly<Record<string, number>>): BacktestResult {
    return simulate(this.slice(w), this.strategy, { ...this.sim, params })
  }

  /** The metrics of one run */
  score(w: Window, params: Readonly<Record<string, number>>): Metrics {
    return computeMetrics(this.run(w, params))
  }

  /** The metrics and curve of one run */
  summary(w: Window, params: Readonly<Record<string, number>>): RunSummary {
    const r = this.run(w, params)
    return {
      metrics: computeMetrics(r),
      time: r.equity.time,
      equity: r.equity.equity,
      benchmark: r.benchmark.equity,
      exposure: r.equity.exposure,
      trades: r.trades,
      fees: r.fees,
      funding: r.funding,
      slippage: r.slippage,
      turnover: r.turnover,
      startCapital: r.startCapital,
    }
  }
}

// --- Shared memory ------------------------------------------------------------------------------------------

type Typed = Float64Array | Int32Array

/** Copies a typed array into a SharedArrayBuffer (the same array twice gives the same copy, keeping aliases). */
function share<T extends Typed>(a: T, seen: Map<Typed, Typed>): T {
  const hit = seen.get(a)
  if (hit) return hit as T
  const Ctor = a.constructor as { new (b: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number }
  const out = new Ctor(new SharedArrayBuffer(a.length * Ctor.BYTES_PER_ELEMENT))
  out.set(a)
  seen.set(a, out)
  return out
}

function shareDeep(x: unknown, seen: Map<Typed, Typed>): unknown {
  if (x instanceof Float64Array || x instanceof Int32Array) return share(x, seen)
  if (Array.isArray(x)) return x.map((v) => shareDeep(v, seen))
  if (x && typeof x === 'object' && !(x instanceof Map)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(x)) out[k] = shareDeep(v, seen)
    return out
  }
  return x
}

/** Market data whose columns live in SharedArrayBuffers, without the (thread-local) indicator cache. */
export type SharedMarketData = Omit<MarketData, 'cache'>

/** Copies the columns of market data into shared memory once, for every worker to read. */
export function shareMarketData(data: MarketData): SharedMarketData {
  const { cache: _cache, ...rest } = data
  return shareDeep(rest, new Map()) as SharedMarketData
}

/** Market data from shared columns, with a fresh indicator cache for this thread. */
export function fromShared(s: SharedMarketData): MarketData {
  return { ...s, cache: new Map() }
}

// --- Messages -----------------------------------------------------------------------------------------------

/** How a worker gets its data: shared columns, or its own load from the lake. */
export type WorkerData =
  | { readonly mode: 'shared'; readonly data: SharedMarketData; readonly strategy: string; readonly sim: SimConfig }
  | {
      readonly mode: 'load'
      readonly load: {
        readonly lakeDir: string
        readonly instruments: readonly { readonly exchange: MarketData['instruments'][number]['exchange']; readonly symbol: string }[]
        readonly interval: MarketData['interval']
        readonly from: number | undefined
        readonly to: number | undefined
        readonly market: 'spot' | 'perp' | undefined
        readonly warmupBars: number
        readonly intrabar: boolean
        readonly book: boolean
      }
      readonly strategy: string
      readonly sim: SimConfig
    }

export interface TaskMsg {
  readonly id: number
  readonly kind: 'score' | 'summary'
  readonly window: Window
  readonly params: Readonly<Record<string, number>>
}

export type ReplyMsg =
  | { readonly type: 'ready'; readonly loadMs: number; readonly rows: number }
  | { readonly type: 'result'; readonly id: number; readonly metrics?: Metrics; readonly summary?: RunSummary; readonly ms: number }
  | { readonly type: 'error'; readonly id: number; readonly name: string; readonly message: string }
