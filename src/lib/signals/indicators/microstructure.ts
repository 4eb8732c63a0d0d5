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
// Definitions with state beyond a running total keep it in one kernel class that both the batch loop and the stream
// feed row by row, so the two modes agree bit for bit by construction; each batch form is its own loop over the
// input columns (a loop shared by several definitions would make its calls into them megamorphic) and writes each
// output row once. Rolling sums are recomputed from their window every time it wraps, which keeps add-and-subtract
// rounding from drifting over long series at O(1) amortised cost.
import { param, type Columns, type IndicatorDef, type Params, type Reading, type Stream } from '../types.js'
import { CHUNK, columnSum, ifFinite, inChunks, nans, output, type ChunkedKernel } from '../util.js'

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
  const outs = def.outputs.map(() => output(n, 0))
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

/** Stream over a kernel whose `next` takes the row's two inputs and returns the output */
class KernelStream2 implements Stream {
  readonly out = nans(1)
  constructor(private readonly k: { next(a: number, b: number): number }) {}
  update(x: Float64Array): void {
    this.out[0] = this.k.next(x[0], x[1])
  }
}

/** Stream over a kernel whose `next` takes the row's three inputs and returns the output */
class KernelStream3 implements Stream {
  readonly out = nans(1)
  constructor(private readonly k: { next(a: number, b: number, c: number): number }) {}
  update(x: Float64Array): void {
    this.out[0] = this.k.next(x[0], x[1], x[2])
  }
}

class CvdStream implements Stream {
  readonly out = nans(1)
  private total = 0
  update(x: Float64Array): void {
    this.total += x[1] * x[0]
    this.out[0] = this.total
  }
}

class CvdBarsStream implements Stream {
  readonly out = nans(1)
  private total = 0
  update(x: Float64Array): void {
    this.total += 2 * x[1] - x[0]
    this.out[0] = this.total
  }
}

/** Taker imbalance of the last `per` bars; `value` keeps the latest output (NaN until the window is full) */
class TakerImbalance {
  private readonly vol: WindowSum
  private readonly buy: WindowSum
  value = NaN
  constructor(per: number) {
    this.vol = new WindowSum(per)
    this.buy = new WindowSum(per)
  }
  next(volume: number, takerBuy: number): number {
    const vol = this.vol
    vol.push(volume)
    this.buy.push(takerBuy)
    if (!vol.full) return this.value
    this.value = vol.total > 0 ? clamp1((2 * this.buy.total - vol.total) / vol.total) : 0
    return this.value
  }
}

/** Trade-flow imbalance of the last `per` trades; `value` keeps the latest output (NaN until the window is full) */
class TradeImbalance {
  private readonly signed: WindowSum
  private readonly vol: WindowSum
  value = NaN
  constructor(per: number) {
    this.signed = new WindowSum(per)
    this.vol = new WindowSum(per)
  }
  next(amount: number, side: number): number {
    const vol = this.vol
    this.signed.push(side * amount)
    vol.push(amount)
    if (!vol.full) return this.value
    this.value = vol.total > 0 ? clamp1(this.signed.total / vol.total) : 0
    return this.value
  }
}

/** OFI summed over the last `per` snapshot changes; `value` keeps the latest output */
class Ofi {
  private readonly win: WindowSum
  private bp = NaN
  private bs = NaN
  private ap = NaN
  private as = NaN
  private first = true
  value = NaN
  constructor(per: number) {
    this.win = new WindowSum(per)
  }
  next(bidPx: number, bidSz: number, askPx: number, askSz: number): number {
    if (!this.first) {
      const bp = this.bp
      const ap = this.ap
      const e = (bidPx >= bp ? bidSz : 0) - (bidPx <= bp ? this.bs : 0) - (askPx <= ap ? askSz : 0) + (askPx >= ap ? this.as : 0)
      this.win.push(e)
      if (this.win.full) this.value = this.win.total
    }
    this.first = false
    this.bp = bidPx
    this.bs = bidSz
    this.ap = askPx
    this.as = askSz
    return this.value
  }
}

