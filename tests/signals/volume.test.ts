// Volume indicators: TA-Lib lookbacks and defaults, hand-checked values and defining properties on real data
import { describe, expect, it } from 'vitest'
import { resolveParams, runBatch } from '../../src/lib/signals/engine.js'
import { VolumeProfileKernel } from '../../src/lib/signals/indicators/volume.js'
import { indicator } from '../../src/lib/signals/registry.js'
import type { Columns } from '../../src/lib/signals/types.js'
import { realBars } from './data.js'
import { streamAll as streamDef } from './streams.js'

const f = (...v: number[]) => Float64Array.from(v)
const run = (id: string, input: Columns, params: Record<string, number> = {}) => runBatch(indicator(id), input, params)
const DAY_US = 86_400_000_000

function near(a: number, b: number, rel = 1e-9) {
  expect(Math.abs(a - b), `${a} vs ${b}`).toBeLessThanOrEqual(rel * Math.max(Math.abs(a), Math.abs(b), 1e-300))
}

const streamAll = (id: string, input: Columns, params: Record<string, number>) => streamDef(indicator(id), input, params)

describe('TA-Lib conventions', () => {
  it('uses TA-Lib lookbacks and defaults', () => {
    const lb = (id: string, p: Record<string, number> = {}) => indicator(id).lookback(resolveParams(indicator(id), p))
    // Values printed by TA_OBV_Lookback(), TA_AD_Lookback(), TA_ADOSC_Lookback(fast, slow)
    expect(lb('obv')).toBe(0)
    expect(lb('ad')).toBe(0)
    expect(lb('adosc')).toBe(9)
    expect(lb('adosc', { fastPeriod: 10, slowPeriod: 3 })).toBe(9)
    expect(lb('adosc', { fastPeriod: 5, slowPeriod: 20 })).toBe(19)
    expect(lb('adosc', { fastPeriod: 2, slowPeriod: 2 })).toBe(1)
    expect(resolveParams(indicator('adosc'))).toEqual({ fastPeriod: 3, slowPeriod: 10 })
  })
})

describe('OBV, A/D line and oscillator', () => {
  it('obv starts at the first volume and adds or subtracts on up and down closes', () => {
    const [o] = run('obv', { close: f(10, 11, 11, 9, 12), volume: f(5, 2, 3, 4, 1) })
    expect(Array.from(o)).toEqual([5, 7, 7, 3, 4])
  })

  it('ad accumulates the close location value x volume; a bar without range adds nothing', () => {
    const bars = { high: f(10, 10, 5, 10), low: f(0, 0, 5, 0), close: f(10, 0, 5, 5), volume: f(5, 3, 7, 9) }
    expect(Array.from(run('ad', bars)[0])).toEqual([5, 2, 2, 2])
  })

  it('adosc is EMA(fast) - EMA(slow) of the A/D line, both seeded with its first value', () => {
    const bars = { high: f(10, 10, 10, 10), low: f(0, 0, 0, 0), close: f(10, 0, 10, 10), volume: f(4, 2, 1, 1) }
    // A/D: 4, 2, 3, 4; fast k = 2/3, slow k = 2/4
    let fast = 4
    let slow = 4
    const want: number[] = []
    for (const a of [2, 3, 4]) {
      fast = (2 / 3) * a + (1 - 2 / 3) * fast
      slow = 0.5 * a + (1 - 0.5) * slow
      want.push(fast - slow)
    }
    const [o] = run('adosc', bars, { fastPeriod: 2, slowPeriod: 3 })
    expect(o[1]).toBeNaN()
    expect(Array.from(o.subarray(2))).toEqual(want.slice(1))
    // Equal periods cancel
    const [z] = run('adosc', bars, { fastPeriod: 3, slowPeriod: 3 })
    expect(Array.from(z.subarray(2))).toEqual([0, 0])
  })
})

describe('Chaikin money flow', () => {
  it('is +1 with every close at the high, -1 at the low, 0 without volume', () => {
    const n = 5
    const high = new Float64Array(n).fill(10)
    const low = new Float64Array(n).fill(8)
    const volume = f(1, 2, 3, 4, 5)
    expect(run('cmf', { high, low, close: high, volume }, { timePeriod: 3 })[0][4]).toBe(1)
    expect(run('cmf', { high, low, close: low, volume }, { timePeriod: 3 })[0][4]).toBe(-1)
    expect(run('cmf', { high, low, close: high, volume: new Float64Array(n) }, { timePeriod: 3 })[0][4]).toBe(0)
  })

  it('equals windowed money flow volume over windowed volume on real data', async () => {
    const { high: h, low: l, close: c, volume: v } = await realBars(2000)
    const [o] = run('cmf', { high: h, low: l, close: c, volume: v })
    expect(o[18]).toBeNaN()
    for (let i = 19; i < 2000; i += 11) {
      let mf = 0
      let vol = 0
      for (let j = i - 19; j <= i; j++) {
        mf += h[j] > l[j] ? ((c[j] - l[j] - (h[j] - c[j])) / (h[j] - l[j])) * v[j] : 0
        vol += v[j]
      }
      near(o[i], mf / vol, 1e-8)
    }
  })
})

