// Volume indicators: TA-Lib's OBV and Chaikin family, money flow, VWAPs, volume profile and volume-weighted trends
//
// Batch loops and streams share the small kernels below, so both forms run the same arithmetic in the same order.
// Batch outputs are written once per row (`output` leaves only the warm-up prefix NaN); streams whose state is a
// running number are classes, whose fields V8 updates in place where variables captured by a closure are boxed
import { param, type Columns, type IndicatorDef, type Params, type Stream } from '../types.js'
import { ifFinite, inChunks, nans, output, RollingMax, RollingMin, type ChunkedKernel } from '../util.js'
import { EmaKernel, periodParam, WindowSum } from './volatility.js'

const hlcv = ['high', 'low', 'close', 'volume'] as const

/** Microseconds per UTC day: open_time is in µs */
const DAY_US = 86_400_000_000

const signReading = (v: number) => (v > 0 ? 'bullish' : v < 0 ? 'bearish' : 'neutral')

class ObvStream implements Stream {
  readonly out = nans(1)
  private total = NaN
  private prev = NaN
  update(x: Float64Array): void {
    const c = x[0]
    if (this.total !== this.total) {
      this.total = x[1]
      this.prev = c
    }
    if (c > this.prev) this.total += x[1]
    else if (c < this.prev) this.total -= x[1]
    this.out[0] = this.total
    this.prev = c
  }
}

/** TA_OBV's running total in a kernel run chunk by chunk; `check` is the sum of every close + volume, times 0 */
class ObvRows implements ChunkedKernel {
  private total: number
  private prev: number
  check = 0
  constructor(
    private readonly close: Float64Array,
    private readonly volume: Float64Array,
    private readonly out: Float64Array,
  ) {
    this.total = volume[0]
    this.prev = close[0]
  }
  run(from: number, to: number): void {
    const { close, volume, out } = this
    let { total, prev, check } = this
    // Adding the volume or 0, then subtracting it or 0, is the arithmetic of the stream's branches (x + 0 and x - 0
    // are x, the total starting from a volume and never being -0) without an unpredictable jump per close
    for (let i = from; i < to; i++) {
      const c = close[i]
      const v = volume[i]
      check += (c + v) * 0
      const up = c > prev ? v : 0
      const down = c < prev ? v : 0
      total = total + up - down
      out[i] = total
      prev = c
    }
    this.total = total
    this.prev = prev
    this.check = check
  }
}

/** TA_OBV into `out`; returns ObvRows' check */
function obvRows(input: Columns, out: Float64Array): number {
  const { close, volume } = input
  const n = close.length
  if (n === 0) return 0
  const k = new ObvRows(close, volume, out)
  inChunks(k, 0, n)
  return k.check
}

/** On Balance Volume (TA_OBV) */
export const obv: IndicatorDef = {
  id: 'obv',
  name: 'On Balance Volume',
  category: 'volume',
  source: 'bars',
  inputs: ['close', 'volume'],
  params: [],
  outputs: ['obv'],
  talib: 'TA_OBV',
  notes:
    'As TA-Lib: starts at the first row\'s volume, then adds the volume on an up close and subtracts it on a down close. ' +
    'No reading: the direction is the slope, which the latest value alone does not show.',
  lookback: () => 0,
  batch(input) {
    const out = output(input.close.length, 0)
    obvRows(input, out)
    return [out]
  },
  batchIfFinite(input) {
    const out = output(input.close.length, 0)
    return ifFinite([out], obvRows(input, out))
  },
  stream: () => new ObvStream(),
}

/** TA_AD's money flow volume of one bar: ((c-l)-(h-c))/(h-l) x volume, 0 when the bar has no range */
function moneyFlowVolume(h: number, l: number, c: number, v: number): number {
  const range = h - l
  return range > 0 ? (((c - l) - (h - c)) / range) * v : 0
}

class AdStream implements Stream {
  readonly out = nans(1)
  private total = 0
  update(x: Float64Array): void {
    this.total += moneyFlowVolume(x[0], x[1], x[2], x[3])
    this.out[0] = this.total
  }
}

/**
 * TA_AD's running total in a kernel run chunk by chunk. `check` sums each row's high - low + close + volume, times 0:
 * finite exactly when every input is
 */
class AdRows implements ChunkedKernel {
  private total = 0
  check = 0
  constructor(
    private readonly high: Float64Array,
    private readonly low: Float64Array,
    private readonly close: Float64Array,
    private readonly volume: Float64Array,
    private readonly out: Float64Array,
  ) {}
  run(from: number, to: number): void {
    const { high, low, close, volume, out } = this
    let { total, check } = this
    // Four rows at a time (the divisions do not depend on each other, only the running total does), adding in
    // row order; the rows left over go first, so that the first chunk runs that code too
    let i = from
    for (const head = from + ((to - from) & 3); i < head; i++) {
      const h = high[i]
      const l = low[i]
      const c = close[i]
      const v = volume[i]
      check += (h - l + c + v) * 0
      total += moneyFlowVolume(h, l, c, v)
      out[i] = total
    }
    for (; i < to; i += 4) {
      const h0 = high[i]
      const h1 = high[i + 1]
      const h2 = high[i + 2]
      const h3 = high[i + 3]
      const l0 = low[i]
      const l1 = low[i + 1]
      const l2 = low[i + 2]
      const l3 = low[i + 3]
      const c0 = close[i]
      const c1 = close[i + 1]
      const c2 = close[i + 2]
      const c3 = close[i + 3]
      const v0 = volume[i]
      const v1 = volume[i + 1]
      const v2 = volume[i + 2]
      const v3 = volume[i + 3]
      check += (h0 - l0 + c0 + v0 + (h1 - l1 + c1 + v1) + (h2 - l2 + c2 + v2 + (h3 - l3 + c3 + v3))) * 0
      const m0 = moneyFlowVolume(h0, l0, c0, v0)
      const m1 = moneyFlowVolume(h1, l1, c1, v1)
      const m2 = moneyFlowVolume(h2, l2, c2, v2)
      const m3 = moneyFlowVolume(h3, l3, c3, v3)
      total += m0
      out[i] = total
      total += m1
      out[i + 1] = total
      total += m2
      out[i + 2] = total
      total += m3
      out[i + 3] = total
    }
    this.total = total
    this.check = check
  }
}

