// The WebAssembly SIMD kernels and the arena slabs they write into (src/lib/signals/simd.ts): the kernel path gives
// the JS loop's values bit for bit, on every length around its step and chunk boundaries, every lag, and inputs
// with non-finite values; slabs hand out disjoint, zero-filled, aligned arrays
import { describe, expect, it } from 'vitest'
import { BatchArena, resolveParams, runBatch } from '../../src/lib/signals/engine.js'
import { INDICATORS } from '../../src/lib/signals/registry.js'
import { CHUNK, MIN_SLAB_ROWS, ROW_STEP, Slabs, slabKernels } from '../../src/lib/signals/simd.js'
import type { Columns, IndicatorDef } from '../../src/lib/signals/types.js'
import { CHUNK as CHUNK_ROWS, output, withArena } from '../../src/lib/signals/util.js'
import { firstDiff, realBars } from './data.js'

const mom = INDICATORS.find((d) => d.id === 'mom') as IndicatorDef

/** A deterministic price path with every kind of fraction, so that a lane or offset mix-up changes values */
function prices(n: number, seed = 1): Float64Array {
  let s = seed
  let p = 40_000
  return Float64Array.from({ length: n }, () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31
    p += (s / 2 ** 31 - 0.5) * 37.3
    return p
  })
}

describe('slab kernels', () => {
  it('mom in an arena slab equals the JS loop bit for bit, around every step and chunk boundary', () => {
    const arena = new BatchArena()
    const base = prices(CHUNK * 2 + 3 * ROW_STEP + 1000)
    for (const per of [1, 2, 7, 8, 9, 10, 100, 1000]) {
      const lengths = [MIN_SLAB_ROWS, MIN_SLAB_ROWS + 1, per + CHUNK, per + CHUNK - 1, per + CHUNK + 1]
      for (let tail = 0; tail <= 2 * ROW_STEP + 1; tail++) lengths.push(per + CHUNK * 2 + tail)
      for (const n of lengths) {
        const close = base.subarray(0, n)
        arena.reset()
        // The stale outputs of a run on other values must all be overwritten
        runBatch(mom, { close: prices(n, 7) }, { timePeriod: per }, { arena })[0].fill(-1)
        arena.reset()
        const [got] = runBatch(mom, { close }, { timePeriod: per }, { arena })
        expect(slabKernels(got), `n ${n}: the output should lie in a slab`).toBeDefined()
        const [want] = runBatch(mom, { close }, { timePeriod: per })
        expect(slabKernels(want)).toBeUndefined()
        const at = firstDiff(got, want)
        expect(at, `per ${per}, n ${n}: row ${at}, slab ${got[at]}, heap ${want[at]}`).toBe(-1)
      }
    }
  })

  it('sees a non-finite input in any lane and position, and gives the same outputs as the heap path', () => {
    const arena = new BatchArena()
    const n = CHUNK + 100
    // A bad input spoils two differences, its own row's and the row `per` later; with a lag of a whole step both
    // fall in the same lane of the same vector, so every one of the kernel's accumulators is checked on its own
    for (const per of [ROW_STEP, 10]) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        // Positions in the lag head, in each lane of each vector of a step, in the kernel's body, in the JS tail
        const lanes = Array.from({ length: ROW_STEP }, (_, k) => per + k)
        for (const at of [0, per - 1, ...lanes, 4000, CHUNK + per - 1, CHUNK + per, n - 1]) {
          const close = prices(n)
          close[at] = bad
          const direct = mom.batchIfFinite?.({ close }, { timePeriod: per })
          const viaSlab = withArena(arena, () => mom.batchIfFinite?.({ close }, { timePeriod: per }))
          arena.reset()
          expect(direct, `${bad} at ${at}, lag ${per}, heap`).toBeUndefined()
          expect(viaSlab, `${bad} at ${at}, lag ${per}, slab`).toBeUndefined()
          const [got] = runBatch(mom, { close }, { timePeriod: per }, { arena })
          const [want] = runBatch(mom, { close }, { timePeriod: per })
          arena.reset()
          expect(firstDiff(got, want), `${bad} at ${at}, lag ${per}`).toBe(-1)
        }
      }
    }
    // Finite extremes whose difference overflows to infinity: the in-loop check fails on both paths, and the
    // engine's full scan then finds every input finite, so the row keeps its infinite value
    const close = prices(n)
    close[5000] = Number.MAX_VALUE
    close[5010] = -Number.MAX_VALUE
    const [got] = runBatch(mom, { close }, { timePeriod: 10 }, { arena })
    const [want] = runBatch(mom, { close }, { timePeriod: 10 })
    expect(got[5010]).toBe(-Infinity)
    expect(firstDiff(got, want)).toBe(-1)
  })

  it('gives TA_MOM values on the real 2024 bars through an arena', async () => {
    const { close } = await realBars()
    const arena = new BatchArena()
    const [got] = runBatch(mom, { close }, { timePeriod: 10 }, { arena })
    expect(slabKernels(got)).toBeDefined()
    for (let i = 0; i < close.length; i++) {
      const want = i < 10 ? NaN : close[i] - close[i - 10]
      if (!Object.is(got[i], want)) expect(got[i], `row ${i}`).toBe(want)
    }
  })
})

