import { describe, expect, it } from 'vitest'
import { BinanceFeedAdapter, checkDepthOptions } from '../../src/lib/exchanges/binance/feed.js'
import { BinanceParseError } from '../../src/lib/exchanges/binance/parse.js'
import {
  BinanceStreamParseError,
  mapBinanceMessage,
  parseBinanceAggTradeMsg,
  parseBinanceBookTicker,
  parseBinanceDepthDiff,
  parseBinanceDepthSnapshot,
  parseBinanceForceOrder,
  parseBinanceHistoricalTrades,
  parseBinanceKline,
  parseBinanceMarkPrice,
  parseBinanceTrade,
  UnknownMessageError,
  type BinanceExchange,
} from '../../src/lib/exchanges/binance/stream.js'
import type { FeedControl, MarketRecord } from '../../src/lib/types.js'
import { fixture, type FixtureFrame } from './recordings.js'

const LT = 1_700_000_000_123_456

const ex = (f: FixtureFrame) => f.exchange as BinanceExchange
const data = (f: FixtureFrame) => (f.frame as { data: unknown }).data
const map = (f: FixtureFrame, lt = LT) => mapBinanceMessage(ex(f), f.frame, lt)
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T

/** Every fixture frame maps to one record of `type`, except those marked to emit nothing or to be controls. */
function mapsAll(name: string, type: MarketRecord['type']): void {
  for (const f of fixture('binance', name)) {
    const out = map(f)
    if (f.emitsNothing) expect(out, f.emitsNothing).toEqual([])
    else if (f.control) expect(out.map((r) => (r as FeedControl).event)).toEqual([f.control])
    else expect(out.map((r) => r.type), JSON.stringify(f.frame).slice(0, 120)).toEqual([type])
  }
}

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

describe('binance trades', () => {
  const frames = fixture('binance', 'ws_trade.json')

  it('maps every trade frame; the futures NA print emits nothing', () => mapsAll('ws_trade.json', 'trade'))

  it('parses a spot trade: m=true means the seller aggressed', () => {
    expect(map(frames[0])).toEqual([
      {
        type: 'trade',
        exchange: 'binance',
        symbol: 'BTCUSDT',
        timestamp: 1723161255342000,
        localTimestamp: LT,
        id: 3735683259,
        price: 61837.63,
        amount: 0.02,
        side: 'sell',
      },
    ])
    expect((map(frames[1])[0] as { side: string }).side).toBe('buy')
  })

  it('parses a futures trade (X=MARKET, no M)', () => {
    expect(parseBinanceTrade(data(frames[2]), 'binance-futures', LT)).toEqual({
      type: 'trade',
      exchange: 'binance-futures',
      symbol: 'BTCUSDT',
      timestamp: 1680652700452000,
      localTimestamp: LT,
      id: 3535186032,
      price: 28145.1,
      amount: 0.002,
      side: 'sell',
    })
    expect(parseBinanceTrade(data(frames[3]), 'binance-futures', LT)?.side).toBe('buy')
  })

  it('drops futures non-market prints', () => {
    expect(parseBinanceTrade(frames[5].frame, 'binance-futures', LT)).toBeUndefined()
  })

  it('keeps times already in µs (timeUnit=MICROSECOND) and converts ms', () => {
    const ms = data(frames[0]) as { T: number; E: number }
    const us = { ...ms, T: ms.T * 1000, E: ms.E * 1000 }
    expect(parseBinanceTrade(us, 'binance', LT)?.timestamp).toBe(1723161255342000)
    expect(parseBinanceTrade(ms, 'binance', LT)?.timestamp).toBe(1723161255342000)
  })
})

describe('binance aggTrades', () => {
  it('maps every aggTrade frame', () => mapsAll('ws_aggTrade.json', 'agg_trade'))

  it('parses a futures aggTrade', () => {
    const f = fixture('binance', 'ws_aggTrade.json')[0]
    expect(parseBinanceAggTradeMsg(data(f), 'binance-futures', LT)).toEqual({
      type: 'agg_trade',
      exchange: 'binance-futures',
      symbol: 'CTKUSDT',
      timestamp: 1626992741421000,
      localTimestamp: LT,
      id: 16599292,
      firstTradeId: 23961322,
      lastTradeId: 23961322,
      price: 1.011,
      amount: 10,
      side: 'buy',
    })
  })
})

