// Momentum oscillators
//
// Every batch form is its own loop over the input columns and writes each output row once (the warm-up prefix is
// NaN from `output`); every stream is a class, whose numeric fields V8 updates in place where variables captured
// by a closure would be boxed on each write. Both forms run the same arithmetic in the same order
import { param, type Columns, type IndicatorDef, type Stream } from '../types.js'
import { CHUNK, MAX_LAG, ROW_STEP, slabKernels, type SlabKernels } from '../simd.js'
import {
  ifFinite,
  inChunks,
  nans,
  output,
  pow2,
  RollingMax,
  RollingMin,
  SeededEma,
  WindowExtremes,
  type ChunkedKernel,
} from '../util.js'

/** TA-Lib's TA_IS_ZERO; TA_EPSILON is 1e-14 in the TA-Lib sources this catalog follows */
export const isZero = (v: number) => v > -0.00000000000001 && v < 0.00000000000001

/** TA-Lib's TA_IS_ZERO_OR_NEG */
const isZeroOrNeg = (v: number) => v < 0.00000000000001

/** TA-Lib's PER_TO_K: the EMA factor of a period */
const perToK = (per: number) => 2 / (per + 1)

const period = (name: string, def: number, min: number, max: number, description: string) =>
  param(name, def, min, max, description, { integer: true })

/**
 * EMA as TA_INT_EMA with the default compatibility: seeded with the simple mean of its first `period` inputs,
 * then prev + (x - prev) * k. NaN until `period` inputs have been seen.
 */
/** SMA with TA_INT_SMA's running total (add the new value, emit, drop the oldest). NaN until full. */
class RunningSma {
  private readonly buf: Float64Array
  private head = 0
  private count = 0
  private total = 0
  constructor(readonly period: number) {
    this.buf = new Float64Array(period)
  }
  push(v: number): number {
    const per = this.period
    const buf = this.buf
    let head = this.head
    buf[head] = v
    head = head + 1 === per ? 0 : head + 1
    this.head = head
    this.total += v
    if (this.count < per && ++this.count < per) return NaN
    const mean = this.total / per
    // The slot after the newest holds the oldest value of the full window
    this.total -= buf[head]
    return mean
  }
}

/** Wilder RSI exactly as TA_RSI computes it, for indicators built on RSI. NaN for the first `period` rows. */
class WilderRsi {
  private prev = NaN
  private gain = 0
  private loss = 0
  private i = 0
  constructor(readonly period: number) {}
  push(v: number): number {
    const per = this.period
    const i = this.i
    let r = NaN
    if (i > 0) {
      const d = v - this.prev
      if (i > per) {
        this.gain *= per - 1
        this.loss *= per - 1
      }
      if (d < 0) this.loss -= d
      else this.gain += d
      if (i >= per) {
        this.gain /= per
        this.loss /= per
        const sum = this.gain + this.loss
        r = isZero(sum) ? 0 : 100 * (this.gain / sum)
      }
    }
    this.prev = v
    // Past the seed only `i > per` matters, so the count stops there
    if (i <= per) this.i = i + 1
    return r
  }
}

/**
 * Raw fast %K as TA-Lib's STOCH/STOCHF compute it: (close - lowest low) / ((highest high - lowest low) / 100)
 * over the last `period` rows, 0 on a flat window. NaN until the window is full.
 */
class FastK {
  private readonly hi: RollingMax
  private readonly lo: RollingMin
  private n = 0
  constructor(readonly period: number) {
    this.hi = new RollingMax(period)
    this.lo = new RollingMin(period)
  }
  push(h: number, l: number, c: number): number {
    const hh = this.hi.push(h)
    const ll = this.lo.push(l)
    if (this.n < this.period - 1) {
      this.n++
      return NaN
    }
    const diff = (hh - ll) / 100
    return diff !== 0 ? (c - ll) / diff : 0
  }
}

/** Oscillator reading: overbought (at or above `high`) is bearish and oversold bullish, as `rsi` reads */
const zone = (v: number, high: number, low: number) => (v >= high ? 'bearish' : v <= low ? 'bullish' : 'neutral')
/** Momentum reading: the sign of the value (NaN reads neutral) */
const sign = (v: number) => (v > 0 ? 'bullish' : v < 0 ? 'bearish' : 'neutral')

/** TA_RSI's stream: the batch loop's arithmetic one row at a time */
class RsiStream implements Stream {
  readonly out = nans(1)
  private prev = NaN
  private gain = 0
  private loss = 0
  private i = 0
  constructor(private readonly per: number) {}
  update(x: Float64Array): void {
    const v = x[0]
    const per = this.per
    const i = this.i
    if (i > per) {
      const d = v - this.prev
      let gain = this.gain * (per - 1)
      let loss = this.loss * (per - 1)
      if (d < 0) loss -= d
      else gain += d
      gain /= per
      loss /= per
      this.gain = gain
      this.loss = loss
      this.out[0] = isZero(gain + loss) ? 0 : 100 * (gain / (gain + loss))
    } else {
      if (i > 0) {
        const d = v - this.prev
        if (d < 0) this.loss -= d
        else this.gain += d
        if (i === per) {
          this.gain /= per
          this.loss /= per
          this.out[0] = isZero(this.gain + this.loss) ? 0 : 100 * (this.gain / (this.gain + this.loss))
        }
      }
      this.i = i + 1
    }
    this.prev = v
  }
}

/**
 * TA_RSI's (or with `cmo` TA_CMO's) rows after the seed, the average gain and loss in local variables while a
 * chunk runs; each formula has its own loop
 */
class WilderRows implements ChunkedKernel {
  constructor(
    private readonly x: Float64Array,
    private readonly out: Float64Array,
    private readonly per: number,
    private gain: number,
    private loss: number,
    private readonly cmo: boolean,
  ) {}
  run(from: number, to: number): void {
    const { x, out, per } = this
    let { gain, loss } = this
    if (this.cmo) {
      for (let i = from; i < to; i++) {
        const d = x[i] - x[i - 1]
        gain *= per - 1
        loss *= per - 1
        if (d < 0) loss -= d
        else gain += d
        gain /= per
        loss /= per
        out[i] = isZero(gain + loss) ? 0 : 100 * ((gain - loss) / (gain + loss))
      }
    } else {
      for (let i = from; i < to; i++) {
        const d = x[i] - x[i - 1]
        gain *= per - 1
        loss *= per - 1
        if (d < 0) loss -= d
        else gain += d
        gain /= per
        loss /= per
        out[i] = isZero(gain + loss) ? 0 : 100 * (gain / (gain + loss))
      }
    }
    this.gain = gain
    this.loss = loss
  }
}

/** Relative Strength Index with Wilder smoothing (TA_RSI). */
export const rsi: IndicatorDef = {
  id: 'rsi',
  name: 'Relative Strength Index',
  category: 'momentum',
  source: 'bars',
  inputs: ['close'],
  params: [param('timePeriod', 14, 2, 500, 'Wilder smoothing period', { integer: true })],
  outputs: ['rsi'],
  talib: 'TA_RSI',
  notes:
    'Wilder RSI as TA-Lib: average gain/loss seeded with the simple mean of the first `period` changes, then ' +
    'smoothed by (prev*(period-1)+x)/period; 0 when both averages are zero (flat prices).',
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    const x = input.close
    const n = x.length
    const per = p.timePeriod
    const out = output(n, per)
    const result = [out]
    if (n <= per) return result
    let gain = 0
    let loss = 0
    for (let i = 1; i <= per; i++) {
      const d = x[i] - x[i - 1]
      if (d < 0) loss -= d
      else gain += d
    }
    gain /= per
    loss /= per
    out[per] = isZero(gain + loss) ? 0 : 100 * (gain / (gain + loss))
    inChunks(new WilderRows(x, out, per, gain, loss, false), per + 1, n)
    return result
  },
  stream: (p) => new RsiStream(p.timePeriod),
  reading: (out) => (out[0] >= 70 ? 'bearish' : out[0] <= 30 ? 'bullish' : 'neutral'),
}

class MacdStream implements Stream {
  readonly out = nans(3)
  private readonly fastP: number
  private readonly slowP: number
  private readonly lb: number
  private readonly slow: SeededEma
  private readonly fast: SeededEma
  private readonly signal: SeededEma
  private i = 0
  constructor(fastPeriod: number, slowPeriod: number, signalPeriod: number) {
    this.fastP = Math.min(fastPeriod, slowPeriod)
    this.slowP = Math.max(fastPeriod, slowPeriod)
    this.lb = this.slowP - 1 + (signalPeriod - 1)
    this.slow = new SeededEma(this.slowP, perToK(this.slowP))
    this.fast = new SeededEma(this.fastP, perToK(this.fastP))
    this.signal = new SeededEma(signalPeriod, perToK(signalPeriod))
  }
  update(x: Float64Array): void {
    const i = this.i
    const sv = this.slow.push(x[0])
    const fv = i >= this.slowP - this.fastP ? this.fast.push(x[0]) : NaN
    if (i >= this.slowP - 1) {
      const mv = fv - sv
      const gv = this.signal.push(mv)
      if (i >= this.lb) {
        this.out[0] = mv
        this.out[1] = gv
        this.out[2] = mv - gv
      }
    }
    // Every threshold above is at most lb, so the count stops there
    if (i < this.lb) this.i = i + 1
  }
}

