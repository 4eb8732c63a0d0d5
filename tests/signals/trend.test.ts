// Trend indicators: hand-checkable cases, defining properties on real BTCUSDT bars, and TA-Lib warm-up lengths
import { describe, expect, it } from 'vitest'
import { resolveParams, runBatch } from '../../src/lib/signals/engine.js'
import {
  adx,
  adxr,
  aroon,
  aroonosc,
  dema,
  dx,
  ema,
  hma,
  ichimoku,
  kama,
  linearreg,
  linearregSlope,
  minusDi,
  plusDi,
  sar,
  supertrend,
  t3,
  tema,
  trima,
  TREND,
  wma,
} from '../../src/lib/signals/indicators/trend.js'
import type { Columns, IndicatorDef } from '../../src/lib/signals/types.js'
import { realBars } from './data.js'

const col = (...v: number[]) => Float64Array.from(v)
const closes = (...v: number[]): Columns => ({ close: col(...v) })
const ramp = (n: number, a = 1, b = 0) => Float64Array.from({ length: n }, (_, i) => a * i + b)
const constant = (n: number, v: number) => new Float64Array(n).fill(v)

/** Values from `from` on, as a plain array */
const tail = (a: Float64Array, from: number) => Array.from(a.subarray(from))

/** Largest |a-b| / max(1, |b|) over rows where the reference is defined */
function maxRelDiff(a: Float64Array, b: Float64Array): number {
  let worst = 0
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(b[i])) continue
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])))
  }
  return worst
}

/** Rising bars: low t, high t+1, close at the high */
function risingBars(n: number): Columns {
  return { high: ramp(n, 1, 1), low: ramp(n), close: ramp(n, 1, 1) }
}

/** Falling bars: high -t+1, low -t, close at the low */
function fallingBars(n: number): Columns {
  return { high: ramp(n, -1, 1), low: ramp(n, -1), close: ramp(n, -1) }
}

describe('TA-Lib warm-up lengths', () => {
  // TA_<NAME>_Lookback with the default unstable period, read from a TA-Lib build
  const cases: [IndicatorDef, Record<string, number>, number][] = [
    [ema, {}, 29],
    [ema, { timePeriod: 5 }, 4],
    [wma, {}, 29],
    [dema, {}, 58],
    [dema, { timePeriod: 14 }, 26],
    [tema, {}, 87],
    [tema, { timePeriod: 5 }, 12],
    [trima, {}, 29],
    [kama, {}, 30],
    [kama, { timePeriod: 5 }, 5],
    [t3, {}, 24],
    [t3, { timePeriod: 14 }, 78],
    [sar, {}, 1],
    [adx, {}, 27],
    [adx, { timePeriod: 5 }, 9],
    [adxr, {}, 40],
    [adxr, { timePeriod: 30 }, 88],
    [plusDi, {}, 14],
    [minusDi, {}, 14],
    [dx, {}, 14],
    [dx, { timePeriod: 5 }, 5],
    [aroon, {}, 14],
    [aroonosc, {}, 14],
    [linearreg, {}, 13],
    [linearregSlope, { timePeriod: 30 }, 29],
  ]
  it.each(cases.map(([d, p, lb]) => [d.id, p, lb, d] as const))('%s %o -> %i', (_id, p, lb, def) => {
    expect(def.lookback(resolveParams(def, p))).toBe(lb)
  })

  it('defaults are the TA-Lib defaults', () => {
    const dflt = (d: IndicatorDef) => resolveParams(d)
    expect(dflt(ema).timePeriod).toBe(30)
    expect(dflt(kama).timePeriod).toBe(30)
    expect(dflt(t3)).toEqual({ timePeriod: 5, vFactor: 0.7 })
    expect(dflt(sar)).toEqual({ acceleration: 0.02, maximum: 0.2 })
    for (const d of [adx, adxr, plusDi, minusDi, dx, aroon, aroonosc, linearreg, linearregSlope]) {
      expect(dflt(d).timePeriod, d.id).toBe(14)
    }
  })

  it('non-TA-Lib warm-ups: hma, supertrend, ichimoku', () => {
    // hma(9): WMA(9) ready at row 8, then WMA(3) needs two more rows
    expect(hma.lookback(resolveParams(hma))).toBe(10)
    expect(hma.lookback(resolveParams(hma, { timePeriod: 16 }))).toBe(18)
    // supertrend: first ATR(10) at row 10, as TA_ATR
    expect(supertrend.lookback(resolveParams(supertrend))).toBe(10)
    // ichimoku: senkou B needs 52 rows and is shifted 26 rows
    expect(ichimoku.lookback(resolveParams(ichimoku))).toBe(77)
  })

  it('every trend id is registered once with notes', () => {
    const ids = TREND.map((d) => d.id)
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids).toEqual(expect.arrayContaining(['ema', 'wma', 'dema', 'tema', 'trima', 'kama', 't3', 'hma', 'supertrend',
      'sar', 'ichimoku', 'adx', 'adxr', 'plus_di', 'minus_di', 'dx', 'aroon', 'aroonosc', 'linearreg', 'linearreg_slope']))
  })
})