class OfiStream implements Stream {
  readonly out = nans(1)
  private readonly k: Ofi
  constructor(per: number) {
    this.k = new Ofi(per)
  }
  update(x: Float64Array): void {
    this.out[0] = this.k.next(x[0], x[1], x[2], x[3])
  }
}

class DepthImbalanceStream implements Stream {
  readonly out = nans(1)
  constructor(private readonly lv: number) {}
  update(x: Float64Array): void {
    let bid = 0
    let ask = 0
    for (let k = 0; k < this.lv; k++) {
      bid += x[k]
      ask += x[BOOK_LEVELS + k]
    }
    const all = bid + ask
    this.out[0] = all > 0 ? (bid - ask) / all : 0
  }
}

/** Size-weighted mid of the best level; the mid when both sizes are 0 */
const weightedMid = (bp: number, bs: number, ap: number, as: number) => {
  const depth = bs + as
  return depth > 0 ? (bp * as + ap * bs) / depth : (bp + ap) / 2
}

class MicropriceStream implements Stream {
  readonly out = nans(1)
  update(x: Float64Array): void {
    this.out[0] = weightedMid(x[0], x[1], x[2], x[3])
  }
}

class SpreadStream implements Stream {
  readonly out = nans(2)
  update(x: Float64Array): void {
    const s = x[1] - x[0]
    const mid = (x[0] + x[1]) / 2
    this.out[0] = s
    this.out[1] = mid > 0 ? (10000 * s) / mid : NaN
  }
}

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
  batch(input) {
    const { amount, side } = input
    const n = amount.length
    const out = output(n, 0)
    const result = [out]
    let total = 0
    for (let i = 0; i < n; i++) {
      total += side[i] * amount[i]
      out[i] = total
    }
    return result
  },
  stream: () => new CvdStream(),
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
  batch(input) {
    const { volume, taker_buy_volume: buy } = input
    const n = volume.length
    const out = output(n, 0)
    const result = [out]
    let total = 0
    for (let i = 0; i < n; i++) {
      total += 2 * buy[i] - volume[i]
      out[i] = total
    }
    return result
  },
  stream: () => new CvdBarsStream(),
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
    const { volume, taker_buy_volume: buy } = input
    const n = volume.length
    const out = output(n, p.timePeriod - 1)
    const result = [out]
    const k = new TakerImbalance(p.timePeriod)
    for (let i = 0; i < n; i++) {
      const v = k.next(volume[i], buy[i])
      if (i >= p.timePeriod - 1) out[i] = v
    }
    return result
  },
  stream: (p) => new KernelStream2(new TakerImbalance(p.timePeriod)),
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
    const { amount, side } = input
    const n = amount.length
    const out = output(n, p.timePeriod - 1)
    const result = [out]
    const k = new TradeImbalance(p.timePeriod)
    for (let i = 0; i < n; i++) {
      const v = k.next(amount[i], side[i])
      if (i >= p.timePeriod - 1) out[i] = v
    }
    return result
  },
  stream: (p) => new KernelStream2(new TradeImbalance(p.timePeriod)),
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
    const { bid_px_0: bp, bid_sz_0: bs, ask_px_0: ap, ask_sz_0: as } = input
    const n = bp.length
    const out = output(n, p.timePeriod)
    const result = [out]
    const k = new Ofi(p.timePeriod)
    for (let i = 0; i < n; i++) {
      const v = k.next(bp[i], bs[i], ap[i], as[i])
      if (i >= p.timePeriod) out[i] = v
    }
    return result
  },
  stream: (p) => new OfiStream(p.timePeriod),
  reading: (out) => sign(out[0]),
}

/**
 * depth_imbalance's batch loop in a kernel run chunk by chunk. Each side's sum over the levels goes level by level
 * into a chunk-sized array, as the row's own loop adds them (from 0, the best level first): one column per inner
 * loop rather than 2 x levels columns per row. `check` is the sum of the chunks' sums, times 0
 */