/** Moving Average Convergence/Divergence (TA_MACD). */
export const macd: IndicatorDef = {
  id: 'macd',
  name: 'Moving Average Convergence/Divergence',
  category: 'momentum',
  source: 'bars',
  inputs: ['close'],
  params: [
    period('fastPeriod', 12, 2, 500, 'fast EMA period'),
    period('slowPeriod', 26, 2, 500, 'slow EMA period'),
    period('signalPeriod', 9, 2, 500, 'signal EMA period'),
  ],
  outputs: ['macd', 'macdSignal', 'macdHist'],
  talib: 'TA_MACD',
  notes:
    'EMA(fast) - EMA(slow), signal = EMA(signal) of it, hist = macd - signal, as TA-Lib: k = 2/(period+1) (the ' +
    'fixed 0.15/0.075 are TA_MACDFIX only), both EMAs seeded with a simple mean ending on row slow-1 (the fast ' +
    'seed skips the first slow-fast rows), the signal seeded with the mean of its first inputs, periods swapped ' +
    'if fast > slow. signalPeriod starts at 2 because TA_EMA_Lookback(1) is -1 and misaligns TA-Lib\'s output.',
  lookback: (p) => Math.max(p.fastPeriod, p.slowPeriod) - 1 + (p.signalPeriod - 1),
  batch(input, p) {
    const x = input.close
    const n = x.length
    const fastP = Math.min(p.fastPeriod, p.slowPeriod)
    const slowP = Math.max(p.fastPeriod, p.slowPeriod)
    const lb = slowP - 1 + (p.signalPeriod - 1)
    const m = output(n, lb)
    const s = output(n, lb)
    const h = output(n, lb)
    const result = [m, s, h]
    const slow = new SeededEma(slowP, perToK(slowP))
    const fast = new SeededEma(fastP, perToK(fastP))
    const signal = new SeededEma(p.signalPeriod, perToK(p.signalPeriod))
    for (let i = 0; i < n; i++) {
      const sv = slow.push(x[i])
      // TA-Lib starts the fast EMA so that its seed ends on the same row as the slow one
      const fv = i >= slowP - fastP ? fast.push(x[i]) : NaN
      if (i < slowP - 1) continue
      const mv = fv - sv
      const gv = signal.push(mv)
      if (i >= lb) {
        m[i] = mv
        s[i] = gv
        h[i] = mv - gv
      }
    }
    return result
  },
  stream: (p) => new MacdStream(p.fastPeriod, p.slowPeriod, p.signalPeriod),
  reading: (out) => sign(out[2]),
}

/** Slow stochastic's stream: raw %K from rolling extremes, then the two SMAs */
class StochStream implements Stream {
  readonly out = nans(2)
  private readonly raw: FastK
  private readonly smaK: RunningSma
  private readonly smaD: RunningSma
  private readonly lb: number
  private i = 0
  constructor(fastKPeriod: number, slowKPeriod: number, slowDPeriod: number) {
    this.lb = fastKPeriod - 1 + (slowKPeriod - 1) + (slowDPeriod - 1)
    this.raw = new FastK(fastKPeriod)
    this.smaK = new RunningSma(slowKPeriod)
    this.smaD = new RunningSma(slowDPeriod)
  }
  update(x: Float64Array): void {
    const k = this.raw.push(x[0], x[1], x[2])
    if (k === k) {
      const sk = this.smaK.push(k)
      if (sk === sk) {
        const sd = this.smaD.push(sk)
        if (this.i >= this.lb) {
          this.out[0] = sk
          this.out[1] = sd
        }
      }
    }
    if (this.i < this.lb) this.i++
  }
}

/**
 * TA_STOCH's batch loop (TA_STOCHF's without slow %K's SMA) in a kernel run chunk by chunk: raw %K from the
 * window's extremes as TA-Lib scans them (see argMax), then its SMAs (RunningSma). Their state is kept in
 * local variables while a chunk runs rather than in those objects' fields: a field written on one row and read
 * on the next puts a store and a load on every row's chain of dependent steps
 */
class StochRows implements ChunkedKernel {
  // The window's extremes (TA-Lib's scans), a chunk at a time
  private readonly ext: WindowExtremes
  // RunningSma for slow %K (unused for STOCHF) and %D: ring, next slot, values seen (up to the period) and total
  private readonly bufK: Float64Array
  private headK = 0
  private countK = 0
  private totalK = 0
  private readonly bufD: Float64Array
  private headD = 0
  private countD = 0
  private totalD = 0
  constructor(
    private readonly high: Float64Array,
    private readonly low: Float64Array,
    private readonly close: Float64Array,
    private readonly outK: Float64Array,
    private readonly outD: Float64Array,
    private readonly kp: number,
    private readonly lb: number,
    /** Slow %K's SMA period, 0 for STOCHF */
    private readonly pk: number,
    private readonly pd: number,
  ) {
    this.bufK = new Float64Array(Math.max(1, pk))
    this.bufD = new Float64Array(pd)
    this.ext = new WindowExtremes(high, low, kp, outK)
  }
  run(from: number, to: number): void {
    this.ext.fill(from, to)
    // Rows before the first whole window have no value
    from = Math.max(from, this.kp - 1)
    if (this.pk > 0) this.runSlow(from, to)
    else this.runFast(from, to)
  }
  private runSlow(from: number, to: number): void {
    const { close, outK, outD, lb, pk, pd, bufK, bufD } = this
    const { hh: H, ll: L, base } = this.ext
    let { headK, countK, totalK, headD, countD, totalD } = this
    for (let i = from; i < to; i++) {
      const hh = H[i - base]
      const ll = L[i - base]
      const diff = (hh - ll) / 100
      const k = diff !== 0 ? (close[i] - ll) / diff : 0
      // A row where the chain has no value yet keeps NaN in both outputs
      let vk = NaN
      let vd = NaN
      if (k === k) {
        bufK[headK] = k
        headK = headK + 1 === pk ? 0 : headK + 1
        totalK += k
        if (countK === pk || ++countK === pk) {
          const sk = totalK / pk
          totalK -= bufK[headK]
          if (sk === sk) {
            vk = sk
            bufD[headD] = sk
            headD = headD + 1 === pd ? 0 : headD + 1
            totalD += sk
            if (countD === pd || ++countD === pd) {
              vd = totalD / pd
              totalD -= bufD[headD]
            }
          }
        }
      }
      if (i >= lb) {
        outK[i] = vk
        outD[i] = vd
      }
    }
    this.headK = headK
    this.countK = countK
    this.totalK = totalK
    this.headD = headD
    this.countD = countD
    this.totalD = totalD
  }
  private runFast(from: number, to: number): void {
    const { close, outK, outD, lb, pd, bufD } = this
    const { hh: H, ll: L, base } = this.ext
    let { headD, countD, totalD } = this
    for (let i = from; i < to; i++) {
      const hh = H[i - base]
      const ll = L[i - base]
      const diff = (hh - ll) / 100
      const k = diff !== 0 ? (close[i] - ll) / diff : 0
      let vk = NaN
      let vd = NaN
      if (k === k) {
        vk = k
        bufD[headD] = k
        headD = headD + 1 === pd ? 0 : headD + 1
        totalD += k
        if (countD === pd || ++countD === pd) {
          vd = totalD / pd
          totalD -= bufD[headD]
        }
      }
      if (i >= lb) {
        outK[i] = vk
        outD[i] = vd
      }
    }
    this.headD = headD
    this.countD = countD
    this.totalD = totalD
  }
}

/** Slow stochastic (TA_STOCH with SMA smoothing). */
export const stoch: IndicatorDef = {
  id: 'stoch',
  name: 'Stochastic',
  category: 'momentum',
  source: 'bars',
  inputs: ['high', 'low', 'close'],
  params: [
    period('fastKPeriod', 5, 1, 500, 'rows in the high/low window of raw %K'),
    period('slowKPeriod', 3, 1, 500, 'SMA period smoothing raw %K into slow %K'),
    period('slowDPeriod', 3, 1, 500, 'SMA period smoothing slow %K into slow %D'),
  ],
  outputs: ['slowK', 'slowD'],
  talib: 'TA_STOCH',
  notes:
    'Raw %K = (close - lowest low)/((highest high - lowest low)/100) over fastKPeriod rows (0 on a flat window), ' +
    'slowK = SMA(raw %K), slowD = SMA(slowK), as TA-Lib. Only the default MA type (SMA) of optInSlowK_MAType and ' +
    'optInSlowD_MAType is supported.',
  lookback: (p) => p.fastKPeriod - 1 + (p.slowKPeriod - 1) + (p.slowDPeriod - 1),
  batch(input, p) {
    const { high, low, close } = input
    const n = close.length
    const kp = p.fastKPeriod
    const lb = kp - 1 + (p.slowKPeriod - 1) + (p.slowDPeriod - 1)
    const outK = output(n, lb)
    const outD = output(n, lb)
    const result = [outK, outD]
    inChunks(new StochRows(high, low, close, outK, outD, kp, lb, p.slowKPeriod, p.slowDPeriod), 0, n)
    return result
  },
  stream: (p) => new StochStream(p.fastKPeriod, p.slowKPeriod, p.slowDPeriod),
  reading: (out) => zone(out[0], 80, 20),
}