describe('VWAP', () => {
  it('session VWAP resets at 00:00 UTC', async () => {
    const bars = await realBars(4000)
    const { open_time: t, high: h, low: l, close: c, volume: v } = bars
    const [vw] = run('vwap_session', bars)
    let resets = 0
    let start = 0
    for (let i = 0; i < 4000; i++) {
      if (i > 0 && Math.floor(t[i] / DAY_US) !== Math.floor(t[i - 1] / DAY_US)) {
        // The first bar of the day stands alone: VWAP = its typical price
        expect(t[i] % DAY_US).toBe(0)
        near(vw[i], (h[i] + l[i] + c[i]) / 3, 1e-12)
        start = i
        resets++
      }
      if (i % 97 === 0 || i === start + 1) {
        let pv = 0
        let vol = 0
        for (let j = start; j <= i; j++) {
          pv += ((h[j] + l[j] + c[j]) / 3) * v[j]
          vol += v[j]
        }
        near(vw[i], pv / vol, 1e-9)
      }
    }
    // 4000 one-minute rows from 2024-11-01 00:00 cross two midnights
    expect(resets).toBe(2)
  })

  it('session VWAP without volume is the mean typical price', () => {
    const day = 20000 * DAY_US
    const [vw] = run('vwap_session', {
      open_time: f(day - 60e6, day, day + 60e6),
      high: f(11, 12, 14),
      low: f(9, 10, 10),
      close: f(10, 11, 12),
      volume: f(5, 0, 0),
    })
    expect(vw[0]).toBe(10)
    expect(vw[1]).toBe(11)
    expect(vw[2]).toBe((11 + 12) / 2)
  })

  it('rolling VWAP is typical price x volume over volume of the last N rows', async () => {
    const { high: h, low: l, close: c, volume: v } = await realBars(2000)
    const [vw] = run('vwap_rolling', { high: h, low: l, close: c, volume: v }, { timePeriod: 30 })
    expect(vw[28]).toBeNaN()
    for (let i = 29; i < 2000; i += 13) {
      let pv = 0
      let vol = 0
      for (let j = i - 29; j <= i; j++) {
        pv += ((h[j] + l[j] + c[j]) / 3) * v[j]
        vol += v[j]
      }
      near(vw[i], pv / vol, 1e-9)
    }
  })

  it('vwap readings compare the close with the VWAP', () => {
    expect(indicator('vwap_session').reading?.([100], [0, 0, 0, 101, 1])).toBe('bullish')
    expect(indicator('vwap_rolling').reading?.([100], [0, 0, 99, 1])).toBe('bearish')
  })
})

