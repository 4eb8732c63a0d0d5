// Momentum oscillators: TA-Lib lookbacks, hand-checkable cases and defining properties on real BTCUSDT 1m bars
import { describe, expect, it } from 'vitest'
import { openStream, resolveParams, runBatch } from '../../src/lib/signals/engine.js'
import {
  ao,
  apo,
  bop,
  cci,
  cmo,
  macd,
  mfi,
  mom,
  MOMENTUM,
  ppo,
  roc,
  rocp,
  rsi,
  stoch,
  stochf,
  stochrsi,
  trix,
  tsi,
  ultosc,
  willr,
} from '../../src/lib/signals/indicators/momentum.js'
import { sma } from '../../src/lib/signals/indicators/trend.js'
import type { Columns, IndicatorDef } from '../../src/lib/signals/types.js'
import { realBars } from './data.js'

const f64 = (xs: number[]) => Float64Array.from(xs)
const run = (def: IndicatorDef, input: Columns, p: Record<string, number> = {}) => runBatch(def, input, p)
const lb = (def: IndicatorDef, p: Record<string, number> = {}) => def.lookback(resolveParams(def, p))

/** Relative difference, with an absolute floor so values near zero compare sensibly */
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-6)

/** Largest relative difference over rows where the reference is finite; fails on a NaN mismatch */
function maxRel(ours: Float64Array, ref: ArrayLike<number>, from: number): number {
  let m = 0
  for (let i = from; i < ours.length; i++) {
    expect(Number.isNaN(ours[i]), `row ${i}`).toBe(Number.isNaN(ref[i]))
    if (!Number.isNaN(ref[i])) m = Math.max(m, rel(ours[i], ref[i]))
  }
  return m
}

/**
 * Range check that allows rounding: TA-Lib's own arithmetic ((c - l)/((h - l)/100), running sums that drop old
 * flows) can land a few ulps outside the band, and these indicators reproduce it bit for bit
 */
function expectWithin(v: number, lo: number, hi: number, what: string) {
  expect(v, what).toBeGreaterThanOrEqual(lo - 1e-9)
  expect(v, what).toBeLessThanOrEqual(hi + 1e-9)
}

/** Plain EMA seeded with the mean of its first `per` inputs, from `start` on (NaN before and during the seed) */
function naiveEma(x: ArrayLike<number>, per: number, start: number): number[] {
  const out = new Array<number>(x.length).fill(NaN)
  const k = 2 / (per + 1)
  for (let i = start + per - 1; i < x.length; i++) {
    if (i === start + per - 1) {
      let s = 0
      for (let j = start; j <= i; j++) s += x[j]
      out[i] = s / per
    } else out[i] = out[i - 1] + k * (x[i] - out[i - 1])
  }
  return out
}

function naiveMean(x: ArrayLike<number>, from: number, to: number): number {
  let s = 0
  for (let j = from; j <= to; j++) s += x[j]
  return s / (to - from + 1)
}

