// Order-flow and microstructure indicators: hand-checked cases and properties on real Binance BTCUSDT data
import { describe, expect, it } from 'vitest'
import { openStream, runBatch } from '../../src/lib/signals/engine.js'
import {
  BOOK_COLUMNS,
  BOOK_LEVELS,
  cvd,
  cvdBars,
  depthImbalance,
  hawkes,
  kyleLambda,
  liquidityWalls,
  microprice,
  ofi,
  spread,
  takerImbalance,
  tradeImbalance,
  vpin,
} from '../../src/lib/signals/indicators/microstructure.js'
import type { Columns, IndicatorDef } from '../../src/lib/signals/types.js'
import { realBars, realTrades } from './data.js'
import { realBook, realBookDiffs } from './micro-data.js'

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

const arr = (a: Float64Array) => Array.from(a)

/** Book columns from a few levels per side; levels not given are 1 tick further out with size 0 */
function book(rows: { bids: [number, number][]; asks: [number, number][] }[]): Columns {
  const out: Record<string, number[]> = { timestamp: rows.map((_, i) => i * 1e6) }
  for (const c of BOOK_COLUMNS) out[c] = []
  for (const r of rows) {
    for (let k = 0; k < BOOK_LEVELS; k++) {
      const b = r.bids[k] ?? [r.bids[r.bids.length - 1][0] - (k - r.bids.length + 1), 0]
      const a = r.asks[k] ?? [r.asks[r.asks.length - 1][0] + (k - r.asks.length + 1), 0]
      out[`bid_px_${k}`].push(b[0])
      out[`bid_sz_${k}`].push(b[1])
      out[`ask_px_${k}`].push(a[0])
      out[`ask_sz_${k}`].push(a[1])
    }
  }
  return cols(out)
}

describe('cvd', () => {
  it('adds side x amount trade by trade', () => {
    const [o] = run(cvd, cols({ amount: [1, 2, 0.5, 0.25], side: [1, -1, 1, 1] }))
    expect(arr(o)).toEqual([1, -1, -0.5, -0.25])
    expect(cvd.reading!([-0.25], [])).toBe('bearish')
  })

  it('equals the running sum of signed amounts of the real trades', async () => {
    const t = await realTrades()
    const [o] = run(cvd, t)
    let sum = 0
    let buys = 0
    for (let i = 0; i < t.amount.length; i++) {
      sum += t.side[i] * t.amount[i]
      if (t.side[i] > 0) buys += t.amount[i]
      expect(o[i]).toBeCloseTo(sum, 9)
    }
    // Real flow over the 11 minutes: 437.9 BTC traded in all
    let vol = 0
    for (const a of t.amount) vol += a
    expect(vol).toBeCloseTo(437.91552, 6)
    expect(o[o.length - 1]).toBeCloseTo(2 * buys - vol, 9)
  })
})

describe('cvd_bars', () => {
  it('adds 2 x taker buy - volume per bar', () => {
    const [o] = run(cvdBars, cols({ volume: [10, 4, 6], taker_buy_volume: [7, 1, 3] }))
    expect(arr(o)).toEqual([4, 2, 2])
  })

  it('moves by at most the bar volume on real bars', async () => {
    const b = await realBars(5000)
    const [o] = run(cvdBars, b)
    expect(o[0]).toBeCloseTo(2 * b.taker_buy_volume[0] - b.volume[0], 9)
    for (let i = 1; i < o.length; i++) {
      const d = o[i] - o[i - 1]
      expect(d).toBeCloseTo(2 * b.taker_buy_volume[i] - b.volume[i], 6)
      expect(Math.abs(d)).toBeLessThanOrEqual(b.volume[i] + 1e-6)
    }
  })
})

