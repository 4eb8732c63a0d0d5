import { describe, expect, it } from 'vitest'
import {
  CoinbaseParseError,
  isoToUs,
  mapCoinbaseMessage,
  parseCoinbaseAdvancedL2,
  parseCoinbaseL2Update,
  parseCoinbaseMatch,
  parseCoinbaseSnapshot,
  parseCoinbaseTicker,
} from '../../src/lib/exchanges/coinbase/index.js'
import type { BookChange, FeedControl, Trade } from '../../src/lib/types.js'
import { fixture } from './recordings.js'

const LT = 1_618_677_817_118_783
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T

describe('coinbase time', () => {
  it('keeps µs digits that Date.parse drops', () => {
    expect(isoToUs('2020-01-31T20:03:41.158814Z')).toBe(Date.parse('2020-01-31T20:03:41Z') * 1000 + 158814)
    expect(isoToUs('2019-08-14T20:42:27.265Z')).toBe(Date.parse('2019-08-14T20:42:27.265Z') * 1000)
    // ns digits (Advanced Trade) are truncated to µs
    expect(isoToUs('2023-02-09T20:32:50.714964855Z')).toBe(Date.parse('2023-02-09T20:32:50Z') * 1000 + 714964)
    expect(isoToUs('2023-02-09T20:32:50.7Z')).toBe(Date.parse('2023-02-09T20:32:50Z') * 1000 + 700000)
    expect(isoToUs('1970-01-01T00:00:00Z')).toBe(0)
    expect(isoToUs('2021-04-17T16:43:37.075687+00:00')).toBe(isoToUs('2021-04-17T16:43:37.075687Z'))
  })

  it.each(['', '2020-01-31', '2020-01-31T20:03:41', '2020-01-31 20:03:41.1Z', '2020-13-31T20:03:41Z', '2020-01-31T20:03:41.Z', '2020-01-31T20:03:41.1+02:00', '2023-06-23 20:31:56.121961769 +0000 UTC'])(
    'rejects %j',
    (s) => expect(isoToUs(s)).toBeUndefined(),
  )
})