class DepthImbalanceRows implements ChunkedKernel {
  check = 0
  private readonly bid = new Float64Array(CHUNK)
  private readonly ask = new Float64Array(CHUNK)
  constructor(
    private readonly bids: Float64Array[],
    private readonly asks: Float64Array[],
    private readonly out: Float64Array,
  ) {}
  run(from: number, to: number): void {
    const { bids, asks, bid, ask, out } = this
    const m = to - from
    bid.fill(0, 0, m)
    ask.fill(0, 0, m)
    for (let k = 0; k < bids.length; k++) {
      addTo(bid, bids[k], from, m)
      addTo(ask, asks[k], from, m)
    }
    let check = this.check
    for (let r = 0; r < m; r++) {
      const b = bid[r]
      const a = ask[r]
      const all = b + a
      check += all * 0
      out[from + r] = all > 0 ? (b - a) / all : 0
    }
    this.check = check
  }
}

/** acc[r] += c[from + r] for r < m */
function addTo(acc: Float64Array, c: Float64Array, from: number, m: number): void {
  for (let r = 0; r < m; r++) acc[r] += c[from + r]
}

/**
 * depth_imbalance into `out`; returns the kernel's check of the sizes it read, or with `check`, NaN without running
 * it when a size past `levels` is not finite
 */
function depthImbalanceRows(input: Columns, lv: number, out: Float64Array, check: boolean): number {
  const bidNames = levelCols('bid', 'sz')
  const askNames = levelCols('ask', 'sz')
  if (check) {
    let others = 0
    for (let k = lv; k < BOOK_LEVELS; k++) others += (columnSum(input[bidNames[k]]) + columnSum(input[askNames[k]])) * 0
    if (others !== 0) return NaN
  }
  const k = new DepthImbalanceRows(
    bidNames.slice(0, lv).map((c) => input[c]),
    askNames.slice(0, lv).map((c) => input[c]),
    out,
  )
  inChunks(k, 0, out.length)
  return k.check
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
    const out = output(input.bid_sz_0.length, 0)
    depthImbalanceRows(input, p.levels, out, false)
    return [out]
  },
  batchIfFinite(input, p) {
    const out = output(input.bid_sz_0.length, 0)
    return ifFinite([out], depthImbalanceRows(input, p.levels, out, true))
  },
  stream: (p) => new DepthImbalanceStream(p.levels),
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
  batch(input) {
    const { bid_px_0: bp, bid_sz_0: bs, ask_px_0: ap, ask_sz_0: as } = input
    const n = bp.length
    const out = output(n, 0)
    const result = [out]
    for (let i = 0; i < n; i++) out[i] = weightedMid(bp[i], bs[i], ap[i], as[i])
    return result
  },
  stream: () => new MicropriceStream(),
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
  batch(input) {
    const { bid_px_0: bid, ask_px_0: ask } = input
    const n = bid.length
    const abs = output(n, 0)
    const bps = output(n, 0)
    const result = [abs, bps]
    for (let i = 0; i < n; i++) {
      const s = ask[i] - bid[i]
      const mid = (bid[i] + ask[i]) / 2
      abs[i] = s
      bps[i] = mid > 0 ? (10000 * s) / mid : NaN
    }
    return result
  },
  stream: () => new SpreadStream(),
}

/**
 * Median of a book side's level sizes, row after row: `of(v, off, stride)` is the median of the n values of `v` from
 * `off`, every `stride`. The previous row's median is a pivot: the values are split into those below it and the
 * rest, without a branch per value (the compare's result is added as a number), and the median's one or two ranks
 * are then picked from the part that holds them by keeping only its few values nearest the pivot, sorted by
 * insertion. On real books the median moves little from one snapshot to the next, so those are a handful of values
 * and the unpredictable branches a few, where keeping the smallest n/2 + 1 of all n sorted takes about twenty. The
 * order statistics, and so the median, do not depend on the pivot; only the time does. The same pass finds the
 * largest value, liquidity_walls' wall
 */
