// Research indicators: funding on real Binance markPrice data; open interest and liquidations on hand-made series
// because no real recording of either exists in the shared data (their loaders say so)
import { describe, expect, it } from 'vitest'
import { openStream, runBatch } from '../../src/lib/signals/engine.js'
import { conditionalOi, fundingZscore, liquidationIntensity, OI_REGIMES, oiDivergence } from '../../src/lib/signals/indicators/research.js'
import type { Columns, IndicatorDef } from '../../src/lib/signals/types.js'
import { MICRO_SOURCES, realFunding } from './micro-data.js'

const cols = (o: Record<string, number[]>): Columns => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Float64Array.from(v)]))

/** Batch outputs, after checking that the stream gives the very same values for these parameters */
function run(def: IndicatorDef, input: Columns, params: Record<string, number> = {}): Float64Array[] {
  const batch = runBatch(def, input, params)
  const n = input[def.inputs[0]].length
  const s = openStream(def, params)
  const x = new Float64Array(def.inputs.length)
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < x.length; k++) x[k] = input[def.inputs[k]][i]
    s.update(x)
    for (let o = 0; o < batch.length; o++) {
      if (!Object.is(s.out[o], batch[o][i])) throw new Error(`${def.id} ${def.outputs[o]}[${i}]: stream ${s.out[o]} batch ${batch[o][i]}`)
    }
  }
  return batch
}

/** A missing row (NaN) gives NaN outputs and leaves every other output as if the row were not there */
function skipsMissingRow(def: IndicatorDef, input: Columns, params: Record<string, number>, hole: number) {
  const holed = Object.fromEntries(Object.entries(input).map(([k, v]) => [k, Float64Array.from(v, (x, i) => (i === hole ? NaN : x))]))
  const without = Object.fromEntries(Object.entries(input).map(([k, v]) => [k, v.filter((_, i) => i !== hole)]))
  const a = run(def, holed, params)
  const b = run(def, without, params)
  for (let o = 0; o < a.length; o++) {
    expect(a[o][hole]).toBeNaN()
    expect(Array.from(a[o].filter((_, i) => i !== hole))).toEqual(Array.from(b[o]))
  }
}

const arr = (a: Float64Array) => Array.from(a)

describe('funding_zscore', () => {
  it('is the population z-score of the latest rate in its window', () => {
    const rates = [1, 2, 3, 4, 4, 4, 4]
    const [o] = run(fundingZscore, cols({ funding_rate: rates }), { timePeriod: 3 })
    expect(o[0]).toBeNaN()
    expect(o[1]).toBeNaN()
    expect(o[2]).toBeCloseTo(1 / Math.sqrt(2 / 3), 12)
    expect(o[3]).toBeCloseTo(1 / Math.sqrt(2 / 3), 12)
    expect(o[4]).toBeCloseTo(1 / 3 / Math.sqrt(2 / 9), 12)
    expect(o[5]).toBe(0) // flat window
    expect(o[6]).toBe(0)
    // Scale and offset free, including at funding-rate magnitudes
    const [small] = run(fundingZscore, cols({ funding_rate: rates.map((r) => 0.0001 + r * 1e-6) }), { timePeriod: 3 })
    for (let i = 2; i < 7; i++) expect(small[i]).toBeCloseTo(o[i], 8)
    expect(fundingZscore.reading!([2.5], [])).toBe('bearish')
    expect(fundingZscore.reading!([-2.5], [])).toBe('bullish')
  })

  it('matches a two-pass z-score on real Binance funding rates and is exactly 0 on flat windows', async () => {
    const f = await realFunding()
    const r = f.funding_rate
    expect(r.length).toBe(514)
    for (const n of [30, 90]) {
      const [o] = run(fundingZscore, f, { timePeriod: n })
      let flat = 0
      let moving = 0
      for (let i = n - 1; i < r.length; i++) {
        const w = Array.from(r.subarray(i - n + 1, i + 1))
        if (w.every((v) => v === w[0])) {
          expect(o[i]).toBe(0)
          flat++
          continue
        }
        const mean = w.reduce((a, v) => a + v, 0) / n
        const sd = Math.sqrt(w.reduce((a, v) => a + (v - mean) ** 2, 0) / n)
        expect(o[i]).toBeCloseTo((r[i] - mean) / sd, 8)
        // A member of its own window is at most sqrt(n - 1) population deviations from the mean
        expect(Math.abs(o[i])).toBeLessThanOrEqual(Math.sqrt(n - 1) + 1e-9)
        moving++
      }
      // The real predicted rate changes once a minute: both kinds of window occur at n = 30
      if (n === 30) expect(flat).toBeGreaterThan(50)
      expect(moving).toBeGreaterThan(100)
    }
  })
})