describe('volume profile', () => {
  it('puts each bar at its typical price and finds the POC and value area by hand', () => {
    // Window low 0, high 10, 5 bins of width 2; typical prices 1, 3, 5, 5, 9 with volumes 1, 2, 6, 1, 1
    const bars = {
      high: f(2, 4, 6, 6, 10),
      low: f(0, 2, 4, 4, 8),
      close: f(1, 3, 5, 5, 9),
      volume: f(1, 2, 6, 1, 1),
    }
    const [poc, vah, val] = run('volume_profile', bars, { timePeriod: 5, bins: 5, valueArea: 0.7 })
    // Bins [1, 2, 7, 0, 1], total 11, target 7.7: POC bin 2 (7); above pair 0 + 1 = 1 < below pair 2 + 1 = 3 -> bins 0..2
    expect(poc[4]).toBe(5)
    expect(val[4]).toBe(0)
    expect(vah[4]).toBe(6)
  })

  it('holds at least 70% of the window volume in the value area around the fullest bin, on real data', async () => {
    const bars = await realBars(1500)
    const { high: h, low: l, close: c, volume: v } = bars
    const per = 60
    const bins = 24
    const [poc, vah, val] = run('volume_profile', bars, { timePeriod: per, bins })
    expect(poc[per - 2]).toBeNaN()
    const kernel = new VolumeProfileKernel(per, bins, 0.7)
    for (let i = 0; i < 1500; i++) {
      if (!kernel.next(h[i], l[i], c[i], v[i])) continue
      expect(kernel.poc).toBe(poc[i])
      const lo = Math.min(...l.subarray(i - per + 1, i + 1))
      const hi = Math.max(...h.subarray(i - per + 1, i + 1))
      // Independent histogram
      const hist = new Array<number>(bins).fill(0)
      let total = 0
      for (let j = i - per + 1; j <= i; j++) {
        const tp = (h[j] + l[j] + c[j]) / 3
        hist[Math.min(bins - 1, Math.max(0, Math.floor(((tp - lo) / (hi - lo)) * bins)))] += v[j]
        total += v[j]
      }
      const w = (hi - lo) / bins
      const pocBin = Math.round((poc[i] - lo) / w - 0.5)
      expect(hist[pocBin]).toBe(Math.max(...hist))
      const a = Math.round((val[i] - lo) / w)
      const b = Math.round((vah[i] - lo) / w)
      let inside = 0
      for (let k = a; k < b; k++) inside += hist[k]
      expect(inside).toBeGreaterThanOrEqual(0.7 * total * (1 - 1e-12))
      expect(lo).toBeLessThanOrEqual(val[i])
      expect(val[i]).toBeLessThan(poc[i])
      expect(poc[i]).toBeLessThan(vah[i])
      expect(vah[i]).toBeLessThanOrEqual(hi)
    }
  })

  it('equals a from-scratch profile of every window, bit for bit, with ties, zero volumes and flat prices', () => {
    // The kernel keeps bins, sums and the fullest bin from row to row and settles most value-area compares with a
    // running total; this recomputes everything per window the plain way: each bar's bin, each bin's volume and
    // the total summed oldest first, the fullest bin by a scan, the value area grown pair by pair
    function profile(h: Float64Array, l: Float64Array, c: Float64Array, v: Float64Array, to: number, per: number, bins: number, area: number) {
      const from = to - per + 1
      let low = Infinity
      let high = -Infinity
      for (let j = from; j <= to; j++) {
        low = Math.min(low, l[j])
        high = Math.max(high, h[j])
      }
      const span = high - low
      const hist = new Float64Array(bins)
      let total = 0
      for (let j = from; j <= to; j++) {
        const tp = (h[j] + l[j] + c[j]) / 3
        const k = span > 0 ? Math.min(bins - 1, Math.max(0, Math.floor(((tp - low) / span) * bins))) : 0
        hist[k] += v[j]
        total += v[j]
      }
      const mid = (bins - 1) / 2
      let poc = 0
      for (let b = 1; b < bins; b++) {
        if (hist[b] > hist[poc] || (hist[b] === hist[poc] && Math.abs(b - mid) < Math.abs(poc - mid))) poc = b
      }
      let lo = poc
      let hi = poc
      let acc = hist[poc]
      while (acc < area * total && (lo > 0 || hi < bins - 1)) {
        const up = hi < bins - 1 ? hist[hi + 1] + (hi + 2 < bins ? hist[hi + 2] : 0) : -Infinity
        const down = lo > 0 ? hist[lo - 1] + (lo - 2 >= 0 ? hist[lo - 2] : 0) : -Infinity
        if (up >= down) {
          hi = Math.min(hi + 2, bins - 1)
          acc += up
        } else {
          lo = Math.max(lo - 2, 0)
          acc += down
        }
      }
      const w = span / bins
      return [low + (poc + 0.5) * w, hi === bins - 1 ? high : low + (hi + 1) * w, lo === 0 ? low : low + lo * w]
    }
    let seed = 7
    const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647
    const n = 1500
    for (const [per, bins, area, kind] of [
      [60, 24, 0.7, 'real-like'],
      [5, 5, 0.7, 'integer volumes'],
      [30, 7, 0.5, 'zero volumes'],
      [12, 3, 1, 'flat prices'],
      [2, 50, 0.1, 'tiny and huge volumes'],
      // The whole window: the value area's sum and the total meet within rounding
      [40, 6, 1, 'real-like'],
      [9, 4, 1, 'tiny and huge volumes'],
    ] as const) {
      const h = new Float64Array(n)
      const l = new Float64Array(n)
      const c = new Float64Array(n)
      const v = new Float64Array(n)
      let price = 100
      for (let i = 0; i < n; i++) {
        if (kind !== 'flat prices' || i % 200 === 0) price += rnd() - 0.5
        h[i] = price + (kind === 'flat prices' ? 0 : rnd())
        l[i] = price - (kind === 'flat prices' ? 0 : rnd())
        c[i] = l[i] + (h[i] - l[i]) * rnd()
        v[i] =
          kind === 'integer volumes' ? Math.floor(rnd() * 3) :
          kind === 'zero volumes' ? (rnd() < 0.3 ? 0 : rnd() * 5) :
          kind === 'tiny and huge volumes' ? (rnd() < 0.5 ? rnd() * 1e-9 : rnd() * 1e9) :
          rnd() * 10
      }
      const kernel = new VolumeProfileKernel(per, bins, area)
      for (let i = 0; i < n; i++) {
        if (!kernel.next(h[i], l[i], c[i], v[i])) continue
        const [poc, vah, val] = profile(h, l, c, v, i, per, bins, area)
        expect([kernel.poc, kernel.vah, kernel.val], `${kind}, row ${i}`).toEqual([poc, vah, val])
      }
    }
  })

  it('ends on bad data with negative volumes', () => {
    // A pair of bins below -1 once made the value area add the exhausted side's -1 for ever
    const kernel = new VolumeProfileKernel(4, 8, 0.9)
    const vols = [5, -20, -30, 1, 2, -50, 3, 4]
    for (let i = 0; i < vols.length; i++) kernel.next(100 + i, 99 + i, 99.5 + i, vols[i])
    expect(Number.isFinite(kernel.poc)).toBe(true)
  })

  it('reads a close above the value area as bullish', () => {
    const def = indicator('volume_profile')
    expect(def.reading?.([100, 105, 95], [0, 0, 106, 1])).toBe('bullish')
    expect(def.reading?.([100, 105, 95], [0, 0, 94, 1])).toBe('bearish')
    expect(def.reading?.([100, 105, 95], [0, 0, 100, 1])).toBe('neutral')
  })
})

