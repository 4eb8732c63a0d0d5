// Research indicators over derivatives data: funding, open interest and liquidations
//
// Source columns (rows in time order, timestamps in microseconds since the epoch):
// - funding: timestamp, funding_rate (per funding interval, e.g. 0.0001 = 0.01 %), mark_price.
// - open_interest: timestamp, open_interest (contracts or base units), close (the price at that time).
// - liquidations: timestamp, side (+1 a buy order, i.e. a short was liquidated; -1 a sell order, a long was
//   liquidated), price, amount (base units).
import { param, type IndicatorDef, type Reading } from '../types.js'
import { nans, output, Ring } from '../util.js'
import { batchOf } from './microstructure.js'

const timePeriod = (def: number, min: number, max: number) =>
  param('timePeriod', def, min, max, 'number of rows in the window', { integer: true })

/**
 * Mean and population variance of the last `size` values. Sums are kept of deviations from a reference value taken
 * from the window, which avoids the cancellation of sum(x^2)/n - mean^2 on small, nearly equal values such as
 * funding rates; they are recomputed from the window each time it wraps so rounding cannot drift.
 */
export class RollingMoments {
  private readonly buf: Float64Array
  private head = 0
  private ref = NaN
  private sd = 0
  private sdd = 0
  count = 0
  constructor(readonly size: number) {
    this.buf = new Float64Array(size)
  }
  push(v: number): void {
    if (this.count === 0) this.ref = v
    if (this.count === this.size) {
      const d = this.buf[this.head] - this.ref
      this.sd -= d
      this.sdd -= d * d
    } else this.count++
    this.buf[this.head] = v
    const d = v - this.ref
    this.sd += d
    this.sdd += d * d
    if (++this.head === this.size) {
      this.head = 0
      this.ref = this.buf[0]
      let sd = 0
      let sdd = 0
      for (let k = 0; k < this.size; k++) {
        const e = this.buf[k] - this.ref
        sd += e
        sdd += e * e
      }
      this.sd = sd
      this.sdd = sdd
    }
  }
  get full(): boolean {
    return this.count === this.size
  }
  /** Z-score of `v` against the window; 0 when the window's variance is rounding noise or zero */
  z(v: number): number {
    const n = this.count
    const md = this.sd / n
    const msq = this.sdd / n
    const variance = msq - md * md
    // Relative to the mean squared deviation from the reference, anything this small is cancellation error
    if (!(variance > 1e-10 * msq)) return 0
    return (v - this.ref - md) / Math.sqrt(variance)
  }
}

/** Rolling z-score of the funding rate. */
export const fundingZscore: IndicatorDef = {
  id: 'funding_zscore',
  name: 'Funding Rate Z-Score',
  category: 'research',
  source: 'funding',
  inputs: ['funding_rate'],
  params: [timePeriod(90, 2, 100000)],
  outputs: ['zscore'],
  notes:
    '(rate - mean) / population standard deviation over the last `timePeriod` funding rows, the current row ' +
    'included; 0 when the window is flat. Read contrarian: very positive funding means crowded longs.',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    const x = input.funding_rate
    const n = x.length
    const per = p.timePeriod
    const out = output(n, per - 1)
    const result = [out]
    const win = new RollingMoments(per)
    // The window is full exactly from row timePeriod-1 on, so every later row is written
    for (let i = 0; i < n; i++) {
      const v = x[i]
      win.push(v)
      if (i >= per - 1) out[i] = win.z(v)
    }
    return result
  },
  stream(p) {
    const win = new RollingMoments(p.timePeriod)
    const out = nans(1)
    return {
      out,
      update(x) {
        win.push(x[0])
        if (win.full) out[0] = win.z(x[0])
      },
    }
  },
  reading: (out): Reading => (out[0] >= 2 ? 'bearish' : out[0] <= -2 ? 'bullish' : 'neutral'),
}

const sgn = (v: number) => (v > 0 ? 1 : v < 0 ? -1 : 0)

