// Moving averages and trend indicators
import { param, type IndicatorDef, type Params, type Reading } from '../types.js'
import { nans } from '../util.js'

export const timePeriod = (def: number, min = 2, max = 1000) =>
  param('timePeriod', def, min, max, 'number of rows in the window', { integer: true })

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
    const x = input.close
    const n = x.length
    const out = nans(n)
    const per = p.timePeriod
    let total = 0
    for (let i = 0; i < n; i++) {
      total += x[i]
      if (i >= per - 1) {
        out[i] = total / per
        total -= x[i - per + 1]
      }
    }
    return [out]
  },
  stream(p) {
    const per = p.timePeriod
    const buf = new Float64Array(per)
    const out = nans(1)
    let total = 0
    let i = 0
    return {
      out,
      update(x) {
        const v = x[0]
        buf[i % per] = v
        total += v
        if (i >= per - 1) {
          out[0] = total / per
          total -= buf[(i - per + 1) % per]
        }
        i++
      },
    }
  },
  reading: (out, x) => (out[0] < x[0] ? 'bullish' : out[0] > x[0] ? 'bearish' : 'neutral'),
}

// Building blocks. Each one is a small state machine fed one row at a time; batch and stream both drive the same
// machine, which is what makes their values bit-identical. None allocates after construction

/** TA-Lib's TA_IS_ZERO (TA_EPSILON is 1e-14 in the TA-Lib this follows) */
const isZero = (v: number) => v > -0.00000000000001 && v < 0.00000000000001

/** Price above the line is bullish, below bearish */
const priceVsLine = (out: ArrayLike<number>, x: ArrayLike<number>, o = 0, c = 0): Reading =>
  out[o] < x[c] ? 'bullish' : out[o] > x[c] ? 'bearish' : 'neutral'

/** TA_INT_EMA from the first row: seeded with the simple mean of the first `period` values, k = 2/(period+1) */
class Ema {
  private readonly k: number
  private n = 0
  private sum = 0
  value = NaN
  constructor(private readonly per: number) {
    this.k = 2 / (per + 1)
  }
  /** Feeds one value; returns the EMA, NaN for the first period-1 values */
  push(v: number): number {
    if (this.n < this.per) {
      this.sum += v
      if (++this.n === this.per) this.value = this.sum / this.per
      return this.value
    }
    this.value = (v - this.value) * this.k + this.value
    return this.value
  }
}