/** TA_AD into `out`; returns AdRows' check */
function adRows(input: Columns, out: Float64Array): number {
  const { high, low, close, volume } = input
  const k = new AdRows(high, low, close, volume, out)
  inChunks(k, 0, close.length)
  return k.check
}

/** Chaikin Accumulation/Distribution Line (TA_AD) */
export const ad: IndicatorDef = {
  id: 'ad',
  name: 'Chaikin A/D Line',
  category: 'volume',
  source: 'bars',
  inputs: hlcv,
  params: [],
  outputs: ['ad'],
  talib: 'TA_AD',
  notes:
    'Running total from 0 of ((close-low)-(high-close))/(high-low) x volume, a bar with high = low adding nothing, as ' +
    'TA-Lib. No reading: the direction is the slope.',
  lookback: () => 0,
  batch(input) {
    const out = output(input.close.length, 0)
    adRows(input, out)
    return [out]
  },
  batchIfFinite(input) {
    const out = output(input.close.length, 0)
    return ifFinite([out], adRows(input, out))
  },
  stream: () => new AdStream(),
}

/** TA_ADOSC: two EMAs of the A/D line, both seeded with the first row's A/D value */
class AdoscKernel {
  private readonly fastK: number
  private readonly slowK: number
  private readonly fastK1: number
  private readonly slowK1: number
  private readonly lookback: number
  private total = 0
  private fast = 0
  private slow = 0
  private i = 0
  constructor(p: Params) {
    this.fastK = 2 / (p.fastPeriod + 1)
    this.fastK1 = 1 - this.fastK
    this.slowK = 2 / (p.slowPeriod + 1)
    this.slowK1 = 1 - this.slowK
    this.lookback = Math.max(p.fastPeriod, p.slowPeriod) - 1
  }
  next(h: number, l: number, c: number, v: number): number {
    const i = this.i
    // Only `i === 0` and `i >= lookback` matter (lookback is at least 1), so the count stops at the lookback
    if (i < this.lookback) this.i = i + 1
    this.total += moneyFlowVolume(h, l, c, v)
    if (i === 0) {
      this.fast = this.total
      this.slow = this.total
    } else {
      this.fast = this.fastK * this.total + this.fastK1 * this.fast
      this.slow = this.slowK * this.total + this.slowK1 * this.slow
    }
    return i >= this.lookback ? this.fast - this.slow : NaN
  }
}

/**
 * TA_ADOSC's rows after the warm-up in a kernel run chunk by chunk, the running total and EMAs in locals. `check`
 * goes on summing each row's high - low + close + volume, times 0
 */
class AdoscRows implements ChunkedKernel {
  constructor(
    private readonly high: Float64Array,
    private readonly low: Float64Array,
    private readonly close: Float64Array,
    private readonly volume: Float64Array,
    private readonly out: Float64Array,
    private readonly fastK: number,
    private readonly fastK1: number,
    private readonly slowK: number,
    private readonly slowK1: number,
    private total: number,
    private fast: number,
    private slow: number,
    public check: number,
  ) {}
  run(from: number, to: number): void {
    const { high, low, close, volume, out, fastK, fastK1, slowK, slowK1 } = this
    let { total, fast, slow, check } = this
    let i = from
    // A row left over goes first, so that the first chunk runs that code too
    if ((to - from) % 2 === 1) {
      const h = high[i]
      const l = low[i]
      const c = close[i]
      const v = volume[i]
      check += (h - l + c + v) * 0
      total += moneyFlowVolume(h, l, c, v)
      fast = fastK * total + fastK1 * fast
      slow = slowK * total + slowK1 * slow
      out[i] = fast - slow
      i++
    }
    for (; i < to; i += 2) {
      const h0 = high[i]
      const h1 = high[i + 1]
      const l0 = low[i]
      const l1 = low[i + 1]
      const c0 = close[i]
      const c1 = close[i + 1]
      const v0 = volume[i]
      const v1 = volume[i + 1]
      check += (h0 - l0 + c0 + v0 + (h1 - l1 + c1 + v1)) * 0
      const m0 = moneyFlowVolume(h0, l0, c0, v0)
      const m1 = moneyFlowVolume(h1, l1, c1, v1)
      total += m0
      fast = fastK * total + fastK1 * fast
      slow = slowK * total + slowK1 * slow
      out[i] = fast - slow
      total += m1
      fast = fastK * total + fastK1 * fast
      slow = slowK * total + slowK1 * slow
      out[i + 1] = fast - slow
    }
    this.total = total
    this.fast = fast
    this.slow = slow
    this.check = check
  }
}