class LevelMedian {
  /** The largest value of the latest call (from -1) and its first position (0 when none is above -1) */
  top = -1
  topAt = 0
  /** Sum of the latest call's values: finite only if each of them is */
  sum = 0
  private pivot = 0
  private readonly below: Float64Array
  private readonly above: Float64Array
  /** The values kept by `smallest` or `largest`, from index 1, behind a sentinel in index 0 */
  private readonly kept: Float64Array
  constructor(private readonly n: number) {
    this.below = new Float64Array(n)
    this.above = new Float64Array(n)
    this.kept = new Float64Array(n + 1)
  }
  of(v: Float64Array, off: number, stride: number): number {
    const { n, below, above, pivot } = this
    // Write each value to both parts and advance the one it belongs to. The largest value comes on the way: after
    // the first few values a larger one is rare, so that branch is seldom mispredicted
    let nb = 0
    let na = 0
    let top = -1
    let topAt = 0
    let sum = 0
    for (let k = 0, at = off; k < n; k++, at += stride) {
      const x = v[at]
      const lt = +(x < pivot)
      below[nb] = x
      above[na] = x
      nb += lt
      na += 1 - lt
      sum += x
      if (x > top) {
        top = x
        topAt = k
      }
    }
    this.top = top
    this.topAt = topAt
    this.sum = sum
    // 0-based ranks of the median's values: equal for odd n
    const r1 = (n - 1) >> 1
    const r2 = n >> 1
    const kept = this.kept
    let a: number
    let b: number
    if (nb > r2) {
      // Both among the values below the pivot: its m largest, the lowest of them rank r1
      const m = nb - r1
      this.largest(below, nb, m)
      a = kept[m]
      b = kept[m - (r2 - r1)]
    } else if (nb <= r1) {
      // Both among the rest: its m smallest, the highest of them rank r2
      const m = r2 - nb + 1
      this.smallest(above, na, m)
      a = kept[r1 - nb + 1]
      b = kept[m]
    } else {
      // n even and exactly n/2 values below: the largest of those and the smallest of the rest
      a = below[0]
      for (let k = 1; k < nb; k++) if (below[k] > a) a = below[k]
      b = above[0]
      for (let k = 1; k < na; k++) if (above[k] < b) b = above[k]
    }
    const med = r1 === r2 ? a : (a + b) / 2
    this.pivot = med
    return med
  }
  /** The m smallest of a[0..len), ascending, into kept[1..m] */
  private smallest(a: Float64Array, len: number, m: number): void {
    const kept = this.kept
    kept[0] = -Infinity
    let count = 0
    for (let i = 0; i < len; i++) {
      const x = a[i]
      let j: number
      if (count < m) j = count++
      else if (x >= kept[m]) continue
      else j = m - 1
      while (kept[j] > x) {
        kept[j + 1] = kept[j]
        j--
      }
      kept[j + 1] = x
    }
  }
  /** The m largest of a[0..len), descending, into kept[1..m] */
  private largest(a: Float64Array, len: number, m: number): void {
    const kept = this.kept
    kept[0] = Infinity
    let count = 0
    for (let i = 0; i < len; i++) {
      const x = a[i]
      let j: number
      if (count < m) j = count++
      else if (x <= kept[m]) continue
      else j = m - 1
      while (kept[j] < x) {
        kept[j + 1] = kept[j]
        j--
      }
      kept[j + 1] = x
    }
  }
}

/** Distance of a wall's price from the mid in bps; NaN without a positive mid */
const wallBps = (px: number, mid: number) => (mid > 0 ? (10000 * Math.abs(px - mid)) / mid : NaN)

class LiquidityWallsStream implements Stream {
  readonly out = nans(4)
  private readonly medians: LevelMedian[]
  constructor(lv: number) {
    this.medians = [new LevelMedian(lv), new LevelMedian(lv)]
  }
  update(x: Float64Array): void {
    const mid = (x[0] + x[2]) / 2
    // Side s: prices at 4k + 2s, sizes at 4k + 2s + 1 (s = 0 bid, 1 ask)
    for (let s = 0; s < 2; s++) {
      const median = this.medians[s]
      const med = median.of(x, 2 * s + 1, 4)
      this.out[2 * s] = med > 0 ? median.top / med : NaN
      this.out[2 * s + 1] = wallBps(x[4 * median.topAt + 2 * s], mid)
    }
  }
}

