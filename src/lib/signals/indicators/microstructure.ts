// Order-flow and market-microstructure indicators over trades, book snapshots and bars
//
// Source columns (one row per event, rows in time order, timestamps in microseconds since the epoch):
// - trades: id, timestamp, local_timestamp, price, amount (base units), side (+1 buyer was the aggressor, -1 seller).
// - book: one row per snapshot of the top 20 levels: timestamp and, for k = 0..19 (0 = best), bid_px_k, bid_sz_k,
//   ask_px_k, ask_sz_k (sizes in base units). Bids descend and asks ascend from k = 0. Indicators that read N levels
//   take a `levels` parameter (at most 20) but declare every column of the side they read, because inputs are fixed
//   per definition; a feed with fewer than 20 levels must fill the rest with size 0 (a NaN would mark the whole row
//   missing).
// - bars: taker_buy_volume is the base volume bought by aggressive buyers, so volume - taker_buy_volume was sold.
//
// Definitions with state beyond a running total share one update path between batch and stream (`batchOf`), so
// the two modes agree bit for bit by construction. Rolling sums are recomputed from their window every time it
// wraps, which keeps add-and-subtract rounding from drifting over long series at O(1) amortised cost.
import { param, type Columns, type IndicatorDef, type Params, type Reading } from '../types.js'
import { nans } from '../util.js'

export const BOOK_LEVELS = 20
const levelCols = (side: 'bid' | 'ask', what: 'px' | 'sz') => Array.from({ length: BOOK_LEVELS }, (_, k) => `${side}_${what}_${k}`)
/** Every book column except timestamp, in the documented order: bid_px_0, bid_sz_0, ask_px_0, ask_sz_0, bid_px_1, ... */
export const BOOK_COLUMNS: readonly string[] = Array.from({ length: BOOK_LEVELS }, (_, k) => [
  `bid_px_${k}`,
  `bid_sz_${k}`,
  `ask_px_${k}`,
  `ask_sz_${k}`,
]).flat()

const timePeriod = (def: number, min: number, max: number, what: string) =>
  param('timePeriod', def, min, max, `number of ${what} in the window`, { integer: true })
const levels = (def: number, min: number) => param('levels', def, min, BOOK_LEVELS, 'book levels per side, from the best', { integer: true })

const sign = (v: number): Reading => (v > 0 ? 'bullish' : v < 0 ? 'bearish' : 'neutral')

/** Batch form of a streaming definition: the same update code over every row, so both modes agree bit for bit. */
export function batchOf(def: IndicatorDef, input: Columns, p: Params): Float64Array[] {
  const cols = def.inputs.map((k) => input[k])
  const n = cols.length ? cols[0].length : 0
  const outs = def.outputs.map(() => nans(n))
  const s = def.stream(p)
  const x = new Float64Array(cols.length)
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < cols.length; k++) x[k] = cols[k][i]
    s.update(x)
    for (let o = 0; o < outs.length; o++) outs[o][i] = s.out[o]
  }
  return outs
}

/**
 * Sum of the last `size` values. The total is recomputed from the window each time the ring wraps, so rounding from
 * adding and subtracting cannot accumulate, and it is exactly 0 whenever every value in the window is 0.
 */
export class WindowSum {
  private readonly buf: Float64Array
  private head = 0
  private nonzero = 0
  count = 0
  total = 0
  constructor(readonly size: number) {
    this.buf = new Float64Array(size)
  }
  push(v: number): void {
    if (this.count === this.size) {
      const old = this.buf[this.head]
      this.total -= old
      if (old !== 0) this.nonzero--
    } else this.count++
    this.buf[this.head] = v
    this.total += v
    if (v !== 0) this.nonzero++
    if (++this.head === this.size) {
      this.head = 0
      let t = 0
      for (let k = 0; k < this.size; k++) t += this.buf[k]
      this.total = t
    }
    if (this.nonzero === 0) this.total = 0
  }
  get full(): boolean {
    return this.count === this.size
  }
}

const clamp1 = (v: number) => (v > 1 ? 1 : v < -1 ? -1 : v)

