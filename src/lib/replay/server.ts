// A local fake exchange that replays raw recordings over the venue's own protocols, for collector tests and
// demos. One global timeline walks the recorded ws frames in `localTimestamp` order and hands each frame to every
// connection subscribed to its stream; the server keeps its own order book and trade history as the timeline
// passes frames, so REST snapshots and trade pages describe "now" on the timeline, never the future.
//
// Binance (spot and USD-M futures), on one port:
// - WS paths `/ws/<stream>[/<stream>…]` (bare payloads), `/stream?streams=a/b/c` (the `{"stream","data"}`
//   wrapper), the futures routed forms `/public/…` and `/market/…` of both (routes are accepted, not enforced),
//   and the live methods SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY/GET_PROPERTY `combined`.
//   Frames are sent verbatim: the recorded text, or its `data` part sliced out of it (numbers never re-serialised).
//   The server pings every `pingIntervalMs` and drops a connection whose last pong is older than `pongTimeoutMs`.
// - REST `GET /api/v3/depth`, `/api/v3/historicalTrades`, `/api/v3/trades`, `/api/v3/ping`, `/api/v3/time` and
//   the `/fapi/v1/` equivalents, with `x-mbx-used-weight-1m`, a per-minute weight budget (429 + Retry-After)
//   and Binance's error bodies.
// Coinbase Exchange (legacy "Pro" feed): `subscribe` with `product_ids` and `channels` (names or
// `{name, product_ids}`), answered by `subscriptions`; `level2`/`level2_batch` start with a `snapshot` of the
// server's book, then the recorded `l2update`, `match`/`last_match`, `ticker`, `heartbeat` frames follow
// (`level2_batch` carries the same frames unbatched). A subscribe in the Advanced Trade form (one `channel`) gets
// the same data converted to Advanced Trade envelopes: a format conversion, every value is unchanged
// (`l2_data` snapshot/update with side bid/offer, `market_trades` with the legacy `side` upper-cased, `ticker`),
// and `sequence_num` counts the connection's messages from 0.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import { OrderBook, type BookSide } from '../book/book.js'
import type { Exchange } from '../consts.js'
import { FatalError } from '../errors.js'
import { logger } from '../log.js'
import { listenError } from '../net/listen.js'
import { FaultSchedule, type FaultPlan } from './faults.js'
import { mergeFrames, readRecording, snapshotSymbol, streamName, streamSymbol, type RecordedFrame } from './recording.js'

const log = logger('mercury:replay')

export type ReplayVenue = Exchange
export type ReplayPace = 'flat' | 'recorded' | number

export interface ReplayOptions {
  /** Recording files in any supported format, merged by `localTimestamp` */
  readonly recordings: readonly string[]
  /** Inferred from the frames when absent */
  readonly venue?: ReplayVenue
  /** `flat`: as fast as the slowest client drains (default); `recorded`: recorded gaps; a number: speed factor */
  readonly pace?: ReplayPace
  /** Default 127.0.0.1 */
  readonly host?: string
  /** Default 0 (any free port) */
  readonly port?: number
  readonly faults?: FaultPlan
  /** Server ping interval (default 20,000 ms, Binance spot) */
  readonly pingIntervalMs?: number
  /** A connection with no pong for this long is terminated (default 60,000 ms) */
  readonly pongTimeoutMs?: number
  /** REST weight budget per window (default spot 1200, futures 2400) */
  readonly weightLimit?: number
  /** REST weight window (default 60,000 ms, reported as `x-mbx-used-weight-1m`) */
  readonly weightWindowMs?: number
  /** Flat pace waits while a subscribed client has more than this many bytes queued (default 1 MiB) */
  readonly highWaterMark?: number
  /** Skip bad recording lines instead of failing */
  readonly lenient?: boolean
}

export interface ReplayStats {
  readonly venue: ReplayVenue
  /** Timeline position: the next frame to send (frames before it have been sent, dropped or skipped) */
  readonly index: number
  /** Frames in the timeline */
  readonly total: number
  readonly finished: boolean
  /** Recorded-data messages written to sockets, summed over connections (a duplicate counts twice) */
  readonly framesSent: number
  /** Timeline frames the fault plan dropped, duplicated or preceded by a garbled copy */
  readonly dropped: number
  readonly duplicated: number
  readonly malformed: number
  /** Timeline frames passed unsent after a fault disconnect */
  readonly skipped: number
  readonly stalls: number
  /** Connections accepted in total, and open now */
  readonly connections: number
  readonly openConnections: number
  /** Connections terminated by `disconnectAt` */
  readonly disconnects: number
  /** `shutdownAt` events fired */
  readonly shutdowns: number
  readonly pings: number
  readonly pongs: number
  /** Connections dropped for not answering pings */
  readonly pongTimeouts: number
  readonly restRequests: number
  /** REST requests by path, then by HTTP status */
  readonly rest: Readonly<Record<string, Readonly<Record<string, number>>>>
  /** Recorded diffs that did not chain onto the server's book (a gap in the recording itself) */
  readonly bookGaps: number
  /** Recorded ws frames left out of the timeline (subscription acks, frames with no routable stream) */
  readonly ignoredFrames: number
}

export interface ReplayServer {
  /** `ws://host:port`; Binance clients append `/ws/…` or `/stream?streams=…`, Coinbase clients use it as is */
  readonly wsUrl: string
  /** `http://host:port` */
  readonly restUrl: string
  readonly port: number
  readonly venue: ReplayVenue
  stats(): ReplayStats
  /** Resolves when the timeline has been fully sent (or the server was closed first: see `stats().finished`) */
  readonly finished: Promise<void>
  /**
   * Terminates every connection and timer. With `drainMs`, first waits up to that long for queued frames to
   * reach the clients and closes their connections with a close frame (1001), so nothing already sent is lost
   */
  close(opts?: { drainMs?: number }): Promise<void>
}

/** Starts a replay server over the given recordings. */
export async function startReplayServer(opts: ReplayOptions): Promise<ReplayServer> {
  const data = await loadReplay(opts.recordings, opts.venue, Boolean(opts.lenient))
  const server = new Replay(opts, data)
  await server.listen()
  return server
}

// ---------------------------------------------------------------------------------------------------------------
// Timeline

type Level = readonly [string, string]

interface BinanceSnapshotEvent {
  readonly kind: 'binance_snapshot'
  readonly symbol: string
  readonly lastUpdateId: number
  readonly E: number | undefined
  readonly T: number | undefined
  readonly bids: readonly Level[]
  readonly asks: readonly Level[]
}

