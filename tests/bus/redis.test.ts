// The Redis bus against a real redis-server (the one scripts/test.sh starts): exact round trips, glob patterns that
// agree with the in-process matcher, ordering under load, the bounded backlog, a killed connection, streams mode and
// password redaction. Channels carry a per-run tag so parallel runs on one server never see each other.

import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest'
import { channelFor, compilePattern, createBus, RedisBus, type Bus } from '../../src/lib/bus/index.js'
import { FatalError, RetryableError } from '../../src/lib/errors.js'
import * as log from '../../src/lib/log.js'
import type { MarketRecord, Trade } from '../../src/lib/types.js'
import { redisTestUrl } from '../helpers.js'

const REDIS = await redisTestUrl()
const TAG = randomBytes(4).toString('hex').toUpperCase()
const SYM = `BTCUSDT${TAG}`
const CB = `BTC-USD${TAG}`
const T0 = 1_723_161_300_123_456

function trade(id: number, symbol = SYM): Trade {
  return {
    type: 'trade', exchange: 'binance', symbol, id, timestamp: T0 + id * 1000, localTimestamp: T0 + id * 1000 + 873,
    price: 60000 + id / 100, amount: 0.001 * id, side: id % 2 ? 'buy' : 'sell',
  }
}

// Values chosen to break a lossy encoding: shortest-round-trip floats, 2^53 - 1, tiny and negative numbers, µs times
const EVERY_TYPE: MarketRecord[] = [
  { type: 'trade', exchange: 'binance', symbol: SYM, id: Number.MAX_SAFE_INTEGER, timestamp: T0, localTimestamp: T0 + 1, price: 0.1 + 0.2, amount: 1e-8, side: 'unknown' },
  { type: 'agg_trade', exchange: 'binance', symbol: SYM, id: 3_000_000_001, firstTradeId: 3_500_000_000, lastTradeId: 3_500_000_007, timestamp: T0, localTimestamp: T0 + 2, price: 61234.56789012345, amount: 123.456, side: 'sell' },
  {
    type: 'bar', exchange: 'binance', symbol: SYM, interval: '1m', timestamp: T0, localTimestamp: T0 + 59_999_999, closeTime: T0 + 59_999_999,
    open: 60000.01, high: 60100.99, low: 59999.5, close: 60050, volume: 12.345678, quoteVolume: 741234.5678, trades: 812, takerBuyVolume: undefined, takerBuyQuoteVolume: undefined,
  },
  {
    type: 'book_change', exchange: 'binance', symbol: SYM, timestamp: T0, localTimestamp: T0 + 3, isSnapshot: false, firstUpdateId: 40_000_000_001,
    lastUpdateId: 40_000_000_009, prevUpdateId: undefined, bids: [{ price: 60000.01, amount: 0 }, { price: 59999.99, amount: 1.23456789 }], asks: [{ price: 60000.02, amount: 0.5 }],
  },
  {
    type: 'book_snapshot', exchange: 'coinbase', symbol: CB, timestamp: T0, localTimestamp: T0 + 4, depth: 2,
    bids: [{ price: 60000.01, amount: 2 }, { price: 60000, amount: 3 }], asks: [{ price: 60000.02, amount: 0.1 }, { price: 60000.5, amount: 7 }],
  },
  { type: 'funding', exchange: 'binance-futures', symbol: SYM, timestamp: T0, localTimestamp: T0 + 5, fundingRate: -0.000125, fundingTime: T0 + 3_600_000_000, markPrice: 60001.12345678, indexPrice: undefined },
  { type: 'liquidation', exchange: 'binance-futures', symbol: SYM, timestamp: T0, localTimestamp: T0 + 6, side: 'sell', price: 59000.1, amount: 0.014 },
  { type: 'open_interest', exchange: 'binance-futures', symbol: SYM, timestamp: T0, localTimestamp: T0 + 7, openInterest: 81234.567, openInterestValue: undefined },
  { type: 'book_ticker', exchange: 'binance', symbol: SYM, timestamp: T0, localTimestamp: T0 + 8, updateId: undefined, bidPrice: 60000.01, bidAmount: 1.5, askPrice: 60000.02, askAmount: 0.25 },
  { type: 'integrity', exchange: 'coinbase', symbol: CB, timestamp: T0, localTimestamp: T0 + 9, kind: 'gap', stream: 'trades', from: 101, to: undefined, detail: 'sequence 101 → 250: 148 missing' },
]

