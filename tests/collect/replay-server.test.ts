// The replay server against real recordings, with a real `ws` client: ordering, the server's own book and trade
// history, fault injection, Coinbase's two protocols, and the `mercury replay-server` command

import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { BIN, ROOT, tempDir } from '../helpers.js'
import { readRecordingSync, streamName } from '../../src/lib/replay/recording.js'
import { mulDecimal, startReplayServer, type ReplayOptions, type ReplayServer } from '../../src/lib/replay/server.js'
import { FaultSchedule, countSelected } from '../../src/lib/replay/faults.js'

const REC = join(ROOT, 'tests', 'fixtures', 'recordings')
const SPOT = join(REC, 'hftbacktest', 'spot-btcusdt_20240808.gz')
const USDM = join(REC, 'hftbacktest', 'usdm-btcusdt_20230404.dat.gz')
const COINBASE = join(REC, 'cryptofeed', 'COINBASE.ws.28.0.txt.gz')
const SPOT_STREAMS = 'btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker'

const spotFrames = readRecordingSync(SPOT)
/** The spot timeline: every ws frame, in file order (the file is sorted by receipt time) */
const spotTimeline = spotFrames.filter((f) => f.src === 'ws').map((f) => f.text)
const spotSnapshot = JSON.parse(spotFrames.find((f) => f.src === 'rest')?.text ?? '') as { lastUpdateId: number; bids: [string, string][]; asks: [string, string][] }

interface DepthDiff {
  U: number
  u: number
  pu?: number
  b: [string, string][]
  a: [string, string][]
}
interface Trade {
  t: number
}

const servers: ReplayServer[] = []
const sockets: WebSocket[] = []
const children: ChildProcess[] = []
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate()
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL')
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

async function start(opts: Partial<ReplayOptions> & { recordings?: string[] } = {}): Promise<ReplayServer> {
  const s = await startReplayServer({ recordings: [SPOT], ...opts })
  servers.push(s)
  return s
}

/** A ws client that keeps every text message; `onMessage` runs after each one is stored. */
class Client {
  readonly messages: string[] = []
  readonly ws: WebSocket
  readonly opened: Promise<void>
  readonly closed: Promise<{ code: number; reason: string }>
  onMessage: ((text: string, n: number) => void) | undefined

  constructor(url: string) {
    this.ws = new WebSocket(url)
    sockets.push(this.ws)
    this.ws.on('message', (data) => {
      const text = data.toString()
      this.messages.push(text)
      this.onMessage?.(text, this.messages.length)
    })
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
    })
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  }

  send(value: unknown): void {
    this.ws.send(JSON.stringify(value))
  }
}