/** TA_ADOSC into `out` from row lb on; returns a check as AdoscRows' over every row */
function adoscRows(input: Columns, p: Params, lb: number, out: Float64Array): number {
  const { high, low, close, volume } = input
  const n = close.length
  if (n === 0) return 0
  // AdoscKernel's arithmetic with the state in local variables rather than fields
  const fastK = 2 / (p.fastPeriod + 1)
  const fastK1 = 1 - fastK
  const slowK = 2 / (p.slowPeriod + 1)
  const slowK1 = 1 - slowK
  let check = (high[0] - low[0] + close[0] + volume[0]) * 0
  let total = 0
  total += moneyFlowVolume(high[0], low[0], close[0], volume[0])
  let fast = total
  let slow = total
  // The warm-up rows, then the rest two at a time: the money flows first (their divisions do not depend on each
  // other), then the running total and the EMAs in row order, as in the one-row loop
  let i = 1
  for (const end = Math.min(lb, n); i < end; i++) {
    const h = high[i]
    const l = low[i]
    const c = close[i]
    const v = volume[i]
    check += (h - l + c + v) * 0
    total += moneyFlowVolume(h, l, c, v)
    fast = fastK * total + fastK1 * fast
    slow = slowK * total + slowK1 * slow
  }
  const k = new AdoscRows(high, low, close, volume, out, fastK, fastK1, slowK, slowK1, total, fast, slow, check)
  inChunks(k, i, n)
  return k.check
}

/** Chaikin A/D Oscillator (TA_ADOSC) */
export const adosc: IndicatorDef = {
  id: 'adosc',
  name: 'Chaikin A/D Oscillator',
  category: 'volume',
  source: 'bars',
  inputs: hlcv,
  params: [
    param('fastPeriod', 3, 2, 1000, 'period of the fast EMA of the A/D line', { integer: true }),
    param('slowPeriod', 10, 2, 1000, 'period of the slow EMA of the A/D line', { integer: true }),
  ],
  outputs: ['adosc'],
  talib: 'TA_ADOSC',
  notes:
    'EMA(fastPeriod) - EMA(slowPeriod) of the A/D line as TA-Lib: both EMAs (k = 2/(n+1)) seeded with the first A/D ' +
    'value, warm-up max(fast, slow) - 1 rows; always fast minus slow even if fastPeriod > slowPeriod. Positive reads bullish.',
  lookback: (p) => Math.max(p.fastPeriod, p.slowPeriod) - 1,
  batch(input, p) {
    const lb = Math.max(p.fastPeriod, p.slowPeriod) - 1
    const out = output(input.close.length, lb)
    adoscRows(input, p, lb, out)
    return [out]
  },
  batchIfFinite(input, p) {
    const lb = Math.max(p.fastPeriod, p.slowPeriod) - 1
    const out = output(input.close.length, lb)
    return ifFinite([out], adoscRows(input, p, lb, out))
  },
  stream(p) {
    const out = nans(1)
    const k = new AdoscKernel(p)
    return {
      out,
      update(x) {
        out[0] = k.next(x[0], x[1], x[2], x[3])
      },
    }
  },
  reading: (out) => signReading(out[0]),
}

/** Chaikin money flow of one row: windowed money flow volume over windowed volume, 0 without volume */
class CmfKernel {
  private readonly mfv: WindowSum
  private readonly vol: WindowSum
  constructor(per: number) {
    this.mfv = new WindowSum(per)
    this.vol = new WindowSum(per)
  }
  next(h: number, l: number, c: number, v: number): number {
    this.mfv.push(moneyFlowVolume(h, l, c, v))
    this.vol.push(v)
    if (!this.vol.full) return NaN
    return this.vol.sum !== 0 ? this.mfv.sum / this.vol.sum : 0
  }
}

/**
 * CmfKernel's batch loop in a kernel run chunk by chunk, over the rows' money flow volumes in `mfv`: its two
 * WindowSums as one ring position and count and two rings, sums and counts of non-zero values in local variables
 * while a chunk runs, each step WindowSum.push's in its order. `out` may be `mfv` (row i is read before written)
 */
class CmfRows implements ChunkedKernel {
  private readonly ringM: Float64Array
  private readonly ringV: Float64Array
  private head = 0
  private count = 0
  private sumM = 0
  private sumV = 0
  private nzM = 0
  private nzV = 0
  constructor(
    private readonly mfv: Float64Array,
    private readonly volume: Float64Array,
    private readonly out: Float64Array,
    private readonly per: number,
  ) {
    this.ringM = new Float64Array(per)
    this.ringV = new Float64Array(per)
  }
  run(from: number, to: number): void {
    const { mfv, volume, out, per, ringM, ringV } = this
    let { head, count, sumM, sumV, nzM, nzV } = this
    for (let i = from; i < to; i++) {
      const m = mfv[i]
      const v = volume[i]
      if (count === per) {
        const a = ringM[head]
        const b = ringV[head]
        sumM -= a
        if (a !== 0) nzM--
        sumV -= b
        if (b !== 0) nzV--
      } else count++
      ringM[head] = m
      ringV[head] = v
      head = head + 1 === per ? 0 : head + 1
      sumM += m
      if (m !== 0) nzM++
      if (nzM === 0) sumM = 0
      sumV += v
      if (v !== 0) nzV++
      if (nzV === 0) sumV = 0
      out[i] = count < per ? NaN : sumV !== 0 ? sumM / sumV : 0
    }
    this.head = head
    this.count = count
    this.sumM = sumM
    this.sumV = sumV
    this.nzM = nzM
    this.nzV = nzV
  }
}

