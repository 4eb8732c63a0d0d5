// Volatility indicators: TA-Lib lookbacks and defaults, hand-checked values and defining properties on real data
import { describe, expect, it } from 'vitest'
import { resolveParams, runBatch } from '../../src/lib/signals/engine.js'
import { yangZhangK } from '../../src/lib/signals/indicators/volatility.js'
import { indicator } from '../../src/lib/signals/registry.js'
import type { Columns } from '../../src/lib/signals/types.js'
import { realBars } from './data.js'
import { streamAll as streamDef } from './streams.js'

const f = (...v: number[]) => Float64Array.from(v)
const run = (id: string, input: Columns, params: Record<string, number> = {}) => runBatch(indicator(id), input, params)

/** Relative closeness for values computed two ways */
function near(a: number, b: number, rel = 1e-9) {
  expect(Math.abs(a - b), `${a} vs ${b}`).toBeLessThanOrEqual(rel * Math.max(Math.abs(a), Math.abs(b), 1e-300))
}

const streamAll = (id: string, input: Columns, params: Record<string, number>) => streamDef(indicator(id), input, params)

describe('TA-Lib conventions', () => {
  it('uses TA-Lib lookbacks (TA_<NAME>_Lookback, unstable period 0)', () => {
    const lb = (id: string, p: Record<string, number> = {}) => indicator(id).lookback(resolveParams(indicator(id), p))
    // Values printed by TA_ATR_Lookback(14) etc. of the TA-Lib build we match
    expect(lb('atr')).toBe(14)
    expect(lb('atr', { timePeriod: 1 })).toBe(1)
    expect(lb('atr', { timePeriod: 50 })).toBe(50)
    expect(lb('natr')).toBe(14)
    expect(lb('natr', { timePeriod: 2 })).toBe(2)
    expect(lb('trange')).toBe(1)
    expect(lb('bbands')).toBe(4)
    expect(lb('bbands', { timePeriod: 20 })).toBe(19)
    expect(lb('bbands_pctb', { timePeriod: 20 })).toBe(19)
    expect(lb('bbands_width', { timePeriod: 20 })).toBe(19)
    expect(lb('stddev')).toBe(4)
    expect(lb('stddev', { timePeriod: 100 })).toBe(99)
    expect(lb('var')).toBe(4)
    expect(lb('var', { timePeriod: 1 })).toBe(0)
  })

  it('uses TA-Lib defaults and parameter names', () => {
    expect(resolveParams(indicator('atr'))).toEqual({ timePeriod: 14 })
    expect(resolveParams(indicator('natr'))).toEqual({ timePeriod: 14 })
    expect(resolveParams(indicator('bbands'))).toEqual({ timePeriod: 5, nbDevUp: 2, nbDevDn: 2 })
    expect(resolveParams(indicator('stddev'))).toEqual({ timePeriod: 5, nbDev: 1 })
    expect(resolveParams(indicator('var'))).toEqual({ timePeriod: 5, nbDev: 1 })
    expect(indicator('bbands').outputs).toEqual(['upperBand', 'middleBand', 'lowerBand'])
    // Fractional multipliers are accepted
    expect(() => resolveParams(indicator('bbands'), { nbDevUp: 2.5, nbDevDn: 1.5 })).not.toThrow()
  })
})

describe('true range and ATR', () => {
  // Row 1: max(12-11, |9-12|, |9-11|) = 3; row 2: max(1, |11.5-11|, |11.5-10|) = 1.5; row 3: max(3, 1, 2) = 3
  const bars = { high: f(10, 12, 11, 13), low: f(8, 11, 10, 10), close: f(9, 11.5, 10.5, 12) }

  it('trange is NaN on row 0, then the greatest of the three distances', () => {
    const [tr] = run('trange', bars)
    expect(tr[0]).toBeNaN()
    expect(Array.from(tr.subarray(1))).toEqual([3, 1.5, 3])
  })

  it('atr seeds with the mean true range, then smooths like Wilder', () => {
    const [a] = run('atr', bars, { timePeriod: 2 })
    expect(a[0]).toBeNaN()
    expect(a[1]).toBeNaN()
    expect(a[2]).toBe(2.25)
    expect(a[3]).toBe((2.25 * 1 + 3) / 2)
  })

  it('atr(1) is the true range and natr is atr / close x 100, on real data', async () => {
    const bars = await realBars(3000)
    const [tr] = run('trange', bars)
    const [a1] = run('atr', bars, { timePeriod: 1 })
    for (let i = 1; i < 3000; i++) expect(a1[i]).toBe(tr[i])
    const [a] = run('atr', bars)
    const [n] = run('natr', bars)
    for (let i = 14; i < 3000; i++) expect(n[i]).toBe((a[i] / bars.close[i]) * 100)
  })
})