interface CoinbaseSnapshotEvent {
  readonly kind: 'coinbase_snapshot'
  readonly product: string
  readonly bids: readonly Level[]
  readonly asks: readonly Level[]
}

type BookEvent = BinanceSnapshotEvent | CoinbaseSnapshotEvent

interface TimelineFrame {
  readonly ts: number
  readonly text: string
  /** Binance stream name, lowercase symbol */
  readonly stream: string | undefined
  /** The recorded text carries the combined-stream wrapper */
  readonly wrapped: boolean
  /** Coinbase channel (`level2`, `matches`, `ticker`, `heartbeat`, `status`, `full`) and product */
  readonly channel: string | undefined
  readonly product: string | undefined
  /** Parsed Coinbase message */
  readonly cb: CoinbaseMsg | undefined
  /** Recorded snapshots that come between the previous frame and this one */
  before: BookEvent[] | undefined
  /** Cached `data` slice and wrapped form, computed on first use */
  bare?: string
  combined?: string
}

interface CoinbaseMsg {
  type: string
  product_id?: string
  changes?: [string, string, string][]
  bids?: [string, string][]
  asks?: [string, string][]
  time?: string
  trade_id?: number
  side?: string
  size?: string
  price?: string
  [k: string]: unknown
}

interface LoadedReplay {
  readonly venue: ReplayVenue
  readonly timeline: TimelineFrame[]
  /** Snapshots recorded after the last ws frame */
  readonly tail: BookEvent[]
  /** First recorded snapshot per symbol/product: the server's book before the timeline passes anything */
  readonly initial: Map<string, BookEvent>
  /** Symbols (Binance, upper case) or products (Coinbase) the recording knows */
  readonly instruments: Set<string>
  readonly ignored: number
}

const DIFF_DEPTH = /@depth(@\d+ms)?$/
const WRAPPER = /^\{\s*"stream"\s*:\s*"[^"]*"\s*,\s*"data"\s*:\s*/

/** Reads and merges recordings into the server's timeline. */
async function loadReplay(paths: readonly string[], venue: ReplayVenue | undefined, lenient: boolean): Promise<LoadedReplay> {
  if (paths.length === 0) throw new FatalError('No recordings given')
  const lists: (RecordedFrame & { symbol?: string })[][] = []
  for (const path of paths) {
    const frames: (RecordedFrame & { symbol?: string })[] = []
    let bad = 0
    for await (const f of readRecording(path, { lenient, onBadLine: () => bad++ })) frames.push(f)
    if (bad > 0) log.warn(`${path}: skipped ${bad} bad lines`)
    // Tell REST snapshots' symbols per file: hftbacktest writes no URL, only neighbouring streams say
    for (let i = 0; i < frames.length; i++) {
      if (frames[i].src === 'rest') frames[i] = { ...frames[i], symbol: snapshotSymbol(frames, i) }
    }
    lists.push(frames)
  }
  const merged = mergeFrames(lists)
  const v = venue ?? inferVenue(merged)
  return v === 'coinbase' ? buildCoinbase(merged) : buildBinance(merged, v)
}