describe('true range kernel (trange)', () => {
  const trange = INDICATORS.find((d) => d.id === 'trange') as IndicatorDef
  /** Bars whose three ranges each win on some rows: gaps up and down between bars, wide and narrow bars */
  function bars(n: number, seed = 5): Columns {
    const mid = prices(n, seed)
    const width = prices(n, seed + 1).map((v) => Math.abs(v - 40_000) / 50 + 0.25)
    return { high: mid.map((m, i) => m + width[i]), low: mid.map((m, i) => m - width[i] / 2), close: prices(n, seed + 2) }
  }

  it('equals the JS loop bit for bit, around every step and chunk boundary', () => {
    const arena = new BatchArena()
    const all = bars(3 * 4096 + 3 * ROW_STEP)
    const lengths = [MIN_SLAB_ROWS, 4096 + 1, 4096 + 2, 2 * 4096]
    for (let tail = 0; tail <= 2 * ROW_STEP + 1; tail++) lengths.push(2 * 4096 + 1 + tail)
    for (const n of lengths) {
      const input = { high: all.high.subarray(0, n), low: all.low.subarray(0, n), close: all.close.subarray(0, n) }
      arena.reset()
      runBatch(trange, bars(n, 9), {}, { arena })[0].fill(-1)
      arena.reset()
      const [got] = runBatch(trange, input, {}, { arena })
      expect(slabKernels(got)).toBeDefined()
      const [want] = runBatch(trange, input)
      const at = firstDiff(got, want)
      expect(at, `n ${n}: row ${at}, slab ${got[at]}, heap ${want[at]}`).toBe(-1)
    }
    // Each of the three ranges is the greatest on some rows
    const [out] = runBatch(trange, all, {}, { arena })
    const { high, low, close } = all
    const wins = [0, 0, 0]
    for (let i = 1; i < out.length; i++) {
      if (out[i] === high[i] - low[i]) wins[0]++
      else if (out[i] === Math.abs(close[i - 1] - high[i])) wins[1]++
      else if (out[i] === Math.abs(close[i - 1] - low[i])) wins[2]++
    }
    expect(Math.min(...wins)).toBeGreaterThan(100)
  })

  it('sees a non-finite high, low or close in any lane, and gives the same outputs as the heap path', () => {
    const arena = new BatchArena()
    const n = 4096 + 100
    const lanes = Array.from({ length: ROW_STEP }, (_, k) => 1 + ROW_STEP + k)
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const col of ['high', 'low', 'close'] as const) {
        for (const at of [0, 1, ...lanes, 3000, 4096, 4097, n - 2, n - 1]) {
          const input = bars(n)
          input[col][at] = bad
          const viaSlab = withArena(arena, () => trange.batchIfFinite?.(input, {}))
          arena.reset()
          expect(viaSlab, `${bad} ${col} at ${at}`).toBeUndefined()
          const [got] = runBatch(trange, input, {}, { arena })
          const [want] = runBatch(trange, input)
          arena.reset()
          expect(firstDiff(got, want), `${bad} ${col} at ${at}`).toBe(-1)
        }
      }
    }
  })
})

