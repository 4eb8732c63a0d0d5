// Volatility indicators: true range and ATR, Bollinger, Keltner and Donchian channels, dispersion, and annualised
// volatility estimators
//
// Batch loops and streams share the small kernels below, so both forms run the same arithmetic in the same order.
// Batch outputs are written once per row (`output` leaves only the warm-up prefix NaN), and kernels keep their
// windows in their own arrays with compare-and-reset positions rather than `%`
import { param, type Columns, type IndicatorDef, type Params, type ParamSpec, type Reading } from '../types.js'
import { ROW_STEP, slabKernels, type SlabKernels } from '../simd.js'
import { ifFinite, inChunks, nans, output, RollingMax, RollingMin, WindowExtremes, type ChunkedKernel } from '../util.js'

/** TA_EPSILON of the TA-Lib build we match (ta_utility.h); TA_IS_ZERO and TA_IS_ZERO_OR_NEG compare against it */
export const TA_EPSILON = 0.00000000000001
/** TA-Lib's TA_IS_ZERO */
export const taIsZero = (v: number) => -TA_EPSILON < v && v < TA_EPSILON
/** TA-Lib's TA_IS_ZERO_OR_NEG */
export const taIsZeroOrNeg = (v: number) => v < TA_EPSILON

export const periodParam = (def: number, min = 2, max = 1000, description = 'number of rows in the window') =>
  param('timePeriod', def, min, max, description, { integer: true })

/** Periods per year for annualised volatility; 525600 = 365 x 1440 one-minute bars */
export const periodsPerYearParam = param('periodsPerYear', 525600, 1, 1e8, 'rows per year used to annualise (mercury signals sets it from --interval: 8760 for 1h; 525600, 1m bars, when called directly)', {
  step: 1,
  integer: false,
})

/** TA_TRANGE: the greatest of high - low, |prev close - high| and |prev close - low|, compared in TA-Lib's order */
export function trueRange(h: number, l: number, prevClose: number): number {
  let greatest = h - l
  const val2 = Math.abs(prevClose - h)
  if (val2 > greatest) greatest = val2
  const val3 = Math.abs(prevClose - l)
  if (val3 > greatest) greatest = val3
  return greatest
}

/** Natural log of a / b; 0 when either is not positive, so one bad price cannot poison a running sum */
export function lnRatio(a: number, b: number): number {
  return a > 0 && b > 0 ? Math.log(a / b) : 0
}

/** Annualised volatility from a per-row variance; a variance at or below zero (flat window) gives 0 */
function annualise(variance: number, periodsPerYear: number): number {
  return variance > 0 ? Math.sqrt(variance * periodsPerYear) : 0
}

/**
 * ATR as TA_ATR: row 0 has no true range, the first ATR (row `per`) is the running-total mean of the first `per`
 * true ranges, then Wilder smoothing (prev * (per - 1) + tr) / per.
 */
export class AtrKernel {
  private prevClose = NaN
  private atr = 0
  private i = 0
  constructor(private readonly per: number) {}
  /** Feeds one bar; returns the ATR, NaN during the warm-up */
  next(h: number, l: number, c: number): number {
    const i = this.i
    const pc = this.prevClose
    this.prevClose = c
    // Past the seed only `i > per` matters, so the count stops there
    if (i <= this.per) this.i = i + 1
    if (i === 0) return NaN
    const tr = trueRange(h, l, pc)
    const per = this.per
    if (i <= per) {
      this.atr += tr
      if (i < per) return NaN
      this.atr /= per
      return this.atr
    }
    this.atr *= per - 1
    this.atr += tr
    this.atr /= per
    return this.atr
  }
}

/**
 * AtrKernel's arithmetic over whole columns, writing rows `per` on: the ATR, or with `normalise` the NATR (ATR /
 * close x 100, 0 for a TA_IS_ZERO close). The seed is summed here, the rest runs in a kernel
 */
function atrRows(high: Float64Array, low: Float64Array, close: Float64Array, per: number, out: Float64Array, normalise: boolean): void {
  const n = close.length
  if (n <= per) return
  let atr = 0
  for (let i = 1; i <= per; i++) atr += trueRange(high[i], low[i], close[i - 1])
  atr /= per
  out[per] = normalise ? natrOf(atr, close[per]) : atr
  inChunks(new AtrRows(high, low, close, out, per, normalise, atr), per + 1, n)
}

/** AtrKernel's smoothing after the seed, the ATR in a local variable while a chunk runs; one loop per output */
class AtrRows implements ChunkedKernel {
  constructor(
    private readonly high: Float64Array,
    private readonly low: Float64Array,
    private readonly close: Float64Array,
    private readonly out: Float64Array,
    private readonly per: number,
    private readonly normalise: boolean,
    private atr: number,
  ) {}
  run(from: number, to: number): void {
    const { high, low, close, out, per } = this
    const pm1 = per - 1
    let atr = this.atr
    if (this.normalise) {
      for (let i = from; i < to; i++) {
        atr *= pm1
        atr += trueRange(high[i], low[i], close[i - 1])
        atr /= per
        out[i] = natrOf(atr, close[i])
      }
    } else {
      for (let i = from; i < to; i++) {
        atr *= pm1
        atr += trueRange(high[i], low[i], close[i - 1])
        atr /= per
        out[i] = atr
      }
    }
    this.atr = atr
  }
}

/**
 * EMA as TA_EMA with the default compatibility: seeded with the running-total mean of the first `per` values,
 * then ((x - prev) * k) + prev with k = 2 / (per + 1).
 */
export class EmaKernel {
  private readonly k: number
  private ema = 0
  private i = 0
  constructor(private readonly per: number) {
    this.k = 2 / (per + 1)
  }
  /** Feeds one value; returns the EMA, NaN for the first `per - 1` values */
  next(v: number): number {
    const i = this.i
    if (i < this.per) {
      this.i = i + 1
      this.ema += v
      if (i < this.per - 1) return NaN
      this.ema /= this.per
      return this.ema
    }
    this.ema = (v - this.ema) * this.k + this.ema
    return this.ema
  }
}

/**
 * Rolling mean and population variance as TA-Lib's INT_VAR (also the SMA and INT_stddev_using_precalc_ma of
 * TA_BBANDS): running totals of x and x^2, add the new value, take the means, drop the oldest, then
 * variance = mean(x^2) - mean(x)^2.
 */
