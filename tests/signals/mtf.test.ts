// Multi-timeframe values never look ahead: recomputing on every truncation of the history leaves every
// earlier value unchanged, including around holes in the data
import { describe, expect, it } from 'vitest'
import { computeSignals } from '../../src/lib/signals/compute.js'
import { runBatch } from '../../src/lib/signals/engine.js'
import { asOfIndex, joinAsOf, resample } from '../../src/lib/signals/mtf.js'
import { indicator } from '../../src/lib/signals/registry.js'
import { barOpen } from '../../src/lib/time.js'
import type { Columns } from '../../src/lib/signals/types.js'
import { realBars } from './data.js'

const MIN = 60e6

/** Real bars with rows removed (holes), first `n` rows kept. */
async function barsWithHoles(n: number, holes: (i: number) => boolean): Promise<Record<string, Float64Array>> {
  const all = await realBars(n)
  const keep = Array.from({ length: n }, (_, i) => i).filter((i) => !holes(i))
  return Object.fromEntries(Object.entries(all).map(([k, v]) => [k, Float64Array.from(keep, (i) => v[i])]))
}

function slice(cols: Columns, len: number): Record<string, Float64Array> {
  return Object.fromEntries(Object.entries(cols).map(([k, v]) => [k, v.subarray(0, len)]))
}

describe('resample', () => {
  it('matches a plain hourly aggregation of the real 1m bars and drops the unfinished last hour', async () => {
    const bars = await realBars(24 * 60 + 30)
    const r = resample(bars, '1m', '1h')
    expect(r.length).toBe(24)
    for (let h = 0; h < 24; h++) {
      const rows = Array.from({ length: 60 }, (_, m) => h * 60 + m)
      expect(r.open_time[h]).toBe(bars.open_time[h * 60])
      expect(r.end_time[h]).toBe(bars.open_time[h * 60] + 60 * MIN)
      expect(r.open[h]).toBe(bars.open[rows[0]])
      expect(r.close[h]).toBe(bars.close[rows[59]])
      expect(r.high[h]).toBe(Math.max(...rows.map((i) => bars.high[i])))
      expect(r.low[h]).toBe(Math.min(...rows.map((i) => bars.low[i])))
      expect(r.volume[h]).toBeCloseTo(rows.reduce((a, i) => a + bars.volume[i], 0), 6)
      expect(r.trades[h]).toBe(rows.reduce((a, i) => a + bars.trades[i], 0))
    }
  })

  it('closes a bucket with a hole at its end only when a later bar arrives', async () => {
    // Minutes 50-59 of the first hour are missing
    const bars = await barsWithHoles(120, (i) => i >= 50 && i < 60)
    expect(resample(slice(bars, 50), '1m', '1h').length).toBe(0)
    const r = resample(slice(bars, 51), '1m', '1h')
    expect(r.length).toBe(1)
    expect(r.rows[0]).toBe(50)
    // The first base bar that may see it is the one that closed it
    const idx = asOfIndex(bars.open_time.subarray(0, 51), MIN, r.end_time)
    expect(idx[49]).toBe(-1)
    expect(idx[50]).toBe(0)
    expect(joinAsOf(r.close, idx)[50]).toBe(bars.close[49])
  })
})

describe('no look-ahead on any truncation', () => {
  it('every series, on the base and higher timeframes, keeps its values when the history grows', async () => {
    const holes = (i: number) => (i >= 100 && i < 105) || i === 507 || (i >= 893 && i < 900)
    const bars = await barsWithHoles(1000, holes)
    const mtf = ['3m', '5m', '15m'] as const
    const full = computeSignals(bars, '1m', { mtf: [...mtf] })
    // Base-timeframe series are checked too: every indicator must be causal on its own
    const htf = full.series
    expect(htf.filter((s) => s.name.includes('@')).length).toBeGreaterThan(3 * 60)
    const n = bars.open_time.length
    let checked = 0
    for (let len = 1; len <= n; len++) {
      const part = computeSignals(slice(bars, len), '1m', { mtf: [...mtf] })
      const byName = new Map(part.series.map((s) => [s.name, s.values]))
      for (const s of htf) {
        const v = byName.get(s.name)
        if (!v) throw new Error(`${s.name} missing at length ${len}`)
        const a = v[len - 1]
        const b = s.values[len - 1]
        if (!(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)))) {
          throw new Error(`${s.name} at row ${len - 1}: ${a} with ${len} rows, ${b} with all ${n}`)
        }
        if (Number.isFinite(b)) checked++
      }
    }
    // Enough finite values were compared for the test to mean something
    expect(checked).toBeGreaterThan(50_000)
  }, 300_000)
})

describe('annualised volatility', () => {
  it('scales by the bars it runs on: 8760 periods a year on 1h bars, 2190 on their 4h timeframe, unless given', async () => {
    const h1 = resample(await realBars(60 * 24 * 5), '1m', '1h') as unknown as Columns
    const only = ['realized_vol', 'parkinson', 'yang_zhang']
    const r = computeSignals(h1, '1h', { only, mtf: ['4h'] })
    const h4 = resample(h1, '1h', '4h') as unknown as Columns
    for (const id of only) {
      const def = indicator(id)
      const base = runBatch(def, h1, { periodsPerYear: 8760 })[0]
      const series = r.series.find((s) => s.name === id)!
      expect(series.values).toEqual(base)
      // Far from the 1m default: sqrt(525600 / 8760) = 7.7 times larger
      expect(runBatch(def, h1)[0].at(-1)).toBeCloseTo(base.at(-1)! * Math.sqrt(60), 9)
      const htf = r.latest.find((l) => l.id === id && l.timeframe === '4h')!
      expect(htf.outputs[id]).toBe(runBatch(def, h4, { periodsPerYear: 2190 })[0].at(-1))
    }
    const given = computeSignals(h1, '1h', { only: ['realized_vol'], params: { realized_vol: { periodsPerYear: 525600 } } })
    expect(given.series[0].values).toEqual(runBatch(indicator('realized_vol'), h1)[0])
  })
})

describe('weekly buckets', () => {
  it('open on Monday 00:00 UTC, as Binance 1w klines, in batch resampling and in barOpen', async () => {
    // Real 1m bars from 2024-11-01, a Friday: the first bucket is the week from Monday 2024-10-28
    const bars = await realBars(60 * 24 * 20)
    const r = resample(bars, '1m', '1w')
    expect(r.length).toBeGreaterThan(0)
    for (let k = 0; k < r.length; k++) {
      expect(new Date(r.open_time[k] / 1000).getUTCDay()).toBe(1)
      expect(new Date(r.open_time[k] / 1000).getUTCHours()).toBe(0)
    }
    const thursday = Date.UTC(2024, 0, 4, 12) * 1000
    expect(barOpen(thursday, 7 * 24 * 3600e6)).toBe(Date.UTC(2024, 0, 1) * 1000)
    expect(barOpen(Date.UTC(2024, 0, 1) * 1000, 7 * 24 * 3600e6)).toBe(Date.UTC(2024, 0, 1) * 1000)
    expect(barOpen(Date.UTC(2024, 0, 7, 23, 59) * 1000, 7 * 24 * 3600e6)).toBe(Date.UTC(2024, 0, 1) * 1000)
    // Other steps stay whole multiples from the epoch
    expect(barOpen(thursday, 3600e6)).toBe(Date.UTC(2024, 0, 4, 12) * 1000)
    expect(barOpen(thursday, 3 * 24 * 3600e6) % (3 * 24 * 3600e6)).toBe(0)
  })
})
