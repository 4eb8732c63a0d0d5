// Momentum oscillators
import { param, type IndicatorDef } from '../types.js'
import { nans, Ring, RollingExtreme } from '../util.js'

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
class SeededEma {
  private sum = 0
  private n = 0
  value = NaN
  constructor(
    readonly period: number,
    readonly k: number,
  ) {}
  push(v: number): number {
    if (this.n < this.period) {
      this.sum += v
      if (++this.n === this.period) this.value = this.sum / this.period
      return this.value
    }
    this.value = (v - this.value) * this.k + this.value
    return this.value
  }
}

/** SMA with TA_INT_SMA's running total (add the new value, emit, drop the oldest). NaN until full. */
class RunningSma {
  private readonly ring: Ring
  private total = 0
  constructor(readonly period: number) {
    this.ring = new Ring(period)
  }
  push(v: number): number {
    this.ring.push(v)
    this.total += v
    if (!this.ring.full) return NaN
    const mean = this.total / this.period
    this.total -= this.ring.oldest()
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
    let r = NaN
    if (this.i > 0) {
      const d = v - this.prev
      if (this.i > per) {
        this.gain *= per - 1
        this.loss *= per - 1
      }
      if (d < 0) this.loss -= d
      else this.gain += d
      if (this.i >= per) {
        this.gain /= per
        this.loss /= per
        const sum = this.gain + this.loss
        r = isZero(sum) ? 0 : 100 * (this.gain / sum)
      }
    }
    this.prev = v
    this.i++
    return r
  }
}

/**
 * Raw fast %K as TA-Lib's STOCH/STOCHF compute it: (close - lowest low) / ((highest high - lowest low) / 100)
 * over the last `period` rows, 0 on a flat window. NaN until the window is full.
 */
class FastK {
  private readonly hi: RollingExtreme
  private readonly lo: RollingExtreme
  private n = 0
  constructor(readonly period: number) {
    this.hi = new RollingExtreme(period, 'max')
    this.lo = new RollingExtreme(period, 'min')
  }
  push(h: number, l: number, c: number): number {
    const hh = this.hi.push(h)
    const ll = this.lo.push(l)
    if (++this.n < this.period) return NaN
    const diff = (hh - ll) / 100
    return diff !== 0 ? (c - ll) / diff : 0
  }
}