describe('force index, ease of movement, VWMA and PVT', () => {
  it('force index is a TA_EMA-seeded EMA of close change x volume', () => {
    // Raw: 1, 2, 3 from row 1; EMA(2) seed (1 + 2) / 2 at row 2, then (3 - 1.5) x 2/3 + 1.5
    const [fi] = run('force_index', { close: f(1, 2, 4, 7), volume: f(1, 1, 1, 1) }, { timePeriod: 2 })
    expect(fi[1]).toBeNaN()
    expect(fi[2]).toBe(1.5)
    expect(fi[3]).toBe(2.5)
    expect(indicator('force_index').lookback(resolveParams(indicator('force_index')))).toBe(13)
  })

  it('ease of movement is midpoint move / box ratio, averaged', () => {
    // Midpoint 9 -> 11, box ratio (1e8 / 1e8) / 2: EMV = 4; then midpoint 11 -> 11: EMV = 0
    const bars = { high: f(10, 12, 12), low: f(8, 10, 10), volume: f(1e8, 1e8, 1e8) }
    const [e1] = run('eom', bars, { timePeriod: 1 })
    expect(Array.from(e1)).toEqual([NaN, 4, 0])
    const [e2] = run('eom', bars, { timePeriod: 2 })
    expect(e2[2]).toBe(2)
    // No range or no volume: 0 rather than a division by zero
    const [z] = run('eom', { high: f(10, 12, 12), low: f(8, 12, 10), volume: f(1, 5, 0) }, { timePeriod: 1 })
    expect(Array.from(z.subarray(1))).toEqual([0, 0])
  })

  it('vwma weights closes by volume, plain mean without volume', () => {
    expect(run('vwma', { close: f(1, 2, 3), volume: f(1, 1, 2) }, { timePeriod: 3 })[0][2]).toBe(2.25)
    expect(run('vwma', { close: f(1, 2, 3, 4), volume: f(5, 0, 0, 0) }, { timePeriod: 3 })[0][3]).toBe(3)
  })

  it('pvt accumulates volume x relative change from 0', () => {
    expect(Array.from(run('pvt', { close: f(10, 11, 9.9), volume: f(5, 10, 20) })[0])).toEqual([0, 1, 1 + 20 * ((9.9 - 11) / 11)])
  })
})

describe('stream = batch with non-default parameters', () => {
  const cases: [string, Record<string, number>][] = [
    ['adosc', { fastPeriod: 10, slowPeriod: 3 }],
    ['cmf', { timePeriod: 5 }],
    ['vwap_rolling', { timePeriod: 240 }],
    ['volume_profile', { timePeriod: 120, bins: 7, valueArea: 0.5 }],
    ['volume_profile', { timePeriod: 2, bins: 500, valueArea: 1 }],
    ['force_index', { timePeriod: 1 }],
    ['eom', { timePeriod: 30, divisor: 1000 }],
    ['vwma', { timePeriod: 2 }],
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