describe('binance depth', () => {
  const frames = fixture('binance', 'ws_depth.json')

  it('maps every diff frame', () => mapsAll('ws_depth.json', 'book_change'))

  it('parses a spot diff: U/u, no pu, zero amounts kept as deletes', () => {
    expect(parseBinanceDepthDiff(data(frames[1]), 'binance', LT)).toEqual({
      type: 'book_change',
      exchange: 'binance',
      symbol: 'NKNUSDT',
      timestamp: 1633998512068000,
      localTimestamp: LT,
      isSnapshot: false,
      firstUpdateId: 499869750,
      lastUpdateId: 499869752,
      prevUpdateId: undefined,
      bids: [
        { price: 0.3513, amount: 6195 },
        { price: 0.3475, amount: 5548 },
        { price: 0.3464, amount: 6222 },
      ],
      asks: [],
    })
    const del = parseBinanceDepthDiff(data(frames[0]), 'binance', LT)
    expect(del.bids).toEqual([{ price: 55653.87, amount: 0 }])
  })

  it('parses a futures diff with pu', () => {
    const c = parseBinanceDepthDiff(data(frames[2]), 'binance-futures', LT)
    expect([c.firstUpdateId, c.lastUpdateId, c.prevUpdateId, c.timestamp]).toEqual([2710246765373, 2710246765597, 2710246765326, 1680652700594000])
    const ref = map(frames[5])[0]
    expect(ref).toMatchObject({ firstUpdateId: 157, lastUpdateId: 160, prevUpdateId: 149, symbol: 'BTCUSDT' })
  })

  it('rejects a futures diff without pu', () => {
    const d = clone(data(frames[2])) as Record<string, unknown>
    delete d.pu
    expect(() => parseBinanceDepthDiff(d, 'binance-futures', LT)).toThrow(/pu/)
  })

  it('throws UnknownMessageError for partial depth, which comes as depthUpdate on futures', () => {
    const f = clone(frames[2].frame) as { stream: string }
    f.stream = 'btcusdt@depth5@100ms'
    expect(thrown(() => mapBinanceMessage('binance-futures', f, LT))).toBeInstanceOf(UnknownMessageError)
  })
})

describe('binance depth snapshots', () => {
  const frames = fixture('binance', 'ws_depth_snapshot.json')

  it('parses a spot snapshot: no time, so timestamp is the receipt time', () => {
    const s = parseBinanceDepthSnapshot(frames[1].frame, 'binance', 'BNBBTC', LT)
    expect(s).toEqual({
      type: 'book_change',
      exchange: 'binance',
      symbol: 'BNBBTC',
      timestamp: LT,
      localTimestamp: LT,
      isSnapshot: true,
      firstUpdateId: 1027024,
      lastUpdateId: 1027024,
      prevUpdateId: undefined,
      bids: [{ price: 4, amount: 431 }],
      asks: [{ price: 4.000002, amount: 12 }],
    })
  })

  it('parses a futures snapshot with E', () => {
    const f = frames[2]
    const s = parseBinanceDepthSnapshot(f.frame, 'binance-futures', f.symbol as string, LT)
    expect(s.timestamp).toBe(1626992742018000)
    expect(s.lastUpdateId).toBe(600859619434)
    expect(s.bids.length).toBeGreaterThan(100)
    expect(s.bids[0]).toEqual({ price: 0.2463, amount: 631 })
  })
})

describe('binance bookTicker', () => {
  const [spot, fut] = fixture('binance', 'ws_bookTicker.json')

  it('detects spot bookTicker by its fields (no e, no E)', () => {
    expect(map(spot)).toEqual([
      {
        type: 'book_ticker',
        exchange: 'binance',
        symbol: 'BTCUSDT',
        timestamp: LT,
        localTimestamp: LT,
        updateId: 50093239212,
        bidPrice: 61837.63,
        bidAmount: 3.78826,
        askPrice: 61837.64,
        askAmount: 1.54698,
      },
    ])
    // The bare payload too (raw /ws/ connection)
    expect(mapBinanceMessage('binance', data(spot), LT)).toEqual(map(spot))
  })

  it('uses E on futures', () => {
    expect(parseBinanceBookTicker(data(fut), 'binance-futures', LT)).toMatchObject({ timestamp: 1680652700435000, updateId: 2710246762461 })
  })
})

