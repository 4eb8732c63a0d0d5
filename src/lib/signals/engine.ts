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

/** Batch computation; rows with a non-finite input are skipped and get NaN outputs. */
export function runBatch(def: IndicatorDef, input: Columns, given: Readonly<Record<string, number>> = {}): Float64Array[] {
  const p = resolveParams(def, given)
  const { cols, n } = inputsOf(def, input)
  let valid = 0
  const ok = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    let good = 1
    for (const c of cols) if (!Number.isFinite(c[i])) good = 0
    ok[i] = good
    valid += good
  }
  if (valid === n) return def.batch(input, p)
  const compact: Record<string, Float64Array> = {}
  def.inputs.forEach((name, k) => {
    const src = cols[k]
    const dst = new Float64Array(valid)
    for (let i = 0, j = 0; i < n; i++) if (ok[i]) dst[j++] = src[i]
    compact[name] = dst
  })
  const outs = def.batch(compact, p)
  return outs.map((o) => {
    const full = nans(n)
    for (let i = 0, j = 0; i < n; i++) if (ok[i]) full[i] = o[j++]
    return full
  })
}

/** Streaming instance; a row with a non-finite input yields NaN outputs and leaves the state as it was. */
export function openStream(def: IndicatorDef, given: Readonly<Record<string, number>> = {}): Stream {
  const p = resolveParams(def, given)
  const inner = def.stream(p)
  const missing = nans(def.outputs.length)
  let out = inner.out
  return {
    get out() {
      return out
    },
    update(x: Float64Array) {
      for (let k = 0; k < x.length; k++) {
        if (!Number.isFinite(x[k])) {
          out = missing
          return
        }
      }
      inner.update(x)
      out = inner.out
    },
  }
}
