// Definitions with `batchIfFinite` check their inputs as they compute, and runBatch then skips its own scan: its
// outputs must stay exactly those of the scan-and-skip path for any input, finite or not
import { describe, expect, it } from 'vitest'
import { BatchArena, resolveParams, runBatch } from '../../src/lib/signals/engine.js'
import { INDICATORS } from '../../src/lib/signals/registry.js'
import type { Columns, IndicatorDef } from '../../src/lib/signals/types.js'
import { SOURCE_DATA } from './data.js'

/**
 * runBatch's documented semantics, built without the engine: rows with a non-finite input are taken out, the
 * definition's batch runs on the rest, and the outputs go back to their rows with NaN in the others
 */
function reference(def: IndicatorDef, input: Columns, params: Record<string, number>): Float64Array[] {
  const cols = def.inputs.map((k) => input[k])
  const n = cols[0].length
  const ok = Array.from({ length: n }, (_, i) => cols.every((c) => Number.isFinite(c[i])))
  const compact = Object.fromEntries(def.inputs.map((k, j) => [k, cols[j].filter((_, i) => ok[i])]))
  const outs = def.batch(compact, resolveParams(def, params))
  return outs.map((o) => {
    const full = new Float64Array(n)
    for (let i = 0, j = 0; i < n; i++) full[i] = ok[i] ? o[j++] : NaN
    return full
  })
}

/** Whether two outputs are the same bit for bit (NaN equal to NaN) */
function same(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false
  return true
}

const checked = INDICATORS.filter((d) => d.batchIfFinite)

it('covers the cheap TA-Lib kernels whose scan of the inputs cost as much as their computation', () => {
  const ids = checked.map((d) => d.id)
  for (const id of ['bop', 'trange', 'ad', 'adosc', 'obv', 'sma', 'ema', 'wma', 'mom', 'roc', 'rocp', 'liquidity_walls']) {
    expect(ids).toContain(id)
  }
})

/** The first `rows` rows of real data for the definition's source */
async function realInput(def: IndicatorDef, rows: number): Promise<Columns> {
  const all = await (SOURCE_DATA[def.source] as () => Promise<Columns>)()
  return Object.fromEntries(def.inputs.map((k) => [k, all[k].subarray(0, rows)]))
}

describe.each(checked.map((d) => [d.id, d] as const))('%s', (_id, def) => {
  /** Parameter sets: the defaults and the smallest periods (every row then reads its neighbours) */
  const paramSets: Record<string, number>[] = [{}, Object.fromEntries(def.params.map((p) => [p.name, p.min]))]

  it('returns the outputs of the scan-and-skip path for a NaN or an infinity in any column at any row', async () => {
    const input = await realInput(def, 300)
    const n = input[def.inputs[0]].length
    for (const params of paramSets) {
      const clean = runBatch(def, input, params)
      const plain = def.batch(input, resolveParams(def, params))
      for (let o = 0; o < clean.length; o++) expect(same(clean[o], plain[o])).toBe(true)
      // First row, inside the warm-up, just after it, the middle and the last row; each value and each column (for
      // wide inputs such as the book's 80 columns, a sample of them)
      const sample = def.inputs.length > 8 ? def.inputs.filter((_, j) => j % 7 === 0 || j === def.inputs.length - 1) : def.inputs
      for (const row of [0, 1, 5, 31, 150, n - 2, n - 1]) {
        for (const bad of [NaN, Infinity, -Infinity]) {
          for (const k of sample) {
            const holed = { ...input, [k]: Float64Array.from(input[k]) }
            holed[k][row] = bad
            const got = runBatch(def, holed, params)
            const want = reference(def, holed, params)
            for (let o = 0; o < got.length; o++) {
              expect(same(got[o], want[o]), `${def.outputs[o]} with ${k}[${row}] = ${bad}, ${JSON.stringify(params)}`).toBe(true)
            }
          }
        }
      }
    }
  })

  it('does the same on inputs shorter than the warm-up and with an arena', async () => {
    const data = await realInput(def, 300)
    const arena = new BatchArena()
    for (const len of [0, 1, 2, 3, 7]) {
      for (const row of [0, len - 1]) {
        if (row < 0) continue
        for (const k of def.inputs.length > 8 ? [def.inputs[0], def.inputs[5], def.inputs[def.inputs.length - 1]] : def.inputs) {
          const input = Object.fromEntries(def.inputs.map((c) => [c, Float64Array.from(data[c].subarray(0, len))]))
          input[k][row] = NaN
          const want = reference(def, input, {})
          arena.reset()
          const got = runBatch(def, input, {}, { arena })
          for (let o = 0; o < got.length; o++) expect(same(got[o], want[o]), `${def.outputs[o]}, ${len} rows, ${k}[${row}]`).toBe(true)
        }
      }
    }
  })

  it('falls back to the scan when finite inputs overflow its check, with the same outputs', async () => {
    const data = await realInput(def, 200)
    // Values near the largest double: their sums overflow to infinity although every input is finite
    const input = Object.fromEntries(def.inputs.map((k) => [k, Float64Array.from(data[k], (v, i) => (i % 7 === 3 ? 1.7e308 : v))]))
    const got = runBatch(def, input)
    const want = def.batch(input, resolveParams(def))
    for (let o = 0; o < got.length; o++) expect(same(got[o], want[o])).toBe(true)
  })
})