describe('binance funding, liquidations, klines', () => {
  it('parses markPriceUpdate into Funding', () => {
    const [rec, ref] = fixture('binance', 'ws_markPrice.json')
    expect(map(rec)).toEqual([
      {
        type: 'funding',
        exchange: 'binance-futures',
        symbol: 'BTCUSDT',
        timestamp: 1680652701000000,
        localTimestamp: LT,
        fundingRate: 0.00002754,
        fundingTime: 1680652800000000,
        markPrice: 28147.27373413,
        indexPrice: 28159.75642857,
      },
    ])
    expect(parseBinanceMarkPrice(ref.frame, 'binance-futures', LT)).toMatchObject({ fundingRate: 0.00038167, fundingTime: 1562306400000000 })
  })

  it('parses forceOrder into a Liquidation at the average price and filled quantity', () => {
    const [f] = fixture('binance', 'ws_forceOrder.json')
    expect(map(f)).toEqual([
      {
        type: 'liquidation',
        exchange: 'binance-futures',
        symbol: 'BTCUSDT',
        timestamp: 1568014460893000,
        localTimestamp: LT,
        side: 'sell',
        price: 9910,
        amount: 0.014,
      },
    ])
    const unfilled = clone(f.frame) as { o: Record<string, string> }
    unfilled.o.ap = '0'
    unfilled.o.z = '0'
    unfilled.o.p = '9900'
    expect(parseBinanceForceOrder(unfilled, 'binance-futures', LT)).toMatchObject({ price: 9900, amount: 0.014 })
  })

  it('emits a Bar only for a closed kline', () => {
    mapsAll('ws_kline.json', 'bar')
    const [closed, open] = fixture('binance', 'ws_kline.json')
    expect(parseBinanceKline(data(closed), 'binance-futures', LT)).toEqual({
      type: 'bar',
      exchange: 'binance-futures',
      symbol: 'SUSHIUSDT',
      interval: '1m',
      timestamp: 1626992700000000,
      localTimestamp: LT,
      closeTime: 1626992759999999,
      open: 7.608,
      high: 7.618,
      low: 7.607,
      close: 7.617,
      volume: 3005,
      quoteVolume: 22875.859,
      trades: 113,
      takerBuyVolume: 1900,
      takerBuyQuoteVolume: 14464.696,
    })
    expect(parseBinanceKline(data(open), 'binance-futures', LT)).toBeUndefined()
  })
})

describe('binance control frames', () => {
  it('maps acks, shutdown notices and errors to FeedControl', () => {
    mapsAll('ws_control.json', 'trade')
    const [ack, shutdown, err] = fixture('binance', 'ws_control.json')
    expect(map(ack)).toEqual([{ type: 'control', event: 'ack', localTimestamp: LT, detail: 'id 1' }])
    expect(map(shutdown)).toEqual([{ type: 'control', event: 'shutdown', localTimestamp: LT, detail: 'serverShutdown' }])
    expect((map(err)[0] as FeedControl).detail).toBe('2 Invalid request: property name must be a string')
  })
})

describe('binance historical trades (REST)', () => {
  // Example row of GET /api/v3/historicalTrades from the Binance spot REST docs
  const rows = [{ id: 28457, price: '4.00000100', qty: '12.00000000', quoteQty: '48.000012', time: 1499865549590, isBuyerMaker: true, isBestMatch: true }]

  it('parses rows into trades', () => {
    expect(parseBinanceHistoricalTrades(rows, 'binance', 'BNBBTC', LT)).toEqual([
      { type: 'trade', exchange: 'binance', symbol: 'BNBBTC', timestamp: 1499865549590000, localTimestamp: LT, id: 28457, price: 4.000001, amount: 12, side: 'sell' },
    ])
  })

  it('rejects ids that do not increase', () => {
    expect(() => parseBinanceHistoricalTrades([rows[0], rows[0]], 'binance', 'BNBBTC', LT)).toThrow(BinanceStreamParseError)
  })
})

