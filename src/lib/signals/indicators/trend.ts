// Moving averages and trend indicators
import { param, type IndicatorDef } from '../types.js'
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

export const TREND: readonly IndicatorDef[] = [sma]