export class VarKernel {
  private readonly buf: Float64Array
  private head = 0
  private count = 0
  private total1 = 0
  private total2 = 0
  mean = NaN
  variance = NaN
  constructor(private readonly per: number) {
    this.buf = new Float64Array(per)
  }
  /** Feeds one value; true once `mean` and `variance` cover a full window */
  next(v: number): boolean {
    const per = this.per
    const head = this.head
    this.buf[head] = v
    // The slot after the newest holds the oldest value of a full window
    const next = head + 1 === per ? 0 : head + 1
    this.head = next
    this.total1 += v
    this.total2 += v * v
    if (this.count < per && ++this.count < per) return false
    const old = this.buf[next]
    this.mean = this.total1 / this.per
    const mean2 = this.total2 / this.per
    this.total1 -= old
    this.total2 -= old * old
    this.variance = mean2 - this.mean * this.mean
    return true
  }
}

/** TA_STDDEV's step from a variance: 0 when TA_IS_ZERO_OR_NEG, else sqrt times the multiplier */
function stddevOf(variance: number, nbDev: number): number {
  return taIsZeroOrNeg(variance) ? 0 : Math.sqrt(variance) * nbDev
}

/** What a VarianceRows kernel writes */
const VARIANCE = 0
const STDDEV = 1
const BANDS = 2
const PCTB = 3
const WIDTH = 4
type VarianceOutput = typeof VARIANCE | typeof STDDEV | typeof BANDS | typeof PCTB | typeof WIDTH

/**
 * VarKernel's arithmetic over a whole column (and BandsKernel's, with the %B and bandwidth formulas) with the value
 * leaving the window read back from the input, writing rows per-1 on. The constructor sums the first per-1 rows;
 * `run`, called chunk by chunk with the running totals in local variables, takes the rest, one loop per output
 */
class VarianceRows implements ChunkedKernel {
  private total1 = 0
  private total2 = 0
  constructor(
    private readonly x: Float64Array,
    private readonly per: number,
    private readonly kind: VarianceOutput,
    /** The output, or the upper, middle and lower bands */
    private readonly outs: Float64Array[],
    /** nbDev for STDDEV; nbDevUp and nbDevDn for the bands */
    private readonly up: number,
    private readonly dn: number,
  ) {
    let total1 = 0
    let total2 = 0
    for (let i = 0, end = Math.min(per - 1, x.length); i < end; i++) {
      const v = x[i]
      total1 += v
      total2 += v * v
    }
    this.total1 = total1
    this.total2 = total2
  }
  run(from: number, to: number): void {
    const kind = this.kind
    if (kind === VARIANCE) this.runVariance(from, to)
    else if (kind === STDDEV) this.runStddev(from, to)
    else if (kind === BANDS) this.runBands(from, to)
    else this.runBandRatio(from, to, kind === PCTB)
  }
  private runVariance(from: number, to: number): void {
    const { x, per } = this
    const out = this.outs[0]
    let { total1, total2 } = this
    for (let i = from, j = from - per + 1; i < to; i++, j++) {
      const v = x[i]
      total1 += v
      total2 += v * v
      const mean = total1 / per
      const mean2 = total2 / per
      const old = x[j]
      total1 -= old
      total2 -= old * old
      out[i] = mean2 - mean * mean
    }
    this.total1 = total1
    this.total2 = total2
  }
  private runStddev(from: number, to: number): void {
    const { x, per, up: nbDev } = this
    const out = this.outs[0]
    let { total1, total2 } = this
    for (let i = from, j = from - per + 1; i < to; i++, j++) {
      const v = x[i]
      total1 += v
      total2 += v * v
      const mean = total1 / per
      const mean2 = total2 / per
      const old = x[j]
      total1 -= old
      total2 -= old * old
      out[i] = stddevOf(mean2 - mean * mean, nbDev)
    }
    this.total1 = total1
    this.total2 = total2
  }
  private runBands(from: number, to: number): void {
    const { x, per, up, dn } = this
    const [upper, middle, lower] = this.outs
    let { total1, total2 } = this
    for (let i = from, j = from - per + 1; i < to; i++, j++) {
      const v = x[i]
      total1 += v
      total2 += v * v
      const mean = total1 / per
      const mean2 = total2 / per
      const old = x[j]
      total1 -= old
      total2 -= old * old
      const sd = stddevOf(mean2 - mean * mean, 1)
      upper[i] = mean + sd * up
      middle[i] = mean
      lower[i] = mean - sd * dn
    }
    this.total1 = total1
    this.total2 = total2
  }
  /** %B (pctbOf) or, without `pctb`, the bandwidth (widthOf) */
  private runBandRatio(from: number, to: number, pctb: boolean): void {
    const { x, per, up, dn } = this
    const out = this.outs[0]
    let { total1, total2 } = this
    for (let i = from, j = from - per + 1; i < to; i++, j++) {
      const v = x[i]
      total1 += v
      total2 += v * v
      const mean = total1 / per
      const mean2 = total2 / per
      const old = x[j]
      total1 -= old
      total2 -= old * old
      const sd = stddevOf(mean2 - mean * mean, 1)
      const upper = mean + sd * up
      const lower = mean - sd * dn
      if (pctb) {
        const w = upper - lower
        out[i] = w !== 0 ? (v - lower) / w : 0.5
      } else out[i] = mean !== 0 ? (upper - lower) / mean : 0
    }
    this.total1 = total1
    this.total2 = total2
  }
}

/** Writes a VarianceRows output from row per-1 on */
function varianceRows(x: Float64Array, per: number, kind: VarianceOutput, outs: Float64Array[], up = NaN, dn = NaN): void {
  inChunks(new VarianceRows(x, per, kind, outs, up, dn), per - 1, x.length)
}

/**
 * Sum of the last `size` values kept as a running total (subtract the value that leaves, add the new one). It is
 * reset to exactly 0 whenever the window holds only zeros, so rounding residue cannot outlive the values.
 */
export class WindowSum {
  private readonly buf: Float64Array
  private head = 0
  private count = 0
  private nonzero = 0
  sum = 0
  constructor(private readonly size: number) {
    this.buf = new Float64Array(size)
  }
  get full(): boolean {
    return this.count === this.size
  }
  push(v: number): void {
    const head = this.head
    if (this.count === this.size) {
      const old = this.buf[head]
      this.sum -= old
      if (old !== 0) this.nonzero--
    } else this.count++
    this.buf[head] = v
    this.head = head + 1 === this.size ? 0 : head + 1
    this.sum += v
    if (v !== 0) this.nonzero++
    if (this.nonzero === 0) this.sum = 0
  }
}

