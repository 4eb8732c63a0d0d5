// The strategy interface: what a strategy sees at each bar close and what it may do. A strategy sees closed bars
// only (the bar at `ctx.index` and earlier) and indicator values computed on closed bars; its orders act from the
// next bar on (or at this bar's close with `fillAt: 'close'`).
//
// Strategies are plain objects, so built-ins and user files look the same, and `simulate` can run one many times:
// per-run state lives in `ctx.state`, never in the object.

import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, extname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Interval } from '../consts.js'
import { UsageError } from '../errors.js'
import type { RiskState } from '../risk/types.js'
import type { Market } from './data.js'
import type { Fill, OrderRequest, OrderSide, OrderType } from './types.js'

/** A numeric strategy parameter with the range an optimiser may search. Booleans are 0/1 integers. */
export interface StrategyParamSpec {
  readonly name: string
  readonly default: number
  readonly min: number
  readonly max: number
  readonly step: number
  readonly integer: boolean
  readonly description: string
}

export interface IndicatorOptions {
  /** Output name for multi-output indicators (`macd` → `macdHist`); default the first */
  readonly output?: string | undefined
  /** Instrument index (order of the run's instruments); default 0 */
  readonly instrument?: number | undefined
  /**
   * Higher timeframe to compute on: a whole multiple of the run's bars (4 on 1h bars = 4h) or an interval ('4h').
   * Buckets count once closed and are joined as of each bar's close (src/lib/signals/mtf.ts), so nothing looks ahead.
   */
  readonly timeframe?: number | Interval | undefined
}

/** A working order as the strategy sees it. */
export interface OpenOrder {
  readonly id: number
  readonly instrument: string
  readonly side: OrderSide
  readonly type: OrderType
  /** Quantity still to fill (NaN while it is a notional not yet filled) */
  readonly remaining: number
  readonly price: number | undefined
  readonly stopPrice: number | undefined
  readonly reduceOnly: boolean
  readonly tag: string | undefined
}

/** What a strategy sees and does. Bar accessors take the instrument index (default 0) and a lag ≥ 0 (default 0). */
export interface StrategyContext {
  /** Clock row of the bar that just closed */
  readonly index: number
  /** Open time of that bar, µs */
  readonly time: number
  readonly interval: Interval
  /** `exchange:SYMBOL` of each instrument, in run order */
  readonly instruments: readonly string[]
  readonly params: Readonly<Record<string, number>>
  /** Per-run scratch space */
  readonly state: Record<string, unknown>
  /** Equity at the last bar close (cash + marked positions) */
  readonly equity: number
  /** Free quote currency: spot cash not in positions; for perpetuals the wallet balance */
  readonly cash: number
  readonly riskState: RiskState
  market(instrument?: number): Market
  open(instrument?: number, lag?: number): number
  high(instrument?: number, lag?: number): number
  low(instrument?: number, lag?: number): number
  close(instrument?: number, lag?: number): number
  volume(instrument?: number, lag?: number): number
  /** Declares an indicator from the signals registry (in onStart only); returns a handle for `value` */
  indicator(id: string, params?: Readonly<Record<string, number>>, opts?: IndicatorOptions): number
  /** The indicator's value at this bar (or `lag` bars back); NaN while warming up or on a missing bar */
  value(handle: number, lag?: number): number
  /** Signed base quantity held */
  position(instrument?: number): number
  /** Average entry price of the position (0 when flat) */
  entryPrice(instrument?: number): number
  /** Submits an order through the risk gate; returns its id, or -1 when the gate rejected it */
  order(req: OrderRequest): number
  cancel(id: number): boolean
  /** Cancels the working orders of one instrument, or all; returns how many */
  cancelAll(instrument?: number): number
  openOrders(instrument?: number): readonly OpenOrder[]
}

export interface Strategy {
  /** Short id: `rsi-reversion` */
  readonly name: string
  readonly description: string
  readonly params: readonly StrategyParamSpec[]
  /** Bars of history indicators need before the first decision (read before --from when there is history) */
  warmup?(params: Readonly<Record<string, number>>, interval: Interval): number
  onStart?(ctx: StrategyContext): void
  onBar(ctx: StrategyContext): void
  onFill?(ctx: StrategyContext, fill: Fill): void
  onEnd?(ctx: StrategyContext): void
}

/** Builds a parameter spec (integer when the default, min and max are). */
export function strategyParam(
  name: string,
  def: number,
  min: number,
  max: number,
  description: string,
  opts: { step?: number; integer?: boolean } = {},
): StrategyParamSpec {
  const integer = opts.integer ?? (Number.isInteger(def) && Number.isInteger(min) && Number.isInteger(max))
  return { name, default: def, min, max, step: opts.step ?? (integer ? 1 : (max - min) / 100), integer, description }
}