describe('ema', () => {
  it('is seeded with the simple mean, then moves by k = 2/(period+1)', () => {
    const [out] = runBatch(ema, closes(1, 2, 3, 4, 5), { timePeriod: 3 })
    expect(Array.from(out)).toEqual([NaN, NaN, 2, 3, 4])
  })

  it('of a constant is the constant', () => {
    const [out] = runBatch(ema, { close: constant(100, 42.5) }, { timePeriod: 10 })
    expect(tail(out, 9).every((v) => v === 42.5)).toBe(true)
  })

  it('lags a linear ramp by exactly (period-1)/2 rows', () => {
    const [out] = runBatch(ema, { close: ramp(200) }, { timePeriod: 9 })
    for (let i = 8; i < 200; i++) expect(out[i]).toBeCloseTo(i - 4, 9)
  })
})

describe('wma', () => {
  it('weights 1..period, newest heaviest', () => {
    const [out] = runBatch(wma, closes(1, 2, 3, 4), { timePeriod: 3 })
    expect(out[2]).toBeCloseTo(14 / 6, 14)
    expect(out[3]).toBeCloseTo(20 / 6, 14)
  })

  it('of a constant is the constant', () => {
    const [out] = runBatch(wma, { close: constant(60, 7) }, { timePeriod: 20 })
    for (const v of tail(out, 19)) expect(v).toBeCloseTo(7, 12)
  })
})

describe('dema and tema', () => {
  it('reproduce a linear ramp (their lag cancels)', () => {
    const x = ramp(300, 2, 100)
    const [d] = runBatch(dema, { close: x }, { timePeriod: 10 })
    const [t] = runBatch(tema, { close: x }, { timePeriod: 10 })
    for (let i = 18; i < 300; i++) expect(d[i]).toBeCloseTo(x[i], 8)
    for (let i = 27; i < 300; i++) expect(t[i]).toBeCloseTo(x[i], 8)
  })

  it('are 2*EMA - EMA(EMA) and 3*EMA - 3*EMA(EMA) + EMA(EMA(EMA)) on real closes', async () => {
    const close = (await realBars(3000)).close
    const per = 12
    const e1 = runBatch(ema, { close }, { timePeriod: per })[0]
    const e2 = runBatch(ema, { close: e1.subarray(per - 1) }, { timePeriod: per })[0]
    const e3 = runBatch(ema, { close: e2.subarray(per - 1) }, { timePeriod: per })[0]
    const [d] = runBatch(dema, { close }, { timePeriod: per })
    const [t] = runBatch(tema, { close }, { timePeriod: per })
    for (let i = 2 * (per - 1); i < close.length; i++) expect(d[i]).toBe(2 * e1[i] - e2[i - (per - 1)])
    for (let i = 3 * (per - 1); i < close.length; i++) {
      expect(t[i]).toBe(e3[i - 2 * (per - 1)] + (3 * e1[i] - 3 * e2[i - (per - 1)]))
    }
  })
})

