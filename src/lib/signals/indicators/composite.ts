// Composite signals: agreement of several indicators, and trend alignment across timeframes
import { openStream } from '../engine.js'
import { param, type IndicatorDef, type Params, type Stream } from '../types.js'
import { nans } from '../util.js'
import { MOMENTUM } from './momentum.js'
import { TREND } from './trend.js'
import { VOLATILITY } from './volatility.js'
import { VOLUME } from './volume.js'

function def(id: string): IndicatorDef {
  const d = [...MOMENTUM, ...TREND, ...VOLATILITY, ...VOLUME].find((x) => x.id === id)
  if (!d) throw new Error(`composite indicator needs '${id}', which is not in the catalog`)
  return d
}

/** Sign of a vote; NaN (a component still warming up) stays NaN */
const sign = (x: number) => (x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : NaN)

/** Batch form of a composite defined by its streaming form: the same code path, so parity is exact. */
function batchFromStream(d: IndicatorDef, input: Readonly<Record<string, Float64Array>>, p: Params): Float64Array[] {
  const n = input[d.inputs[0]].length
  const outs = d.outputs.map(() => nans(n))
  const s = d.stream(p)
  const x = new Float64Array(d.inputs.length)
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d.inputs.length; k++) x[k] = input[d.inputs[k]][i]
    s.update(x)
    for (let o = 0; o < outs.length; o++) outs[o][i] = s.out[o]
  }
  return outs
}

const CONFLUENCE_INPUTS = ['high', 'low', 'close', 'volume'] as const

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
    return batchFromStream(confluence, input, p)
  },
  stream(p): Stream {
    const ema20 = openStream(def('ema'), { timePeriod: 20 })
    const ema50 = openStream(def('ema'), { timePeriod: 50 })
    const macd = openStream(def('macd'))
    const rsi = openStream(def('rsi'))
    const adx = openStream(def('adx'))
    const pdi = openStream(def('plus_di'))
    const mdi = openStream(def('minus_di'))
    const stoch = openStream(def('stoch'))
    const obv = openStream(def('obv'))
    const obvSma = openStream(def('sma'), { timePeriod: 20 })
    const bb = openStream(def('bbands'))
    const out = nans(2)
    const c1 = new Float64Array(1)
    const hlc = new Float64Array(3)
    const cv = new Float64Array(2)
    const one = new Float64Array(1)
    const threshold = p.adxThreshold
    return {
      out,
      update(x) {
        const high = x[0], low = x[1], close = x[2], volume = x[3]
        c1[0] = close
        hlc[0] = high
        hlc[1] = low
        hlc[2] = close
        cv[0] = close
        cv[1] = volume
        ema20.update(c1)
        ema50.update(c1)
        macd.update(c1)
        rsi.update(c1)
        adx.update(hlc)
        pdi.update(hlc)
        mdi.update(hlc)
        stoch.update(hlc)
        obv.update(cv)
        one[0] = obv.out[0]
        obvSma.update(one)
        bb.update(c1)
        const e50 = ema50.out[0]
        const votes = [
          sign(close - e50),
          sign(ema20.out[0] - e50),
          sign(macd.out[2]),
          rsi.out[0] > 55 ? 1 : rsi.out[0] < 45 ? -1 : rsi.out[0] >= 45 ? 0 : NaN,
          adx.out[0] > threshold ? sign(pdi.out[0] - mdi.out[0]) : adx.out[0] <= threshold ? 0 : NaN,
          sign(stoch.out[0] - stoch.out[1]),
          sign(obv.out[0] - obvSma.out[0]),
          sign(close - bb.out[1]),
        ]
        let sum = 0
        let active = 0
        let ready = true
        for (const v of votes) {
          if (!Number.isFinite(v)) ready = false
          sum += v
          if (v !== 0) active++
        }
        out[0] = ready ? sum / votes.length : NaN
        out[1] = ready ? active : NaN
      },
    }
  },
  reading: (out) => (out[0] >= 0.5 ? 'bullish' : out[0] <= -0.5 ? 'bearish' : 'neutral'),
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
    return batchFromStream(mtfAlignment, input, p)
  },
  stream(p): Stream {
    const base = p.baseMinutes * 60e6
    const tfs = [p.tf1Minutes * 60e6, p.tf2Minutes * 60e6]
    const emaDef = def('ema')
    const baseEma = openStream(emaDef, { timePeriod: p.timePeriod })
    const htf = tfs.map((step) => ({
      step,
      ema: openStream(emaDef, { timePeriod: p.timePeriod }),
      bucket: NaN,
      close: NaN,
      dir: NaN,
    }))
    const out = nans(4)
    const one = new Float64Array(1)
    const feed = (h: (typeof htf)[number]) => {
      one[0] = h.close
      h.ema.update(one)
      const e = h.ema.out[0]
      h.dir = Number.isFinite(e) ? (h.close > e ? 1 : h.close < e ? -1 : 0) : NaN
    }
    return {
      out,
      update(x) {
        const t = x[0], close = x[3]
        one[0] = close
        baseEma.update(one)
        const e = baseEma.out[0]
        const baseDir = Number.isFinite(e) ? (close > e ? 1 : close < e ? -1 : 0) : NaN
        for (const h of htf) {
          const bucket = Math.floor(t / h.step) * h.step
          // A bar in a later bucket closes the open one (there was a hole at its end)
          if (bucket !== h.bucket && Number.isFinite(h.bucket) && Number.isFinite(h.close)) {
            feed(h)
            h.close = NaN
          }
          h.bucket = bucket
          h.close = close
          // The bar that completes the bucket closes it now
          if (t + base === bucket + h.step) {
            feed(h)
            h.close = NaN
          }
        }
        out[1] = baseDir
        out[2] = htf[0].dir
        out[3] = htf[1].dir
        out[0] = Number.isFinite(baseDir) && Number.isFinite(htf[0].dir) && Number.isFinite(htf[1].dir)
          ? (baseDir + htf[0].dir + htf[1].dir) / 3
          : NaN
      },
    }
  },
  reading: (out) => (out[0] === 1 ? 'bullish' : out[0] === -1 ? 'bearish' : 'neutral'),
}

export const COMPOSITE: readonly IndicatorDef[] = [confluence, mtfAlignment]
