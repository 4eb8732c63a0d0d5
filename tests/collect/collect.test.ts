// Acceptance of `collect` against the local replay exchange serving real recordings, with faults injected:
// every trade exactly once in the lake, a book that matches the exchange's own best bid/offer after every
// resync, and an integrity event for every resync

import { afterEach, describe, expect, it } from 'vitest'
import type { Collector } from '../../src/lib/collect/collector.js'
import { runCollect, type CollectSummary } from '../../src/lib/collect/run.js'
import type { Channel } from '../../src/lib/collect/venue.js'
import type { Exchange } from '../../src/lib/consts.js'
import { LakeReader } from '../../src/lib/lake/reader.js'
import { readRecordingSync } from '../../src/lib/replay/recording.js'
import { startReplayServer, type ReplayServer } from '../../src/lib/replay/server.js'
import type { FaultPlan } from '../../src/lib/replay/faults.js'
import type { BookTicker, MarketRecord } from '../../src/lib/types.js'
import { FIXTURES, tempDir } from '../helpers.js'
import { loadTradeFixture, startCoinbaseRestServer } from '../servers/coinbase-rest.js'
import { join } from 'node:path'

const SPOT = join(FIXTURES, 'recordings', 'hftbacktest', 'spot-btcusdt_20240808.gz')
const COINBASE = join(FIXTURES, 'recordings', 'cryptofeed', 'COINBASE.ws.28.0.txt.gz')
const USDM = join(FIXTURES, 'recordings', 'hftbacktest', 'usdm-btcusdt_20230404.dat.gz')

let server: ReplayServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

/** Timeline indices (ws frames in file order) of the recording's depth diffs. */
function depthIndices(file: string): number[] {
  const out: number[] = []
  let i = 0
  for (const f of readRecordingSync(file)) {
    if (f.src !== 'ws') continue
    if (f.text.includes('@depth')) out.push(i)
    i++
  }
  return out
}

/** Trade ids the recording holds. */
function recordedTradeIds(file: string): number[] {
  const ids: number[] = []
  for (const f of readRecordingSync(file)) {
    if (f.src !== 'ws' || !f.text.includes('@trade"')) continue
    const m = /"t":(\d+)/.exec(f.text)
    if (m) ids.push(Number(m[1]))
  }
  return ids
}

interface Run {
  summary: CollectSummary
  lake: string
  /** Top of book after each sync step, with the step's last update id */
  tops: { u: number; bid: number; bidQty: number; ask: number; askQty: number }[]
  tickers: BookTicker[]
  records: Map<string, number>
}

interface Extra {
  depthSpeed?: string
  symbols?: string[]
  coinbaseFeed?: 'advanced' | 'exchange'
  /** REST base URL instead of the replay server's (the fake Coinbase REST server) */
  restUrl?: string
  bus?: string
  /** Runs once the timeline has been sent, before the collector stops */
  atEnd?: (metricsUrl: string | undefined) => Promise<void>
}