describe('taker_imbalance', () => {
  it('is (buy - sell) / (buy + sell) over the window', () => {
    const [o] = run(takerImbalance, cols({ volume: [10, 10, 20, 0, 0], taker_buy_volume: [8, 2, 15, 0, 0] }), { timePeriod: 2 })
    expect(o[0]).toBeNaN()
    expect(o[1]).toBe(0) // buy 10, sell 10
    expect(o[2]).toBeCloseTo((17 - 13) / 30, 15)
    expect(o[3]).toBeCloseTo((15 - 5) / 20, 15)
    expect(o[4]).toBe(0) // nothing traded in the window
  })

  it('stays in [-1, 1] and matches a direct window sum on real bars', async () => {
    const b = await realBars(5000)
    const [one] = run(takerImbalance, b, { timePeriod: 1 })
    const [o] = run(takerImbalance, b, { timePeriod: 60 })
    for (let i = 0; i < o.length; i++) {
      const v = b.volume[i]
      expect(one[i]).toBeCloseTo(v > 0 ? (2 * b.taker_buy_volume[i] - v) / v : 0, 12)
      if (i < 59) continue
      expect(Math.abs(o[i])).toBeLessThanOrEqual(1)
      let buy = 0
      let vol = 0
      for (let k = i - 59; k <= i; k++) {
        buy += b.taker_buy_volume[k]
        vol += b.volume[k]
      }
      expect(o[i]).toBeCloseTo((2 * buy - vol) / vol, 9)
    }
  })
})

describe('trade_imbalance', () => {
  it('is signed volume over volume of the last N trades', () => {
    const [o] = run(tradeImbalance, cols({ amount: [1, 3, 1, 2], side: [1, -1, 1, 1] }), { timePeriod: 3 })
    expect(o[0]).toBeNaN()
    expect(o[1]).toBeNaN()
    expect(o[2]).toBeCloseTo(-1 / 5, 15)
    expect(o[3]).toBeCloseTo(0, 15)
  })

  it('stays in [-1, 1] and equals the aggressor side for one trade, on real trades', async () => {
    const t = await realTrades()
    const [one] = run(tradeImbalance, t, { timePeriod: 1 })
    const [o] = run(tradeImbalance, t, { timePeriod: 200 })
    for (let i = 0; i < o.length; i++) {
      expect(one[i]).toBe(t.side[i])
      if (i >= 199) expect(Math.abs(o[i])).toBeLessThanOrEqual(1)
    }
    for (const i of [199, 5000, 12345, o.length - 1]) {
      let s = 0
      let v = 0
      for (let k = i - 199; k <= i; k++) {
        s += t.side[k] * t.amount[k]
        v += t.amount[k]
      }
      expect(o[i]).toBeCloseTo(s / v, 9)
    }
  })
})

describe('ofi', () => {
  it('follows the Cont-Kukanov-Stoikov event rule', () => {
    const input = book([
      { bids: [[100, 5]], asks: [[101, 4]] },
      { bids: [[100, 7]], asks: [[101, 4]] }, // bid size up 2: e = 7 - 5 = 2
      { bids: [[100.5, 1]], asks: [[101, 3]] }, // better bid: +1; ask size down 1: -3 + 4 = 1; e = 2
      { bids: [[100, 6]], asks: [[100.9, 2]] }, // bid price down: -1 (old size); ask price down: -2; e = -3
    ])
    const [o] = run(ofi, input, { timePeriod: 2 })
    expect(o[0]).toBeNaN()
    expect(o[1]).toBeNaN()
    expect(o[2]).toBe(4)
    expect(o[3]).toBe(-1)
    const [e] = run(ofi, input, { timePeriod: 1 })
    expect(arr(e).slice(1)).toEqual([2, 2, -3])
  })

  it('sums the per-step OFI and moves with the mid price on the real book', async () => {
    const b = await realBookDiffs()
    const [e] = run(ofi, b, { timePeriod: 1 })
    const [o] = run(ofi, b, { timePeriod: 20 })
    const n = e.length
    for (let i = 20; i < n; i++) {
      let s = 0
      for (let k = i - 19; k <= i; k++) s += e[k]
      expect(o[i]).toBeCloseTo(s, 8)
    }
    for (let i = 1; i < n; i++) {
      // Quotes unchanged: e is the change in bid size minus the change in ask size
      if (b.bid_px_0[i] === b.bid_px_0[i - 1] && b.ask_px_0[i] === b.ask_px_0[i - 1]) {
        expect(e[i]).toBeCloseTo(b.bid_sz_0[i] - b.bid_sz_0[i - 1] - (b.ask_sz_0[i] - b.ask_sz_0[i - 1]), 9)
      }
    }
    // The paper's finding: OFI and the mid-price change over the same interval are positively correlated
    const xs: number[] = []
    const ys: number[] = []
    for (let i = 1; i < n; i++) {
      xs.push(e[i])
      ys.push((b.bid_px_0[i] + b.ask_px_0[i] - b.bid_px_0[i - 1] - b.ask_px_0[i - 1]) / 2)
    }
    const mx = xs.reduce((a, v) => a + v, 0) / xs.length
    const my = ys.reduce((a, v) => a + v, 0) / ys.length
    let sxy = 0
    let sxx = 0
    let syy = 0
    for (let i = 0; i < xs.length; i++) {
      sxy += (xs[i] - mx) * (ys[i] - my)
      sxx += (xs[i] - mx) ** 2
      syy += (ys[i] - my) ** 2
    }
    expect(sxy / Math.sqrt(sxx * syy)).toBeGreaterThan(0.2)
  })
})