describe('trima', () => {
  it('uses triangular weights for odd and even periods', () => {
    const [odd] = runBatch(trima, closes(1, 2, 3, 4, 5), { timePeriod: 5 })
    expect(odd[4]).toBeCloseTo((1 * 1 + 2 * 2 + 3 * 3 + 2 * 4 + 1 * 5) / 9, 14)
    const [even] = runBatch(trima, closes(1, 2, 3, 4, 5), { timePeriod: 4 })
    expect(Array.from(even.subarray(3)).map((v) => +v.toFixed(12))).toEqual([2.5, 3.5])
  })

  it('is an SMA of an SMA on real closes', async () => {
    const close = (await realBars(3000)).close
    const sma = (x: Float64Array, n: number) => {
      const out = new Float64Array(x.length).fill(NaN)
      for (let i = n - 1; i < x.length; i++) {
        let s = 0
        for (let j = i - n + 1; j <= i; j++) s += x[j]
        out[i] = s / n
      }
      return out
    }
    // Odd 21 = SMA11(SMA11); even 20 = SMA11(SMA10)
    expect(maxRelDiff(runBatch(trima, { close }, { timePeriod: 21 })[0], sma(sma(close, 11), 11))).toBeLessThan(1e-12)
    expect(maxRelDiff(runBatch(trima, { close }, { timePeriod: 20 })[0], sma(sma(close, 10), 11))).toBeLessThan(1e-12)
  })
})

describe('kama', () => {
  it('uses the fastest constant (2/3)^2 on a straight line, seeded with the previous close', () => {
    const [out] = runBatch(kama, closes(1, 2, 3, 4), { timePeriod: 2 })
    const sc = (2 / 3) ** 2
    const k2 = 2 + (3 - 2) * sc
    expect(out[2]).toBeCloseTo(k2, 14)
    expect(out[3]).toBeCloseTo(k2 + (4 - k2) * sc, 14)
  })

  it('of a constant is the constant (zero path length gives ratio 1)', () => {
    const [out] = runBatch(kama, { close: constant(80, 3.25) }, { timePeriod: 10 })
    expect(tail(out, 10).every((v) => v === 3.25)).toBe(true)
  })

  it('moves slowly in noise: the smoothing constant stays between (2/31)^2 and (2/3)^2', async () => {
    const close = (await realBars(3000)).close
    const [out] = runBatch(kama, { close }, { timePeriod: 10 })
    for (let i = 11; i < close.length; i++) {
      const sc = (out[i] - out[i - 1]) / (close[i] - out[i - 1])
      if (Number.isFinite(sc) && Math.abs(close[i] - out[i - 1]) > 1) {
        expect(sc).toBeGreaterThanOrEqual((2 / 31) ** 2 - 1e-9)
        expect(sc).toBeLessThanOrEqual((2 / 3) ** 2 + 1e-9)
      }
    }
  })
})

describe('t3', () => {
  it('with vFactor 0 is a triple EMA', async () => {
    const close = (await realBars(2000)).close
    const per = 5
    const e1 = runBatch(ema, { close }, { timePeriod: per })[0]
    const e2 = runBatch(ema, { close: e1.subarray(per - 1) }, { timePeriod: per })[0]
    const e3 = runBatch(ema, { close: e2.subarray(per - 1) }, { timePeriod: per })[0]
    const [out] = runBatch(t3, { close }, { timePeriod: per, vFactor: 0 })
    // Same EMAs as TA_T3 computes them, but k*x + (1-k)*e rounds differently from (x-e)*k + e
    for (let i = 6 * (per - 1); i < close.length; i++) expect(out[i]).toBeCloseTo(e3[i - 2 * (per - 1)], 8)
  })

  it('of a constant is the constant (coefficients sum to 1)', () => {
    const [out] = runBatch(t3, { close: constant(100, 50) }, { timePeriod: 5, vFactor: 0.7 })
    for (const v of tail(out, 24)) expect(v).toBeCloseTo(50, 10)
  })
})

