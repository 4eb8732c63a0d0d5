// Composite signals: agreement of several indicators, and trend alignment across timeframes
//
// Each composite is a kernel class over its components' own streams, fed row by row by both the batch loop and
// the stream, so the two modes agree bit for bit. A component is updated only when every input it reads is finite
// and otherwise reads as NaN for that row, which is what wrapping it in openStream would do, without the wrapper
import { barOpen } from '../../time.js'
import { resolveParams } from '../engine.js'
import { param, type Columns, type IndicatorDef, type Params, type Stream } from '../types.js'
import { inArena, nans, output } from '../util.js'
import { MOMENTUM } from './momentum.js'
import { adxWithDi, smaRows, TREND } from './trend.js'
import { VOLATILITY } from './volatility.js'
import { VOLUME } from './volume.js'

function def(id: string): IndicatorDef {
  const d = [...MOMENTUM, ...TREND, ...VOLATILITY, ...VOLUME].find((x) => x.id === id)
  if (!d) throw new Error(`composite indicator needs '${id}', which is not in the catalog`)
  return d
}

/** Sign of a vote; NaN (a component still warming up) stays NaN */
const sign = (x: number) => (x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : NaN)

const CONFLUENCE_INPUTS = ['high', 'low', 'close', 'volume'] as const

/** A component's own stream, with resolved parameters */
const component = (id: string, given: Record<string, number> = {}) => {
  const d = def(id)
  return d.stream(resolveParams(d, given))
}

/** The confluence score of one row from its components; `score` and `votes` are the outputs after the latest row */
class Confluence {
  private readonly ema20 = component('ema', { timePeriod: 20 })
  private readonly ema50 = component('ema', { timePeriod: 50 })
  private readonly macd = component('macd')
  private readonly rsi = component('rsi')
  private readonly adx = component('adx')
  private readonly pdi = component('plus_di')
  private readonly mdi = component('minus_di')
  private readonly stoch = component('stoch')
  private readonly obv = component('obv')
  private readonly obvSma = component('sma', { timePeriod: 20 })
  private readonly bb = component('bbands')
  private readonly c1 = new Float64Array(1)
  private readonly hlc = new Float64Array(3)
  private readonly cv = new Float64Array(2)
  private readonly one = new Float64Array(1)
  private readonly threshold: number
  score = NaN
  votes = NaN
  constructor(p: Params) {
    this.threshold = p.adxThreshold
  }
  next(high: number, low: number, close: number, volume: number): void {
    // Which components have only finite inputs this row (x * 0 is 0 for a finite x, NaN otherwise)
    const okC = close * 0 === 0
    const okHLC = okC && high * 0 === 0 && low * 0 === 0
    const okCV = okC && volume * 0 === 0
    const c1 = this.c1
    const hlc = this.hlc
    const cv = this.cv
    c1[0] = close
    hlc[0] = high
    hlc[1] = low
    hlc[2] = close
    cv[0] = close
    cv[1] = volume
    if (okC) {
      this.ema20.update(c1)
      this.ema50.update(c1)
      this.macd.update(c1)
      this.rsi.update(c1)
    }
    if (okHLC) {
      this.adx.update(hlc)
      this.pdi.update(hlc)
      this.mdi.update(hlc)
      this.stoch.update(hlc)
    }
    if (okCV) this.obv.update(cv)
    const obv = okCV ? this.obv.out[0] : NaN
    this.one[0] = obv
    const okObv = obv * 0 === 0
    if (okObv) this.obvSma.update(this.one)
    if (okC) this.bb.update(c1)
    const e50 = okC ? this.ema50.out[0] : NaN
    const r = okC ? this.rsi.out[0] : NaN
    const a = okHLC ? this.adx.out[0] : NaN
    const threshold = this.threshold
    const v1 = sign(close - e50)
    const v2 = sign((okC ? this.ema20.out[0] : NaN) - e50)
    const v3 = sign(okC ? this.macd.out[2] : NaN)
    const v4 = r > 55 ? 1 : r < 45 ? -1 : r >= 45 ? 0 : NaN
    const v5 = a > threshold ? sign(okHLC ? this.pdi.out[0] - this.mdi.out[0] : NaN) : a <= threshold ? 0 : NaN
    const v6 = sign(okHLC ? this.stoch.out[0] - this.stoch.out[1] : NaN)
    const v7 = sign(obv - (okObv ? this.obvSma.out[0] : NaN))
    const v8 = sign(close - (okC ? this.bb.out[1] : NaN))
    // Votes are -1, 0, +1 or NaN: the sum is exact, and any NaN vote (a component still warming up) makes it NaN
    const sum = v1 + v2 + v3 + v4 + v5 + v6 + v7 + v8
    if (sum !== sum) {
      this.score = NaN
      this.votes = NaN
      return
    }
    this.score = sum / 8
    this.votes =
      (v1 !== 0 ? 1 : 0) + (v2 !== 0 ? 1 : 0) + (v3 !== 0 ? 1 : 0) + (v4 !== 0 ? 1 : 0) +
      (v5 !== 0 ? 1 : 0) + (v6 !== 0 ? 1 : 0) + (v7 !== 0 ? 1 : 0) + (v8 !== 0 ? 1 : 0)
  }
}