async function until(pred: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const t0 = Date.now()
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

async function get(url: string): Promise<{ status: number; headers: Headers; body: unknown }> {
  const r = await fetch(url)
  return { status: r.status, headers: r.headers, body: await r.json() }
}

/** Index of the first difference between two string lists, or -1. */
function firstDiff(a: readonly string[], b: readonly string[]): number {
  const n = Math.max(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return -1
}

/** An independent book: the recorded snapshot plus recorded diffs up to update id `upTo`, best `n` levels. */
function referenceBook(upTo: number, n: number): { bids: [string, string][]; asks: [string, string][] } {
  const bids = new Map<number, [string, string]>()
  const asks = new Map<number, [string, string]>()
  const set = (m: Map<number, [string, string]>, [p, q]: [string, string]) => (Number(q) === 0 ? m.delete(Number(p)) : m.set(Number(p), [p, q]))
  for (const l of spotSnapshot.bids) set(bids, l)
  for (const l of spotSnapshot.asks) set(asks, l)
  for (const text of spotTimeline) {
    if (streamName(text) !== 'btcusdt@depth@100ms') continue
    const d = (JSON.parse(text) as { data: DepthDiff }).data
    if (d.u <= spotSnapshot.lastUpdateId) continue
    if (d.u > upTo) break
    for (const l of d.b) set(bids, l)
    for (const l of d.a) set(asks, l)
  }
  return {
    bids: [...bids.entries()].sort((x, y) => y[0] - x[0]).slice(0, n).map((e) => e[1]),
    asks: [...asks.entries()].sort((x, y) => x[0] - y[0]).slice(0, n).map((e) => e[1]),
  }
}

describe('Binance spot replay', () => {
  it('sends every recorded frame in order, flat out, and answers REST from the book at the timeline position', async () => {
    const s = await start()
    // Before the timeline bridges the recorded snapshot, the server serves the recorded snapshot itself
    const e = await get(`${s.restUrl}/api/v3/depth?symbol=BTCUSDT&limit=5`)
    expect(e.status).toBe(200)
    expect(e.body).toEqual({ lastUpdateId: 50_093_239_218, bids: spotSnapshot.bids.slice(0, 5), asks: spotSnapshot.asks.slice(0, 5) })
    const c = new Client(`${s.wsUrl}/stream?streams=${SPOT_STREAMS}`)
    let depth: Promise<Awaited<ReturnType<typeof get>>> | undefined
    c.onMessage = (_t, n) => {
      if (n === 15_000) depth = get(`${s.restUrl}/api/v3/depth?symbol=BTCUSDT&limit=1000`)
    }
    await s.finished
    await until(() => c.messages.length >= spotTimeline.length, 'all frames')
    expect(c.messages).toHaveLength(41_248)
    expect(firstDiff(c.messages, spotTimeline)).toBe(-1)

    const r = await (depth as Promise<Awaited<ReturnType<typeof get>>>)
    expect(r.status).toBe(200)
    expect(r.headers.get('x-mbx-used-weight-1m')).toBe(String(5 + 50))
    const snap = r.body as { lastUpdateId: number; bids: [string, string][]; asks: [string, string][] }
    expect(snap.lastUpdateId).toBeGreaterThan(spotSnapshot.lastUpdateId)
    expect(snap.bids).toHaveLength(1000)
    // The next diff on the stream bridges the snapshot: U <= lastUpdateId + 1 <= u
    const diffs = c.messages.filter((t) => streamName(t) === 'btcusdt@depth@100ms').map((t) => (JSON.parse(t) as { data: DepthDiff }).data)
    const next = diffs.find((d) => d.u > snap.lastUpdateId) as DepthDiff
    expect(next.U).toBeLessThanOrEqual(snap.lastUpdateId + 1)
    expect(next.u).toBeGreaterThanOrEqual(snap.lastUpdateId + 1)
    // And it is the book the recording describes at that update id, with the recorded strings
    expect(snap).toEqual({ lastUpdateId: snap.lastUpdateId, ...referenceBook(snap.lastUpdateId, 1000) })

    const st = s.stats()
    expect(st).toMatchObject({ venue: 'binance', index: 41_248, total: 41_248, finished: true, framesSent: 41_248, dropped: 0, connections: 1 })
    expect(st.rest['/api/v3/depth']).toEqual({ '200': 2 })
  })

  it('sends bare payloads on /ws/ paths, sliced verbatim, and answers SUBSCRIBE', async () => {
    const s = await start()
    const raw = new Client(`${s.wsUrl}/ws/btcusdt@trade`)
    const live = new Client(`${s.wsUrl}/ws`)
    await live.opened
    live.send({ method: 'SUBSCRIBE', params: ['btcusdt@bookTicker'], id: 1 })
    live.send({ method: 'LIST_SUBSCRIPTIONS', id: 2 })
    await s.finished
    const trades = spotTimeline.filter((t) => streamName(t) === 'btcusdt@trade')
    await until(() => raw.messages.length >= trades.length, 'trades')
    // Frames are ordered on a socket: once this answer is in, every frame sent before it is too
    live.send({ method: 'GET_PROPERTY', params: ['combined'], id: 3 })
    await until(() => live.messages[live.messages.length - 1] === '{"result":false,"id":3}', 'the GET_PROPERTY answer')
    const bare = (t: string) => t.slice(t.indexOf('"data":') + 7, -1)
    expect(firstDiff(raw.messages, trades.map(bare))).toBe(-1)
    expect(JSON.parse(raw.messages[0])).toEqual((JSON.parse(trades[0]) as { data: unknown }).data)
    expect(live.messages[0]).toBe('{"result":null,"id":1}')
    expect(live.messages[1]).toBe('{"result":["btcusdt@bookTicker"],"id":2}')
    // From the moment the subscription arrived: a contiguous tail of the bookTicker stream
    const tickers = spotTimeline.filter((t) => streamName(t) === 'btcusdt@bookTicker').map(bare)
    const got = live.messages.slice(2, -1)
    expect(got.length).toBeGreaterThan(0)
    expect(got).toEqual(tickers.slice(tickers.length - got.length))
  })

  it('waits for the slowest client (backpressure) and loses nothing', async () => {
    const s = await start({ highWaterMark: 64 * 1024 })
    const slow = new Client(`${s.wsUrl}/stream?streams=${SPOT_STREAMS}`)
    await slow.opened
    slow.ws.pause()
    const fast = new Client(`${s.wsUrl}/stream?streams=${SPOT_STREAMS}`)
    await new Promise((r) => setTimeout(r, 500))
    // The paused reader holds the timeline back once its socket and the server's queue are full
    // (the kernel's socket buffers may still grow a little, so the position creeps rather than stopping dead)
    expect(s.stats().index).toBeLessThan(41_248)
    await new Promise((r) => setTimeout(r, 300))
    expect(s.stats().index).toBeLessThan(41_248)
    expect(s.stats().finished).toBe(false)
    slow.ws.resume()
    await s.finished
    await until(() => slow.messages.length >= 41_248 && fast.messages.length > 0 && fast.messages[fast.messages.length - 1] === spotTimeline[41_247], 'all frames')
    expect(firstDiff(slow.messages, spotTimeline)).toBe(-1)
    expect(fast.messages).toEqual(spotTimeline.slice(41_248 - fast.messages.length))
  })

  it('keeps recorded gaps with a speed factor', async () => {
    // The Coinbase capture spans 30 s of receipt time; at 100x that is about 0.3 s
    const s = await start({ recordings: [COINBASE], pace: 100 })
    const c = new Client(s.wsUrl)
    await c.opened
    const t0 = performance.now()
    c.send({ type: 'subscribe', product_ids: ['DASH-BTC'], channels: ['level2'] })
    await s.finished
    const elapsed = performance.now() - t0
    const ts = readRecordingSync(COINBASE).filter((f) => f.src === 'ws')
    const span = (ts[ts.length - 1].localTimestamp - ts[0].localTimestamp) / 1000 / 100
    expect(elapsed).toBeGreaterThan(span * 0.8)
    expect(elapsed).toBeLessThan(span * 3 + 500)
    await until(() => c.messages.length >= 2 + 1925, 'updates')
  })

  it('keeps the timeline still while nobody is subscribed', async () => {
    const s = await start()
    const c = new Client(`${s.wsUrl}/ws`)
    await c.opened
    await new Promise((r) => setTimeout(r, 100))
    expect(s.stats().index).toBe(0)
    c.ws.close()
    await c.closed
    await new Promise((r) => setTimeout(r, 50))
    expect(s.stats().index).toBe(0)
  })

  it('serves trades already passed by the timeline, never the future, with contiguous ids', async () => {
    const s = await start({ faults: { stallAt: [20_000], stallMs: 3000 } })
    const c = new Client(`${s.wsUrl}/stream?streams=${SPOT_STREAMS}`)
    await until(() => c.messages.length >= 20_000, 'frames before the stall')
    await new Promise((r) => setTimeout(r, 50))
    expect(c.messages).toHaveLength(20_000)
    expect(s.stats()).toMatchObject({ index: 20_000, stalls: 1 })
    const seen = c.messages.filter((t) => streamName(t) === 'btcusdt@trade').map((t) => (JSON.parse(t) as { data: Trade & { p: string; q: string; T: number; m: boolean } }).data)
    const first = seen[0].t
    const last = seen[seen.length - 1].t

    const page = await get(`${s.restUrl}/api/v3/historicalTrades?symbol=BTCUSDT&fromId=${first}&limit=1000`)
    expect(page.status).toBe(200)
    const rows = page.body as { id: number; price: string; qty: string; quoteQty: string; time: number; isBuyerMaker: boolean; isBestMatch: boolean }[]
    expect(rows).toHaveLength(1000)
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 1000 }, (_, i) => first + i))
    expect(rows[0]).toEqual({
      id: first,
      price: seen[0].p,
      qty: seen[0].q,
      quoteQty: mulDecimal(seen[0].p, seen[0].q),
      time: seen[0].T,
      isBuyerMaker: seen[0].m,
      isBestMatch: true,
    })
    expect(page.headers.get('x-mbx-used-weight-1m')).toBe('25')

    const tail = (await get(`${s.restUrl}/api/v3/historicalTrades?symbol=BTCUSDT&fromId=${last - 10}`)).body as { id: number }[]
    expect(tail.map((r) => r.id)).toEqual(Array.from({ length: 11 }, (_, i) => last - 10 + i))
    expect((await get(`${s.restUrl}/api/v3/historicalTrades?symbol=BTCUSDT&fromId=${last + 1}`)).body).toEqual([])
    const recent = (await get(`${s.restUrl}/api/v3/trades?symbol=BTCUSDT&limit=3`)).body as { id: number }[]
    expect(recent.map((r) => r.id)).toEqual([last - 2, last - 1, last])

    // The depth snapshot during the stall is exactly the book after the last diff sent
    const diffs = c.messages.filter((t) => streamName(t) === 'btcusdt@depth@100ms').map((t) => (JSON.parse(t) as { data: DepthDiff }).data)
    const snap = (await get(`${s.restUrl}/api/v3/depth?symbol=BTCUSDT&limit=20`)).body as { lastUpdateId: number }
    expect(snap.lastUpdateId).toBe(diffs[diffs.length - 1].u)
    expect(snap).toEqual({ lastUpdateId: snap.lastUpdateId, ...referenceBook(snap.lastUpdateId, 20) })
    expect(s.stats().index).toBe(20_000)
  })

  it('checks REST parameters, weight and injected faults', async () => {
    const s = await start({ weightLimit: 60, faults: { rest: { rateLimitAt: [4], banAt: [5], failAt: [6], retryAfterSec: 7 } } })
    const url = (q: string) => `${s.restUrl}/api/v3/depth?${q}`
    const a = await get(url('symbol=ETHUSDT')) // 0
    expect(a).toMatchObject({ status: 400, body: { code: -1121, msg: 'Invalid symbol.' } })
    expect((await get(url(''))).body).toMatchObject({ code: -1102 }) // 1
    expect((await get(url('symbol=BTCUSDT&limit=abc'))).body).toMatchObject({ code: -1100 }) // 2
    const ok = await get(url('symbol=BTCUSDT&limit=10')) // 3
    expect(ok.status).toBe(200)
    // A parameter refused before routing costs nothing; the others cost the endpoint's weight
    expect(ok.headers.get('x-mbx-used-weight-1m')).toBe('15')
    const limited = await get(url('symbol=BTCUSDT')) // 4
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('7')
    const banned = await get(url('symbol=BTCUSDT')) // 5
    expect(banned.status).toBe(418)
    expect(banned.headers.get('retry-after')).toBe('7')
    expect((await get(url('symbol=BTCUSDT'))).status).toBe(500) // 6
    // Weight 6 × 5 = 30 so far; a 1000-level snapshot (50) runs over the 60 budget
    const over = await get(url('symbol=BTCUSDT&limit=1000'))
    expect(over.status).toBe(429)
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(Number(over.headers.get('retry-after'))).toBeLessThanOrEqual(60)
    expect(over.body).toMatchObject({ code: -1003 })
    expect((await get(`${s.restUrl}/fapi/v1/depth?symbol=BTCUSDT`)).status).toBe(404)
    expect(s.stats().rest['/api/v3/depth']).toEqual({ '200': 1, '400': 3, '418': 1, '429': 2, '500': 1 })
    expect(s.stats().restRequests).toBe(9)
  })

  it('pings every interval and counts the pongs', async () => {
    const s = await start({ pingIntervalMs: 30 })
    const c = new Client(`${s.wsUrl}/ws`)
    await c.opened
    await until(() => s.stats().pongs >= 3, 'pongs', 5000)
    expect(s.stats().pings).toBeGreaterThanOrEqual(3)
  })
})

