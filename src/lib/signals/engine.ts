// Runs indicator definitions: parameter checks, missing-row handling, batch and streaming alike

import { UsageError } from '../errors.js'
import type { Columns, IndicatorDef, Params, Stream } from './types.js'
import { nans } from './util.js'

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
    out[spec.name] = v
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
 * Whether every value of `c` is finite. x * 0 is ±0 for a finite x and NaN for NaN or ±Infinity, so one compare
 * tests four values; the common all-finite column costs one multiply per value and no per-value branch
 */
function allFinite(c: Float64Array): boolean {
  const n = c.length
  let i = 0
  for (const end = n - 3; i < end; i += 4) {
    if (c[i] * 0 + c[i + 1] * 0 + (c[i + 2] * 0 + c[i + 3] * 0) !== 0) return false
  }
  for (; i < n; i++) if (c[i] * 0 !== 0) return false
  return true
}

/** Batch computation; rows with a non-finite input are skipped and get NaN outputs. */
export function runBatch(def: IndicatorDef, input: Columns, given: Readonly<Record<string, number>> = {}): Float64Array[] {
  const p = resolveParams(def, given)
  const { cols, n } = inputsOf(def, input)
  let finite = true
  for (let k = 0; k < cols.length && finite; k++) finite = allFinite(cols[k])
  if (finite) return def.batch(input, p)

  // Some row has a non-finite input: run the definition on the other rows only, then spread its outputs back
  const ok = new Uint8Array(n).fill(1)
  for (const c of cols) for (let i = 0; i < n; i++) if (c[i] * 0 !== 0) ok[i] = 0
  let valid = 0
  for (let i = 0; i < n; i++) valid += ok[i]
  const compact: Record<string, Float64Array> = {}
  def.inputs.forEach((name, k) => {
    const src = cols[k]
    const dst = new Float64Array(valid)
    for (let i = 0, j = 0; i < n; i++) if (ok[i]) dst[j++] = src[i]
    compact[name] = dst
  })
  const outs = def.batch(compact, p)
  return outs.map((o) => {
    const full = new Float64Array(n)
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
