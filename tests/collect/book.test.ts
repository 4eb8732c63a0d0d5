import { describe, expect, it } from 'vitest'
import { OrderBook } from '../../src/lib/book/index.js'
import { parseCoinbaseL2Update, parseCoinbaseSnapshot } from '../../src/lib/exchanges/coinbase/index.js'
import { parseBinanceDepthSnapshot } from '../../src/lib/exchanges/binance/stream.js'
import { fixture } from './recordings.js'

describe('OrderBook', () => {
  it('keeps both ladders sorted with the best level first', () => {
    const b = new OrderBook()
    b.apply(
      [
        { price: 100, amount: 1 },
        { price: 102, amount: 2 },
        { price: 101, amount: 3 },
      ],
      [
        { price: 105, amount: 1 },
        { price: 103, amount: 2 },
        { price: 104, amount: 3 },
      ],
    )
    expect(b.top(10)).toEqual({
      bids: [
        { price: 102, amount: 2 },
        { price: 101, amount: 3 },
        { price: 100, amount: 1 },
      ],
      asks: [
        { price: 103, amount: 2 },
        { price: 104, amount: 3 },
        { price: 105, amount: 1 },
      ],
    })
    expect([b.bidPrice(), b.bidAmount(), b.askPrice(), b.askAmount(), b.mid()]).toEqual([102, 2, 103, 2, 102.5])
    expect([b.bidPrice(2), b.askPrice(2), b.bidPrice(3)]).toEqual([100, 105, undefined])
  })

  it('treats amounts as absolute: set replaces, 0 deletes, deleting an unknown level is a no-op', () => {
    const b = new OrderBook()
    b.set('bid', 10, 1)
    b.set('bid', 10, 4)
    expect(b.amountAt('bid', 10)).toBe(4)
    b.set('bid', 9, 0)
    expect(b.bidLevels).toBe(1)
    b.set('bid', 10, 0)
    expect(b.bidLevels).toBe(0)
    expect(b.amountAt('bid', 10)).toBeUndefined()
    expect(b.mid()).toBeUndefined()
  })

  it('deletes levels in the middle and at the top', () => {
    const b = new OrderBook()
    for (const p of [1, 2, 3, 4, 5]) b.set('ask', p, p * 10)
    b.set('ask', 3, 0)
    b.set('ask', 1, 0)
    expect(b.top(5).asks.map((l) => l.price)).toEqual([2, 4, 5])
  })

  it('detects a crossed (or locked) book', () => {
    const b = new OrderBook()
    b.set('bid', 100, 1)
    expect(b.isCrossed()).toBe(false)
    b.set('ask', 101, 1)
    expect(b.isCrossed()).toBe(false)
    b.set('bid', 101, 1)
    expect(b.isCrossed()).toBe(true)
    b.clear()
    expect([b.bidLevels, b.askLevels, b.isCrossed()]).toEqual([0, 0, false])
  })

  it('loads a real 1000-level futures snapshot in price order', () => {
    const f = fixture('binance', 'ws_depth_snapshot.json')[2]
    const s = parseBinanceDepthSnapshot(f.frame, 'binance-futures', 'KEEPUSDT', 0)
    const b = new OrderBook()
    b.apply(s.bids, s.asks)
    const sortedBids = [...s.bids].sort((x, y) => y.price - x.price)
    const sortedAsks = [...s.asks].sort((x, y) => x.price - y.price)
    expect(b.top(10_000)).toEqual({ bids: sortedBids, asks: sortedAsks })
    expect(b.isCrossed()).toBe(false)
  })

  it('applies a real Coinbase snapshot and updates', () => {
    const [snap, ...updates] = fixture('coinbase', 'ws_level2.json')
    const s = parseCoinbaseSnapshot(snap.frame, 0)
    const b = new OrderBook()
    b.apply(s.bids, s.asks)
    const before = b.askAmount()
    expect(b.askPrice()).toBe(0.5762)
    // SKL-GBP: the best ask 0.5762 shrinks from 2865.9 to 335.0
    const u = parseCoinbaseL2Update(updates[1].frame, 0)
    expect(u.symbol).toBe('SKL-GBP')
    b.apply(u.bids, u.asks)
    expect([before, b.askPrice(), b.askAmount()]).toEqual([2865.9, 0.5762, 335])
  })
})