describe('TA-Lib lookbacks (TA_<NAME>_Lookback, unstable period 0)', () => {
  it.each([
    [macd, {}, 33],
    [macd, { fastPeriod: 5, slowPeriod: 35, signalPeriod: 5 }, 38],
    [macd, { fastPeriod: 26, slowPeriod: 12, signalPeriod: 9 }, 33],
    [stoch, {}, 8],
    [stoch, { fastKPeriod: 14, slowKPeriod: 3, slowDPeriod: 3 }, 17],
    [stoch, { fastKPeriod: 21, slowKPeriod: 7, slowDPeriod: 5 }, 30],
    [stoch, { fastKPeriod: 1, slowKPeriod: 1, slowDPeriod: 1 }, 0],
    [stochf, {}, 6],
    [stochf, { fastKPeriod: 14, fastDPeriod: 3 }, 15],
    [stochrsi, {}, 20],
    [stochrsi, { timePeriod: 14, fastKPeriod: 14, fastDPeriod: 3 }, 29],
    [cci, {}, 13],
    [roc, {}, 10],
    [rocp, {}, 10],
    [willr, {}, 13],
    [ppo, {}, 25],
    [apo, { fastPeriod: 5, slowPeriod: 35 }, 34],
    [trix, {}, 88],
    [trix, { timePeriod: 15 }, 43],
    [cmo, {}, 14],
    [mfi, {}, 14],
    [mom, {}, 10],
    [ultosc, {}, 28],
    [ultosc, { timePeriod1: 10, timePeriod2: 20, timePeriod3: 40 }, 40],
    [bop, {}, 0],
    [rsi, {}, 14],
  ] as const)('%s %o -> %i', (def, p, expected) => {
    expect(lb(def, p)).toBe(expected)
  })

  it('non-TA-Lib indicators document theirs: tsi 25+13+13-2, ao 34-1', () => {
    expect(lb(tsi)).toBe(49)
    expect(lb(ao)).toBe(33)
  })

  it('every indicator has its first finite output exactly at the lookback on real data', async () => {
    const bars = await realBars(2000)
    for (const def of MOMENTUM) {
      const at = lb(def)
      for (const o of run(def, bars)) {
        if (at > 0) expect(o[at - 1], def.id).toBeNaN()
        expect(Number.isFinite(o[at]), def.id).toBe(true)
      }
    }
  })

  it('TA-Lib defaults and parameter names', () => {
    expect(resolveParams(macd)).toEqual({ fastPeriod: 12, slowPeriod: 26, signalPeriod: 9 })
    expect(resolveParams(stoch)).toEqual({ fastKPeriod: 5, slowKPeriod: 3, slowDPeriod: 3 })
    expect(resolveParams(stochrsi)).toEqual({ timePeriod: 14, fastKPeriod: 5, fastDPeriod: 3 })
    expect(resolveParams(ultosc)).toEqual({ timePeriod1: 7, timePeriod2: 14, timePeriod3: 28 })
    expect(resolveParams(trix)).toEqual({ timePeriod: 30 })
    expect(macd.outputs).toEqual(['macd', 'macdSignal', 'macdHist'])
    expect(stochrsi.outputs).toEqual(['fastK', 'fastD'])
    expect(mfi.inputs).toEqual(['high', 'low', 'close', 'volume'])
    // TA-Lib's EMA range starts at 2: period 1 misaligns TA_MACD's signal and breaks TA_TRIX
    expect(() => resolveParams(macd, { signalPeriod: 1 })).toThrow(/signalPeriod/)
    expect(() => resolveParams(trix, { timePeriod: 1 })).toThrow(/timePeriod/)
  })
})

describe('macd', () => {
  it('seeds the fast EMA on the rows that end the slow seed, as TA-Lib', () => {
    // fast 2 / slow 3: slow seed mean(10,1,2) = 13/3, fast seed mean(1,2) = 1.5 (row 0 skipped)
    const [m, s, h] = run(macd, { close: f64([10, 1, 2, 3, 4]) }, { fastPeriod: 2, slowPeriod: 3, signalPeriod: 2 })
    expect(m[2]).toBeNaN()
    // Row 3: slow (3 - 13/3)/2 + 13/3 = 11/3, fast (3 - 1.5)*2/3 + 1.5 = 2.5, signal mean(1.5 - 13/3, 2.5 - 11/3) = -2
    expect(m[3]).toBeCloseTo(2.5 - 11 / 3, 12)
    expect(s[3]).toBeCloseTo(-2, 12)
    expect(h[3]).toBeCloseTo(2.5 - 11 / 3 + 2, 12)
  })

  it('is (slow - fast)/2 times the step on a linear ramp, with a zero histogram', () => {
    const close = Float64Array.from({ length: 200 }, (_, i) => 100 + 0.5 * i)
    const [m, s, h] = run(macd, { close })
    for (let i = 33; i < 200; i++) {
      expect(m[i]).toBeCloseTo(3.5, 9)
      expect(s[i]).toBeCloseTo(3.5, 9)
      expect(Math.abs(h[i])).toBeLessThan(1e-9)
    }
  })

  it('hist is exactly macd - signal, and macd matches a plain EMA difference on real data', async () => {
    const bars = await realBars(5000)
    const [m, s, h] = run(macd, bars)
    for (let i = 33; i < m.length; i++) expect(Object.is(h[i], m[i] - s[i])).toBe(true)
    const slow = naiveEma(bars.close, 26, 0)
    const fast = naiveEma(bars.close, 12, 14)
    const line = slow.map((v, i) => (i < 33 ? NaN : fast[i] - v))
    expect(maxRel(m, line, 0)).toBeLessThan(1e-9)
    const sig = naiveEma(
      slow.map((v, i) => fast[i] - v),
      9,
      25,
    )
    expect(maxRel(s, sig.map((v, i) => (i < 33 ? NaN : v)), 0)).toBeLessThan(1e-9)
    expect(macd.reading?.([1, 0, 1], [])).toBe('bullish')
    expect(macd.reading?.([1, 2, -1], [])).toBe('bearish')
  })
})