const hlc = ['high', 'low', 'close'] as const

/** Average True Range (TA_ATR) */
export const atr: IndicatorDef = {
  id: 'atr',
  name: 'Average True Range',
  category: 'volatility',
  source: 'bars',
  inputs: hlc,
  params: [periodParam(14, 1, 1000, 'Wilder smoothing period')],
  outputs: ['atr'],
  talib: 'TA_ATR',
  notes:
    'Wilder ATR as TA-Lib: true range from row 1 (row 0 has no previous close), seeded with the mean of the first ' +
    '`timePeriod` true ranges, then (prev*(period-1)+tr)/period; timePeriod 1 gives the true range.',
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    const { high, low, close } = input
    const n = close.length
    const per = p.timePeriod
    const out = output(n, per)
    const result = [out]
    atrRows(high, low, close, per, out, false)
    return result
  },
  stream(p) {
    const out = nans(1)
    const k = new AtrKernel(p.timePeriod)
    return {
      out,
      update(x) {
        out[0] = k.next(x[0], x[1], x[2])
      },
    }
  },
}

/** TA_NATR's normalisation: 0 when the close is TA_IS_ZERO */
const natrOf = (a: number, c: number) => (!taIsZero(c) ? (a / c) * 100 : 0)

/** Normalised Average True Range (TA_NATR) */
export const natr: IndicatorDef = {
  id: 'natr',
  name: 'Normalized Average True Range',
  category: 'volatility',
  source: 'bars',
  inputs: hlc,
  params: [periodParam(14, 2, 1000, 'Wilder smoothing period')],
  outputs: ['natr'],
  talib: 'TA_NATR',
  notes:
    'ATR (as TA_ATR) / close x 100, 0 when the close is TA_IS_ZERO. timePeriod starts at 2: TA-Lib returns the plain, ' +
    'unnormalised true range for period 1, and for a zero close writes its 0 to the wrong output slot.',
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    const { high, low, close } = input
    const n = close.length
    const per = p.timePeriod
    const out = output(n, per)
    const result = [out]
    atrRows(high, low, close, per, out, true)
    return result
  },
  stream(p) {
    const out = nans(1)
    const k = new AtrKernel(p.timePeriod)
    return {
      out,
      update(x) {
        const a = k.next(x[0], x[1], x[2])
        out[0] = a === a ? natrOf(a, x[2]) : NaN
      },
    }
  },
}

/**
 * TA_TRANGE into `out` from row 1. Returns a check, finite exactly when every input is: each row's |prev close -
 * high| + |prev close - low|, which reads every high and low but row 0's and every close but the last, and those
 * three values, times 0
 */
function trangeRows(input: Columns, out: Float64Array): number {
  const { high, low, close } = input
  const n = close.length
  if (n === 0) return 0
  let check = (high[0] + low[0] + close[n - 1]) * 0
  const simd = slabKernels(out)
  if (simd !== undefined) return check + trangeSlab(simd, input, out)
  // trueRange inlined, two rows at a time: the per-iteration overhead of a loop this short is a large share. A
  // row left over goes first (see rocRows in momentum.ts)
  let i = 1
  if (n > 1 && (n - 1) % 2 === 1) {
    const h = high[1]
    const l = low[1]
    const c = close[0]
    check += (Math.abs(c - h) + Math.abs(c - l)) * 0
    out[1] = trueRange(h, l, c)
    i = 2
  }
  for (; i < n; i += 2) {
    const c0 = close[i - 1]
    const h0 = high[i]
    const l0 = low[i]
    const c1 = close[i]
    const h1 = high[i + 1]
    const l1 = low[i + 1]
    let g0 = h0 - l0
    let g1 = h1 - l1
    const a0 = Math.abs(c0 - h0)
    const a1 = Math.abs(c1 - h1)
    if (a0 > g0) g0 = a0
    if (a1 > g1) g1 = a1
    const b0 = Math.abs(c0 - l0)
    const b1 = Math.abs(c1 - l1)
    if (b0 > g0) g0 = b0
    if (b1 > g1) g1 = b1
    check += (a0 + b0 + (a1 + b1)) * 0
    out[i] = g0
    out[i + 1] = g1
  }
  return check
}

/** Rows of each input per call of the trueRange kernel: three inputs fit the slab's scratch region */
const TR_CHUNK = 4096

/**
 * trangeRows' rows 1.. through a slab's kernel (simd.ts): the highs, lows and previous closes a chunk at a time into
 * the slab's scratch, the output in place; the rows past a multiple of ROW_STEP in JS. Returns the rows' check
 */
function trangeSlab(k: SlabKernels, input: Columns, out: Float64Array): number {
  const { high, low, close } = input
  const n = close.length
  const s = k.scratch
  let check = 0
  for (let a = 1; a < n; a += TR_CHUNK) {
    const b = Math.min(n, a + TR_CHUNK)
    const m = (b - a) & -ROW_STEP
    if (m > 0) {
      s.set(high.subarray(a, a + m), 0)
      s.set(low.subarray(a, a + m), TR_CHUNK)
      s.set(close.subarray(a - 1, a - 1 + m), 2 * TR_CHUNK)
      check += k.trueRange(0, TR_CHUNK * 8, TR_CHUNK * 16, m * 8, out.byteOffset + a * 8)
    }
    for (let i = a + m; i < b; i++) {
      const h = high[i]
      const l = low[i]
      const c = close[i - 1]
      check += (Math.abs(c - h) + Math.abs(c - l)) * 0
      out[i] = trueRange(h, l, c)
    }
  }
  return check
}

/** True Range (TA_TRANGE) */
export const trange: IndicatorDef = {
  id: 'trange',
  name: 'True Range',
  category: 'volatility',
  source: 'bars',
  inputs: hlc,
  params: [],
  outputs: ['trange'],
  talib: 'TA_TRANGE',
  notes:
    'Greatest of high-low, |prev close-high| and |prev close-low|; like TA-Lib, row 0 (no previous close) is NaN ' +
    'rather than high-low.',
  lookback: () => 1,
  batch(input) {
    const out = output(input.close.length, 1)
    trangeRows(input, out)
    return [out]
  },
  batchIfFinite(input) {
    const out = output(input.close.length, 1)
    return ifFinite([out], trangeRows(input, out))
  },
  stream() {
    const out = nans(1)
    let prev = NaN
    let i = 0
    return {
      out,
      update(x) {
        if (i++ > 0) out[0] = trueRange(x[0], x[1], prev)
        prev = x[2]
      },
    }
  },
}