/** TA_WMA's running sums: weights 1..period, newest heaviest; period 1 passes values through as TA-Lib does */
class Wma {
  private readonly buf: Float64Array
  private readonly divider: number
  private n = 0
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
    const i = this.n++
    this.buf[i % per] = v
    if (i < per - 1) {
      this.sub += v
      this.sum += v * (i + 1)
      return NaN
    }
    this.sub += v
    this.sub -= this.trailing
    this.sum += v * per
    this.trailing = this.buf[(i - per + 1) % per]
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
    const i = this.n++
    if (i === 0) {
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
    const i = this.n++
    let dx = NaN
    if (!isZero(dm.tr)) {
      const minusDI = 100 * (dm.minusDM / dm.tr)
      const plusDI = 100 * (dm.plusDM / dm.tr)
      const sum = minusDI + plusDI
      if (!isZero(sum)) dx = 100 * (Math.abs(minusDI - plusDI) / sum)
    }
    // Undefined DX rows are skipped, as TA-Lib does, both in the seed sum and in the smoothing
    if (i < per) {
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
    const i = this.n++
    const prevClose = this.prevClose
    this.prevClose = close
    if (i === 0) return NaN
    let tr = high - low
    const v2 = Math.abs(prevClose - high)
    if (v2 > tr) tr = v2
    const v3 = Math.abs(prevClose - low)
    if (v3 > tr) tr = v3
    const per = this.per
    if (i <= per) {
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

/**
 * Extreme of the last `size` values with the row index where it occurred; ties go to the most recent row, as
 * TA_AROON's scan does. Monotonic deque, O(1) amortised; util's RollingExtreme keeps no index, which Aroon needs
 */
class WindowExtreme {
  private readonly vals: Float64Array
  private readonly idx: Float64Array
  private head = 0
  private len = 0
  private n = 0
  value = NaN
  index = -1
  constructor(
    private readonly size: number,
    private readonly max: boolean,
  ) {
    this.vals = new Float64Array(size)
    this.idx = new Float64Array(size)
  }
  push(v: number): number {
    const cap = this.size
    const row = this.n++
    // Drop the front when it leaves the window, then every queued value the new one dominates
    if (this.len > 0 && this.idx[this.head] <= row - cap) {
      this.head = (this.head + 1) % cap
      this.len--
    }
    while (this.len > 0) {
      const last = (this.head + this.len - 1) % cap
      if (this.max ? v >= this.vals[last] : v <= this.vals[last]) this.len--
      else break
    }
    const at = (this.head + this.len) % cap
    this.vals[at] = v
    this.idx[at] = row
    this.len++
    this.value = this.vals[this.head]
    this.index = this.idx[this.head]
    return this.value
  }
}

/** Ring of the last `size` values; `push` returns the value from `size` rows earlier (NaN until there is one) */
class Delay {
  private readonly buf: Float64Array
  private n = 0
  constructor(private readonly size: number) {
    this.buf = nans(size)
  }
  push(v: number): number {
    const at = this.n++ % this.size
    const old = this.buf[at]
    this.buf[at] = v
    return old
  }
}

/** One-output indicator built from a single-input state machine: batch and stream both feed the same machine */
function single(
  make: (p: Params) => { push(v: number): number },
): Pick<IndicatorDef, 'batch' | 'stream'> {
  return {
    batch(input, p) {
      const x = input.close
      const n = x.length
      const out = nans(n)
      const m = make(p)
      for (let i = 0; i < n; i++) out[i] = m.push(x[i])
      return [out]
    },
    stream(p) {
      const m = make(p)
      const out = nans(1)
      return {
        out,
        update(x) {
          out[0] = m.push(x[0])
        },
      }
    },
  }
}

/** Multi-output indicator built from a state machine that writes row outputs into `out` */
function machine(
  make: (p: Params, out: Float64Array) => { push(x: ArrayLike<number>): void },
  inputs: readonly string[],
  outputs: number,
): Pick<IndicatorDef, 'batch' | 'stream'> {
  return {
    batch(input, p) {
      const cols = inputs.map((k) => input[k])
      const n = cols[0].length
      const res = Array.from({ length: outputs }, () => nans(n))
      const row = new Float64Array(cols.length)
      const out = nans(outputs)
      const m = make(p, out)
      for (let i = 0; i < n; i++) {
        for (let k = 0; k < cols.length; k++) row[k] = cols[k][i]
        m.push(row)
        for (let o = 0; o < outputs; o++) res[o][i] = out[o]
      }
      return res
    },
    stream(p) {
      const out = nans(outputs)
      const m = make(p, out)
      return {
        out,
        update(x) {
          m.push(x)
        },
      }
    },
  }
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
  ...single((p) => new Ema(p.timePeriod)),
  reading: priceVsLine,
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
  ...single((p) => new Wma(p.timePeriod)),
  reading: priceVsLine,
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
  ...single((p) => {
    const e1 = new Ema(p.timePeriod)
    const e2 = new Ema(p.timePeriod)
    return {
      push(v: number) {
        const a = e1.push(v)
        if (a !== a) return NaN
        const b = e2.push(a)
        return 2 * a - b
      },
    }
  }),
  reading: priceVsLine,
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
  ...single((p) => {
    const e1 = new Ema(p.timePeriod)
    const e2 = new Ema(p.timePeriod)
    const e3 = new Ema(p.timePeriod)
    return {
      push(v: number) {
        const a = e1.push(v)
        if (a !== a) return NaN
        const b = e2.push(a)
        if (b !== b) return NaN
        const c = e3.push(b)
        // Same grouping as TA-Lib: e3 += 3*e1 - 3*e2
        return c + (3 * a - 3 * b)
      },
    }
  }),
  reading: priceVsLine,
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
  ...single((p) => {
    const per = p.timePeriod
    const half = per >> 1
    const odd = per % 2 === 1
    const factor = 1.0 / (odd ? (half + 1) * (half + 1) : half * (half + 1))
    // Values of the trailing edge, middle and newest row come from this window
    const buf = new Float64Array(per)
    let numerator = 0
    let numSub = 0
    let numAdd = 0
    let trail = 0
    let n = 0
    return {
      push(v: number) {
        const t = n++
        buf[t % per] = v
        if (t < per - 1) return NaN
        if (t === per - 1) {
          // TA-Lib's seed: the falling half summed from the middle back to the oldest row, then the rising half
          const mid = odd ? half : half - 1
          for (let i = mid; i >= 0; i--) {
            numSub += buf[i]
            numerator += numSub
          }
          for (let i = mid + 1; i <= t; i++) {
            numAdd += buf[i]
            numerator += numAdd
          }
          trail = buf[0]
          return numerator * factor
        }
        numerator -= numSub
        numSub -= trail
        const mv = buf[(t - half) % per]
        numSub += mv
        if (odd) {
          numerator += numAdd
          numAdd -= mv
        } else {
          numAdd -= mv
          numerator += numAdd
        }
        numAdd += v
        numerator += v
        trail = buf[(t - per + 1) % per]
        return numerator * factor
      },
    }
  }),
  reading: priceVsLine,
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
  ...single((p) => {
    const per = p.timePeriod
    const constMax = 2.0 / (30.0 + 1.0)
    const constDiff = 2.0 / (2.0 + 1.0) - constMax
    // Closes of the last period+1 rows
    const buf = new Float64Array(per + 1)
    let sumROC1 = 0
    let prevKama = 0
    let trailing = 0
    let n = 0
    const step = (v: number, first: number) => {
      const periodROC = v - first
      let er: number
      if (sumROC1 <= periodROC || isZero(sumROC1)) er = 1.0
      else er = Math.abs(periodROC / sumROC1)
      er = er * constDiff + constMax
      er *= er
      prevKama = (v - prevKama) * er + prevKama
    }
    return {
      push(v: number) {
        const t = n++
        const size = per + 1
        buf[t % size] = v
        if (t === 0) return NaN
        const prev = buf[(t - 1) % size]
        if (t < per) {
          sumROC1 += Math.abs(prev - v)
          return NaN
        }
        if (t === per) {
          sumROC1 += Math.abs(prev - v)
          prevKama = prev
          trailing = buf[0]
          step(v, trailing)
          return prevKama
        }
        const first = buf[(t - per) % size]
        sumROC1 -= Math.abs(trailing - first)
        sumROC1 += Math.abs(v - prev)
        trailing = first
        step(v, first)
        return prevKama
      },
    }
  }),
  reading: priceVsLine,
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
  ...single((p) => {
    const per = p.timePeriod
    const v = p.vFactor
    const k = 2.0 / (per + 1.0)
    const omk = 1.0 - k
    const tv = v * v
    const c1 = -(tv * v)
    const c2 = 3.0 * (tv - c1)
    const c3 = -6.0 * tv - 3.0 * (v - c1)
    const c4 = 1.0 + 3.0 * v - c1 + 3.0 * tv
    // e[1..6]; stage s means e[1..s-1] are running and e[s] is being seeded
    const e = new Float64Array(7)
    let stage = 1
    let sum = 0
    let count = 0
    return {
      push(x: number) {
        if (stage <= 6) {
          let add = x
          if (stage > 1) {
            e[1] = k * x + omk * e[1]
            for (let j = 2; j < stage; j++) e[j] = k * e[j - 1] + omk * e[j]
            add = e[stage - 1]
          }
          sum = count === 0 ? add : sum + add
          if (++count < per) return NaN
          e[stage] = sum / per
          count = 0
          if (stage++ < 6) {
            // The next seed starts with the value just completed
            sum = e[stage - 1]
            count = 1
            return NaN
          }
        } else {
          e[1] = k * x + omk * e[1]
          for (let j = 2; j <= 6; j++) e[j] = k * e[j - 1] + omk * e[j]
        }
        return c1 * e[6] + c2 * e[5] + c3 * e[4] + c4 * e[3]
      },
    }
  }),
  reading: priceVsLine,
}

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
  lookback: (p) => p.timePeriod - 1 + Math.floor(Math.sqrt(p.timePeriod)) - 1,
  ...single((p) => {
    const n = p.timePeriod
    const half = new Wma(Math.floor(n / 2))
    const full = new Wma(n)
    const outer = new Wma(Math.floor(Math.sqrt(n)))
    return {
      push(v: number) {
        const a = half.push(v)
        const b = full.push(v)
        if (b !== b) return NaN
        return outer.push(2 * a - b)
      },
    }
  }),
  reading: priceVsLine,
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
  ...machine(
    (p, out) => {
      const atr = new Atr(p.timePeriod)
      const mult = p.multiplier
      let upper = NaN
      let lower = NaN
      let dir = 0
      let prevClose = NaN
      return {
        push(x) {
          const high = x[0]
          const low = x[1]
          const close = x[2]
          const a = atr.push(high, low, close)
          if (a === a) {
            const hl2 = (high + low) / 2
            const basicUp = hl2 + mult * a
            const basicLo = hl2 - mult * a
            if (dir === 0) {
              upper = basicUp
              lower = basicLo
              dir = -1
            } else {
              if (basicUp < upper || prevClose > upper) upper = basicUp
              if (basicLo > lower || prevClose < lower) lower = basicLo
              if (dir === -1) dir = close > upper ? 1 : -1
              else dir = close < lower ? -1 : 1
            }
            out[0] = dir === 1 ? lower : upper
            out[1] = dir
          }
          prevClose = close
        },
      }
    },
    ['high', 'low', 'close'],
    2,
  ),
  reading: (out) => (out[1] === 1 ? 'bullish' : out[1] === -1 ? 'bearish' : 'neutral'),
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
  ...machine(
    (p, out) => {
      let acc = p.acceleration
      const max = p.maximum
      if (acc > max) acc = max
      let af = acc
      let isLong = true
      let ep = 0
      let s = 0
      let newHigh = 0
      let newLow = 0
      let n = 0
      return {
        push(x) {
          const high = x[0]
          const low = x[1]
          const t = n++
          if (t === 0) {
            newHigh = high
            newLow = low
            return
          }
          if (t === 1) {
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
              out[0] = s
              af = acc
              ep = newLow
              s = s + af * (ep - s)
              if (s < prevHigh) s = prevHigh
              if (s < newHigh) s = newHigh
            } else {
              out[0] = s
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
              out[0] = s
              af = acc
              ep = newHigh
              s = s + af * (ep - s)
              if (s > prevLow) s = prevLow
              if (s > newLow) s = newLow
            } else {
              out[0] = s
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
        },
      }
    },
    ['high', 'low'],
    1,
  ),
  // Inputs are high and low; the SAR sits below the bar in an uptrend and above it in a downtrend
  reading: (out, x) => (out[0] < x[1] ? 'bullish' : out[0] > x[0] ? 'bearish' : 'neutral'),
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
  lookback: (p) => Math.max(p.tenkanPeriod, p.kijunPeriod, p.senkouBPeriod) - 1 + p.displacement,
  ...machine(
    (p, out) => {
      const tHi = new WindowExtreme(p.tenkanPeriod, true)
      const tLo = new WindowExtreme(p.tenkanPeriod, false)
      const kHi = new WindowExtreme(p.kijunPeriod, true)
      const kLo = new WindowExtreme(p.kijunPeriod, false)
      const bHi = new WindowExtreme(p.senkouBPeriod, true)
      const bLo = new WindowExtreme(p.senkouBPeriod, false)
      const spanA = new Delay(p.displacement)
      const spanB = new Delay(p.displacement)
      const closes = new Delay(p.displacement)
      const lookback = Math.max(p.tenkanPeriod, p.kijunPeriod, p.senkouBPeriod) - 1 + p.displacement
      let n = 0
      return {
        push(x) {
          const high = x[0]
          const low = x[1]
          const close = x[2]
          const tenkan = (tHi.push(high) + tLo.push(low)) / 2
          const kijun = (kHi.push(high) + kLo.push(low)) / 2
          const b = (bHi.push(high) + bLo.push(low)) / 2
          const a = spanA.push((tenkan + kijun) / 2)
          const bb = spanB.push(b)
          const back = closes.push(close)
          if (n++ < lookback) return
          out[0] = tenkan
          out[1] = kijun
          out[2] = a
          out[3] = bb
          out[4] = close - back
        },
      }
    },
    ['high', 'low', 'close'],
    5,
  ),
  reading: (out, x) => {
    const top = Math.max(out[2], out[3])
    const bottom = Math.min(out[2], out[3])
    if (x[2] > top && out[0] >= out[1]) return 'bullish'
    if (x[2] < bottom && out[0] <= out[1]) return 'bearish'
    return 'neutral'
  },
}

const diPeriod = () => param('timePeriod', 14, 2, 500, 'Wilder smoothing period', { integer: true })

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
  ...machine(
    (p, out) => {
      const a = new Adx(p.timePeriod)
      return {
        push(x) {
          out[0] = a.push(x[0], x[1], x[2])
        },
      }
    },
    ['high', 'low', 'close'],
    1,
  ),
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
  ...machine(
    (p, out) => {
      const a = new Adx(p.timePeriod)
      const back = new Delay(p.timePeriod - 1)
      return {
        push(x) {
          const v = a.push(x[0], x[1], x[2])
          if (v !== v) return
          const old = back.push(v)
          out[0] = old === old ? (v + old) / 2.0 : NaN
        },
      }
    },
    ['high', 'low', 'close'],
    1,
  ),
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
    ...machine(
      (p, out) => {
        const dm = new Directional(p.timePeriod)
        return {
          push(x) {
            if (!dm.push(x[0], x[1], x[2])) return
            out[0] = isZero(dm.tr) ? 0 : 100 * ((plus ? dm.plusDM : dm.minusDM) / dm.tr)
          },
        }
      },
      ['high', 'low', 'close'],
      1,
    ),
  }
}

/** Plus directional indicator (TA_PLUS_DI). */
export const plusDi: IndicatorDef = diDef('plus_di')

/** Minus directional indicator (TA_MINUS_DI). */
export const minusDi: IndicatorDef = diDef('minus_di')

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
  ...machine(
    (p, out) => {
      const dm = new Directional(p.timePeriod)
      let first = true
      return {
        push(x) {
          if (!dm.push(x[0], x[1], x[2])) return
          let v = first ? 0.0 : out[0]
          if (!isZero(dm.tr)) {
            const minusDI = 100 * (dm.minusDM / dm.tr)
            const plusDI = 100 * (dm.plusDM / dm.tr)
            const sum = minusDI + plusDI
            if (!isZero(sum)) v = 100 * (Math.abs(minusDI - plusDI) / sum)
          }
          first = false
          out[0] = v
        },
      }
    },
    ['high', 'low', 'close'],
    1,
  ),
}

/** Latest-row index of the highest high and lowest low over period+1 rows, as TA_AROON scans */
function aroonMachine(p: Params) {
  const per = p.timePeriod
  const hi = new WindowExtreme(per + 1, true)
  const lo = new WindowExtreme(per + 1, false)
  const factor = 100.0 / per
  return { per, hi, lo, factor }
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
  ...machine(
    (p, out) => {
      const { per, hi, lo, factor } = aroonMachine(p)
      let n = 0
      return {
        push(x) {
          const t = n++
          hi.push(x[0])
          lo.push(x[1])
          if (t < per) return
          out[0] = factor * (per - (t - lo.index))
          out[1] = factor * (per - (t - hi.index))
        },
      }
    },
    ['high', 'low'],
    2,
  ),
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
  ...machine(
    (p, out) => {
      const { per, hi, lo, factor } = aroonMachine(p)
      let n = 0
      return {
        push(x) {
          const t = n++
          hi.push(x[0])
          lo.push(x[1])
          if (t < per) return
          out[0] = factor * (hi.index - lo.index)
        },
      }
    },
    ['high', 'low'],
    1,
  ),
  reading: (out) => (out[0] > 0 ? 'bullish' : out[0] < 0 ? 'bearish' : 'neutral'),
}

/**
 * Least-squares line over the last `period` closes in TA-Lib's coordinates (x = rows ago). The sums are recomputed
 * with TA-Lib's loop on every row, O(period) rather than O(1): running sums drift by a few ulps, which turns exact
 * zero slopes on flat windows into ±1e-11 and breaks relative agreement with TA-Lib near zero
 */
class LinReg {
  private readonly buf: Float64Array
  private readonly sumX: number
  private readonly divisor: number
  private n = 0
  private sumY = 0
  slope = NaN
  constructor(private readonly per: number) {
    this.buf = new Float64Array(per)
    this.sumX = per * (per - 1) * 0.5
    // Integer division in TA-Lib; the product is always a multiple of 6
    const sumXSqr = (per * (per - 1) * (2 * per - 1)) / 6
    this.divisor = this.sumX * this.sumX - per * sumXSqr
  }
  /** Feeds one close; returns false during the warm-up */
  push(v: number): boolean {
    const per = this.per
    const t = this.n++
    this.buf[t % per] = v
    if (t < per - 1) return false
    let sumY = 0
    let sumXY = 0
    for (let i = per; i-- !== 0; ) {
      const y = this.buf[(t - i) % per]
      sumY += y
      sumXY += i * y
    }
    this.sumY = sumY
    this.slope = (per * sumXY - this.sumX * sumY) / this.divisor
    return true
  }
  /** Value of the fitted line at the newest row */
  value(): number {
    const b = (this.sumY - this.slope * this.sumX) / this.per
    return b + this.slope * (this.per - 1)
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
  ...single((p) => {
    const r = new LinReg(p.timePeriod)
    return { push: (v: number) => (r.push(v) ? r.value() : NaN) }
  }),
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
  ...single((p) => {
    const r = new LinReg(p.timePeriod)
    return { push: (v: number) => (r.push(v) ? r.slope : NaN) }
  }),
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