describe('stochastics', () => {
  const hlc = { high: f64([10, 12, 11, 13, 12]), low: f64([8, 9, 9, 10, 11]), close: f64([9, 11, 10, 12, 11.5]) }

  it('stochf fast %K by hand', () => {
    const [k, d] = run(stochf, hlc, { fastKPeriod: 3, fastDPeriod: 1 })
    expect(k[1]).toBeNaN()
    // Row 2: window high 12, low 8, close 10 -> 50; row 3: 13/9/12 -> 75; row 4: 13/9/11.5 -> 62.5
    expect(k[2]).toBeCloseTo(50, 12)
    expect(k[3]).toBeCloseTo(75, 12)
    expect(k[4]).toBeCloseTo(62.5, 12)
    expect(Array.from(d)).toEqual(Array.from(k))
  })

  it('stoch smooths %K twice with SMAs, by hand', () => {
    const [k, d] = run(stoch, hlc, { fastKPeriod: 3, slowKPeriod: 2, slowDPeriod: 2 })
    expect(k[3]).toBeNaN()
    expect(k[4]).toBeCloseTo((75 + 62.5) / 2, 12)
    expect(d[4]).toBeCloseTo(((50 + 75) / 2 + (75 + 62.5) / 2) / 2, 12)
  })

  it('stoch and stochf stay in [0, 100]; stoch slowD is the SMA of slowK and stoch(k,1,d) is stochf(k,d)', async () => {
    const bars = await realBars(5000)
    const [k, d] = run(stoch, bars)
    for (let i = 8; i < k.length; i++) {
      expectWithin(k[i], 0, 100, `slowK[${i}]`)
      if (i >= 10) expect(Math.abs(d[i] - (k[i] + k[i - 1] + k[i - 2]) / 3)).toBeLessThan(1e-9)
    }
    const [k1, d1] = run(stoch, bars, { fastKPeriod: 14, slowKPeriod: 1, slowDPeriod: 3 })
    const [fk, fd] = run(stochf, bars, { fastKPeriod: 14, fastDPeriod: 3 })
    expect(Array.from(k1)).toEqual(Array.from(fk))
    expect(Array.from(d1)).toEqual(Array.from(fd))
    const { high, low, close } = bars
    for (let i = 15; i < fk.length; i++) {
      let hh = -Infinity
      let ll = Infinity
      for (let j = i - 13; j <= i; j++) {
        hh = Math.max(hh, high[j])
        ll = Math.min(ll, low[j])
      }
      expect(Math.abs(fk[i] - (hh === ll ? 0 : (100 * (close[i] - ll)) / (hh - ll)))).toBeLessThan(1e-9)
    }
    expect(stoch.reading?.([85, 80], [])).toBe('bearish')
    expect(stoch.reading?.([10, 20], [])).toBe('bullish')
  })

  it('stochrsi is exactly TA_STOCHF applied to TA_RSI', async () => {
    const bars = await realBars(5000)
    const [k, d] = run(stochrsi, bars)
    const [r] = run(rsi, bars)
    const [fk, fd] = run(stochf, { high: r, low: r, close: r })
    for (let i = 0; i < k.length; i++) {
      expect(Object.is(k[i], fk[i]) || (Number.isNaN(k[i]) && Number.isNaN(fk[i])), `row ${i}`).toBe(true)
      expect(Object.is(d[i], fd[i]) || (Number.isNaN(d[i]) && Number.isNaN(fd[i])), `row ${i}`).toBe(true)
      if (i >= 20) expectWithin(k[i], 0, 100, `fastK[${i}]`)
    }
  })
})

