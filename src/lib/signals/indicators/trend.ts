// Moving averages and trend indicators
//
// Every batch form is its own loop over the input columns and writes each output row once (the warm-up prefix is
// NaN from `output`); a loop shared by several indicators would make its calls into them megamorphic. Streams are
// classes, whose numeric fields V8 updates in place where variables captured by a closure would be boxed on each
// write. Both forms run the same arithmetic in the same order, which is what makes their values bit-identical
import { param, type Columns, type IndicatorDef, type Params, type Reading, type Stream } from '../types.js'
import { argMax, argMin, ifFinite, inChunks, nans, output, pow2, RollingMax, RollingMin, SeededEma, type ChunkedKernel } from '../util.js'

export const timePeriod = (def: number, min = 2, max = 1000) =>
  param('timePeriod', def, min, max, 'number of rows in the window', { integer: true })

/** TA_SMA's stream: the running total over a ring of the last `per` closes */
class SmaStream implements Stream {
  readonly out = nans(1)
  private readonly buf: Float64Array
  private slot = 0
  private seen = 0
  private total = 0
  constructor(private readonly per: number) {
    this.buf = new Float64Array(per)
  }
  update(x: Float64Array): void {
    const v = x[0]
    const per = this.per
    const slot = this.slot
    this.buf[slot] = v
    this.total += v
    // The slot after the newest holds the oldest close of a full window
    const next = slot + 1 === per ? 0 : slot + 1
    this.slot = next
    if (this.seen < per - 1) {
      this.seen++
      return
    }
    this.out[0] = this.total / per
    this.total -= this.buf[next]
  }
}

/**
 * TA_SMA into `out` from row per-1 on. Returns the running total at the end, which is its check: every value is
 * added to it, and once a NaN or an infinity is it stays non-finite (an infinity leaving the window leaves
 * Infinity - Infinity, NaN)
 */
export function smaRows(x: Float64Array, per: number, out: Float64Array): number {
  const n = x.length
  let total = 0
  let i = 0
  for (const end = Math.min(per - 1, n); i < end; i++) total += x[i]
  for (let j = 0; i < n; i++, j++) {
    total += x[i]
    out[i] = total / per
    total -= x[j]
  }
  return total
}

/** Simple moving average (TA_SMA). */
export const sma: IndicatorDef = {
  id: 'sma',
  name: 'Simple Moving Average',
  category: 'trend',
  source: 'bars',
  inputs: ['close'],
  params: [timePeriod(30)],
  outputs: ['sma'],
  talib: 'TA_SMA',
  notes: 'Arithmetic mean of the last `period` closes, with TA-Lib\'s running total (add the new value, emit, drop the oldest).',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const out = output(input.close.length, p.timePeriod - 1)
    smaRows(input.close, p.timePeriod, out)
    return [out]
  },
  batchIfFinite(input, p) {
    const out = output(input.close.length, p.timePeriod - 1)
    return ifFinite([out], smaRows(input.close, p.timePeriod, out))
  },
  stream: (p) => new SmaStream(p.timePeriod),
  reading: (out, x) => (out[0] < x[0] ? 'bullish' : out[0] > x[0] ? 'bearish' : 'neutral'),
}

// Building blocks. Each one is a small state machine fed one row at a time; batch and stream both drive the same
// machine (or, where the batch loop reads the window straight from the input, the same arithmetic), which is what
// makes their values bit-identical. None allocates after construction

/** TA-Lib's TA_IS_ZERO (TA_EPSILON is 1e-14 in the TA-Lib this follows) */
const isZero = (v: number) => v > -0.00000000000001 && v < 0.00000000000001

/** Price above the line is bullish, below bearish */
const priceVsLine = (out: ArrayLike<number>, x: ArrayLike<number>, o = 0, c = 0): Reading =>
  out[o] < x[c] ? 'bullish' : out[o] > x[c] ? 'bearish' : 'neutral'

/** TA_WMA's running sums: weights 1..period, newest heaviest; period 1 passes values through as TA-Lib does */
class Wma {
  private readonly buf: Float64Array
  private readonly divider: number
  private n = 0
  private slot = 0
  private sum = 0
  private sub = 0
  private trailing = 0
  constructor(private readonly per: number) {
    this.buf = new Float64Array(per)
    this.divider = (per * (per + 1)) >> 1
  }
  push(v: number): number {
    const per = this.per
    if (per === 1) return v
    const slot = this.slot
    this.buf[slot] = v
    // The slot after the newest holds the oldest value of a full window
    const next = slot + 1 === per ? 0 : slot + 1
    this.slot = next
    if (this.n < per - 1) {
      this.sub += v
      this.sum += v * ++this.n
      return NaN
    }
    this.sub += v
    this.sub -= this.trailing
    this.sum += v * per
    this.trailing = this.buf[next]
    const out = this.sum / this.divider
    this.sum -= this.sub
    return out
  }
}

/** Wilder's true range and directional movement smoothing shared by TA_PLUS_DI, TA_MINUS_DI, TA_DX and TA_ADX */
class Directional {
  private n = 0
  private prevHigh = 0
  private prevLow = 0
  private prevClose = 0
  plusDM = 0
  minusDM = 0
  tr = 0
  constructor(private readonly per: number) {}
  /** Feeds one bar; true once the smoothed sums are defined (row `period` onwards) */
  push(high: number, low: number, close: number): boolean {
    const i = this.n
    if (i === 0) {
      this.n = 1
      this.prevHigh = high
      this.prevLow = low
      this.prevClose = close
      return false
    }
    const per = this.per
    const diffP = high - this.prevHigh
    const diffM = this.prevLow - low
    this.prevHigh = high
    this.prevLow = low
    let tr = high - low
    let t2 = Math.abs(high - this.prevClose)
    if (t2 > tr) tr = t2
    t2 = Math.abs(low - this.prevClose)
    if (t2 > tr) tr = t2
    this.prevClose = close
    if (i < per) {
      this.n = i + 1
      // Seed: plain sums over the first period-1 bars
      if (diffM > 0 && diffP < diffM) this.minusDM += diffM
      else if (diffP > 0 && diffP > diffM) this.plusDM += diffP
      this.tr += tr
      return false
    }
    this.minusDM -= this.minusDM / per
    this.plusDM -= this.plusDM / per
    if (diffM > 0 && diffP < diffM) this.minusDM += diffM
    else if (diffP > 0 && diffP > diffM) this.plusDM += diffP
    this.tr = this.tr - this.tr / per + tr
    return true
  }
}

/** TA_ADX's smoothing of DX; value is defined from row 2*period-1 */
class Adx {
  private readonly dm: Directional
  private n = 0
  private sumDX = 0
  value = NaN
  constructor(private readonly per: number) {
    this.dm = new Directional(per)
  }
  push(high: number, low: number, close: number): number {
    const dm = this.dm
    const per = this.per
    if (!dm.push(high, low, close)) return NaN
    const i = this.n
    let dx = NaN
    if (!isZero(dm.tr)) {
      const minusDI = 100 * (dm.minusDM / dm.tr)
      const plusDI = 100 * (dm.plusDM / dm.tr)
      const sum = minusDI + plusDI
      if (!isZero(sum)) dx = 100 * (Math.abs(minusDI - plusDI) / sum)
    }
    // Undefined DX rows are skipped, as TA-Lib does, both in the seed sum and in the smoothing
    if (i < per) {
      this.n = i + 1
      if (dx === dx) this.sumDX += dx
      if (i === per - 1) this.value = this.sumDX / per
      return this.value
    }
    if (dx === dx) this.value = (this.value * (per - 1) + dx) / per
    return this.value
  }
}

/** TA_ATR: true range from row 1, seeded with its simple mean at row `period`, then Wilder smoothing */
class Atr {
  private n = 0
  private prevClose = 0
  private sum = 0
  value = NaN
  constructor(private readonly per: number) {}
  push(high: number, low: number, close: number): number {
    const i = this.n
    const prevClose = this.prevClose
    this.prevClose = close
    if (i === 0) {
      this.n = 1
      return NaN
    }
    let tr = high - low
    const v2 = Math.abs(prevClose - high)
    if (v2 > tr) tr = v2
    const v3 = Math.abs(prevClose - low)
    if (v3 > tr) tr = v3
    const per = this.per
    if (i <= per) {
      this.n = i + 1
      this.sum += tr
      if (i === per) this.value = this.sum / per
      return this.value
    }
    let atr = this.value
    atr *= per - 1
    atr += tr
    atr /= per
    this.value = atr
    return atr
  }
}

/** Ring of the last `size` values; `push` returns the value from `size` rows earlier (NaN until there is one) */
class Delay {
  private readonly buf: Float64Array
  private at = 0
  constructor(private readonly size: number) {
    this.buf = nans(size)
  }
  push(v: number): number {
    const at = this.at
    const old = this.buf[at]
    this.buf[at] = v
    this.at = at + 1 === this.size ? 0 : at + 1
    return old
  }
}

/** EMA's stream, the EMA held in fields of the stream itself: EMA is one of the streaming speed targets */
class EmaStream implements Stream {
  readonly out = nans(1)
  private readonly k: number
  private n = 0
  private sum = 0
  private value = NaN
  constructor(private readonly per: number) {
    this.k = 2 / (per + 1)
  }
  update(x: Float64Array): void {
    const v = x[0]
    if (this.n < this.per) {
      this.sum += v
      if (++this.n === this.per) this.value = this.sum / this.per
      this.out[0] = this.value
      return
    }
    this.value = (v - this.value) * this.k + this.value
    this.out[0] = this.value
  }
}

/**
 * TA_EMA into `out` from row per-1 on. Returns a check: the EMA at the end, which every value moves and which a NaN
 * or an infinity leaves non-finite for good (the row after an infinity computes Infinity - Infinity); the sum of
 * the values when there are too few for one
 */
function emaRows(x: Float64Array, per: number, out: Float64Array): number {
  const n = x.length
  let sum = 0
  if (n < per) {
    for (let i = 0; i < n; i++) sum += x[i]
    return sum
  }
  const k = 2 / (per + 1)
  for (let i = 0; i < per; i++) sum += x[i]
  let value = sum / per
  out[per - 1] = value
  for (let i = per; i < n; i++) {
    value = (x[i] - value) * k + value
    out[i] = value
  }
  return value
}

/** Exponential moving average (TA_EMA). */
export const ema: IndicatorDef = {
  id: 'ema',
  name: 'Exponential Moving Average',
  category: 'trend',
  source: 'bars',
  inputs: ['close'],
  params: [timePeriod(30)],
  outputs: ['ema'],
  talib: 'TA_EMA',
  notes:
    'EMA with k = 2/(period+1), seeded as TA-Lib (default compatibility) with the simple mean of the first `period` ' +
    'closes, then prev + k*(close - prev).',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const out = output(input.close.length, p.timePeriod - 1)
    emaRows(input.close, p.timePeriod, out)
    return [out]
  },
  batchIfFinite(input, p) {
    const out = output(input.close.length, p.timePeriod - 1)
    return ifFinite([out], emaRows(input.close, p.timePeriod, out))
  },
  stream: (p) => new EmaStream(p.timePeriod),
  reading: priceVsLine,
}