describe('Bollinger bands, %B and bandwidth', () => {
  it('bands of 1..5 are 3 +/- nbDev x sqrt(2)', () => {
    const [u, m, l] = run('bbands', { close: f(1, 2, 3, 4, 5) }, { timePeriod: 5, nbDevUp: 1, nbDevDn: 2 })
    expect(m[4]).toBe(3)
    near(u[4], 3 + Math.SQRT2, 1e-12)
    near(l[4], 3 - 2 * Math.SQRT2, 1e-12)
    const [w] = run('bbands_width', { close: f(1, 2, 3, 4, 5) }, { timePeriod: 5 })
    near(w[4], (4 * Math.SQRT2) / 3, 1e-12)
  })

  it('%B is 0.5 when the close equals the middle band, and 0.5 on collapsed bands', () => {
    const [p] = run('bbands_pctb', { close: f(1, 5, 2, 4, 3) }, { timePeriod: 5 })
    near(p[4], 0.5, 1e-12)
    const [flat] = run('bbands_pctb', { close: new Float64Array(10).fill(7) }, { timePeriod: 5 })
    expect(flat[9]).toBe(0.5)
  })

  it('middle band = SMA, %B and width follow from the bands, on real data', async () => {
    const bars = await realBars(3000)
    const params = { timePeriod: 20, nbDevUp: 2, nbDevDn: 2 }
    const [u, m, l] = run('bbands', bars, params)
    const [sma] = run('sma', bars, { timePeriod: 20 })
    const [sd] = run('stddev', bars, { timePeriod: 20, nbDev: 2 })
    const [pb] = run('bbands_pctb', bars, params)
    const [w] = run('bbands_width', bars, params)
    for (let i = 19; i < 3000; i++) {
      expect(m[i]).toBe(sma[i])
      expect(u[i]).toBe(m[i] + sd[i])
      expect(l[i]).toBe(m[i] - sd[i])
      expect(pb[i]).toBe((bars.close[i] - l[i]) / (u[i] - l[i]))
      expect(w[i]).toBe((u[i] - l[i]) / m[i])
    }
  })

  it('reads a close above the upper band as bearish (mean reversion)', () => {
    const def = indicator('bbands')
    expect(def.reading?.([110, 100, 90], [111])).toBe('bearish')
    expect(def.reading?.([110, 100, 90], [89])).toBe('bullish')
    expect(def.reading?.([110, 100, 90], [100])).toBe('neutral')
  })
})