/** Chaikin Money Flow */
export const cmf: IndicatorDef = {
  id: 'cmf',
  name: 'Chaikin Money Flow',
  category: 'volume',
  source: 'bars',
  inputs: hlcv,
  params: [periodParam(20)],
  outputs: ['cmf'],
  notes:
    'Not in TA-Lib. Sum of money flow volume (as TA_AD\'s increments) over the last timePeriod rows / their volume, ' +
    '0 when the window has no volume. Positive reads bullish.',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const { high, low, close, volume } = input
    const n = close.length
    const out = output(n, 0)
    // The money flow volumes first, replaced row by row by the ratios
    for (let i = 0; i < n; i++) out[i] = moneyFlowVolume(high[i], low[i], close[i], volume[i])
    inChunks(new CmfRows(out, volume, out, p.timePeriod), 0, n)
    return [out]
  },
  stream(p) {
    const out = nans(1)
    const k = new CmfKernel(p.timePeriod)
    return {
      out,
      update(x) {
        out[0] = k.next(x[0], x[1], x[2], x[3])
      },
    }
  },
  reading: (out) => signReading(out[0]),
}

/** Session VWAP: cumulative typical price x volume over volume since the row's UTC day began */
class SessionVwapKernel {
  private day = NaN
  private pv = 0
  private vol = 0
  private price = 0
  private rows = 0
  next(t: number, h: number, l: number, c: number, v: number): number {
    const day = Math.floor(t / DAY_US)
    if (day !== this.day) {
      this.day = day
      this.pv = 0
      this.vol = 0
      this.price = 0
      this.rows = 0
    }
    const tp = (h + l + c) / 3
    this.pv += tp * v
    this.vol += v
    this.price += tp
    this.rows++
    return this.vol !== 0 ? this.pv / this.vol : this.price / this.rows
  }
}

/** Session VWAP, resetting at 00:00 UTC */
export const vwapSession: IndicatorDef = {
  id: 'vwap_session',
  name: 'Session VWAP',
  category: 'volume',
  source: 'bars',
  inputs: ['open_time', 'high', 'low', 'close', 'volume'],
  params: [],
  outputs: ['vwap_session'],
  notes:
    'Not in TA-Lib. Sum of typical price (h+l+c)/3 x volume over volume, cumulated from the first row whose open_time (µs) ' +
    'falls in the current UTC day; the mean typical price while the session has no volume. Close above reads bullish.',
  lookback: () => 0,
  batch(input) {
    const { open_time, high, low, close, volume } = input
    const n = close.length
    const out = output(n, 0)
    const result = [out]
    const k = new SessionVwapKernel()
    for (let i = 0; i < n; i++) out[i] = k.next(open_time[i], high[i], low[i], close[i], volume[i])
    return result
  },
  stream() {
    const out = nans(1)
    const k = new SessionVwapKernel()
    return {
      out,
      update(x) {
        out[0] = k.next(x[0], x[1], x[2], x[3], x[4])
      },
    }
  },
  reading: (out, x) => (x[3] > out[0] ? 'bullish' : x[3] < out[0] ? 'bearish' : 'neutral'),
}

/** Volume-weighted mean of a price over the last `per` rows; the plain mean when the window has no volume */
class WeightedMeanKernel {
  private readonly pv: WindowSum
  private readonly vol: WindowSum
  private readonly price: WindowSum
  constructor(private readonly per: number) {
    this.pv = new WindowSum(per)
    this.vol = new WindowSum(per)
    this.price = new WindowSum(per)
  }
  next(price: number, v: number): number {
    this.pv.push(price * v)
    this.vol.push(v)
    this.price.push(price)
    if (!this.vol.full) return NaN
    return this.vol.sum !== 0 ? this.pv.sum / this.vol.sum : this.price.sum / this.per
  }
}

/**
 * WeightedMeanKernel's batch loop in a kernel run chunk by chunk: its three WindowSums, which fill and wrap
 * together, as one ring position and count and three rings, sums and counts of non-zero values in local variables
 * while a chunk runs, each step WindowSum.push's in its order. `out` may be `price` (row i is read before written)
 */
class WeightedMeanRows implements ChunkedKernel {
  private readonly ringPv: Float64Array
  private readonly ringV: Float64Array
  private readonly ringP: Float64Array
  private head = 0
  private count = 0
  private sumPv = 0
  private sumV = 0
  private sumP = 0
  private nzPv = 0
  private nzV = 0
  private nzP = 0
  constructor(
    private readonly price: Float64Array,
    private readonly volume: Float64Array,
    private readonly out: Float64Array,
    private readonly per: number,
  ) {
    this.ringPv = new Float64Array(per)
    this.ringV = new Float64Array(per)
    this.ringP = new Float64Array(per)
  }
  run(from: number, to: number): void {
    const { price, volume, out, per, ringPv, ringV, ringP } = this
    let { head, count, sumPv, sumV, sumP, nzPv, nzV, nzP } = this
    for (let i = from; i < to; i++) {
      const p = price[i]
      const v = volume[i]
      const pv = p * v
      if (count === per) {
        const a = ringPv[head]
        const b = ringV[head]
        const c = ringP[head]
        sumPv -= a
        if (a !== 0) nzPv--
        sumV -= b
        if (b !== 0) nzV--
        sumP -= c
        if (c !== 0) nzP--
      } else count++
      ringPv[head] = pv
      ringV[head] = v
      ringP[head] = p
      head = head + 1 === per ? 0 : head + 1
      sumPv += pv
      if (pv !== 0) nzPv++
      if (nzPv === 0) sumPv = 0
      sumV += v
      if (v !== 0) nzV++
      if (nzV === 0) sumV = 0
      sumP += p
      if (p !== 0) nzP++
      if (nzP === 0) sumP = 0
      out[i] = count < per ? NaN : sumV !== 0 ? sumPv / sumV : sumP / per
    }
    this.head = head
    this.count = count
    this.sumPv = sumPv
    this.sumV = sumV
    this.sumP = sumP
    this.nzPv = nzPv
    this.nzV = nzV
    this.nzP = nzP
  }
}