/** WMA's stream */
class WmaStream implements Stream {
  readonly out = nans(1)
  private readonly w: Wma
  constructor(per: number) {
    this.w = new Wma(per)
  }
  update(x: Float64Array): void {
    this.out[0] = this.w.push(x[0])
  }
}

/**
 * TA_WMA into `out` from row per-1 on. Returns a check: the plain running sum at the end, to which every value is
 * added (and from which it is later taken), non-finite for good once a value is not finite, as SMA's total
 */
function wmaRows(x: Float64Array, per: number, out: Float64Array): number {
  const n = x.length
  let sub = 0
  if (per === 1) {
    out.set(x)
    for (let i = 0; i < n; i++) sub += x[i] * 0
    return sub
  }
  // Wma's running sums with the window read straight from the input
  const divider = (per * (per + 1)) >> 1
  let sum = 0
  const seed = Math.min(per - 1, n)
  for (let i = 0; i < seed; i++) {
    const v = x[i]
    sub += v
    sum += v * (i + 1)
  }
  // The value leaving the window is 0 before the first full one
  const k = new WmaRows(x, out, per, divider, sum, sub, 0)
  inChunks(k, per - 1, n)
  return k.sub
}

/** Linearly weighted moving average (TA_WMA). */
export const wma: IndicatorDef = {
  id: 'wma',
  name: 'Weighted Moving Average',
  category: 'trend',
  source: 'bars',
  inputs: ['close'],
  params: [timePeriod(30)],
  outputs: ['wma'],
  talib: 'TA_WMA',
  notes:
    'Weights 1..period (newest heaviest) divided by period*(period+1)/2, with TA-Lib\'s running weighted and plain ' +
    'sums updated per row.',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const out = output(input.close.length, p.timePeriod - 1)
    wmaRows(input.close, p.timePeriod, out)
    return [out]
  },
  batchIfFinite(input, p) {
    const out = output(input.close.length, p.timePeriod - 1)
    return ifFinite([out], wmaRows(input.close, p.timePeriod, out))
  },
  stream: (p) => new WmaStream(p.timePeriod),
  reading: priceVsLine,
}

/** TA_WMA's rows once the window is full, in a kernel run chunk by chunk */
class WmaRows implements ChunkedKernel {
  constructor(
    private readonly x: Float64Array,
    private readonly out: Float64Array,
    private readonly per: number,
    private readonly divider: number,
    private sum: number,
    public sub: number,
    private trailing: number,
  ) {}
  run(from: number, to: number): void {
    const { x, out, per, divider } = this
    let { sum, sub, trailing } = this
    for (let i = from; i < to; i++) {
      const v = x[i]
      sub += v
      sub -= trailing
      sum += v * per
      trailing = x[i - per + 1]
      out[i] = sum / divider
      sum -= sub
    }
    this.sum = sum
    this.sub = sub
    this.trailing = trailing
  }
}

/** DEMA's stream */
class DemaStream implements Stream {
  readonly out = nans(1)
  private readonly e1: SeededEma
  private readonly e2: SeededEma
  constructor(per: number) {
    this.e1 = new SeededEma(per)
    this.e2 = new SeededEma(per)
  }
  update(x: Float64Array): void {
    const a = this.e1.push(x[0])
    if (a !== a) {
      this.out[0] = NaN
      return
    }
    const b = this.e2.push(a)
    this.out[0] = 2 * a - b
  }
}

/** Double exponential moving average (TA_DEMA). */
export const dema: IndicatorDef = {
  id: 'dema',
  name: 'Double Exponential Moving Average',
  category: 'trend',
  source: 'bars',
  inputs: ['close'],
  params: [timePeriod(30)],
  outputs: ['dema'],
  talib: 'TA_DEMA',
  notes:
    'Mulloy\'s DEMA = 2*EMA - EMA(EMA), both EMAs seeded with a simple mean as TA_EMA; the second starts when the ' +
    'first is defined, so the warm-up is 2*(period-1).',
  lookback: (p) => 2 * (p.timePeriod - 1),
  batch(input, p) {
    const x = input.close
    const n = x.length
    const lb = 2 * (p.timePeriod - 1)
    const out = output(n, lb)
    const result = [out]
    const e1 = new SeededEma(p.timePeriod)
    const e2 = new SeededEma(p.timePeriod)
    for (let i = 0; i < n; i++) {
      const a = e1.push(x[i])
      let v = NaN
      if (a === a) v = 2 * a - e2.push(a)
      if (i >= lb) out[i] = v
    }
    return result
  },
  stream: (p) => new DemaStream(p.timePeriod),
  reading: priceVsLine,
}

/** TEMA's stream */
class TemaStream implements Stream {
  readonly out = nans(1)
  private readonly e1: SeededEma
  private readonly e2: SeededEma
  private readonly e3: SeededEma
  constructor(per: number) {
    this.e1 = new SeededEma(per)
    this.e2 = new SeededEma(per)
    this.e3 = new SeededEma(per)
  }
  update(x: Float64Array): void {
    this.out[0] = NaN
    const a = this.e1.push(x[0])
    if (a !== a) return
    const b = this.e2.push(a)
    if (b !== b) return
    const c = this.e3.push(b)
    // Same grouping as TA-Lib: e3 += 3*e1 - 3*e2
    this.out[0] = c + (3 * a - 3 * b)
  }
}

/** Triple exponential moving average (TA_TEMA). */
export const tema: IndicatorDef = {
  id: 'tema',
  name: 'Triple Exponential Moving Average',
  category: 'trend',
  source: 'bars',
  inputs: ['close'],
  params: [timePeriod(30)],
  outputs: ['tema'],
  talib: 'TA_TEMA',
  notes:
    'Mulloy\'s TEMA = 3*EMA - 3*EMA(EMA) + EMA(EMA(EMA)), each EMA seeded with a simple mean as TA_EMA and started ' +
    'when its input is defined; warm-up 3*(period-1).',
  lookback: (p) => 3 * (p.timePeriod - 1),
  batch(input, p) {
    const x = input.close
    const n = x.length
    const lb = 3 * (p.timePeriod - 1)
    const out = output(n, lb)
    const result = [out]
    const e1 = new SeededEma(p.timePeriod)
    const e2 = new SeededEma(p.timePeriod)
    const e3 = new SeededEma(p.timePeriod)
    for (let i = 0; i < n; i++) {
      const a = e1.push(x[i])
      let v = NaN
      if (a === a) {
        const b = e2.push(a)
        // Same grouping as TA-Lib: e3 += 3*e1 - 3*e2
        if (b === b) v = e3.push(b) + (3 * a - 3 * b)
      }
      if (i >= lb) out[i] = v
    }
    return result
  },
  stream: (p) => new TemaStream(p.timePeriod),
  reading: priceVsLine,
}

/** TA_TRIMA's 1/(weights sum) for a period */
const trimaFactor = (per: number) => {
  const half = per >> 1
  return 1.0 / (per % 2 === 1 ? (half + 1) * (half + 1) : half * (half + 1))
}

/** TRIMA's stream: the batch loop's arithmetic over a power-of-two ring of the last `per` closes */
class TrimaStream implements Stream {
  readonly out = nans(1)
  private readonly half: number
  private readonly odd: boolean
  private readonly factor: number
  private readonly buf: Float64Array
  private readonly mask: number
  private numerator = 0
  private numSub = 0
  private numAdd = 0
  private trail = 0
  private n = 0
  constructor(private readonly per: number) {
    this.half = per >> 1
    this.odd = per % 2 === 1
    this.factor = trimaFactor(per)
    const cap = pow2(per)
    this.buf = new Float64Array(cap)
    this.mask = cap - 1
  }
  update(x: Float64Array): void {
    const v = x[0]
    const per = this.per
    const buf = this.buf
    const mask = this.mask
    const t = this.n++
    buf[t & mask] = v
    if (t < per - 1) return
    if (t === per - 1) {
      // TA-Lib's seed: the falling half summed from the middle back to the oldest row, then the rising half
      const mid = this.odd ? this.half : this.half - 1
      for (let i = mid; i >= 0; i--) {
        this.numSub += buf[i]
        this.numerator += this.numSub
      }
      for (let i = mid + 1; i <= t; i++) {
        this.numAdd += buf[i]
        this.numerator += this.numAdd
      }
      this.trail = buf[0]
      this.out[0] = this.numerator * this.factor
      return
    }
    let numerator = this.numerator - this.numSub
    let numSub = this.numSub - this.trail
    let numAdd = this.numAdd
    const mv = buf[(t - this.half) & mask]
    numSub += mv
    if (this.odd) {
      numerator += numAdd
      numAdd -= mv
    } else {
      numAdd -= mv
      numerator += numAdd
    }
    numAdd += v
    numerator += v
    this.trail = buf[(t - per + 1) & mask]
    this.numerator = numerator
    this.numSub = numSub
    this.numAdd = numAdd
    this.out[0] = numerator * this.factor
  }
}

/** Triangular moving average (TA_TRIMA). */
export const trima: IndicatorDef = {
  id: 'trima',
  name: 'Triangular Moving Average',
  category: 'trend',
  source: 'bars',
  inputs: ['close'],
  params: [timePeriod(30)],
  outputs: ['trima'],
  talib: 'TA_TRIMA',
  notes:
    'Triangular weights 1,2,..,peak,..,2,1 over `period` rows (an SMA of an SMA), with TA-Lib\'s running ' +
    'numerator split into rising and falling halves; odd and even periods as TA-Lib.',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const x = input.close
    const n = x.length
    const per = p.timePeriod
    const out = output(n, per - 1)
    const result = [out]
    if (n < per) return result
    const half = per >> 1
    const odd = per % 2 === 1
    const factor = trimaFactor(per)
    let numerator = 0
    let numSub = 0
    let numAdd = 0
    // TA-Lib's seed: the falling half summed from the middle back to the oldest row, then the rising half
    const mid = odd ? half : half - 1
    for (let i = mid; i >= 0; i--) {
      numSub += x[i]
      numerator += numSub
    }
    for (let i = mid + 1; i <= per - 1; i++) {
      numAdd += x[i]
      numerator += numAdd
    }
    out[per - 1] = numerator * factor
    // The window is read straight from the input: the middle row and the row leaving it. Odd and even periods
    // order two steps differently, so each has its own loop rather than a branch per row
    if (odd) {
      for (let t = per; t < n; t++) {
        const v = x[t]
        const mv = x[t - half]
        numerator -= numSub
        numSub -= x[t - per]
        numSub += mv
        numerator += numAdd
        numAdd -= mv
        numAdd += v
        numerator += v
        out[t] = numerator * factor
      }
    } else {
      for (let t = per; t < n; t++) {
        const v = x[t]
        const mv = x[t - half]
        numerator -= numSub
        numSub -= x[t - per]
        numSub += mv
        numAdd -= mv
        numerator += numAdd
        numAdd += v
        numerator += v
        out[t] = numerator * factor
      }
    }
    return result
  },
  stream: (p) => new TrimaStream(p.timePeriod),
  reading: priceVsLine,
}