/** Fast stochastic's stream */
class StochfStream implements Stream {
  readonly out = nans(2)
  private readonly raw: FastK
  private readonly smaD: RunningSma
  private readonly lb: number
  private i = 0
  constructor(fastKPeriod: number, fastDPeriod: number) {
    this.lb = fastKPeriod - 1 + (fastDPeriod - 1)
    this.raw = new FastK(fastKPeriod)
    this.smaD = new RunningSma(fastDPeriod)
  }
  update(x: Float64Array): void {
    const k = this.raw.push(x[0], x[1], x[2])
    if (k === k) {
      const d = this.smaD.push(k)
      if (this.i >= this.lb) {
        this.out[0] = k
        this.out[1] = d
      }
    }
    if (this.i < this.lb) this.i++
  }
}

/** Fast stochastic (TA_STOCHF with SMA smoothing). */
export const stochf: IndicatorDef = {
  id: 'stochf',
  name: 'Fast Stochastic',
  category: 'momentum',
  source: 'bars',
  inputs: ['high', 'low', 'close'],
  params: [
    period('fastKPeriod', 5, 1, 500, 'rows in the high/low window of %K'),
    period('fastDPeriod', 3, 1, 500, 'SMA period smoothing %K into %D'),
  ],
  outputs: ['fastK', 'fastD'],
  talib: 'TA_STOCHF',
  notes:
    'fastK = (close - lowest low)/((highest high - lowest low)/100) over fastKPeriod rows (0 on a flat window), ' +
    'fastD = SMA(fastK), as TA-Lib; fastK is NaN until fastD exists. Only the default MA type (SMA) of ' +
    'optInFastD_MAType is supported.',
  lookback: (p) => p.fastKPeriod - 1 + (p.fastDPeriod - 1),
  batch(input, p) {
    const { high, low, close } = input
    const n = close.length
    const kp = p.fastKPeriod
    const lb = kp - 1 + (p.fastDPeriod - 1)
    const outK = output(n, lb)
    const outD = output(n, lb)
    const result = [outK, outD]
    inChunks(new StochRows(high, low, close, outK, outD, kp, lb, 0, p.fastDPeriod), 0, n)
    return result
  },
  stream: (p) => new StochfStream(p.fastKPeriod, p.fastDPeriod),
  reading: (out) => zone(out[0], 80, 20),
}

/** Stochastic RSI's stream */
class StochRsiStream implements Stream {
  readonly out = nans(2)
  private readonly r: WilderRsi
  private readonly raw: FastK
  private readonly smaD: RunningSma
  private readonly lb: number
  private i = 0
  constructor(timePeriod: number, fastKPeriod: number, fastDPeriod: number) {
    this.lb = timePeriod + fastKPeriod - 1 + (fastDPeriod - 1)
    this.r = new WilderRsi(timePeriod)
    this.raw = new FastK(fastKPeriod)
    this.smaD = new RunningSma(fastDPeriod)
  }
  update(x: Float64Array): void {
    const v = this.r.push(x[0])
    if (v === v) {
      const k = this.raw.push(v, v, v)
      if (k === k) {
        const d = this.smaD.push(k)
        if (this.i >= this.lb) {
          this.out[0] = k
          this.out[1] = d
        }
      }
    }
    if (this.i < this.lb) this.i++
  }
}

/**
 * TA_STOCHRSI's batch loop in a kernel run chunk by chunk: WilderRsi, FastK on the RSI (its RollingMax and RollingMin
 * see the same values, so they share one ring) and RunningSma, each step theirs in their order, with their state in
 * local variables while a chunk runs rather than in four objects' fields
 */
class StochRsiRows implements ChunkedKernel {
  // WilderRsi
  private prev = NaN
  private gain = 0
  private loss = 0
  private ri = 0
  // FastK: the RSI values in a power-of-two ring, how many so far, the extremes and their positions
  private readonly ring: Float64Array
  private t = 0
  private hh = -Infinity
  private hhAt = 0
  private ll = Infinity
  private llAt = 0
  // RunningSma of %K
  private readonly bufD: Float64Array
  private headD = 0
  private countD = 0
  private totalD = 0
  constructor(
    private readonly x: Float64Array,
    private readonly outK: Float64Array,
    private readonly outD: Float64Array,
    private readonly per: number,
    private readonly kp: number,
    private readonly pd: number,
    private readonly lb: number,
  ) {
    this.ring = new Float64Array(pow2(kp))
    this.bufD = new Float64Array(pd)
  }
  run(from: number, to: number): void {
    const { x, outK, outD, per, kp, pd, lb, ring, bufD } = this
    const mask = ring.length - 1
    let { prev, gain, loss, ri, t, hh, hhAt, ll, llAt, headD, countD, totalD } = this
    for (let i = from; i < to; i++) {
      const xv = x[i]
      // WilderRsi.push
      let v = NaN
      if (ri > 0) {
        const d = xv - prev
        if (ri > per) {
          gain *= per - 1
          loss *= per - 1
        }
        if (d < 0) loss -= d
        else gain += d
        if (ri >= per) {
          gain /= per
          loss /= per
          const sum = gain + loss
          v = isZero(sum) ? 0 : 100 * (gain / sum)
        }
      }
      prev = xv
      if (ri <= per) ri++
      let vk = NaN
      let vd = NaN
      if (v === v) {
        // FastK.push(v, v, v): RollingMax.push and RollingMin.push of v, rescanning a window whose extreme left it
        const at = t++
        ring[at & mask] = v
        const start = at - kp + 1
        if (hhAt < start) {
          hhAt = start
          hh = ring[start & mask]
          for (let j = start + 1; j <= at; j++) {
            const w = ring[j & mask]
            if (w >= hh) {
              hh = w
              hhAt = j
            }
          }
        } else if (v >= hh) {
          hh = v
          hhAt = at
        }
        if (llAt < start) {
          llAt = start
          ll = ring[start & mask]
          for (let j = start + 1; j <= at; j++) {
            const w = ring[j & mask]
            if (w <= ll) {
              ll = w
              llAt = j
            }
          }
        } else if (v <= ll) {
          ll = v
          llAt = at
        }
        if (start >= 0) {
          const diff = (hh - ll) / 100
          const k = diff !== 0 ? (v - ll) / diff : 0
          if (k === k) {
            vk = k
            // RunningSma.push
            bufD[headD] = k
            headD = headD + 1 === pd ? 0 : headD + 1
            totalD += k
            if (countD === pd || ++countD === pd) {
              vd = totalD / pd
              totalD -= bufD[headD]
            }
          }
        }
      }
      if (i >= lb) {
        outK[i] = vk
        outD[i] = vd
      }
    }
    this.prev = prev
    this.gain = gain
    this.loss = loss
    this.ri = ri
    this.t = t
    this.hh = hh
    this.hhAt = hhAt
    this.ll = ll
    this.llAt = llAt
    this.headD = headD
    this.countD = countD
    this.totalD = totalD
  }
}

/** Stochastic RSI (TA_STOCHRSI with SMA smoothing). */
export const stochrsi: IndicatorDef = {
  id: 'stochrsi',
  name: 'Stochastic RSI',
  category: 'momentum',
  source: 'bars',
  inputs: ['close'],
  params: [
    period('timePeriod', 14, 2, 500, 'RSI period'),
    period('fastKPeriod', 5, 1, 500, 'rows in the RSI high/low window of %K'),
    period('fastDPeriod', 3, 1, 500, 'SMA period smoothing %K into %D'),
  ],
  outputs: ['fastK', 'fastD'],
  talib: 'TA_STOCHRSI',
  notes:
    'TA_STOCHF applied to TA_RSI(timePeriod) as high, low and close: fastK = 100*(RSI - min RSI)/(max RSI - min ' +
    'RSI) over fastKPeriod rows (0 on a flat window), fastD = SMA(fastK). Only the default MA type (SMA) of ' +
    'optInFastD_MAType is supported.',
  lookback: (p) => p.timePeriod + p.fastKPeriod - 1 + (p.fastDPeriod - 1),
  batch(input, p) {
    const x = input.close
    const n = x.length
    const lb = p.timePeriod + p.fastKPeriod - 1 + (p.fastDPeriod - 1)
    const outK = output(n, lb)
    const outD = output(n, lb)
    const result = [outK, outD]
    inChunks(new StochRsiRows(x, outK, outD, p.timePeriod, p.fastKPeriod, p.fastDPeriod, lb), 0, n)
    return result
  },
  stream: (p) => new StochRsiStream(p.timePeriod, p.fastKPeriod, p.fastDPeriod),
  reading: (out) => zone(out[0], 80, 20),
}