describe('depth_imbalance', () => {
  it('compares summed bid and ask sizes over the chosen levels', () => {
    const input = book([
      { bids: [[100, 3], [99, 1]], asks: [[101, 1], [102, 1], [103, 10]] },
      { bids: [[100, 0]], asks: [[101, 0]] },
    ])
    expect(arr(run(depthImbalance, input, { levels: 1 })[0])).toEqual([0.5, 0])
    expect(run(depthImbalance, input, { levels: 2 })[0][0]).toBe((4 - 2) / 6)
    expect(run(depthImbalance, input, { levels: 3 })[0][0]).toBe((4 - 12) / 16)
    expect(depthImbalance.reading!([0.5], [])).toBe('bullish')
  })

  it('stays in [-1, 1] and matches a direct sum on the real book', async () => {
    const b = await realBook()
    const [one] = run(depthImbalance, b, { levels: 1 })
    const [all] = run(depthImbalance, b, { levels: 20 })
    for (let i = 0; i < one.length; i++) {
      expect(Math.sign(one[i])).toBe(Math.sign(b.bid_sz_0[i] - b.ask_sz_0[i]))
      let bid = 0
      let ask = 0
      for (let k = 0; k < 20; k++) {
        bid += b[`bid_sz_${k}`][i]
        ask += b[`ask_sz_${k}`][i]
      }
      expect(all[i]).toBeCloseTo((bid - ask) / (bid + ask), 12)
      expect(Math.abs(all[i])).toBeLessThanOrEqual(1)
    }
  })
})

describe('microprice', () => {
  it('weights each side by the size on the other side', () => {
    const [o] = run(microprice, book([{ bids: [[100, 3]], asks: [[101, 1]] }, { bids: [[100, 0]], asks: [[101, 0]] }]))
    expect(o[0]).toBe(100.75)
    expect(o[1]).toBe(100.5)
    expect(microprice.reading!([100.75], [100, 3, 101, 1])).toBe('bullish')
  })

  it('lies between the best bid and ask, on the side of the smaller queue, on the real book', async () => {
    for (const b of [await realBook(), await realBookDiffs()]) {
      const [o] = run(microprice, b)
      for (let i = 0; i < o.length; i++) {
        const bid = b.bid_px_0[i]
        const ask = b.ask_px_0[i]
        expect(o[i]).toBeGreaterThanOrEqual(bid)
        expect(o[i]).toBeLessThanOrEqual(ask)
        const tilt = Math.sign(b.bid_sz_0[i] - b.ask_sz_0[i])
        if (tilt !== 0) expect(Math.sign(o[i] - (bid + ask) / 2)).toBe(tilt)
      }
    }
  })
})