const KAMA_CONST_MAX = 2.0 / (30.0 + 1.0)
const KAMA_CONST_DIFF = 2.0 / (2.0 + 1.0) - KAMA_CONST_MAX

/** One KAMA step from the path length `sumROC1` and the close `first` one period back, as TA_KAMA */
function kamaStep(prevKama: number, v: number, first: number, sumROC1: number): number {
  const periodROC = v - first
  let er: number
  if (sumROC1 <= periodROC || isZero(sumROC1)) er = 1.0
  else er = Math.abs(periodROC / sumROC1)
  er = er * KAMA_CONST_DIFF + KAMA_CONST_MAX
  er *= er
  return (v - prevKama) * er + prevKama
}

/** KAMA's stream: closes of the last period+1 rows in a power-of-two ring */
class KamaStream implements Stream {
  readonly out = nans(1)
  private readonly buf: Float64Array
  private readonly mask: number
  private sumROC1 = 0
  private prevKama = 0
  private trailing = 0
  private n = 0
  constructor(private readonly per: number) {
    const cap = pow2(per + 1)
    this.buf = new Float64Array(cap)
    this.mask = cap - 1
  }
  update(x: Float64Array): void {
    const v = x[0]
    const per = this.per
    const mask = this.mask
    const t = this.n++
    this.buf[t & mask] = v
    if (t === 0) return
    const prev = this.buf[(t - 1) & mask]
    if (t < per) {
      this.sumROC1 += Math.abs(prev - v)
      return
    }
    if (t === per) {
      this.sumROC1 += Math.abs(prev - v)
      this.prevKama = prev
      this.trailing = this.buf[0]
      this.prevKama = kamaStep(this.prevKama, v, this.trailing, this.sumROC1)
      this.out[0] = this.prevKama
      return
    }
    const first = this.buf[(t - per) & mask]
    this.sumROC1 -= Math.abs(this.trailing - first)
    this.sumROC1 += Math.abs(v - prev)
    this.trailing = first
    this.prevKama = kamaStep(this.prevKama, v, first, this.sumROC1)
    this.out[0] = this.prevKama
  }
}

/** Kaufman adaptive moving average (TA_KAMA). */
export const kama: IndicatorDef = {
  id: 'kama',
  name: 'Kaufman Adaptive Moving Average',
  category: 'trend',
  source: 'bars',
  inputs: ['close'],
  params: [timePeriod(30)],
  outputs: ['kama'],
  talib: 'TA_KAMA',
  notes:
    'Efficiency ratio |close - close[period ago]| / sum of |changes| over `period` rows sets the smoothing ' +
    '(ER*(2/3 - 2/31) + 2/31)^2; seeded with the close at row period-1. As TA-Lib, the ratio is 1 when the ' +
    'signed change is at least the path length or the path is zero.',
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    const x = input.close
    const n = x.length
    const per = p.timePeriod
    const out = output(n, per)
    const result = [out]
    if (n <= per) return result
    let sumROC1 = 0
    for (let t = 1; t <= per; t++) sumROC1 += Math.abs(x[t - 1] - x[t])
    let prevKama = kamaStep(x[per - 1], x[per], x[0], sumROC1)
    out[per] = prevKama
    // The window is read straight from the input: the close leaving the path and the one `per` rows back
    for (let t = per + 1; t < n; t++) {
      const v = x[t]
      const first = x[t - per]
      sumROC1 -= Math.abs(x[t - per - 1] - first)
      sumROC1 += Math.abs(v - x[t - 1])
      prevKama = kamaStep(prevKama, v, first, sumROC1)
      out[t] = prevKama
    }
    return result
  },
  stream: (p) => new KamaStream(p.timePeriod),
  reading: priceVsLine,
}

/** Tillson T3's state machine: six cascaded EMAs, each seeded in turn */
class T3 {
  readonly k: number
  readonly omk: number
  readonly c1: number
  readonly c2: number
  readonly c3: number
  readonly c4: number
  // e[1..6]; stage s means e[1..s-1] are running and e[s] is being seeded
  readonly e = new Float64Array(7)
  private stage = 1
  private sum = 0
  private count = 0
  constructor(
    private readonly per: number,
    v: number,
  ) {
    this.k = 2.0 / (per + 1.0)
    this.omk = 1.0 - this.k
    const tv = v * v
    this.c1 = -(tv * v)
    this.c2 = 3.0 * (tv - this.c1)
    this.c3 = -6.0 * tv - 3.0 * (v - this.c1)
    this.c4 = 1.0 + 3.0 * v - this.c1 + 3.0 * tv
  }
  push(x: number): number {
    // The steady state is kept small, so that V8 inlines it into the loops that call it; seeding is a call
    if (this.stage <= 6) return this.seed(x)
    const e = this.e
    const k = this.k
    const omk = this.omk
    const e1 = k * x + omk * e[1]
    const e2 = k * e1 + omk * e[2]
    const e3 = k * e2 + omk * e[3]
    const e4 = k * e3 + omk * e[4]
    const e5 = k * e4 + omk * e[5]
    const e6 = k * e5 + omk * e[6]
    e[1] = e1
    e[2] = e2
    e[3] = e3
    e[4] = e4
    e[5] = e5
    e[6] = e6
    return this.c1 * e6 + this.c2 * e5 + this.c3 * e4 + this.c4 * e3
  }
  /** One row while the EMAs are being seeded in turn (stage 1 to 6) */
  private seed(x: number): number {
    const e = this.e
    const k = this.k
    const omk = this.omk
    const stage = this.stage
    let add = x
    if (stage > 1) {
      e[1] = k * x + omk * e[1]
      for (let j = 2; j < stage; j++) e[j] = k * e[j - 1] + omk * e[j]
      add = e[stage - 1]
    }
    this.sum = this.count === 0 ? add : this.sum + add
    if (++this.count < this.per) return NaN
    e[stage] = this.sum / this.per
    this.count = 0
    this.stage = stage + 1
    if (stage < 6) {
      // The next seed starts with the value just completed
      this.sum = e[stage]
      this.count = 1
      return NaN
    }
    return this.c1 * e[6] + this.c2 * e[5] + this.c3 * e[4] + this.c4 * e[3]
  }
}

class T3Stream implements Stream {
  readonly out = nans(1)
  private readonly t3: T3
  constructor(per: number, v: number) {
    this.t3 = new T3(per, v)
  }
  update(x: Float64Array): void {
    this.out[0] = this.t3.push(x[0])
  }
}

/** T3's steady state after the machine's seeding, the six EMAs in local variables while a chunk runs */
class T3Rows implements ChunkedKernel {
  private readonly e: Float64Array
  constructor(
    private readonly x: Float64Array,
    private readonly out: Float64Array,
    private readonly m: T3,
  ) {
    this.e = m.e
  }
  run(from: number, to: number): void {
    const { x, out, e } = this
    const { k, omk, c1, c2, c3, c4 } = this.m
    let e1 = e[1]
    let e2 = e[2]
    let e3 = e[3]
    let e4 = e[4]
    let e5 = e[5]
    let e6 = e[6]
    for (let i = from; i < to; i++) {
      e1 = k * x[i] + omk * e1
      e2 = k * e1 + omk * e2
      e3 = k * e2 + omk * e3
      e4 = k * e3 + omk * e4
      e5 = k * e4 + omk * e5
      e6 = k * e5 + omk * e6
      out[i] = c1 * e6 + c2 * e5 + c3 * e4 + c4 * e3
    }
    e[1] = e1
    e[2] = e2
    e[3] = e3
    e[4] = e4
    e[5] = e5
    e[6] = e6
  }
}

/** Tillson T3 (TA_T3). */
export const t3: IndicatorDef = {
  id: 't3',
  name: 'Tillson T3 Moving Average',
  category: 'trend',
  source: 'bars',
  inputs: ['close'],
  params: [timePeriod(5), param('vFactor', 0.7, 0, 1, 'volume factor (0 = triple EMA, 1 = triple DEMA)')],
  outputs: ['t3'],
  talib: 'TA_T3',
  notes:
    'Six cascaded EMAs (k = 2/(period+1)) combined with Tillson\'s vFactor coefficients; as TA-Lib each EMA is ' +
    'seeded with the mean of its input\'s first `period` values, so the warm-up is 6*(period-1).',
  lookback: (p) => 6 * (p.timePeriod - 1),
  batch(input, p) {
    const x = input.close
    const n = x.length
    const lb = 6 * (p.timePeriod - 1)
    const out = output(n, lb)
    const result = [out]
    const m = new T3(p.timePeriod, p.vFactor)
    // The machine seeds the six EMAs (its first value is on row lb), then the steady state runs on local variables
    let i = 0
    for (; i <= lb && i < n; i++) {
      const v = m.push(x[i])
      if (i === lb) out[i] = v
    }
    inChunks(new T3Rows(x, out, m), i, n)
    return result
  },
  stream: (p) => new T3Stream(p.timePeriod, p.vFactor),
  reading: priceVsLine,
}

/** HMA's three WMAs */
class Hma {
  private readonly half: Wma
  private readonly full: Wma
  private readonly outer: Wma
  constructor(n: number) {
    this.half = new Wma(Math.floor(n / 2))
    this.full = new Wma(n)
    this.outer = new Wma(Math.floor(Math.sqrt(n)))
  }
  push(v: number): number {
    const a = this.half.push(v)
    const b = this.full.push(v)
    if (b !== b) return NaN
    return this.outer.push(2 * a - b)
  }
}

class HmaStream implements Stream {
  readonly out = nans(1)
  private readonly h: Hma
  constructor(n: number) {
    this.h = new Hma(n)
  }
  update(x: Float64Array): void {
    this.out[0] = this.h.push(x[0])
  }
}

const hmaLookback = (n: number) => n - 1 + Math.floor(Math.sqrt(n)) - 1