describe('faults', () => {
  it('drops, duplicates and garbles the planned frames, and only those', async () => {
    const plan = { drop: { every: 100 }, duplicate: [5, 6, 7, 99], malformed: [10, 20, 30] }
    const s = await start({ faults: plan })
    const c = new Client(`${s.wsUrl}/stream?streams=${SPOT_STREAMS}`)
    await s.finished
    const dropped = countSelected(plan.drop, spotTimeline.length)
    expect(dropped).toBe(412)
    const expected: string[] = []
    const schedule = new FaultSchedule(plan)
    spotTimeline.forEach((t, i) => {
      const f = schedule.frame(i)
      if (f === 'drop') return
      if (f === 'malformed') expected.push(schedule.garble(t, i))
      expected.push(t)
      if (f === 'duplicate') expected.push(t)
    })
    await until(() => c.messages.length >= expected.length, 'all frames')
    expect(c.messages).toHaveLength(41_248 - 412 + 3 + 3)
    expect(firstDiff(c.messages, expected)).toBe(-1)
    const garbled = c.messages.filter((t) => {
      try {
        JSON.parse(t)
        return false
      } catch {
        return true
      }
    })
    expect(garbled).toHaveLength(3)
    expect(spotTimeline[10].startsWith(garbled[0])).toBe(true)
    // Index 99 is both dropped and duplicated: drop wins
    expect(s.stats()).toMatchObject({ dropped: 412, duplicated: 3, malformed: 3, framesSent: 41_248 - 412 + 3 })
  })

  it('disconnectAt terminates every connection and the timeline skips while nobody is there', async () => {
    // The stall at 0 lets both clients connect before anything is sent
    const s = await start({ faults: { disconnectAt: [1000], skipOnDisconnect: 200, stallAt: [0], stallMs: 300 } })
    const a = new Client(`${s.wsUrl}/stream?streams=${SPOT_STREAMS}`)
    const b = new Client(`${s.wsUrl}/ws/btcusdt@trade`)
    const closed = await a.closed
    expect(closed.code).toBe(1006)
    expect((await b.closed).code).toBe(1006)
    expect(a.messages).toEqual(spotTimeline.slice(0, 1000))
    expect(s.stats()).toMatchObject({ index: 1200, disconnects: 2, skipped: 200 })
    const again = new Client(`${s.wsUrl}/stream?streams=${SPOT_STREAMS}`)
    await until(() => again.messages.length >= 10, 'frames after reconnecting')
    expect(again.messages.slice(0, 10)).toEqual(spotTimeline.slice(1200, 1210))
  })

  it('shutdownAt sends serverShutdown, keeps sending through the grace period, then closes', async () => {
    const s = await start({ faults: { shutdownAt: [500], shutdownGraceMs: 300, stallAt: [600], stallMs: 1000 } })
    const a = new Client(`${s.wsUrl}/stream?streams=${SPOT_STREAMS}`)
    let b: Client | undefined
    a.onMessage = (t) => {
      if (t.startsWith('{"e":"serverShutdown"')) b = new Client(`${s.wsUrl}/stream?streams=${SPOT_STREAMS}`)
    }
    const closed = await a.closed
    expect(closed.code).toBe(1001)
    const notice = a.messages[500]
    expect(JSON.parse(notice)).toEqual({ e: 'serverShutdown', E: Math.floor(Number(spotFrames.filter((f) => f.src === 'ws')[500].localTimestamp) / 1000) })
    expect(a.messages.slice(0, 500)).toEqual(spotTimeline.slice(0, 500))
    // Sent during the grace period (the stall at 600 keeps the rest back)
    expect(a.messages.slice(501)).toEqual(spotTimeline.slice(500, 600))
    expect(s.stats().shutdowns).toBe(1)
    // The connection opened after the notice carries on
    await until(() => (b?.messages.length ?? 0) >= 120, 'frames on the new connection', 10_000)
    const got = (b as Client).messages
    const at = spotTimeline.indexOf(got[0])
    expect(at).toBeGreaterThanOrEqual(500)
    expect(got.slice(0, 120)).toEqual(spotTimeline.slice(at, at + 120))
  })
})