describe('spread', () => {
  it('gives the spread and its size in bps of the mid', () => {
    const [s, bps] = run(spread, book([{ bids: [[100, 1]], asks: [[100.5, 1]] }]))
    expect(s[0]).toBe(0.5)
    expect(bps[0]).toBe((10000 * 0.5) / 100.25)
  })

  it('is at least one tick and never crossed on the real book', async () => {
    const b = await realBook()
    const [s, bps] = run(spread, b)
    for (let i = 0; i < s.length; i++) {
      expect(s[i]).toBeGreaterThanOrEqual(0.01 - 1e-9)
      expect(bps[i]).toBeCloseTo((s[i] / ((b.bid_px_0[i] + b.ask_px_0[i]) / 2)) * 10000, 10)
      expect(bps[i]).toBeGreaterThan(0)
    }
  })
})

describe('liquidity_walls', () => {
  it('finds the largest level against the median and its distance', () => {
    const input = book([
      {
        bids: [[100, 1], [99, 6], [98, 2]],
        asks: [[101, 2], [102, 2], [103, 2]],
      },
    ])
    const [bw, bbps, aw, abps] = run(liquidityWalls, input, { levels: 3 })
    expect(bw[0]).toBe(3) // 6 / median(1, 6, 2) = 6 / 2
    expect(bbps[0]).toBe((10000 * 1.5) / 100.5)
    expect(aw[0]).toBe(1) // a flat side has no wall; ties go to the best level
    expect(abps[0]).toBe((10000 * 0.5) / 100.5)
  })

  it('is at least 1 and points at the largest level, on the real book', async () => {
    const b = await realBook()
    const [bw, bbps, aw, abps] = run(liquidityWalls, b)
    for (let i = 0; i < bw.length; i++) {
      const mid = (b.bid_px_0[i] + b.ask_px_0[i]) / 2
      for (const [side, wall, bps] of [['bid', bw, bbps], ['ask', aw, abps]] as const) {
        expect(wall[i]).toBeGreaterThanOrEqual(1)
        let top = 0
        let at = 0
        const sizes: number[] = []
        for (let k = 0; k < 20; k++) {
          const sz = b[`${side}_sz_${k}`][i]
          sizes.push(sz)
          if (sz > top) {
            top = sz
            at = k
          }
        }
        sizes.sort((x, y) => x - y)
        expect(wall[i]).toBeCloseTo(top / ((sizes[9] + sizes[10]) / 2), 9)
        expect(bps[i]).toBeCloseTo((10000 * Math.abs(b[`${side}_px_${at}`][i] - mid)) / mid, 9)
      }
    }
  })
})

describe('liquidity_walls, every level count', () => {
  /** Largest size (first level on ties) over the median of the first `lv` sizes of one side, by sorting */
  function wallOf(b: Columns, side: 'bid' | 'ask', i: number, lv: number): { wall: number; at: number } {
    const sizes: number[] = []
    let top = -1
    let at = 0
    for (let k = 0; k < lv; k++) {
      const sz = b[`${side}_sz_${k}`][i]
      sizes.push(sz)
      if (sz > top) {
        top = sz
        at = k
      }
    }
    sizes.sort((x, y) => x - y)
    const med = lv % 2 ? sizes[(lv - 1) / 2] : (sizes[lv / 2 - 1] + sizes[lv / 2]) / 2
    return { wall: med > 0 ? top / med : NaN, at }
  }

  it('equals a sorted median exactly, on the real book and on books with ties, zeros and jumps', async () => {
    const real = await realBook()
    // A synthetic book whose sizes repeat, drop to zero and jump between rows, so that the previous row's median is
    // sometimes a poor pivot
    let seed = 3
    const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647
    const rows = 400
    const synthetic: Record<string, Float64Array> = { timestamp: new Float64Array(rows) }
    for (const c of BOOK_COLUMNS) synthetic[c] = new Float64Array(rows)
    for (let i = 0; i < rows; i++) {
      const regime = Math.floor(i / 50) % 4
      for (let k = 0; k < BOOK_LEVELS; k++) {
        synthetic[`bid_px_${k}`][i] = 100 - k * 0.01
        synthetic[`ask_px_${k}`][i] = 100.01 + k * 0.01
        for (const side of ['bid', 'ask']) {
          synthetic[`${side}_sz_${k}`][i] =
            regime === 0 ? Math.floor(rnd() * 4) : regime === 1 ? (rnd() < 0.6 ? 0 : rnd()) : regime === 2 ? rnd() * 10 ** (rnd() * 6) : 1
        }
      }
    }
    for (const b of [real, synthetic as Columns]) {
      const n = b.bid_px_0.length
      for (let lv = 3; lv <= BOOK_LEVELS; lv++) {
        const [bw, bbps, aw, abps] = run(liquidityWalls, b, { levels: lv })
        for (let i = 0; i < n; i++) {
          const mid = (b.bid_px_0[i] + b.ask_px_0[i]) / 2
          for (const [side, wall, bps] of [['bid', bw, bbps], ['ask', aw, abps]] as const) {
            const want = wallOf(b, side, i, lv)
            expect(wall[i], `${side} wall, ${lv} levels, row ${i}`).toBe(want.wall)
            expect(bps[i]).toBe(mid > 0 ? (10000 * Math.abs(b[`${side}_px_${want.at}`][i] - mid)) / mid : NaN)
          }
        }
      }
    }
  })
})