/** Hull moving average; not in TA-Lib. */
export const hma: IndicatorDef = {
  id: 'hma',
  name: 'Hull Moving Average',
  category: 'trend',
  source: 'bars',
  inputs: ['close'],
  params: [timePeriod(9, 4)],
  outputs: ['hma'],
  notes:
    'Alan Hull\'s HMA = WMA(2*WMA(close, floor(n/2)) - WMA(close, n), floor(sqrt(n))), every WMA computed as ' +
    'TA_WMA; warm-up (n-1) + (floor(sqrt(n))-1). Not in TA-Lib.',
  lookback: (p) => hmaLookback(p.timePeriod),
  batch(input, p) {
    const x = input.close
    const n = x.length
    const lb = hmaLookback(p.timePeriod)
    const out = output(n, lb)
    const result = [out]
    const h = new Hma(p.timePeriod)
    for (let i = 0; i < n; i++) {
      const v = h.push(x[i])
      if (i >= lb) out[i] = v
    }
    return result
  },
  stream: (p) => new HmaStream(p.timePeriod),
  reading: priceVsLine,
}

/** SuperTrend's bands and direction; `value` and `dir` are the outputs after the latest bar */
class SuperTrend {
  private readonly atr: Atr
  private upper = NaN
  private lower = NaN
  private prevClose = NaN
  dir = 0
  value = NaN
  /** NaN until the ATR exists, then the direction */
  direction = NaN
  constructor(
    per: number,
    private readonly mult: number,
  ) {
    this.atr = new Atr(per)
  }
  push(high: number, low: number, close: number): void {
    const a = this.atr.push(high, low, close)
    if (a === a) {
      const hl2 = (high + low) / 2
      const basicUp = hl2 + this.mult * a
      const basicLo = hl2 - this.mult * a
      let dir = this.dir
      if (dir === 0) {
        this.upper = basicUp
        this.lower = basicLo
        dir = -1
      } else {
        if (basicUp < this.upper || this.prevClose > this.upper) this.upper = basicUp
        if (basicLo > this.lower || this.prevClose < this.lower) this.lower = basicLo
        if (dir === -1) dir = close > this.upper ? 1 : -1
        else dir = close < this.lower ? -1 : 1
      }
      this.dir = dir
      this.value = dir === 1 ? this.lower : this.upper
      this.direction = dir
    }
    this.prevClose = close
  }
}

class SuperTrendStream implements Stream {
  readonly out = nans(2)
  private readonly st: SuperTrend
  constructor(per: number, mult: number) {
    this.st = new SuperTrend(per, mult)
  }
  update(x: Float64Array): void {
    const st = this.st
    st.push(x[0], x[1], x[2])
    this.out[0] = st.value
    this.out[1] = st.direction
  }
}

/** SuperTrend; not in TA-Lib. */
export const supertrend: IndicatorDef = {
  id: 'supertrend',
  name: 'SuperTrend',
  category: 'trend',
  source: 'bars',
  inputs: ['high', 'low', 'close'],
  params: [
    param('timePeriod', 10, 2, 500, 'ATR period (Wilder smoothing)', { integer: true }),
    param('multiplier', 3, 0.5, 10, 'band width in ATRs', { integer: false, step: 0.1 }),
  ],
  outputs: ['supertrend', 'direction'],
  notes:
    'Bands hl2 ± multiplier*ATR (ATR as TA_ATR). The final upper band keeps its previous value unless the new basic ' +
    'band is lower or the previous close broke above it (mirror for the lower band). Direction flips to +1 when the ' +
    'close rises above the final upper band and to -1 when it falls below the final lower band; it starts at -1 ' +
    '(as TradingView). supertrend is the lower band while +1, the upper band while -1. Not in TA-Lib.',
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    const { high, low, close } = input
    const n = close.length
    const lb = p.timePeriod
    const outS = output(n, lb)
    const outD = output(n, lb)
    const result = [outS, outD]
    const st = new SuperTrend(p.timePeriod, p.multiplier)
    for (let i = 0; i < n; i++) {
      st.push(high[i], low[i], close[i])
      if (i >= lb) {
        outS[i] = st.value
        outD[i] = st.direction
      }
    }
    return result
  },
  stream: (p) => new SuperTrendStream(p.timePeriod, p.multiplier),
  reading: (out) => (out[1] === 1 ? 'bullish' : out[1] === -1 ? 'bearish' : 'neutral'),
}

/** TA_SAR's state machine; `value` is the SAR of the latest bar (NaN on bar 0) */
class Sar {
  private readonly acc: number
  private readonly max: number
  private af: number
  private isLong = true
  private ep = 0
  private s = 0
  private newHigh = 0
  private newLow = 0
  private n = 0
  value = NaN
  constructor(acceleration: number, maximum: number) {
    let acc = acceleration
    if (acc > maximum) acc = maximum
    this.acc = acc
    this.max = maximum
    this.af = acc
  }
  push(high: number, low: number): number {
    const t = this.n
    if (t === 0) {
      this.n = 1
      this.newHigh = high
      this.newLow = low
      return this.value
    }
    let { isLong, ep, s, af, newHigh, newLow } = this
    const acc = this.acc
    const max = this.max
    let value = this.value
    if (t === 1) {
      this.n = 2
      // Direction from bar 1's -DM: TA_MINUS_DM with a period of 1
      const diffP = high - newHigh
      const diffM = newLow - low
      isLong = !(diffM > 0 && diffP < diffM)
      if (isLong) {
        ep = high
        s = newLow
      } else {
        ep = low
        s = newHigh
      }
      newLow = low
      newHigh = high
    }
    const prevLow = newLow
    const prevHigh = newHigh
    newLow = low
    newHigh = high
    if (isLong) {
      if (newLow <= s) {
        isLong = false
        s = ep
        if (s < prevHigh) s = prevHigh
        if (s < newHigh) s = newHigh
        value = s
        af = acc
        ep = newLow
        s = s + af * (ep - s)
        if (s < prevHigh) s = prevHigh
        if (s < newHigh) s = newHigh
      } else {
        value = s
        if (newHigh > ep) {
          ep = newHigh
          af += acc
          if (af > max) af = max
        }
        s = s + af * (ep - s)
        if (s > prevLow) s = prevLow
        if (s > newLow) s = newLow
      }
    } else {
      if (newHigh >= s) {
        isLong = true
        s = ep
        if (s > prevLow) s = prevLow
        if (s > newLow) s = newLow
        value = s
        af = acc
        ep = newHigh
        s = s + af * (ep - s)
        if (s > prevLow) s = prevLow
        if (s > newLow) s = newLow
      } else {
        value = s
        if (newLow < ep) {
          ep = newLow
          af += acc
          if (af > max) af = max
        }
        s = s + af * (ep - s)
        if (s < prevHigh) s = prevHigh
        if (s < newHigh) s = newHigh
      }
    }
    this.isLong = isLong
    this.ep = ep
    this.s = s
    this.af = af
    this.newHigh = newHigh
    this.newLow = newLow
    this.value = value
    return value
  }
}

class SarStream implements Stream {
  readonly out = nans(1)
  private readonly sar: Sar
  constructor(acceleration: number, maximum: number) {
    this.sar = new Sar(acceleration, maximum)
  }
  update(x: Float64Array): void {
    this.out[0] = this.sar.push(x[0], x[1])
  }
}

/**
 * TA_SAR's batch loop, rows 1 to n - 1 of `out` (n >= 2; `acc` already capped to `max`). A function of its own, given
 * only arrays and numbers: the batch function around it also allocates the output (from the heap or an arena), and
 * when that switches, V8 deoptimises it; a loop inside it then stayed in its first on-stack-replacement code, about
 * 2.5x slower, for every later call (measured: 20 against 8 ms for 1,000,000 rows)
 */
function sarRows(high: Float64Array, low: Float64Array, out: Float64Array, acc: number, max: number): void {
  // Sar.push's arithmetic with the state in local variables: the method is too large for V8 to inline, and a
  // call per row with the state in fields costs several times the arithmetic
  const n = high.length
  let af = acc
  // Direction from bar 1's -DM: TA_MINUS_DM with a period of 1
  const diffP = high[1] - high[0]
  const diffM = low[0] - low[1]
  let isLong = !(diffM > 0 && diffP < diffM)
  let ep = isLong ? high[1] : low[1]
  let s = isLong ? low[0] : high[0]
  // On bar 1 the "previous bar" used for clamping is bar 1 itself
  let newLow = low[1]
  let newHigh = high[1]
  for (let i = 1; i < n; i++) {
    const prevLow = newLow
    const prevHigh = newHigh
    newLow = low[i]
    newHigh = high[i]
    if (isLong) {
      if (newLow <= s) {
        isLong = false
        s = ep
        if (s < prevHigh) s = prevHigh
        if (s < newHigh) s = newHigh
        out[i] = s
        af = acc
        ep = newLow
        s = s + af * (ep - s)
        if (s < prevHigh) s = prevHigh
        if (s < newHigh) s = newHigh
      } else {
        out[i] = s
        if (newHigh > ep) {
          ep = newHigh
          af += acc
          if (af > max) af = max
        }
        s = s + af * (ep - s)
        if (s > prevLow) s = prevLow
        if (s > newLow) s = newLow
      }
    } else {
      if (newHigh >= s) {
        isLong = true
        s = ep
        if (s > prevLow) s = prevLow
        if (s > newLow) s = newLow
        out[i] = s
        af = acc
        ep = newHigh
        s = s + af * (ep - s)
        if (s > prevLow) s = prevLow
        if (s > newLow) s = newLow
      } else {
        out[i] = s
        if (newLow < ep) {
          ep = newLow
          af += acc
          if (af > max) af = max
        }
        s = s + af * (ep - s)
        if (s < prevHigh) s = prevHigh
        if (s < newHigh) s = newHigh
      }
    }
  }
}

/** Parabolic SAR (TA_SAR). */
export const sar: IndicatorDef = {
  id: 'sar',
  name: 'Parabolic SAR',
  category: 'trend',
  source: 'bars',
  inputs: ['high', 'low'],
  params: [
    param('acceleration', 0.02, 0.001, 0.5, 'acceleration factor step and start', { step: 0.001 }),
    param('maximum', 0.2, 0.01, 1, 'acceleration factor cap', { step: 0.01 }),
  ],
  outputs: ['sar'],
  talib: 'TA_SAR',
  notes:
    'Wilder\'s parabolic stop-and-reverse as TA-Lib: the first direction is short when bar 1 has a positive -DM ' +
    'against bar 0, else long; the first SAR is bar 0\'s high (short) or low (long), and on bar 1 the ' +
    '"previous bar" used for clamping is bar 1 itself. On a reversal the SAR becomes the extreme point, clamped ' +
    'by the last two bars. An acceleration above the maximum is capped to the maximum.',
  lookback: () => 1,
  batch(input, p) {
    const { high, low } = input
    const n = high.length
    const out = output(n, 1)
    const result = [out]
    if (n < 2) return result
    let acc = p.acceleration
    const max = p.maximum
    if (acc > max) acc = max
    sarRows(high, low, out, acc, max)
    return result
  },
  stream: (p) => new SarStream(p.acceleration, p.maximum),
  // Inputs are high and low; the SAR sits below the bar in an uptrend and above it in a downtrend
  reading: (out, x) => (out[0] < x[1] ? 'bullish' : out[0] > x[0] ? 'bearish' : 'neutral'),
}