/** Rolling VWAP over the last N rows */
export const vwapRolling: IndicatorDef = {
  id: 'vwap_rolling',
  name: 'Rolling VWAP',
  category: 'volume',
  source: 'bars',
  inputs: hlcv,
  params: [periodParam(20)],
  outputs: ['vwap_rolling'],
  notes:
    'Not in TA-Lib. Sum of typical price (h+l+c)/3 x volume over volume for the last timePeriod rows (running sums); ' +
    'the mean typical price when the window has no volume. Close above reads bullish.',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const { high, low, close, volume } = input
    const n = close.length
    const out = output(n, 0)
    // The typical prices first, replaced row by row by the means
    for (let i = 0; i < n; i++) out[i] = (high[i] + low[i] + close[i]) / 3
    inChunks(new WeightedMeanRows(out, volume, out, p.timePeriod), 0, n)
    return [out]
  },
  stream(p) {
    const out = nans(1)
    const k = new WeightedMeanKernel(p.timePeriod)
    return {
      out,
      update(x) {
        out[0] = k.next((x[0] + x[1] + x[2]) / 3, x[3])
      },
    }
  },
  reading: (out, x) => (x[2] > out[0] ? 'bullish' : x[2] < out[0] ? 'bearish' : 'neutral'),
}

/**
 * Volume profile of the last `per` bars: each bar's volume goes to the bin of its typical price among `bins` equal
 * bins between the window's lowest low and highest high; POC = fullest bin, value area grown from it as in Market
 * Profile. O(per + bins) per row, no allocation. The window's low and high come from rolling extremes, and each
 * bar's bin is kept: bins depend only on the bar and the window's low and high, so they are recomputed only on
 * rows where one of those changed (about a quarter of real 1m rows with the defaults). Each bin's volume is the sum
 * of its bars' volumes from 0, oldest first; each bin also keeps its bars as a queue in window order, so that on the
 * other rows only the bin of the bar that left is summed again, over its own bars
 */