/** Fills defaults and checks every given parameter against its range. */
export function resolveStrategyParams(s: Strategy, given: Readonly<Record<string, number>> = {}): Record<string, number> {
  for (const k of Object.keys(given)) {
    if (!s.params.some((p) => p.name === k)) {
      throw new UsageError(`Unknown parameter '${k}' for strategy ${s.name}. Expected one of ${s.params.map((p) => p.name).join(', ') || '(none)'}`)
    }
  }
  const out: Record<string, number> = {}
  for (const spec of s.params) {
    const v = given[spec.name] ?? spec.default
    if (!Number.isFinite(v) || v < spec.min || v > spec.max || (spec.integer && !Number.isInteger(v))) {
      throw new UsageError(
        `Invalid ${s.name} ${spec.name}: ${v}. Expected ${spec.integer ? 'an integer' : 'a number'} from ${spec.min} to ${spec.max}`,
      )
    }
    out[spec.name] = v
  }
  return out
}

/** Checks that a user module's export is a strategy; names the first thing missing. */
export function assertStrategy(x: unknown, where: string): Strategy {
  const bad = (what: string) => new UsageError(`Invalid --strategy: ${where} ${what}. Expected an object with name, params and onBar(ctx) (see mercury backtest --help)`)
  if (!x || typeof x !== 'object') throw bad('exports no strategy object (default export or `strategy`)')
  const s = x as Partial<Strategy>
  if (typeof s.onBar !== 'function') throw bad('has no onBar function')
  if (typeof s.name !== 'string' || !s.name) throw bad('has no name')
  if (s.params !== undefined && !Array.isArray(s.params)) throw bad('has params that are not an array')
  for (const p of s.params ?? []) {
    if (!p || typeof p.name !== 'string' || ![p.default, p.min, p.max].every((v) => typeof v === 'number')) {
      throw bad(`has a parameter without name, default, min and max (${JSON.stringify(p)})`)
    }
  }
  return {
    description: '',
    ...s,
    params: (s.params ?? []).map((p) => ({
      ...p,
      step: p.step ?? (p.integer ? 1 : (p.max - p.min) / 100),
      integer: p.integer ?? Number.isInteger(p.default),
      description: p.description ?? '',
    })),
  } as Strategy
}

/** Whether Node can import TypeScript in this process (type stripping on). */
function canStripTypes(): boolean {
  return Boolean((process.features as { typescript?: unknown }).typescript)
}

/**
 * A built-in strategy by name, or one loaded from a .js/.mjs/.ts file (its default export or `strategy`). A .ts
 * file runs through Node's type stripping when this Node has it (22.6+), else through the TypeScript compiler
 * when it is installed (a dev install of mercury has it): transpiled to a temporary .mjs beside the source, so
 * its relative imports still resolve, and removed after loading. Without either, the error says what to do.
 */
export async function loadStrategy(spec: string): Promise<Strategy> {
  const { STRATEGIES } = await import('./strategies/index.js')
  const builtin = STRATEGIES.find((s) => s.name === spec)
  if (builtin) return builtin
  const ext = extname(spec).toLowerCase()
  const looksLikeFile = spec.includes('/') || spec.includes('\\') || ['.js', '.mjs', '.cjs', '.ts', '.mts'].includes(ext)
  if (!looksLikeFile) {
    throw new UsageError(`Invalid --strategy: '${spec}'. Expected a built-in (${STRATEGIES.map((s) => s.name).join(', ')}) or a .js/.mjs/.ts file`)
  }
  const path = resolve(spec)
  if (!existsSync(path)) throw new UsageError(`Invalid --strategy: '${spec}' is not a file`)
  let target = path
  let temp: string | undefined
  if ((ext === '.ts' || ext === '.mts') && !canStripTypes()) {
    temp = await transpileStrategy(path, spec)
    target = temp
  }
  let mod: Record<string, unknown>
  try {
    mod = (await import(pathToFileURL(target).href)) as Record<string, unknown>
  } catch (err) {
    throw new UsageError(`Invalid --strategy: '${spec}' failed to load: ${(err as Error).message.split('\n')[0]}`)
  } finally {
    if (temp) rmSync(temp, { force: true })
  }
  return assertStrategy(mod.default ?? mod.strategy, `'${spec}'`)
}

/** Compiles a TypeScript strategy with the TypeScript compiler when it is installed; returns the .mjs path. */
async function transpileStrategy(path: string, spec: string): Promise<string> {
  let ts: typeof import('typescript') | undefined
  try {
    ts = (await import('typescript')).default
  } catch {
    ts = undefined
  }
  if (!ts) {
    throw new UsageError(
      `Invalid --strategy: '${spec}' is TypeScript and this Node (${process.versions.node}) does not strip types, ` +
        'and the TypeScript compiler is not installed. Compile it to .js first (npx tsc --module nodenext --target es2022), ' +
        'install typescript, or use Node 22.6+ with --experimental-strip-types',
    )
  }
  const out = ts.transpileModule(readFileSync(path, 'utf8'), {
    fileName: path,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false },
  })
  const temp = join(dirname(path), `.${basename(path).replace(/\.m?ts$/, '')}.mercury-${process.pid}-${Date.now()}.mjs`)
  writeFileSync(temp, out.outputText)
  return temp
}