/** Cumulative volume delta from trades. */
export const cvd: IndicatorDef = {
  id: 'cvd',
  name: 'Cumulative Volume Delta',
  category: 'microstructure',
  source: 'trades',
  inputs: ['amount', 'side'],
  params: [],
  outputs: ['cvd'],
  notes:
    'Running sum of side x amount over trades (side +1 when the buyer was the aggressor), in base units from the ' +
    'first row; the level depends on where the series starts, its changes are the signed flow.',
  lookback: () => 0,
  batch(input, p) {
    return batchOf(cvd, input, p)
  },
  stream() {
    const out = nans(1)
    let total = 0
    return {
      out,
      update(x) {
        total += x[1] * x[0]
        out[0] = total
      },
    }
  },
  reading: (out) => sign(out[0]),
}

/** Cumulative volume delta estimated from bars with a taker-buy volume column. */
export const cvdBars: IndicatorDef = {
  id: 'cvd_bars',
  name: 'Cumulative Volume Delta (bars)',
  category: 'microstructure',
  source: 'bars',
  inputs: ['volume', 'taker_buy_volume'],
  params: [],
  outputs: ['cvd'],
  notes:
    'Running sum of taker buy volume minus taker sell volume per bar, 2 x taker_buy_volume - volume (Binance ' +
    'klines report the taker buy side), in base units from the first row.',
  lookback: () => 0,
  batch(input, p) {
    return batchOf(cvdBars, input, p)
  },
  stream() {
    const out = nans(1)
    let total = 0
    return {
      out,
      update(x) {
        total += 2 * x[1] - x[0]
        out[0] = total
      },
    }
  },
  reading: (out) => sign(out[0]),
}

/** Taker buy/sell imbalance over the last N bars. */
export const takerImbalance: IndicatorDef = {
  id: 'taker_imbalance',
  name: 'Taker Buy/Sell Imbalance',
  category: 'microstructure',
  source: 'bars',
  inputs: ['volume', 'taker_buy_volume'],
  params: [timePeriod(20, 1, 10000, 'bars')],
  outputs: ['imbalance'],
  notes:
    '(buy - sell) / (buy + sell) over the last `timePeriod` bars with buy = taker_buy_volume and sell = volume - buy, ' +
    'i.e. (2 x sum taker buy - sum volume) / sum volume, in [-1, 1]; 0 when the window traded nothing.',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    return batchOf(takerImbalance, input, p)
  },
  stream(p) {
    const vol = new WindowSum(p.timePeriod)
    const buy = new WindowSum(p.timePeriod)
    const out = nans(1)
    return {
      out,
      update(x) {
        vol.push(x[0])
        buy.push(x[1])
        if (!vol.full) return
        out[0] = vol.total > 0 ? clamp1((2 * buy.total - vol.total) / vol.total) : 0
      },
    }
  },
  reading: (out) => sign(out[0]),
}

/** Trade-flow imbalance over the last N trades. */
export const tradeImbalance: IndicatorDef = {
  id: 'trade_imbalance',
  name: 'Trade Flow Imbalance',
  category: 'microstructure',
  source: 'trades',
  inputs: ['amount', 'side'],
  params: [timePeriod(100, 1, 100000, 'trades')],
  outputs: ['imbalance'],
  notes:
    'Aggressor-signed volume over total volume of the last `timePeriod` trades, sum(side x amount) / sum(amount), ' +
    'in [-1, 1]; uses the recorded aggressor side, no tick rule.',
  lookback: (p) => p.timePeriod - 1,
  batch(input, p) {
    return batchOf(tradeImbalance, input, p)
  },
  stream(p) {
    const signed = new WindowSum(p.timePeriod)
    const vol = new WindowSum(p.timePeriod)
    const out = nans(1)
    return {
      out,
      update(x) {
        signed.push(x[1] * x[0])
        vol.push(x[0])
        if (!vol.full) return
        out[0] = vol.total > 0 ? clamp1(signed.total / vol.total) : 0
      },
    }
  },
  reading: (out) => sign(out[0]),
}