/** CCI's stream: the same slot-ordered circular buffer as the batch loop */
class CciStream implements Stream {
  readonly out = nans(1)
  private readonly buf: Float64Array
  private slot = 0
  private seen = 0
  constructor(private readonly per: number) {
    this.buf = new Float64Array(per)
  }
  update(x: Float64Array): void {
    const per = this.per
    const buf = this.buf
    const last = (x[0] + x[1] + x[2]) / 3
    buf[this.slot] = last
    this.slot = this.slot === per - 1 ? 0 : this.slot + 1
    if (this.seen < per) this.seen++
    if (this.seen === per) {
      let avg = 0
      for (let j = 0; j < per; j++) avg += buf[j]
      avg /= per
      let dev = 0
      for (let j = 0; j < per; j++) dev += Math.abs(buf[j] - avg)
      const d = last - avg
      this.out[0] = d !== 0 && dev !== 0 ? d / (0.015 * (dev / per)) : 0
    }
  }
}

/** TA_CCI's batch loop in a kernel run chunk by chunk */
class CciRows implements ChunkedKernel {
  /** Slot i % per, as TA-Lib's circular buffer: the sums add the slots in this order, not by age */
  private readonly buf: Float64Array
  private slot = 0
  constructor(
    private readonly high: Float64Array,
    private readonly low: Float64Array,
    private readonly close: Float64Array,
    private readonly out: Float64Array,
    private readonly per: number,
  ) {
    this.buf = new Float64Array(per)
  }
  run(from: number, to: number): void {
    const { high, low, close, out, per, buf } = this
    let slot = this.slot
    for (let i = from; i < to; i++) {
      const last = (high[i] + low[i] + close[i]) / 3
      buf[slot] = last
      slot = slot === per - 1 ? 0 : slot + 1
      if (i < per - 1) continue
      // Both sums slot by slot in order, two slots per iteration: the loops are short, and their per-iteration
      // overhead (bounds and interrupt checks) is a large share of each step
      let avg = 0
      let j = per & 1
      if (j) avg += buf[0]
      for (; j < per; j += 2) {
        avg += buf[j]
        avg += buf[j + 1]
      }
      avg /= per
      let dev = 0
      j = per & 1
      if (j) dev += Math.abs(buf[0] - avg)
      for (; j < per; j += 2) {
        dev += Math.abs(buf[j] - avg)
        dev += Math.abs(buf[j + 1] - avg)
      }
      const d = last - avg
      out[i] = d !== 0 && dev !== 0 ? d / (0.015 * (dev / per)) : 0
    }
    this.slot = slot
  }
}

/** Commodity Channel Index (TA_CCI). */
export const cci: IndicatorDef = {
  id: 'cci',
  name: 'Commodity Channel Index',
  category: 'momentum',
  source: 'bars',
  inputs: ['high', 'low', 'close'],
  params: [period('timePeriod', 14, 2, 500, 'rows in the typical-price window')],
  outputs: ['cci'],
  talib: 'TA_CCI',
  notes:
    'Typical price tp = (high+low+close)/3; CCI = (tp - mean)/(0.015 * mean absolute deviation) over the window, ' +
    '0 when either is zero. Sums run over TA-Lib\'s circular buffer slot order for identical rounding; each ' +
    'update is O(period) because the mean deviation needs the whole window.',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const { high, low, close } = input
    const n = close.length
    const per = p.timePeriod
    const out = output(n, per - 1)
    const result = [out]
    inChunks(new CciRows(high, low, close, out, per), 0, n)
    return result
  },
  stream: (p) => new CciStream(p.timePeriod),
  reading: (out) => zone(out[0], 100, -100),
}

/** Which of the TA_ROC family a `lagged` definition computes */
const ROC = 0
const ROCP = 1
const MOM = 2
type Lag = typeof ROC | typeof ROCP | typeof MOM

/** Stream of the TA_ROC family: the close `per` rows back comes from a ring of the last `per` closes */
class LaggedStream implements Stream {
  readonly out = nans(1)
  private readonly buf: Float64Array
  private head = 0
  private count = 0
  constructor(
    private readonly per: number,
    private readonly kind: Lag,
  ) {
    this.buf = new Float64Array(per)
  }
  update(x: Float64Array): void {
    const now = x[0]
    const head = this.head
    let then = NaN
    if (this.count === this.per) then = this.buf[head]
    else this.count++
    this.buf[head] = now
    this.head = head + 1 === this.per ? 0 : head + 1
    if (then !== then) return
    const kind = this.kind
    if (kind === ROC) this.out[0] = then !== 0 ? (now / then - 1) * 100 : 0
    else if (kind === ROCP) this.out[0] = then !== 0 ? (now - then) / then : 0
    else this.out[0] = now - then
  }
}

// The TA_ROC family's batch loops, one function per formula so that each is optimised for its own arithmetic.
// Rows go four at a time: V8 neither unrolls nor vectorises, and in loops this short the per-iteration overhead
// (bounds checks, the loop's own compare and interrupt check) costs as much as the arithmetic. The rows left over
// go first, one at a time: code after a loop that is hot on the first call has no type feedback when V8 compiles
// the loop, and reaching it would send every later call back through slower code. Each returns a check for
// batchIfFinite, finite exactly when every x is: the first per values and each row's x[i] - x[i-per], times 0

/** The check's first part: the first per values, which only some rows read when there are fewer than 2 x per */
function lagCheck(x: Float64Array, per: number): number {
  let check = 0
  for (let i = 0, end = Math.min(per, x.length); i < end; i++) check += x[i] * 0
  return check
}

/** out[i] = (x[i] / x[i-per] - 1) * 100 for i >= per, 0 where the earlier value is 0 */
function rocRows(x: Float64Array, per: number, out: Float64Array): number {
  const n = x.length
  let check = lagCheck(x, per)
  let i = per
  let j = 0
  for (const head = per + (Math.max(0, n - per) & 3); i < head; i++, j++) {
    const t = x[j]
    const v = x[i]
    check += (v - t) * 0
    out[i] = t !== 0 ? (v / t - 1) * 100 : 0
  }
  for (; i < n; i += 4, j += 4) {
    const t0 = x[j]
    const t1 = x[j + 1]
    const t2 = x[j + 2]
    const t3 = x[j + 3]
    const v0 = x[i]
    const v1 = x[i + 1]
    const v2 = x[i + 2]
    const v3 = x[i + 3]
    check += (v0 - t0 + (v1 - t1) + (v2 - t2 + (v3 - t3))) * 0
    out[i] = t0 !== 0 ? (v0 / t0 - 1) * 100 : 0
    out[i + 1] = t1 !== 0 ? (v1 / t1 - 1) * 100 : 0
    out[i + 2] = t2 !== 0 ? (v2 / t2 - 1) * 100 : 0
    out[i + 3] = t3 !== 0 ? (v3 / t3 - 1) * 100 : 0
  }
  return check
}

/** out[i] = (x[i] - x[i-per]) / x[i-per] for i >= per, 0 where the earlier value is 0 */
function rocpRows(x: Float64Array, per: number, out: Float64Array): number {
  const n = x.length
  let check = lagCheck(x, per)
  let i = per
  let j = 0
  for (const head = per + (Math.max(0, n - per) & 3); i < head; i++, j++) {
    const t = x[j]
    const d = x[i] - t
    check += d * 0
    out[i] = t !== 0 ? d / t : 0
  }
  for (; i < n; i += 4, j += 4) {
    const t0 = x[j]
    const t1 = x[j + 1]
    const t2 = x[j + 2]
    const t3 = x[j + 3]
    const d0 = x[i] - t0
    const d1 = x[i + 1] - t1
    const d2 = x[i + 2] - t2
    const d3 = x[i + 3] - t3
    check += (d0 + d1 + (d2 + d3)) * 0
    out[i] = t0 !== 0 ? d0 / t0 : 0
    out[i + 1] = t1 !== 0 ? d1 / t1 : 0
    out[i + 2] = t2 !== 0 ? d2 / t2 : 0
    out[i + 3] = t3 !== 0 ? d3 / t3 : 0
  }
  return check
}

/**
 * out[i] = x[i] - x[i-per] for i >= per; the sum of d * 0 over the differences and the first `per` values, NaN
 * when any is not finite. In an arena's slab the WebAssembly kernel writes it (simd.ts), else the JS loop
 */
function momRows(x: Float64Array, per: number, out: Float64Array): number {
  const n = x.length
  const simd = per <= MAX_LAG ? slabKernels(out) : undefined
  if (simd !== undefined) return momSlab(simd, x, per, out)
  let check = lagCheck(x, per)
  let i = per
  let j = 0
  for (const head = per + (Math.max(0, n - per) & 3); i < head; i++, j++) {
    const d = x[i] - x[j]
    check += d * 0
    out[i] = d
  }
  for (; i < n; i += 4, j += 4) {
    const d0 = x[i] - x[j]
    const d1 = x[i + 1] - x[j + 1]
    const d2 = x[i + 2] - x[j + 2]
    const d3 = x[i + 3] - x[j + 3]
    check += (d0 + d1 + (d2 + d3)) * 0
    out[i] = d0
    out[i + 1] = d1
    out[i + 2] = d2
    out[i + 3] = d3
  }
  return check
}