/** Kyle's lambda over the last `per` trades; `value` keeps the latest output */
class KyleLambda {
  private readonly sq: WindowSum
  private readonly sdp: WindowSum
  private readonly sqq: WindowSum
  private readonly sqdp: WindowSum
  private prev = NaN
  private first = true
  value = NaN
  constructor(private readonly n: number) {
    this.sq = new WindowSum(n)
    this.sdp = new WindowSum(n)
    this.sqq = new WindowSum(n)
    this.sqdp = new WindowSum(n)
  }
  next(price: number, amount: number, side: number): number {
    if (!this.first) {
      const n = this.n
      const q = side * amount
      const dp = price - this.prev
      const sq = this.sq
      sq.push(q)
      this.sdp.push(dp)
      this.sqq.push(q * q)
      this.sqdp.push(q * dp)
      if (sq.full) {
        const den = n * this.sqq.total - sq.total * sq.total
        // Below this the variance of q is rounding noise, so the slope is undefined
        this.value = den > 1e-9 * n * this.sqq.total ? (n * this.sqdp.total - sq.total * this.sdp.total) / den : NaN
      }
    }
    this.first = false
    this.prev = price
    return this.value
  }
}

/** VPIN over equal-volume buckets; `value` keeps the latest output (NaN until `nb` buckets are full) */
class Vpin {
  private readonly imb: WindowSum
  private filled = 0
  private buy = 0
  private sell = 0
  value = NaN
  constructor(
    private readonly size: number,
    private readonly nb: number,
  ) {
    this.imb = new WindowSum(nb)
  }
  next(amount: number, side: number): number {
    const size = this.size
    const nb = this.nb
    const imb = this.imb
    const isBuy = side > 0
    let rem = amount
    const need = size - this.filled
    if (rem >= need) {
      // Close the open bucket, then whole one-sided buckets, then open the next with what is left
      if (isBuy) this.buy += need
      else this.sell += need
      imb.push(Math.abs(this.buy - this.sell) / size)
      rem -= need
      const whole = Math.floor(rem / size)
      // Only the last `nb` whole buckets can still be in the window
      for (let k = Math.min(whole, nb); k > 0; k--) imb.push(1)
      rem = Math.max(0, rem - whole * size)
      this.filled = 0
      this.buy = 0
      this.sell = 0
    }
    this.filled += rem
    if (isBuy) this.buy += rem
    else this.sell += rem
    if (imb.full) this.value = Math.min(1, imb.total / nb)
    return this.value
  }
}

/** Hawkes intensity just after each trade */
class Hawkes {
  private excite = 0
  private prev = NaN
  private first = true
  constructor(
    private readonly mu: number,
    private readonly alpha: number,
    private readonly beta: number,
  ) {}
  next(t: number): number {
    if (this.first) this.excite = this.alpha
    else {
      const dt = t > this.prev ? (t - this.prev) / 1e6 : 0
      this.excite = this.excite * Math.exp(-this.beta * dt) + this.alpha
    }
    // The clock only moves forward, so a late timestamp does not rewind the decay
    if (this.first || t > this.prev) this.prev = t
    this.first = false
    return this.mu + this.excite
  }
}

class HawkesStream implements Stream {
  readonly out = nans(1)
  private readonly k: Hawkes
  constructor(mu: number, alpha: number, beta: number) {
    this.k = new Hawkes(mu, alpha, beta)
  }
  update(x: Float64Array): void {
    this.out[0] = this.k.next(x[0])
  }
}

/**
 * liquidity_walls' batch loop in a kernel run chunk by chunk. Rows go in blocks whose sizes are first copied row by
 * row into `block` (level k of row r at r * lv + k), so each column is read in one sequential run per block rather
 * than one value per row from 2 x lv columns at once
 */