describe('hma', () => {
  it('is WMA(2*WMA(n/2) - WMA(n), floor(sqrt(n))) of TA_WMAs', async () => {
    const close = (await realBars(2000)).close
    const n = 16
    const half = runBatch(wma, { close }, { timePeriod: 8 })[0]
    const full = runBatch(wma, { close }, { timePeriod: 16 })[0]
    const raw = Float64Array.from(full.subarray(n - 1), (v, j) => 2 * half[j + n - 1] - v)
    const ref = runBatch(wma, { close: raw }, { timePeriod: 4 })[0]
    const [out] = runBatch(hma, { close }, { timePeriod: n })
    expect(out[17]).toBeNaN()
    for (let i = 18; i < close.length; i++) expect(out[i]).toBe(ref[i - (n - 1)])
  })

  it('of a constant is the constant', () => {
    const [out] = runBatch(hma, { close: constant(50, 9) }, { timePeriod: 9 })
    for (const v of tail(out, 10)) expect(v).toBeCloseTo(9, 12)
  })
})

describe('supertrend', () => {
  /** Textbook SuperTrend with a plain Wilder ATR, values compared band by band */
  function reference(b: Columns, per: number, mult: number) {
    const n = b.close.length
    const st = new Float64Array(n).fill(NaN)
    const dir = new Float64Array(n).fill(NaN)
    let atr = 0
    let up = 0
    let lo = 0
    let d = 0
    for (let i = 1; i < n; i++) {
      const pc = b.close[i - 1]
      const tr = Math.max(b.high[i] - b.low[i], Math.abs(b.high[i] - pc), Math.abs(b.low[i] - pc))
      if (i < per) {
        atr += tr
        continue
      }
      atr = i === per ? (atr + tr) / per : (atr * (per - 1) + tr) / per
      const hl2 = (b.high[i] + b.low[i]) / 2
      const bu = hl2 + mult * atr
      const bl = hl2 - mult * atr
      if (i === per) {
        up = bu
        lo = bl
        d = -1
      } else {
        up = bu < up || pc > up ? bu : up
        lo = bl > lo || pc < lo ? bl : lo
        d = d === -1 ? (b.close[i] > up ? 1 : -1) : b.close[i] < lo ? -1 : 1
      }
      st[i] = d === 1 ? lo : up
      dir[i] = d
    }
    return [st, dir]
  }

  it('matches a textbook implementation on real bars and flips both ways', async () => {
    const bars = await realBars(5000)
    const [st, dir] = runBatch(supertrend, bars, { timePeriod: 10, multiplier: 3 })
    const [rst, rdir] = reference(bars, 10, 3)
    expect(maxRelDiff(st, rst)).toBeLessThan(1e-12)
    expect(Array.from(dir.subarray(10))).toEqual(Array.from(rdir.subarray(10)))
    let flips = 0
    for (let i = 11; i < dir.length; i++) if (dir[i] !== dir[i - 1]) flips++
    expect(flips).toBeGreaterThan(10)
  })

  it('sits below the close in an uptrend and above it in a downtrend', async () => {
    const bars = await realBars(5000)
    const [st, dir] = runBatch(supertrend, bars)
    for (let i = 10; i < st.length; i++) {
      if (dir[i] === 1) expect(st[i]).toBeLessThanOrEqual(bars.close[i])
      else expect(st[i]).toBeGreaterThanOrEqual(bars.close[i])
    }
  })

  it('turns up on steadily rising bars', () => {
    const [st, dir] = runBatch(supertrend, risingBars(60), { timePeriod: 5, multiplier: 1 })
    expect(dir[5]).toBe(-1)
    expect(dir[59]).toBe(1)
    expect(st[59]).toBeLessThan(59)
  })
})

describe('sar', () => {
  it('starts long from bar 0\'s low and reverses to the extreme point', () => {
    const bars = { high: col(10, 11, 12, 9.5), low: col(9, 9.5, 10, 9) }
    const [out] = runBatch(sar, bars)
    expect(out[0]).toBeNaN()
    expect(out[1]).toBe(9)
    expect(out[2]).toBeCloseTo(9 + 0.02 * (11 - 9), 14)
    // Low 9 pierces the SAR: short at the extreme high of the long run
    expect(out[3]).toBe(12)
  })

  it('starts short when bar 1 has a positive -DM, from bar 0\'s high', () => {
    const bars = { high: col(10, 9.8, 9.7), low: col(9, 8, 7.5) }
    const [out] = runBatch(sar, bars)
    expect(out[1]).toBe(10)
    // The extreme point is bar 1's low
    expect(out[2]).toBeCloseTo(10 + 0.02 * (8 - 10), 14)
  })

  it('always lies outside the bar and flips on real data', async () => {
    const bars = await realBars(5000)
    const [out] = runBatch(sar, bars)
    let above = 0
    let below = 0
    for (let i = 1; i < out.length; i++) {
      if (out[i] <= bars.low[i]) below++
      else if (out[i] >= bars.high[i]) above++
      else throw new Error(`sar inside bar ${i}`)
    }
    expect(above).toBeGreaterThan(100)
    expect(below).toBeGreaterThan(100)
  })
})

