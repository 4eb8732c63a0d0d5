// The in-process bus and the contract both transports share: channel names, glob patterns, `createBus` specs

import { describe, expect, it, vi } from 'vitest'
import { channelFor, compilePattern, createBus, decodeRecord, encodeRecord, MemoryBus } from '../../src/lib/bus/index.js'
import { UsageError } from '../../src/lib/errors.js'
import * as log from '../../src/lib/log.js'
import type { MarketRecord, Trade } from '../../src/lib/types.js'

const T0 = Date.UTC(2024, 7, 8, 23, 55) * 1000

function trade(id: number, symbol = 'BTCUSDT'): Trade {
  return { type: 'trade', exchange: 'binance', symbol, id, timestamp: T0 + id, localTimestamp: T0 + id + 900, price: 60000.01, amount: 0.0015, side: 'buy' }
}

const base = { exchange: 'binance', symbol: 'BTCUSDT', timestamp: T0, localTimestamp: T0 + 1 } as const
const ONE_OF_EACH: MarketRecord[] = [
  trade(1),
  { ...base, type: 'agg_trade', id: 7, firstTradeId: 10, lastTradeId: 12, price: 1, amount: 2, side: 'sell' },
  { ...base, type: 'book_change', isSnapshot: false, firstUpdateId: 1, lastUpdateId: 2, prevUpdateId: undefined, bids: [], asks: [] },
  { ...base, type: 'book_snapshot', depth: 5, bids: [], asks: [] },
  { ...base, type: 'book_ticker', updateId: 9, bidPrice: 1, bidAmount: 1, askPrice: 2, askAmount: 1 },
  {
    ...base, type: 'bar', interval: '1m', closeTime: T0 + 59_999_999, open: 1, high: 2, low: 0.5, close: 1.5, volume: 3,
    quoteVolume: undefined, trades: undefined, takerBuyVolume: undefined, takerBuyQuoteVolume: undefined,
  },
  { ...base, exchange: 'binance-futures', type: 'funding', fundingRate: 0.0001, fundingTime: undefined, markPrice: 1, indexPrice: undefined },
  { ...base, exchange: 'binance-futures', type: 'liquidation', side: 'sell', price: 1, amount: 1 },
  { ...base, exchange: 'binance-futures', type: 'open_interest', openInterest: 5, openInterestValue: undefined },
  { ...base, exchange: 'coinbase', symbol: 'BTC-USD', type: 'integrity', kind: 'gap', stream: 'trades', from: 1, to: 3, detail: 'ids 2..2 missing' },
]

describe('channelFor', () => {
  it('names one channel per stream, exchange and native symbol', () => {
    expect(ONE_OF_EACH.map(channelFor)).toEqual([
      'market.trades.binance.BTCUSDT',
      'market.trades.binance.BTCUSDT',
      'market.depth.binance.BTCUSDT',
      'market.book.binance.BTCUSDT',
      'market.ticker.binance.BTCUSDT',
      'market.bars.binance.BTCUSDT',
      'market.funding.binance-futures.BTCUSDT',
      'market.liquidations.binance-futures.BTCUSDT',
      'market.oi.binance-futures.BTCUSDT',
      'market.integrity.coinbase.BTC-USD',
    ])
  })
})

describe('compilePattern (Redis glob rules)', () => {
  const cases: [string, string, boolean][] = [
    ['market.trades.binance.BTCUSDT', 'market.trades.binance.BTCUSDT', true],
    ['market.trades.binance.BTCUSDT', 'market.trades.binance.BTCUSDTX', false],
    ['market.trades.*', 'market.trades.binance.BTCUSDT', true],
    ['market.trades.*', 'market.depth.binance.BTCUSDT', false],
    ['*', 'anything at all', true],
    ['market.*.coinbase.*', 'market.integrity.coinbase.BTC-USD', true],
    ['market.*.coinbase.*', 'market.integrity.binance.BTCUSDT', false],
    ['market.?epth.*', 'market.depth.binance.BTCUSDT', true],
    ['market.[bt]*', 'market.book.binance.BTCUSDT', true],
    ['market.[bt]*', 'market.depth.binance.BTCUSDT', false],
    ['market.[^bt]*', 'market.depth.binance.BTCUSDT', true],
    ['market.[a-c]ook.*', 'market.book.x.y', true],
    ['market.trades.binance.BTC\\*', 'market.trades.binance.BTC*', true],
    ['market.trades.binance.BTC\\*', 'market.trades.binance.BTCUSDT', false],
    // Dots and regex characters in a pattern are literal
    ['market.trades.binance-futures.(BTC)+', 'market.trades.binance-futures.(BTC)+', true],
    ['market.trades.binance.BTC.USD', 'market.trades.binance.BTCXUSD', false],
  ]
  it.each(cases)('%s ~ %s → %s', (pattern, channel, expected) => {
    expect(compilePattern(pattern)(channel)).toBe(expected)
  })
})

describe('record encoding', () => {
  it('round-trips every record type exactly, undefined fields included', () => {
    for (const r of ONE_OF_EACH) expect(decodeRecord(encodeRecord(r))).toStrictEqual(r)
  })
  it('refuses payloads that are not records', () => {
    expect(() => decodeRecord('{"type":"nope","exchange":"binance","symbol":"X"}')).toThrow(/not a market record/)
    expect(() => decodeRecord('null')).toThrow(/not a market record/)
    expect(() => decodeRecord('{oops')).toThrow()
  })
})