describe('merged cryptofeed captures', () => {
  it('merges a ws and an http capture: snapshots keyed by the URL symbol, bridged by the diffs', async () => {
    const ws = join(REC, 'cryptofeed', 'BINANCE.ws.1.0.txt.gz')
    const http = join(REC, 'cryptofeed', 'BINANCE.http.0.0.txt.gz')
    const s = await start({ recordings: [ws, http] })
    expect(s.venue).toBe('binance')
    expect((await get(`${s.restUrl}/api/v3/depth?symbol=NKNUSDT&limit=1`)).body).toMatchObject({ lastUpdateId: 499_869_752 })
    const streams = ['nknusdt@depth@100ms', 'blzeth@depth@100ms', 'lrcbtc@depth@100ms', 'runeeur@depth@100ms']
    const c = new Client(`${s.wsUrl}/stream?streams=${streams.join('/')}`)
    await s.finished
    await until(() => c.messages.length >= 177, 'the depth diffs')
    const recorded = new Map(
      readRecordingSync(http).map((f) => [new URL(f.url as string).searchParams.get('symbol'), (JSON.parse(f.text) as { lastUpdateId: number }).lastUpdateId]),
    )
    for (const sym of ['NKNUSDT', 'BLZETH', 'LRCBTC', 'RUNEEUR']) {
      const diffs = c.messages.filter((t) => streamName(t) === `${sym.toLowerCase()}@depth@100ms`).map((t) => (JSON.parse(t) as { data: DepthDiff }).data)
      const snap = (await get(`${s.restUrl}/api/v3/depth?symbol=${sym}&limit=5`)).body as { lastUpdateId: number }
      // The last diff when the diffs pass the snapshot, else the recorded snapshot (its id is ahead of the stream)
      expect(snap.lastUpdateId).toBe(Math.max(diffs[diffs.length - 1].u, recorded.get(sym) as number))
    }
    expect(c.messages.filter((t) => streamName(t) === 'nknusdt@depth@100ms').length).toBeGreaterThan(10)
    expect(s.stats()).toMatchObject({ bookGaps: 0, total: 177 + 84 + 2 + 2 })
  })
})