/** Share of recent rows where price and open interest moved in opposite directions. */
export const oiDivergence: IndicatorDef = {
  id: 'oi_divergence',
  name: 'Open Interest Divergence',
  category: 'research',
  source: 'open_interest',
  inputs: ['close', 'open_interest'],
  params: [timePeriod(24, 1, 100000)],
  outputs: ['divergence'],
  notes:
    'Mean over the last `timePeriod` row-to-row changes of -sign(d close) x sign(d open interest), in [-1, 1]: ' +
    '+1 when every move of price went against open interest (short covering or long liquidation: moves not ' +
    'backed by new positions), -1 when they always agreed, 0 for no change on either.',
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    return batchOf(oiDivergence, input, p)
  },
  stream(p) {
    const n = p.timePeriod
    const win = new Ring(n)
    const out = nans(1)
    let total = 0
    let close = NaN
    let oi = NaN
    let first = true
    return {
      out,
      update(x) {
        if (!first) {
          const d = -sgn(x[0] - close) * sgn(x[1] - oi)
          // Integers in [-n, n]: the running total is exact
          const old = win.push(d)
          total += d
          if (!Number.isNaN(old)) total -= old
          if (win.full) out[0] = total / n
        }
        first = false
        close = x[0]
        oi = x[1]
      },
    }
  },
}

/** Regime codes of `conditional_oi`, by the sign of the price change and of the open-interest change */
export const OI_REGIMES = {
  longBuildUp: 2,
  shortCovering: 1,
  none: 0,
  longLiquidation: -1,
  shortBuildUp: -2,
} as const

/** Open-interest change split by price direction into four regimes. */
export const conditionalOi: IndicatorDef = {
  id: 'conditional_oi',
  name: 'Conditional Open Interest',
  category: 'research',
  source: 'open_interest',
  inputs: ['close', 'open_interest'],
  params: [timePeriod(1, 1, 100000)],
  outputs: ['regime', 'oiChange'],
  notes:
    'Over `timePeriod` rows: oiChange = OI - OI n rows ago; regime = 2 long build-up (price up, OI up), 1 short ' +
    'covering (price up, OI down), -1 long liquidation (price down, OI down), -2 short build-up (price down, OI ' +
    'up), 0 if either is unchanged. The sign is the price direction, 2 means positions were opened.',
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    return batchOf(conditionalOi, input, p)
  },
  stream(p) {
    const closes = new Ring(p.timePeriod)
    const ois = new Ring(p.timePeriod)
    const out = nans(2)
    return {
      out,
      update(x) {
        const c0 = closes.push(x[0])
        const o0 = ois.push(x[1])
        if (Number.isNaN(c0)) return
        const dp = sgn(x[0] - c0)
        const doi = x[1] - o0
        out[0] = dp === 0 || doi === 0 ? 0 : dp * (doi > 0 ? 2 : 1)
        out[1] = doi
      },
    }
  },
  reading: (out) => (out[0] > 0 ? 'bullish' : out[0] < 0 ? 'bearish' : 'neutral'),
}

/** Exponentially decayed liquidation notional per side. */
export const liquidationIntensity: IndicatorDef = {
  id: 'liquidation_intensity',
  name: 'Liquidation Intensity',
  category: 'research',
  source: 'liquidations',
  inputs: ['timestamp', 'side', 'price', 'amount'],
  params: [param('halfLife', 300, 1, 604800, 'half-life of the decay in seconds', { integer: false, step: 1 })],
  outputs: ['longLiq', 'shortLiq', 'net'],
  notes:
    'Notional (price x amount) of liquidations, each side decayed by 0.5^(dt / halfLife) between rows and read ' +
    'just after each one: longLiq from sell orders (longs liquidated), shortLiq from buy orders, net = shortLiq - ' +
    'longLiq (forced buying minus forced selling). A level, not a rate: divide by halfLife / ln 2 for quote per s.',
  lookback: () => 0,
  batch(input, p) {
    return batchOf(liquidationIntensity, input, p)
  },
  stream(p) {
    const k = Math.LN2 / p.halfLife
    const out = nans(3)
    let long = 0
    let short = 0
    let prev = NaN
    let first = true
    return {
      out,
      update(x) {
        if (!first && x[0] > prev) {
          const decay = Math.exp((-k * (x[0] - prev)) / 1e6)
          long *= decay
          short *= decay
        }
        if (first || x[0] > prev) prev = x[0]
        first = false
        const notional = x[2] * x[3]
        if (x[1] > 0) short += notional
        else long += notional
        out[0] = long
        out[1] = short
        out[2] = short - long
      },
    }
  },
  reading: (out) => (out[2] > 0 ? 'bullish' : out[2] < 0 ? 'bearish' : 'neutral'),
}

export const RESEARCH: readonly IndicatorDef[] = [fundingZscore, oiDivergence, conditionalOi, liquidationIntensity]
