// Batch runs with a BatchArena: every indicator in the registry gives bit-identical outputs with and without one,
// on real data, including when the arena's arrays still hold another run's values, with missing rows and on
// inputs shorter than the warm-up. The two sources without a real recording (open interest, liquidations) get
// stand-ins made of real columns: this test compares two ways of computing, not the values themselves
import { describe, expect, it } from 'vitest'
import { BatchArena, runBatch } from '../../src/lib/signals/engine.js'
import { INDICATORS } from '../../src/lib/signals/registry.js'
import type { Columns, IndicatorDef } from '../../src/lib/signals/types.js'
import { nans, output, scratch, withArena } from '../../src/lib/signals/util.js'
import { firstDiff, realBars, realTrades, SOURCE_DATA } from './data.js'

function pick(def: IndicatorDef, input: Columns, rows?: number): Record<string, Float64Array> {
  return Object.fromEntries(def.inputs.map((k) => [k, rows === undefined ? input[k] : input[k].slice(0, rows)]))
}

/** The same columns rotated by half their length: as many rows, other values, for a run that dirties the arena */
function rotated(cols: Record<string, Float64Array>): Record<string, Float64Array> {
  return Object.fromEntries(
    Object.entries(cols).map(([k, c]) => {
      const h = c.length >> 1
      const r = new Float64Array(c.length)
      r.set(c.subarray(h))
      r.set(c.subarray(0, h), c.length - h)
      return [k, r]
    }),
  )
}

/**
 * Runs `def` through `arena` on `other` first and overwrites those outputs with a value no indicator produces,
 * then resets the arena and runs it on `input`: every array the second run takes (outputs and scratch) then
 * holds stale values, so a row the definition fails to write shows up as a difference
 */
function dirtyRun(def: IndicatorDef, arena: BatchArena, input: Columns, other: Columns): Float64Array[] {
  arena.reset()
  for (const o of runBatch(def, other, {}, { arena })) o.fill(-123456.789)
  arena.reset()
  return runBatch(def, input, {}, { arena })
}

function expectSame(def: IndicatorDef, got: Float64Array[], want: Float64Array[], what: string): void {
  expect(got).toHaveLength(want.length)
  for (let o = 0; o < want.length; o++) {
    const at = firstDiff(got[o], want[o])
    expect(at, `${def.id} ${def.outputs[o]} ${what}: row ${at}, arena ${got[o][at]}, fresh ${want[o][at]}`).toBe(-1)
  }
}

/** Real columns standing in for the sources no real recording covers */
const STAND_INS: Partial<Record<string, () => Promise<Columns>>> = {
  // Bar close and, as open interest, the running total of the bar volume
  open_interest: async () => {
    const b = await realBars(5000)
    let oi = 0
    return { close: b.close, open_interest: b.volume.map((v) => (oi += v)) }
  },
  // Trades read as liquidation orders
  liquidations: async () => {
    const t = await realTrades()
    return { timestamp: t.timestamp, side: t.side, price: t.price, amount: t.amount }
  },
}

describe.each(INDICATORS.map((d) => [d.id, d] as const))('%s', (_id, def) => {
  it('gives bit-identical outputs with a reused arena, on full, short, holed and empty inputs', async () => {
    const load = STAND_INS[def.source] ?? SOURCE_DATA[def.source]
    if (!load) throw new Error(`no data loader for source '${def.source}'`)
    const arena = new BatchArena()
    const input = pick(def, await load())
    expectSame(def, dirtyRun(def, arena, input, rotated(input)), runBatch(def, input), 'real data')

    // Shorter than most warm-ups, and a few rows
    for (const rows of [3, 40]) {
      const short = pick(def, input, rows)
      expectSame(def, dirtyRun(def, arena, short, rotated(short)), runBatch(def, short), `${rows} rows`)
    }

    // Missing rows go through the engine's compacting path, whose arrays come from the arena too
    const holed = Object.fromEntries(
      Object.entries(input).map(([k, c]) => {
        const h = Float64Array.from(c)
        for (const i of [5, 6, 250]) if (i < h.length) h[i] = NaN
        return [k, h]
      }),
    )
    expectSame(def, dirtyRun(def, arena, holed, rotated(holed)), runBatch(def, holed), 'missing rows')

    const empty = Object.fromEntries(def.inputs.map((k) => [k, new Float64Array(0)]))
    expectSame(def, runBatch(def, empty, {}, { arena }), runBatch(def, empty), 'empty input')
  })
})

describe('BatchArena', () => {
  it('hands the same arrays out again only after a reset', () => {
    const arena = new BatchArena()
    const def = INDICATORS.find((d) => d.id === 'sma') as IndicatorDef
    const close = Float64Array.from({ length: 100 }, (_, i) => 100 + Math.sin(i))
    const a = runBatch(def, { close }, {}, { arena })[0]
    const b = runBatch(def, { close }, {}, { arena })[0]
    expect(b).not.toBe(a)
    expect(arena.bytes).toBe(2 * 100 * 8)
    arena.reset()
    const c = runBatch(def, { close }, {}, { arena })[0]
    expect([a, b]).toContain(c)
    expect(arena.bytes).toBe(2 * 100 * 8)
    // Without an arena every run allocates new outputs, as before
    const d = runBatch(def, { close })[0]
    expect([a, b]).not.toContain(d)
    expect(firstDiff(d, c)).toBe(-1)
  })

  it('serves output, nans and scratch only inside withArena, and a nested run without one allocates', () => {
    const arena = new BatchArena()
    const inside = withArena(arena, () => {
      const o = output(10, 3)
      const s = scratch(10)
      const fresh = withArena(undefined, () => output(10, 0))
      return { o, s, m: nans(4), fresh }
    })
    expect(arena.bytes).toBe((10 + 10 + 4) * 8)
    expect(Array.from(inside.o.subarray(0, 3)).every((v) => Number.isNaN(v))).toBe(true)
    expect(Array.from(inside.m).every((v) => Number.isNaN(v))).toBe(true)
    expect(Array.from(inside.fresh)).toEqual(new Array(10).fill(0))
    output(10, 0)
    expect(arena.bytes).toBe((10 + 10 + 4) * 8)
  })
})