describe('ichimoku', () => {
  it('matches a brute-force causal computation on real bars', async () => {
    const b = await realBars(1500)
    const n = b.close.length
    const mid = (i: number, w: number) => {
      let hi = -Infinity
      let lo = Infinity
      for (let j = i - w + 1; j <= i; j++) {
        hi = Math.max(hi, b.high[j])
        lo = Math.min(lo, b.low[j])
      }
      return (hi + lo) / 2
    }
    const [tenkan, kijun, spanA, spanB, chikou] = runBatch(ichimoku, b)
    for (let i = 0; i < 77; i++) expect(tenkan[i]).toBeNaN()
    for (let i = 77; i < n; i++) {
      expect(tenkan[i]).toBe(mid(i, 9))
      expect(kijun[i]).toBe(mid(i, 26))
      expect(spanA[i]).toBe((mid(i - 26, 9) + mid(i - 26, 26)) / 2)
      expect(spanB[i]).toBe(mid(i - 26, 52))
      expect(chikou[i]).toBe(b.close[i] - b.close[i - 26])
    }
  })

  it('does not look ahead: changing a future bar leaves earlier outputs alone', async () => {
    const b = await realBars(400)
    const before = runBatch(ichimoku, b)
    const changed = Object.fromEntries(Object.entries(b).map(([k, v]) => [k, Float64Array.from(v)]))
    changed.high[300] *= 1.1
    changed.close[300] *= 1.05
    const after = runBatch(ichimoku, changed)
    for (let o = 0; o < 5; o++) expect(Array.from(after[o].subarray(0, 300))).toEqual(Array.from(before[o].subarray(0, 300)))
  })
})