const ichimokuLookback = (p: Params) => Math.max(p.tenkanPeriod, p.kijunPeriod, p.senkouBPeriod) - 1 + p.displacement

/** Ichimoku's stream: rolling extremes of the three windows and the displaced spans */
class IchimokuStream implements Stream {
  readonly out = nans(5)
  private readonly tHi: RollingMax
  private readonly tLo: RollingMin
  private readonly kHi: RollingMax
  private readonly kLo: RollingMin
  private readonly bHi: RollingMax
  private readonly bLo: RollingMin
  private readonly spanA: Delay
  private readonly spanB: Delay
  private readonly closes: Delay
  private readonly lookback: number
  private n = 0
  constructor(p: Params) {
    this.tHi = new RollingMax(p.tenkanPeriod)
    this.tLo = new RollingMin(p.tenkanPeriod)
    this.kHi = new RollingMax(p.kijunPeriod)
    this.kLo = new RollingMin(p.kijunPeriod)
    this.bHi = new RollingMax(p.senkouBPeriod)
    this.bLo = new RollingMin(p.senkouBPeriod)
    this.spanA = new Delay(p.displacement)
    this.spanB = new Delay(p.displacement)
    this.closes = new Delay(p.displacement)
    this.lookback = ichimokuLookback(p)
  }
  update(x: Float64Array): void {
    const high = x[0]
    const low = x[1]
    const close = x[2]
    const tenkan = (this.tHi.push(high) + this.tLo.push(low)) / 2
    const kijun = (this.kHi.push(high) + this.kLo.push(low)) / 2
    const b = (this.bHi.push(high) + this.bLo.push(low)) / 2
    const a = this.spanA.push((tenkan + kijun) / 2)
    const bb = this.spanB.push(b)
    const back = this.closes.push(close)
    if (this.n < this.lookback) {
      this.n++
      return
    }
    const out = this.out
    out[0] = tenkan
    out[1] = kijun
    out[2] = a
    out[3] = bb
    out[4] = close - back
  }
}

/**
 * Ichimoku's batch loop in a kernel run chunk by chunk. Each of the six extremes is TA-Lib's scan (see argMax: a
 * window is rescanned only when its extreme leaves it), with its value and row in local variables while
 * a chunk runs rather than in six objects' fields, which every row would store and load again
 */
class IchimokuRows implements ChunkedKernel {
  /** The spans computed `disp` rows back, in power-of-two rings indexed by row */
  private readonly ringA: Float64Array
  private readonly ringB: Float64Array
  /** Value and row of each extreme: highest high and lowest low over the tenkan, kijun and senkou B windows */
  private readonly ext = new Float64Array([-Infinity, Infinity, -Infinity, Infinity, -Infinity, Infinity])
  private readonly at = new Int32Array(6)
  constructor(
    private readonly high: Float64Array,
    private readonly low: Float64Array,
    private readonly close: Float64Array,
    private readonly outs: Float64Array[],
    private readonly tp: number,
    private readonly kp: number,
    private readonly bp: number,
    private readonly disp: number,
    private readonly lb: number,
  ) {
    const cap = pow2(disp + 1)
    this.ringA = new Float64Array(cap)
    this.ringB = new Float64Array(cap)
  }
  run(from: number, to: number): void {
    const { high, low, close, tp, kp, bp, disp, lb, ringA, ringB, ext, at } = this
    const [oT, oK, oA, oB, oC] = this.outs
    const mask = ringA.length - 1
    let tHi = ext[0]
    let tLo = ext[1]
    let kHi = ext[2]
    let kLo = ext[3]
    let bHi = ext[4]
    let bLo = ext[5]
    let tHiAt = at[0]
    let tLoAt = at[1]
    let kHiAt = at[2]
    let kLoAt = at[3]
    let bHiAt = at[4]
    let bLoAt = at[5]
    for (let i = from; i < to; i++) {
      const h = high[i]
      const l = low[i]
      // Each rescanned once the extreme's row has left the window
      if (tHiAt <= i - tp) {
        tHiAt = argMax(high, i - tp + 1, i)
        tHi = high[tHiAt]
      } else if (h >= tHi) {
        tHi = h
        tHiAt = i
      }
      if (tLoAt <= i - tp) {
        tLoAt = argMin(low, i - tp + 1, i)
        tLo = low[tLoAt]
      } else if (l <= tLo) {
        tLo = l
        tLoAt = i
      }
      if (kHiAt <= i - kp) {
        kHiAt = argMax(high, i - kp + 1, i)
        kHi = high[kHiAt]
      } else if (h >= kHi) {
        kHi = h
        kHiAt = i
      }
      if (kLoAt <= i - kp) {
        kLoAt = argMin(low, i - kp + 1, i)
        kLo = low[kLoAt]
      } else if (l <= kLo) {
        kLo = l
        kLoAt = i
      }
      if (bHiAt <= i - bp) {
        bHiAt = argMax(high, i - bp + 1, i)
        bHi = high[bHiAt]
      } else if (h >= bHi) {
        bHi = h
        bHiAt = i
      }
      if (bLoAt <= i - bp) {
        bLoAt = argMin(low, i - bp + 1, i)
        bLo = low[bLoAt]
      } else if (l <= bLo) {
        bLo = l
        bLoAt = i
      }
      const tenkan = (tHi + tLo) / 2
      const kijun = (kHi + kLo) / 2
      ringA[i & mask] = (tenkan + kijun) / 2
      ringB[i & mask] = (bHi + bLo) / 2
      if (i < lb) continue
      oT[i] = tenkan
      oK[i] = kijun
      oA[i] = ringA[(i - disp) & mask]
      oB[i] = ringB[(i - disp) & mask]
      oC[i] = close[i] - close[i - disp]
    }
    ext[0] = tHi
    ext[1] = tLo
    ext[2] = kHi
    ext[3] = kLo
    ext[4] = bHi
    ext[5] = bLo
    at[0] = tHiAt
    at[1] = tLoAt
    at[2] = kHiAt
    at[3] = kLoAt
    at[4] = bHiAt
    at[5] = bLoAt
  }
}

/** Ichimoku Kinko Hyo, causal form; not in TA-Lib. */
export const ichimoku: IndicatorDef = {
  id: 'ichimoku',
  name: 'Ichimoku Cloud',
  category: 'trend',
  source: 'bars',
  inputs: ['high', 'low', 'close'],
  params: [
    param('tenkanPeriod', 9, 2, 200, 'conversion line window', { integer: true }),
    param('kijunPeriod', 26, 2, 400, 'base line window', { integer: true }),
    param('senkouBPeriod', 52, 2, 800, 'leading span B window', { integer: true }),
    param('displacement', 26, 1, 400, 'rows the spans are shifted forward and chikou compares back', { integer: true }),
  ],
  outputs: ['tenkan', 'kijun', 'senkouA', 'senkouB', 'chikou'],
  notes:
    'tenkan and kijun are midpoints (highest high + lowest low)/2 over their windows ending at row i. senkouA and ' +
    'senkouB are the cloud that applies at row i: (tenkan+kijun)/2 and the senkouBPeriod midpoint computed at row ' +
    'i-displacement (plotted displacement rows ahead in the usual chart). chikou is close[i] - close[i-displacement] ' +
    '(the lagging span relative to the price it is drawn against), so no output looks ahead. All outputs share the ' +
    'longest warm-up, max(periods)-1+displacement rows. Not in TA-Lib.',
  lookback: ichimokuLookback,
  batch(input, p) {
    const { high, low, close } = input
    const n = close.length
    const lb = ichimokuLookback(p)
    const outs = [0, 1, 2, 3, 4].map(() => output(n, lb))
    const [oT, oK, oA, oB, oC] = outs
    const tp = p.tenkanPeriod
    const kp = p.kijunPeriod
    const bp = p.senkouBPeriod
    const disp = p.displacement
    // The spans computed `disp` rows back, in power-of-two rings indexed by row
    inChunks(new IchimokuRows(high, low, close, outs, tp, kp, bp, disp, lb), 0, n)
    return outs
  },
  stream: (p) => new IchimokuStream(p),
  reading: (out, x) => {
    const top = Math.max(out[2], out[3])
    const bottom = Math.min(out[2], out[3])
    if (x[2] > top && out[0] >= out[1]) return 'bullish'
    if (x[2] < bottom && out[0] <= out[1]) return 'bearish'
    return 'neutral'
  },
}

/**
 * The batch forms of Directional and the indicators built on it (Di, Dx, Adx, Adxr): their arithmetic in the same
 * order, in kernels whose state is in local variables while a chunk of rows runs. The base class sums the seed rows
 * 1..per-1; each subclass's `run` takes the rows after it and writes its output from the first row with a value
 * (the warm-up rows are left as they are). One loop per output, not one loop choosing the output on every row:
 * that costs V8 about twice the time
 */
abstract class DirectionalRows implements ChunkedKernel {
  /** First row after the seed, and of `run` */
  start: number
  protected prevHigh: number
  protected prevLow: number
  protected prevClose: number
  protected plusDM: number
  protected minusDM: number
  protected trSum: number
  constructor(
    protected readonly high: Float64Array,
    protected readonly low: Float64Array,
    readonly close: Float64Array,
    protected readonly per: number,
    protected readonly out: Float64Array,
  ) {
    let prevHigh = high[0]
    let prevLow = low[0]
    let prevClose = close[0]
    let plusDM = 0
    let minusDM = 0
    let trSum = 0
    let i = 1
    for (const end = Math.min(per, close.length); i < end; i++) {
      const h = high[i]
      const l = low[i]
      const diffP = h - prevHigh
      const diffM = prevLow - l
      prevHigh = h
      prevLow = l
      let tr = h - l
      let t2 = Math.abs(h - prevClose)
      if (t2 > tr) tr = t2
      t2 = Math.abs(l - prevClose)
      if (t2 > tr) tr = t2
      prevClose = close[i]
      if (diffM > 0 && diffP < diffM) minusDM += diffM
      else if (diffP > 0 && diffP > diffM) plusDM += diffP
      trSum += tr
    }
    this.start = i
    this.prevHigh = prevHigh
    this.prevLow = prevLow
    this.prevClose = prevClose
    this.plusDM = plusDM
    this.minusDM = minusDM
    this.trSum = trSum
  }
  abstract run(from: number, to: number): void