/** Guesses the venue from URLs and payload shapes. */
export function inferVenue(frames: readonly RecordedFrame[]): ReplayVenue {
  let futures = false
  let seen = 0
  for (const f of frames) {
    if (f.url !== undefined) {
      if (/coinbase/i.test(f.url)) return 'coinbase'
      if (/fstream|\/fapi\/|dstream|\/dapi\//.test(f.url)) futures = true
    }
    if (f.src === 'ws' && seen < 1000) {
      seen++
      if (/^\{\s*"type"\s*:/.test(f.text)) return 'coinbase'
      if (!futures && /"e"\s*:\s*"depthUpdate"/.test(f.text) && /"pu"\s*:/.test(f.text)) futures = true
    }
    if (f.src === 'rest' && /^\{\s*"lastUpdateId"/.test(f.text) && /"E"\s*:/.test(f.text)) futures = true
  }
  return futures ? 'binance-futures' : 'binance'
}

function buildBinance(merged: readonly (RecordedFrame & { symbol?: string })[], venue: ReplayVenue): LoadedReplay {
  const timeline: TimelineFrame[] = []
  const initial = new Map<string, BookEvent>()
  const instruments = new Set<string>()
  let pending: BookEvent[] = []
  let ignored = 0
  for (const f of merged) {
    if (f.src === 'rest') {
      const ev = parseBinanceSnapshot(f, f.symbol)
      if (ev === undefined) continue
      instruments.add(ev.symbol)
      if (!initial.has(ev.symbol)) initial.set(ev.symbol, ev)
      pending.push(ev)
      continue
    }
    if (f.src !== 'ws') continue
    let stream = streamName(f.text)
    const wrapped = stream !== undefined
    if (stream === undefined && f.url !== undefined) {
      // A raw `/ws/<stream>` connection: its frames are bare payloads of the one stream in the URL
      const m = /\/ws\/([^/?]+)$/.exec(f.url)
      if (m) stream = m[1]
    }
    if (stream === undefined) {
      ignored++
      continue
    }
    stream = normaliseStream(stream)
    instruments.add(streamSymbol(stream))
    timeline.push({
      ts: f.localTimestamp,
      text: f.text,
      stream,
      wrapped,
      channel: undefined,
      product: undefined,
      cb: undefined,
      before: pending.length > 0 ? pending : undefined,
    })
    if (pending.length > 0) pending = []
  }
  return { venue, timeline, tail: pending, initial, instruments, ignored }
}

function parseBinanceSnapshot(f: RecordedFrame, symbol: string | undefined): BinanceSnapshotEvent | undefined {
  let o: { lastUpdateId?: unknown; E?: unknown; T?: unknown; bids?: unknown; asks?: unknown }
  try {
    o = JSON.parse(f.text) as typeof o
  } catch {
    log.warn(`line ${f.line}: REST body is not JSON; ignored`)
    return undefined
  }
  if (typeof o.lastUpdateId !== 'number' || !Array.isArray(o.bids) || !Array.isArray(o.asks)) return undefined
  if (symbol === undefined) {
    log.warn(`line ${f.line}: depth snapshot whose symbol cannot be told; ignored`)
    return undefined
  }
  return {
    kind: 'binance_snapshot',
    symbol,
    lastUpdateId: o.lastUpdateId,
    E: typeof o.E === 'number' ? o.E : undefined,
    T: typeof o.T === 'number' ? o.T : undefined,
    bids: o.bids as Level[],
    asks: o.asks as Level[],
  }
}

const COINBASE_CHANNEL: Record<string, string> = {
  l2update: 'level2',
  match: 'matches',
  last_match: 'matches',
  ticker: 'ticker',
  heartbeat: 'heartbeat',
  status: 'status',
  received: 'full',
  open: 'full',
  done: 'full',
  change: 'full',
  activate: 'full',
}

function buildCoinbase(merged: readonly RecordedFrame[]): LoadedReplay {
  const timeline: TimelineFrame[] = []
  const initial = new Map<string, BookEvent>()
  const instruments = new Set<string>()
  let pending: BookEvent[] = []
  let ignored = 0
  for (const f of merged) {
    if (f.src !== 'ws') continue
    let msg: CoinbaseMsg
    try {
      msg = JSON.parse(f.text) as CoinbaseMsg
    } catch {
      ignored++
      continue
    }
    const product = typeof msg.product_id === 'string' ? msg.product_id : undefined
    if (product !== undefined) instruments.add(product)
    if (msg.type === 'snapshot' && product !== undefined && Array.isArray(msg.bids) && Array.isArray(msg.asks)) {
      const ev: CoinbaseSnapshotEvent = { kind: 'coinbase_snapshot', product, bids: msg.bids, asks: msg.asks }
      if (!initial.has(product)) initial.set(product, ev)
      pending.push(ev)
      continue
    }
    const channel = COINBASE_CHANNEL[msg.type]
    if (channel === undefined) {
      // subscriptions acks and errors answered the recorder, not a client of ours
      ignored++
      continue
    }
    timeline.push({
      ts: f.localTimestamp,
      text: f.text,
      stream: undefined,
      wrapped: false,
      channel,
      product,
      cb: msg,
      before: pending.length > 0 ? pending : undefined,
    })
    if (pending.length > 0) pending = []
  }
  return { venue: 'coinbase', timeline, tail: pending, initial, instruments, ignored }
}

/** Lower-cases the symbol part of a stream name, as Binance expects (`BTCUSDT@bookTicker` → `btcusdt@bookTicker`). */
function normaliseStream(s: string): string {
  const at = s.indexOf('@')
  return at < 0 ? s.toLowerCase() : s.slice(0, at).toLowerCase() + s.slice(at)
}

// ---------------------------------------------------------------------------------------------------------------
// The server's books and trades

/** An L2 book that also keeps each level's recorded strings, so snapshots print exactly as the venue did. */
class ServerBook {
  readonly book = new OrderBook()
  private readonly text = { bid: new Map<number, Level>(), ask: new Map<number, Level>() }
  /** Last applied update id (Binance) */
  id = 0
  E: number | undefined = undefined
  T: number | undefined = undefined
  /** False until a diff has chained onto the loaded snapshot */
  bridged = false

  load(bids: readonly Level[], asks: readonly Level[]): void {
    this.book.clear()
    this.text.bid.clear()
    this.text.ask.clear()
    for (const l of bids) this.set('bid', l[0], l[1])
    for (const l of asks) this.set('ask', l[0], l[1])
    this.bridged = false
  }

  set(side: BookSide, price: string, amount: string): void {
    const p = Number(price)
    const a = Number(amount)
    if (!Number.isFinite(p) || !Number.isFinite(a)) {
      log.warn(`bad level [${price}, ${amount}] in the recording; ignored`)
      return
    }
    this.book.set(side, p, a)
    if (a === 0) this.text[side].delete(p)
    else this.text[side].set(p, [price, amount])
  }

  /** Best `n` levels per side, as recorded strings. */
  top(n: number): { bids: Level[]; asks: Level[] } {
    const t = this.book.top(n)
    return {
      bids: t.bids.map((l) => this.text.bid.get(l.price) ?? [String(l.price), String(l.amount)]),
      asks: t.asks.map((l) => this.text.ask.get(l.price) ?? [String(l.price), String(l.amount)]),
    }
  }

  get depth(): number {
    return Math.max(this.book.bidLevels, this.book.askLevels)
  }
}

interface TradeRow {
  readonly id: number
  readonly price: string
  readonly qty: string
  readonly time: number
  readonly isBuyerMaker: boolean
  readonly isBestMatch: boolean
}

interface InstrumentState {
  book: ServerBook | undefined
  readonly trades: TradeRow[]
}

// ---------------------------------------------------------------------------------------------------------------
// Connections

interface Client {
  readonly id: number
  readonly ws: WebSocket
  readonly proto: 'binance' | 'coinbase'
  /** Binance: wrapped frames */
  combined: boolean
  readonly streams: Set<string>
  /** Coinbase: channel -> products */
  readonly channels: Map<string, Set<string>>
  /** Coinbase: answer in the Advanced Trade form */
  advanced: boolean
  seq: number
  lastPongAt: number
  shuttingDown: boolean
  open: boolean
}

class Waiter {
  private readonly pending = new Set<{ timer: NodeJS.Timeout | undefined; resolve: () => void }>()

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: undefined as NodeJS.Timeout | undefined,
        resolve: () => {
          this.pending.delete(entry)
          resolve()
        },
      }
      entry.timer = setTimeout(entry.resolve, ms)
      this.pending.add(entry)
    })
  }

  /** A promise resolved by `wake()` or `cancelAll()`. */
  signal(): { promise: Promise<void>; wake: () => void } {
    let wake!: () => void
    const promise = new Promise<void>((resolve) => {
      const entry = {
        timer: undefined,
        resolve: () => {
          this.pending.delete(entry)
          resolve()
        },
      }
      this.pending.add(entry)
      wake = entry.resolve
    })
    return { promise, wake }
  }

  cancelAll(): void {
    for (const e of [...this.pending]) {
      if (e.timer) clearTimeout(e.timer)
      e.resolve()
    }
  }
}

class BinanceReply extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    readonly msg: string,
  ) {
    super(msg)
  }
}

const bad = (code: number, msg: string) => new BinanceReply(400, code, msg)

function intParam(params: URLSearchParams, name: string): number | undefined {
  const v = params.get(name)
  if (v === null || v === '') return undefined
  if (!/^\d{1,20}$/.test(v)) throw bad(-1100, `Illegal characters found in parameter '${name}'; legal range is '^[0-9]{1,20}$'.`)
  return Number(v)
}

function spotDepthWeight(limit: number): number {
  return limit <= 100 ? 5 : limit <= 500 ? 25 : limit <= 1000 ? 50 : 250
}