describe('cci', () => {
  it('by hand: typical prices 1..3 over 3 rows give (3 - 2)/(0.015 * 2/3) = 100', () => {
    const [out] = run(cci, { high: f64([1, 2, 3]), low: f64([1, 2, 3]), close: f64([1, 2, 3]) }, { timePeriod: 3 })
    expect(out[1]).toBeNaN()
    expect(out[2]).toBeCloseTo(100, 9)
  })

  it('matches the textbook formula on real data', async () => {
    const bars = await realBars(3000)
    const [out] = run(cci, bars, { timePeriod: 20 })
    const tp = bars.close.map((c, i) => (bars.high[i] + bars.low[i] + c) / 3)
    for (let i = 19; i < out.length; i++) {
      const mean = naiveMean(tp, i - 19, i)
      let dev = 0
      for (let j = i - 19; j <= i; j++) dev += Math.abs(tp[j] - mean)
      const ref = dev === 0 ? 0 : (tp[i] - mean) / (0.015 * (dev / 20))
      expect(Math.abs(out[i] - ref), `row ${i}`).toBeLessThan(1e-6 * Math.max(1, Math.abs(ref)))
    }
  })
})

describe('roc, rocp, mom', () => {
  const close = f64([100, 110, 99, 0, 5])

  it('by hand, with 0 where the earlier close is 0', () => {
    const [r] = run(roc, { close }, { timePeriod: 1 })
    const [rp] = run(rocp, { close }, { timePeriod: 1 })
    const [m] = run(mom, { close }, { timePeriod: 1 })
    expect(r[0]).toBeNaN()
    expect(r[1]).toBeCloseTo(10, 12)
    expect(r[2]).toBeCloseTo(-10, 12)
    expect(r[4]).toBe(0)
    expect(rp[1]).toBeCloseTo(0.1, 12)
    expect(rp[4]).toBe(0)
    expect(Array.from(m)).toEqual([NaN, 10, -11, -99, 5])
    const [m2] = run(mom, { close }, { timePeriod: 2 })
    expect(Array.from(m2)).toEqual([NaN, NaN, -1, -110, -94])
  })

  it('roc is 100 times rocp on real data', async () => {
    const bars = await realBars(5000)
    const [r] = run(roc, bars)
    const [rp] = run(rocp, bars)
    for (let i = 10; i < r.length; i++) expect(Math.abs(r[i] - 100 * rp[i])).toBeLessThan(1e-9)
    expect(mom.reading?.([3], [])).toBe('bullish')
    expect(roc.reading?.([-0.5], [])).toBe('bearish')
  })
})

describe('willr', () => {
  it('by hand: close at the low is -100, at the high 0', () => {
    const [out] = run(willr, { high: f64([10, 12, 11]), low: f64([8, 9, 9]), close: f64([9, 12, 9]) }, { timePeriod: 2 })
    expect(out[0]).toBeNaN()
    expect(out[1]).toBeCloseTo(0, 12)
    expect(out[2]).toBeCloseTo(-100, 12)
    const [mid] = run(willr, { high: f64([12, 11]), low: f64([8, 9]), close: f64([9, 11]) }, { timePeriod: 2 })
    // Highest high 12, lowest low 8, close 11: (12 - 11)/(12 - 8) of the range below the top
    expect(mid[1]).toBeCloseTo(-25, 12)
  })

  it('stays in [-100, 0] on real data', async () => {
    const bars = await realBars(5000)
    const [out] = run(willr, bars)
    for (let i = 13; i < out.length; i++) expectWithin(out[i], -100, 0, `willr[${i}]`)
    expect(willr.reading?.([-5], [])).toBe('bearish')
    expect(willr.reading?.([-95], [])).toBe('bullish')
    expect(willr.reading?.([-50], [])).toBe('neutral')
  })
})