class LiquidityWallsRows implements ChunkedKernel {
  /** Sum of every size read, times 0: finite exactly when they all are */
  check = 0
  private readonly medians: LevelMedian[]
  private readonly block: Float64Array
  /** Level of each row's wall in the block */
  private readonly level = new Int32Array(WALL_BLOCK)
  constructor(
    private readonly px: Float64Array[][],
    private readonly sz: Float64Array[][],
    private readonly outs: Float64Array[],
    private readonly lv: number,
  ) {
    this.medians = [new LevelMedian(lv), new LevelMedian(lv)]
    this.block = new Float64Array(WALL_BLOCK * lv)
  }
  run(from: number, to: number): void {
    const { px, sz, outs, lv, medians, block, level } = this
    let check = this.check
    const bid0 = px[0][0]
    const ask0 = px[1][0]
    for (let i0 = from; i0 < to; i0 += WALL_BLOCK) {
      const rows = Math.min(WALL_BLOCK, to - i0)
      for (let s = 0; s < 2; s++) {
        const cols = sz[s]
        for (let k = 0; k < lv; k++) {
          const col = cols[k]
          for (let r = 0, at = k; r < rows; r++, at += lv) block[at] = col[i0 + r]
        }
        const wall = outs[2 * s]
        const bps = outs[2 * s + 1]
        const prices = px[s]
        const median = medians[s]
        for (let r = 0; r < rows; r++) {
          const i = i0 + r
          const off = r * lv
          // The median, and the largest size (ties to the level nearest the mid)
          const med = median.of(block, off, 1)
          check += median.sum * 0
          wall[i] = med > 0 ? median.top / med : NaN
          level[r] = median.topAt
        }
        // The walls' prices in a loop of their own: each read is from one of lv columns, often a cache miss, and
        // here they do not wait on the median's work and are in flight together
        for (let r = 0; r < rows; r++) {
          const i = i0 + r
          bps[i] = wallBps(prices[level[r]][i], (bid0[i] + ask0[i]) / 2)
        }
      }
    }
    this.check = check
  }
}

/**
 * liquidity_walls into `outs`; returns the kernel's check of the sizes it read, or with `check`, NaN without
 * running it when another column (the prices, the sizes past `levels`) has a non-finite value
 */
function liquidityWallsRows(input: Columns, lv: number, outs: Float64Array[], check: boolean): number {
  const px = [levelCols('bid', 'px'), levelCols('ask', 'px')].map((side) => side.slice(0, lv).map((k) => input[k]))
  const sizes = [levelCols('bid', 'sz'), levelCols('ask', 'sz')].map((side) => side.slice(0, lv))
  const sz = sizes.map((side) => side.map((k) => input[k]))
  if (check) {
    const read = new Set(sizes.flat())
    let others = 0
    for (const k of BOOK_COLUMNS) if (!read.has(k)) others += columnSum(input[k]) * 0
    if (others !== 0) return NaN
  }
  const k = new LiquidityWallsRows(px, sz, outs, lv)
  inChunks(k, 0, px[0][0].length)
  return k.check
}

/** Rows per block of LiquidityWallsRows */
const WALL_BLOCK = 256

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
    const n = input.bid_px_0.length
    const outs = [0, 1, 2, 3].map(() => output(n, 0))
    liquidityWallsRows(input, p.levels, outs, false)
    return outs
  },
  // The kernel reads every size of the first `levels` levels: it checks those, and scans only the other columns
  batchIfFinite(input, p) {
    const n = input.bid_px_0.length
    const outs = [0, 1, 2, 3].map(() => output(n, 0))
    return ifFinite(outs, liquidityWallsRows(input, p.levels, outs, true))
  },
  stream: (p) => new LiquidityWallsStream(p.levels),
}

/**
 * KyleLambda's batch loop in a kernel run chunk by chunk, from row 1 (row 0 only gives the first price): its four
 * WindowSums, which fill and wrap together, as one ring position and four rings, totals and counts of non-zero
 * values, in local variables while a chunk runs; each step is WindowSum.push's, in its order. The counts move by
 * the compares' results added as numbers: price moves between trades are often 0, so a jump on it mispredicts
 */