function futuresDepthWeight(limit: number): number {
  return limit <= 50 ? 2 : limit <= 100 ? 5 : limit <= 500 ? 10 : 20
}

/** Exact decimal product of two decimal strings, trailing zeros dropped (`quoteQty`). */
export function mulDecimal(a: string, b: string): string {
  const [ai, af = ''] = a.split('.')
  const [bi, bf = ''] = b.split('.')
  const prod = BigInt(ai + af) * BigInt(bi + bf)
  const scale = af.length + bf.length
  const s = prod.toString().padStart(scale + 1, '0')
  const int = s.slice(0, s.length - scale)
  const frac = s.slice(s.length - scale).replace(/0+$/, '')
  return frac ? `${int}.${frac}` : int
}

function isoMicros(us: number): string {
  const ms = Math.floor(us / 1000)
  return new Date(ms).toISOString().slice(0, 23) + String(us - ms * 1000).padStart(3, '0') + 'Z'
}

function lowerBound(rows: readonly TradeRow[], id: number): number {
  let lo = 0
  let hi = rows.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (rows[mid].id < id) lo = mid + 1
    else hi = mid
  }
  return lo
}

class Replay implements ReplayServer {
  wsUrl = ''
  restUrl = ''
  port = 0
  readonly venue: ReplayVenue
  readonly finished: Promise<void>
  private resolveFinished!: () => void
  private readonly http: Server
  private readonly wss: WebSocketServer
  private readonly sockets = new Set<Socket>()
  private readonly clients = new Set<Client>()
  private readonly faults: FaultSchedule
  private readonly waiter = new Waiter()
  private readonly state = new Map<string, InstrumentState>()
  private readonly timeline: TimelineFrame[]
  private readonly timers = new Set<NodeJS.Timeout>()
  private pingTimer: NodeJS.Timeout | undefined
  private subscriberSignal: { promise: Promise<void>; wake: () => void } | undefined
  private closed = false
  private isFinished = false
  private pos = 0
  private firedAt = -1
  private nextClientId = 1
  private anchorWall = 0
  private anchorTs = 0
  private restIndex = 0
  private readonly weightUsed = new Map<number, number>()
  private readonly s = {
    framesSent: 0,
    dropped: 0,
    duplicated: 0,
    malformed: 0,
    skipped: 0,
    stalls: 0,
    connections: 0,
    disconnects: 0,
    shutdowns: 0,
    pings: 0,
    pongs: 0,
    pongTimeouts: 0,
    bookGaps: 0,
  }
  private readonly rest: Record<string, Record<string, number>> = {}