/** Order-flow imbalance at the best quotes (Cont, Kukanov & Stoikov 2014). */
export const ofi: IndicatorDef = {
  id: 'ofi',
  name: 'Order Flow Imbalance',
  category: 'microstructure',
  source: 'book',
  inputs: ['bid_px_0', 'bid_sz_0', 'ask_px_0', 'ask_sz_0'],
  params: [timePeriod(10, 1, 100000, 'snapshot changes')],
  outputs: ['ofi'],
  notes:
    'Cont, Kukanov & Stoikov (2014), "The price impact of order book events": per pair of consecutive snapshots ' +
    'e_n = 1{Pb_n >= Pb_n-1} qb_n - 1{Pb_n <= Pb_n-1} qb_n-1 - 1{Pa_n <= Pa_n-1} qa_n + 1{Pa_n >= Pa_n-1} qa_n-1 ' +
    '(P best price, q its size, b bid, a ask); the output sums the last `timePeriod` e_n, in base units. With ' +
    'sampled snapshots each e_n nets every event between the two samples.',
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    return batchOf(ofi, input, p)
  },
  stream(p) {
    const win = new WindowSum(p.timePeriod)
    const out = nans(1)
    let bp = NaN
    let bs = NaN
    let ap = NaN
    let as = NaN
    let first = true
    return {
      out,
      update(x) {
        if (!first) {
          const e =
            (x[0] >= bp ? x[1] : 0) - (x[0] <= bp ? bs : 0) - (x[2] <= ap ? x[3] : 0) + (x[2] >= ap ? as : 0)
          win.push(e)
          if (win.full) out[0] = win.total
        }
        first = false
        bp = x[0]
        bs = x[1]
        ap = x[2]
        as = x[3]
      },
    }
  },
  reading: (out) => sign(out[0]),
}

/** Depth imbalance over the top N levels. */
export const depthImbalance: IndicatorDef = {
  id: 'depth_imbalance',
  name: 'Depth Imbalance',
  category: 'microstructure',
  source: 'book',
  inputs: [...levelCols('bid', 'sz'), ...levelCols('ask', 'sz')],
  params: [levels(5, 1)],
  outputs: ['imbalance'],
  notes:
    '(sum of bid sizes - sum of ask sizes) / (sum of both) over the best `levels` levels per side, in [-1, 1]; ' +
    '0 when both sides are empty. Sizes are in base units, so deep levels far from the mid count fully.',
  lookback: () => 0,
  batch(input, p) {
    return batchOf(depthImbalance, input, p)
  },
  stream(p) {
    const lv = p.levels
    const out = nans(1)
    return {
      out,
      update(x) {
        let bid = 0
        let ask = 0
        for (let k = 0; k < lv; k++) {
          bid += x[k]
          ask += x[BOOK_LEVELS + k]
        }
        const all = bid + ask
        out[0] = all > 0 ? (bid - ask) / all : 0
      },
    }
  },
  reading: (out) => sign(out[0]),
}

/** Size-weighted mid at the best level. */
export const microprice: IndicatorDef = {
  id: 'microprice',
  name: 'Microprice (weighted mid)',
  category: 'microstructure',
  source: 'book',
  inputs: ['bid_px_0', 'bid_sz_0', 'ask_px_0', 'ask_sz_0'],
  params: [],
  outputs: ['microprice'],
  notes:
    '(bid_px x ask_sz + ask_px x bid_sz) / (bid_sz + ask_sz) at level 0: the weighted-mid approximation of ' +
    'Stoikov (2018), "The micro-price", not his fitted Markov micro-price; the mid when both sizes are 0.',
  lookback: () => 0,
  batch(input, p) {
    return batchOf(microprice, input, p)
  },
  stream() {
    const out = nans(1)
    return {
      out,
      update(x) {
        const depth = x[1] + x[3]
        out[0] = depth > 0 ? (x[0] * x[3] + x[2] * x[1]) / depth : (x[0] + x[2]) / 2
      },
    }
  },
  reading: (out, x) => {
    const mid = (x[0] + x[2]) / 2
    return out[0] > mid ? 'bullish' : out[0] < mid ? 'bearish' : 'neutral'
  },
}

/** Bid-ask spread, absolute and in basis points of the mid. */
export const spread: IndicatorDef = {
  id: 'spread',
  name: 'Bid-Ask Spread',
  category: 'microstructure',
  source: 'book',
  inputs: ['bid_px_0', 'ask_px_0'],
  params: [],
  outputs: ['spread', 'spreadBps'],
  notes: 'spread = ask_px_0 - bid_px_0 in quote units; spreadBps = 10000 x spread / mid with mid = (bid + ask) / 2 (NaN if mid <= 0).',
  lookback: () => 0,
  batch(input, p) {
    return batchOf(spread, input, p)
  },
  stream() {
    const out = nans(2)
    return {
      out,
      update(x) {
        const s = x[1] - x[0]
        const mid = (x[0] + x[1]) / 2
        out[0] = s
        out[1] = mid > 0 ? (10000 * s) / mid : NaN
      },
    }
  },
}