async function collectFrom(file: string, exchange: Exchange, faults: FaultPlan, channels: Channel[], extra: Extra = {}): Promise<Run> {
  server = await startReplayServer({ recordings: [file], pace: 'flat', faults })
  const lake = tempDir()
  const ctl = new AbortController()
  const tops: Run['tops'] = []
  const tickers: BookTicker[] = []
  const records = new Map<string, number>()
  let collector: Collector | undefined
  const onRecord = (r: MarketRecord) => {
    records.set(r.type, (records.get(r.type) ?? 0) + 1)
    if (r.type === 'book_ticker') tickers.push(r)
    if (r.type !== 'book_change' || !collector) return
    const sync = collector.state(r.exchange, r.symbol)?.sync
    // Only the last change of a sync step leaves the book in the state its id names
    if (!sync || sync.state !== 'synced' || sync.lastUpdateId !== r.lastUpdateId) return
    const b = sync.book
    tops.push({ u: r.lastUpdateId!, bid: b.bidPrice()!, bidQty: b.bidAmount()!, ask: b.askPrice()!, askQty: b.askAmount()! })
  }
  const srv = server
  let metricsUrl: string | undefined
  const done = srv.finished.then(async () => {
    // Let trade repairs and the last snapshot settle, then stop
    await new Promise((r) => setTimeout(r, 1500))
    try {
      await extra.atEnd?.(metricsUrl)
    } finally {
      ctl.abort()
    }
  })
  const summary = await runCollect({
    instruments: (extra.symbols ?? ['BTCUSDT']).map((symbol) => ({ exchange, symbol })),
    coinbaseFeed: extra.coinbaseFeed,
    channels,
    lakeDir: lake,
    signal: ctl.signal,
    batchMs: 250,
    bookSnapshotEveryMs: 500,
    wsUrl: { [exchange]: srv.wsUrl },
    restUrl: { [exchange]: extra.restUrl ?? srv.restUrl },
    depthSpeed: extra.depthSpeed,
    staleMs: 5000,
    bus: extra.bus,
    metricsPort: extra.atEnd ? 0 : undefined,
    serviceId: 'collect-test',
    onStatus: (st) => {
      metricsUrl = st.metricsUrl
    },
    onCollector: (c) => {
      collector = c
      // Tap the records: wrap the option the run passed in
      const o = (c as unknown as { o: { onRecord?: (r: MarketRecord) => void } }).o
      const prev = o.onRecord
      ;(c as unknown as { o: Record<string, unknown> }).o = { ...o, onRecord: (r: MarketRecord) => (prev?.(r), onRecord(r)) }
    },
  })
  await done
  return { summary, lake, tops, tickers, records }
}

/** Every top of book after a sync step equals the newest exchange ticker at or before that update id. */
function checkTops(run: Run): { compared: number } {
  const tickers = [...run.tickers].sort((a, b) => a.updateId! - b.updateId!)
  let compared = 0
  let j = -1
  const tops = [...run.tops].sort((a, b) => a.u - b.u)
  for (const t of tops) {
    while (j + 1 < tickers.length && tickers[j + 1].updateId! <= t.u) j++
    if (j < 0) continue
    const k = tickers[j]
    expect({ u: t.u, bid: t.bid, bidQty: t.bidQty, ask: t.ask, askQty: t.askQty }).toEqual({
      u: t.u, bid: k.bidPrice, bidQty: k.bidAmount, ask: k.askPrice, askQty: k.askAmount,
    })
    compared++
  }
  return { compared }
}

async function lakeQuery(lake: string, sql: string): Promise<unknown[][]> {
  const r = await LakeReader.open(lake)
  try {
    return (await r.query(sql)).rows
  } finally {
    r.close()
  }
}