/** Two-pass OLS slope of y on x */
function slope(x: number[], y: number[]): number {
  const mx = x.reduce((a, v) => a + v, 0) / x.length
  const my = y.reduce((a, v) => a + v, 0) / y.length
  let sxy = 0
  let sxx = 0
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i] - mx) * (y[i] - my)
    sxx += (x[i] - mx) ** 2
  }
  return sxy / sxx
}

describe('kyle_lambda', () => {
  it('regresses price changes on signed volume', () => {
    const input = cols({ price: [100, 101, 103, 101.5, 101.5], amount: [1, 1, 2, 1, 1], side: [1, 1, 1, -1, -1] })
    const [o] = run(kyleLambda, input, { timePeriod: 2 })
    expect(o[0]).toBeNaN()
    expect(o[1]).toBeNaN()
    expect(o[2]).toBeCloseTo(1, 12) // (q, dp) = (1, 1), (2, 2)
    expect(o[3]).toBeCloseTo(2.625 / 2.25, 12) // (2, 2), (-1, -1.5)
    expect(o[4]).toBeNaN() // (-1, -1.5), (-1, 0): q does not vary
  })

  it('matches a two-pass regression and is positive on real trades', async () => {
    const t = await realTrades()
    const n = 500
    const [o] = run(kyleLambda, t, { timePeriod: n })
    for (const i of [n, 3000, 10000, o.length - 1]) {
      const q: number[] = []
      const dp: number[] = []
      for (let k = i - n + 1; k <= i; k++) {
        q.push(t.side[k] * t.amount[k])
        dp.push(t.price[k] - t.price[k - 1])
      }
      expect(o[i]).toBeCloseTo(slope(q, dp), 8)
    }
    // Buying pushes the price up: the median impact over the sample is positive
    const vals = arr(o.subarray(n)).filter(Number.isFinite).sort((a, b) => a - b)
    expect(vals.length).toBe(o.length - n)
    expect(vals[vals.length >> 1]).toBeGreaterThan(0)
  })
})

/** VPIN by a plain bucket walk: the buckets are cut by volume with exact arithmetic on 1e-8 units */
function vpinReference(amount: Float64Array, side: Float64Array, size: number, nb: number): number[] {
  const unit = 1e8
  const cap = Math.round(size * unit)
  const imbs: number[] = []
  const out: number[] = []
  let buy = 0
  let sell = 0
  for (let i = 0; i < amount.length; i++) {
    let rem = Math.round(amount[i] * unit)
    while (rem > 0) {
      const take = Math.min(rem, cap - buy - sell)
      if (side[i] > 0) buy += take
      else sell += take
      rem -= take
      if (buy + sell === cap) {
        imbs.push(Math.abs(buy - sell) / cap)
        buy = 0
        sell = 0
      }
    }
    out.push(imbs.length >= nb ? imbs.slice(-nb).reduce((a, v) => a + v, 0) / nb : NaN)
  }
  return out
}