/** Median of the first `n` values of `v`, sorting `scratch` in place (insertion sort, no allocation). */
function median(v: Float64Array, off: number, stride: number, n: number, scratch: Float64Array): number {
  for (let i = 0; i < n; i++) {
    const a = v[off + i * stride]
    let j = i - 1
    while (j >= 0 && scratch[j] > a) {
      scratch[j + 1] = scratch[j]
      j--
    }
    scratch[j + 1] = a
  }
  return n % 2 ? scratch[(n - 1) / 2] : (scratch[n / 2 - 1] + scratch[n / 2]) / 2
}

/** Largest resting size near the top of each side relative to the typical level, and how far it sits. */
export const liquidityWalls: IndicatorDef = {
  id: 'liquidity_walls',
  name: 'Liquidity Walls',
  category: 'microstructure',
  source: 'book',
  inputs: BOOK_COLUMNS,
  params: [levels(20, 3)],
  outputs: ['bidWall', 'bidWallBps', 'askWall', 'askWallBps'],
  notes:
    'Per side over the best `levels` levels: wall = largest level size / median level size (1 = no wall; NaN if ' +
    'the median is 0), and its distance from the mid in bps, 10000 x |px - mid| / mid. Ties go to the level ' +
    'nearest the mid. Not directional on its own: walls can be pulled before they trade.',
  lookback: () => 0,
  batch(input, p) {
    return batchOf(liquidityWalls, input, p)
  },
  stream(p) {
    const lv = p.levels
    const scratch = new Float64Array(lv)
    const out = nans(4)
    return {
      out,
      update(x) {
        const mid = (x[0] + x[2]) / 2
        // Side s: prices at 4k + 2s, sizes at 4k + 2s + 1 (s = 0 bid, 1 ask)
        for (let s = 0; s < 2; s++) {
          let top = -1
          let at = 0
          for (let k = 0; k < lv; k++) {
            const sz = x[4 * k + 2 * s + 1]
            if (sz > top) {
              top = sz
              at = k
            }
          }
          const med = median(x, 2 * s + 1, 4, lv, scratch)
          const px = x[4 * at + 2 * s]
          out[2 * s] = med > 0 ? top / med : NaN
          out[2 * s + 1] = mid > 0 ? (10000 * Math.abs(px - mid)) / mid : NaN
        }
      },
    }
  },
}

/** Kyle's lambda: rolling price impact per unit of signed volume. */
export const kyleLambda: IndicatorDef = {
  id: 'kyle_lambda',
  name: "Kyle's Lambda",
  category: 'microstructure',
  source: 'trades',
  inputs: ['price', 'amount', 'side'],
  params: [timePeriod(100, 2, 100000, 'trades')],
  outputs: ['lambda'],
  notes:
    'After Kyle (1985): OLS slope (with intercept) of dp_i = price_i - price_i-1 on q_i = side_i x amount_i over ' +
    'the last `timePeriod` trades, in quote per base unit, trade by trade; NaN when signed volume does not vary ' +
    'in the window. Higher = thinner market.',
  lookback: (p) => p.timePeriod,
  batch(input, p) {
    return batchOf(kyleLambda, input, p)
  },
  stream(p) {
    const n = p.timePeriod
    const sq = new WindowSum(n)
    const sdp = new WindowSum(n)
    const sqq = new WindowSum(n)
    const sqdp = new WindowSum(n)
    const out = nans(1)
    let prev = NaN
    let first = true
    return {
      out,
      update(x) {
        if (!first) {
          const q = x[2] * x[1]
          const dp = x[0] - prev
          sq.push(q)
          sdp.push(dp)
          sqq.push(q * q)
          sqdp.push(q * dp)
          if (sq.full) {
            const den = n * sqq.total - sq.total * sq.total
            // Below this the variance of q is rounding noise, so the slope is undefined
            out[0] = den > 1e-9 * n * sqq.total ? (n * sqdp.total - sq.total * sdp.total) / den : NaN
          }
        }
        first = false
        prev = x[0]
      },
    }
  },
}