export class VolumeProfileKernel {
  private readonly tp: Float64Array
  private readonly vol: Float64Array
  /** Bin of each slot's bar for the window low and high in `binLow` and `binHigh` */
  private readonly bin: Int32Array
  /**
   * Each bin's bars as a queue in window order: `after[j]` is the slot of the next newer bar in slot j's bin (-1 for
   * the newest), and `after[per + k]` the oldest bar of bin k (-1 when empty), so that appending needs no branch on an
   * empty bin; `last[k]` is bin k's newest bar, or per + k when empty
   */
  private readonly after: Int32Array
  private readonly last: Int32Array
  /**
   * Whether the queues hold the latest window. A row whose window low or high moved rebins every bar and leaves them
   * to be built on the next row that needs them: over half of those rows are followed by another such row
   */
  private queued = false
  private readonly hist: Float64Array
  private readonly maxHigh: RollingMax
  private readonly minLow: RollingMin
  private binLow = NaN
  private binHigh = NaN
  private head = 0
  private count = 0
  /** The fullest bin of the latest window */
  private pocBin = 0
  /**
   * The window's volume kept as a running sum (add the new bar's, subtract the leaving bar's), and a bound on its
   * distance from the exact sum: enough to settle most of the value area's compares against `area` x total without
   * summing the window again (see `next`)
   */
  private running = 0
  private runningErr = 0
  /** Rows left until a negative volume (for which the bounds below do not hold) has left the window */
  private signedRows = 0
  poc = NaN
  vah = NaN
  val = NaN
  constructor(
    private readonly per: number,
    private readonly bins: number,
    private readonly area: number,
  ) {
    this.tp = new Float64Array(per)
    this.vol = new Float64Array(per)
    this.bin = new Int32Array(per)
    this.after = new Int32Array(per + bins)
    this.last = new Int32Array(bins)
    this.hist = new Float64Array(bins)
    this.maxHigh = new RollingMax(per)
    this.minLow = new RollingMin(per)
  }
  /** Bin volumes of the latest window (valid after `next` returned true) */
  get histogram(): Float64Array {
    return this.hist
  }
  /** Bin of a typical price for the window [low, low + span] */
  private binOf(tp: number, low: number, span: number): number {
    if (!(span > 0)) return 0
    const bins = this.bins
    const x = ((tp - low) / span) * bins
    // floor(x) clamped to the bins: rounding can put a typical price a hair outside [low, high]. Compares rather
    // than Math.floor/min/max, which V8 compiles with NaN and -0 checks; a NaN (only from overflowing prices)
    // goes to bin 0, as storing NaN into the Int32Array `bin` does
    return x < bins ? (x > 0 ? x | 0 : 0) : x >= bins ? bins - 1 : 0
  }
  /** Builds every bin's queue from the bars' bins, oldest bar (slot `head`) first */
  private enqueueAll(head: number): void {
    const { per, bins, bin, last, after } = this
    // Loops rather than fill(), whose builtin call costs more than filling a few dozen values
    for (let k = 0; k < bins; k++) {
      last[k] = per + k
      after[per + k] = -1
    }
    for (let j = head, n = 0; n < per; n++, j = j + 1 === per ? 0 : j + 1) this.enqueue(j, bin[j])
    this.queued = true
  }
  /** Appends the bar in slot `j` to its bin's queue as the bin's newest bar */
  private enqueue(j: number, k: number): void {
    const after = this.after
    after[j] = -1
    after[this.last[k]] = j
    this.last[k] = j
  }
  /** Sum of the window's volumes from 0, oldest bar (slot `head`) first */
  private windowSum(head: number): number {
    const vol = this.vol
    let s = 0
    for (let j = head; j < this.per; j++) s += vol[j]
    for (let j = 0; j < head; j++) s += vol[j]
    return s
  }
  /** Sum of bin k's volumes from 0, oldest bar first */
  private sumOf(k: number): number {
    const vol = this.vol
    const after = this.after
    let s = 0
    for (let j = after[this.per + k]; j >= 0; j = after[j]) s += vol[j]
    return s
  }
  /** Whether bin a is fuller than bin b: more volume, then nearer the middle of the range, then the lower one */
  private beats(a: number, b: number): boolean {
    const ha = this.hist[a]
    const hb = this.hist[b]
    if (ha !== hb) return ha > hb
    const mid = (this.bins - 1) / 2
    const da = Math.abs(a - mid)
    const db = Math.abs(b - mid)
    return da !== db ? da < db : a < b
  }
  /** The fullest bin, scanning them all */
  private fullest(): number {
    const hist = this.hist
    const bins = this.bins
    // Ties go to the bin nearest the middle of the range, then to the lower one
    const mid = (bins - 1) / 2
    let poc = 0
    let best = hist[0]
    for (let b = 1; b < bins; b++) {
      const hb = hist[b]
      if (hb > best || (hb === best && Math.abs(b - mid) < Math.abs(poc - mid))) {
        poc = b
        best = hb
      }
    }
    return poc
  }
  next(h: number, l: number, c: number, v: number): boolean {
    const per = this.per
    const at = this.head
    const tpv = (h + l + c) / 3
    const leaving = this.vol[at]
    this.tp[at] = tpv
    this.vol[at] = v
    if (v < 0) this.signedRows = per
    else if (this.signedRows > 0) this.signedRows--
    const head = at + 1 === per ? 0 : at + 1
    this.head = head
    const high = this.maxHigh.push(h)
    const low = this.minLow.push(l)
    if (this.count < per && ++this.count < per) return false

    const bins = this.bins
    const hist = this.hist
    const bin = this.bin
    const vol = this.vol
    const span = high - low
    // Every sum runs oldest first (from `head` round to `at`), so every run adds the same volumes in the same order.
    // `total` is that sum over the window when `exact`
    let total = 0
    let exact = true
    let poc: number
    if (low !== this.binLow || high !== this.binHigh) {
      const tp = this.tp
      this.binLow = low
      this.binHigh = high
      // A loop rather than fill(), whose builtin call costs more than filling a few dozen values
      for (let k = 0; k < bins; k++) hist[k] = 0
      // Each bar's bin from one multiply by bins / span rather than binOf's divide. That rounds differently, but
      // both are within 2^-51 of the exact ((tp - low) / span) x bins (two roundings of 2^-53 each), so when the
      // product is further than 4 EPSILON of itself from an integer and from the edges, both lie between the same
      // two integers, and the bin is the same; only the rare rest (and a range without width) take binOf
      const scale = span > 0 ? bins / span : 0
      for (let j = head, n = 0; n < per; n++, j = j + 1 === per ? 0 : j + 1) {
        const y = (tp[j] - low) * scale
        const yi = y | 0
        const frac = y - yi
        const margin = 4 * Number.EPSILON * y
        const k = y > margin && y < bins - margin && frac > margin && frac < 1 - margin ? yi : this.binOf(tp[j], low, span)
        const u = vol[j]
        bin[j] = k
        hist[k] += u
        total += u
      }
      this.queued = false
      this.running = total
      this.runningErr = 0
      poc = this.fullest()
    } else {
      // Same low and high as the previous row, so every other bar keeps its bin and every other bin its sum. The bar
      // that left was the oldest of its bin: it leaves the front of that bin's queue, whose sum is taken again. The
      // bar that came is the newest of its bin, so adding it to that bin's sum is the next step of the same sum
      const p = this.pocBin
      const pocBefore = hist[p]
      const left = bin[at]
      const came = this.binOf(tpv, low, span)
      bin[at] = came
      if (this.queued) {
        const after = this.after
        const next = after[at]
        after[per + left] = next
        if (next < 0) this.last[left] = per + left
        this.enqueue(at, came)
      } else this.enqueueAll(head)
      if (came !== left) hist[came] += v
      hist[left] = this.sumOf(left)
      // The running sum and its error bound: each of its two roundings is off by at most 2^-53 of its result, and
      // the bound gains twice that (Number.EPSILON = 2^-52), times 1 + 4 EPSILON for the rounding of its own sum
      const a = this.running + v
      const t = a - leaving
      this.running = t
      this.runningErr = (this.runningErr + (Math.abs(a) + Math.abs(t)) * Number.EPSILON) * (1 + 4 * Number.EPSILON)
      if (this.signedRows > 0) total = this.windowSum(head)
      else exact = false
      // Only `left` and `came` changed: while the previous fullest bin kept or grew its volume it still beats every
      // other bin, so the fullest is the best of it and those two; otherwise (or on a NaN sum) all bins are scanned
      const changed = hist[left] + hist[came]
      if (hist[p] >= pocBefore && changed === changed) {
        poc = p
        if (this.beats(left, poc)) poc = left
        if (this.beats(came, poc)) poc = came
      } else poc = this.fullest()
    }
    this.pocBin = poc

    // Value area: from the POC, add whichever of the next two bins above or the next two below holds more volume
    // (upwards on a tie) until it holds `area` of the window's volume: while acc < area x total. Without the exact
    // total, the running one brackets it: the exact sum S of the window's volumes is within runningErr of the
    // running sum, and the oldest-first sum within (per - 1) x 2^-53 x S of S (all volumes >= 0, as `signedRows`
    // ensures); with twice those margins and a little more for the roundings of the bracket itself, area x the
    // bracket's ends (a product that never decreases as its factor grows) bracket area x total. Only a compare that
    // falls between them takes the exact total; a NaN or an infinity in the running sum always does
    let target = this.area * total
    let tLo = target
    let tHi = target
    if (!exact) {
      const run = this.running
      const err = this.runningErr
      const d = 2 * (err + per * Number.EPSILON * (run + err)) + 4 * Number.EPSILON * Math.abs(run)
      tLo = this.area * (run - d)
      tHi = this.area * (run + d)
    }
    let lo = poc
    let hi = poc
    let acc = hist[poc]
    for (;;) {
      let under: boolean
      if (exact) under = acc < target
      else if (acc < tLo) under = true
      else if (acc >= tHi) under = false
      else {
        total = this.windowSum(head)
        this.running = total
        this.runningErr = 0
        target = this.area * total
        exact = true
        under = acc < target
      }
      if (!under || !(lo > 0 || hi < bins - 1)) break
      // A side with no bins left is never chosen: -Infinity rather than -1, which a pair of bins with negative
      // volume (only in bad data) could fall below, and which then never moved hi or lo again
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
    this.poc = low + (poc + 0.5) * w
    this.vah = hi === bins - 1 ? high : low + (hi + 1) * w
    this.val = lo === 0 ? low : low + lo * w
    return true
  }
}

/** Rolling volume profile: point of control and value area */
export const volumeProfile: IndicatorDef = {
  id: 'volume_profile',
  name: 'Volume Profile',
  category: 'volume',
  source: 'bars',
  inputs: hlcv,
  params: [
    periodParam(60, 2, 5000),
    param('bins', 24, 2, 500, 'number of equal price bins between the window low and high', { integer: true }),
    param('valueArea', 0.7, 0.1, 1, 'share of the window volume inside the value area', { step: 0.05, integer: false }),
  ],
  outputs: ['poc', 'vah', 'val'],
  notes:
    'Not in TA-Lib. Last timePeriod rows, `bins` equal bins from the lowest low to the highest high; each bar\'s whole ' +
    'volume goes to the bin of its typical price (not spread over its range). poc = centre of the fullest bin (tie: ' +
    'nearest the middle), vah/val = edges of the value area grown from the POC by the larger pair of next two bins ' +
    'above/below (up on a tie) to >= valueArea of the volume, as in Market Profile. Streaming is O(timePeriod + bins) ' +
    'per row, not O(1). Close above vah reads bullish, below val bearish.',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const { high, low, close, volume } = input
    const n = close.length
    // The kernel has values exactly from row timePeriod-1 on, so every later row is written
    const poc = output(n, p.timePeriod - 1)
    const vah = output(n, p.timePeriod - 1)
    const val = output(n, p.timePeriod - 1)
    const result = [poc, vah, val]
    const k = new VolumeProfileKernel(p.timePeriod, p.bins, p.valueArea)
    for (let i = 0; i < n; i++) {
      if (!k.next(high[i], low[i], close[i], volume[i])) continue
      poc[i] = k.poc
      vah[i] = k.vah
      val[i] = k.val
    }
    return result
  },
  stream(p) {
    const out = nans(3)
    const k = new VolumeProfileKernel(p.timePeriod, p.bins, p.valueArea)
    return {
      out,
      update(x) {
        if (!k.next(x[0], x[1], x[2], x[3])) return
        out[0] = k.poc
        out[1] = k.vah
        out[2] = k.val
      },
    }
  },
  reading: (out, x) => (x[2] > out[1] ? 'bullish' : x[2] < out[2] ? 'bearish' : 'neutral'),
}