  constructor(
    private readonly opts: ReplayOptions,
    private readonly data: LoadedReplay,
  ) {
    this.venue = data.venue
    this.timeline = data.timeline
    this.faults = new FaultSchedule(opts.faults)
    const pace = opts.pace ?? 'flat'
    if (typeof pace === 'number' && !(Number.isFinite(pace) && pace > 0)) {
      throw new RangeError(`Invalid pace: ${pace}. Expected flat, recorded or a positive speed factor`)
    }
    for (const sym of data.instruments) this.state.set(sym, { book: undefined, trades: [] })
    for (const ev of data.initial.values()) this.applyBookEvent(ev)
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve))
    this.http = createServer((req, res) => this.handleHttp(req, res))
    this.http.on('connection', (s) => {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
    })
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
    this.http.on('upgrade', (req, socket, head) => this.handleUpgrade(req, socket, head))
  }

  async listen(): Promise<void> {
    const host = this.opts.host ?? '127.0.0.1'
    const port = this.opts.port ?? 0
    await new Promise<void>((resolve, reject) => {
      const onError = (err: unknown) => reject(listenError(err, { what: 'the replay', host, port, hostFlag: '--host', portFlag: '--port' }))
      this.http.once('error', onError)
      this.http.listen(port, host, () => {
        this.http.off('error', onError)
        resolve()
      })
    })
    this.port = (this.http.address() as AddressInfo).port
    const h = host.includes(':') ? `[${host}]` : host
    this.wsUrl = `ws://${h}:${this.port}`
    this.restUrl = `http://${h}:${this.port}`
    const every = this.opts.pingIntervalMs ?? 20_000
    this.pingTimer = setInterval(() => this.pingAll(), every)
    this.pingTimer.unref()
    log.info(`replaying ${this.timeline.length} ${this.venue} frames on ${this.wsUrl}`)
    void this.run().catch((err: unknown) => {
      log.error(`timeline stopped: ${err instanceof Error ? err.message : String(err)}`)
    })
  }

  stats(): ReplayStats {
    let open = 0
    for (const c of this.clients) if (c.open) open++
    return {
      venue: this.venue,
      index: this.pos,
      total: this.timeline.length,
      finished: this.isFinished,
      ...this.s,
      openConnections: open,
      restRequests: this.restIndex,
      rest: structuredClone(this.rest),
      ignoredFrames: this.data.ignored,
    }
  }

  async close(opts: { drainMs?: number } = {}): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.pingTimer) clearInterval(this.pingTimer)
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    this.waiter.cancelAll()
    const drainMs = opts.drainMs ?? 0
    if (drainMs > 0 && this.clients.size > 0) {
      const until = Date.now() + drainMs
      const open = [...this.clients].filter((c) => c.ws.readyState === WebSocket.OPEN)
      while (Date.now() < until && open.some((c) => c.ws.bufferedAmount > 0)) await new Promise((r) => setTimeout(r, 5))
      const closed = open.map((c) => new Promise<void>((resolve) => (c.ws.readyState === WebSocket.CLOSED ? resolve() : c.ws.once('close', () => resolve()))))
      for (const c of open) c.ws.close(1001, 'replay finished')
      let timer: NodeJS.Timeout | undefined
      await Promise.race([Promise.all(closed), new Promise((r) => (timer = setTimeout(r, Math.max(0, until - Date.now()) + 100)))])
      clearTimeout(timer)
    }
    for (const c of this.clients) c.ws.terminate()
    this.clients.clear()
    this.wss.close()
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => this.http.close(() => resolve()))
    this.resolveFinished()
  }

  // -------------------------------------------------------------------------------------------------------------
  // The timeline loop

  private anySubscribed(): boolean {
    for (const c of this.clients) {
      if (c.open && (c.streams.size > 0 || c.channels.size > 0)) return true
    }
    return false
  }

  private congested(): boolean {
    const hw = this.opts.highWaterMark ?? 1 << 20
    for (const c of this.clients) if (c.open && c.ws.bufferedAmount > hw) return true
    return false
  }

  private reanchor(): void {
    this.anchorWall = performance.now()
    this.anchorTs = this.timeline[this.pos]?.ts ?? 0
  }

  private async run(): Promise<void> {
    const pace = this.opts.pace ?? 'flat'
    const speed = pace === 'recorded' ? 1 : typeof pace === 'number' ? pace : undefined
    let sinceYield = 0
    while (this.pos < this.timeline.length) {
      if (this.closed) return
      if (!this.anySubscribed()) {
        this.subscriberSignal = this.waiter.signal()
        await this.subscriberSignal.promise
        this.subscriberSignal = undefined
        this.reanchor()
        continue
      }
      const i = this.pos
      if (this.firedAt !== i) {
        this.firedAt = i
        if (this.faults.stallAt(i)) {
          this.s.stalls++
          log.info(`stall at ${i} for ${this.faults.stallMs} ms`)
          await this.waiter.sleep(this.faults.stallMs)
          if (this.closed) return
          this.reanchor()
        }
        if (this.faults.shutdownAt(i)) this.shutdown(i)
        if (this.faults.disconnectAt(i)) {
          this.disconnectAll(i)
          this.skip(this.faults.skipOnDisconnect)
          continue
        }
        // Everyone may have left during a stall
        if (!this.anySubscribed()) continue
      }
      if (this.congested()) {
        await this.waiter.sleep(1)
        continue
      }
      if (speed !== undefined) {
        const due = this.anchorWall + (this.timeline[i].ts - this.anchorTs) / 1000 / speed
        const wait = due - performance.now()
        if (wait >= 1) {
          await this.waiter.sleep(Math.min(wait, 1000))
          continue
        }
      }
      this.dispatch(i)
      this.pos++
      if (++sinceYield >= 64) {
        sinceYield = 0
        await new Promise<void>((resolve) => setImmediate(resolve))
      }
    }
    for (const ev of this.data.tail) this.applyBookEvent(ev)
    this.isFinished = true
    log.info(`timeline finished: ${this.timeline.length} frames`)
    this.resolveFinished()
  }

  /** Passes `n` frames without sending them: the exchange's state moves on while nobody listens. */
  private skip(n: number): void {
    const end = Math.min(this.timeline.length, this.pos + n)
    for (; this.pos < end; this.pos++) {
      this.applyFrame(this.timeline[this.pos])
      this.s.skipped++
    }
  }

  private dispatch(i: number): void {
    const f = this.timeline[i]
    this.applyFrame(f)
    const fault = this.faults.frame(i)
    if (fault === 'drop') {
      this.s.dropped++
      return
    }
    if (fault === 'duplicate') this.s.duplicated++
    else if (fault === 'malformed') this.s.malformed++
    for (const c of this.clients) {
      if (!c.open) continue
      const text = this.render(c, f)
      if (text === undefined) continue
      if (fault === 'malformed') c.ws.send(this.faults.garble(text, i))
      c.ws.send(text)
      this.s.framesSent++
      if (fault === 'duplicate') {
        c.ws.send(text)
        this.s.framesSent++
      }
    }
  }

  /** The frame as this client must see it, or undefined when it is not subscribed. */
  private render(c: Client, f: TimelineFrame): string | undefined {
    if (c.proto === 'binance') {
      if (f.stream === undefined || !c.streams.has(f.stream)) return undefined
      return c.combined ? combinedText(f) : bareText(f)
    }
    if (f.channel === undefined) return undefined
    const products = c.channels.get(f.channel)
    if (products === undefined) return undefined
    if (f.product !== undefined && !products.has(f.product)) return undefined
    if (!c.advanced) return f.text
    return advancedText(c, f)
  }

  private applyFrame(f: TimelineFrame): void {
    if (f.before) for (const ev of f.before) this.applyBookEvent(ev)
    if (f.cb !== undefined) this.applyCoinbase(f.cb)
    else if (f.stream !== undefined) this.applyBinance(f)
  }

  private applyBookEvent(ev: BookEvent): void {
    if (ev.kind === 'binance_snapshot') {
      const st = this.instrument(ev.symbol)
      // A later recorded snapshot replaces the book only when the book fell behind it (a gap in the recording)
      if (st.book !== undefined && st.book.id >= ev.lastUpdateId) return
      const b = st.book ?? new ServerBook()
      b.load(ev.bids, ev.asks)
      b.id = ev.lastUpdateId
      b.E = ev.E
      b.T = ev.T
      st.book = b
    } else {
      const st = this.instrument(ev.product)
      const b = st.book ?? new ServerBook()
      b.load(ev.bids, ev.asks)
      st.book = b
    }
  }

  private instrument(key: string): InstrumentState {
    let st = this.state.get(key)
    if (!st) {
      st = { book: undefined, trades: [] }
      this.state.set(key, st)
    }
    return st
  }

  private applyBinance(f: TimelineFrame): void {
    const stream = f.stream as string
    const isDepth = DIFF_DEPTH.test(stream)
    const isTrade = stream.endsWith('@trade')
    if (!isDepth && !isTrade) return
    let d: Record<string, unknown>
    try {
      d = JSON.parse(bareText(f)) as Record<string, unknown>
    } catch {
      log.warn(`frame of ${stream} is not JSON; the server's state ignores it`)
      return
    }
    const st = this.instrument(typeof d.s === 'string' ? d.s : streamSymbol(stream))
    if (isTrade) {
      const id = d.t as number
      const last = st.trades[st.trades.length - 1]
      if (typeof id !== 'number' || (last !== undefined && id <= last.id)) return
      st.trades.push({
        id,
        price: String(d.p),
        qty: String(d.q),
        time: d.T as number,
        isBuyerMaker: d.m === true,
        isBestMatch: d.M !== false,
      })
      return
    }
    const b = st.book
    if (b === undefined) return
    const U = d.U as number
    const u = d.u as number
    if (u <= b.id) return
    if (this.venue === 'binance-futures') {
      const pu = d.pu as number | undefined
      if (b.bridged ? pu !== b.id : U > b.id) this.s.bookGaps++
    } else if (U > b.id + 1) {
      this.s.bookGaps++
    }
    for (const [p, q] of (d.b as [string, string][]) ?? []) b.set('bid', p, q)
    for (const [p, q] of (d.a as [string, string][]) ?? []) b.set('ask', p, q)
    b.id = u
    b.bridged = true
    if (typeof d.E === 'number') b.E = d.E
    if (typeof d.T === 'number') b.T = d.T
  }

  private applyCoinbase(m: CoinbaseMsg): void {
    if (m.type !== 'l2update' || m.product_id === undefined) return
    const b = this.state.get(m.product_id)?.book
    if (b === undefined) return
    for (const [side, price, size] of m.changes ?? []) b.set(side === 'buy' ? 'bid' : 'ask', price, size)
  }

  // -------------------------------------------------------------------------------------------------------------
  // Faults

  private disconnectAll(i: number): void {
    let n = 0
    for (const c of [...this.clients]) {
      c.open = false
      this.clients.delete(c)
      c.ws.terminate()
      n++
    }
    this.s.disconnects += n
    log.info(`disconnect at ${i}: ${n} connections terminated, skipping ${this.faults.skipOnDisconnect} frames`)
  }

  private shutdown(i: number): void {
    this.s.shutdowns++
    const E = Math.floor(this.timeline[i].ts / 1000)
    const notice = JSON.stringify({ e: 'serverShutdown', E })
    const targets = [...this.clients].filter((c) => c.open && !c.shuttingDown)
    for (const c of targets) {
      c.shuttingDown = true
      // Coinbase has no such notice: its connections just close after the grace period
      if (c.proto === 'binance') c.ws.send(notice)
    }
    const t = setTimeout(() => {
      this.timers.delete(t)
      for (const c of targets) if (c.open) c.ws.close(1001, 'server shutdown')
    }, this.faults.shutdownGraceMs)
    this.timers.add(t)
    log.info(`shutdown notice at ${i} to ${targets.length} connections`)
  }

  private pingAll(): void {
    const now = Date.now()
    const timeout = this.opts.pongTimeoutMs ?? 60_000
    for (const c of this.clients) {
      if (!c.open) continue
      if (now - c.lastPongAt > timeout) {
        this.s.pongTimeouts++
        c.open = false
        this.clients.delete(c)
        c.ws.terminate()
        continue
      }
      c.ws.ping()
      this.s.pings++
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // WebSocket connections

  private handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closed) {
      socket.destroy()
      return
    }
    const url = new URL(req.url ?? '/', 'http://local')
    let streams: string[] = []
    let combined = false
    if (this.venue !== 'coinbase') {
      const path = url.pathname.replace(/^\/(public|market)(?=\/)/, '')
      if (path === '/stream' || path === '/stream/') {
        combined = true
        streams = (url.searchParams.get('streams') ?? '').split('/').filter((s) => s !== '')
      } else if (path === '/ws' || path.startsWith('/ws/')) {
        streams = path.slice(4).split('/').filter((s) => s !== '')
      } else {
        socket.write('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
        socket.destroy()
        return
      }
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const c: Client = {
        id: this.nextClientId++,
        ws,
        proto: this.venue === 'coinbase' ? 'coinbase' : 'binance',
        combined,
        streams: new Set(streams.map(normaliseStream)),
        channels: new Map(),
        advanced: false,
        seq: 0,
        lastPongAt: Date.now(),
        shuttingDown: false,
        open: true,
      }
      this.s.connections++
      this.clients.add(c)
      ws.on('pong', () => {
        this.s.pongs++
        c.lastPongAt = Date.now()
      })
      ws.on('message', (data: RawData, isBinary: boolean) => {
        if (isBinary || !c.open) return
        const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8')
        if (c.proto === 'binance') this.onBinanceMessage(c, text)
        else this.onCoinbaseMessage(c, text)
      })
      ws.on('close', () => {
        c.open = false
        this.clients.delete(c)
      })
      ws.on('error', () => {
        c.open = false
        this.clients.delete(c)
      })
      if (c.streams.size > 0) this.wakeTimeline()
    })
  }

  private wakeTimeline(): void {
    this.subscriberSignal?.wake()
  }

  private sendControl(c: Client, value: unknown): void {
    if (c.open) c.ws.send(JSON.stringify(value))
  }

  private onBinanceMessage(c: Client, text: string): void {
    let m: { method?: unknown; params?: unknown; id?: unknown }
    try {
      m = JSON.parse(text) as typeof m
    } catch {
      this.sendControl(c, { error: { code: 3, msg: 'Invalid JSON: expected value at line 1 column 1' }, id: null })
      return
    }
    const id = typeof m.id === 'number' || typeof m.id === 'string' ? m.id : null
    const params = Array.isArray(m.params) ? (m.params as unknown[]) : []
    switch (m.method) {
      case 'SUBSCRIBE':
      case 'UNSUBSCRIBE': {
        if (!params.every((p) => typeof p === 'string')) {
          this.sendControl(c, { error: { code: 2, msg: 'Invalid request: stream names must be strings' }, id })
          return
        }
        for (const p of params as string[]) {
          if (m.method === 'SUBSCRIBE') c.streams.add(normaliseStream(p))
          else c.streams.delete(normaliseStream(p))
        }
        this.sendControl(c, { result: null, id })
        if (c.streams.size > 0) this.wakeTimeline()
        return
      }
      case 'LIST_SUBSCRIPTIONS':
        this.sendControl(c, { result: [...c.streams], id })
        return
      case 'SET_PROPERTY':
        if (params[0] !== 'combined' || typeof params[1] !== 'boolean') {
          this.sendControl(c, { error: { code: 0, msg: 'Unknown property' }, id })
          return
        }
        c.combined = params[1]
        this.sendControl(c, { result: null, id })
        return
      case 'GET_PROPERTY':
        if (params[0] !== 'combined') {
          this.sendControl(c, { error: { code: 0, msg: 'Unknown property' }, id })
          return
        }
        this.sendControl(c, { result: c.combined, id })
        return
      default:
        this.sendControl(c, { error: { code: 2, msg: 'Invalid request: unknown variant method' }, id })
    }
  }

  private onCoinbaseMessage(c: Client, text: string): void {
    let m: { type?: unknown; product_ids?: unknown; channels?: unknown; channel?: unknown }
    try {
      m = JSON.parse(text) as typeof m
    } catch {
      this.sendCoinbaseError(c, 'Malformed JSON', text.slice(0, 100))
      return
    }
    if (m.type !== 'subscribe' && m.type !== 'unsubscribe') {
      this.sendCoinbaseError(c, 'Failed to subscribe', `unknown message type ${JSON.stringify(m.type)}`)
      return
    }
    const products = Array.isArray(m.product_ids) ? m.product_ids.filter((p): p is string => typeof p === 'string') : []
    const wanted: [string, string[]][] = []
    if (typeof m.channel === 'string') {
      // Advanced Trade: one channel per message
      if (c.channels.size === 0) c.advanced = true
      const legacy = ADVANCED_TO_LEGACY[m.channel]
      if (legacy === undefined) {
        this.sendCoinbaseError(c, 'Failed to subscribe', `unknown channel ${m.channel}`)
        return
      }
      wanted.push([legacy, products])
    } else if (Array.isArray(m.channels)) {
      for (const ch of m.channels as unknown[]) {
        if (typeof ch === 'string') wanted.push([ch, products])
        else if (ch !== null && typeof ch === 'object' && typeof (ch as { name?: unknown }).name === 'string') {
          const o = ch as { name: string; product_ids?: unknown }
          const own = Array.isArray(o.product_ids) ? o.product_ids.filter((p): p is string => typeof p === 'string') : products
          wanted.push([o.name, own])
        }
      }
    }
    if (wanted.length === 0) {
      this.sendCoinbaseError(c, 'Failed to subscribe', 'No channels provided')
      return
    }
    const unknown = wanted.flatMap(([, ps]) => ps).find((p) => !this.data.instruments.has(p))
    if (unknown !== undefined && m.type === 'subscribe') {
      this.sendCoinbaseError(c, 'Failed to subscribe', `${unknown} is not a valid product`)
      return
    }
    const newBooks: string[] = []
    for (const [name, ps] of wanted) {
      // level2_batch carries the same updates as level2 here, unbatched
      const ch = name === 'level2_batch' || name === 'level2_50' ? 'level2' : name
      let set = c.channels.get(ch)
      if (m.type === 'subscribe') {
        if (!set) c.channels.set(ch, (set = new Set()))
        for (const p of ps) {
          if (ch === 'level2' && !set.has(p)) newBooks.push(p)
          set.add(p)
        }
      } else if (set) {
        for (const p of ps) set.delete(p)
        if (ps.length === 0 || set.size === 0) c.channels.delete(ch)
      }
    }
    this.sendSubscriptions(c)
    for (const p of newBooks) this.sendCoinbaseSnapshot(c, p)
    if (c.channels.size > 0) this.wakeTimeline()
  }

  private sendCoinbaseError(c: Client, message: string, reason: string): void {
    if (c.advanced) this.sendControl(c, { type: 'error', message: `${message}: ${reason}` })
    else this.sendControl(c, { type: 'error', message, reason })
  }

  private sendSubscriptions(c: Client): void {
    if (c.advanced) {
      const subs: Record<string, string[]> = {}
      for (const [ch, ps] of c.channels) subs[LEGACY_TO_ADVANCED[ch] ?? ch] = [...ps]
      this.sendControl(c, { channel: 'subscriptions', client_id: '', timestamp: this.nowIso(), sequence_num: c.seq++, events: [{ subscriptions: subs }] })
      return
    }
    const channels = [...c.channels].map(([name, ps]) => ({ name, product_ids: [...ps] }))
    this.sendControl(c, { type: 'subscriptions', channels })
  }

  private sendCoinbaseSnapshot(c: Client, product: string): void {
    const b = this.state.get(product)?.book
    if (b === undefined) {
      this.sendCoinbaseError(c, 'Failed to subscribe', `${product} has no recorded level2 snapshot`)
      return
    }
    const { bids, asks } = b.top(b.depth)
    if (!c.advanced) {
      this.sendControl(c, { type: 'snapshot', product_id: product, bids, asks })
      return
    }
    const time = this.nowIso()
    const updates = [
      ...bids.map(([p, q]) => ({ side: 'bid', event_time: time, price_level: p, new_quantity: q })),
      ...asks.map(([p, q]) => ({ side: 'offer', event_time: time, price_level: p, new_quantity: q })),
    ]
    this.sendControl(c, {
      channel: 'l2_data',
      client_id: '',
      timestamp: time,
      sequence_num: c.seq++,
      events: [{ type: 'snapshot', product_id: product, updates }],
    })
  }

  /** Recorded time at the timeline position, ISO with µs. */
  private nowIso(): string {
    const f = this.timeline[Math.min(this.pos, this.timeline.length - 1)]
    return isoMicros(f?.ts ?? Date.now() * 1000)
  }

  // -------------------------------------------------------------------------------------------------------------
  // REST

  private handleHttp(req: IncomingMessage, res: ServerResponse): void {
    const now = Date.now()
    const url = new URL(req.url ?? '/', 'http://local')
    const path = url.pathname
    const index = this.restIndex++
    const futures = this.venue === 'binance-futures'
    const headers: Record<string, string> = { 'content-type': 'application/json;charset=UTF-8' }
    let status = 200
    let body: unknown
    try {
      const route = this.route(path, url.searchParams)
      const windowMs = this.opts.weightWindowMs ?? 60_000
      const w = Math.floor(now / windowMs) * windowMs
      for (const k of this.weightUsed.keys()) if (k < w) this.weightUsed.delete(k)
      const used = (this.weightUsed.get(w) ?? 0) + route.weight
      this.weightUsed.set(w, used)
      headers['x-mbx-used-weight-1m'] = String(used)
      const limit = this.opts.weightLimit ?? (futures ? 2400 : 1200)
      const fault = this.faults.rest(index)
      if (used > limit) {
        status = 429
        headers['retry-after'] = String(Math.max(1, Math.ceil((w + windowMs - now) / 1000)))
        body = { code: -1003, msg: `Too much request weight used; current limit is ${limit} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.` }
      } else if (fault === 'rate_limit') {
        status = 429
        headers['retry-after'] = String(this.faults.retryAfterSec)
        body = { code: -1003, msg: 'Too many requests; please use the websocket for live updates.' }
      } else if (fault === 'ban') {
        status = 418
        headers['retry-after'] = String(this.faults.retryAfterSec)
        body = { code: -1003, msg: 'Way too many requests; IP banned until further notice.' }
      } else if (fault === 'fail') {
        status = 500
        body = { code: -1001, msg: 'Internal error; unable to process your request. Please try again.' }
      } else {
        body = route.body()
      }
    } catch (err) {
      if (!(err instanceof BinanceReply)) {
        status = 500
        body = { code: -1001, msg: err instanceof Error ? err.message : String(err) }
      } else {
        status = err.status
        body = { code: err.code, msg: err.msg }
      }
    }
    const byStatus = (this.rest[path] ??= {})
    byStatus[String(status)] = (byStatus[String(status)] ?? 0) + 1
    const text = JSON.stringify(body)
    res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(text)) })
    res.end(text)
  }

  private route(path: string, q: URLSearchParams): { weight: number; body: () => unknown } {
    if (this.venue === 'coinbase') throw new BinanceReply(404, -1, `no endpoint ${path}: the Coinbase replay serves WebSocket only`)
    const futures = this.venue === 'binance-futures'
    const prefix = futures ? '/fapi/v1/' : '/api/v3/'
    if (!path.startsWith(prefix)) throw new BinanceReply(404, -1, `no endpoint ${path} on a ${this.venue} replay (expected ${prefix}…)`)
    const name = path.slice(prefix.length)
    const symbolState = (): { symbol: string; st: InstrumentState } => {
      const symbol = q.get('symbol')
      if (symbol === null || symbol === '') throw bad(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
      const st = this.state.get(symbol)
      if (st === undefined || !this.data.instruments.has(symbol)) throw bad(-1121, 'Invalid symbol.')
      return { symbol, st }
    }
    const limitOf = (def: number, max: number): number => {
      const n = intParam(q, 'limit') ?? def
      if (n < 1 || n > max) throw bad(-1130, "Data sent for parameter 'limit' is not valid.")
      return n
    }
    switch (name) {
      case 'ping':
        return { weight: 1, body: () => ({}) }
      case 'time':
        return { weight: 1, body: () => ({ serverTime: Math.floor((this.timeline[Math.min(this.pos, this.timeline.length - 1)]?.ts ?? Date.now() * 1000) / 1000) }) }
      case 'depth': {
        // Spot caps limits above 5000 at 5000; futures takes up to 1000
        const raw = intParam(q, 'limit') ?? (futures ? 500 : 100)
        if (raw < 1 || (futures && raw > 1000)) throw bad(-1130, "Data sent for parameter 'limit' is not valid.")
        const limit = Math.min(raw, 5000)
        return {
          weight: futures ? futuresDepthWeight(limit) : spotDepthWeight(limit),
          body: () => {
            const { symbol, st } = symbolState()
            const b = st.book
            if (b === undefined) throw new BinanceReply(503, -1001, `Replay has no recorded depth snapshot for ${symbol}.`)
            const { bids, asks } = b.top(limit)
            return futures ? { lastUpdateId: b.id, E: b.E, T: b.T, bids, asks } : { lastUpdateId: b.id, bids, asks }
          },
        }
      }
      case 'historicalTrades':
      case 'trades': {
        const limit = limitOf(500, 1000)
        const weight = name === 'historicalTrades' ? (futures ? 20 : 25) : futures ? 5 : 25
        return {
          weight,
          body: () => {
            const { st } = symbolState()
            const rows = st.trades
            const fromId = name === 'historicalTrades' ? intParam(q, 'fromId') : undefined
            let slice: TradeRow[]
            if (fromId === undefined) slice = rows.slice(Math.max(0, rows.length - limit))
            else {
              const i = lowerBound(rows, fromId)
              slice = rows.slice(i, i + limit)
            }
            return slice.map((r) =>
              futures
                ? { id: r.id, price: r.price, qty: r.qty, quoteQty: mulDecimal(r.price, r.qty), time: r.time, isBuyerMaker: r.isBuyerMaker }
                : { id: r.id, price: r.price, qty: r.qty, quoteQty: mulDecimal(r.price, r.qty), time: r.time, isBuyerMaker: r.isBuyerMaker, isBestMatch: r.isBestMatch },
            )
          },
        }
      }
    }
    throw new BinanceReply(404, -1, `no endpoint ${path} on the replay server`)
  }
}