describe('coinbase exchange feed: level2', () => {
  const frames = fixture('coinbase', 'ws_level2.json')

  it('maps every level2 frame to one BookChange', () => {
    for (const f of frames) expect(mapCoinbaseMessage(f.frame, LT).map((r) => r.type)).toEqual(['book_change'])
  })

  it('parses a snapshot (no time in 2021: timestamp is the receipt time; no sequence: ids undefined)', () => {
    const s = parseCoinbaseSnapshot(frames[0].frame, LT)
    expect(s).toMatchObject({
      type: 'book_change',
      exchange: 'coinbase',
      symbol: 'SKL-GBP',
      timestamp: LT,
      localTimestamp: LT,
      isSnapshot: true,
      firstUpdateId: undefined,
      lastUpdateId: undefined,
      prevUpdateId: undefined,
    })
    const raw = frames[0].frame as { bids: string[][]; asks: string[][] }
    expect(s.bids.length).toBe(raw.bids.length)
    expect(s.asks[0]).toEqual({ price: 0.5762, amount: 2865.9 })
  })

  it('parses l2update: sell changes are asks, buy changes bids, 0 deletes, µs time', () => {
    expect(parseCoinbaseL2Update(frames[1].frame, LT)).toEqual({
      type: 'book_change',
      exchange: 'coinbase',
      symbol: 'SKL-BTC',
      timestamp: isoToUs('2021-04-17T16:43:37.075687Z'),
      localTimestamp: LT,
      isSnapshot: false,
      firstUpdateId: undefined,
      lastUpdateId: undefined,
      prevUpdateId: undefined,
      bids: [],
      asks: [{ price: 0.00001306, amount: 660.5 }],
    })
    expect(parseCoinbaseL2Update(frames[4].frame, LT).bids).toEqual([{ price: 0.7885, amount: 0 }])
    expect(parseCoinbaseL2Update(frames[5].frame, LT).bids).toEqual([{ price: 0.00001303, amount: 5500 }])
  })

  it('throws with the frame attached on malformed changes', () => {
    const bad = clone(frames[1].frame) as { changes: string[][] }
    bad.changes[0][0] = 'bid'
    expect(() => mapCoinbaseMessage(bad, LT)).toThrow(CoinbaseParseError)
    bad.changes[0][0] = 'sell'
    bad.changes[0][1] = 'NaN'
    let err: unknown
    try {
      mapCoinbaseMessage(bad, LT)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(CoinbaseParseError)
    expect((err as CoinbaseParseError).frame).toContain('"product_id":"SKL-BTC"')
    const noTime = clone(frames[1].frame) as Record<string, unknown>
    noTime.time = '2021-04-17'
    expect(() => mapCoinbaseMessage(noTime, LT)).toThrow(/time is not an ISO-8601 UTC time/)
  })
})

describe('coinbase exchange feed: matches and tickers', () => {
  const frames = fixture('coinbase', 'ws_matches.json')

  it('parses a match: side is the maker side, so a sell maker means a buy aggressor', () => {
    expect(mapCoinbaseMessage(frames[0].frame, LT)).toEqual([
      {
        type: 'trade',
        exchange: 'coinbase',
        symbol: 'SKL-BTC',
        timestamp: isoToUs('2021-04-17T16:43:37.089723Z'),
        localTimestamp: LT,
        id: 280232,
        price: 0.00001305,
        amount: 985,
        side: 'buy',
      },
    ])
    expect(parseCoinbaseMatch(frames[1].frame, LT).side).toBe('sell')
    expect(parseCoinbaseMatch(frames[3].frame, LT)).toMatchObject({ id: 82047307, side: 'buy', timestamp: isoToUs('2020-01-31T20:03:41.158814Z') })
  })

  it('emits last_match as a trade', () => {
    expect(mapCoinbaseMessage(frames[2].frame, LT)).toMatchObject([{ type: 'trade', id: 881613, side: 'buy', symbol: 'BAND-GBP' }])
  })

  it('agrees with the ticker of the same trade, whose side is the taker side', () => {
    const [ticker, match] = fixture('coinbase', 'ws_ticker.json')
    const t = ticker.frame as { side: string; trade_id: number }
    const trade = mapCoinbaseMessage(match.frame, LT)[0] as Trade
    expect(trade.id).toBe(t.trade_id)
    expect(trade.side).toBe(t.side)
  })

  it('emits nothing for a ticker without best bid/ask sizes', () => {
    const [ticker] = fixture('coinbase', 'ws_ticker.json')
    expect(mapCoinbaseMessage(ticker.frame, LT), ticker.emitsNothing).toEqual([])
  })

  it('makes a BookTicker when the ticker carries sizes (current feed)', () => {
    const [ticker] = fixture('coinbase', 'ws_ticker.json')
    // The current feed adds best_bid_size/best_ask_size to the same message
    const withSizes = { ...(ticker.frame as object), best_bid_size: '1.5', best_ask_size: '2' }
    expect(parseCoinbaseTicker(withSizes, LT)).toEqual({
      type: 'book_ticker',
      exchange: 'coinbase',
      symbol: 'NMR-EUR',
      timestamp: isoToUs('2021-04-17T16:43:37.531550Z'),
      localTimestamp: LT,
      updateId: 471056971,
      bidPrice: 66.9082,
      bidAmount: 1.5,
      askPrice: 67.021,
      askAmount: 2,
    })
  })

  it('rejects a match whose side is neither buy nor sell', () => {
    const bad = clone(frames[0].frame) as Record<string, unknown>
    bad.side = 'BUY'
    expect(() => mapCoinbaseMessage(bad, LT)).toThrow(CoinbaseParseError)
  })
})

describe('coinbase control frames', () => {
  it('maps subscriptions, heartbeats and errors; ignores unknown types', () => {
    for (const f of fixture('coinbase', 'ws_control.json')) {
      const out = mapCoinbaseMessage(f.frame, LT)
      if (f.emitsNothing) expect(out, f.emitsNothing).toEqual([])
      else expect(out.map((r) => (r as FeedControl).event)).toEqual([f.control])
    }
    const [, hb, err] = fixture('coinbase', 'ws_control.json')
    // A per-product sequence must not look like a connection-wide one
    expect((mapCoinbaseMessage(hb.frame, LT)[0] as FeedControl).sequence).toBeUndefined()
    expect((mapCoinbaseMessage(err.frame, LT)[0] as FeedControl).detail).toBe('Authentication Failed: {"message":"Invalid API Key"}')
  })

  it.each([null, 1, 'x', []])('throws on a frame that is not an object: %j', (frame) => {
    expect(() => mapCoinbaseMessage(frame, LT)).toThrow(CoinbaseParseError)
  })
})

describe('coinbase advanced trade', () => {
  const [l2Snapshot, l2Update, trades, heartbeats, badTrades] = fixture('coinbase', 'ws_advanced.json')

  it('parses l2_data: offer is ask, sequence_num as both ids, publish time as timestamp', () => {
    expect(mapCoinbaseMessage(l2Snapshot.frame, LT)).toEqual([
      {
        type: 'book_change',
        exchange: 'coinbase',
        symbol: 'BTC-USD',
        timestamp: isoToUs('2023-02-09T20:32:50.714964Z'),
        localTimestamp: LT,
        isSnapshot: true,
        firstUpdateId: 0,
        lastUpdateId: 0,
        prevUpdateId: undefined,
        bids: [
          { price: 21921.73, amount: 0.06317902 },
          { price: 21921.3, amount: 0.02 },
        ],
        asks: [],
      },
    ])
    const u = parseCoinbaseAdvancedL2(l2Update.frame, LT)
    expect(u).toHaveLength(1)
    expect(u[0]).toMatchObject({ isSnapshot: false, firstUpdateId: 1, lastUpdateId: 1, bids: [{ price: 21921.73, amount: 0.06317902 }] })
  })

  it('parses market_trades: side is the taker side, numeric string ids become numbers', () => {
    expect(mapCoinbaseMessage(trades.frame, LT)).toEqual([
      {
        type: 'trade',
        exchange: 'coinbase',
        symbol: 'ETH-USD',
        timestamp: isoToUs('2019-08-14T20:42:27.265Z'),
        localTimestamp: LT,
        id: 0,
        price: 1260.01,
        amount: 0.3,
        side: 'buy',
      },
    ])
  })

  it('throws on a non-numeric trade id', () => {
    expect(() => mapCoinbaseMessage(badTrades.frame, LT), badTrades.throws).toThrow(/trade_id is not numeric/)
  })

  it('maps heartbeats to a FeedControl carrying sequence_num', () => {
    expect(mapCoinbaseMessage(heartbeats.frame, LT)).toEqual([{ type: 'control', event: 'heartbeat', localTimestamp: LT, sequence: 0 }])
  })

  it('ignores unknown channels and rejects bad l2 sides', () => {
    const other = { ...(heartbeats.frame as object), channel: 'candles' }
    expect(mapCoinbaseMessage(other, LT)).toEqual([])
    const bad = clone(l2Update.frame) as { events: { updates: { side: string }[] }[] }
    bad.events[0].updates[0].side = 'ask'
    expect(() => mapCoinbaseMessage(bad, LT)).toThrow(/side is not bid or offer/)
  })

  it('keeps records of one frame on the same sequence', () => {
    const two = clone(l2Update.frame) as { events: unknown[] }
    two.events.push(two.events[0])
    const out = mapCoinbaseMessage(two, LT) as BookChange[]
    expect(out.map((c) => c.lastUpdateId)).toEqual([1, 1])
  })
})
