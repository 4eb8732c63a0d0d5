// Momentum oscillators
import { param, type IndicatorDef } from '../types.js'
import { nans } from '../util.js'

/** TA-Lib's TA_IS_ZERO */
export const isZero = (v: number) => v > -0.00000001 && v < 0.00000001

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
    out[per] = isZero(gain + loss) ? 0 : (100 * gain) / (gain + loss)
    for (let i = per + 1; i < n; i++) {
      const d = x[i] - x[i - 1]
      gain *= per - 1
      loss *= per - 1
      if (d < 0) loss -= d
      else gain += d
      gain /= per
      loss /= per
      out[i] = isZero(gain + loss) ? 0 : (100 * gain) / (gain + loss)
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
              out[0] = isZero(gain + loss) ? 0 : (100 * gain) / (gain + loss)
            }
          } else {
            gain *= per - 1
            loss *= per - 1
            if (d < 0) loss -= d
            else gain += d
            gain /= per
            loss /= per
            out[0] = isZero(gain + loss) ? 0 : (100 * gain) / (gain + loss)
          }
        }
        prev = v
        i++
      },
    }
  },
  reading: (out) => (out[0] >= 70 ? 'bearish' : out[0] <= 30 ? 'bullish' : 'neutral'),
}

export const MOMENTUM: readonly IndicatorDef[] = [rsi]