class ConfluenceStream implements Stream {
  readonly out = nans(2)
  private readonly k: Confluence
  constructor(p: Params) {
    this.k = new Confluence(p)
  }
  update(x: Float64Array): void {
    const k = this.k
    k.next(x[0], x[1], x[2], x[3])
    this.out[0] = k.score
    this.out[1] = k.votes
  }
}

/** A component's batch outputs over the same rows, with resolved parameters */
const componentBatch = (id: string, input: Columns, given: Record<string, number> = {}) => {
  const d = def(id)
  return d.batch(input, resolveParams(d, given))
}

/**
 * Confluence's batch with an arena: each component's own batch over the whole series (outputs from the arena, 16
 * row-length arrays; ADX, +DI and -DI from one pass), then the votes row by row: about half the time of eleven
 * streams fed row by row. The values are the stream loop's: every component's batch equals its stream row for row,
 * and a batch sees finite inputs only (runBatch takes rows with a missing input out first), where every component of
 * the stream loop is updated
 */
function confluenceFromBatches(input: Columns, p: Params, score: Float64Array, votes: Float64Array): void {
  const { close } = input
  const n = close.length
  const [ema20] = componentBatch('ema', input, { timePeriod: 20 })
  const [ema50] = componentBatch('ema', input, { timePeriod: 50 })
  const macdHist = componentBatch('macd', input)[2]
  const [rsi] = componentBatch('rsi', input)
  // ADX, +DI and -DI of the same period from one pass (adxWithDi gives the three definitions' values)
  const [adx, pdi, mdi] = adxWithDi(input.high, input.low, close, resolveParams(def('adx')).timePeriod)
  const [stochK, stochD] = componentBatch('stoch', input)
  const [obv] = componentBatch('obv', input)
  const [obvSma] = componentBatch('sma', { close: obv }, { timePeriod: 20 })
  // The Bollinger middle band is the SMA of the band's period, the same running total (bbands computes it with
  // the bands, which are not needed here)
  const bbPeriod = resolveParams(def('bbands')).timePeriod
  const bbMiddle = output(n, bbPeriod - 1)
  smaRows(close, bbPeriod, bbMiddle)
  const threshold = p.adxThreshold
  for (let i = 0; i < n; i++) {
    const c = close[i]
    const e50 = ema50[i]
    const r = rsi[i]
    const a = adx[i]
    const d1 = c - e50
    const d2 = ema20[i] - e50
    const d3 = macdHist[i]
    const dd = pdi[i] - mdi[i]
    const d6 = stochK[i] - stochD[i]
    const d7 = obv[i] - obvSma[i]
    const d8 = c - bbMiddle[i]
    // NaN when a value voted on is NaN (a component warming up) or two infinities cancel
    const probe = d1 + d2 + d3 + r + a + dd + d6 + d7 + d8
    if (probe === probe) {
      // The usual row: each vote's sign as the difference of two compares added as numbers, 1 - 0, 0 - 1 or
      // 0 - 0, rather than jumps that mispredict on about every other vote; the same votes as below, as no value
      // is NaN. ADX at or under the threshold zeroes the DI difference (0 x ±Infinity is NaN, which votes 0 too).
      // A vote is -1, 0 or +1, so its square counts it as non-neutral
      const x5 = +(a > threshold) * dd
      const w1 = +(d1 > 0) - +(d1 < 0)
      const w2 = +(d2 > 0) - +(d2 < 0)
      const w3 = +(d3 > 0) - +(d3 < 0)
      const w4 = +(r > 55) - +(r < 45)
      const w5 = +(x5 > 0) - +(x5 < 0)
      const w6 = +(d6 > 0) - +(d6 < 0)
      const w7 = +(d7 > 0) - +(d7 < 0)
      const w8 = +(d8 > 0) - +(d8 < 0)
      score[i] = (w1 + w2 + w3 + w4 + w5 + w6 + w7 + w8) / 8
      votes[i] = w1 * w1 + w2 * w2 + w3 * w3 + w4 * w4 + w5 * w5 + w6 * w6 + w7 * w7 + w8 * w8
      continue
    }
    const v1 = sign(d1)
    const v2 = sign(d2)
    const v3 = sign(d3)
    const v4 = r > 55 ? 1 : r < 45 ? -1 : r >= 45 ? 0 : NaN
    const v5 = a > threshold ? sign(dd) : a <= threshold ? 0 : NaN
    const v6 = sign(d6)
    const v7 = sign(d7)
    const v8 = sign(d8)
    const sum = v1 + v2 + v3 + v4 + v5 + v6 + v7 + v8
    if (sum !== sum) {
      score[i] = NaN
      votes[i] = NaN
      continue
    }
    score[i] = sum / 8
    votes[i] =
      (v1 !== 0 ? 1 : 0) + (v2 !== 0 ? 1 : 0) + (v3 !== 0 ? 1 : 0) + (v4 !== 0 ? 1 : 0) +
      (v5 !== 0 ? 1 : 0) + (v6 !== 0 ? 1 : 0) + (v7 !== 0 ? 1 : 0) + (v8 !== 0 ? 1 : 0)
  }
}