describe('Keltner and Donchian channels', () => {
  it('keltner middle is a TA_EMA: SMA seed, then k = 2/(n+1)', () => {
    const bars = { high: f(2, 3, 4, 5), low: f(0, 1, 2, 3), close: f(1, 2, 3, 4) }
    const [, m] = run('keltner', bars, { timePeriod: 3, atrPeriod: 1, multiplier: 1 })
    expect(m[1]).toBeNaN()
    expect(m[2]).toBe(2)
    expect(m[3]).toBe((4 - 2) * 0.5 + 2)
  })

  it('keltner bands are middle +/- multiplier x ATR, after the longer warm-up', async () => {
    const bars = await realBars(3000)
    const def = indicator('keltner')
    expect(def.lookback(resolveParams(def))).toBe(19)
    expect(def.lookback(resolveParams(def, { timePeriod: 5, atrPeriod: 30 }))).toBe(30)
    const [u, m, l] = run('keltner', bars, { multiplier: 1.5 })
    const [a] = run('atr', bars, { timePeriod: 10 })
    expect(u[18]).toBeNaN()
    for (let i = 19; i < 3000; i++) {
      expect(u[i]).toBe(m[i] + 1.5 * a[i])
      expect(l[i]).toBe(m[i] - 1.5 * a[i])
    }
  })

  it('donchian is the highest high / lowest low of the last N rows and their midpoint', async () => {
    const bars = await realBars(3000)
    const [u, m, l] = run('donchian', bars, { timePeriod: 20 })
    expect(u[18]).toBeNaN()
    for (let i = 19; i < 3000; i += 7) {
      const hi = Math.max(...bars.high.subarray(i - 19, i + 1))
      const lo = Math.min(...bars.low.subarray(i - 19, i + 1))
      expect(u[i]).toBe(hi)
      expect(l[i]).toBe(lo)
      expect(m[i]).toBe((hi + lo) / 2)
    }
  })
})

describe('standard deviation and variance', () => {
  // Mean 5, squares sum to 232: variance 232/8 - 25 = 4 exactly
  const close = f(2, 4, 4, 4, 5, 5, 7, 9)

  it('population variance and stddev x nbDev', () => {
    expect(run('var', { close }, { timePeriod: 8 })[0][7]).toBe(4)
    expect(run('stddev', { close }, { timePeriod: 8 })[0][7]).toBe(2)
    expect(run('stddev', { close }, { timePeriod: 8, nbDev: 2.5 })[0][7]).toBe(5)
    // nbDev is ignored by TA_VAR
    expect(run('var', { close }, { timePeriod: 8, nbDev: 3 })[0][7]).toBe(4)
    expect(Array.from(run('var', { close }, { timePeriod: 1 })[0])).toEqual(new Array(8).fill(0))
  })
})

/** Two-pass sample variance, the textbook form */
function sampleVar(v: number[]): number {
  const mean = v.reduce((a, b) => a + b, 0) / v.length
  return v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)
}