/** momRows through a slab's kernel: the input a chunk at a time into the slab's scratch, the output in place */
function momSlab(k: SlabKernels, x: Float64Array, per: number, out: Float64Array): number {
  const n = x.length
  let check = lagCheck(x, per)
  for (let a = per; a < n; a += CHUNK) {
    const b = Math.min(n, a + CHUNK)
    const m = (b - a) & -ROW_STEP
    if (m > 0) {
      k.scratch.set(x.subarray(a - per, a + m))
      check += k.lagDiff(per * 8, m * 8, out.byteOffset + a * 8)
    }
    for (let i = a + m; i < b; i++) {
      const d = x[i] - x[i - per]
      check += d * 0
      out[i] = d
    }
  }
  return check
}

/** Builds the TA_ROC / TA_ROCP / TA_MOM family: f(today, value `timePeriod` rows back). */
function lagged(id: string, name: string, talib: string, notes: string, kind: Lag): IndicatorDef {
  return {
    id,
    name,
    category: 'momentum',
    source: 'bars',
    inputs: ['close'],
    params: [period('timePeriod', 10, 1, 1000, 'rows back to compare with')],
    outputs: [id],
    talib,
    notes,
    lookback: (p) => p.timePeriod,
    batch(input, p) {
      const out = output(input.close.length, p.timePeriod)
      const lag = kind === ROC ? rocRows : kind === ROCP ? rocpRows : momRows
      lag(input.close, p.timePeriod, out)
      return [out]
    },
    batchIfFinite(input, p) {
      const out = output(input.close.length, p.timePeriod)
      const lag = kind === ROC ? rocRows : kind === ROCP ? rocpRows : momRows
      return ifFinite([out], lag(input.close, p.timePeriod, out))
    },
    stream: (p) => new LaggedStream(p.timePeriod, kind),
    reading: (out) => sign(out[0]),
  }
}

/** Rate of change in percent (TA_ROC). */
export const roc = lagged(
  'roc',
  'Rate of Change',
  'TA_ROC',
  'ROC = (close/close[n ago] - 1) * 100, 0 when the earlier close is 0, as TA-Lib.',
  ROC,
)

/** Rate of change as a fraction (TA_ROCP). */
export const rocp = lagged(
  'rocp',
  'Rate of Change Percentage',
  'TA_ROCP',
  'ROCP = (close - close[n ago])/close[n ago] as a fraction (not x100), 0 when the earlier close is 0, as TA-Lib.',
  ROCP,
)

/** Momentum (TA_MOM). */
export const mom = lagged('mom', 'Momentum', 'TA_MOM', 'MOM = close - close[n ago], as TA-Lib.', MOM)

/** Williams %R's stream */
class WillrStream implements Stream {
  readonly out = nans(1)
  private readonly hi: RollingMax
  private readonly lo: RollingMin
  private i = 0
  constructor(private readonly per: number) {
    this.hi = new RollingMax(per)
    this.lo = new RollingMin(per)
  }
  update(x: Float64Array): void {
    const hh = this.hi.push(x[0])
    const ll = this.lo.push(x[1])
    if (this.i >= this.per - 1) {
      const diff = (hh - ll) / -100
      this.out[0] = diff !== 0 ? (hh - x[2]) / diff : 0
    } else this.i++
  }
}

/** TA_WILLR's batch loop in a kernel run chunk by chunk */
class WillrRows implements ChunkedKernel {
  // The window's extremes (TA-Lib's scans), a chunk at a time
  private readonly ext: WindowExtremes
  constructor(
    high: Float64Array,
    low: Float64Array,
    private readonly close: Float64Array,
    private readonly out: Float64Array,
    private readonly per: number,
  ) {
    this.ext = new WindowExtremes(high, low, per, out)
  }
  run(from: number, to: number): void {
    const { close, out, per, ext } = this
    ext.fill(from, to)
    const { hh: H, ll: L, base } = ext
    for (let i = Math.max(from, per - 1); i < to; i++) {
      const hh = H[i - base]
      const ll = L[i - base]
      const diff = (hh - ll) / -100
      out[i] = diff !== 0 ? (hh - close[i]) / diff : 0
    }
  }
}

/** Williams %R (TA_WILLR). */
export const willr: IndicatorDef = {
  id: 'willr',
  name: "Williams' %R",
  category: 'momentum',
  source: 'bars',
  inputs: ['high', 'low', 'close'],
  params: [period('timePeriod', 14, 2, 500, 'rows in the high/low window')],
  outputs: ['willr'],
  talib: 'TA_WILLR',
  notes:
    '%R = (highest high - close)/((highest high - lowest low)/-100) over the window, in [-100, 0], 0 on a flat ' +
    'window, with TA-Lib\'s arithmetic.',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const { high, low, close } = input
    const n = close.length
    const per = p.timePeriod
    const out = output(n, per - 1)
    const result = [out]
    inChunks(new WillrRows(high, low, close, out, per), 0, n)
    return result
  },
  stream: (p) => new WillrStream(p.timePeriod),
  reading: (out) => zone(out[0], -20, -80),
}

/** TA_APO's or, with `ppo`, TA_PPO's stream */
class PriceOscillatorStream implements Stream {
  readonly out = nans(1)
  private readonly fast: RunningSma
  private readonly slow: RunningSma
  constructor(
    fastPeriod: number,
    slowPeriod: number,
    private readonly ppo: boolean,
  ) {
    this.fast = new RunningSma(Math.min(fastPeriod, slowPeriod))
    this.slow = new RunningSma(Math.max(fastPeriod, slowPeriod))
  }
  update(x: Float64Array): void {
    const fv = this.fast.push(x[0])
    const sv = this.slow.push(x[0])
    if (sv !== sv) return
    if (this.ppo) this.out[0] = isZero(sv) ? 0 : ((fv - sv) / sv) * 100
    else this.out[0] = fv - sv
  }
}

/** TA_APO's (or with `ppo` TA_PPO's) rows once both windows are full, one loop per formula */
class PriceOscillatorRows implements ChunkedKernel {
  constructor(
    private readonly x: Float64Array,
    private readonly out: Float64Array,
    private readonly fastP: number,
    private readonly slowP: number,
    private fastTotal: number,
    private slowTotal: number,
    private readonly ppo: boolean,
  ) {}
  run(from: number, to: number): void {
    const { x, out, fastP, slowP } = this
    let { fastTotal, slowTotal } = this
    if (this.ppo) {
      for (let i = from; i < to; i++) {
        const v = x[i]
        fastTotal += v
        slowTotal += v
        const fv = fastTotal / fastP
        fastTotal -= x[i - fastP + 1]
        const sv = slowTotal / slowP
        slowTotal -= x[i - slowP + 1]
        out[i] = isZero(sv) ? 0 : ((fv - sv) / sv) * 100
      }
    } else {
      for (let i = from; i < to; i++) {
        const v = x[i]
        fastTotal += v
        slowTotal += v
        const fv = fastTotal / fastP
        fastTotal -= x[i - fastP + 1]
        const sv = slowTotal / slowP
        slowTotal -= x[i - slowP + 1]
        out[i] = fv - sv
      }
    }
    this.fastTotal = fastTotal
    this.slowTotal = slowTotal
  }
}

/** Builds TA_APO / TA_PPO: fast SMA against slow SMA (TA_INT_PO). */
function priceOscillator(id: string, name: string, talib: string, notes: string, ppo: boolean): IndicatorDef {
  return {
    id,
    name,
    category: 'momentum',
    source: 'bars',
    inputs: ['close'],
    params: [period('fastPeriod', 12, 2, 500, 'fast SMA period'), period('slowPeriod', 26, 2, 500, 'slow SMA period')],
    outputs: [id],
    talib,
    notes,
    lookback: (p) => Math.max(p.fastPeriod, p.slowPeriod) - 1,
    batch(input, p) {
      const x = input.close
      const n = x.length
      const fastP = Math.min(p.fastPeriod, p.slowPeriod)
      const slowP = Math.max(p.fastPeriod, p.slowPeriod)
      const out = output(n, slowP - 1)
      const result = [out]
      // TA_INT_SMA's running totals of both windows, read straight from the input: add the new close, emit the
      // mean once the window is full, then drop the window's oldest close. The rows before the slow window is
      // full only sum; the rest run in a kernel
      let fastTotal = 0
      let slowTotal = 0
      let i = 0
      for (; i < slowP - 1 && i < n; i++) {
        const v = x[i]
        fastTotal += v
        slowTotal += v
        if (i >= fastP - 1) fastTotal -= x[i - fastP + 1]
      }
      inChunks(new PriceOscillatorRows(x, out, fastP, slowP, fastTotal, slowTotal, ppo), i, n)
      return result
    },
    stream: (p) => new PriceOscillatorStream(p.fastPeriod, p.slowPeriod, ppo),
    reading: (out) => sign(out[0]),
  }
}

/** Absolute price oscillator (TA_APO). */
export const apo = priceOscillator(
  'apo',
  'Absolute Price Oscillator',
  'TA_APO',
  'APO = SMA(fast) - SMA(slow) of close, periods swapped if fast > slow, as TA-Lib. Only the default MA type ' +
    '(SMA) of optInMAType is supported.',
  false,
)