const nbDevUp = param('nbDevUp', 2, 0, 10, 'deviation multiplier for the upper band', { step: 0.1, integer: false })
const nbDevDn = param('nbDevDn', 2, 0, 10, 'deviation multiplier for the lower band', { step: 0.1, integer: false })
const bbandsParams: readonly ParamSpec[] = [periodParam(5), nbDevUp, nbDevDn]
const bbandsNote = 'Middle band = SMA only (TA-Lib\'s default optInMAType; no matype parameter)'

/** Bollinger bands of one row as TA_BBANDS; `next` is false during the warm-up */
class BandsKernel {
  private readonly v: VarKernel
  upper = NaN
  middle = NaN
  lower = NaN
  constructor(
    per: number,
    private readonly up: number,
    private readonly dn: number,
  ) {
    this.v = new VarKernel(per)
  }
  next(c: number): boolean {
    if (!this.v.next(c)) return false
    const sd = stddevOf(this.v.variance, 1)
    this.middle = this.v.mean
    this.upper = this.middle + sd * this.up
    this.lower = this.middle - sd * this.dn
    return true
  }
}

/** %B; 0.5 when the bands have collapsed (flat window: the close is the middle band) */
const pctbOf = (c: number, b: BandsKernel) => {
  const w = b.upper - b.lower
  return w !== 0 ? (c - b.lower) / w : 0.5
}
/** Bandwidth; 0 for a zero middle band */
const widthOf = (b: BandsKernel) => (b.middle !== 0 ? (b.upper - b.lower) / b.middle : 0)

/** Bollinger Bands (TA_BBANDS) */
export const bbands: IndicatorDef = {
  id: 'bbands',
  name: 'Bollinger Bands',
  category: 'volatility',
  source: 'bars',
  inputs: ['close'],
  params: bbandsParams,
  outputs: ['upperBand', 'middleBand', 'lowerBand'],
  talib: 'TA_BBANDS',
  notes:
    `${bbandsNote}; bands = middle +/- nbDev x population stddev from TA-Lib's running sums (0 when the variance is ` +
    'TA_IS_ZERO_OR_NEG). Reading is mean-reverting: close above the upper band bearish, below the lower bullish.',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const x = input.close
    const n = x.length
    // The kernel has values exactly from row timePeriod-1 on, so every later row is written
    const upper = output(n, p.timePeriod - 1)
    const middle = output(n, p.timePeriod - 1)
    const lower = output(n, p.timePeriod - 1)
    const result = [upper, middle, lower]
    varianceRows(x, p.timePeriod, BANDS, result, p.nbDevUp, p.nbDevDn)
    return result
  },
  stream(p) {
    const out = nans(3)
    const b = new BandsKernel(p.timePeriod, p.nbDevUp, p.nbDevDn)
    return {
      out,
      update(x) {
        if (!b.next(x[0])) return
        out[0] = b.upper
        out[1] = b.middle
        out[2] = b.lower
      },
    }
  },
  reading: (out, x) => (x[0] > out[0] ? 'bearish' : x[0] < out[2] ? 'bullish' : 'neutral'),
}

/** Bollinger %B from TA_BBANDS bands */
export const bbandsPctb: IndicatorDef = {
  id: 'bbands_pctb',
  name: 'Bollinger %B',
  category: 'volatility',
  source: 'bars',
  inputs: ['close'],
  params: bbandsParams,
  outputs: ['bbands_pctb'],
  talib: 'TA_BBANDS',
  notes:
    `(close - lower) / (upper - lower) on the bbands bands: 0 at the lower band, 0.5 at the middle (with equal ` +
    `multipliers), 1 at the upper; 0.5 when the bands collapse. ${bbandsNote}. Above 1 reads bearish, below 0 bullish.`,
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const x = input.close
    const n = x.length
    const out = output(n, p.timePeriod - 1)
    const result = [out]
    varianceRows(x, p.timePeriod, PCTB, result, p.nbDevUp, p.nbDevDn)
    return result
  },
  stream(p) {
    const out = nans(1)
    const b = new BandsKernel(p.timePeriod, p.nbDevUp, p.nbDevDn)
    return {
      out,
      update(x) {
        if (b.next(x[0])) out[0] = pctbOf(x[0], b)
      },
    }
  },
  reading: (out) => (out[0] > 1 ? 'bearish' : out[0] < 0 ? 'bullish' : 'neutral'),
}

/** Bollinger bandwidth from TA_BBANDS bands */
export const bbandsWidth: IndicatorDef = {
  id: 'bbands_width',
  name: 'Bollinger Bandwidth',
  category: 'volatility',
  source: 'bars',
  inputs: ['close'],
  params: bbandsParams,
  outputs: ['bbands_width'],
  talib: 'TA_BBANDS',
  notes: `(upper - lower) / middle on the bbands bands, as a ratio (not x100); 0 for a zero middle band. ${bbandsNote}.`,
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const x = input.close
    const n = x.length
    const out = output(n, p.timePeriod - 1)
    const result = [out]
    varianceRows(x, p.timePeriod, WIDTH, result, p.nbDevUp, p.nbDevDn)
    return result
  },
  stream(p) {
    const out = nans(1)
    const b = new BandsKernel(p.timePeriod, p.nbDevUp, p.nbDevDn)
    return {
      out,
      update(x) {
        if (b.next(x[0])) out[0] = widthOf(b)
      },
    }
  },
}

/** Keltner channel of one row: EMA middle and Wilder ATR, each NaN until its own warm-up ends */
class KeltnerKernel {
  private readonly ema: EmaKernel
  private readonly atr: AtrKernel
  private readonly mult: number
  upper = NaN
  middle = NaN
  lower = NaN
  constructor(p: Params) {
    this.ema = new EmaKernel(p.timePeriod)
    this.atr = new AtrKernel(p.atrPeriod)
    this.mult = p.multiplier
  }
  next(h: number, l: number, c: number): boolean {
    const m = this.ema.next(c)
    const a = this.atr.next(h, l, c)
    if (m !== m || a !== a) return false
    const d = this.mult * a
    this.middle = m
    this.upper = m + d
    this.lower = m - d
    return true
  }
}