describe('window extremes kernel (stoch, stochf, willr, donchian)', () => {
  const defs = ['stoch', 'stochf', 'willr', 'donchian'].map((id) => INDICATORS.find((d) => d.id === id) as IndicatorDef)
  const periodOf = (def: IndicatorDef) => (def.id.startsWith('stoch') ? 'fastKPeriod' : 'timePeriod')

  /** def.batch (no engine checks, so non-finite inputs reach the kernel) into an arena's slabs and onto the heap */
  function bothWays(def: IndicatorDef, input: Columns, per: number): [Float64Array[], Float64Array[]] {
    const p = resolveParams(def, { [periodOf(def)]: per })
    const arena = new BatchArena()
    const viaSlab = withArena(arena, () => def.batch(input, p))
    expect(slabKernels(viaSlab[0]), `${def.id}: the output should lie in a slab`).toBeDefined()
    return [viaSlab, def.batch(input, p)]
  }

  /** Bars on a coarse grid, so that many windows hold their extreme twice and the scans' ties matter */
  function gridBars(n: number): Columns {
    const mid = prices(n, 3).map((v) => Math.round(v / 10))
    return { high: mid.map((v, i) => v + (i % 3)), low: mid.map((v, i) => v - (i % 4)), close: mid }
  }

  it('gives the scans\' values bit for bit for every period shape, around every chunk boundary', () => {
    const bars = gridBars(CHUNK_ROWS * 3 + 8)
    for (const def of defs) {
      // 1000: donchian only, past the kernel's longest window (the scan serves it)
      for (const per of [1, 2, 3, 4, 5, 7, 8, 9, 14, 100, 500, 1000]) {
        if (per < def.params[0].min || per > def.params[0].max) continue
        for (const n of [MIN_SLAB_ROWS, CHUNK_ROWS + 1, CHUNK_ROWS + per - 1, 2 * CHUNK_ROWS + 3, 3 * CHUNK_ROWS + 8]) {
          const input = { high: bars.high.subarray(0, n), low: bars.low.subarray(0, n), close: bars.close.subarray(0, n) }
          const [got, want] = bothWays(def, input, per)
          got.forEach((g, k) => {
            const at = firstDiff(g, want[k])
            expect(at, `${def.id} per ${per} n ${n} output ${k}: row ${at}, slab ${g[at]}, heap ${want[k][at]}`).toBe(-1)
          })
        }
      }
    }
  })

  it('keeps the later of tied extremes, as the scans do: -0 against 0 shows in the outputs', () => {
    // Highs of 0 and -0 over negative lows with a close of 0 make %R's sign of zero follow which zero is the highest
    // high; lows of 0 and -0 under positive highs with a close of -0 do the same for %K
    const n = CHUNK_ROWS + 777
    const signs = prices(n, 11).map((v) => (Math.floor(v) % 2 === 0 ? 0 : -0))
    const zeroHighs = { high: signs, low: Float64Array.from(signs, (_, i) => -1 - (i % 5)), close: new Float64Array(n) }
    const zeroLows = { high: Float64Array.from(signs, (_, i) => 1 + (i % 5)), low: signs, close: new Float64Array(n).fill(-0) }
    for (const def of defs) {
      const input = def.id === 'willr' || def.id === 'donchian' ? zeroHighs : zeroLows
      const [got, want] = bothWays(def, input, 5)
      // (stoch's SMAs add the zeros up, which drops their signs)
      const out = want[0].subarray(20)
      if (def.id !== 'stoch') expect(out.some((v) => Object.is(v, -0)) && out.some((v) => Object.is(v, 0)), def.id).toBe(true)
      got.forEach((g, k) => expect(firstDiff(g, want[k]), `${def.id} output ${k}`).toBe(-1))
    }
  })

  it('hands a chunk with a non-finite input to the scan, which carries on with TA-Lib\'s comparisons', () => {
    const n = 3 * CHUNK_ROWS
    for (const def of defs) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        for (const at of [0, 3, 13, CHUNK_ROWS - 2, CHUNK_ROWS, CHUNK_ROWS + 1, 2 * CHUNK_ROWS + 5, n - 1]) {
          for (const col of ['high', 'low'] as const) {
            const bars = gridBars(n)
            bars[col][at] = bad
            const [got, want] = bothWays(def, bars, 14)
            got.forEach((g, k) => expect(firstDiff(g, want[k]), `${def.id}: ${bad} ${col} at ${at}, output ${k}`).toBe(-1))
          }
        }
      }
    }
  })

  it('gives the same stoch, stochf, willr and donchian on the real 2024 bars through an arena', async () => {
    const bars = await realBars()
    const arena = new BatchArena()
    for (const def of defs) {
      arena.reset()
      const got = runBatch(def, bars, {}, { arena })
      expect(slabKernels(got[0])).toBeDefined()
      const want = runBatch(def, bars)
      got.forEach((g, k) => expect(firstDiff(g, want[k]), def.id).toBe(-1))
    }
  })
})