describe('apo and ppo', () => {
  it('are exactly the SMA difference and its percentage of the slow SMA', async () => {
    const bars = await realBars(5000)
    const [a] = run(apo, bars)
    const [p] = run(ppo, bars)
    const [fast] = run(sma, bars, { timePeriod: 12 })
    const [slow] = run(sma, bars, { timePeriod: 26 })
    for (let i = 25; i < a.length; i++) {
      expect(Object.is(a[i], fast[i] - slow[i])).toBe(true)
      expect(Object.is(p[i], ((fast[i] - slow[i]) / slow[i]) * 100)).toBe(true)
    }
    // Swapped periods give the same oscillator, as TA-Lib
    expect(Array.from(run(apo, bars, { fastPeriod: 26, slowPeriod: 12 })[0])).toEqual(Array.from(a))
  })
})

describe('trix', () => {
  it('is the 1-row percent change of a triple EMA on real data', async () => {
    const bars = await realBars(3000)
    const [out] = run(trix, bars, { timePeriod: 10 })
    const e1 = naiveEma(bars.close, 10, 0)
    const e2 = naiveEma(e1, 10, 9)
    const e3 = naiveEma(e2, 10, 18)
    for (let i = 28; i < out.length; i++) {
      expect(Math.abs(out[i] - (e3[i] / e3[i - 1] - 1) * 100), `row ${i}`).toBeLessThan(1e-9)
    }
    expect(out[27]).toBeNaN()
  })
})

describe('cmo', () => {
  it('is 2 * RSI - 100 (same Wilder averages) on real data, and 100 on a rising series', async () => {
    const bars = await realBars(5000)
    const [c] = run(cmo, bars)
    const [r] = run(rsi, bars)
    for (let i = 14; i < c.length; i++) expect(Math.abs(c[i] - (2 * r[i] - 100))).toBeLessThan(1e-9)
    const [up] = run(cmo, { close: Float64Array.from({ length: 30 }, (_, i) => i) })
    expect(up[29]).toBe(100)
  })
})

describe('mfi', () => {
  it('by hand: one rising and one falling typical price over 2 rows', () => {
    const one = f64([10, 11, 10.5])
    const [out] = run(mfi, { high: one, low: one, close: one, volume: f64([1, 2, 4]) }, { timePeriod: 2 })
    // Positive flow 11*2 = 22, negative 10.5*4 = 42
    expect(out[1]).toBeNaN()
    expect(out[2]).toBeCloseTo((100 * 22) / 64, 12)
  })

  it('stays in [0, 100] on real data', async () => {
    const bars = await realBars(5000)
    const [out] = run(mfi, bars)
    for (let i = 14; i < out.length; i++) expectWithin(out[i], 0, 100, `mfi[${i}]`)
    expect(mfi.reading?.([85], [])).toBe('bearish')
  })
})

describe('ultosc', () => {
  it('matches the textbook weighted average on real data and stays in [0, 100]', async () => {
    const bars = await realBars(3000)
    const { high, low, close } = bars
    const [out] = run(ultosc, bars)
    const bp = (i: number) => close[i] - Math.min(low[i], close[i - 1])
    const tr = (i: number) => Math.max(high[i], close[i - 1]) - Math.min(low[i], close[i - 1])
    const avg = (i: number, per: number) => {
      let a = 0
      let b = 0
      for (let j = i - per + 1; j <= i; j++) {
        a += bp(j)
        b += tr(j)
      }
      return a / b
    }
    for (let i = 28; i < out.length; i++) {
      const ref = (100 * (4 * avg(i, 7) + 2 * avg(i, 14) + avg(i, 28))) / 7
      expect(Math.abs(out[i] - ref), `row ${i}`).toBeLessThan(1e-9)
      expectWithin(out[i], 0, 100, `ultosc[${i}]`)
    }
    // TA-Lib sorts the periods, so their order does not matter
    expect(Array.from(run(ultosc, bars, { timePeriod1: 28, timePeriod2: 7, timePeriod3: 14 })[0])).toEqual(Array.from(out))
  })
})

