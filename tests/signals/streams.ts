// Runs an indicator's streaming form over whole columns, one update per row, for comparisons with its batch form
import { openStream } from '../../src/lib/signals/engine.js'
import type { Columns, IndicatorDef } from '../../src/lib/signals/types.js'

export function streamAll(def: IndicatorDef, input: Columns, params: Readonly<Record<string, number>> = {}): Float64Array[] {
  const n = input[def.inputs[0]]?.length ?? 0
  const outs = def.outputs.map(() => new Float64Array(n))
  const s = openStream(def, params)
  const x = new Float64Array(def.inputs.length)
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < def.inputs.length; k++) x[k] = input[def.inputs[k]][i]
    s.update(x)
    for (let o = 0; o < outs.length; o++) outs[o][i] = s.out[o]
  }
  return outs
}