/** Keltner Channels (EMA middle +/- multiplier x ATR) */
export const keltner: IndicatorDef = {
  id: 'keltner',
  name: 'Keltner Channels',
  category: 'volatility',
  source: 'bars',
  inputs: hlc,
  params: [
    periodParam(20, 2, 1000, 'EMA period of the middle line'),
    param('atrPeriod', 10, 1, 1000, 'Wilder ATR period', { integer: true }),
    param('multiplier', 2, 0.1, 10, 'ATR multiplier for the channel width', { step: 0.1, integer: false }),
  ],
  outputs: ['upperBand', 'middleBand', 'lowerBand'],
  notes:
    'Not in TA-Lib. Middle = EMA(close, timePeriod) as TA_EMA (SMA seed, k = 2/(n+1)); bands = middle +/- multiplier x ' +
    'ATR(atrPeriod) as TA_ATR (Wilder). Warm-up is the longer of the two. Reading is breakout: close above the upper band bullish.',
  lookback: (p) => Math.max(p.timePeriod - 1, p.atrPeriod),
  batch(input, p) {
    const { high, low, close } = input
    const n = close.length
    const lb = Math.max(p.timePeriod - 1, p.atrPeriod)
    const upper = output(n, lb)
    const middle = output(n, lb)
    const lower = output(n, lb)
    const result = [upper, middle, lower]
    const k = new KeltnerKernel(p)
    for (let i = 0; i < n; i++) {
      const ok = k.next(high[i], low[i], close[i])
      if (i < lb) continue
      upper[i] = ok ? k.upper : NaN
      middle[i] = ok ? k.middle : NaN
      lower[i] = ok ? k.lower : NaN
    }
    return result
  },
  stream(p) {
    const out = nans(3)
    const k = new KeltnerKernel(p)
    return {
      out,
      update(x) {
        if (!k.next(x[0], x[1], x[2])) return
        out[0] = k.upper
        out[1] = k.middle
        out[2] = k.lower
      },
    }
  },
  reading: (out, x) => (x[2] > out[0] ? 'bullish' : x[2] < out[2] ? 'bearish' : 'neutral'),
}

/** Donchian channel of one row: highest high and lowest low of the last `per` rows */
class DonchianKernel {
  private readonly hi: RollingMax
  private readonly lo: RollingMin
  private i = 0
  upper = NaN
  lower = NaN
  constructor(private readonly per: number) {
    this.hi = new RollingMax(per)
    this.lo = new RollingMin(per)
  }
  next(h: number, l: number): boolean {
    this.upper = this.hi.push(h)
    this.lower = this.lo.push(l)
    if (this.i >= this.per - 1) return true
    this.i++
    return false
  }
}

/**
 * Donchian's batch loop in a kernel run chunk by chunk: the window's extremes as TA_MAX and TA_MIN find them
 * (WindowExtremes: TA-Lib's scans, or the slab's kernel when the output lies in an arena)
 */
class DonchianRows implements ChunkedKernel {
  private readonly ext: WindowExtremes
  constructor(
    high: Float64Array,
    low: Float64Array,
    private readonly outs: Float64Array[],
    private readonly per: number,
  ) {
    this.ext = new WindowExtremes(high, low, per, outs[0])
  }
  run(from: number, to: number): void {
    const { per, ext } = this
    const [upper, middle, lower] = this.outs
    ext.fill(from, to)
    const { hh: H, ll: L, base } = ext
    for (let i = Math.max(from, per - 1); i < to; i++) {
      const hh = H[i - base]
      const ll = L[i - base]
      upper[i] = hh
      middle[i] = (hh + ll) / 2
      lower[i] = ll
    }
  }
}

/** Donchian Channels */
export const donchian: IndicatorDef = {
  id: 'donchian',
  name: 'Donchian Channels',
  category: 'volatility',
  source: 'bars',
  inputs: ['high', 'low'],
  params: [periodParam(20)],
  outputs: ['upperBand', 'middleBand', 'lowerBand'],
  notes:
    'Not in TA-Lib. Upper = highest high and lower = lowest low of the last timePeriod rows including the current one ' +
    '(as TA_MAX/TA_MIN), middle = their midpoint. Reading: a high at the upper band bullish, a low at the lower band bearish.',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const { high, low } = input
    const n = high.length
    const per = p.timePeriod
    const upper = output(n, per - 1)
    const middle = output(n, per - 1)
    const lower = output(n, per - 1)
    const result = [upper, middle, lower]
    inChunks(new DonchianRows(high, low, result, per), 0, n)
    return result
  },
  stream(p) {
    const out = nans(3)
    const k = new DonchianKernel(p.timePeriod)
    return {
      out,
      update(x) {
        if (!k.next(x[0], x[1])) return
        out[0] = k.upper
        out[1] = (k.upper + k.lower) / 2
        out[2] = k.lower
      },
    }
  },
  reading: (out, x): Reading => {
    const up = x[0] >= out[0]
    const down = x[1] <= out[2]
    return up && !down ? 'bullish' : down && !up ? 'bearish' : 'neutral'
  },
}

/** Standard Deviation (TA_STDDEV) */
export const stddev: IndicatorDef = {
  id: 'stddev',
  name: 'Standard Deviation',
  category: 'volatility',
  source: 'bars',
  inputs: ['close'],
  params: [periodParam(5), param('nbDev', 1, 0.1, 10, 'multiplier of the deviation', { step: 0.1, integer: false })],
  outputs: ['stddev'],
  talib: 'TA_STDDEV',
  notes:
    'Population standard deviation of the last timePeriod closes x nbDev, from TA-Lib\'s running sums ' +
    '(mean(x^2) - mean(x)^2), 0 when that variance is TA_IS_ZERO_OR_NEG.',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const x = input.close
    const n = x.length
    const out = output(n, p.timePeriod - 1)
    const result = [out]
    varianceRows(x, p.timePeriod, STDDEV, result, p.nbDev)
    return result
  },
  stream(p) {
    const out = nans(1)
    const v = new VarKernel(p.timePeriod)
    return {
      out,
      update(x) {
        if (v.next(x[0])) out[0] = stddevOf(v.variance, p.nbDev)
      },
    }
  },
}

/** Variance (TA_VAR) */
export const variance: IndicatorDef = {
  id: 'var',
  name: 'Variance',
  category: 'volatility',
  source: 'bars',
  inputs: ['close'],
  params: [
    periodParam(5, 1),
    param('nbDev', 1, 0.1, 10, 'accepted for TA-Lib compatibility and ignored, as in TA_VAR', { step: 0.1, integer: false }),
  ],
  outputs: ['var'],
  talib: 'TA_VAR',
  notes:
    'Population variance of the last timePeriod closes from TA-Lib\'s running sums, mean(x^2) - mean(x)^2, not clamped ' +
    '(it can be a rounding-size negative on flat data, as in TA-Lib). nbDev is ignored, as TA-Lib ignores it.',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const x = input.close
    const n = x.length
    const out = output(n, p.timePeriod - 1)
    const result = [out]
    varianceRows(x, p.timePeriod, VARIANCE, result)
    return result
  },
  stream(p) {
    const out = nans(1)
    const v = new VarKernel(p.timePeriod)
    return {
      out,
      update(x) {
        if (v.next(x[0])) out[0] = v.variance
      },
    }
  },
}