/**
 * Confluence score: the mean of eight votes in {-1, 0, +1} from trend, momentum and volume indicators with
 * their default parameters.
 */
export const confluence: IndicatorDef = {
  id: 'confluence',
  name: 'Confluence score',
  category: 'composite',
  source: 'bars',
  inputs: CONFLUENCE_INPUTS,
  params: [param('adxThreshold', 20, 0, 100, 'ADX level under which the DI vote counts as neutral', { integer: false, step: 1 })],
  outputs: ['confluence', 'votes'],
  notes:
    'Mean of 8 votes: close vs EMA(50); EMA(20) vs EMA(50); sign of the MACD histogram (12/26/9); RSI(14) above 55 / below 45; ' +
    '+DI vs -DI when ADX(14) > adxThreshold; stochastic %K vs %D (5/3/3); OBV vs its SMA(20); close vs the Bollinger middle (20). ' +
    'Range -1 (all bearish) to +1 (all bullish); `votes` is the number of non-neutral votes. NaN until every component is warm.',
  lookback: () => 49,
  batch(input, p) {
    const { high, low, close, volume } = input
    const n = close.length
    const score = output(n, 0)
    const votes = output(n, 0)
    const result = [score, votes]
    if (inArena()) {
      confluenceFromBatches(input, p, score, votes)
      return result
    }
    const k = new Confluence(p)
    for (let i = 0; i < n; i++) {
      k.next(high[i], low[i], close[i], volume[i])
      score[i] = k.score
      votes[i] = k.votes
    }
    return result
  },
  stream: (p) => new ConfluenceStream(p),
  reading: (out) => (out[0] >= 0.5 ? 'bullish' : out[0] <= -0.5 ? 'bearish' : 'neutral'),
}

/** Direction +1/-1/0 of a close against its EMA; NaN while the EMA is warming up */
const direction = (close: number, e: number) => (Number.isFinite(e) ? (close > e ? 1 : close < e ? -1 : 0) : NaN)

/** One higher timeframe of mtf_alignment: its open bucket and the EMA of its closed bars */
class Timeframe {
  private readonly ema: Stream
  private readonly one = new Float64Array(1)
  bucket = NaN
  close = NaN
  dir = NaN
  constructor(
    readonly step: number,
    timePeriod: number,
  ) {
    this.ema = component('ema', { timePeriod })
  }
  /** Closes the open bucket: its last close goes to the EMA */
  feed(): void {
    const c = this.close
    this.one[0] = c
    const ok = c * 0 === 0
    if (ok) this.ema.update(this.one)
    this.dir = direction(c, ok ? this.ema.out[0] : NaN)
  }
  next(t: number, close: number, base: number): void {
    const step = this.step
    const bucket = barOpen(t, step)
    // A bar in a later bucket closes the open one (there was a hole at its end)
    if (bucket !== this.bucket && Number.isFinite(this.bucket) && Number.isFinite(this.close)) {
      this.feed()
      this.close = NaN
    }
    this.bucket = bucket
    this.close = close
    // The bar that completes the bucket closes it now
    if (t + base === bucket + step) {
      this.feed()
      this.close = NaN
    }
  }
}

