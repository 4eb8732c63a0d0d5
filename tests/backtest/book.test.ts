// Slippage from the order book: half-spread plus the depth walk, on the real BTCUSDT spot top-20 book of
// 2024-08-08 23:54-00:00 UTC with the real 1m bars of the same minutes (tests/fixtures)
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { marketDataFromColumns, simulate, type MarketData } from '../../src/lib/backtest/engine.js'
import type { BookSeries } from '../../src/lib/backtest/data.js'
import { FIXTURES } from '../helpers.js'
import { script } from './synthetic.js'

const BOOK = join(FIXTURES, 'signals', 'btcusdt-spot-book20-1s-20240808.csv.gz')
const BARS = join(FIXTURES, 'binance', 'BTCUSDT-1m-2024-08-08T2350.csv')

/** As a perpetual, so the sell side can go short */
function realData(): { data: MarketData; book: BookSeries } {
  const rows = readFileSync(BARS, 'utf8').trim().split('\n').map((l) => l.split(',').map(Number))
  const bars = {
    open_time: Float64Array.from(rows, (r) => r[0] * 1000),
    open: Float64Array.from(rows, (r) => r[1]),
    high: Float64Array.from(rows, (r) => r[2]),
    low: Float64Array.from(rows, (r) => r[3]),
    close: Float64Array.from(rows, (r) => r[4]),
    volume: Float64Array.from(rows, (r) => r[5]),
  }
  const lines = gunzipSync(readFileSync(BOOK)).toString('utf8').trim().split('\n')
  const snaps = lines.slice(1).map((l) => l.split(',').map(Number))
  const L = 20
  const n = snaps.length
  const level = (f: (s: number[], k: number) => number) => Float64Array.from({ length: n * L }, (_, j) => f(snaps[Math.floor(j / L)], j % L))
  const book: BookSeries = {
    time: Float64Array.from(snaps, (s) => s[0]),
    offset: Int32Array.from({ length: n + 1 }, (_, i) => i * L),
    bidPrice: level((s, k) => s[1 + 4 * k]),
    bidAmount: level((s, k) => s[2 + 4 * k]),
    askPrice: level((s, k) => s[3 + 4 * k]),
    askAmount: level((s, k) => s[4 + 4 * k]),
  }
  const data = marketDataFromColumns('1m', [{ instrument: { exchange: 'binance', symbol: 'BTCUSDT' }, market: 'perp', bars, book }])
  return { data, book }
}

describe('book slippage', () => {
  it('walks the newest snapshot at the fill: price = open × (VWAP of the walk / mid)', () => {
    const { data, book } = realData()
    // Decide at the 23:54 bar's close; the fill is at 23:55's open
    const i = data.time.indexOf(Date.UTC(2024, 7, 8, 23, 54) * 1000)
    const qty = 1.5
    for (const side of ['buy', 'sell'] as const) {
      const r = simulate(
        data,
        script({ [i]: (c) => c.order({ instrument: c.instruments[0], side, type: 'market', qty }) }),
        { capital: 1_000_000, fees: { maker: 0, taker: 0 }, slippage: { kind: 'book', fallbackBps: 1 }, checkInvariant: true },
      )
      const f = r.fills[0]
      expect(f.qty).toBe(qty)
      const t = data.time[i + 1]
      expect(f.time).toBe(t)
      // By hand: the last snapshot at or before t
      let s = 0
      while (s + 1 < book.time.length && book.time[s + 1] <= t) s++
      const a = book.offset[s]
      const mid = (book.bidPrice[a] + book.askPrice[a]) / 2
      const px = side === 'buy' ? book.askPrice : book.bidPrice
      const amt = side === 'buy' ? book.askAmount : book.bidAmount
      let left = qty
      let cost = 0
      for (let k = a; left > 0 && k < book.offset[s + 1]; k++) {
        const take = Math.min(left, amt[k])
        cost += take * px[k]
        left -= take
      }
      expect(left, 'the top 20 levels hold the order').toBe(0)
      const open = data.instruments[0].open[i + 1]
      expect(f.price).toBeCloseTo(open * (cost / qty / mid), 6)
      expect(side === 'buy' ? f.price > open : f.price < open).toBe(true)
      expect(f.slippage).toBeCloseTo(Math.abs(f.price - open) * qty, 6)
    }
  })

  it('falls back to bps where no snapshot is recent enough', () => {
    const { data } = realData()
    // 23:50's close: the book starts at 23:54:16, so the 23:51 fill has none
    const r = simulate(
      data,
      script({ 0: (c) => c.order({ instrument: c.instruments[0], side: 'buy', type: 'market', qty: 1 }) }),
      { fees: { maker: 0, taker: 0 }, slippage: { kind: 'book', fallbackBps: 2 } },
    )
    expect(r.fills[0].price).toBeCloseTo(data.instruments[0].open[1] * 1.0002, 9)
    expect(r.settings?.slippage).toBe('book')
  })
})