/** Force index of one row: TA_EMA-style EMA of (close - prev close) x volume */
class ForceIndexKernel {
  private readonly ema: EmaKernel
  private prev = NaN
  private i = 0
  constructor(per: number) {
    this.ema = new EmaKernel(per)
  }
  next(c: number, v: number): number {
    const pc = this.prev
    this.prev = c
    if (this.i === 0) {
      this.i = 1
      return NaN
    }
    return this.ema.next((c - pc) * v)
  }
}

/** Elder's Force Index */
export const forceIndex: IndicatorDef = {
  id: 'force_index',
  name: 'Force Index',
  category: 'volume',
  source: 'bars',
  inputs: ['close', 'volume'],
  params: [periodParam(13, 1)],
  outputs: ['force_index'],
  notes:
    'Not in TA-Lib. EMA(timePeriod) of (close - prev close) x volume from row 1, the EMA seeded like TA_EMA with the ' +
    'mean of the first timePeriod raw values (k = 2/(n+1)), so the warm-up is timePeriod rows. Positive reads bullish.',
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    const { close, volume } = input
    const n = close.length
    const out = output(n, 0)
    const result = [out]
    const k = new ForceIndexKernel(p.timePeriod)
    for (let i = 0; i < n; i++) out[i] = k.next(close[i], volume[i])
    return result
  },
  stream(p) {
    const out = nans(1)
    const k = new ForceIndexKernel(p.timePeriod)
    return {
      out,
      update(x) {
        out[0] = k.next(x[0], x[1])
      },
    }
  },
  reading: (out) => signReading(out[0]),
}