describe('adx family', () => {
  it('gives +DI 100, -DI 0, DX/ADX/ADXR 100 on steadily rising bars', () => {
    const bars = risingBars(100)
    expect(runBatch(plusDi, bars)[0][99]).toBe(100)
    expect(runBatch(minusDi, bars)[0][99]).toBe(0)
    expect(runBatch(dx, bars)[0][99]).toBe(100)
    expect(runBatch(adx, bars)[0][99]).toBe(100)
    expect(runBatch(adxr, bars)[0][99]).toBe(100)
  })

  it('mirrors on falling bars', () => {
    const bars = fallingBars(100)
    expect(runBatch(plusDi, bars)[0][99]).toBe(0)
    expect(runBatch(minusDi, bars)[0][99]).toBe(100)
    expect(runBatch(adx, bars)[0][99]).toBe(100)
  })

  it('dx is 100*|+DI - -DI|/(+DI + -DI), adx is its Wilder average and adxr averages adx with itself period-1 rows back', async () => {
    const bars = await realBars(3000)
    const per = 14
    const [p] = runBatch(plusDi, bars)
    const [m] = runBatch(minusDi, bars)
    const [d] = runBatch(dx, bars)
    const [a] = runBatch(adx, bars)
    const [r] = runBatch(adxr, bars)
    for (let i = per; i < 3000; i++) expect(d[i]).toBeCloseTo((100 * Math.abs(p[i] - m[i])) / (p[i] + m[i]), 9)
    let seed = 0
    for (let i = per; i < 2 * per; i++) seed += d[i]
    expect(a[2 * per - 1]).toBeCloseTo(seed / per, 9)
    for (let i = 2 * per; i < 3000; i++) expect(a[i]).toBeCloseTo((a[i - 1] * (per - 1) + d[i]) / per, 9)
    for (let i = 3 * per - 2; i < 3000; i++) expect(r[i]).toBe((a[i] + a[i - (per - 1)]) / 2)
    for (const v of [...tail(p, per), ...tail(m, per), ...tail(d, per), ...tail(a, 2 * per - 1)]) {
      expect(v).toBeGreaterThanOrEqual(0)
      expect(v).toBeLessThanOrEqual(100)
    }
  })

  it('+DI and -DI are TA_PLUS_DI and TA_MINUS_DI bit for bit, on bars whose up and down moves often tie', async () => {
    // TA-Lib's loops spelled out: Wilder sums over rows 1..per-1, then x - x/per + the move that wins (a tie, equal
    // up and down moves, adds to neither), and 100*DM/TR, 0 when TR is zero
    const reference = (b: Columns, per: number, plus: boolean): Float64Array => {
      const { high, low, close } = b
      const out = new Float64Array(close.length).fill(NaN)
      let [prevHigh, prevLow, prevClose, dm, tr] = [high[0], low[0], close[0], 0, 0]
      for (let i = 1; i < close.length; i++) {
        const diffP = high[i] - prevHigh
        const diffM = prevLow - low[i]
        prevHigh = high[i]
        prevLow = low[i]
        let t = high[i] - low[i]
        if (Math.abs(high[i] - prevClose) > t) t = Math.abs(high[i] - prevClose)
        if (Math.abs(low[i] - prevClose) > t) t = Math.abs(low[i] - prevClose)
        prevClose = close[i]
        const move = plus ? (diffP > 0 && diffP > diffM ? diffP : 0) : diffM > 0 && diffP < diffM ? diffM : 0
        if (i < per) {
          dm += move
          tr += t
          continue
        }
        dm = dm - dm / per + move
        tr = tr - tr / per + t
        out[i] = -1e-14 < tr && tr < 1e-14 ? 0 : 100 * (dm / tr) // TA_IS_ZERO with TA-Lib 0.6's TA_EPSILON
      }
      return out
    }
    // Highs and lows on a coarse grid: many rows move up and down by the same amount
    let seed = 7
    const step = () => ((seed = (seed * 1103515245 + 12345) >>> 0) % 3) - 1
    const mid = new Float64Array(4000)
    for (let i = 0, m = 100; i < 4000; i++) mid[i] = m += step()
    const grid = { high: mid.map((m) => m + 1 + Math.abs(step())), low: mid.map((m) => m - 1 - Math.abs(step())), close: mid }
    let ties = 0
    for (let i = 1; i < 4000; i++) {
      const up = grid.high[i] - grid.high[i - 1]
      if (up > 0 && up === grid.low[i - 1] - grid.low[i]) ties++
    }
    expect(ties).toBeGreaterThan(50)
    for (const b of [grid, await realBars(3000)]) {
      for (const per of [2, 14]) {
        expect(Array.from(runBatch(plusDi, b, { timePeriod: per })[0])).toEqual(Array.from(reference(b, per, true)))
        expect(Array.from(runBatch(minusDi, b, { timePeriod: per })[0])).toEqual(Array.from(reference(b, per, false)))
      }
    }
  })

  it('holds at zero on flat bars (TA-Lib zero-range conventions)', () => {
    const bars = { high: constant(60, 5), low: constant(60, 5), close: constant(60, 5) }
    expect(tail(runBatch(plusDi, bars)[0], 14).every((v) => v === 0)).toBe(true)
    expect(tail(runBatch(dx, bars)[0], 14).every((v) => v === 0)).toBe(true)
    expect(tail(runBatch(adx, bars)[0], 27).every((v) => v === 0)).toBe(true)
  })
})