describe('MemoryBus', () => {
  it('fans out synchronously to every matching subscription', async () => {
    const bus = await createBus('memory')
    expect(bus.kind).toBe('memory')
    const got: Record<string, string[]> = { trades: [], all: [], futures: [], exact: [] }
    await bus.subscribe('market.trades.*', (ch) => got.trades.push(ch))
    await bus.subscribe('*', (ch) => got.all.push(ch))
    await bus.subscribe('market.*.binance-futures.*', (ch) => got.futures.push(ch))
    await bus.subscribe('market.book.binance.BTCUSDT', (ch) => got.exact.push(ch))
    for (const r of ONE_OF_EACH) bus.publish(r)
    // No await between publish and the checks: delivery happened inside publish
    expect(got.all).toEqual(ONE_OF_EACH.map(channelFor))
    expect(got.trades).toEqual(['market.trades.binance.BTCUSDT', 'market.trades.binance.BTCUSDT'])
    expect(got.futures).toHaveLength(3)
    expect(got.exact).toEqual(['market.book.binance.BTCUSDT'])
    expect(bus.backlog()).toBe(0)
    await bus.flush()
    expect(bus.stats()).toMatchObject({ published: 10, sent: 10, delivered: 10 + 2 + 3 + 1, dropped: 0, handlerErrors: 0, connected: true })
    await bus.close()
  })

  it('hands subscribers the record itself', async () => {
    const bus = new MemoryBus()
    const seen: MarketRecord[] = []
    await bus.subscribe('*', (_ch, r) => seen.push(r))
    const r = trade(5)
    bus.publish(r)
    expect(seen[0]).toBe(r)
  })

  it('keeps a throwing handler away from the publisher and the other handlers', async () => {
    const bus = new MemoryBus()
    const warn = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    log.setLogLevel('warn')
    try {
      const got: number[] = []
      await bus.subscribe('market.trades.*', () => {
        throw new Error('consumer bug')
      })
      await bus.subscribe('market.trades.*', (_ch, r) => got.push((r as Trade).id))
      for (let i = 1; i <= 50; i++) expect(() => bus.publish(trade(i))).not.toThrow()
      expect(got).toHaveLength(50)
      expect(bus.stats().handlerErrors).toBe(50)
      // Logged, but not once per record
      const lines = warn.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('consumer bug'))
      expect(lines.length).toBeGreaterThan(0)
      expect(lines.length).toBeLessThanOrEqual(10)
      expect(lines[0]).toMatch(/^mercury:bus warn: handler for 'market.trades.\*' threw/)
    } finally {
      warn.mockRestore()
      log.setLogLevel((process.env.MERCURY_LOG_LEVEL as log.LogLevel) ?? 'warn')
    }
  })

  it('unsubscribes, also from inside a handler during a fan-out', async () => {
    const bus = new MemoryBus()
    const got: string[] = []
    const offA = await bus.subscribe('*', () => {
      got.push('a')
      void offA()
    })
    await bus.subscribe('*', () => got.push('b'))
    bus.publish(trade(1))
    bus.publish(trade(2))
    expect(got).toEqual(['a', 'b', 'b'])
    // Unsubscribing twice is harmless
    await offA()
  })

  it('drops and counts what is published after close', async () => {
    const bus = new MemoryBus()
    let n = 0
    await bus.subscribe('*', () => n++)
    await bus.close()
    bus.publish(trade(1))
    expect(n).toBe(0)
    expect(bus.stats()).toMatchObject({ published: 1, dropped: 1, connected: false })
  })
})

describe('createBus specs', () => {
  it('rejects a spec that is neither memory nor redis with the flag and the expected form', async () => {
    await expect(createBus('x')).rejects.toThrow(new UsageError("Invalid --bus: 'x'. Expected memory or redis://host:port"))
    await expect(createBus('http://127.0.0.1:6379')).rejects.toBeInstanceOf(UsageError)
    await expect(createBus('kafka://broker:9092')).rejects.toThrow(/^Invalid --bus: 'kafka:\/\/broker:9092'. Expected memory or redis:\/\/host:port$/)
  })

  it('never echoes a password from a malformed URL', async () => {
    for (const spec of [
      'redis://:hunter2secret@127.0.0.1:99999',
      'redis://user:hunter2secret@127.0.0.1:6379/notadb',
      'redis://:hunter2secret@127.0.0.1:6379?mode=kafka',
      'redis://:hunter2secret@127.0.0.1:6379?maxlen=-1',
      'redis://:hunter2secret@127.0.0.1:6379?password=x',
      'redis://:hunter2secret@',
      'redis//:hunter2secret@host',
    ]) {
      const err = await createBus(spec).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err, spec).toBeInstanceOf(UsageError)
      expect((err as Error).message, spec).not.toContain('hunter2secret')
      expect((err as Error).message, spec).toMatch(/^Invalid --bus: '.*\*\*\*.*'.* Expected /)
    }
  })

  it('names what is wrong in a redis URL', async () => {
    await expect(createBus('redis://127.0.0.1:6379/db1')).rejects.toThrow(/has database 'db1'. Expected .*\[\/db\] with a numeric db/)
    await expect(createBus('redis://127.0.0.1:6379?mode=kafka')).rejects.toThrow(/has mode 'kafka'. Expected mode=pubsub or mode=streams/)
    await expect(createBus('redis://127.0.0.1:6379?maxlen=0')).rejects.toThrow(/has maxlen '0'. Expected maxlen as a positive integer/)
    await expect(createBus('redis://127.0.0.1:6379?foo=1', { flag: 'MERCURY_BUS' })).rejects.toThrow(/^Invalid MERCURY_BUS: .* has unknown parameter 'foo'/)
  })
})