describe('vpin', () => {
  it('fills equal-volume buckets and averages their imbalance', () => {
    const input = cols({ amount: [0.5, 1, 0.5, 1.5, 3], side: [1, -1, 1, 1, -1] })
    const [o] = run(vpin, input, { bucketVolume: 1, buckets: 2 })
    // Buckets: [0.5 buy + 0.5 sell] = 0, [0.5 sell + 0.5 buy] = 0, [1 buy] = 1, then 0.5 buy + 0.5 sell = 0, 1, 1
    expect(o[0]).toBeNaN()
    expect(o[1]).toBeNaN()
    expect(o[2]).toBe(0)
    expect(o[3]).toBe(0.5)
    expect(o[4]).toBe(1)
  })

  it('stays in [0, 1] and agrees with a plain bucket walk on real trades', async () => {
    const t = await realTrades()
    for (const [bucketVolume, buckets] of [
      [1, 50],
      [0.05, 20],
      [5, 10],
    ]) {
      const [o] = run(vpin, t, { bucketVolume, buckets })
      const ref = vpinReference(t.amount, t.side, bucketVolume, buckets)
      let cum = 0
      let finite = 0
      let worst = 0
      for (let i = 0; i < o.length; i++) {
        cum += t.amount[i]
        // NaN exactly until `buckets` buckets are full
        if (Number.isNaN(o[i]) !== cum < bucketVolume * buckets - 1e-9) throw new Error(`warm-up ends wrongly at ${i}`)
        if (Number.isNaN(o[i])) continue
        finite++
        if (!(o[i] >= 0 && o[i] <= 1)) throw new Error(`vpin[${i}] = ${o[i]}`)
        worst = Math.max(worst, Math.abs(o[i] - ref[i]))
      }
      expect(finite).toBeGreaterThan(1000)
      expect(worst).toBeLessThan(1e-9)
    }
  })
})

describe('hawkes', () => {
  it('jumps by alpha at each trade and decays at rate beta', () => {
    const input = cols({ timestamp: [0, 1e6, 1e6, 3e6, 2e6] })
    // beta = ln 2: the excitation halves every second
    const [o] = run(hawkes, input, { mu: 1, alpha: 0.5, beta: Math.LN2 })
    expect(o[0]).toBe(1.5)
    expect(o[1]).toBeCloseTo(1 + 0.5 * 0.5 + 0.5, 14)
    expect(o[2]).toBeCloseTo(1 + 0.75 + 0.5, 14) // same instant: no decay
    expect(o[3]).toBeCloseTo(1 + 1.25 * 0.25 + 0.5, 14)
    expect(o[4]).toBeCloseTo(1 + 0.8125 + 0.5, 14) // a late timestamp does not rewind the clock
  })

  it('decays between real trades and equals the direct kernel sum', async () => {
    const t = await realTrades()
    const mu = 2
    const alpha = 0.8
    const beta = 1.5
    const [o] = run(hawkes, t, { mu, alpha, beta })
    for (let i = 1; i < o.length; i++) {
      expect(o[i]).toBeGreaterThanOrEqual(mu + alpha)
      const dt = (t.timestamp[i] - t.timestamp[i - 1]) / 1e6
      // Just before trade i the excitation has decayed from its value after trade i - 1
      expect(o[i] - mu - alpha).toBeLessThanOrEqual((o[i - 1] - mu) * 1.000000001)
      expect(o[i] - mu - alpha).toBeCloseTo((o[i - 1] - mu) * Math.exp(-beta * dt), 9)
    }
    for (const i of [100, 7000, o.length - 1]) {
      let s = mu
      for (let k = 0; k <= i; k++) s += alpha * Math.exp((-beta * (t.timestamp[i] - t.timestamp[k])) / 1e6)
      expect(o[i]).toBeCloseTo(s, 8)
    }
  })
})
