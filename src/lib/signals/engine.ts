// Runs indicator definitions: parameter checks, missing-row handling, batch and streaming alike

import { UsageError } from '../errors.js'
import type { Columns, IndicatorDef, Params, Stream } from './types.js'
import { columnSum, nans, scratch, scratchBytes, withArena, type BatchArena } from './util.js'

export { BatchArena } from './util.js'

/** Fills defaults and checks every parameter against its range. */
export function resolveParams(def: IndicatorDef, given: Readonly<Record<string, number>> = {}): Params {
  const out: Record<string, number> = {}
  for (const k of Object.keys(given)) {
    if (!def.params.some((p) => p.name === k)) {
      throw new UsageError(`Unknown parameter '${k}' for ${def.id}. Expected one of ${def.params.map((p) => p.name).join(', ') || '(none)'}`)
    }
  }
  for (const spec of def.params) {
    const v = given[spec.name] ?? spec.default
    if (!Number.isFinite(v) || v < spec.min || v > spec.max || (spec.integer && !Number.isInteger(v))) {
      throw new UsageError(
        `Invalid ${def.id} ${spec.name}: ${v}. Expected ${spec.integer ? 'an integer' : 'a number'} from ${spec.min} to ${spec.max}`,
      )
    }
    // An integer is stored as a small integer: a spec's default is a boxed double in V8 (other specs have
    // fractional defaults), and a period loaded as a double makes every row index computed from it a double too,
    // which costs a conversion on each array access of the batch loops
    out[spec.name] = spec.integer && Math.abs(v) < 2 ** 30 ? v | 0 : v
  }
  return out
}

function inputsOf(def: IndicatorDef, input: Columns): { cols: Float64Array[]; n: number } {
  const cols = def.inputs.map((name) => {
    const c = input[name]
    if (!c) throw new UsageError(`${def.id} needs the '${name}' column of ${def.source}`)
    return c
  })
  const n = cols.length ? cols[0].length : 0
  for (const c of cols) if (c.length !== n) throw new Error(`${def.id}: input columns differ in length`)
  return { cols, n }
}

/**
 * Whether every value of `c` is finite. A sum is finite only if every term is (a NaN or an infinity survives any
 * addition), so the common all-finite column costs one add per value (columnSum); only a sum that is not finite,
 * from a non-finite value or from overflow, is checked value by value (x * 0 is ±0 for a finite x, NaN otherwise)
 */
function allFinite(c: Float64Array): boolean {
  const s = columnSum(c)
  if (s - s === 0) return true
  for (let i = 0; i < c.length; i++) if (c[i] * 0 !== 0) return false
  return true
}

export interface BatchOptions {
  /**
   * Memory for the outputs and every array the definition allocates while it runs, instead of new arrays. The
   * outputs then belong to the arena: they are valid until `arena.reset()`, after which a later run overwrites
   * them. Values are bit-identical with or without an arena
   */
  readonly arena?: BatchArena
}

/**
 * Batch computation; rows with a non-finite input are skipped and get NaN outputs. With `opts.arena` the outputs
 * and scratch arrays come from the arena (see `BatchArena`); without one every output is a new array.
 */
export function runBatch(
  def: IndicatorDef,
  input: Columns,
  given: Readonly<Record<string, number>> = {},
  opts: BatchOptions = {},
): Float64Array[] {
  const p = resolveParams(def, given)
  const { cols, n } = inputsOf(def, input)
  return withArena(opts.arena, () => batchOf(def, input, cols, n, p))
}

function batchOf(def: IndicatorDef, input: Columns, cols: Float64Array[], n: number, p: Params): Float64Array[] {
  // A definition that checks its inputs as it computes saves the scan below on the usual all-finite input. When it
  // saw a non-finite value its outputs are dropped (with an arena, they stay taken until the arena is reset)
  if (def.batchIfFinite) {
    const outs = def.batchIfFinite(input, p)
    if (outs) return outs
  }
  let finite = true
  for (let k = 0; k < cols.length && finite; k++) finite = allFinite(cols[k])
  if (finite) return def.batch(input, p)

  // Some row has a non-finite input: run the definition on the other rows only, then spread its outputs back
  const ok = scratchBytes(n).fill(1)
  for (const c of cols) for (let i = 0; i < n; i++) if (c[i] * 0 !== 0) ok[i] = 0
  let valid = 0
  for (let i = 0; i < n; i++) valid += ok[i]
  const compact: Record<string, Float64Array> = {}
  def.inputs.forEach((name, k) => {
    const src = cols[k]
    const dst = scratch(valid)
    for (let i = 0, j = 0; i < n; i++) if (ok[i]) dst[j++] = src[i]
    compact[name] = dst
  })
  const outs = def.batch(compact, p)
  return outs.map((o) => {
    const full = scratch(n)
    for (let i = 0, j = 0; i < n; i++) full[i] = ok[i] ? o[j++] : NaN
    return full
  })
}

/**
 * openStream's guard around a definition's stream. A class with a plain `out` field rather than a getter, so that
 * reading `out` after each update is a field load
 */
class GuardedStream implements Stream {
  out: Float64Array
  constructor(
    private readonly inner: Stream,
    private readonly missing: Float64Array,
  ) {
    this.out = inner.out
  }
  update(x: Float64Array): void {
    // x * 0 is 0 for a finite x and NaN for NaN or ±Infinity: one multiply and one compare per input, and the
    // compares do not depend on each other (a running sum would chain them, which wide book rows feel)
    for (let k = 0; k < x.length; k++) {
      if (x[k] * 0 !== 0) {
        this.out = this.missing
        return
      }
    }
    this.inner.update(x)
    this.out = this.inner.out
  }
}

/** Streaming instance; a row with a non-finite input yields NaN outputs and leaves the state as it was. */
export function openStream(def: IndicatorDef, given: Readonly<Record<string, number>> = {}): Stream {
  const p = resolveParams(def, given)
  return new GuardedStream(def.stream(p), nans(def.outputs.length))
}