/** Volume-synchronised probability of informed trading from trades with a known aggressor. */
export const vpin: IndicatorDef = {
  id: 'vpin',
  name: 'VPIN',
  category: 'microstructure',
  source: 'trades',
  inputs: ['amount', 'side'],
  params: [
    param('bucketVolume', 1, 1e-8, 1e9, 'base volume per bucket', { integer: false, step: 0.1 }),
    param('buckets', 50, 1, 10000, 'number of buckets averaged', { integer: true }),
  ],
  outputs: ['vpin'],
  notes:
    'Easley, Lopez de Prado & O\'Hara (2012): trades fill equal-volume buckets of `bucketVolume` (a trade that ' +
    'overflows spills into the next buckets); VPIN = mean |buy - sell| / bucketVolume over the last `buckets` ' +
    'full buckets, in [0, 1]. Uses the recorded aggressor side instead of bulk volume classification. Size ' +
    'buckets to the market (the paper uses a fiftieth of daily volume). One value per trade; NaN until `buckets` ' +
    'buckets are full, so the warm-up depends on volume (lookback 0 is a lower bound).',
  lookback: () => 0,
  batch(input, p) {
    return batchOf(vpin, input, p)
  },
  stream(p) {
    const size = p.bucketVolume
    const nb = p.buckets
    const imb = new WindowSum(nb)
    const out = nans(1)
    let filled = 0
    let buy = 0
    let sell = 0
    return {
      out,
      update(x) {
        const isBuy = x[1] > 0
        let rem = x[0]
        const need = size - filled
        if (rem >= need) {
          // Close the open bucket, then whole one-sided buckets, then open the next with what is left
          if (isBuy) buy += need
          else sell += need
          imb.push(Math.abs(buy - sell) / size)
          rem -= need
          const whole = Math.floor(rem / size)
          // Only the last `nb` whole buckets can still be in the window
          for (let k = Math.min(whole, nb); k > 0; k--) imb.push(1)
          rem = Math.max(0, rem - whole * size)
          filled = 0
          buy = 0
          sell = 0
        }
        filled += rem
        if (isBuy) buy += rem
        else sell += rem
        if (imb.full) out[0] = Math.min(1, imb.total / nb)
      },
    }
  },
}

/** Self-exciting (Hawkes) intensity of trade arrivals with an exponential kernel. */
export const hawkes: IndicatorDef = {
  id: 'hawkes',
  name: 'Hawkes Trade Intensity',
  category: 'microstructure',
  source: 'trades',
  inputs: ['timestamp'],
  params: [
    param('mu', 1, 0, 10000, 'baseline intensity, trades per second', { integer: false, step: 0.1 }),
    param('alpha', 0.5, 0, 10000, 'jump in intensity per trade, per second', { integer: false, step: 0.1 }),
    param('beta', 1, 0.001, 10000, 'decay rate per second', { integer: false, step: 0.1 }),
  ],
  outputs: ['intensity'],
  notes:
    'lambda(t) = mu + sum over past trades of alpha x exp(-beta (t - t_i)), evaluated just after each trade (that ' +
    'trade included), in trades per second, with the O(1) recursion S_i = S_i-1 exp(-beta dt) + alpha. Parameters ' +
    'are given, not fitted; alpha / beta < 1 is the stationary regime. A timestamp earlier than the latest counts as dt = 0.',
  lookback: () => 0,
  batch(input, p) {
    return batchOf(hawkes, input, p)
  },
  stream(p) {
    const { mu, alpha, beta } = p
    const out = nans(1)
    let excite = 0
    let prev = NaN
    let first = true
    return {
      out,
      update(x) {
        if (first) excite = alpha
        else {
          const dt = x[0] > prev ? (x[0] - prev) / 1e6 : 0
          excite = excite * Math.exp(-beta * dt) + alpha
        }
        // The clock only moves forward, so a late timestamp does not rewind the decay
        if (first || x[0] > prev) prev = x[0]
        first = false
        out[0] = mu + excite
      },
    }
  },
}

export const MICROSTRUCTURE: readonly IndicatorDef[] = [
  cvd,
  cvdBars,
  takerImbalance,
  tradeImbalance,
  ofi,
  depthImbalance,
  microprice,
  spread,
  liquidityWalls,
  kyleLambda,
  vpin,
  hawkes,
]
