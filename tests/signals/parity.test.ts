// Every indicator in the catalog: metadata sanity, batch/stream parity on real data, warm-up, and edge cases
import { describe, expect, it } from 'vitest'
import { resolveParams, runBatch } from '../../src/lib/signals/engine.js'
import { INDICATORS } from '../../src/lib/signals/registry.js'
import { CATEGORIES, SOURCES, type Columns, type IndicatorDef } from '../../src/lib/signals/types.js'
import { SOURCE_DATA } from './data.js'
import { streamAll } from './streams.js'


/** Index of the first difference (NaN equals NaN), or -1. */
function firstDiff(a: Float64Array, b: Float64Array): number {
  if (a.length !== b.length) return 0
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return i
  return -1
}

function pick(def: IndicatorDef, input: Columns, rows?: number): Record<string, Float64Array> {
  return Object.fromEntries(def.inputs.map((k) => [k, rows === undefined ? input[k] : input[k].subarray(0, rows)]))
}

it('the catalog has at least 60 indicators with unique ids and complete metadata', () => {
  expect(INDICATORS.length).toBeGreaterThanOrEqual(60)
  for (const d of INDICATORS) {
    expect(d.id).toMatch(/^[a-z][a-z0-9_]*$/)
    expect(CATEGORIES).toContain(d.category)
    expect(SOURCES).toContain(d.source)
    expect(d.notes.length, d.id).toBeGreaterThan(10)
    expect(d.outputs.length).toBeGreaterThan(0)
    expect(d.inputs.length).toBeGreaterThan(0)
    for (const p of d.params) {
      expect(p.min, `${d.id}.${p.name}`).toBeLessThanOrEqual(p.default)
      expect(p.default, `${d.id}.${p.name}`).toBeLessThanOrEqual(p.max)
    }
    expect(() => resolveParams(d)).not.toThrow()
  }
})

// Sources with no real recording anywhere in the shared data (see tests/signals/micro-data.ts): their indicators
// are checked for parity on hand-made series in research.test.ts. This list is explicit so it cannot grow quietly.
const NO_REAL_DATA = ['open_interest', 'liquidations']

it('only the indicators of sources without real data are left to hand-made parity tests', () => {
  const left = INDICATORS.filter((d) => NO_REAL_DATA.includes(d.source)).map((d) => d.id).sort()
  expect(left).toEqual(['conditional_oi', 'liquidation_intensity', 'oi_divergence'])
  for (const s of NO_REAL_DATA) expect(SOURCE_DATA[s as keyof typeof SOURCE_DATA]).toBeDefined()
})

const withRealData = INDICATORS.filter((d) => !NO_REAL_DATA.includes(d.source))

describe.each(withRealData.map((d) => [d.id, d] as const))('%s', (_id, def) => {
  it('streams exactly what the batch computes, on real data, after the documented warm-up', async () => {
    const load = SOURCE_DATA[def.source]
    if (!load) throw new Error(`no real data loader for source '${def.source}'`)
    const input = pick(def, await load())
    const batch = runBatch(def, input)
    const stream = streamAll(def, input)
    expect(batch).toHaveLength(def.outputs.length)
    const n = input[def.inputs[0]].length
    const lb = def.lookback(resolveParams(def))
    for (let o = 0; o < batch.length; o++) {
      expect(batch[o].length).toBe(n)
      const at = firstDiff(batch[o], stream[o])
      expect(at, `${def.outputs[o]} differs at row ${at}: batch ${batch[o][at]} stream ${stream[o][at]}`).toBe(-1)
      for (let i = 0; i < Math.min(lb, n); i++) expect(batch[o][i], `${def.outputs[o]}[${i}] inside the warm-up`).toBeNaN()
      let finite = 0
      for (let i = lb; i < n; i++) if (Number.isFinite(batch[o][i])) finite++
      expect(finite, `${def.outputs[o]} has no finite value after the warm-up`).toBeGreaterThan(0)
      for (let i = lb; i < n; i++) expect(Math.abs(batch[o][i]), `${def.outputs[o]}[${i}]`).not.toBe(Infinity)
    }
  })

  it('handles empty input, flat prices and missing rows', async () => {
    const load = SOURCE_DATA[def.source]
    if (!load) throw new Error(`no real data loader for source '${def.source}'`)
    const input = pick(def, await load(), 400)
    const empty = Object.fromEntries(def.inputs.map((k) => [k, new Float64Array(0)]))
    for (const o of runBatch(def, empty)) expect(o.length).toBe(0)
    // Flat: every input column held at its first value; no output may be infinite
    const flat = Object.fromEntries(def.inputs.map((k) => [k, new Float64Array(400).fill(input[k][0])]))
    for (const o of runBatch(def, flat)) for (const v of o) expect(Math.abs(v)).not.toBe(Infinity)
    // Missing rows (NaN) give NaN outputs and leave the rest as if they were not there
    const holes = [50, 51, 200]
    const withHoles = Object.fromEntries(def.inputs.map((k) => {
      const c = Float64Array.from(input[k])
      for (const h of holes) c[h] = NaN
      return [k, c]
    }))
    const without = Object.fromEntries(def.inputs.map((k) => [k, Float64Array.from(input[k]).filter((_, i) => !holes.includes(i))]))
    const a = runBatch(def, withHoles)
    const b = runBatch(def, without)
    const s = streamAll(def, withHoles)
    for (let o = 0; o < a.length; o++) {
      for (const h of holes) expect(a[o][h]).toBeNaN()
      const kept = a[o].filter((_, i) => !holes.includes(i))
      expect(firstDiff(kept, b[o])).toBe(-1)
      expect(firstDiff(a[o], s[o])).toBe(-1)
    }
  })
})