const ADVANCED_TO_LEGACY: Record<string, string> = {
  level2: 'level2',
  market_trades: 'matches',
  ticker: 'ticker',
  ticker_batch: 'ticker',
  // Accepted, never sent: Advanced Trade heartbeats are generated by the venue, not recorded
  heartbeats: 'heartbeats',
  status: 'status',
}

const LEGACY_TO_ADVANCED: Record<string, string> = { level2: 'level2', matches: 'market_trades', ticker: 'ticker' }

/** The recorded frame's `data` part, sliced out verbatim (or the frame itself when it was recorded bare). */
function bareText(f: TimelineFrame): string {
  if (f.bare !== undefined) return f.bare
  let out = f.text
  if (f.wrapped) {
    const m = WRAPPER.exec(f.text)
    if (m) out = f.text.slice(m[0].length, f.text.lastIndexOf('}')).trimEnd()
    else {
      // Key order other than stream-then-data: re-serialise (numbers may change form, never value for safe ints)
      out = JSON.stringify((JSON.parse(f.text) as { data: unknown }).data)
    }
  }
  f.bare = out
  return out
}

/** The frame in the combined-stream wrapper. */
function combinedText(f: TimelineFrame): string {
  if (f.wrapped) return f.text
  f.combined ??= `{"stream":${JSON.stringify(f.stream)},"data":${f.text}}`
  return f.combined
}