describe('Slabs', () => {
  it('hands out disjoint, 64-byte aligned, zero-filled arrays; small ones stay on the heap', () => {
    const slabs = new Slabs()
    expect(slabs.take(MIN_SLAB_ROWS - 1)).toBeUndefined()
    const sizes = [MIN_SLAB_ROWS, 5001, 1_000_000, 4_000_000, 7, 3_000_000, MIN_SLAB_ROWS]
    const got = sizes.map((n) => slabs.take(n))
    const arrays = got.filter((a): a is Float64Array => a !== undefined)
    expect(arrays.map((a) => a.length)).toEqual(sizes.filter((n) => n >= MIN_SLAB_ROWS))
    for (const a of arrays) {
      expect(a.byteOffset % 64).toBe(0)
      expect(slabKernels(a)?.scratch.byteLength).toBeLessThanOrEqual(a.byteOffset)
      expect(a.every((v) => v === 0)).toBe(true)
      a.fill(a.length)
    }
    // Writing each array whole left every other one as it was
    for (const a of arrays) expect(a.every((v) => v === a.length)).toBe(true)
  })

  it('gives an array larger than a shared slab one of its own, and goes on filling the shared one', () => {
    const slabs = new Slabs()
    const small = slabs.take(MIN_SLAB_ROWS) as Float64Array
    const big = slabs.take(10_000_000) as Float64Array
    const next = slabs.take(MIN_SLAB_ROWS) as Float64Array
    expect(big.buffer).not.toBe(small.buffer)
    expect(next.buffer).toBe(small.buffer)
    expect(next.byteOffset).toBe(small.byteOffset + MIN_SLAB_ROWS * 8)
  })

  it('falls back to the heap for good when the engine refuses a memory', () => {
    const Memory = WebAssembly.Memory
    const slabs = new Slabs()
    try {
      WebAssembly.Memory = class {
        constructor() {
          throw new RangeError('WebAssembly.Memory(): could not allocate memory')
        }
      } as unknown as typeof WebAssembly.Memory
      expect(slabs.take(MIN_SLAB_ROWS)).toBeUndefined()
    } finally {
      WebAssembly.Memory = Memory
    }
    // Refused once, the slabs stay out of the way even where a memory would now be given
    expect(slabs.take(MIN_SLAB_ROWS)).toBeUndefined()
    const arena = new BatchArena()
    expect(slabKernels(withArena(arena, () => output(MIN_SLAB_ROWS, 0)))).toBeDefined()
  })

  it('serves arena outputs from slabs, so that batch runs keep the arena contract', () => {
    const arena = new BatchArena()
    const a = withArena(arena, () => output(MIN_SLAB_ROWS, 3))
    const b = withArena(arena, () => output(MIN_SLAB_ROWS - 1, 3))
    expect(slabKernels(a)).toBeDefined()
    expect(slabKernels(b)).toBeUndefined()
    expect(arena.bytes).toBe((2 * MIN_SLAB_ROWS - 1) * 8)
    expect(Array.from(a.subarray(0, 4))).toEqual([NaN, NaN, NaN, 0])
  })
})