describe('annualised volatility estimators', () => {
  it('realised vol is the sample stddev of log returns x sqrt(periodsPerYear)', async () => {
    const bars = await realBars(2000)
    const c = bars.close
    const [rv] = run('realized_vol', bars, { timePeriod: 30 })
    const [rv1] = run('realized_vol', bars, { timePeriod: 30, periodsPerYear: 1 })
    expect(rv[29]).toBeNaN()
    for (let i = 30; i < 2000; i += 13) {
      const r: number[] = []
      for (let j = i - 29; j <= i; j++) r.push(Math.log(c[j] / c[j - 1]))
      near(rv1[i], Math.sqrt(sampleVar(r)), 1e-7)
      near(rv[i], rv1[i] * Math.sqrt(525600), 1e-12)
    }
  })

  it('parkinson, garman_klass and rogers_satchell on bars of known shape', () => {
    // Every bar: open = close = 100, high = 100 e^a, low = 100 e^-a
    const a = 0.01
    const n = 10
    const bars = {
      open: new Float64Array(n).fill(100),
      high: new Float64Array(n).fill(100 * Math.exp(a)),
      low: new Float64Array(n).fill(100 * Math.exp(-a)),
      close: new Float64Array(n).fill(100),
    }
    const p = { timePeriod: 5, periodsPerYear: 1 }
    // ln(H/L) = 2a: Parkinson = 2a / sqrt(4 ln 2), Garman-Klass = sqrt(0.5) 2a, Rogers-Satchell = a sqrt(2)
    near(run('parkinson', bars, p)[0][9], (2 * a) / Math.sqrt(4 * Math.LN2), 1e-9)
    near(run('garman_klass', bars, p)[0][9], Math.SQRT1_2 * 2 * a, 1e-9)
    near(run('rogers_satchell', bars, p)[0][9], a * Math.SQRT2, 1e-9)
    // A bar that opens at its low and closes at its high has no Rogers-Satchell variance
    const up = { open: f(1, 1, 1), high: f(2, 2, 2), low: f(1, 1, 1), close: f(2, 2, 2) }
    expect(run('rogers_satchell', up, { timePeriod: 3 })[0][2]).toBe(0)
  })

  it('yang_zhang combines overnight, open-to-close and Rogers-Satchell variances with k', async () => {
    expect(yangZhangK(20)).toBeCloseTo(0.34 / (1.34 + 21 / 19), 15)
    const bars = await realBars(2000)
    const { open: o, high: h, low: l, close: c } = bars
    const n = 20
    const [yz] = run('yang_zhang', bars, { timePeriod: n, periodsPerYear: 1 })
    const [rs] = run('rogers_satchell', bars, { timePeriod: n, periodsPerYear: 1 })
    expect(yz[n - 1]).toBeNaN()
    expect(Number.isFinite(yz[n])).toBe(true)
    const k = yangZhangK(n)
    for (let i = n; i < 2000; i += 17) {
      const on: number[] = []
      const oc: number[] = []
      for (let j = i - n + 1; j <= i; j++) {
        on.push(Math.log(o[j] / c[j - 1]))
        oc.push(Math.log(c[j] / o[j]))
      }
      near(yz[i], Math.sqrt(sampleVar(on) + k * sampleVar(oc) + (1 - k) * rs[i] ** 2), 1e-6)
    }
    // Brute-force Rogers-Satchell: mean of ln(H/C) ln(H/O) + ln(L/C) ln(L/O) over the last n bars
    for (let i = n - 1; i < 2000; i += 23) {
      let s = 0
      for (let j = i - n + 1; j <= i; j++) {
        s += Math.log(h[j] / c[j]) * Math.log(h[j] / o[j]) + Math.log(l[j] / c[j]) * Math.log(l[j] / o[j])
      }
      near(rs[i], Math.sqrt(s / n), 1e-7)
    }
  })

  it('estimators are zero on flat prices', () => {
    const flat = Object.fromEntries(['open', 'high', 'low', 'close'].map((k) => [k, new Float64Array(50).fill(90000)]))
    for (const id of ['realized_vol', 'parkinson', 'garman_klass', 'rogers_satchell', 'yang_zhang']) {
      expect(run(id, flat)[0][49], id).toBe(0)
    }
  })
})

describe('stream = batch with non-default parameters', () => {
  const cases: [string, Record<string, number>][] = [
    ['atr', { timePeriod: 7 }],
    ['natr', { timePeriod: 30 }],
    ['bbands', { timePeriod: 20, nbDevUp: 2.5, nbDevDn: 1.5 }],
    ['bbands_pctb', { timePeriod: 10, nbDevUp: 1, nbDevDn: 3 }],
    ['bbands_width', { timePeriod: 50 }],
    ['keltner', { timePeriod: 5, atrPeriod: 30, multiplier: 1.3 }],
    ['donchian', { timePeriod: 55 }],
    ['stddev', { timePeriod: 100, nbDev: 0.5 }],
    ['var', { timePeriod: 1 }],
    ['realized_vol', { timePeriod: 1440, periodsPerYear: 8760 }],
    ['parkinson', { timePeriod: 1 }],
    ['garman_klass', { timePeriod: 60 }],
    ['rogers_satchell', { timePeriod: 60 }],
    ['yang_zhang', { timePeriod: 2 }],
  ]
  it.each(cases)('%s %o', async (id, params) => {
    const bars = await realBars(3000)
    const b = run(id, bars, params)
    const s = streamAll(id, bars, params)
    const lb = indicator(id).lookback(resolveParams(indicator(id), params))
    for (let o = 0; o < b.length; o++) {
      for (let i = 0; i < 3000; i++) {
        if (!Object.is(b[o][i], s[o][i])) expect.fail(`${id} output ${o} row ${i}: batch ${b[o][i]} stream ${s[o][i]}`)
      }
      if (lb > 0) expect(b[o][lb - 1]).toBeNaN()
      expect(Number.isFinite(b[o][lb])).toBe(true)
    }
  })
})