  /** One row past the seed with the state in fields, for the few rows before a subclass's steady state: its DX */
  protected dxAt(i: number): number {
    const per = this.per
    const h = this.high[i]
    const l = this.low[i]
    const diffP = h - this.prevHigh
    const diffM = this.prevLow - l
    this.prevHigh = h
    this.prevLow = l
    let tr = h - l
    let t2 = Math.abs(h - this.prevClose)
    if (t2 > tr) tr = t2
    t2 = Math.abs(l - this.prevClose)
    if (t2 > tr) tr = t2
    this.prevClose = this.close[i]
    this.minusDM -= this.minusDM / per
    this.plusDM -= this.plusDM / per
    if (diffM > 0 && diffP < diffM) this.minusDM += diffM
    else if (diffP > 0 && diffP > diffM) this.plusDM += diffP
    this.trSum = this.trSum - this.trSum / per + tr
    if (isZero(this.trSum)) return NaN
    const minusDI = 100 * (this.minusDM / this.trSum)
    const plusDI = 100 * (this.plusDM / this.trSum)
    const sum = minusDI + plusDI
    return isZero(sum) ? NaN : 100 * (Math.abs(minusDI - plusDI) / sum)
  }
}

/**
 * TA_PLUS_DI or TA_MINUS_DI from row per on. One loop per sign, each carrying only its own DM as TA-Lib's functions
 * do: the other DM's decay is a division per row that nothing reads (a division's throughput bounds this loop, and
 * dropping it took -DI from 13-16 to about 10 ms per 1,000,000 rows). The unused DM field is left at the seed
 */
class DiRows extends DirectionalRows {
  constructor(high: Float64Array, low: Float64Array, close: Float64Array, per: number, out: Float64Array, private readonly plus: boolean) {
    super(high, low, close, per, out)
  }
  run(from: number, to: number): void {
    if (this.plus) this.runPlus(from, to)
    else this.runMinus(from, to)
  }
  private runMinus(from: number, to: number): void {
    const { high, low, close, per, out } = this
    let { prevHigh, prevLow, prevClose, minusDM, trSum } = this
    for (let i = from; i < to; i++) {
      const h = high[i]
      const l = low[i]
      const diffP = h - prevHigh
      const diffM = prevLow - l
      prevHigh = h
      prevLow = l
      let tr = h - l
      let t2 = Math.abs(h - prevClose)
      if (t2 > tr) tr = t2
      t2 = Math.abs(l - prevClose)
      if (t2 > tr) tr = t2
      prevClose = close[i]
      minusDM -= minusDM / per
      if (diffM > 0 && diffP < diffM) minusDM += diffM
      trSum = trSum - trSum / per + tr
      out[i] = isZero(trSum) ? 0 : 100 * (minusDM / trSum)
    }
    this.prevHigh = prevHigh
    this.prevLow = prevLow
    this.prevClose = prevClose
    this.minusDM = minusDM
    this.trSum = trSum
  }
  private runPlus(from: number, to: number): void {
    const { high, low, close, per, out } = this
    let { prevHigh, prevLow, prevClose, plusDM, trSum } = this
    for (let i = from; i < to; i++) {
      const h = high[i]
      const l = low[i]
      const diffP = h - prevHigh
      const diffM = prevLow - l
      prevHigh = h
      prevLow = l
      let tr = h - l
      let t2 = Math.abs(h - prevClose)
      if (t2 > tr) tr = t2
      t2 = Math.abs(l - prevClose)
      if (t2 > tr) tr = t2
      prevClose = close[i]
      plusDM -= plusDM / per
      // TA_PLUS_DI's test; a row where -DM takes the move fails it too (there diffP < diffM)
      if (diffP > 0 && diffP > diffM) plusDM += diffP
      trSum = trSum - trSum / per + tr
      out[i] = isZero(trSum) ? 0 : 100 * (plusDM / trSum)
    }
    this.prevHigh = prevHigh
    this.prevLow = prevLow
    this.prevClose = prevClose
    this.plusDM = plusDM
    this.trSum = trSum
  }
}

/** TA_DX from row per on: a row with zero TR or zero DI sum repeats the previous DX (0 on the first) */
class DxRows extends DirectionalRows {
  private dxPrev = 0
  run(from: number, to: number): void {
    const { high, low, close, per, out } = this
    let { prevHigh, prevLow, prevClose, plusDM, minusDM, trSum, dxPrev } = this
    for (let i = from; i < to; i++) {
      const h = high[i]
      const l = low[i]
      const diffP = h - prevHigh
      const diffM = prevLow - l
      prevHigh = h
      prevLow = l
      let tr = h - l
      let t2 = Math.abs(h - prevClose)
      if (t2 > tr) tr = t2
      t2 = Math.abs(l - prevClose)
      if (t2 > tr) tr = t2
      prevClose = close[i]
      minusDM -= minusDM / per
      plusDM -= plusDM / per
      if (diffM > 0 && diffP < diffM) minusDM += diffM
      else if (diffP > 0 && diffP > diffM) plusDM += diffP
      trSum = trSum - trSum / per + tr
      if (!isZero(trSum)) {
        const minusDI = 100 * (minusDM / trSum)
        const plusDI = 100 * (plusDM / trSum)
        const sum = minusDI + plusDI
        if (!isZero(sum)) dxPrev = 100 * (Math.abs(minusDI - plusDI) / sum)
      }
      out[i] = dxPrev
    }
    this.prevHigh = prevHigh
    this.prevLow = prevLow
    this.prevClose = prevClose
    this.plusDM = plusDM
    this.minusDM = minusDM
    this.trSum = trSum
    this.dxPrev = dxPrev
  }
}

/**
 * TA_ADX from row 2*per-1 on or, with `rating`, TA_ADXR from row 3*per-2 on: the mean of this ADX and the one per-1
 * rows earlier, kept in a ring. The constructor also takes ADX's own seed, the mean of the first `per` DX values.
 * With `di` (not with `rating`) it also writes TA_PLUS_DI and TA_MINUS_DI into di[0] and di[1] from row per on, as
 * DiRows does, for a caller that needs all three: one pass instead of three
 */
class AdxRows extends DirectionalRows {
  private adx = NaN
  /** ADX values so far */
  private count = 0
  private readonly ring: Float64Array
  constructor(
    high: Float64Array,
    low: Float64Array,
    close: Float64Array,
    per: number,
    out: Float64Array,
    private readonly rating: boolean,
    private readonly di?: readonly Float64Array[],
  ) {
    super(high, low, close, per, out)
    this.ring = new Float64Array(pow2(per - 1))
    const n = close.length
    let i = this.start
    // Undefined DX rows are skipped, as TA-Lib does, both in the seed sum and in the smoothing
    let sumDX = 0
    for (const end = Math.min(n, i + per); i < end; i++) {
      const dx = this.dxAt(i)
      if (dx === dx) sumDX += dx
      if (di) {
        const z = isZero(this.trSum)
        di[0][i] = z ? 0 : 100 * (this.plusDM / this.trSum)
        di[1][i] = z ? 0 : 100 * (this.minusDM / this.trSum)
      }
    }
    this.start = i
    if (i < per + per) return
    this.adx = sumDX / per
    this.emit(i - 1)
  }
  /** Writes row i once `adx` holds its ADX */
  private emit(i: number): void {
    const at = this.count++
    if (!this.rating) this.out[i] = this.adx
    else {
      const ring = this.ring
      const mask = ring.length - 1
      if (at >= this.per - 1) this.out[i] = (this.adx + ring[(at - (this.per - 1)) & mask]) / 2.0
      ring[at & mask] = this.adx
    }
  }
  run(from: number, to: number): void {
    if (this.rating) {
      this.runRating(from, to)
      return
    }
    if (this.di) {
      this.runWithDi(from, to, this.di[0], this.di[1])
      return
    }
    const { high, low, close, per, out } = this
    let { prevHigh, prevLow, prevClose, plusDM, minusDM, trSum, adx } = this
    for (let i = from; i < to; i++) {
      const h = high[i]
      const l = low[i]
      const diffP = h - prevHigh
      const diffM = prevLow - l
      prevHigh = h
      prevLow = l
      let tr = h - l
      let t2 = Math.abs(h - prevClose)
      if (t2 > tr) tr = t2
      t2 = Math.abs(l - prevClose)
      if (t2 > tr) tr = t2
      prevClose = close[i]
      minusDM -= minusDM / per
      plusDM -= plusDM / per
      if (diffM > 0 && diffP < diffM) minusDM += diffM
      else if (diffP > 0 && diffP > diffM) plusDM += diffP
      trSum = trSum - trSum / per + tr
      if (!isZero(trSum)) {
        const minusDI = 100 * (minusDM / trSum)
        const plusDI = 100 * (plusDM / trSum)
        const sum = minusDI + plusDI
        if (!isZero(sum)) adx = (adx * (per - 1) + 100 * (Math.abs(minusDI - plusDI) / sum)) / per
      }
      out[i] = adx
    }
    this.prevHigh = prevHigh
    this.prevLow = prevLow
    this.prevClose = prevClose
    this.plusDM = plusDM
    this.minusDM = minusDM
    this.trSum = trSum
    this.adx = adx
  }
  /** `run` that also writes +DI and -DI: the values ADX computes on the way, 0 where the TR sum is zero */
  private runWithDi(from: number, to: number, plusOut: Float64Array, minusOut: Float64Array): void {
    const { high, low, close, per, out } = this
    let { prevHigh, prevLow, prevClose, plusDM, minusDM, trSum, adx } = this
    for (let i = from; i < to; i++) {
      const h = high[i]
      const l = low[i]
      const diffP = h - prevHigh
      const diffM = prevLow - l
      prevHigh = h
      prevLow = l
      let tr = h - l
      let t2 = Math.abs(h - prevClose)
      if (t2 > tr) tr = t2
      t2 = Math.abs(l - prevClose)
      if (t2 > tr) tr = t2
      prevClose = close[i]
      minusDM -= minusDM / per
      plusDM -= plusDM / per
      if (diffM > 0 && diffP < diffM) minusDM += diffM
      else if (diffP > 0 && diffP > diffM) plusDM += diffP
      trSum = trSum - trSum / per + tr
      let minusDI = 0
      let plusDI = 0
      if (!isZero(trSum)) {
        minusDI = 100 * (minusDM / trSum)
        plusDI = 100 * (plusDM / trSum)
        const sum = minusDI + plusDI
        if (!isZero(sum)) adx = (adx * (per - 1) + 100 * (Math.abs(minusDI - plusDI) / sum)) / per
      }
      out[i] = adx
      plusOut[i] = plusDI
      minusOut[i] = minusDI
    }
    this.prevHigh = prevHigh
    this.prevLow = prevLow
    this.prevClose = prevClose
    this.plusDM = plusDM
    this.minusDM = minusDM
    this.trSum = trSum
    this.adx = adx
  }
  /** `run` for ADXR: ADX's rows with the ring */
  private runRating(from: number, to: number): void {
    const { high, low, close, per, out, ring } = this
    const mask = ring.length - 1
    let { prevHigh, prevLow, prevClose, plusDM, minusDM, trSum, adx, count } = this
    for (let i = from; i < to; i++) {
      const h = high[i]
      const l = low[i]
      const diffP = h - prevHigh
      const diffM = prevLow - l
      prevHigh = h
      prevLow = l
      let tr = h - l
      let t2 = Math.abs(h - prevClose)
      if (t2 > tr) tr = t2
      t2 = Math.abs(l - prevClose)
      if (t2 > tr) tr = t2
      prevClose = close[i]
      minusDM -= minusDM / per
      plusDM -= plusDM / per
      if (diffM > 0 && diffP < diffM) minusDM += diffM
      else if (diffP > 0 && diffP > diffM) plusDM += diffP
      trSum = trSum - trSum / per + tr
      if (!isZero(trSum)) {
        const minusDI = 100 * (minusDM / trSum)
        const plusDI = 100 * (plusDM / trSum)
        const sum = minusDI + plusDI
        if (!isZero(sum)) adx = (adx * (per - 1) + 100 * (Math.abs(minusDI - plusDI) / sum)) / per
      }
      // ADX number `count` (0 = the first) and the one per-1 earlier
      if (count >= per - 1) out[i] = (adx + ring[(count - (per - 1)) & mask]) / 2.0
      ring[count & mask] = adx
      count++
    }
    this.prevHigh = prevHigh
    this.prevLow = prevLow
    this.prevClose = prevClose
    this.plusDM = plusDM
    this.minusDM = minusDM
    this.trSum = trSum
    this.adx = adx
    this.count = count
  }
}