describe('aroon', () => {
  it('is up 100 / down 0 on a rising series and the reverse when falling', () => {
    const [down, up] = runBatch(aroon, risingBars(40))
    expect(tail(up, 14).every((v) => v === 100)).toBe(true)
    expect(tail(down, 14).every((v) => v === 0)).toBe(true)
    const [down2, up2] = runBatch(aroon, fallingBars(40))
    expect(tail(up2, 14).every((v) => v === 0)).toBe(true)
    expect(tail(down2, 14).every((v) => v === 100)).toBe(true)
    expect(tail(runBatch(aroonosc, risingBars(40))[0], 14).every((v) => v === 100)).toBe(true)
    expect(tail(runBatch(aroonosc, fallingBars(40))[0], 14).every((v) => v === -100)).toBe(true)
  })

  it('counts rows since the extreme over period+1 rows, ties to the newest', () => {
    // Highest high 9 at rows 1 and 3: the newer one counts; lowest low 1 at row 0 is 4 rows back
    const bars = { high: col(5, 9, 6, 9, 7), low: col(1, 2, 3, 4, 5) }
    const [down, up] = runBatch(aroon, bars, { timePeriod: 4 })
    expect(up[4]).toBe(25 * (4 - 1))
    expect(down[4]).toBe(0)
    expect(runBatch(aroonosc, bars, { timePeriod: 4 })[0][4]).toBe(25 * (3 - 0))
  })

  it('oscillator is up minus down on real bars', async () => {
    const bars = await realBars(3000)
    const [down, up] = runBatch(aroon, bars)
    const [osc] = runBatch(aroonosc, bars)
    for (let i = 14; i < 3000; i++) expect(osc[i]).toBeCloseTo(up[i] - down[i], 10)
  })
})

describe('linear regression', () => {
  it('recovers an exact line', () => {
    const x = ramp(40, 3, 5)
    const [v] = runBatch(linearreg, { close: x })
    const [s] = runBatch(linearregSlope, { close: x })
    for (let i = 13; i < 40; i++) {
      expect(v[i]).toBeCloseTo(x[i], 10)
      expect(s[i]).toBeCloseTo(3, 12)
    }
  })

  it('fits 1, 2, 4 with slope 1.5 ending at 7/3 + 1.5', () => {
    expect(runBatch(linearregSlope, closes(1, 2, 4), { timePeriod: 3 })[0][2]).toBeCloseTo(1.5, 14)
    expect(runBatch(linearreg, closes(1, 2, 4), { timePeriod: 3 })[0][2]).toBeCloseTo(7 / 3 + 1.5, 14)
  })

  it('gives a zero slope and the price itself on a flat window', () => {
    const [s] = runBatch(linearregSlope, { close: constant(30, 97123) })
    const [v] = runBatch(linearreg, { close: constant(30, 97123) })
    expect(tail(s, 13).every((x) => x === 0)).toBe(true)
    expect(tail(v, 13).every((x) => x === 97123)).toBe(true)
  })

  it('matches a least-squares fit on real closes', async () => {
    const close = (await realBars(1000)).close
    const per = 20
    const [v] = runBatch(linearreg, { close }, { timePeriod: per })
    const [s] = runBatch(linearregSlope, { close }, { timePeriod: per })
    for (let i = per - 1; i < close.length; i++) {
      // Centred fit for the reference: x = 0..per-1, oldest first
      let my = 0
      for (let j = 0; j < per; j++) my += close[i - per + 1 + j]
      my /= per
      const mx = (per - 1) / 2
      let sxy = 0
      let sxx = 0
      for (let j = 0; j < per; j++) {
        sxy += (j - mx) * (close[i - per + 1 + j] - my)
        sxx += (j - mx) ** 2
      }
      const slope = sxy / sxx
      expect(s[i]).toBeCloseTo(slope, 6)
      expect(v[i]).toBeCloseTo(my + slope * mx, 6)
    }
  })
})

describe('readings', () => {
  it('readings follow the direction of the indicator', () => {
    expect(ema.reading?.([100], [101])).toBe('bullish')
    expect(ema.reading?.([100], [99])).toBe('bearish')
    expect(supertrend.reading?.([95, 1], [100, 90, 98])).toBe('bullish')
    expect(supertrend.reading?.([105, -1], [100, 90, 98])).toBe('bearish')
    expect(sar.reading?.([89], [100, 90])).toBe('bullish')
    expect(sar.reading?.([101], [100, 90])).toBe('bearish')
    expect(aroon.reading?.([10, 90], [])).toBe('bullish')
    expect(aroonosc.reading?.([-50], [])).toBe('bearish')
    expect(linearregSlope.reading?.([0], [])).toBe('neutral')
    expect(ichimoku.reading?.([101, 100, 95, 96, 3], [103, 99, 102])).toBe('bullish')
    expect(ichimoku.reading?.([99, 100, 105, 104, -3], [101, 97, 98])).toBe('bearish')
  })
})