/** Percentage price oscillator (TA_PPO). */
export const ppo = priceOscillator(
  'ppo',
  'Percentage Price Oscillator',
  'TA_PPO',
  'PPO = (SMA(fast) - SMA(slow))/SMA(slow) * 100 of close, 0 when the slow SMA is zero, periods swapped if ' +
    'fast > slow, as TA-Lib (no signal line). Only the default MA type (SMA) of optInMAType is supported.',
  true,
)

/** TRIX's stream */
class TrixStream implements Stream {
  readonly out = nans(1)
  private readonly e1: SeededEma
  private readonly e2: SeededEma
  private readonly e3: SeededEma
  private prev = NaN
  constructor(per: number) {
    const k = perToK(per)
    this.e1 = new SeededEma(per, k)
    this.e2 = new SeededEma(per, k)
    this.e3 = new SeededEma(per, k)
  }
  update(x: Float64Array): void {
    const a = this.e1.push(x[0])
    if (a !== a) return
    const b = this.e2.push(a)
    if (b !== b) return
    const c = this.e3.push(b)
    if (c !== c) return
    const prev = this.prev
    if (prev === prev) this.out[0] = prev !== 0 ? (c / prev - 1) * 100 : 0
    this.prev = c
  }
}

/** TRIX's rows once the three EMAs are seeded, their values in local variables while a chunk runs */
class TrixRows implements ChunkedKernel {
  constructor(
    private readonly x: Float64Array,
    private readonly out: Float64Array,
    private readonly k: number,
    private e1: number,
    private e2: number,
    private e3: number,
  ) {}
  run(from: number, to: number): void {
    const { x, out, k } = this
    let { e1, e2, e3 } = this
    for (let i = from; i < to; i++) {
      // SeededEma's step, prev + (x - prev) * k written as its (x - prev) * k + prev
      e1 = (x[i] - e1) * k + e1
      e2 = (e1 - e2) * k + e2
      const c = (e2 - e3) * k + e3
      out[i] = e3 !== 0 ? (c / e3 - 1) * 100 : 0
      e3 = c
    }
    this.e1 = e1
    this.e2 = e2
    this.e3 = e3
  }
}

/** TRIX: 1-row rate of change of a triple EMA (TA_TRIX). */
export const trix: IndicatorDef = {
  id: 'trix',
  name: 'TRIX',
  category: 'momentum',
  source: 'bars',
  inputs: ['close'],
  params: [period('timePeriod', 30, 2, 500, 'period of each of the three EMAs')],
  outputs: ['trix'],
  talib: 'TA_TRIX',
  notes:
    'TRIX = TA_ROC(1) of EMA(EMA(EMA(close))), i.e. (e3/e3[1 ago] - 1) * 100, each EMA seeded with the simple ' +
    'mean of its first `period` inputs, as TA-Lib. timePeriod starts at 2 because TA_EMA_Lookback(1) is -1 and ' +
    'breaks TA-Lib\'s output.',
  lookback: (p) => 3 * (p.timePeriod - 1) + 1,
  batch(input, p) {
    const x = input.close
    const n = x.length
    const lb = 3 * (p.timePeriod - 1) + 1
    const out = output(n, lb)
    const result = [out]
    const k = perToK(p.timePeriod)
    const e1 = new SeededEma(p.timePeriod, k)
    const e2 = new SeededEma(p.timePeriod, k)
    const e3 = new SeededEma(p.timePeriod, k)
    // The EMAs seed one after the other with their building blocks (the first TRIX is on row lb, when the third EMA
    // has two values), then a kernel continues from their values
    let prev = NaN
    let i = 0
    for (; i < lb && i < n; i++) {
      const a = e1.push(x[i])
      if (a !== a) continue
      const b = e2.push(a)
      if (b !== b) continue
      prev = e3.push(b)
    }
    if (i < n) inChunks(new TrixRows(x, out, k, e1.value, e2.value, prev), i, n)
    return result
  },
  stream: (p) => new TrixStream(p.timePeriod),
  reading: (out) => sign(out[0]),
}

/** TA_CMO's stream: TA_RSI's smoothing with CMO's output */
class CmoStream implements Stream {
  readonly out = nans(1)
  private prev = NaN
  private gain = 0
  private loss = 0
  private i = 0
  constructor(private readonly per: number) {}
  update(x: Float64Array): void {
    const v = x[0]
    const per = this.per
    const i = this.i
    if (i > per) {
      const d = v - this.prev
      let gain = this.gain * (per - 1)
      let loss = this.loss * (per - 1)
      if (d < 0) loss -= d
      else gain += d
      gain /= per
      loss /= per
      this.gain = gain
      this.loss = loss
      this.out[0] = isZero(gain + loss) ? 0 : 100 * ((gain - loss) / (gain + loss))
    } else {
      if (i > 0) {
        const d = v - this.prev
        if (d < 0) this.loss -= d
        else this.gain += d
        if (i === per) {
          this.gain /= per
          this.loss /= per
          this.out[0] = isZero(this.gain + this.loss) ? 0 : 100 * ((this.gain - this.loss) / (this.gain + this.loss))
        }
      }
      this.i = i + 1
    }
    this.prev = v
  }
}

/** Chande Momentum Oscillator (TA_CMO). */
export const cmo: IndicatorDef = {
  id: 'cmo',
  name: 'Chande Momentum Oscillator',
  category: 'momentum',
  source: 'bars',
  inputs: ['close'],
  params: [period('timePeriod', 14, 2, 500, 'Wilder smoothing period')],
  outputs: ['cmo'],
  talib: 'TA_CMO',
  notes:
    'CMO = 100*(gain - loss)/(gain + loss) with TA-Lib\'s Wilder-smoothed average gain/loss (seeded like TA_RSI), ' +
    'not Chande\'s plain sums; 0 when both averages are zero.',
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    const x = input.close
    const n = x.length
    const per = p.timePeriod
    const out = output(n, per)
    const result = [out]
    if (n <= per) return result
    let gain = 0
    let loss = 0
    for (let i = 1; i <= per; i++) {
      const d = x[i] - x[i - 1]
      if (d < 0) loss -= d
      else gain += d
    }
    gain /= per
    loss /= per
    out[per] = isZero(gain + loss) ? 0 : 100 * ((gain - loss) / (gain + loss))
    inChunks(new WilderRows(x, out, per, gain, loss, true), per + 1, n)
    return result
  },
  stream: (p) => new CmoStream(p.timePeriod),
  reading: (out) => zone(out[0], 50, -50),
}

/** TA_MFI's stream */
class MfiStream implements Stream {
  readonly out = nans(1)
  private readonly posBuf: Float64Array
  private readonly negBuf: Float64Array
  private pos = 0
  private neg = 0
  private prev = NaN
  private slot = 0
  private i = 0
  constructor(private readonly per: number) {
    this.posBuf = new Float64Array(per)
    this.negBuf = new Float64Array(per)
  }
  update(x: Float64Array): void {
    const per = this.per
    const i = this.i
    const tp = (x[0] + x[1] + x[2]) / 3
    if (i > 0) {
      const slot = this.slot
      if (i > per) {
        this.pos -= this.posBuf[slot]
        this.neg -= this.negBuf[slot]
      }
      const d = tp - this.prev
      const flow = tp * x[3]
      if (d < 0) {
        this.negBuf[slot] = flow
        this.neg += flow
        this.posBuf[slot] = 0
      } else if (d > 0) {
        this.posBuf[slot] = flow
        this.pos += flow
        this.negBuf[slot] = 0
      } else {
        this.posBuf[slot] = 0
        this.negBuf[slot] = 0
      }
      this.slot = slot === per - 1 ? 0 : slot + 1
      if (i >= per) this.out[0] = this.pos + this.neg < 1 ? 0 : 100 * (this.pos / (this.pos + this.neg))
    }
    this.prev = tp
    if (i <= per) this.i = i + 1
  }
}

/** TA_MFI's batch loop from row 1 in a kernel run chunk by chunk; row i uses slot (i - 1) % per */
class MfiRows implements ChunkedKernel {
  private readonly posBuf: Float64Array
  private readonly negBuf: Float64Array
  private pos = 0
  private neg = 0
  private prev: number
  private slot = 0
  constructor(
    private readonly high: Float64Array,
    private readonly low: Float64Array,
    private readonly close: Float64Array,
    private readonly volume: Float64Array,
    private readonly out: Float64Array,
    private readonly per: number,
  ) {
    this.posBuf = new Float64Array(per)
    this.negBuf = new Float64Array(per)
    this.prev = (high[0] + low[0] + close[0]) / 3
  }
  run(from: number, to: number): void {
    const { high, low, close, volume, out, per, posBuf, negBuf } = this
    let { pos, neg, prev, slot } = this
    for (let i = from; i < to; i++) {
      // Drop the flow leaving the window before adding the new one, in TA-Lib's order
      if (i > per) {
        pos -= posBuf[slot]
        neg -= negBuf[slot]
      }
      const tp = (high[i] + low[i] + close[i]) / 3
      const d = tp - prev
      prev = tp
      const flow = tp * volume[i]
      if (d < 0) {
        negBuf[slot] = flow
        neg += flow
        posBuf[slot] = 0
      } else if (d > 0) {
        posBuf[slot] = flow
        pos += flow
        negBuf[slot] = 0
      } else {
        posBuf[slot] = 0
        negBuf[slot] = 0
      }
      slot = slot === per - 1 ? 0 : slot + 1
      if (i >= per) out[i] = pos + neg < 1 ? 0 : 100 * (pos / (pos + neg))
    }
    this.pos = pos
    this.neg = neg
    this.prev = prev
    this.slot = slot
  }
}