/** Realised volatility of one row: sample stddev of the last `per` log close-to-close returns, annualised */
class RealizedVolKernel {
  private readonly s1: WindowSum
  private readonly s2: WindowSum
  private prev = NaN
  private i = 0
  constructor(
    private readonly per: number,
    private readonly ppy: number,
  ) {
    this.s1 = new WindowSum(per)
    this.s2 = new WindowSum(per)
  }
  next(c: number): number {
    const pc = this.prev
    this.prev = c
    if (this.i === 0) {
      this.i = 1
      return NaN
    }
    const r = lnRatio(c, pc)
    this.s1.push(r)
    this.s2.push(r * r)
    if (!this.s1.full) return NaN
    const n = this.per
    const s = this.s1.sum
    return annualise((this.s2.sum - (s * s) / n) / (n - 1), this.ppy)
  }
}

/**
 * RealizedVolKernel's batch loop in a kernel run chunk by chunk, from row 1: its two WindowSums, which fill and
 * wrap together, with one ring position and count and their rings, sums and counts of non-zero values in local
 * variables while a chunk runs; each step is WindowSum.push's, in its order
 */
class RealizedVolRows implements ChunkedKernel {
  private readonly ring1: Float64Array
  private readonly ring2: Float64Array
  private head = 0
  private count = 0
  private sum1 = 0
  private sum2 = 0
  private nonzero1 = 0
  private nonzero2 = 0
  constructor(
    private readonly x: Float64Array,
    private readonly out: Float64Array,
    private readonly per: number,
    private readonly ppy: number,
  ) {
    this.ring1 = new Float64Array(per)
    this.ring2 = new Float64Array(per)
  }
  run(from: number, to: number): void {
    const { x, out, per, ppy, ring1, ring2 } = this
    let { head, count, sum1, sum2, nonzero1, nonzero2 } = this
    for (let i = from; i < to; i++) {
      const r = lnRatio(x[i], x[i - 1])
      const r2 = r * r
      if (count === per) {
        const a = ring1[head]
        const b = ring2[head]
        sum1 -= a
        if (a !== 0) nonzero1--
        sum2 -= b
        if (b !== 0) nonzero2--
      } else count++
      ring1[head] = r
      ring2[head] = r2
      head = head + 1 === per ? 0 : head + 1
      sum1 += r
      if (r !== 0) nonzero1++
      if (nonzero1 === 0) sum1 = 0
      sum2 += r2
      if (r2 !== 0) nonzero2++
      if (nonzero2 === 0) sum2 = 0
      out[i] = count === per ? annualise((sum2 - (sum1 * sum1) / per) / (per - 1), ppy) : NaN
    }
    this.head = head
    this.count = count
    this.sum1 = sum1
    this.sum2 = sum2
    this.nonzero1 = nonzero1
    this.nonzero2 = nonzero2
  }
}

const annualNote =
  'annualised by sqrt(periodsPerYear): bars per 365-day year of the interval they run on (`mercury signals` and backtests set it; 525600 = 1m bars when runBatch is called without it)'

/** Realised (historical) volatility of log returns */
export const realizedVol: IndicatorDef = {
  id: 'realized_vol',
  name: 'Realized Volatility',
  category: 'volatility',
  source: 'bars',
  inputs: ['close'],
  params: [periodParam(20, 2, 10000, 'number of returns in the window'), periodsPerYearParam],
  outputs: ['realized_vol'],
  notes:
    'Sample (n-1) standard deviation of the last timePeriod log returns ln(close/prev close), ' +
    `${annualNote}; from running sums of r and r^2.`,
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    const x = input.close
    const n = x.length
    const out = output(n, 0)
    if (n > 0) {
      out[0] = NaN
      inChunks(new RealizedVolRows(x, out, p.timePeriod, p.periodsPerYear), 1, n)
    }
    return [out]
  },
  stream(p) {
    const out = nans(1)
    const k = new RealizedVolKernel(p.timePeriod, p.periodsPerYear)
    return {
      out,
      update(x) {
        out[0] = k.next(x[0])
      },
    }
  },
}

const LN2_4 = 4 * Math.LN2
const GK_C = 2 * Math.LN2 - 1

/** Parkinson (1980) per-bar term ln(H/L)^2 / (4 ln 2) */
const parkinsonTerm = (h: number, l: number) => {
  const hl = lnRatio(h, l)
  return (hl * hl) / LN2_4
}
/** Garman-Klass (1980) per-bar term 0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2 */
const garmanKlassTerm = (o: number, h: number, l: number, c: number) => {
  const hl = lnRatio(h, l)
  const co = lnRatio(c, o)
  return 0.5 * hl * hl - GK_C * co * co
}
/** Rogers-Satchell (1991) per-bar term u(u - c) + d(d - c) with u = ln(H/O), d = ln(L/O) and cc = c = ln(C/O) */
const rogersSatchellOf = (o: number, h: number, l: number, cc: number) => {
  const u = lnRatio(h, o)
  const d = lnRatio(l, o)
  return u * (u - cc) + d * (d - cc)
}
const rogersSatchellTerm = (o: number, h: number, l: number, c: number) => rogersSatchellOf(o, h, l, lnRatio(c, o))

/** Rolling mean of a per-bar variance term over `per` rows, annualised */
class RangeVolKernel {
  private readonly s: WindowSum
  constructor(
    private readonly per: number,
    private readonly ppy: number,
  ) {
    this.s = new WindowSum(per)
  }
  next(term: number): number {
    this.s.push(term)
    return this.s.full ? annualise(this.s.sum / this.per, this.ppy) : NaN
  }
}

/**
 * RangeVolKernel's batch form, in place: each row's term in `io` is replaced by the annualised mean of the last
 * `timePeriod` terms (NaN before the first full window), run chunk by chunk with the WindowSum's ring position,
 * count, sum and count of non-zero terms in local variables rather than fields; each step is WindowSum.push's, in
 * its order. The terms are written by each definition's own loop first, so this loop is the same for all of them
 */