/** Oscillator reading: overbought (at or above `high`) is bearish and oversold bullish, as `rsi` reads */
const zone = (v: number, high: number, low: number) => (v >= high ? 'bearish' : v <= low ? 'bullish' : 'neutral')
/** Momentum reading: the sign of the value (NaN reads neutral) */
const sign = (v: number) => (v > 0 ? 'bullish' : v < 0 ? 'bearish' : 'neutral')

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
    const out = nans(n)
    if (n <= per) return [out]
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
    for (let i = per + 1; i < n; i++) {
      const d = x[i] - x[i - 1]
      gain *= per - 1
      loss *= per - 1
      if (d < 0) loss -= d
      else gain += d
      gain /= per
      loss /= per
      out[i] = isZero(gain + loss) ? 0 : 100 * (gain / (gain + loss))
    }
    return [out]
  },
  stream(p) {
    const per = p.timePeriod
    const out = nans(1)
    let prev = NaN
    let gain = 0
    let loss = 0
    let i = 0
    return {
      out,
      update(x) {
        const v = x[0]
        if (i > 0) {
          const d = v - prev
          if (i <= per) {
            if (d < 0) loss -= d
            else gain += d
            if (i === per) {
              gain /= per
              loss /= per
              out[0] = isZero(gain + loss) ? 0 : 100 * (gain / (gain + loss))
            }
          } else {
            gain *= per - 1
            loss *= per - 1
            if (d < 0) loss -= d
            else gain += d
            gain /= per
            loss /= per
            out[0] = isZero(gain + loss) ? 0 : 100 * (gain / (gain + loss))
          }
        }
        prev = v
        i++
      },
    }
  },
  reading: (out) => (out[0] >= 70 ? 'bearish' : out[0] <= 30 ? 'bullish' : 'neutral'),
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
    const m = nans(n)
    const s = nans(n)
    const h = nans(n)
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
    return [m, s, h]
  },
  stream(p) {
    const fastP = Math.min(p.fastPeriod, p.slowPeriod)
    const slowP = Math.max(p.fastPeriod, p.slowPeriod)
    const lb = slowP - 1 + (p.signalPeriod - 1)
    const slow = new SeededEma(slowP, perToK(slowP))
    const fast = new SeededEma(fastP, perToK(fastP))
    const signal = new SeededEma(p.signalPeriod, perToK(p.signalPeriod))
    const out = nans(3)
    let i = 0
    return {
      out,
      update(x) {
        const sv = slow.push(x[0])
        const fv = i >= slowP - fastP ? fast.push(x[0]) : NaN
        if (i >= slowP - 1) {
          const mv = fv - sv
          const gv = signal.push(mv)
          if (i >= lb) {
            out[0] = mv
            out[1] = gv
            out[2] = mv - gv
          }
        }
        i++
      },
    }
  },
  reading: (out) => sign(out[2]),
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
    const lb = p.fastKPeriod - 1 + (p.slowKPeriod - 1) + (p.slowDPeriod - 1)
    const outK = nans(n)
    const outD = nans(n)
    const raw = new FastK(p.fastKPeriod)
    const smaK = new RunningSma(p.slowKPeriod)
    const smaD = new RunningSma(p.slowDPeriod)
    for (let i = 0; i < n; i++) {
      const k = raw.push(high[i], low[i], close[i])
      if (Number.isNaN(k)) continue
      const sk = smaK.push(k)
      if (Number.isNaN(sk)) continue
      const sd = smaD.push(sk)
      if (i >= lb) {
        outK[i] = sk
        outD[i] = sd
      }
    }
    return [outK, outD]
  },
  stream(p) {
    const lb = p.fastKPeriod - 1 + (p.slowKPeriod - 1) + (p.slowDPeriod - 1)
    const raw = new FastK(p.fastKPeriod)
    const smaK = new RunningSma(p.slowKPeriod)
    const smaD = new RunningSma(p.slowDPeriod)
    const out = nans(2)
    let i = 0
    return {
      out,
      update(x) {
        const k = raw.push(x[0], x[1], x[2])
        if (!Number.isNaN(k)) {
          const sk = smaK.push(k)
          if (!Number.isNaN(sk)) {
            const sd = smaD.push(sk)
            if (i >= lb) {
              out[0] = sk
              out[1] = sd
            }
          }
        }
        i++
      },
    }
  },
  reading: (out) => zone(out[0], 80, 20),
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
    const lb = p.fastKPeriod - 1 + (p.fastDPeriod - 1)
    const outK = nans(n)
    const outD = nans(n)
    const raw = new FastK(p.fastKPeriod)
    const smaD = new RunningSma(p.fastDPeriod)
    for (let i = 0; i < n; i++) {
      const k = raw.push(high[i], low[i], close[i])
      if (Number.isNaN(k)) continue
      const d = smaD.push(k)
      if (i >= lb) {
        outK[i] = k
        outD[i] = d
      }
    }
    return [outK, outD]
  },
  stream(p) {
    const lb = p.fastKPeriod - 1 + (p.fastDPeriod - 1)
    const raw = new FastK(p.fastKPeriod)
    const smaD = new RunningSma(p.fastDPeriod)
    const out = nans(2)
    let i = 0
    return {
      out,
      update(x) {
        const k = raw.push(x[0], x[1], x[2])
        if (!Number.isNaN(k)) {
          const d = smaD.push(k)
          if (i >= lb) {
            out[0] = k
            out[1] = d
          }
        }
        i++
      },
    }
  },
  reading: (out) => zone(out[0], 80, 20),
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
    const outK = nans(n)
    const outD = nans(n)
    const r = new WilderRsi(p.timePeriod)
    const raw = new FastK(p.fastKPeriod)
    const smaD = new RunningSma(p.fastDPeriod)
    for (let i = 0; i < n; i++) {
      const v = r.push(x[i])
      if (Number.isNaN(v)) continue
      const k = raw.push(v, v, v)
      if (Number.isNaN(k)) continue
      const d = smaD.push(k)
      if (i >= lb) {
        outK[i] = k
        outD[i] = d
      }
    }
    return [outK, outD]
  },
  stream(p) {
    const lb = p.timePeriod + p.fastKPeriod - 1 + (p.fastDPeriod - 1)
    const r = new WilderRsi(p.timePeriod)
    const raw = new FastK(p.fastKPeriod)
    const smaD = new RunningSma(p.fastDPeriod)
    const out = nans(2)
    let i = 0
    return {
      out,
      update(x) {
        const v = r.push(x[0])
        if (!Number.isNaN(v)) {
          const k = raw.push(v, v, v)
          if (!Number.isNaN(k)) {
            const d = smaD.push(k)
            if (i >= lb) {
              out[0] = k
              out[1] = d
            }
          }
        }
        i++
      },
    }
  },
  reading: (out) => zone(out[0], 80, 20),
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
    const out = nans(n)
    // Slot i % per, as TA-Lib's circular buffer: the sums below add the slots in this order, not by age
    const buf = new Float64Array(per)
    for (let i = 0; i < n; i++) {
      const last = (high[i] + low[i] + close[i]) / 3
      buf[i % per] = last
      if (i < per - 1) continue
      let avg = 0
      for (let j = 0; j < per; j++) avg += buf[j]
      avg /= per
      let dev = 0
      for (let j = 0; j < per; j++) dev += Math.abs(buf[j] - avg)
      const d = last - avg
      out[i] = d !== 0 && dev !== 0 ? d / (0.015 * (dev / per)) : 0
    }
    return [out]
  },
  stream(p) {
    const per = p.timePeriod
    const buf = new Float64Array(per)
    const out = nans(1)
    let slot = 0
    let seen = 0
    return {
      out,
      update(x) {
        const last = (x[0] + x[1] + x[2]) / 3
        buf[slot] = last
        slot = slot === per - 1 ? 0 : slot + 1
        if (seen < per) seen++
        if (seen === per) {
          let avg = 0
          for (let j = 0; j < per; j++) avg += buf[j]
          avg /= per
          let dev = 0
          for (let j = 0; j < per; j++) dev += Math.abs(buf[j] - avg)
          const d = last - avg
          out[0] = d !== 0 && dev !== 0 ? d / (0.015 * (dev / per)) : 0
        }
      },
    }
  },
  reading: (out) => zone(out[0], 100, -100),
}

