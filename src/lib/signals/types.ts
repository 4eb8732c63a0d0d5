// One definition, two modes: every indicator has metadata, a batch form (typed arrays in, typed arrays out)
// and a streaming form (O(1) per row) that produce identical values.
//
// Conventions (see docs/SIGNALS.md for the catalog):
// - Outputs are aligned with the input rows: output[i] uses rows 0..i only. The first `lookback(p)` outputs
//   are NaN (TA-Lib returns shorter arrays; we pad so indexes line up across indicators).
// - Where TA-Lib defines an indicator (`talib` set), seeding, smoothing and warm-up follow TA-Lib exactly.
// - Raw `batch`/`stream` implementations may assume finite inputs. `runBatch`/`openStream` (engine.ts) treat a
//   row with a non-finite input as missing: its outputs are NaN and it does not move the indicator's state.
// - Rows are consecutive samples (bars, trades, book snapshots); missing bars are not filled.

export const CATEGORIES = ['momentum', 'trend', 'volatility', 'volume', 'microstructure', 'research', 'composite'] as const
export type Category = (typeof CATEGORIES)[number]

/** What the rows are. Bar inputs: open, high, low, close, volume, quote_volume, trades, taker_buy_volume, open_time. */
export const SOURCES = ['bars', 'trades', 'book', 'funding', 'open_interest', 'liquidations'] as const
export type Source = (typeof SOURCES)[number]

export interface ParamSpec {
  readonly name: string
  readonly default: number
  /** Range for optimisers */
  readonly min: number
  readonly max: number
  readonly step: number
  readonly integer: boolean
  readonly description: string
}

export type Params = Readonly<Record<string, number>>
export type Columns = Readonly<Record<string, Float64Array>>
export type Reading = 'bullish' | 'bearish' | 'neutral'

/** Streaming state of one indicator instance. */
export interface Stream {
  /** Outputs after the last update, in `outputs` order (NaN during warm-up) */
  readonly out: Float64Array
  /** Feeds one row: `x[k]` is the value of `inputs[k]`. The caller may reuse `x`. */
  update(x: Float64Array): void
}

export interface IndicatorDef {
  /** Short lower-case id, unique: `rsi`, `macd`, `bbands` */
  readonly id: string
  readonly name: string
  readonly category: Category
  readonly source: Source
  /** Input column names of the source, in the order `stream.update` receives them */
  readonly inputs: readonly string[]
  readonly params: readonly ParamSpec[]
  readonly outputs: readonly string[]
  /** TA-Lib function whose conventions this follows and against which it is tested, e.g. `TA_RSI` */
  readonly talib?: string
  /** Definition, reference and any deviation from the standard, one or two sentences */
  readonly notes: string
  /** Number of leading NaN outputs for finite inputs */
  lookback(p: Params): number
  /** Whole-series computation; one Float64Array per output, each as long as the inputs */
  batch(input: Columns, p: Params): Float64Array[]
  /**
   * Optional: `batch` with its own check of the inputs, for a definition whose computation costs about as much as
   * runBatch's scan of every input value for non-finite ones. It returns `batch`'s outputs when every value of every
   * input column is finite, and undefined when one is not; it may also return undefined when it cannot tell (a check
   * sum that overflowed). runBatch then skips its scan, and on undefined takes its usual path for rows with a
   * non-finite input, so the outputs are the same either way
   */
  batchIfFinite?(input: Columns, p: Params): Float64Array[] | undefined
  stream(p: Params): Stream
  /** One-word reading from the latest outputs (and the latest inputs) */
  reading?(out: ArrayLike<number>, x: ArrayLike<number>): Reading
}

/** Builds a parameter spec. */
export function param(
  name: string,
  def: number,
  min: number,
  max: number,
  description: string,
  opts: { step?: number; integer?: boolean } = {},
): ParamSpec {
  const integer = opts.integer ?? Number.isInteger(def)
  return { name, default: def, min, max, step: opts.step ?? (integer ? 1 : (max - min) / 100), integer, description }
}