class RangeVolRows implements ChunkedKernel {
  private readonly ring: Float64Array
  private head = 0
  private count = 0
  private sum = 0
  private nonzero = 0
  constructor(
    private readonly io: Float64Array,
    private readonly per: number,
    private readonly ppy: number,
  ) {
    this.ring = new Float64Array(per)
  }
  run(from: number, to: number): void {
    const { io, per, ppy, ring } = this
    let { head, count, sum, nonzero } = this
    for (let i = from; i < to; i++) {
      const v = io[i]
      if (count === per) {
        const old = ring[head]
        sum -= old
        if (old !== 0) nonzero--
      } else count++
      ring[head] = v
      head = head + 1 === per ? 0 : head + 1
      sum += v
      if (v !== 0) nonzero++
      if (nonzero === 0) sum = 0
      io[i] = count === per ? annualise(sum / per, ppy) : NaN
    }
    this.head = head
    this.count = count
    this.sum = sum
    this.nonzero = nonzero
  }
}

function rangeVolRows(io: Float64Array, p: Params): void {
  inChunks(new RangeVolRows(io, p.timePeriod, p.periodsPerYear), 0, io.length)
}

// The estimators' per-row terms, each loop in a function of its own: written inline in a batch function, a loop
// kept running in its first on-stack-replacement code once the function was deoptimised by the switch between heap
// and arena outputs (measured in the order BENCHMARKS.md runs them: parkinson 23 against 15 ms for 1,000,000 rows)

function parkinsonTerms(high: Float64Array, low: Float64Array, out: Float64Array): void {
  for (let i = 0; i < out.length; i++) out[i] = parkinsonTerm(high[i], low[i])
}

function garmanKlassTerms(open: Float64Array, high: Float64Array, low: Float64Array, close: Float64Array, out: Float64Array): void {
  for (let i = 0; i < out.length; i++) out[i] = garmanKlassTerm(open[i], high[i], low[i], close[i])
}

function rogersSatchellTerms(open: Float64Array, high: Float64Array, low: Float64Array, close: Float64Array, out: Float64Array): void {
  for (let i = 0; i < out.length; i++) out[i] = rogersSatchellTerm(open[i], high[i], low[i], close[i])
}

const ohlc = ['open', 'high', 'low', 'close'] as const
const rangeVolParams: readonly ParamSpec[] = [periodParam(20, 1, 10000), periodsPerYearParam]

/** Parkinson high-low volatility estimator */
export const parkinson: IndicatorDef = {
  id: 'parkinson',
  name: 'Parkinson Volatility',
  category: 'volatility',
  source: 'bars',
  inputs: ['high', 'low'],
  params: rangeVolParams,
  outputs: ['parkinson'],
  notes:
    `Parkinson (1980): sqrt(mean over timePeriod rows of ln(H/L)^2 / (4 ln 2)), ${annualNote}. Assumes no drift and ` +
    'continuous trading.',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const { high, low } = input
    const n = high.length
    const out = output(n, 0)
    parkinsonTerms(high, low, out)
    rangeVolRows(out, p)
    return [out]
  },
  stream(p) {
    const out = nans(1)
    const k = new RangeVolKernel(p.timePeriod, p.periodsPerYear)
    return {
      out,
      update(x) {
        out[0] = k.next(parkinsonTerm(x[0], x[1]))
      },
    }
  },
}

/** Garman-Klass OHLC volatility estimator */
export const garmanKlass: IndicatorDef = {
  id: 'garman_klass',
  name: 'Garman-Klass Volatility',
  category: 'volatility',
  source: 'bars',
  inputs: ohlc,
  params: rangeVolParams,
  outputs: ['garman_klass'],
  notes:
    'Garman & Klass (1980) practical estimator: sqrt(mean over timePeriod rows of 0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2), ' +
    `${annualNote}. No opening-jump term (24/7 markets: open = previous close).`,
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const { open, high, low, close } = input
    const n = close.length
    const out = output(n, 0)
    garmanKlassTerms(open, high, low, close, out)
    rangeVolRows(out, p)
    return [out]
  },
  stream(p) {
    const out = nans(1)
    const k = new RangeVolKernel(p.timePeriod, p.periodsPerYear)
    return {
      out,
      update(x) {
        out[0] = k.next(garmanKlassTerm(x[0], x[1], x[2], x[3]))
      },
    }
  },
}

/** Rogers-Satchell drift-independent volatility estimator */
export const rogersSatchell: IndicatorDef = {
  id: 'rogers_satchell',
  name: 'Rogers-Satchell Volatility',
  category: 'volatility',
  source: 'bars',
  inputs: ohlc,
  params: rangeVolParams,
  outputs: ['rogers_satchell'],
  notes:
    'Rogers & Satchell (1991): sqrt(mean over timePeriod rows of ln(H/C) ln(H/O) + ln(L/C) ln(L/O)), computed as ' +
    `u(u-c) + d(d-c) with u = ln(H/O), d = ln(L/O), c = ln(C/O); ${annualNote}. Unbiased under drift.`,
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const { open, high, low, close } = input
    const n = close.length
    const out = output(n, 0)
    rogersSatchellTerms(open, high, low, close, out)
    rangeVolRows(out, p)
    return [out]
  },
  stream(p) {
    const out = nans(1)
    const k = new RangeVolKernel(p.timePeriod, p.periodsPerYear)
    return {
      out,
      update(x) {
        out[0] = k.next(rogersSatchellTerm(x[0], x[1], x[2], x[3]))
      },
    }
  },
}

/** Yang-Zhang k for a window of n rows, the variance-minimising weight of the paper with alpha = 1.34 */
export const yangZhangK = (n: number) => 0.34 / (1.34 + (n + 1) / (n - 1))