/** Builds the TA_ROC / TA_ROCP / TA_MOM family: f(today, value `timePeriod` rows back). */
function lagged(
  id: string,
  name: string,
  talib: string,
  notes: string,
  f: (now: number, then: number) => number,
): IndicatorDef {
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
      const x = input.close
      const n = x.length
      const per = p.timePeriod
      const out = nans(n)
      for (let i = per; i < n; i++) out[i] = f(x[i], x[i - per])
      return [out]
    },
    stream(p) {
      const ring = new Ring(p.timePeriod)
      const out = nans(1)
      return {
        out,
        update(x) {
          // The value that falls out of a `timePeriod` ring is the one `timePeriod` rows back
          const then = ring.push(x[0])
          if (!Number.isNaN(then)) out[0] = f(x[0], then)
        },
      }
    },
    reading: (out) => sign(out[0]),
  }
}

/** Rate of change in percent (TA_ROC). */
export const roc = lagged(
  'roc',
  'Rate of Change',
  'TA_ROC',
  'ROC = (close/close[n ago] - 1) * 100, 0 when the earlier close is 0, as TA-Lib.',
  (now, then) => (then !== 0 ? (now / then - 1) * 100 : 0),
)

/** Rate of change as a fraction (TA_ROCP). */
export const rocp = lagged(
  'rocp',
  'Rate of Change Percentage',
  'TA_ROCP',
  'ROCP = (close - close[n ago])/close[n ago] as a fraction (not x100), 0 when the earlier close is 0, as TA-Lib.',
  (now, then) => (then !== 0 ? (now - then) / then : 0),
)

/** Momentum (TA_MOM). */
export const mom = lagged(
  'mom',
  'Momentum',
  'TA_MOM',
  'MOM = close - close[n ago], as TA-Lib.',
  (now, then) => now - then,
)

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
    const out = nans(n)
    const hi = new RollingExtreme(per, 'max')
    const lo = new RollingExtreme(per, 'min')
    for (let i = 0; i < n; i++) {
      const hh = hi.push(high[i])
      const ll = lo.push(low[i])
      if (i < per - 1) continue
      const diff = (hh - ll) / -100
      out[i] = diff !== 0 ? (hh - close[i]) / diff : 0
    }
    return [out]
  },
  stream(p) {
    const per = p.timePeriod
    const hi = new RollingExtreme(per, 'max')
    const lo = new RollingExtreme(per, 'min')
    const out = nans(1)
    let i = 0
    return {
      out,
      update(x) {
        const hh = hi.push(x[0])
        const ll = lo.push(x[1])
        if (i >= per - 1) {
          const diff = (hh - ll) / -100
          out[0] = diff !== 0 ? (hh - x[2]) / diff : 0
        } else i++
      },
    }
  },
  reading: (out) => zone(out[0], -20, -80),
}