describe('binance malformed and unknown frames', () => {
  const trade = fixture('binance', 'ws_trade.json')[0].frame as { stream: string; data: Record<string, unknown> }

  it.each([
    ['price not a number', { p: 'abc' }],
    ['price NaN', { p: 'NaN' }],
    ['price Infinity', { p: 'Infinity' }],
    ['empty quantity', { q: '' }],
    ['negative quantity', { q: '-0.02' }],
    ['quantity as a number', { q: 0.02 }],
    ['missing trade id', { t: undefined }],
    ['m not a boolean', { m: 'true' }],
    ['negative time', { T: -1 }],
  ])('throws on %s with the whole frame attached', (_name, patch) => {
    const bad = clone(trade)
    Object.assign(bad.data, patch)
    const err = thrown(() => mapBinanceMessage('binance', bad, LT))
    expect(err).toBeInstanceOf(BinanceStreamParseError)
    expect(err).toBeInstanceOf(BinanceParseError)
    // The wrapper is attached, not just the payload
    expect((err as BinanceStreamParseError).frame).toContain('"stream":"btcusdt@trade"')
  })

  it('truncates the attached frame to 500 characters', () => {
    const snap = fixture('binance', 'ws_depth_snapshot.json')[2].frame as { bids: string[][] }
    const bad = clone(snap)
    bad.bids[200][1] = 'x'
    const err = thrown(() => parseBinanceDepthSnapshot(bad, 'binance-futures', 'KEEPUSDT', LT)) as BinanceStreamParseError
    expect(err).toBeInstanceOf(BinanceStreamParseError)
    expect(err.message).toMatch(/bids\[200\] quantity is not a decimal string/)
    expect(err.frame.length).toBe(500)
  })

  it.each([null, 42, 'text', [1, 2]])('throws on a frame that is not an object: %j', (frame) => {
    expect(() => mapBinanceMessage('binance', frame, LT)).toThrow(BinanceStreamParseError)
  })

  it('throws on a depth level that is not a pair', () => {
    const d = clone(fixture('binance', 'ws_depth.json')[0].frame) as { data: { b: unknown[] } }
    d.data.b = [['1.0']]
    expect(() => mapBinanceMessage('binance', d, LT)).toThrow(/b \(bids\)\[0\]/)
  })

  it('throws UnknownMessageError (not a parse error) for an unknown event type', () => {
    const unknown = clone(trade)
    unknown.data.e = '24hrMiniTicker'
    const err = thrown(() => mapBinanceMessage('binance', unknown, LT))
    expect(err).toBeInstanceOf(UnknownMessageError)
    expect(err).not.toBeInstanceOf(BinanceParseError)
    expect((err as Error).name).toBe('UnknownMessageError')
    expect((err as UnknownMessageError).kind).toBe('24hrMiniTicker')
    expect((err as UnknownMessageError).frame).toContain('24hrMiniTicker')
  })

  it('throws UnknownMessageError for an object with no e that is no known shape', () => {
    const snap = fixture('binance', 'ws_depth_snapshot.json')[0].frame
    expect(thrown(() => mapBinanceMessage('binance', snap, LT))).toBeInstanceOf(UnknownMessageError)
  })
})

describe('Binance feed subscriptions', () => {
  const urls = (exchange: BinanceExchange, depthSpeed: string) =>
    new BinanceFeedAdapter(exchange, { symbols: ['BTCUSDT'], channels: ['book'], wsUrl: 'ws://x', restUrl: 'http://x', depthSpeed })
      .connections()
      .map((c) => c.url())

  it("names the diff-depth stream at each market's speeds (the bare stream is the market's default speed)", () => {
    expect(urls('binance', '100ms')).toEqual(['ws://x/stream?streams=btcusdt@depth@100ms'])
    expect(urls('binance', '1000ms')).toEqual(['ws://x/stream?streams=btcusdt@depth'])
    expect(urls('binance-futures', '250ms')).toEqual(['ws://x/public/stream?streams=btcusdt@depth'])
    expect(urls('binance-futures', '500ms')).toEqual(['ws://x/public/stream?streams=btcusdt@depth@500ms'])
    expect(urls('binance-futures', '0ms')).toEqual(['ws://x/public/stream?streams=btcusdt@depth@0ms'])
  })

  it('refuses a speed or snapshot limit the market does not serve', () => {
    expect(() => checkDepthOptions('binance', '250ms', 1000)).toThrow(/Invalid --depth-speed: '250ms'/)
    expect(() => checkDepthOptions('binance-futures', '100ms', 5000)).toThrow(/Invalid --snapshot-limit: '5000'/)
    expect(() => checkDepthOptions('binance-futures', '100ms', 200)).toThrow(/one of 5, 10, 20, 50, 100, 500, 1000/)
    expect(() => checkDepthOptions('binance', '1000ms', 5000)).not.toThrow()
    expect(() => checkDepthOptions('binance-futures', '0ms', 1000)).not.toThrow()
  })
})