describe('Binance USD-M futures replay', () => {
  it('infers the venue, serves /fapi depth with E and T on the pu chain, and routed paths', async () => {
    const s = await start({ recordings: [USDM], faults: { stallAt: [5000], stallMs: 3000 } })
    expect(s.venue).toBe('binance-futures')
    const before = await get(`${s.restUrl}/fapi/v1/depth?symbol=BTCUSDT&limit=5`)
    expect(before.body).toMatchObject({ lastUpdateId: 2_710_246_765_483, E: 1_680_652_700_590, T: 1_680_652_700_580 })
    expect(before.headers.get('x-mbx-used-weight-1m')).toBe('2')
    const pub = new Client(`${s.wsUrl}/public/stream?streams=btcusdt@depth@0ms`)
    const mkt = new Client(`${s.wsUrl}/market/ws/btcusdt@markPrice@1s`)
    await until(() => s.stats().index >= 5000, 'the stall')
    await new Promise((r) => setTimeout(r, 100))
    const diffs = pub.messages.map((t) => (JSON.parse(t) as { data: DepthDiff & { E: number; T: number } }).data)
    for (let i = 1; i < diffs.length; i++) expect(diffs[i].pu).toBe(diffs[i - 1].u)
    const snap = (await get(`${s.restUrl}/fapi/v1/depth?symbol=BTCUSDT&limit=1000`)).body as { lastUpdateId: number; E: number; T: number; bids: unknown[] }
    const last = diffs[diffs.length - 1]
    expect(snap).toMatchObject({ lastUpdateId: last.u, E: last.E, T: last.T })
    expect(snap.bids.length).toBeGreaterThan(900)
    expect(mkt.messages.length).toBeGreaterThan(0)
    expect(JSON.parse(mkt.messages[0])).toMatchObject({ e: 'markPriceUpdate', s: 'BTCUSDT' })
    expect(s.stats().bookGaps).toBe(0)
    const trades = (await get(`${s.restUrl}/fapi/v1/historicalTrades?symbol=BTCUSDT&limit=2`)).body as Record<string, unknown>[]
    expect(Object.keys(trades[0])).toEqual(['id', 'price', 'qty', 'quoteQty', 'time', 'isBuyerMaker'])
  })
})