/** Ease of movement of one row: windowed mean of Arms' one-bar EMV */
class EomKernel {
  private readonly s: WindowSum
  private prevMid = NaN
  private i = 0
  constructor(
    private readonly per: number,
    private readonly divisor: number,
  ) {
    this.s = new WindowSum(per)
  }
  next(h: number, l: number, v: number): number {
    const mid = (h + l) / 2
    const prevMid = this.prevMid
    this.prevMid = mid
    if (this.i === 0) {
      this.i = 1
      return NaN
    }
    const range = h - l
    // Box ratio = (volume / divisor) / range; no range or no volume means no measurable effort, so 0
    const emv = range > 0 && v > 0 ? (mid - prevMid) / (v / this.divisor / range) : 0
    this.s.push(emv)
    return this.s.full ? this.s.sum / this.per : NaN
  }
}

/** Arms' Ease of Movement */
export const eom: IndicatorDef = {
  id: 'eom',
  name: 'Ease of Movement',
  category: 'volume',
  source: 'bars',
  inputs: ['high', 'low', 'volume'],
  params: [periodParam(14, 1), param('divisor', 1e8, 1, 1e12, 'volume divisor of the box ratio', { step: 1, integer: false })],
  outputs: ['eom'],
  notes:
    'Not in TA-Lib. Simple mean over timePeriod rows of ((h+l)/2 - (prev h + prev l)/2) / ((volume/divisor)/(h-l)), ' +
    'a bar without range or volume counting 0; divisor 1e8 as StockCharts. Positive reads bullish.',
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    const { high, low, volume } = input
    const n = high.length
    const out = output(n, 0)
    const result = [out]
    const k = new EomKernel(p.timePeriod, p.divisor)
    for (let i = 0; i < n; i++) out[i] = k.next(high[i], low[i], volume[i])
    return result
  },
  stream(p) {
    const out = nans(1)
    const k = new EomKernel(p.timePeriod, p.divisor)
    return {
      out,
      update(x) {
        out[0] = k.next(x[0], x[1], x[2])
      },
    }
  },
  reading: (out) => signReading(out[0]),
}

/** Volume-Weighted Moving Average */
export const vwma: IndicatorDef = {
  id: 'vwma',
  name: 'Volume-Weighted Moving Average',
  category: 'volume',
  source: 'bars',
  inputs: ['close', 'volume'],
  params: [periodParam(20)],
  outputs: ['vwma'],
  notes:
    'Not in TA-Lib. Sum of close x volume over volume for the last timePeriod rows (running sums); the simple mean of ' +
    'the closes when the window has no volume. Close above reads bullish.',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const { close, volume } = input
    const n = close.length
    const out = output(n, 0)
    inChunks(new WeightedMeanRows(close, volume, out, p.timePeriod), 0, n)
    return [out]
  },
  stream(p) {
    const out = nans(1)
    const k = new WeightedMeanKernel(p.timePeriod)
    return {
      out,
      update(x) {
        out[0] = k.next(x[0], x[1])
      },
    }
  },
  reading: (out, x) => (x[0] > out[0] ? 'bullish' : x[0] < out[0] ? 'bearish' : 'neutral'),
}

/** PVT increment: volume x relative close change, 0 after a zero close */
const pvtStep = (c: number, pc: number, v: number) => (pc !== 0 ? ((c - pc) / pc) * v : 0)

class PvtStream implements Stream {
  readonly out = nans(1)
  private total = 0
  private prev = NaN
  update(x: Float64Array): void {
    if (this.prev === this.prev) this.total += pvtStep(x[0], this.prev, x[1])
    this.prev = x[0]
    this.out[0] = this.total
  }
}

/** Price-Volume Trend */
export const pvt: IndicatorDef = {
  id: 'pvt',
  name: 'Price-Volume Trend',
  category: 'volume',
  source: 'bars',
  inputs: ['close', 'volume'],
  params: [],
  outputs: ['pvt'],
  notes:
    'Not in TA-Lib. Running total from 0 at row 0 of volume x (close - prev close) / prev close. No reading: the ' +
    'direction is the slope.',
  lookback: () => 0,
  batch(input) {
    const { close, volume } = input
    const n = close.length
    const out = output(n, 0)
    const result = [out]
    let total = 0
    if (n > 0) out[0] = total
    for (let i = 1; i < n; i++) {
      total += pvtStep(close[i], close[i - 1], volume[i])
      out[i] = total
    }
    return result
  },
  stream: () => new PvtStream(),
}

export const VOLUME: readonly IndicatorDef[] = [
  obv,
  ad,
  adosc,
  cmf,
  vwapSession,
  vwapRolling,
  volumeProfile,
  forceIndex,
  eom,
  vwma,
  pvt,
]
