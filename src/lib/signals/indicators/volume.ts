// Volume indicators: TA-Lib's OBV and Chaikin family, money flow, VWAPs, volume profile and volume-weighted trends
//
// Batch loops and streams share the small kernels below, so both forms run the same arithmetic in the same order.
// Batch outputs are written once per row (`output` leaves only the warm-up prefix NaN); streams whose state is a
// running number are classes, whose fields V8 updates in place where variables captured by a closure are boxed
import { param, type IndicatorDef, type Params, type Stream } from '../types.js'
import { inChunks, nans, output, RollingMax, RollingMin, type ChunkedKernel } from '../util.js'
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

/** TA_OBV's running total in a kernel run chunk by chunk */
class ObvRows implements ChunkedKernel {
  private total: number
  private prev: number
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
    let { total, prev } = this
    // Adding the volume or 0, then subtracting it or 0, is the arithmetic of the stream's branches (x + 0 and x - 0
    // are x, the total starting from a volume and never being -0) without an unpredictable jump per close
    for (let i = from; i < to; i++) {
      const c = close[i]
      const v = volume[i]
      const up = c > prev ? v : 0
      const down = c < prev ? v : 0
      total = total + up - down
      out[i] = total
      prev = c
    }
    this.total = total
    this.prev = prev
  }
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
    const { close, volume } = input
    const n = close.length
    const out = output(n, 0)
    const result = [out]
    if (n === 0) return result
    inChunks(new ObvRows(close, volume, out), 0, n)
    return result
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