describe('collect against the replay exchange', () => {
  it('spot: disconnect, drops, duplicates, garbage and a server shutdown; every trade once, books right after every resync', async () => {
    const faults: FaultPlan = {
      disconnectAt: [9000],
      skipOnDisconnect: 400,
      // Two depth diffs and the trade frames around one of them
      drop: [depthIndices(SPOT)[2000], depthIndices(SPOT)[2800], 30_001, 30_002, 30_003],
      duplicate: { every: 997 },
      malformed: { every: 1499 },
      shutdownAt: [25_000],
      seed: 7,
    }
    const run = await collectFrom(SPOT, 'binance', faults, ['trades', 'book', 'ticker'])
    const s = run.summary.stats
    // Trades: the recording's ids, contiguous, each once, though frames were skipped, dropped and repeated
    const expected = recordedTradeIds(SPOT)
    const [[n, distinct, lo, hi]] = await lakeQuery(run.lake, `SELECT count(*), count(DISTINCT id), min(id), max(id) FROM trades`)
    expect(Number(n)).toBe(expected.length)
    expect(Number(distinct)).toBe(expected.length)
    expect(Number(lo)).toBe(expected[0])
    expect(Number(hi)).toBe(expected[expected.length - 1])
    expect(s.repairedTrades).toBeGreaterThan(0)
    expect(s.unrepairedTrades).toBe(0)
    expect(s.duplicateTrades).toBeGreaterThan(0)
    expect(s.malformed).toBeGreaterThan(0)
    expect(s.reconnects).toBeGreaterThanOrEqual(1)
    expect(s.rotations).toBeGreaterThanOrEqual(1)
    // Books: resynced after the disconnect and after the dropped diffs, right at every comparable instant
    expect(s.resyncs).toBeGreaterThanOrEqual(2)
    const { compared } = checkTops(run)
    expect(compared).toBeGreaterThan(1000)
    // Integrity: one resync event per resync, each saying why; gaps and the disconnect are recorded too
    const events = await lakeQuery(run.lake, `SELECT event, stream, detail FROM integrity ORDER BY local_timestamp`)
    const resyncs = events.filter((e) => e[0] === 'resync')
    expect(resyncs.length).toBe(s.resyncs)
    for (const e of resyncs) expect(String(e[2]).length).toBeGreaterThan(10)
    expect(events.some((e) => e[0] === 'disconnect')).toBe(true)
    expect(events.some((e) => e[0] === 'gap' && e[1] === 'book')).toBe(true)
    // Periodic top-20 snapshots were stored and are never crossed
    const [[snaps, crossed]] = await lakeQuery(run.lake,
      `SELECT count(*), count(*) FILTER (WHERE bid_price >= ask_price) FROM book_snapshots WHERE level = 0`)
    expect(Number(snaps)).toBeGreaterThan(0)
    expect(Number(crossed)).toBe(0)
    const rest = server!.stats().rest
    expect(Object.keys(rest).some((p) => p.includes('historicalTrades'))).toBe(true)
  }, 120_000)

  it('futures: pu-chained diffs, funding and trades through the routed paths, with a dropped diff', async () => {
    const faults: FaultPlan = { drop: [depthIndices(USDM)[1500]], duplicate: [5000, 5001], seed: 3 }
    const redisUrl = process.env.MERCURY_TEST_REDIS_URL
    if (!redisUrl && process.env.CI) throw new Error('MERCURY_TEST_REDIS_URL is not set: scripts/test.sh starts Redis')
    let onBus = 0
    let metricsText = ''
    let heartbeat = ''
    const { createBus } = await import('../../src/lib/bus/index.js')
    const sub = redisUrl ? await createBus(redisUrl) : undefined
    await sub?.subscribe('market.trades.binance-futures.BTCUSDT', () => {
      onBus++
    })
    const run = await collectFrom(USDM, 'binance-futures', faults, ['trades', 'book', 'ticker', 'funding'], {
      depthSpeed: '0ms',
      bus: redisUrl ?? 'memory',
      atEnd: async (url) => {
        metricsText = await (await fetch(`${url}/metrics`)).text()
        if (redisUrl) {
          const { Redis } = await import('ioredis')
          const r = new Redis(redisUrl)
          heartbeat = (await r.get('health:collect-test:heartbeat')) ?? ''
          r.disconnect()
        }
      },
    })
    await sub?.close()
    expect(metricsText).toMatch(/mercury_messages_total\{exchange="binance-futures",channel="trade"\} \d+/)
    expect(metricsText).toContain('mercury_resyncs_total')
    if (redisUrl) {
      expect(onBus).toBe(recordedTradeIds(USDM).length)
      expect(JSON.parse(heartbeat)).toMatchObject({ serviceId: 'collect-test', state: 'running' })
    }
    const s = run.summary.stats
    const expected = recordedTradeIds(USDM)
    const [[n, distinct]] = await lakeQuery(run.lake, `SELECT count(*), count(DISTINCT id) FROM trades`)
    expect(Number(distinct)).toBe(Number(n))
    // Trades the server could not give back (a dropped trade frame is repaired; none is lost)
    expect(Number(n)).toBe(expected.length)
    const { compared } = checkTops(run)
    expect(compared).toBeGreaterThan(500)
    const [[funding]] = await lakeQuery(run.lake, `SELECT count(*) FROM funding`)
    expect(Number(funding)).toBeGreaterThan(50)
    // The dropped diff broke the pu chain: one gap, one resync, both stored
    expect(s.resyncs).toBe(1)
    const ev = await lakeQuery(run.lake, `SELECT event, stream FROM integrity WHERE stream = 'book' ORDER BY local_timestamp`)
    expect(ev.map((e) => e[0])).toEqual(['gap', 'resync'])
  }, 120_000)

  it('coinbase exchange feed: dropped matches are fetched back by id from the REST API, each trade once', async () => {
    // Timeline positions of the SKL-USD matches (the replay server's timeline: ws frames other than book snapshots)
    const skl: number[] = []
    let i = 0
    for (const f of readRecordingSync(COINBASE)) {
      if (f.src !== 'ws') continue
      const m = JSON.parse(f.text) as { type?: string; product_id?: string; bids?: unknown }
      if (m.type === 'snapshot' && m.bids) continue
      if (!['l2update', 'match', 'last_match', 'ticker', 'heartbeat', 'status'].includes(m.type ?? '')) continue
      if (m.type === 'match' && m.product_id === 'SKL-USD') skl.push(i)
      i++
    }
    expect(skl.length).toBeGreaterThan(20)
    // Real SKL-USD trades of the same capture, as the Exchange REST API serves them
    const rest = await startCoinbaseRestServer({ products: { 'SKL-USD': { trades: loadTradeFixture(join(FIXTURES, 'coinbase-rest', 'SKL-USD-trades-2021-04-17.json')) } } })
    try {
      const dropped = [skl[5], skl[6], skl[7], skl[20]]
      const run = await collectFrom(COINBASE, 'coinbase', { drop: dropped }, ['trades'], { symbols: ['SKL-USD'], coinbaseFeed: 'exchange', restUrl: rest.url })
      const s = run.summary.stats
      expect(s.repairedTrades).toBe(4)
      expect(s.unrepairedTrades).toBe(0)
      expect(rest.log.filter((e) => e.endpoint === 'trades' && e.product === 'SKL-USD' && e.status === 200).length).toBeGreaterThanOrEqual(2)
      const ids = (await lakeQuery(run.lake, `SELECT id FROM trades WHERE symbol = 'SKL-USD' ORDER BY id`)).map((r) => Number(r[0]))
      expect(new Set(ids).size).toBe(ids.length)
      expect(ids[ids.length - 1] - ids[0] + 1).toBe(ids.length)
      // The repaired trades equal what the socket would have sent: same price, size, time and aggressor side
      const stored = await lakeQuery(run.lake, `SELECT id, price, amount, side, timestamp FROM trades WHERE symbol = 'SKL-USD' ORDER BY id`)
      const matches = readRecordingSync(COINBASE)
        .filter((f) => f.src === 'ws' && /"type":"match"/.test(f.text) && f.text.includes('"SKL-USD"'))
        .map((f) => JSON.parse(f.text) as { trade_id: number; price: string; size: string; side: string; time: string })
      for (const m of matches) {
        const row = stored.find((r) => Number(r[0]) === m.trade_id)
        expect(row, `trade ${m.trade_id}`).toBeDefined()
        expect([Number(row![1]), Number(row![2]), row![3]]).toEqual([Number(m.price), Number(m.size), m.side === 'buy' ? 'sell' : 'buy'])
      }
      expect(await lakeQuery(run.lake, `SELECT count(*) FROM integrity WHERE stream = 'trades'`)).toEqual([[0n]])
    } finally {
      await rest.close()
    }
  }, 120_000)

  for (const feed of ['exchange', 'advanced'] as const) {
    it(`coinbase ${feed} feed: ten books from WS snapshots, trades with the aggressor side`, async () => {
      const products = ['SKL-USD', 'DASH-BTC', 'SKL-BTC', 'BAND-BTC', 'NMR-EUR', 'CRV-EUR', 'YFI-BTC', 'BAND-GBP', 'SKL-GBP', 'NU-GBP']
      const run = await collectFrom(COINBASE, 'coinbase', {}, ['trades', 'book'], { symbols: products, coinbaseFeed: feed })
      const s = run.summary.stats
      expect(s.malformed + s.invalid + s.unknown).toBe(0)
      expect(s.resyncs).toBe(0)
      const matches = readRecordingSync(COINBASE).filter((f) => f.src === 'ws' && /"type":"match"/.test(f.text)).length
      const [[n]] = await lakeQuery(run.lake, `SELECT count(DISTINCT id) FROM trades`)
      expect(Number(n)).toBeGreaterThanOrEqual(matches)
      const books = await lakeQuery(run.lake,
        `SELECT symbol, count(*) FILTER (WHERE bid_price >= ask_price) FROM book_snapshots WHERE level = 0 GROUP BY symbol ORDER BY symbol`)
      expect(books.map((b) => b[0])).toEqual([...products].sort())
      for (const b of books) expect(Number(b[1])).toBe(0)
    }, 120_000)
  }
})