/** Money Flow Index (TA_MFI). */
export const mfi: IndicatorDef = {
  id: 'mfi',
  name: 'Money Flow Index',
  category: 'momentum',
  source: 'bars',
  inputs: ['high', 'low', 'close', 'volume'],
  params: [period('timePeriod', 14, 2, 500, 'rows of money flow summed')],
  outputs: ['mfi'],
  talib: 'TA_MFI',
  notes:
    'Typical price tp = (high+low+close)/3, money flow tp*volume counted positive when tp rose and negative when ' +
    'it fell (neither when unchanged); MFI = 100*pos/(pos+neg) over the window, 0 when pos+neg < 1, as TA-Lib.',
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    const { high, low, close, volume } = input
    const n = close.length
    const per = p.timePeriod
    const out = output(n, per)
    const result = [out]
    if (n <= per) return result
    inChunks(new MfiRows(high, low, close, volume, out, per), 1, n)
    return result
  },
  stream: (p) => new MfiStream(p.timePeriod),
  reading: (out) => zone(out[0], 80, 20),
}

/** The three ULTOSC periods in TA-Lib's order, shortest first */
const ultoscPeriods = (p: Readonly<Record<string, number>>) =>
  [p.timePeriod1, p.timePeriod2, p.timePeriod3].sort((a, b) => a - b)

/** TA_ULTOSC's stream: buying pressure and true range of the last p3 rows in power-of-two rings */
class UltoscStream implements Stream {
  readonly out = nans(1)
  private readonly p1: number
  private readonly p2: number
  private readonly p3: number
  private readonly bpRing: Float64Array
  private readonly trRing: Float64Array
  private readonly mask: number
  private a1 = 0
  private a2 = 0
  private a3 = 0
  private b1 = 0
  private b2 = 0
  private b3 = 0
  private prev = NaN
  private i = 0
  /** Ring position of the newest row */
  private t = 0
  constructor(periods: number[]) {
    this.p1 = periods[0]
    this.p2 = periods[1]
    this.p3 = periods[2]
    const cap = pow2(this.p3)
    this.bpRing = new Float64Array(cap)
    this.trRing = new Float64Array(cap)
    this.mask = cap - 1
  }
  update(x: Float64Array): void {
    const h = x[0]
    const l = x[1]
    const c = x[2]
    const i = this.i
    if (i > 0) {
      const { p1, p2, p3, mask } = this
      const prev = this.prev
      const tl = l < prev ? l : prev
      const bp = c - tl
      let r = h - l
      let t = Math.abs(prev - h)
      if (t > r) r = t
      t = Math.abs(prev - l)
      if (t > r) r = t
      const at = (this.t + 1) & mask
      this.t = at
      this.bpRing[at] = bp
      this.trRing[at] = r
      if (i > p3 - p1) {
        this.a1 += bp
        this.b1 += r
      }
      if (i > p3 - p2) {
        this.a2 += bp
        this.b2 += r
      }
      this.a3 += bp
      this.b3 += r
      if (i >= p3) {
        let o = 0
        if (!isZero(this.b1)) o += 4 * (this.a1 / this.b1)
        if (!isZero(this.b2)) o += 2 * (this.a2 / this.b2)
        if (!isZero(this.b3)) o += this.a3 / this.b3
        // The oldest row of each window leaves it: p - 1 rows before the newest
        this.a1 -= this.bpRing[(at - p1 + 1) & mask]
        this.b1 -= this.trRing[(at - p1 + 1) & mask]
        this.a2 -= this.bpRing[(at - p2 + 1) & mask]
        this.b2 -= this.trRing[(at - p2 + 1) & mask]
        this.a3 -= this.bpRing[(at - p3 + 1) & mask]
        this.b3 -= this.trRing[(at - p3 + 1) & mask]
        this.out[0] = 100 * (o / 7)
      }
    }
    this.prev = c
    if (i < this.p3) this.i = i + 1
  }
}

/** TA_ULTOSC's batch loop, the window sums in local variables while a chunk runs */
class UltoscRows implements ChunkedKernel {
  private readonly bp: Float64Array
  private readonly tr: Float64Array
  private readonly mask: number
  private a1 = 0
  private a2 = 0
  private a3 = 0
  private b1 = 0
  private b2 = 0
  private b3 = 0
  constructor(
    private readonly high: Float64Array,
    private readonly low: Float64Array,
    private readonly close: Float64Array,
    private readonly out: Float64Array,
    private readonly p1: number,
    private readonly p2: number,
    private readonly p3: number,
  ) {
    const cap = pow2(p3)
    this.mask = cap - 1
    this.bp = new Float64Array(cap)
    this.tr = new Float64Array(cap)
  }
  /** Rows 1..end-1: each window takes the rows that fall in it at row p3 */
  prime(end: number): void {
    const { high, low, close, bp, tr, mask, p1, p2, p3 } = this
    let { a1, a2, a3, b1, b2, b3 } = this
    for (let i = 1; i < end; i++) {
      const cy = close[i - 1]
      const li = low[i]
      const hi = high[i]
      const tl = li < cy ? li : cy
      const bpi = close[i] - tl
      let r = hi - li
      let t = Math.abs(cy - hi)
      if (t > r) r = t
      t = Math.abs(cy - li)
      if (t > r) r = t
      bp[i & mask] = bpi
      tr[i & mask] = r
      if (i > p3 - p1) {
        a1 += bpi
        b1 += r
      }
      if (i > p3 - p2) {
        a2 += bpi
        b2 += r
      }
      a3 += bpi
      b3 += r
    }
    this.a1 = a1
    this.a2 = a2
    this.a3 = a3
    this.b1 = b1
    this.b2 = b2
    this.b3 = b3
  }
  run(from: number, to: number): void {
    const { high, low, close, out, bp, tr, mask, p1, p2, p3 } = this
    let { a1, a2, a3, b1, b2, b3 } = this
    for (let i = from; i < to; i++) {
      const cy = close[i - 1]
      const li = low[i]
      const hi = high[i]
      const tl = li < cy ? li : cy
      const bpi = close[i] - tl
      let r = hi - li
      let t = Math.abs(cy - hi)
      if (t > r) r = t
      t = Math.abs(cy - li)
      if (t > r) r = t
      bp[i & mask] = bpi
      tr[i & mask] = r
      a1 += bpi
      b1 += r
      a2 += bpi
      b2 += r
      a3 += bpi
      b3 += r
      let o = 0
      if (!isZero(b1)) o += 4 * (a1 / b1)
      if (!isZero(b2)) o += 2 * (a2 / b2)
      if (!isZero(b3)) o += a3 / b3
      a1 -= bp[(i - p1 + 1) & mask]
      b1 -= tr[(i - p1 + 1) & mask]
      a2 -= bp[(i - p2 + 1) & mask]
      b2 -= tr[(i - p2 + 1) & mask]
      a3 -= bp[(i - p3 + 1) & mask]
      b3 -= tr[(i - p3 + 1) & mask]
      out[i] = 100 * (o / 7)
    }
    this.a1 = a1
    this.a2 = a2
    this.a3 = a3
    this.b1 = b1
    this.b2 = b2
    this.b3 = b3
  }
}

/** Ultimate Oscillator (TA_ULTOSC). */
export const ultosc: IndicatorDef = {
  id: 'ultosc',
  name: 'Ultimate Oscillator',
  category: 'momentum',
  source: 'bars',
  inputs: ['high', 'low', 'close'],
  params: [
    period('timePeriod1', 7, 1, 500, 'first window (weight 4 when shortest)'),
    period('timePeriod2', 14, 1, 500, 'second window'),
    period('timePeriod3', 28, 1, 500, 'third window (weight 1 when longest)'),
  ],
  outputs: ['ultosc'],
  talib: 'TA_ULTOSC',
  notes:
    'Buying pressure close - min(low, prev close) over true range, summed over three windows and weighted ' +
    '4:2:1 from the shortest to the longest (TA-Lib sorts the periods): 100*(4*A1/B1 + 2*A2/B2 + A3/B3)/7, a ' +
    'term dropped when its true-range sum is zero.',
  lookback: (p) => Math.max(p.timePeriod1, p.timePeriod2, p.timePeriod3),
  batch(input, p) {
    const { high, low, close } = input
    const n = close.length
    const [p1, p2, p3] = ultoscPeriods(p)
    const out = output(n, p3)
    const result = [out]
    // Buying pressure and true range of the last p3 rows (both need the previous close, so from row 1), in rings
    // indexed by row: whole-series arrays would cost two more fresh 8-byte-per-row allocations
    const k = new UltoscRows(high, low, close, out, p1, p2, p3)
    // The first p3 rows only fill the windows, the rest also emit and drop their oldest row
    k.prime(Math.min(n, p3))
    inChunks(k, p3, n)
    return result
  },
  stream: (p) => new UltoscStream(ultoscPeriods(p)),
  reading: (out) => zone(out[0], 70, 30),
}