let admin: Redis
const opened: Bus[] = []

async function bus(spec = REDIS as string, o: Parameters<typeof createBus>[1] = {}): Promise<Bus> {
  const b = await createBus(spec, o)
  opened.push(b)
  return b
}

/** Kills this bus's connections with the given role suffix (`pub`, `sub`) as an admin would. */
async function kill(clientName: string, role: string): Promise<number> {
  const list = (await admin.client('LIST')) as string
  const ids = list
    .split('\n')
    .filter((l) => l.includes(` name=${clientName}-${role} `))
    .map((l) => /(?:^|\s)id=(\d+)/.exec(l)?.[1])
  for (const id of ids) await admin.client('KILL', 'ID', id as string)
  return ids.length
}

describe.skipIf(!REDIS)('RedisBus (real redis-server)', () => {
  beforeAll(async () => {
    admin = new Redis(REDIS as string)
  })
  afterEach(async () => {
    while (opened.length) await opened.pop()!.close()
  })
  afterAll(async () => {
    const keys = await admin.keys(`*${TAG}*`)
    if (keys.length) await admin.del(...keys)
    admin.disconnect()
  })

  it('round-trips every record type exactly over pub/sub', async () => {
    const b = await bus()
    expect(b.kind).toBe('redis')
    const got: [string, MarketRecord][] = []
    await b.subscribe(`market.*${TAG}`, (ch, r) => got.push([ch, r]))
    for (const r of EVERY_TYPE) b.publish(r)
    await b.flush()
    await vi.waitFor(() => expect(got).toHaveLength(EVERY_TYPE.length))
    expect(got.map(([ch]) => ch)).toEqual(EVERY_TYPE.map(channelFor))
    for (let i = 0; i < EVERY_TYPE.length; i++) expect(got[i][1]).toStrictEqual(EVERY_TYPE[i])
    // The wire payload is the record's JSON, readable by any client
    const raw = new Redis(REDIS as string)
    const payloads: string[] = []
    raw.on('message', (_ch: string, m: string) => payloads.push(m))
    await raw.subscribe(channelFor(EVERY_TYPE[0]))
    b.publish(EVERY_TYPE[0])
    await vi.waitFor(() => expect(payloads).toHaveLength(1))
    expect(payloads[0]).toBe(JSON.stringify(EVERY_TYPE[0]))
    raw.disconnect()
  })

  it.each(['pipeline', 'streams pipeline', 'streams script'] as const)('round-trips every record type with batches sent as %s', async (how) => {
    const streams = how.startsWith('streams')
    const b = await bus(streams ? `${REDIS}?mode=streams` : REDIS, { batchCommand: how.endsWith('pipeline') ? 'pipeline' : 'script' })
    const got: MarketRecord[] = []
    await b.subscribe(`market.*${TAG}`, (_ch, r) => got.push(r))
    const sent = [...Array.from({ length: 3_000 }, (_, i) => trade(i + 1)), ...EVERY_TYPE]
    for (const r of sent) b.publish(r)
    await b.flush()
    await vi.waitFor(() => expect(got).toHaveLength(sent.length), { timeout: 15_000 })
    // Each channel keeps its order (streams mode reads one stream per channel, so only that order holds)
    for (const ch of new Set(sent.map(channelFor))) {
      expect(got.filter((r) => channelFor(r) === ch), ch).toStrictEqual(sent.filter((r) => channelFor(r) === ch))
    }
    expect(b.stats()).toMatchObject({ sent: 3_000 + EVERY_TYPE.length, failed: 0 })
  })

  it('reloads the batch script when the server has lost it', async () => {
    const b = await bus()
    const got: number[] = []
    await b.subscribe(`market.trades.binance.${SYM}`, (_ch, r) => got.push((r as Trade).id))
    b.publish(trade(1))
    await b.flush()
    await admin.script('FLUSH')
    for (let i = 2; i <= 10; i++) b.publish(trade(i))
    await b.flush()
    await vi.waitFor(() => expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))
    expect(b.stats().failed).toBe(0)
  })

  it('matches exact names and glob patterns as the in-process matcher does', async () => {
    const b = await bus()
    const patterns = [
      `market.trades.binance.${SYM}`,
      `market.trades.*${TAG}`,
      `market.?epth.*${TAG}`,
      `market.[bt]*${TAG}`,
      `market.*.binance-futures.${SYM}`,
      `market.*.coinbase.*${TAG}`,
      `market.[^t]*.binance.${SYM}`,
    ]
    const got = new Map<string, string[]>(patterns.map((p) => [p, []]))
    for (const p of patterns) await b.subscribe(p, (ch) => got.get(p)!.push(ch))
    for (const r of EVERY_TYPE) b.publish(r)
    await b.flush()
    const channels = EVERY_TYPE.map(channelFor)
    const expected = new Map(patterns.map((p) => [p, channels.filter(compilePattern(p))]))
    await vi.waitFor(() => {
      for (const p of patterns) expect(got.get(p), p).toEqual(expected.get(p))
    })
    expect(expected.get(`market.trades.binance.${SYM}`)).toHaveLength(2)
    expect(expected.get(`market.*.binance-futures.${SYM}`)).toHaveLength(3)
    // Same pattern twice: both handlers, one server subscription; unsubscribing one keeps the other
    const twice: string[] = []
    const offA = await b.subscribe(`market.oi.*${TAG}`, () => twice.push('a'))
    await b.subscribe(`market.oi.*${TAG}`, () => twice.push('b'))
    await offA()
    b.publish(EVERY_TYPE[7])
    await b.flush()
    await vi.waitFor(() => expect(twice).toEqual(['b']))
  })

  it('delivers 20,000 records published in one burst, in order', async () => {
    const b = await bus()
    const ids: number[] = []
    await b.subscribe(`market.trades.binance.${SYM}`, (_ch, r) => ids.push((r as Trade).id))
    for (let i = 1; i <= 20_000; i++) b.publish(trade(i))
    // Nothing has left yet: publish only queues
    expect(b.backlog()).toBe(20_000)
    await b.flush()
    expect(b.backlog()).toBe(0)
    await vi.waitFor(() => expect(ids).toHaveLength(20_000), { timeout: 20_000 })
    expect(ids.every((id, i) => id === i + 1)).toBe(true)
    expect(b.stats()).toMatchObject({ published: 20_000, sent: 20_000, dropped: 0, failed: 0, delivered: 20_000 })
  })

  it('bounds the backlog: the oldest are dropped and counted', async () => {
    let dropped = 0
    const b = await bus(REDIS, { maxBacklog: 1_000, onDropped: (n) => (dropped += n) })
    const ids: number[] = []
    await b.subscribe(`market.trades.binance.${SYM}`, (_ch, r) => ids.push((r as Trade).id))
    for (let i = 1; i <= 5_000; i++) b.publish(trade(i))
    expect(b.backlog()).toBe(1_000)
    expect(dropped).toBe(4_000)
    await b.flush()
    await vi.waitFor(() => expect(ids).toHaveLength(1_000))
    expect(ids[0]).toBe(4_001)
    expect(ids.at(-1)).toBe(5_000)
    expect(b.stats()).toMatchObject({ dropped: 4_000, sent: 1_000 })
    // A long outage drops millions: the queue's consumed front is released as it goes (white-box check)
    for (let i = 1; i <= 300_000; i++) b.publish(trade(i))
    expect(b.backlog()).toBe(1_000)
    expect((b as unknown as { queue: unknown[] }).queue.length).toBeLessThan(140_000)
    await b.flush()
    expect(dropped).toBe(303_000)
  })

  it('recovers from killed connections: keeps what is published meanwhile, resubscribes', async () => {
    const name = `mercury-test-${TAG}-kill`
    // A first reconnect delay long enough to publish into the outage even on a loaded machine
    const b = await bus(REDIS, { clientName: name, reconnectBaseMs: 1_000 })
    const lines: string[] = []
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
      lines.push(String(s))
      return true
    })
    log.setLogLevel('warn')
    onTestFinished(() => {
      spy.mockRestore()
      log.setLogLevel((process.env.MERCURY_LOG_LEVEL as log.LogLevel) ?? 'warn')
    })
    const ids: number[] = []
    await b.subscribe(`market.trades.binance.${SYM}`, (_ch, r) => ids.push((r as Trade).id))
    for (let i = 1; i <= 100; i++) b.publish(trade(i))
    await b.flush()
    await vi.waitFor(() => expect(ids).toHaveLength(100))

    // Publisher killed: records published while it is down wait in the backlog and go out after the reconnect
    expect(await kill(name, 'pub')).toBe(1)
    await vi.waitFor(() => expect(b.stats().connected).toBe(false), { interval: 5 })
    for (let i = 101; i <= 200; i++) b.publish(trade(i))
    expect(b.backlog()).toBe(100)
    await b.flush()
    expect(b.stats().connected).toBe(true)
    await vi.waitFor(() => expect(ids).toHaveLength(200))
    expect(ids.every((id, i) => id === i + 1)).toBe(true)

    // Subscriber killed: ioredis resubscribes; probe until deliveries resume, then nothing is lost
    expect(await kill(name, 'sub')).toBe(1)
    await vi.waitFor(
      async () => {
        b.publish(trade(0))
        await b.flush()
        expect(ids.at(-1)).toBe(0)
      },
      { timeout: 10_000, interval: 50 },
    )
    // A probe may still be on its way: only the real ids count
    const from = ids.length
    const after = () => ids.slice(from).filter((id) => id !== 0)
    for (let i = 201; i <= 300; i++) b.publish(trade(i))
    await b.flush()
    await vi.waitFor(() => expect(after()).toHaveLength(100))
    expect(after()).toEqual(Array.from({ length: 100 }, (_, i) => 201 + i))
    expect(b.stats().reconnects).toBeGreaterThanOrEqual(2)
    expect(b.stats().failed).toBe(0)
    // One warning per lost connection, saying what happens next
    expect(lines.join('')).toMatch(/mercury:bus:redis warn: connection to redis:\/\/\S+ lost; reconnecting \(keeping up to 100000 records\)/)
    expect(lines.join('')).toMatch(/warn: sub connection to redis:\/\/\S+ lost; reconnecting \(records published meanwhile are not seen\)/)
  })

  it('keeps a throwing handler and a foreign payload away from the other handlers', async () => {
    const b = await bus()
    const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    try {
      const got: number[] = []
      await b.subscribe(`market.trades.*${TAG}`, () => {
        throw new Error('consumer bug')
      })
      await b.subscribe(`market.trades.*${TAG}`, (_ch, r) => got.push((r as Trade).id))
      await admin.publish(`market.trades.binance.${SYM}`, 'not json')
      b.publish(trade(1))
      await b.flush()
      await vi.waitFor(() => expect(got).toEqual([1]))
      expect(b.stats()).toMatchObject({ handlerErrors: 1, decodeErrors: 1 })
    } finally {
      quiet.mockRestore()
    }
  })

  it('streams mode: XADD per channel, XREAD from the moment of subscribing, exact names and patterns', async () => {
    const b = await bus(`${REDIS}?mode=streams`)
    const channel = `market.trades.binance.${SYM}`
    // Written before anyone subscribed: a reader starts after it
    b.publish(trade(0))
    await b.flush()
    const exact: MarketRecord[] = []
    const pattern: string[] = []
    await b.subscribe(channel, (_ch, r) => exact.push(r))
    await b.subscribe(`market.*${TAG}`, (ch) => pattern.push(ch))
    for (let i = 1; i <= 3_000; i++) b.publish(trade(i))
    for (const r of EVERY_TYPE) b.publish(r)
    await b.flush()
    await vi.waitFor(() => expect(exact.length).toBe(3_002), { timeout: 15_000 })
    expect(exact.slice(0, 3_000).map((r) => (r as Trade).id)).toEqual(Array.from({ length: 3_000 }, (_, i) => i + 1))
    expect(exact.slice(3_000)).toStrictEqual(EVERY_TYPE.slice(0, 2))
    // Streams that appear after the subscription (other channels) are found and read from the start too
    await vi.waitFor(() => expect(pattern.length).toBe(3_000 + EVERY_TYPE.length), { timeout: 15_000 })
    expect(new Set(pattern)).toEqual(new Set([channel, ...EVERY_TYPE.map(channelFor)]))
    const [[, fields]] = (await admin.xrevrange(channel, '+', '-', 'COUNT', 1)) as [string, string[]][]
    expect(fields).toEqual(['d', JSON.stringify(EVERY_TYPE[1])])
  })

  it('streams mode trims each stream to about maxlen', async () => {
    const b = await bus(`${REDIS}?mode=streams&maxlen=1000`)
    const channel = `market.trades.binance-futures.${SYM}`
    for (let i = 1; i <= 5_000; i++) b.publish({ ...trade(i), exchange: 'binance-futures' })
    await b.flush()
    // MAXLEN ~ trims whole nodes: at least 1000 entries kept, far fewer than were written
    const len = await admin.xlen(channel)
    expect(len).toBeGreaterThanOrEqual(1_000)
    expect(len).toBeLessThan(2_000)
    const [[, fields]] = (await admin.xrevrange(channel, '+', '-', 'COUNT', 1)) as [string, string[]][]
    expect(JSON.parse(fields[1])).toEqual({ ...trade(5_000), exchange: 'binance-futures' })
  })

  it('keeps the password out of errors and logs', async () => {
    const secret = 'hunter2secret'
    // Nothing listens on port 1
    const unreachable = await createBus(`redis://:${secret}@127.0.0.1:1`, { connectTimeoutMs: 300 }).then(
      () => undefined,
      (e: unknown) => e as Error,
    )
    expect(unreachable).toBeInstanceOf(RetryableError)
    expect(unreachable!.message).toMatch(/^Cannot reach --bus redis:\/\/:\*\*\*@127\.0\.0\.1:1: .*ECONNREFUSED/)
    expect(unreachable!.message).not.toContain(secret)

    // A real ACL user with a wrong password (the default user keeps running the other tests)
    const user = `mercury_t_${TAG}`
    const pass = `right${TAG}pass`
    await admin.call('ACL', 'SETUSER', user, 'on', `>${pass}`, '~*', '&*', '+@all')
    const url = new URL(REDIS as string)
    url.username = user
    const wrongPass = `wr@ng:${secret}`
    url.password = encodeURIComponent(wrongPass)
    const lines: string[] = []
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
      lines.push(String(s))
      return true
    })
    log.setLogLevel('debug')
    try {
      const refused = await createBus(url.toString()).then(
        () => undefined,
        (e: unknown) => e as Error,
      )
      expect(refused).toBeInstanceOf(FatalError)
      expect(refused!.message).toMatch(new RegExp(`^Redis refused the login for --bus redis://${user}:\\*\\*\\*@.*WRONGPASS`))
      for (const form of [secret, wrongPass, encodeURIComponent(wrongPass)]) expect(refused!.message).not.toContain(form)

      // The right password works; a lost connection is logged with the URL redacted
      url.password = pass
      const name = `mercury-test-${TAG}-acl`
      const b = await bus(url.toString(), { clientName: name })
      expect(b.display).toBe(`redis://${user}:***@${url.host}`)
      const got: MarketRecord[] = []
      await b.subscribe(`market.*${TAG}`, (_ch, r) => got.push(r))
      await kill(name, 'pub')
      await vi.waitFor(() => expect(b.stats().reconnects).toBe(1))
      b.publish(EVERY_TYPE[1])
      await b.flush()
      await vi.waitFor(() => expect(got).toHaveLength(1))
    } finally {
      spy.mockRestore()
      log.setLogLevel((process.env.MERCURY_LOG_LEVEL as log.LogLevel) ?? 'warn')
      await admin.call('ACL', 'DELUSER', user)
    }
    const text = lines.join('')
    expect(text).toContain(`connection to redis://${user}:***@`)
    expect(text).not.toContain(pass)
    expect(text).not.toContain(secret)
  })

  it('close drains the backlog first and then refuses more', async () => {
    const b = await bus()
    const ids: number[] = []
    const reader = await bus()
    await reader.subscribe(`market.trades.binance.${SYM}`, (_ch, r) => ids.push((r as Trade).id))
    for (let i = 1; i <= 5_000; i++) b.publish(trade(i))
    await b.close()
    expect(b.backlog()).toBe(0)
    await vi.waitFor(() => expect(ids).toHaveLength(5_000))
    b.publish(trade(5_001))
    expect(b.stats()).toMatchObject({ published: 5_001, sent: 5_000, dropped: 1 })
    await expect(b.subscribe('*', () => undefined)).rejects.toThrow(/closed/)
    // Closing twice is the same close
    await b.close()
    expect(b).toBeInstanceOf(RedisBus)
  })
})