describe('Coinbase replay', () => {
  const cb = readRecordingSync(COINBASE)
    .filter((f) => f.src === 'ws')
    .map((f) => ({ text: f.text, msg: JSON.parse(f.text) as { type: string; product_id?: string; changes?: [string, string, string][]; bids?: [string, string][]; asks?: [string, string][] } }))

  it('answers a legacy subscribe with subscriptions, a snapshot of its book, then the recorded updates', async () => {
    const s = await start({ recordings: [COINBASE] })
    expect(s.venue).toBe('coinbase')
    const c = new Client(s.wsUrl)
    await c.opened
    c.send({ type: 'subscribe', product_ids: ['SKL-USD'], channels: ['level2', { name: 'matches', product_ids: ['SKL-USD', 'DASH-BTC'] }] })
    await s.finished
    const want = cb.filter((x) => {
      if (x.msg.type === 'l2update') return x.msg.product_id === 'SKL-USD'
      if (x.msg.type === 'match' || x.msg.type === 'last_match') return x.msg.product_id === 'SKL-USD' || x.msg.product_id === 'DASH-BTC'
      return false
    })
    await until(() => c.messages.length >= want.length + 2, 'updates')
    expect(JSON.parse(c.messages[0])).toEqual({
      type: 'subscriptions',
      channels: [
        { name: 'level2', product_ids: ['SKL-USD'] },
        { name: 'matches', product_ids: ['SKL-USD', 'DASH-BTC'] },
      ],
    })
    const recorded = cb.find((x) => x.msg.type === 'snapshot' && x.msg.product_id === 'SKL-USD')?.msg
    const snap = JSON.parse(c.messages[1]) as { type: string; product_id: string; bids: unknown[]; asks: unknown[] }
    expect(snap).toEqual({ type: 'snapshot', product_id: 'SKL-USD', bids: recorded?.bids, asks: recorded?.asks })
    expect(c.messages.slice(2)).toEqual(want.map((x) => x.text))
    expect(s.stats()).toMatchObject({ total: 9719 + 107 + 97 + 10, ignoredFrames: 3 })
  })

  it('converts the same data to Advanced Trade envelopes for an Advanced Trade subscribe', async () => {
    const s = await start({ recordings: [COINBASE] })
    const c = new Client(s.wsUrl)
    await c.opened
    c.send({ type: 'subscribe', product_ids: ['NU-GBP'], channel: 'level2' })
    c.send({ type: 'subscribe', product_ids: ['NU-GBP'], channel: 'market_trades' })
    await s.finished
    const updates = cb.filter((x) => x.msg.type === 'l2update' && x.msg.product_id === 'NU-GBP')
    const trades = cb.filter((x) => (x.msg.type === 'match' || x.msg.type === 'last_match') && x.msg.product_id === 'NU-GBP')
    await until(() => c.messages.length >= 3 + updates.length + trades.length, 'updates')
    const msgs = c.messages.map((t) => JSON.parse(t) as { channel: string; sequence_num: number; events: { type: string; product_id?: string; updates?: { side: string; price_level: string; new_quantity: string }[] }[] })
    expect(msgs.map((m) => m.sequence_num)).toEqual(msgs.map((_, i) => i))
    expect(msgs[0]).toMatchObject({ channel: 'subscriptions', events: [{ subscriptions: { level2: ['NU-GBP'] } }] })
    expect(msgs[1]).toMatchObject({ channel: 'l2_data', events: [{ type: 'snapshot', product_id: 'NU-GBP' }] })
    const recorded = cb.find((x) => x.msg.type === 'snapshot' && x.msg.product_id === 'NU-GBP')?.msg
    const snapUpdates = msgs[1].events[0].updates ?? []
    expect(snapUpdates.filter((u) => u.side === 'bid').map((u) => [u.price_level, u.new_quantity])).toEqual(recorded?.bids)
    expect(snapUpdates.filter((u) => u.side === 'offer').map((u) => [u.price_level, u.new_quantity])).toEqual(recorded?.asks)
    expect(msgs[2]).toMatchObject({ channel: 'subscriptions', events: [{ subscriptions: { level2: ['NU-GBP'], market_trades: ['NU-GBP'] } }] })
    const l2 = msgs.slice(3).filter((m) => m.channel === 'l2_data')
    expect(l2).toHaveLength(updates.length)
    expect(l2.map((m) => m.events[0].updates?.map((u) => [u.side === 'bid' ? 'buy' : 'sell', u.price_level, u.new_quantity]))).toEqual(
      updates.map((x) => x.msg.changes),
    )
    expect(msgs.slice(3).filter((m) => m.channel === 'market_trades')).toHaveLength(trades.length)
  })

  it('refuses an unknown product', async () => {
    const s = await start({ recordings: [COINBASE] })
    const c = new Client(s.wsUrl)
    await c.opened
    c.send({ type: 'subscribe', product_ids: ['BTC-USD'], channels: ['level2'] })
    await until(() => c.messages.length >= 1, 'an answer')
    expect(JSON.parse(c.messages[0])).toEqual({ type: 'error', message: 'Failed to subscribe', reason: 'BTC-USD is not a valid product' })
    expect(s.stats().index).toBe(0)
  })
})