/** TA_AD's running total in a kernel run chunk by chunk */
class AdRows implements ChunkedKernel {
  private total = 0
  constructor(
    private readonly high: Float64Array,
    private readonly low: Float64Array,
    private readonly close: Float64Array,
    private readonly volume: Float64Array,
    private readonly out: Float64Array,
  ) {}
  run(from: number, to: number): void {
    const { high, low, close, volume, out } = this
    let total = this.total
    // Four rows at a time (the divisions do not depend on each other, only the running total does), adding in
    // row order; the rows left over go first, so that the first chunk runs that code too
    let i = from
    for (const head = from + ((to - from) & 3); i < head; i++) {
      total += moneyFlowVolume(high[i], low[i], close[i], volume[i])
      out[i] = total
    }
    for (; i < to; i += 4) {
      const m0 = moneyFlowVolume(high[i], low[i], close[i], volume[i])
      const m1 = moneyFlowVolume(high[i + 1], low[i + 1], close[i + 1], volume[i + 1])
      const m2 = moneyFlowVolume(high[i + 2], low[i + 2], close[i + 2], volume[i + 2])
      const m3 = moneyFlowVolume(high[i + 3], low[i + 3], close[i + 3], volume[i + 3])
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
  }
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
    const { high, low, close, volume } = input
    const n = close.length
    const out = output(n, 0)
    const result = [out]
    inChunks(new AdRows(high, low, close, volume, out), 0, n)
    return result
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

/** TA_ADOSC's rows after the warm-up in a kernel run chunk by chunk, the running total and EMAs in locals */
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
  ) {}
  run(from: number, to: number): void {
    const { high, low, close, volume, out, fastK, fastK1, slowK, slowK1 } = this
    let { total, fast, slow } = this
    let i = from
    // A row left over goes first, so that the first chunk runs that code too
    if ((to - from) % 2 === 1) {
      total += moneyFlowVolume(high[i], low[i], close[i], volume[i])
      fast = fastK * total + fastK1 * fast
      slow = slowK * total + slowK1 * slow
      out[i] = fast - slow
      i++
    }
    for (; i < to; i += 2) {
      const m0 = moneyFlowVolume(high[i], low[i], close[i], volume[i])
      const m1 = moneyFlowVolume(high[i + 1], low[i + 1], close[i + 1], volume[i + 1])
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
  }
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
    const { high, low, close, volume } = input
    const n = close.length
    const lb = Math.max(p.fastPeriod, p.slowPeriod) - 1
    const out = output(n, lb)
    const result = [out]
    if (n === 0) return result
    // AdoscKernel's arithmetic with the state in local variables rather than fields
    const fastK = 2 / (p.fastPeriod + 1)
    const fastK1 = 1 - fastK
    const slowK = 2 / (p.slowPeriod + 1)
    const slowK1 = 1 - slowK
    let total = 0
    total += moneyFlowVolume(high[0], low[0], close[0], volume[0])
    let fast = total
    let slow = total
    // The warm-up rows, then the rest two at a time: the money flows first (their divisions do not depend on each
    // other), then the running total and the EMAs in row order, as in the one-row loop
    let i = 1
    for (const end = Math.min(lb, n); i < end; i++) {
      total += moneyFlowVolume(high[i], low[i], close[i], volume[i])
      fast = fastK * total + fastK1 * fast
      slow = slowK * total + slowK1 * slow
    }
    inChunks(new AdoscRows(high, low, close, volume, out, fastK, fastK1, slowK, slowK1, total, fast, slow), i, n)
    return result
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
    const result = [out]
    const k = new CmfKernel(p.timePeriod)
    for (let i = 0; i < n; i++) out[i] = k.next(high[i], low[i], close[i], volume[i])
    return result
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
    const result = [out]
    const k = new WeightedMeanKernel(p.timePeriod)
    for (let i = 0; i < n; i++) out[i] = k.next((high[i] + low[i] + close[i]) / 3, volume[i])
    return result
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
 * rows where one of those changed (about a quarter of real 1m rows with the defaults)
 */
export class VolumeProfileKernel {
  private readonly tp: Float64Array
  private readonly vol: Float64Array
  /** Bin of each slot's bar for the window low and high in `binLow` and `binHigh` */
  private readonly bin: Int32Array
  private readonly hist: Float64Array
  private readonly maxHigh: RollingMax
  private readonly minLow: RollingMin
  private binLow = NaN
  private binHigh = NaN
  private head = 0
  private count = 0
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
    // Rounding can put a typical price a hair outside [low, high]: clamp to the edge bins
    return span > 0 ? Math.min(this.bins - 1, Math.max(0, Math.floor(((tp - low) / span) * this.bins))) : 0
  }
  next(h: number, l: number, c: number, v: number): boolean {
    const per = this.per
    const at = this.head
    const tpv = (h + l + c) / 3
    this.tp[at] = tpv
    this.vol[at] = v
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
    // Every sum runs oldest first (from `head` round to `at`), so every run adds the same volumes in the same order
    let total = 0
    if (low !== this.binLow || high !== this.binHigh) {
      const tp = this.tp
      for (let j = 0; j < per; j++) bin[j] = this.binOf(tp[j], low, span)
      this.binLow = low
      this.binHigh = high
      hist.fill(0)
      for (let j = head; j < per; j++) {
        hist[bin[j]] += vol[j]
        total += vol[j]
      }
      for (let j = 0; j < head; j++) {
        hist[bin[j]] += vol[j]
        total += vol[j]
      }
    } else {
      // Same low and high as the previous row, so every other bar keeps its bin. Only the bins of the bar that left
      // and of the bar that came in change members; every other bin sums the same volumes in the same order and
      // keeps its value. The two are summed again from 0 over their members, adding 0 for the other bars, which
      // leaves a sum that starts at +0 unchanged
      const left = bin[at]
      const came = this.binOf(tpv, low, span)
      bin[at] = came
      let a = 0
      let b = 0
      for (let j = head; j < per; j++) {
        const v = vol[j]
        const k = bin[j]
        a += k === left ? v : 0
        b += k === came ? v : 0
        total += v
      }
      for (let j = 0; j < head; j++) {
        const v = vol[j]
        const k = bin[j]
        a += k === left ? v : 0
        b += k === came ? v : 0
        total += v
      }
      hist[left] = a
      hist[came] = b
    }

    // POC: fullest bin; ties go to the bin nearest the middle of the range, then to the lower one
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

    // Value area: from the POC, add whichever of the next two bins above or the next two below holds more volume
    // (upwards on a tie) until it holds `area` of the window's volume
    const target = this.area * total
    let lo = poc
    let hi = poc
    let acc = hist[poc]
    while (acc < target && (lo > 0 || hi < bins - 1)) {
      const up = hi < bins - 1 ? hist[hi + 1] + (hi + 2 < bins ? hist[hi + 2] : 0) : -1
      const down = lo > 0 ? hist[lo - 1] + (lo - 2 >= 0 ? hist[lo - 2] : 0) : -1
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
    const result = [out]
    const k = new WeightedMeanKernel(p.timePeriod)
    for (let i = 0; i < n; i++) out[i] = k.next(close[i], volume[i])
    return result
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