describe('bop', () => {
  it('by hand, 0 on a bar without range, in [-1, 1] on real data', async () => {
    const [out] = run(bop, { open: f64([10, 5]), high: f64([12, 5]), low: f64([8, 5]), close: f64([11, 5]) })
    expect(Array.from(out)).toEqual([0.25, 0])
    const [real] = run(bop, await realBars(5000))
    for (const v of real) expectWithin(v, -1, 1, 'bop')
  })
})

describe('tsi', () => {
  it('is +100 on a rising and -100 on a falling series', () => {
    const up = Float64Array.from({ length: 80 }, (_, i) => 100 + i)
    const [t, s] = run(tsi, { close: up })
    expect(t[48]).toBeNaN()
    expect(t[49]).toBe(100)
    expect(s[79]).toBe(100)
    const [down] = run(tsi, { close: up.slice().reverse() })
    expect(down[79]).toBe(-100)
  })

  it('matches plain double-smoothed EMAs on real data, within [-100, 100]', async () => {
    const bars = await realBars(3000)
    const x = bars.close
    const [t, s] = run(tsi, bars)
    const m = Array.from(x, (v, i) => (i === 0 ? NaN : v - x[i - 1]))
    const num = naiveEma(naiveEma(m, 25, 1), 13, 25)
    const den = naiveEma(naiveEma(m.map(Math.abs), 25, 1), 13, 25)
    const ref = num.map((v, i) => 100 * (v / den[i]))
    const sig = naiveEma(ref, 13, 37)
    for (let i = 49; i < t.length; i++) {
      expect(Math.abs(t[i] - ref[i]), `row ${i}`).toBeLessThan(1e-9)
      expect(Math.abs(s[i] - sig[i]), `row ${i}`).toBeLessThan(1e-9)
      expectWithin(t[i], -100, 100, `tsi[${i}]`)
    }
    expect(tsi.reading?.([10, 5], [])).toBe('bullish')
  })
})

describe('ao', () => {
  it('is SMA5 - SMA34 of the median price', async () => {
    const bars = await realBars(3000)
    const [out] = run(ao, bars)
    const med = bars.high.map((h, i) => (h + bars.low[i]) / 2)
    for (let i = 33; i < out.length; i++) {
      expect(Math.abs(out[i] - (naiveMean(med, i - 4, i) - naiveMean(med, i - 33, i))), `row ${i}`).toBeLessThan(1e-6)
    }
    const ramp = Float64Array.from({ length: 40 }, (_, i) => i)
    // Means of the last 5 and 34 rows of a unit ramp lag by 2 and 16.5
    expect(run(ao, { high: ramp, low: ramp })[0][39]).toBeCloseTo(14.5, 9)
  })
})

describe('streaming', () => {
  it('keeps the same out array across updates (no per-update allocation of outputs)', async () => {
    const bars = await realBars(300)
    for (const def of MOMENTUM) {
      const s = def.stream(resolveParams(def))
      const out = s.out
      const x = new Float64Array(def.inputs.length)
      for (let i = 0; i < 300; i++) {
        for (let k = 0; k < x.length; k++) x[k] = bars[def.inputs[k]][i]
        s.update(x)
      }
      expect(s.out, def.id).toBe(out)
      expect(Number.isFinite(out[0]), def.id).toBe(true)
      // The engine wrapper agrees with the last batch row
      const e = openStream(def)
      for (let i = 0; i < 300; i++) {
        for (let k = 0; k < x.length; k++) x[k] = bars[def.inputs[k]][i]
        e.update(x)
      }
      expect(Array.from(e.out), def.id).toEqual(run(def, bars).map((o) => o[299]))
    }
  })
})