describe('open interest and liquidation data', () => {
  it('has no real series, and the loaders say so instead of making one up', async () => {
    await expect(MICRO_SOURCES.open_interest!()).rejects.toThrow(/No real open_interest data/)
    await expect(MICRO_SOURCES.liquidations!()).rejects.toThrow(/No real liquidations data/)
  })
})

describe('oi_divergence', () => {
  const input = cols({ close: [10, 11, 12, 11, 11, 12, 13], open_interest: [100, 99, 101, 100, 100, 99, 98] })

  it('averages the sign disagreement of price and open-interest changes', () => {
    // Per change: +1 (up, OI down), -1 (up, up), -1 (down, down), 0 (flat), +1, +1
    expect(arr(run(oiDivergence, input, { timePeriod: 1 })[0])).toEqual([NaN, 1, -1, -1, 0, 1, 1])
    expect(arr(run(oiDivergence, input, { timePeriod: 2 })[0])).toEqual([NaN, NaN, 0, -1, -0.5, 0.5, 1])
    expect(arr(run(oiDivergence, input, { timePeriod: 4 })[0])).toEqual([NaN, NaN, NaN, NaN, -0.25, -0.25, 0.25])
  })

  it('skips missing rows', () => {
    skipsMissingRow(oiDivergence, input, { timePeriod: 2 }, 3)
  })
})

describe('conditional_oi', () => {
  const input = cols({ close: [10, 11, 12, 11, 10, 10, 11], open_interest: [100, 105, 103, 104, 101, 102, 102] })

  it('classifies each change into the four regimes', () => {
    const [regime, change] = run(conditionalOi, input, { timePeriod: 1 })
    const R = OI_REGIMES
    expect(arr(regime)).toEqual([NaN, R.longBuildUp, R.shortCovering, R.shortBuildUp, R.longLiquidation, R.none, R.none])
    expect(arr(change)).toEqual([NaN, 5, -2, 1, -3, 1, 0])
    const [r2, c2] = run(conditionalOi, input, { timePeriod: 2 })
    expect(arr(r2)).toEqual([NaN, NaN, R.longBuildUp, R.none, R.longLiquidation, R.longLiquidation, R.longBuildUp])
    expect(arr(c2)).toEqual([NaN, NaN, 3, -1, -2, -2, 1])
    expect(conditionalOi.reading!([R.shortBuildUp, 5], [])).toBe('bearish')
  })

  it('skips missing rows', () => {
    skipsMissingRow(conditionalOi, input, { timePeriod: 2 }, 2)
  })
})

describe('liquidation_intensity', () => {
  const input = cols({
    timestamp: [0, 10e6, 30e6, 30e6, 20e6],
    side: [-1, 1, -1, 1, 1],
    price: [100, 200, 50, 10, 10],
    amount: [2, 0.5, 1, 1, 1],
  })

  it('decays each side by half every half-life and adds the new notional', () => {
    const [long, short, net] = run(liquidationIntensity, input, { halfLife: 10 })
    const want = [
      [200, 0], // a long liquidated: sell order of 2 at 100
      [100, 100], // 10 s later everything halves, then a 100 short liquidation
      [75, 25], // 20 s: a quarter left, plus 50 long
      [75, 35], // same instant: no decay
      [75, 45], // a late timestamp decays nothing
    ]
    want.forEach(([l, s], i) => {
      expect(long[i]).toBeCloseTo(l, 9)
      expect(short[i]).toBeCloseTo(s, 9)
      expect(net[i]).toBeCloseTo(s - l, 9)
    })
    expect(liquidationIntensity.reading!([75, 45, -30], [])).toBe('bearish')
  })

  it('skips missing rows', () => {
    skipsMissingRow(liquidationIntensity, input, { halfLife: 10 }, 1)
  })
})