/** A legacy Coinbase frame converted to the Advanced Trade envelope; values unchanged. */
function advancedText(c: Client, f: TimelineFrame): string | undefined {
  const m = f.cb as CoinbaseMsg
  const timestamp = isoMicros(f.ts)
  let channel: string
  let events: unknown[]
  switch (m.type) {
    case 'l2update':
      channel = 'l2_data'
      events = [
        {
          type: 'update',
          product_id: m.product_id,
          updates: (m.changes ?? []).map(([side, price, size]) => ({
            side: side === 'buy' ? 'bid' : 'offer',
            event_time: m.time,
            price_level: price,
            new_quantity: size,
          })),
        },
      ]
      break
    case 'match':
    case 'last_match':
      channel = 'market_trades'
      events = [
        {
          type: m.type === 'last_match' ? 'snapshot' : 'update',
          trades: [
            {
              trade_id: String(m.trade_id),
              product_id: m.product_id,
              price: m.price,
              size: m.size,
              side: typeof m.side === 'string' ? m.side.toUpperCase() : undefined,
              time: m.time,
            },
          ],
        },
      ]
      break
    case 'ticker':
      channel = 'ticker'
      events = [
        {
          type: 'update',
          tickers: [
            {
              type: 'ticker',
              product_id: m.product_id,
              price: m.price,
              volume_24_h: m.volume_24h,
              low_24_h: m.low_24h,
              high_24_h: m.high_24h,
              best_bid: m.best_bid,
              best_bid_quantity: m.best_bid_size,
              best_ask: m.best_ask,
              best_ask_quantity: m.best_ask_size,
            },
          ],
        },
      ]
      break
    default:
      return undefined
  }
  return JSON.stringify({ channel, client_id: '', timestamp, sequence_num: c.seq++, events })
}