describe('mercury replay-server', () => {
  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist', 'src', 'commands', 'replay-server.js'))) {
      throw new Error('dist/ is missing the replay-server command: run `npm run build` first')
    }
  })

  function run(args: string[]): { child: ChildProcess; out: () => string; err: () => string; exit: Promise<number | null> } {
    const child = spawn(process.execPath, [BIN, 'replay-server', ...args], {
      cwd: ROOT,
      env: { ...process.env, MERCURY_DATA_DIR: tempDir(), MERCURY_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.push(child)
    let out = ''
    let err = ''
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()))
    const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    return { child, out: () => out, err: () => err, exit }
  }

  it('prints its URLs as one JSON line, replays to a client and exits at the end with stats', async () => {
    const p = run([USDM, '--port', '0', '--json', '--exit-at-end', '--drop-every', '1000'])
    await until(() => p.out().includes('\n'), 'the URL line', 20_000)
    const info = JSON.parse(p.out().split('\n')[0]) as { wsUrl: string; restUrl: string; port: number; venue: string; frames: number }
    expect(info).toMatchObject({ venue: 'binance-futures', frames: 13_383 })
    expect(info.wsUrl).toBe(`ws://127.0.0.1:${info.port}`)
    expect(info.restUrl).toBe(`http://127.0.0.1:${info.port}`)
    const c = new Client(`${info.wsUrl}/stream?streams=btcusdt@depth@0ms/btcusdt@trade/btcusdt@bookTicker/btcusdt@markPrice@1s`)
    expect(await p.exit).toBe(0)
    expect((await c.closed).code).toBe(1001)
    expect(c.messages).toHaveLength(13_383 - 13)
    const stats = JSON.parse(p.out().trim().split('\n')[1]) as { index: number; total: number; dropped: number }
    expect(stats).toMatchObject({ index: 13_383, total: 13_383, dropped: 13, finished: true })
  })

  it('stops on SIGTERM, and prints URLs and help in text form', async () => {
    const p = run([COINBASE, '--port', '0'])
    await until(() => p.out().includes('rest'), 'the URL lines', 20_000)
    expect(p.out()).toMatch(/^ws\s+ws:\/\/127\.0\.0\.1:\d+\nrest\s+http:\/\/127\.0\.0\.1:\d+/)
    p.child.kill('SIGTERM')
    expect(await p.exit).toBe(0)
    expect(p.out()).toMatch(/frames sent/)
    const help = run(['--help'])
    expect(await help.exit).toBe(0)
    expect(help.out()).toMatch(/Examples:\n\s+\$ mercury replay-server /)
  })

  it('answers bad input with one line and exit codes 2 (usage) or 1 (bad data, a port in use)', async () => {
    const taken = createNetServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as AddressInfo).port
    const cases: [string[], number, RegExp][] = [
      [[SPOT, '--pace', 'fast'], 2, /Invalid --pace: 'fast'/],
      [[SPOT, '--disconnect-at', '1,x'], 2, /Invalid --disconnect-at: '1,x'/],
      [[join(REC, 'nope.gz')], 2, /does not exist/],
      [[join(ROOT, 'package.json')], 1, /unknown recording format/],
      // TEST-NET-1 (RFC 5737) is no address of this machine, and needs no DNS
      [[SPOT, '--host', '192.0.2.1'], 2, /^mercury: Invalid --host: '192\.0\.2\.1' is not an address of this machine/],
      [[SPOT, '--port', String(port)], 1, new RegExp(`^mercury: Cannot serve the replay: --port ${port} is already in use on 127\\.0\\.0\\.1\\. Choose another --port`)],
    ]
    for (const [args, code, message] of cases) {
      const p = run(args.includes('--port') ? args : [...args, '--port', '0'])
      expect(await p.exit, p.err()).toBe(code)
      const lines = p.err().trim().split('\n')
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(message)
    }
    await new Promise<void>((resolve) => taken.close(() => resolve()))
  })
})