/** Yang-Zhang volatility of one row over the last `per` bars (each needs the previous close) */
class YangZhangKernel {
  private readonly so: WindowSum
  private readonly so2: WindowSum
  private readonly sc: WindowSum
  private readonly sc2: WindowSum
  private readonly srs: WindowSum
  private readonly k: number
  private prev = NaN
  private i = 0
  constructor(
    private readonly per: number,
    private readonly ppy: number,
  ) {
    this.so = new WindowSum(per)
    this.so2 = new WindowSum(per)
    this.sc = new WindowSum(per)
    this.sc2 = new WindowSum(per)
    this.srs = new WindowSum(per)
    this.k = yangZhangK(per)
  }
  next(o: number, h: number, l: number, c: number): number {
    const pc = this.prev
    this.prev = c
    if (this.i === 0) {
      this.i = 1
      return NaN
    }
    const ro = lnRatio(o, pc)
    const rc = lnRatio(c, o)
    this.so.push(ro)
    this.so2.push(ro * ro)
    this.sc.push(rc)
    this.sc2.push(rc * rc)
    // ln(C/O) is the close-to-open return just computed: one logarithm fewer per row
    this.srs.push(rogersSatchellOf(o, h, l, rc))
    if (!this.so.full) return NaN
    const n = this.per
    const so = this.so.sum
    const sc = this.sc.sum
    const varO = (this.so2.sum - (so * so) / n) / (n - 1)
    const varC = (this.sc2.sum - (sc * sc) / n) / (n - 1)
    const varRs = this.srs.sum / n
    return annualise(varO + this.k * varC + (1 - this.k) * varRs, this.ppy)
  }
}

/**
 * YangZhangKernel's batch loop in a kernel run chunk by chunk, from row 1: its five WindowSums, which fill and wrap
 * together, as one ring position and five rings, sums and counts of non-zero values in local variables while a
 * chunk runs, each step WindowSum.push's in its order. The logarithms cost what they cost; the sums in fields
 * cost as much again
 */
class YangZhangRows implements ChunkedKernel {
  private readonly k: number
  /** Rings of ln(O/prev C), its square, ln(C/O), its square and the Rogers-Satchell term, `size` slots each */
  private readonly rings: Float64Array
  private head = 0
  private count = 0
  private readonly sums = new Float64Array(5)
  private readonly nonzero = new Int32Array(5)
  constructor(
    private readonly open: Float64Array,
    private readonly high: Float64Array,
    private readonly low: Float64Array,
    private readonly close: Float64Array,
    private readonly out: Float64Array,
    private readonly size: number,
    private readonly ppy: number,
  ) {
    this.k = yangZhangK(size)
    this.rings = new Float64Array(5 * size)
  }
  run(from: number, to: number): void {
    const { open, high, low, close, out, size, ppy, k, rings, sums, nonzero } = this
    let { head, count } = this
    let so = sums[0]
    let so2 = sums[1]
    let sc = sums[2]
    let sc2 = sums[3]
    let srs = sums[4]
    let no = nonzero[0]
    let no2 = nonzero[1]
    let nc = nonzero[2]
    let nc2 = nonzero[3]
    let nrs = nonzero[4]
    // Ring r's slot j is rings[r * size + j]
    const s1 = size
    const s2 = 2 * size
    const s3 = 3 * size
    const s4 = 4 * size
    for (let i = from; i < to; i++) {
      const o = open[i]
      const ro = lnRatio(o, close[i - 1])
      const rc = lnRatio(close[i], o)
      const ro2 = ro * ro
      const rc2 = rc * rc
      // ln(C/O) is the close-to-open return just computed: one logarithm fewer per row
      const rs = rogersSatchellOf(o, high[i], low[i], rc)
      if (count === size) {
        const a = rings[head]
        const b = rings[s1 + head]
        const c = rings[s2 + head]
        const d = rings[s3 + head]
        const e = rings[s4 + head]
        so -= a
        if (a !== 0) no--
        so2 -= b
        if (b !== 0) no2--
        sc -= c
        if (c !== 0) nc--
        sc2 -= d
        if (d !== 0) nc2--
        srs -= e
        if (e !== 0) nrs--
      } else count++
      rings[head] = ro
      rings[s1 + head] = ro2
      rings[s2 + head] = rc
      rings[s3 + head] = rc2
      rings[s4 + head] = rs
      head = head + 1 === size ? 0 : head + 1
      so += ro
      if (ro !== 0) no++
      if (no === 0) so = 0
      so2 += ro2
      if (ro2 !== 0) no2++
      if (no2 === 0) so2 = 0
      sc += rc
      if (rc !== 0) nc++
      if (nc === 0) sc = 0
      sc2 += rc2
      if (rc2 !== 0) nc2++
      if (nc2 === 0) sc2 = 0
      srs += rs
      if (rs !== 0) nrs++
      if (nrs === 0) srs = 0
      if (count < size) {
        out[i] = NaN
        continue
      }
      const varO = (so2 - (so * so) / size) / (size - 1)
      const varC = (sc2 - (sc * sc) / size) / (size - 1)
      const varRs = srs / size
      out[i] = annualise(varO + k * varC + (1 - k) * varRs, ppy)
    }
    this.head = head
    this.count = count
    sums[0] = so
    sums[1] = so2
    sums[2] = sc
    sums[3] = sc2
    sums[4] = srs
    nonzero[0] = no
    nonzero[1] = no2
    nonzero[2] = nc
    nonzero[3] = nc2
    nonzero[4] = nrs
  }
}

/** Yang-Zhang drift-independent volatility estimator with opening jumps */
export const yangZhang: IndicatorDef = {
  id: 'yang_zhang',
  name: 'Yang-Zhang Volatility',
  category: 'volatility',
  source: 'bars',
  inputs: ohlc,
  params: [periodParam(20, 2, 10000), periodsPerYearParam],
  outputs: ['yang_zhang'],
  notes:
    'Yang & Zhang (2000): sqrt(Vo + k Vc + (1-k) Vrs) over timePeriod bars, Vo = sample variance of ln(O/prev C), ' +
    'Vc = sample variance of ln(C/O), Vrs = mean Rogers-Satchell term, k = 0.34 / (1.34 + (n+1)/(n-1)); ' +
    `${annualNote}. Row 0 has no previous close, so the warm-up is timePeriod rows.`,
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    const { open, high, low, close } = input
    const n = close.length
    const out = output(n, 0)
    if (n > 0) {
      out[0] = NaN
      inChunks(new YangZhangRows(open, high, low, close, out, p.timePeriod, p.periodsPerYear), 1, n)
    }
    return [out]
  },
  stream(p) {
    const out = nans(1)
    const k = new YangZhangKernel(p.timePeriod, p.periodsPerYear)
    return {
      out,
      update(x) {
        out[0] = k.next(x[0], x[1], x[2], x[3])
      },
    }
  },
}

export const VOLATILITY: readonly IndicatorDef[] = [
  atr,
  natr,
  trange,
  bbands,
  bbandsPctb,
  bbandsWidth,
  keltner,
  donchian,
  stddev,
  variance,
  realizedVol,
  parkinson,
  garmanKlass,
  rogersSatchell,
  yangZhang,
]