class BopStream implements Stream {
  readonly out = nans(1)
  update(x: Float64Array): void {
    const r = x[1] - x[2]
    this.out[0] = isZeroOrNeg(r) ? 0 : (x[3] - x[0]) / r
  }
}

/**
 * TA_BOP into `out`. Returns a check, finite exactly when every input is: the sum of each row's high - low plus
 * close - open, times 0 (a non-finite input makes one of them NaN or infinite)
 */
function bopRows(input: Columns, out: Float64Array): number {
  const { open, high, low, close } = input
  const n = close.length
  let check = 0
  // Four rows at a time: the per-iteration overhead of a loop this short costs as much as its arithmetic. The
  // rows left over go first (see rocRows)
  let i = 0
  for (const head = n & 3; i < head; i++) {
    const r = high[i] - low[i]
    const d = close[i] - open[i]
    check += (r + d) * 0
    out[i] = isZeroOrNeg(r) ? 0 : d / r
  }
  for (; i < n; i += 4) {
    const r0 = high[i] - low[i]
    const r1 = high[i + 1] - low[i + 1]
    const r2 = high[i + 2] - low[i + 2]
    const r3 = high[i + 3] - low[i + 3]
    const d0 = close[i] - open[i]
    const d1 = close[i + 1] - open[i + 1]
    const d2 = close[i + 2] - open[i + 2]
    const d3 = close[i + 3] - open[i + 3]
    check += (r0 + d0 + (r1 + d1) + (r2 + d2 + (r3 + d3))) * 0
    out[i] = r0 < 0.00000000000001 ? 0 : d0 / r0
    out[i + 1] = r1 < 0.00000000000001 ? 0 : d1 / r1
    out[i + 2] = r2 < 0.00000000000001 ? 0 : d2 / r2
    out[i + 3] = r3 < 0.00000000000001 ? 0 : d3 / r3
  }
  return check
}

/** Balance of Power (TA_BOP). */
export const bop: IndicatorDef = {
  id: 'bop',
  name: 'Balance of Power',
  category: 'momentum',
  source: 'bars',
  inputs: ['open', 'high', 'low', 'close'],
  params: [],
  outputs: ['bop'],
  talib: 'TA_BOP',
  notes: 'BOP = (close - open)/(high - low) per row, 0 when high - low is below TA-Lib\'s epsilon (1e-14).',
  lookback: () => 0,
  batch(input) {
    const out = output(input.close.length, 0)
    bopRows(input, out)
    return [out]
  },
  batchIfFinite(input) {
    const out = output(input.close.length, 0)
    return ifFinite([out], bopRows(input, out))
  },
  stream: () => new BopStream(),
  reading: (out) => sign(out[0]),
}

/** TSI's EMA chain, shared by the batch loop and the stream */
class TsiChain {
  readonly num1: SeededEma
  readonly den1: SeededEma
  readonly num2: SeededEma
  readonly den2: SeededEma
  readonly signal: SeededEma
  constructor(p: Readonly<Record<string, number>>) {
    const kl = perToK(p.longPeriod)
    const ks = perToK(p.shortPeriod)
    this.num1 = new SeededEma(p.longPeriod, kl)
    this.den1 = new SeededEma(p.longPeriod, kl)
    this.num2 = new SeededEma(p.shortPeriod, ks)
    this.den2 = new SeededEma(p.shortPeriod, ks)
    this.signal = new SeededEma(p.signalPeriod, perToK(p.signalPeriod))
  }
}

class TsiStream implements Stream {
  readonly out = nans(2)
  private readonly c: TsiChain
  private readonly lb: number
  private prev = NaN
  private i = 0
  constructor(p: Readonly<Record<string, number>>) {
    this.c = new TsiChain(p)
    this.lb = p.longPeriod + p.shortPeriod + p.signalPeriod - 2
  }
  update(x: Float64Array): void {
    const v = x[0]
    const i = this.i
    if (i > 0) {
      const c = this.c
      const m = v - this.prev
      const a = c.num1.push(m)
      const b = c.den1.push(Math.abs(m))
      if (a === a) {
        const e = c.num2.push(a)
        const d = c.den2.push(b)
        if (e === e) {
          const t = isZero(d) ? 0 : 100 * (e / d)
          const s = c.signal.push(t)
          if (i >= this.lb) {
            this.out[0] = t
            this.out[1] = s
          }
        }
      }
    }
    this.prev = v
    if (i < this.lb) this.i = i + 1
  }
}

/** True Strength Index (not in TA-Lib). */
export const tsi: IndicatorDef = {
  id: 'tsi',
  name: 'True Strength Index',
  category: 'momentum',
  source: 'bars',
  inputs: ['close'],
  params: [
    period('longPeriod', 25, 2, 500, 'first (long) EMA period'),
    period('shortPeriod', 13, 2, 500, 'second (short) EMA period'),
    period('signalPeriod', 13, 2, 500, 'signal EMA period'),
  ],
  outputs: ['tsi', 'tsiSignal'],
  notes:
    'Blau (not in TA-Lib): TSI = 100*EMA_short(EMA_long(m))/EMA_short(EMA_long(|m|)), m = close - prev close, 0 ' +
    'when the denominator is zero, signal = EMA(TSI), 25/13/13 by default (some charting tools use a 7-row signal). ' +
    'Every EMA has k = 2/(period+1) and is seeded TA-Lib style with the simple mean of its first `period` inputs; ' +
    'both outputs start on the same row, as TA_MACD\'s do.',
  lookback: (p) => p.longPeriod + p.shortPeriod + p.signalPeriod - 2,
  batch(input, p) {
    const x = input.close
    const n = x.length
    const lb = p.longPeriod + p.shortPeriod + p.signalPeriod - 2
    const outT = output(n, lb)
    const outS = output(n, lb)
    const result = [outT, outS]
    const { num1, den1, num2, den2, signal } = new TsiChain(p)
    for (let i = 1; i < n; i++) {
      const m = x[i] - x[i - 1]
      const a = num1.push(m)
      const b = den1.push(Math.abs(m))
      let vt = NaN
      let vs = NaN
      if (a === a) {
        const c = num2.push(a)
        const d = den2.push(b)
        if (c === c) {
          vt = isZero(d) ? 0 : 100 * (c / d)
          vs = signal.push(vt)
        }
      }
      if (i >= lb) {
        outT[i] = vt
        outS[i] = vs
      }
    }
    return result
  },
  stream: (p) => new TsiStream(p),
  reading: (out) => (out[0] > out[1] ? 'bullish' : out[0] < out[1] ? 'bearish' : 'neutral'),
}

class AoStream implements Stream {
  readonly out = nans(1)
  private readonly fast: RunningSma
  private readonly slow: RunningSma
  constructor(fastPeriod: number, slowPeriod: number) {
    this.fast = new RunningSma(Math.min(fastPeriod, slowPeriod))
    this.slow = new RunningSma(Math.max(fastPeriod, slowPeriod))
  }
  update(x: Float64Array): void {
    const med = (x[0] + x[1]) / 2
    const fv = this.fast.push(med)
    const sv = this.slow.push(med)
    if (sv === sv) this.out[0] = fv - sv
  }
}

/** Awesome Oscillator (not in TA-Lib). */
export const ao: IndicatorDef = {
  id: 'ao',
  name: 'Awesome Oscillator',
  category: 'momentum',
  source: 'bars',
  inputs: ['high', 'low'],
  params: [period('fastPeriod', 5, 1, 500, 'fast SMA period'), period('slowPeriod', 34, 2, 500, 'slow SMA period')],
  outputs: ['ao'],
  notes:
    'Bill Williams (not in TA-Lib): AO = SMA_fast(median) - SMA_slow(median), median = (high+low)/2, 5/34 by ' +
    'default; the SMAs use TA_SMA\'s running total and periods are swapped if fast > slow.',
  lookback: (p) => Math.max(p.fastPeriod, p.slowPeriod) - 1,
  batch(input, p) {
    const { high, low } = input
    const n = high.length
    const lb = Math.max(p.fastPeriod, p.slowPeriod) - 1
    const out = output(n, lb)
    const result = [out]
    const fast = new RunningSma(Math.min(p.fastPeriod, p.slowPeriod))
    const slow = new RunningSma(Math.max(p.fastPeriod, p.slowPeriod))
    for (let i = 0; i < n; i++) {
      const med = (high[i] + low[i]) / 2
      const fv = fast.push(med)
      const sv = slow.push(med)
      if (i >= lb) out[i] = sv === sv ? fv - sv : NaN
    }
    return result
  },
  stream: (p) => new AoStream(p.fastPeriod, p.slowPeriod),
  reading: (out) => sign(out[0]),
}

export const MOMENTUM: readonly IndicatorDef[] = [
  rsi,
  macd,
  stoch,
  stochf,
  stochrsi,
  cci,
  roc,
  rocp,
  willr,
  ppo,
  apo,
  trix,
  cmo,
  mfi,
  mom,
  ultosc,
  bop,
  tsi,
  ao,
]