/** mtf_alignment of one row; `alignment`, `baseDir`, `tf1.dir` and `tf2.dir` are the outputs after the latest row */
class MtfAlignment {
  private readonly base: number
  private readonly baseEma: Stream
  private readonly one = new Float64Array(1)
  readonly tf1: Timeframe
  readonly tf2: Timeframe
  baseDir = NaN
  alignment = NaN
  constructor(p: Params) {
    this.base = p.baseMinutes * 60e6
    this.baseEma = component('ema', { timePeriod: p.timePeriod })
    this.tf1 = new Timeframe(p.tf1Minutes * 60e6, p.timePeriod)
    this.tf2 = new Timeframe(p.tf2Minutes * 60e6, p.timePeriod)
  }
  next(t: number, close: number): void {
    this.one[0] = close
    const ok = close * 0 === 0
    if (ok) this.baseEma.update(this.one)
    const baseDir = direction(close, ok ? this.baseEma.out[0] : NaN)
    this.baseDir = baseDir
    this.tf1.next(t, close, this.base)
    this.tf2.next(t, close, this.base)
    const d1 = this.tf1.dir
    const d2 = this.tf2.dir
    this.alignment = Number.isFinite(baseDir) && Number.isFinite(d1) && Number.isFinite(d2) ? (baseDir + d1 + d2) / 3 : NaN
  }
}

class MtfAlignmentStream implements Stream {
  readonly out = nans(4)
  private readonly k: MtfAlignment
  constructor(p: Params) {
    this.k = new MtfAlignment(p)
  }
  update(x: Float64Array): void {
    const k = this.k
    k.next(x[0], x[3])
    this.out[0] = k.alignment
    this.out[1] = k.baseDir
    this.out[2] = k.tf1.dir
    this.out[3] = k.tf2.dir
  }
}

/**
 * Multi-timeframe alignment: the trend direction (close vs EMA) on the base bars and on two higher
 * timeframes built from them with closed buckets only.
 */
export const mtfAlignment: IndicatorDef = {
  id: 'mtf_alignment',
  name: 'Multi-timeframe trend alignment',
  category: 'composite',
  source: 'bars',
  inputs: ['open_time', 'high', 'low', 'close'],
  params: [
    param('baseMinutes', 1, 1, 1440, 'length of the input bars in minutes', { integer: true }),
    param('tf1Minutes', 60, 2, 10080, 'first higher timeframe in minutes (a multiple of baseMinutes)', { integer: true }),
    param('tf2Minutes', 240, 2, 10080, 'second higher timeframe in minutes (a multiple of baseMinutes)', { integer: true }),
    param('timePeriod', 20, 2, 500, 'EMA period on every timeframe', { integer: true }),
  ],
  outputs: ['alignment', 'base', 'tf1', 'tf2'],
  notes:
    'Direction +1/-1 of close vs EMA(timePeriod) on the base bars and on tf1/tf2 bars resampled from them; a ' +
    'higher-timeframe bar counts only once closed (its last base bar seen, or a later one), so no value ever ' +
    'looks ahead. alignment = mean of the three directions. NaN until the tf2 EMA is warm.',
  lookback: () => 0,
  batch(input, p) {
    const { open_time: time, close } = input
    const n = close.length
    const outs = [0, 1, 2, 3].map(() => output(n, 0))
    const [align, base, tf1, tf2] = outs
    const k = new MtfAlignment(p)
    for (let i = 0; i < n; i++) {
      k.next(time[i], close[i])
      align[i] = k.alignment
      base[i] = k.baseDir
      tf1[i] = k.tf1.dir
      tf2[i] = k.tf2.dir
    }
    return outs
  },
  stream: (p) => new MtfAlignmentStream(p),
  reading: (out) => (out[0] === 1 ? 'bullish' : out[0] === -1 ? 'bearish' : 'neutral'),
}

export const COMPOSITE: readonly IndicatorDef[] = [confluence, mtfAlignment]