/** Builds TA_APO / TA_PPO: fast SMA against slow SMA (TA_INT_PO). */
function priceOscillator(
  id: string,
  name: string,
  talib: string,
  notes: string,
  f: (fast: number, slow: number) => number,
): IndicatorDef {
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
      const out = nans(n)
      const fast = new RunningSma(Math.min(p.fastPeriod, p.slowPeriod))
      const slow = new RunningSma(Math.max(p.fastPeriod, p.slowPeriod))
      for (let i = 0; i < n; i++) {
        const fv = fast.push(x[i])
        const sv = slow.push(x[i])
        if (!Number.isNaN(sv)) out[i] = f(fv, sv)
      }
      return [out]
    },
    stream(p) {
      const fast = new RunningSma(Math.min(p.fastPeriod, p.slowPeriod))
      const slow = new RunningSma(Math.max(p.fastPeriod, p.slowPeriod))
      const out = nans(1)
      return {
        out,
        update(x) {
          const fv = fast.push(x[0])
          const sv = slow.push(x[0])
          if (!Number.isNaN(sv)) out[0] = f(fv, sv)
        },
      }
    },
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
  (fast, slow) => fast - slow,
)

/** Percentage price oscillator (TA_PPO). */
export const ppo = priceOscillator(
  'ppo',
  'Percentage Price Oscillator',
  'TA_PPO',
  'PPO = (SMA(fast) - SMA(slow))/SMA(slow) * 100 of close, 0 when the slow SMA is zero, periods swapped if ' +
    'fast > slow, as TA-Lib (no signal line). Only the default MA type (SMA) of optInMAType is supported.',
  (fast, slow) => (isZero(slow) ? 0 : ((fast - slow) / slow) * 100),
)

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
    const out = nans(n)
    const k = perToK(p.timePeriod)
    const e1 = new SeededEma(p.timePeriod, k)
    const e2 = new SeededEma(p.timePeriod, k)
    const e3 = new SeededEma(p.timePeriod, k)
    let prev = NaN
    for (let i = 0; i < n; i++) {
      const a = e1.push(x[i])
      if (Number.isNaN(a)) continue
      const b = e2.push(a)
      if (Number.isNaN(b)) continue
      const c = e3.push(b)
      if (Number.isNaN(c)) continue
      if (!Number.isNaN(prev)) out[i] = prev !== 0 ? (c / prev - 1) * 100 : 0
      prev = c
    }
    return [out]
  },
  stream(p) {
    const k = perToK(p.timePeriod)
    const e1 = new SeededEma(p.timePeriod, k)
    const e2 = new SeededEma(p.timePeriod, k)
    const e3 = new SeededEma(p.timePeriod, k)
    const out = nans(1)
    let prev = NaN
    return {
      out,
      update(x) {
        const a = e1.push(x[0])
        if (Number.isNaN(a)) return
        const b = e2.push(a)
        if (Number.isNaN(b)) return
        const c = e3.push(b)
        if (Number.isNaN(c)) return
        if (!Number.isNaN(prev)) out[0] = prev !== 0 ? (c / prev - 1) * 100 : 0
        prev = c
      },
    }
  },
  reading: (out) => sign(out[0]),
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
    const out = nans(n)
    if (n <= per) return [out]
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
    for (let i = per + 1; i < n; i++) {
      const d = x[i] - x[i - 1]
      gain *= per - 1
      loss *= per - 1
      if (d < 0) loss -= d
      else gain += d
      gain /= per
      loss /= per
      out[i] = isZero(gain + loss) ? 0 : 100 * ((gain - loss) / (gain + loss))
    }
    return [out]
  },
  stream(p) {
    const per = p.timePeriod
    const out = nans(1)
    let prev = NaN
    let gain = 0
    let loss = 0
    let i = 0
    return {
      out,
      update(x) {
        const v = x[0]
        if (i > 0) {
          const d = v - prev
          if (i <= per) {
            if (d < 0) loss -= d
            else gain += d
            if (i === per) {
              gain /= per
              loss /= per
              out[0] = isZero(gain + loss) ? 0 : 100 * ((gain - loss) / (gain + loss))
            }
          } else {
            gain *= per - 1
            loss *= per - 1
            if (d < 0) loss -= d
            else gain += d
            gain /= per
            loss /= per
            out[0] = isZero(gain + loss) ? 0 : 100 * ((gain - loss) / (gain + loss))
          }
        }
        prev = v
        if (i <= per) i++
      },
    }
  },
  reading: (out) => zone(out[0], 50, -50),
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
    const out = nans(n)
    if (n <= per) return [out]
    const posBuf = new Float64Array(per)
    const negBuf = new Float64Array(per)
    let pos = 0
    let neg = 0
    let prev = (high[0] + low[0] + close[0]) / 3
    for (let i = 1; i < n; i++) {
      const slot = (i - 1) % per
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
      if (i >= per) out[i] = pos + neg < 1 ? 0 : 100 * (pos / (pos + neg))
    }
    return [out]
  },
  stream(p) {
    const per = p.timePeriod
    const posBuf = new Float64Array(per)
    const negBuf = new Float64Array(per)
    const out = nans(1)
    let pos = 0
    let neg = 0
    let prev = NaN
    let slot = 0
    let i = 0
    return {
      out,
      update(x) {
        const tp = (x[0] + x[1] + x[2]) / 3
        if (i > 0) {
          if (i > per) {
            pos -= posBuf[slot]
            neg -= negBuf[slot]
          }
          const d = tp - prev
          const flow = tp * x[3]
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
          if (i >= per) out[0] = pos + neg < 1 ? 0 : 100 * (pos / (pos + neg))
        }
        prev = tp
        if (i <= per) i++
      },
    }
  },
  reading: (out) => zone(out[0], 80, 20),
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
    const [p1, p2, p3] = [p.timePeriod1, p.timePeriod2, p.timePeriod3].sort((a, b) => a - b)
    const out = nans(n)
    // Buying pressure and true range per row, from row 1 (both need the previous close)
    const bp = new Float64Array(n)
    const tr = new Float64Array(n)
    for (let i = 1; i < n; i++) {
      const cy = close[i - 1]
      const tl = low[i] < cy ? low[i] : cy
      bp[i] = close[i] - tl
      let r = high[i] - low[i]
      let t = Math.abs(cy - high[i])
      if (t > r) r = t
      t = Math.abs(cy - low[i])
      if (t > r) r = t
      tr[i] = r
    }
    let a1 = 0
    let a2 = 0
    let a3 = 0
    let b1 = 0
    let b2 = 0
    let b3 = 0
    for (let i = 1; i < n; i++) {
      if (i > p3 - p1) {
        a1 += bp[i]
        b1 += tr[i]
      }
      if (i > p3 - p2) {
        a2 += bp[i]
        b2 += tr[i]
      }
      a3 += bp[i]
      b3 += tr[i]
      if (i < p3) continue
      let o = 0
      if (!isZero(b1)) o += 4 * (a1 / b1)
      if (!isZero(b2)) o += 2 * (a2 / b2)
      if (!isZero(b3)) o += a3 / b3
      a1 -= bp[i - p1 + 1]
      b1 -= tr[i - p1 + 1]
      a2 -= bp[i - p2 + 1]
      b2 -= tr[i - p2 + 1]
      a3 -= bp[i - p3 + 1]
      b3 -= tr[i - p3 + 1]
      out[i] = 100 * (o / 7)
    }
    return [out]
  },
  stream(p) {
    const [p1, p2, p3] = [p.timePeriod1, p.timePeriod2, p.timePeriod3].sort((a, b) => a - b)
    const bpRing = new Ring(p3)
    const trRing = new Ring(p3)
    const out = nans(1)
    let a1 = 0
    let a2 = 0
    let a3 = 0
    let b1 = 0
    let b2 = 0
    let b3 = 0
    let prev = NaN
    let i = 0
    return {
      out,
      update(x) {
        const h = x[0]
        const l = x[1]
        const c = x[2]
        if (i > 0) {
          const tl = l < prev ? l : prev
          const bp = c - tl
          let r = h - l
          let t = Math.abs(prev - h)
          if (t > r) r = t
          t = Math.abs(prev - l)
          if (t > r) r = t
          bpRing.push(bp)
          trRing.push(r)
          if (i > p3 - p1) {
            a1 += bp
            b1 += r
          }
          if (i > p3 - p2) {
            a2 += bp
            b2 += r
          }
          a3 += bp
          b3 += r
          if (i >= p3) {
            let o = 0
            if (!isZero(b1)) o += 4 * (a1 / b1)
            if (!isZero(b2)) o += 2 * (a2 / b2)
            if (!isZero(b3)) o += a3 / b3
            a1 -= bpRing.ago(p1 - 1)
            b1 -= trRing.ago(p1 - 1)
            a2 -= bpRing.ago(p2 - 1)
            b2 -= trRing.ago(p2 - 1)
            a3 -= bpRing.ago(p3 - 1)
            b3 -= trRing.ago(p3 - 1)
            out[0] = 100 * (o / 7)
          }
        }
        prev = c
        if (i < p3) i++
      },
    }
  },
  reading: (out) => zone(out[0], 70, 30),
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
    const { open, high, low, close } = input
    const n = close.length
    const out = nans(n)
    for (let i = 0; i < n; i++) {
      const r = high[i] - low[i]
      out[i] = isZeroOrNeg(r) ? 0 : (close[i] - open[i]) / r
    }
    return [out]
  },
  stream() {
    const out = nans(1)
    return {
      out,
      update(x) {
        const r = x[1] - x[2]
        out[0] = isZeroOrNeg(r) ? 0 : (x[3] - x[0]) / r
      },
    }
  },
  reading: (out) => sign(out[0]),
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
    const outT = nans(n)
    const outS = nans(n)
    const kl = perToK(p.longPeriod)
    const ks = perToK(p.shortPeriod)
    const num1 = new SeededEma(p.longPeriod, kl)
    const den1 = new SeededEma(p.longPeriod, kl)
    const num2 = new SeededEma(p.shortPeriod, ks)
    const den2 = new SeededEma(p.shortPeriod, ks)
    const signal = new SeededEma(p.signalPeriod, perToK(p.signalPeriod))
    for (let i = 1; i < n; i++) {
      const m = x[i] - x[i - 1]
      const a = num1.push(m)
      const b = den1.push(Math.abs(m))
      if (Number.isNaN(a)) continue
      const c = num2.push(a)
      const d = den2.push(b)
      if (Number.isNaN(c)) continue
      const t = isZero(d) ? 0 : 100 * (c / d)
      const s = signal.push(t)
      if (i >= lb) {
        outT[i] = t
        outS[i] = s
      }
    }
    return [outT, outS]
  },
  stream(p) {
    const lb = p.longPeriod + p.shortPeriod + p.signalPeriod - 2
    const kl = perToK(p.longPeriod)
    const ks = perToK(p.shortPeriod)
    const num1 = new SeededEma(p.longPeriod, kl)
    const den1 = new SeededEma(p.longPeriod, kl)
    const num2 = new SeededEma(p.shortPeriod, ks)
    const den2 = new SeededEma(p.shortPeriod, ks)
    const signal = new SeededEma(p.signalPeriod, perToK(p.signalPeriod))
    const out = nans(2)
    let prev = NaN
    let i = 0
    return {
      out,
      update(x) {
        const v = x[0]
        if (i > 0) {
          const m = v - prev
          const a = num1.push(m)
          const b = den1.push(Math.abs(m))
          if (!Number.isNaN(a)) {
            const c = num2.push(a)
            const d = den2.push(b)
            if (!Number.isNaN(c)) {
              const t = isZero(d) ? 0 : 100 * (c / d)
              const s = signal.push(t)
              if (i >= lb) {
                out[0] = t
                out[1] = s
              }
            }
          }
        }
        prev = v
        if (i < lb) i++
      },
    }
  },
  reading: (out) => (out[0] > out[1] ? 'bullish' : out[0] < out[1] ? 'bearish' : 'neutral'),
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
    const out = nans(n)
    const fast = new RunningSma(Math.min(p.fastPeriod, p.slowPeriod))
    const slow = new RunningSma(Math.max(p.fastPeriod, p.slowPeriod))
    for (let i = 0; i < n; i++) {
      const med = (high[i] + low[i]) / 2
      const fv = fast.push(med)
      const sv = slow.push(med)
      if (!Number.isNaN(sv)) out[i] = fv - sv
    }
    return [out]
  },
  stream(p) {
    const fast = new RunningSma(Math.min(p.fastPeriod, p.slowPeriod))
    const slow = new RunningSma(Math.max(p.fastPeriod, p.slowPeriod))
    const out = nans(1)
    return {
      out,
      update(x) {
        const med = (x[0] + x[1]) / 2
        const fv = fast.push(med)
        const sv = slow.push(med)
        if (!Number.isNaN(sv)) out[0] = fv - sv
      },
    }
  },
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