/**
 * ADX, +DI and -DI of the same rows and period in one pass, each bit for bit what adx, plus_di and minus_di
 * compute (NaN before each one's lookback): [adx, plusDI, minusDI]
 */
export function adxWithDi(high: Float64Array, low: Float64Array, close: Float64Array, per: number): Float64Array[] {
  const n = close.length
  const outs = [output(n, 2 * per - 1), output(n, per), output(n, per)]
  if (n > 0) directionalRows(new AdxRows(high, low, close, per, outs[0], false, outs.slice(1)))
  return outs
}

/** Runs a DirectionalRows kernel over every row after its seed */
function directionalRows(k: DirectionalRows): void {
  inChunks(k, k.start, k.close.length)
}

const diPeriod = () => param('timePeriod', 14, 2, 500, 'Wilder smoothing period', { integer: true })

class AdxStream implements Stream {
  readonly out = nans(1)
  private readonly a: Adx
  constructor(per: number) {
    this.a = new Adx(per)
  }
  update(x: Float64Array): void {
    this.out[0] = this.a.push(x[0], x[1], x[2])
  }
}

/** Average directional movement index (TA_ADX). */
export const adx: IndicatorDef = {
  id: 'adx',
  name: 'Average Directional Movement Index',
  category: 'trend',
  source: 'bars',
  inputs: ['high', 'low', 'close'],
  params: [diPeriod()],
  outputs: ['adx'],
  talib: 'TA_ADX',
  notes:
    'Wilder ADX as TA-Lib: +DM, -DM and TR summed over the first period-1 bars, then smoothed by x - x/period + new; ' +
    'DX = 100*|+DI - -DI|/(+DI + -DI); ADX seeded with the mean of the first `period` DX values, then ' +
    '(prev*(period-1)+DX)/period. Rows where DX is undefined (zero range) leave ADX unchanged. Strength only, no ' +
    'direction.',
  lookback: (p) => 2 * p.timePeriod - 1,
  batch(input, p) {
    const { high, low, close } = input
    const n = close.length
    const lb = 2 * p.timePeriod - 1
    const out = output(n, lb)
    const result = [out]
    if (n > 0) directionalRows(new AdxRows(high, low, close, p.timePeriod, out, false))
    return result
  },
  stream: (p) => new AdxStream(p.timePeriod),
}

/** ADXR of one row: ADX averaged with the ADX period-1 rows earlier; `value` keeps the latest defined one */
class Adxr {
  private readonly a: Adx
  private readonly back: Delay
  value = NaN
  constructor(per: number) {
    this.a = new Adx(per)
    this.back = new Delay(per - 1)
  }
  push(high: number, low: number, close: number): number {
    const v = this.a.push(high, low, close)
    if (v !== v) return this.value
    const old = this.back.push(v)
    this.value = old === old ? (v + old) / 2.0 : NaN
    return this.value
  }
}

class AdxrStream implements Stream {
  readonly out = nans(1)
  private readonly a: Adxr
  constructor(per: number) {
    this.a = new Adxr(per)
  }
  update(x: Float64Array): void {
    this.out[0] = this.a.push(x[0], x[1], x[2])
  }
}

/** Average directional movement index rating (TA_ADXR). */
export const adxr: IndicatorDef = {
  id: 'adxr',
  name: 'Average Directional Movement Index Rating',
  category: 'trend',
  source: 'bars',
  inputs: ['high', 'low', 'close'],
  params: [diPeriod()],
  outputs: ['adxr'],
  talib: 'TA_ADXR',
  notes: 'ADXR = (ADX + ADX period-1 rows earlier)/2 with ADX as TA_ADX; warm-up 3*period-2. Strength only, no direction.',
  lookback: (p) => 3 * p.timePeriod - 2,
  batch(input, p) {
    const { high, low, close } = input
    const n = close.length
    const lb = 3 * p.timePeriod - 2
    const out = output(n, lb)
    const result = [out]
    if (n > 0) directionalRows(new AdxRows(high, low, close, p.timePeriod, out, true))
    return result
  },
  stream: (p) => new AdxrStream(p.timePeriod),
}

/** +DI or -DI of one row; `value` keeps the latest defined one */
class Di {
  private readonly dm: Directional
  value = NaN
  constructor(
    per: number,
    private readonly plus: boolean,
  ) {
    this.dm = new Directional(per)
  }
  push(high: number, low: number, close: number): number {
    const dm = this.dm
    if (!dm.push(high, low, close)) return this.value
    this.value = isZero(dm.tr) ? 0 : 100 * ((this.plus ? dm.plusDM : dm.minusDM) / dm.tr)
    return this.value
  }
}

class DiStream implements Stream {
  readonly out = nans(1)
  private readonly di: Di
  constructor(per: number, plus: boolean) {
    this.di = new Di(per, plus)
  }
  update(x: Float64Array): void {
    this.out[0] = this.di.push(x[0], x[1], x[2])
  }
}

function diDef(id: 'plus_di' | 'minus_di'): IndicatorDef {
  const plus = id === 'plus_di'
  return {
    id,
    name: plus ? 'Plus Directional Indicator' : 'Minus Directional Indicator',
    category: 'trend',
    source: 'bars',
    inputs: ['high', 'low', 'close'],
    params: [diPeriod()],
    outputs: [id],
    talib: plus ? 'TA_PLUS_DI' : 'TA_MINUS_DI',
    notes:
      `${plus ? '+DI = 100*(+DM' : '-DI = 100*(-DM'}/TR) with Wilder smoothing as TA-Lib: sums over the first ` +
      'period-1 bars, then x - x/period + new; 0 when TR is zero. TA-Lib\'s unscaled period-1 case is not offered ' +
      '(period from 2).',
    lookback: (p) => p.timePeriod,
    batch(input, p) {
      const { high, low, close } = input
      const n = close.length
      const lb = p.timePeriod
      const out = output(n, lb)
      const result = [out]
      if (n > 0) directionalRows(new DiRows(high, low, close, p.timePeriod, out, plus))
      return result
    },
    stream: (p) => new DiStream(p.timePeriod, plus),
  }
}

/** Plus directional indicator (TA_PLUS_DI). */
export const plusDi: IndicatorDef = diDef('plus_di')

/** Minus directional indicator (TA_MINUS_DI). */
export const minusDi: IndicatorDef = diDef('minus_di')

/** DX of one row; a row with zero TR or zero DI sum repeats the previous DX (0 on the first row) */
class Dx {
  private readonly dm: Directional
  private first = true
  value = NaN
  constructor(per: number) {
    this.dm = new Directional(per)
  }
  push(high: number, low: number, close: number): number {
    const dm = this.dm
    if (!dm.push(high, low, close)) return this.value
    let v = this.first ? 0.0 : this.value
    if (!isZero(dm.tr)) {
      const minusDI = 100 * (dm.minusDM / dm.tr)
      const plusDI = 100 * (dm.plusDM / dm.tr)
      const sum = minusDI + plusDI
      if (!isZero(sum)) v = 100 * (Math.abs(minusDI - plusDI) / sum)
    }
    this.first = false
    this.value = v
    return v
  }
}

class DxStream implements Stream {
  readonly out = nans(1)
  private readonly dx: Dx
  constructor(per: number) {
    this.dx = new Dx(per)
  }
  update(x: Float64Array): void {
    this.out[0] = this.dx.push(x[0], x[1], x[2])
  }
}

/** Directional movement index (TA_DX). */
export const dx: IndicatorDef = {
  id: 'dx',
  name: 'Directional Movement Index',
  category: 'trend',
  source: 'bars',
  inputs: ['high', 'low', 'close'],
  params: [diPeriod()],
  outputs: ['dx'],
  talib: 'TA_DX',
  notes:
    'DX = 100*|+DI - -DI|/(+DI + -DI) with +DI/-DI as TA_PLUS_DI/TA_MINUS_DI; as TA-Lib, a row with zero TR or ' +
    'zero DI sum repeats the previous DX (0 on the first row). Strength only, no direction.',
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    const { high, low, close } = input
    const n = close.length
    const lb = p.timePeriod
    const out = output(n, lb)
    const result = [out]
    if (n > 0) directionalRows(new DxRows(high, low, close, p.timePeriod, out))
    return result
  },
  stream: (p) => new DxStream(p.timePeriod),
}

/**
 * Aroon's stream: rows of the highest high and lowest low over period+1 rows, ties going to the most recent row
 * as TA_AROON's scan does
 */
class AroonStream implements Stream {
  readonly out: Float64Array
  private readonly hi: RollingMax
  private readonly lo: RollingMin
  private readonly factor: number
  private n = 0
  constructor(
    private readonly per: number,
    private readonly osc: boolean,
  ) {
    this.out = nans(osc ? 1 : 2)
    this.hi = new RollingMax(per + 1)
    this.lo = new RollingMin(per + 1)
    this.factor = 100.0 / per
  }
  update(x: Float64Array): void {
    const t = this.n++
    this.hi.push(x[0])
    this.lo.push(x[1])
    if (t < this.per) return
    if (this.osc) this.out[0] = this.factor * (this.hi.index - this.lo.index)
    else {
      this.out[0] = this.factor * (this.per - (t - this.lo.index))
      this.out[1] = this.factor * (this.per - (t - this.hi.index))
    }
  }
}