class KyleLambdaRows implements ChunkedKernel {
  private readonly bq: Float64Array
  private readonly bdp: Float64Array
  private readonly bqq: Float64Array
  private readonly bqdp: Float64Array
  private head = 0
  private count = 0
  private tq = 0
  private tdp = 0
  private tqq = 0
  private tqdp = 0
  private nq = 0
  private ndp = 0
  private nqq = 0
  private nqdp = 0
  constructor(
    private readonly price: Float64Array,
    private readonly amount: Float64Array,
    private readonly side: Float64Array,
    private readonly out: Float64Array,
    private readonly size: number,
  ) {
    this.bq = new Float64Array(size)
    this.bdp = new Float64Array(size)
    this.bqq = new Float64Array(size)
    this.bqdp = new Float64Array(size)
  }
  run(from: number, to: number): void {
    const { price, amount, side, out, size, bq, bdp, bqq, bqdp } = this
    let { head, count, tq, tdp, tqq, tqdp, nq, ndp, nqq, nqdp } = this
    for (let i = from; i < to; i++) {
      const q = side[i] * amount[i]
      const dp = price[i] - price[i - 1]
      const qq = q * q
      const qdp = q * dp
      if (count === size) {
        const oq = bq[head]
        const odp = bdp[head]
        const oqq = bqq[head]
        const oqdp = bqdp[head]
        tq -= oq
        tdp -= odp
        tqq -= oqq
        tqdp -= oqdp
        nq -= +(oq !== 0)
        ndp -= +(odp !== 0)
        nqq -= +(oqq !== 0)
        nqdp -= +(oqdp !== 0)
      } else count++
      bq[head] = q
      bdp[head] = dp
      bqq[head] = qq
      bqdp[head] = qdp
      tq += q
      tdp += dp
      tqq += qq
      tqdp += qdp
      nq += +(q !== 0)
      ndp += +(dp !== 0)
      nqq += +(qq !== 0)
      nqdp += +(qdp !== 0)
      if (++head === size) {
        // Each total summed again from its window when the ring wraps, as WindowSum does
        head = 0
        tq = 0
        tdp = 0
        tqq = 0
        tqdp = 0
        for (let k = 0; k < size; k++) {
          tq += bq[k]
          tdp += bdp[k]
          tqq += bqq[k]
          tqdp += bqdp[k]
        }
      }
      if (nq === 0) tq = 0
      if (ndp === 0) tdp = 0
      if (nqq === 0) tqq = 0
      if (nqdp === 0) tqdp = 0
      if (count === size) {
        // Below this the variance of q is rounding noise, so the slope is undefined
        const den = size * tqq - tq * tq
        out[i] = den > 1e-9 * size * tqq ? (size * tqdp - tq * tdp) / den : NaN
      }
    }
    this.head = head
    this.count = count
    this.tq = tq
    this.tdp = tdp
    this.tqq = tqq
    this.tqdp = tqdp
    this.nq = nq
    this.ndp = ndp
    this.nqq = nqq
    this.nqdp = nqdp
  }
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
    const { price, amount, side } = input
    const n = price.length
    const out = output(n, p.timePeriod)
    if (n > 0) inChunks(new KyleLambdaRows(price, amount, side, out, p.timePeriod), 1, n)
    return [out]
  },
  stream: (p) => new KernelStream3(new KyleLambda(p.timePeriod)),
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
    const { amount, side } = input
    const n = amount.length
    const out = output(n, 0)
    const result = [out]
    const k = new Vpin(p.bucketVolume, p.buckets)
    for (let i = 0; i < n; i++) out[i] = k.next(amount[i], side[i])
    return result
  },
  stream: (p) => new KernelStream2(new Vpin(p.bucketVolume, p.buckets)),
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
    const t = input.timestamp
    const n = t.length
    const out = output(n, 0)
    const result = [out]
    const k = new Hawkes(p.mu, p.alpha, p.beta)
    for (let i = 0; i < n; i++) out[i] = k.next(t[i])
    return result
  },
  stream: (p) => new HawkesStream(p.mu, p.alpha, p.beta),
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