/**
 * TA_AROON's scan over period+1 rows of `high` and `low` into `out` (down and up, or with `osc` the oscillator) from
 * row `period` on: the rows of the highest high and lowest low are kept, the most recent on ties, and a window is
 * rescanned only when its extreme leaves it
 */
function aroonScan(high: Float64Array, low: Float64Array, per: number, out: Float64Array[], osc: boolean): void {
  inChunks(new AroonRows(high, low, per, out[0], osc ? out[0] : out[1], osc), 0, high.length)
}

/** aroonScan's loop in a kernel run chunk by chunk, one loop for the oscillator and one for up and down */
class AroonRows implements ChunkedKernel {
  private readonly factor: number
  // TA-Lib's window scans over per + 1 rows (see argMax): the extremes and their rows, in local variables while a
  // chunk runs (a field written on one row and read on the next puts a store and a load on every row's chain)
  private hh = -Infinity
  private hhAt = 0
  private ll = Infinity
  private llAt = 0
  constructor(
    private readonly high: Float64Array,
    private readonly low: Float64Array,
    private readonly per: number,
    private readonly o0: Float64Array,
    private readonly o1: Float64Array,
    private readonly osc: boolean,
  ) {
    this.factor = 100.0 / per
  }
  run(from: number, to: number): void {
    const { high, low, per, factor, o0, o1, osc } = this
    let { hh, hhAt, ll, llAt } = this
    for (let t = from; t < to; t++) {
      const start = t - per
      if (hhAt < start) {
        hhAt = argMax(high, start, t)
        hh = high[hhAt]
      } else if (high[t] >= hh) {
        hh = high[t]
        hhAt = t
      }
      if (llAt < start) {
        llAt = argMin(low, start, t)
        ll = low[llAt]
      } else if (low[t] <= ll) {
        ll = low[t]
        llAt = t
      }
      if (start < 0) continue
      if (osc) o0[t] = factor * (hhAt - llAt)
      else {
        o0[t] = factor * (per - (t - llAt))
        o1[t] = factor * (per - (t - hhAt))
      }
    }
    this.hh = hh
    this.hhAt = hhAt
    this.ll = ll
    this.llAt = llAt
  }
}

/** Aroon (TA_AROON). */
export const aroon: IndicatorDef = {
  id: 'aroon',
  name: 'Aroon',
  category: 'trend',
  source: 'bars',
  inputs: ['high', 'low'],
  params: [timePeriod(14)],
  outputs: ['aroonDown', 'aroonUp'],
  talib: 'TA_AROON',
  notes:
    'Aroon up/down = 100/period * (period - rows since the highest high / lowest low) over the last period+1 rows, ' +
    'ties going to the most recent row as in TA-Lib; outputs in TA-Lib order (down, up).',
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    const { high, low } = input
    const n = high.length
    const outs = [output(n, p.timePeriod), output(n, p.timePeriod)]
    aroonScan(high, low, p.timePeriod, outs, false)
    return outs
  },
  stream: (p) => new AroonStream(p.timePeriod, false),
  reading: (out) => (out[1] > out[0] ? 'bullish' : out[1] < out[0] ? 'bearish' : 'neutral'),
}

/** Aroon oscillator (TA_AROONOSC). */
export const aroonosc: IndicatorDef = {
  id: 'aroonosc',
  name: 'Aroon Oscillator',
  category: 'trend',
  source: 'bars',
  inputs: ['high', 'low'],
  params: [timePeriod(14)],
  outputs: ['aroonosc'],
  talib: 'TA_AROONOSC',
  notes:
    'Aroon up minus Aroon down, computed as TA-Lib does: 100/period * (row of the highest high - row of the ' +
    'lowest low) over the last period+1 rows.',
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    const { high, low } = input
    const outs = [output(high.length, p.timePeriod)]
    aroonScan(high, low, p.timePeriod, outs, true)
    return outs
  },
  stream: (p) => new AroonStream(p.timePeriod, true),
  reading: (out) => (out[0] > 0 ? 'bullish' : out[0] < 0 ? 'bearish' : 'neutral'),
}

/**
 * Least-squares line over the last `period` closes in TA-Lib's coordinates (x = rows ago). The sums are recomputed
 * with TA-Lib's loop on every row, O(period) rather than O(1): running sums drift by a few ulps, which turns exact
 * zero slopes on flat windows into ±1e-11 and breaks relative agreement with TA-Lib near zero. The batch loop
 * reads the window straight from the input; the stream keeps it in a power-of-two ring
 */
class LinRegStream implements Stream {
  readonly out = nans(1)
  private readonly buf: Float64Array
  private readonly mask: number
  private readonly sumX: number
  private readonly divisor: number
  /** Ring position of the newest close */
  private at: number
  private seen = 0
  constructor(
    private readonly per: number,
    private readonly slopeOnly: boolean,
  ) {
    const cap = pow2(per)
    this.buf = new Float64Array(cap)
    this.mask = cap - 1
    this.at = this.mask
    this.sumX = linRegSumX(per)
    this.divisor = linRegDivisor(per)
  }
  update(x: Float64Array): void {
    const per = this.per
    const buf = this.buf
    const mask = this.mask
    const at = (this.at + 1) & mask
    this.at = at
    buf[at] = x[0]
    if (this.seen < per - 1) {
      this.seen++
      return
    }
    let sumY = 0
    let sumXY = 0
    for (let i = per; i-- !== 0; ) {
      const y = buf[(at - i) & mask]
      sumY += y
      sumXY += i * y
    }
    const sumX = this.sumX
    const slope = (per * sumXY - sumX * sumY) / this.divisor
    if (this.slopeOnly) this.out[0] = slope
    else this.out[0] = (sumY - slope * sumX) / per + slope * (per - 1)
  }
}

const linRegSumX = (per: number) => per * (per - 1) * 0.5
/** Integer division in TA-Lib; the product is always a multiple of 6 */
const linRegDivisor = (per: number) => {
  const sumX = linRegSumX(per)
  return sumX * sumX - per * ((per * (per - 1) * (2 * per - 1)) / 6)
}

/** TA_LINEARREG (or with `slopeOnly` TA_LINEARREG_SLOPE) over `x`, TA-Lib's loop and summation order */
function linRegBatch(x: Float64Array, per: number, slopeOnly: boolean): Float64Array {
  const out = output(x.length, per - 1)
  inChunks(new LinRegRows(x, out, per, slopeOnly), per - 1, x.length)
  return out
}

/**
 * TA-Lib's linear regression rows in a kernel run chunk by chunk, one loop per output. Each row's window sums add
 * rows t-per+1..t with x = per-1..0 rows ago, oldest first as TA-Lib does, two rows per step (the oldest alone first
 * when per is odd) to halve the inner loop's own overhead
 */
class LinRegRows implements ChunkedKernel {
  private readonly sumX: number
  private readonly divisor: number
  constructor(
    private readonly x: Float64Array,
    private readonly out: Float64Array,
    private readonly per: number,
    private readonly slopeOnly: boolean,
  ) {
    this.sumX = linRegSumX(per)
    this.divisor = linRegDivisor(per)
  }
  run(from: number, to: number): void {
    const { x, out, per, sumX, divisor } = this
    const odd = (per & 1) === 1
    if (this.slopeOnly) {
      for (let t = from; t < to; t++) {
        let sumY = 0
        let sumXY = 0
        let i = per - 1
        let j = t - i
        if (odd) {
          const y = x[j]
          sumY += y
          sumXY += i * y
          i--
          j++
        }
        for (; i > 0; i -= 2, j += 2) {
          const y0 = x[j]
          const y1 = x[j + 1]
          sumY += y0
          sumXY += i * y0
          sumY += y1
          sumXY += (i - 1) * y1
        }
        out[t] = (per * sumXY - sumX * sumY) / divisor
      }
    } else {
      for (let t = from; t < to; t++) {
        let sumY = 0
        let sumXY = 0
        let i = per - 1
        let j = t - i
        if (odd) {
          const y = x[j]
          sumY += y
          sumXY += i * y
          i--
          j++
        }
        for (; i > 0; i -= 2, j += 2) {
          const y0 = x[j]
          const y1 = x[j + 1]
          sumY += y0
          sumXY += i * y0
          sumY += y1
          sumXY += (i - 1) * y1
        }
        const slope = (per * sumXY - sumX * sumY) / divisor
        out[t] = (sumY - slope * sumX) / per + slope * (per - 1)
      }
    }
  }
}

/** Linear regression (TA_LINEARREG). */
export const linearreg: IndicatorDef = {
  id: 'linearreg',
  name: 'Linear Regression',
  category: 'trend',
  source: 'bars',
  inputs: ['close'],
  params: [timePeriod(14)],
  outputs: ['linearreg'],
  talib: 'TA_LINEARREG',
  notes:
    'End point of the least-squares line through the last `period` closes, TA-Lib\'s formula and summation order. ' +
    'The window sums are recomputed on every row as TA-Lib does, so an update costs O(period).',
  lookback: (p) => p.timePeriod - 1,
  batch: (input, p) => [linRegBatch(input.close, p.timePeriod, false)],
  stream: (p) => new LinRegStream(p.timePeriod, false),
  reading: priceVsLine,
}

/** Linear regression slope (TA_LINEARREG_SLOPE). */
export const linearregSlope: IndicatorDef = {
  id: 'linearreg_slope',
  name: 'Linear Regression Slope',
  category: 'trend',
  source: 'bars',
  inputs: ['close'],
  params: [timePeriod(14)],
  outputs: ['linearreg_slope'],
  talib: 'TA_LINEARREG_SLOPE',
  notes:
    'Slope per row of the least-squares line through the last `period` closes, TA-Lib\'s formula and summation ' +
    'order. The window sums are recomputed on every row as TA-Lib does, so an update costs O(period).',
  lookback: (p) => p.timePeriod - 1,
  batch: (input, p) => [linRegBatch(input.close, p.timePeriod, true)],
  stream: (p) => new LinRegStream(p.timePeriod, true),
  reading: (out) => (out[0] > 0 ? 'bullish' : out[0] < 0 ? 'bearish' : 'neutral'),
}

export const TREND: readonly IndicatorDef[] = [
  sma,
  ema,
  wma,
  dema,
  tema,
  trima,
  kama,
  t3,
  hma,
  supertrend,
  sar,
  ichimoku,
  adx,
  adxr,
  plusDi,
  minusDi,
  dx,
  aroon,
  aroonosc,
  linearreg,
  linearregSlope,
]
