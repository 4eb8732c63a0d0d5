// The collector: venue feeds -> pure mappers -> book synchronisers and trade-id tracking -> sinks (lake
// persister, bus, recorder). Books follow each venue's documented sequencing; every discarded book leaves an
// integrity event; trades missing after a disconnect or a restart are fetched from REST by id, and what REST
// cannot give back is recorded as a gap.

import type { Exchange } from '../consts.js'
import { createBookSync } from '../book/sync.js'
import type { BookSync, SyncStep } from '../book/types.js'
import type { Bus } from '../bus/types.js'
import { oneLine } from '../errors.js'
import { logger } from '../log.js'
import { nowUs } from '../time.js'
import { backoffMs, sleep } from '../net/backoff.js'
import type { BookChange, BookSnapshot, BookTicker, FeedControl, IntegrityEvent, MarketRecord, Trade } from '../types.js'
import { Feed, type FeedConnection } from './feed.js'
import type { Persister } from './persister.js'
import type { Channel, VenueAdapter, VenueConnectionSpec } from './venue.js'

const log = logger('mercury:collect')

/** What the collector reports to metrics; every member is cheap enough for the hot path. */
export interface CollectorObserver {
  message?(exchange: Exchange, channel: string, bytes: number): void
  parseError?(exchange: Exchange, reason: 'malformed' | 'unknown' | 'invalid'): void
  reconnect?(exchange: Exchange): void
  resync?(exchange: Exchange, symbol: string): void
  gap?(exchange: Exchange, symbol: string, stream: string): void
  lag?(exchange: Exchange, channel: string, seconds: number): void
  busLatency?(seconds: number): void
  bookLevels?(exchange: Exchange, symbol: string, bids: number, asks: number): void
}

export interface CollectorOptions {
  readonly adapters: readonly VenueAdapter[]
  readonly channels: readonly Channel[]
  readonly persister?: Persister | undefined
  readonly bus?: Bus | undefined
  /** Receives every raw frame and REST body (`--record`) */
  readonly rawFrames?: ((localTimestamp: number, src: 'ws' | 'rest' | 'open' | 'close', url: string | undefined, text: string) => void) | undefined
  readonly observer?: CollectorObserver | undefined
  /** Levels per side in the periodic top-of-book snapshots */
  readonly bookDepth?: number
  /** Period of top-N snapshots, ms; 0 turns them off */
  readonly bookSnapshotEveryMs?: number
  /** Largest hole (in trade ids) repaired from REST; bigger holes are recorded as gaps */
  readonly maxRepairTrades?: number
  /** Last stored trade id per `exchange:symbol`, so a restart repairs the time it was down */
  readonly lastTradeIds?: ReadonlyMap<string, number>
  /** Sees every record the collector emits (tests, the monitor) */
  readonly onRecord?: ((r: MarketRecord) => void) | undefined
  /** Replaying recorded frames with `ingest`: no sockets, no REST; snapshots come from the recording */
  readonly offline?: boolean
  readonly now?: () => number
}

export interface CollectorStats {
  messages: number
  bytes: number
  records: Record<string, number>
  malformed: number
  unknown: number
  invalid: number
  reconnects: number
  rotations: number
  resyncs: number
  snapshots: number
  integrity: number
  duplicateTrades: number
  repairedTrades: number
  unrepairedTrades: number
  badFrames: string[]
}

interface SymbolState {
  readonly adapter: VenueAdapter
  readonly exchange: Exchange
  readonly symbol: string
  sync: BookSync | undefined
  snapshotInFlight: boolean
  snapshotFailures: number
  /** Connection carrying the book (Coinbase re-subscribes on it) */
  bookConn: FeedConnection | undefined
  lastBookTimestamp: number
  lastTradeId: number | undefined
  repairs: Promise<void>
  lastTicker: BookTicker | undefined
}

export class Collector {
  private readonly feeds: { feed: Feed; spec: VenueConnectionSpec; adapter: VenueAdapter }[] = []
  private readonly states = new Map<string, SymbolState>()
  private readonly timers: NodeJS.Timeout[] = []
  private readonly seqByConn = new Map<number, number>()
  private stopping = false
  readonly stats: CollectorStats = {
    messages: 0, bytes: 0, records: {}, malformed: 0, unknown: 0, invalid: 0, reconnects: 0, rotations: 0,
    resyncs: 0, snapshots: 0, integrity: 0, duplicateTrades: 0, repairedTrades: 0, unrepairedTrades: 0, badFrames: [],
  }
  private readonly now: () => number
  private readonly pendingWork = new Set<Promise<unknown>>()

  constructor(private readonly o: CollectorOptions) {
    this.now = o.now ?? nowUs
  }

  private key(exchange: Exchange, symbol: string): string {
    return `${exchange}:${symbol}`
  }

  /** Per-instrument state: the book, the last trade id and the latest exchange ticker. */
  state(exchange: Exchange, symbol: string): SymbolState | undefined {
    return this.states.get(this.key(exchange, symbol))
  }

  /** Connections over every feed: opened, re-opened after a loss, and attempts to re-open (failed ones too). */
  connections(): { opened: number; reconnectAttempts: number; neverOpened: { name: string; url: string; lastError: string | undefined }[] } {
    let opened = 0
    let reconnectAttempts = 0
    const neverOpened: { name: string; url: string; lastError: string | undefined }[] = []
    for (const { feed, spec } of this.feeds) {
      opened += feed.stats.connects
      reconnectAttempts += feed.stats.reconnects
      if (feed.stats.connects === 0) neverOpened.push({ name: spec.name, url: spec.url(), lastError: feed.lastError })
    }
    return { opened, reconnectAttempts, neverOpened }
  }

  start(): void {
    for (const adapter of this.o.adapters) {
      for (const spec of adapter.connections()) {
        for (const symbol of spec.symbols) this.ensureState(adapter, symbol, spec.channels.includes('book'))
        const feed: Feed = new Feed({
          name: spec.name,
          url: spec.url,
          onOpen: spec.onOpen,
          staleMs: spec.staleMs,
          maxAgeMs: spec.maxAgeMs,
          onMessage: (text, t, conn) => this.onFrame(adapter, spec, feed, text, t, conn),
          onDisconnect: (info) => this.onDisconnect(adapter, spec, info.reason, info.localTimestamp),
          onConnect: (info) => {
            this.o.rawFrames?.(this.now(), 'open', spec.url(), '')
            if (info.reconnect) {
              this.stats.reconnects++
              this.o.observer?.reconnect?.(adapter.exchange)
            }
          },
        })
        this.feeds.push({ feed, spec, adapter })
      }
      if (adapter.pollOpenInterest && this.o.channels.includes('oi')) this.startOpenInterest(adapter)
    }
    for (const f of this.feeds) f.feed.start()
    const every = this.o.bookSnapshotEveryMs ?? 1000
    if (every > 0 && this.o.channels.includes('book')) {
      const t = setInterval(() => this.emitBookSnapshots(), every)
      this.timers.push(t)
    }
  }

  private ensureState(adapter: VenueAdapter, symbol: string, book: boolean): SymbolState {
    const k = this.key(adapter.exchange, symbol)
    let st = this.states.get(k)
    if (!st) {
      st = {
        adapter, exchange: adapter.exchange, symbol, sync: undefined, snapshotInFlight: false, snapshotFailures: 0,
        bookConn: undefined, lastBookTimestamp: 0,
        lastTradeId: this.o.lastTradeIds?.get(k), repairs: Promise.resolve(), lastTicker: undefined,
      }
      this.states.set(k, st)
    }
    if (book && !st.sync) st.sync = createBookSync(adapter.exchange, symbol)
    return st
  }

  private ensureStateFor(exchange: Exchange, symbol: string, book: boolean): SymbolState | undefined {
    const adapter = this.o.adapters.find((a) => a.exchange === exchange)
    return adapter ? this.ensureState(adapter, symbol, book) : undefined
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pendingWork.add(p)
    void p.finally(() => this.pendingWork.delete(p)).catch(() => undefined)
    return p
  }

  private badFrame(adapter: VenueAdapter, reason: 'malformed' | 'unknown' | 'invalid', text: string, err: unknown): void {
    this.stats[reason]++
    this.o.observer?.parseError?.(adapter.exchange, reason)
    const sample = text.length > 300 ? `${text.slice(0, 300)}…` : text
    if (this.stats.badFrames.length < 20) this.stats.badFrames.push(`${reason}: ${sample}`)
    // A flood of bad frames must not become a flood of log lines: the first ten, then one in a thousand
    const n = this.stats.malformed + this.stats.unknown + this.stats.invalid
    if (n <= 10 || n % 1000 === 0) {
      log.warn(`${adapter.exchange}: ${reason} frame skipped (${oneLine(err).slice(0, 200)}) [${n} so far]: ${sample}`)
    }
  }

  private onFrame(adapter: VenueAdapter, spec: VenueConnectionSpec, feed: Feed | undefined, text: string, t: number, conn: FeedConnection): void {
    this.stats.messages++
    this.stats.bytes += text.length
    this.o.rawFrames?.(t, 'ws', conn.url, text)
    let msg: unknown
    try {
      msg = JSON.parse(text)
    } catch (err) {
      this.badFrame(adapter, 'malformed', text, err)
      return
    }
    if (adapter.sequenceOf) {
      // Coinbase Advanced Trade numbers every frame on a connection: a hole means frames were lost
      const seq = adapter.sequenceOf(msg)
      if (seq !== undefined) {
        const prev = this.seqByConn.get(conn.id)
        this.seqByConn.set(conn.id, seq)
        if (prev !== undefined && seq > prev + 1) this.connectionGap(adapter, spec, conn, prev, seq, t)
      }
    }
    let recs: (MarketRecord | FeedControl)[]
    try {
      recs = adapter.map(msg, t)
    } catch (err) {
      const unknown = (err as Error)?.name === 'UnknownMessageError'
      this.badFrame(adapter, unknown ? 'unknown' : 'invalid', text, err)
      return
    }
    for (let i = 0; i < recs.length; i++) {
      const r = recs[i]
      if (r.type === 'control') this.onControl(adapter, spec, feed, r, conn)
      else {
        this.o.observer?.message?.(adapter.exchange, r.type, i === 0 ? text.length : 0)
        if (r.timestamp > 0) this.o.observer?.lag?.(adapter.exchange, r.type, (t - r.timestamp) / 1e6)
        this.onRecord(r, conn)
      }
    }
  }

  private onControl(adapter: VenueAdapter, spec: VenueConnectionSpec, feed: Feed | undefined, c: FeedControl, conn: FeedConnection): void {
    if (c.event === 'shutdown') {
      this.stats.rotations++
      feed?.rotate('server shutdown notice')
    } else if (c.event === 'error') {
      log.error(`${adapter.exchange}: venue error: ${c.detail ?? ''}`)
    }
  }

  /** Frames were lost on a sequenced connection: its books cannot be trusted. */
  private connectionGap(adapter: VenueAdapter, spec: VenueConnectionSpec, conn: FeedConnection, prev: number, next: number, t: number): void {
    for (const symbol of spec.symbols) {
      const st = this.state(adapter.exchange, symbol)
      if (!st?.sync) continue
      // The reset step asks for a snapshot, and handleStep re-subscribes
      this.handleStep(st, st.sync.reset(`sequence jumped from ${prev} to ${next}`, t), conn)
    }
  }

  private onRecord(r: MarketRecord, conn: FeedConnection): void {
    switch (r.type) {
      case 'book_change': {
        const st = this.o.offline ? this.ensureStateFor(r.exchange, r.symbol, true) : this.state(r.exchange, r.symbol)
        if (!st?.sync) return
        st.bookConn = conn
        if (r.isSnapshot) {
          this.handleStep(st, st.sync.onSnapshot(r), conn)
          return
        }
        this.handleStep(st, st.sync.onDiff(r), conn)
        if (st.sync.state === 'awaiting_snapshot' && st.adapter.fetchSnapshot && !this.o.offline) this.requestSnapshot(st)
        return
      }
      case 'trade': {
        const st = this.o.offline ? this.ensureStateFor(r.exchange, r.symbol, false) : this.state(r.exchange, r.symbol)
        if (st) this.onTrade(st, r)
        else this.emit(r)
        return
      }
      case 'book_ticker': {
        const st = this.state(r.exchange, r.symbol)
        if (st) st.lastTicker = r
        this.emit(r)
        return
      }
      default:
        this.emit(r)
    }
  }

  private handleStep(st: SymbolState, step: SyncStep, conn: FeedConnection | undefined): void {
    for (const ev of step.integrity) {
      if (ev.kind === 'resync') {
        this.stats.resyncs++
        this.o.observer?.resync?.(st.exchange, st.symbol)
      } else if (ev.kind === 'gap') this.o.observer?.gap?.(st.exchange, st.symbol, ev.stream)
      this.emit(ev)
    }
    for (const c of step.applied) {
      st.lastBookTimestamp = c.timestamp
      this.emit(c)
    }
    if (step.needSnapshot) {
      if (st.adapter.resubscribeBook && conn) st.adapter.resubscribeBook(st.symbol, conn)
      // Binance asks for the snapshot once diffs are buffering again (see onRecord)
    }
  }

  private requestSnapshot(st: SymbolState): void {
    if (st.snapshotInFlight || this.stopping || !st.adapter.fetchSnapshot) return
    st.snapshotInFlight = true
    const fetch = st.adapter.fetchSnapshot.bind(st.adapter)
    const run = async () => {
      try {
        if (st.snapshotFailures > 0) await sleep(backoffMs(st.snapshotFailures, { baseMs: 500, capMs: 30_000 }))
        if (this.stopping || !st.sync) return
        const ans = await fetch(st.symbol, this.now)
        this.o.rawFrames?.(this.now(), 'rest', ans.url, ans.body)
        this.stats.snapshots++
        st.snapshotFailures = 0
        st.snapshotInFlight = false
        this.handleStep(st, st.sync.onSnapshot(ans.value), st.bookConn)
        // A snapshot older than the buffered diffs: the synchroniser asks again
        if (st.sync.state === 'awaiting_snapshot') this.requestSnapshot(st)
      } catch (err) {
        st.snapshotFailures++
        st.snapshotInFlight = false
        if (this.stopping) return
        log.warn(`${st.exchange}:${st.symbol}: depth snapshot failed (${oneLine(err)}); retrying`)
        this.requestSnapshot(st)
      } finally {
        st.snapshotInFlight = false
      }
    }
    void this.track(run())
  }

  private onTrade(st: SymbolState, t: Trade): void {
    const last = st.lastTradeId
    if (last !== undefined && t.id <= last) {
      // The overlap of a make-before-break rotation, or a frame sent twice
      this.stats.duplicateTrades++
      return
    }
    if (last !== undefined && t.id > last + 1) this.repairTrades(st, last + 1, t.id - 1, t)
    st.lastTradeId = t.id
    this.emit(t)
  }

  /** Fetches trades [from, to] by id from REST, in order per instrument; records what stays missing. */
  private repairTrades(st: SymbolState, from: number, to: number, at: Trade): void {
    const max = this.o.maxRepairTrades ?? 200_000
    const gap = (a: number, b: number, why: string) => {
      this.stats.unrepairedTrades += b - a + 1
      this.o.observer?.gap?.(st.exchange, st.symbol, 'trades')
      const ev: IntegrityEvent = {
        type: 'integrity', exchange: st.exchange, symbol: st.symbol, timestamp: at.timestamp, localTimestamp: this.now(),
        kind: 'gap', stream: 'trades', from: a, to: b, detail: why,
      }
      this.emit(ev)
    }
    const fetchTrades = this.o.offline ? undefined : st.adapter.fetchTrades?.bind(st.adapter)
    if (!fetchTrades) {
      gap(from, to, `trade ids ${from}..${to} missing; ${st.exchange} offers no trade history by id`)
      return
    }
    if (to - from + 1 > max) {
      gap(from, to, `${to - from + 1} trades missing, more than --max-repair ${max}`)
      return
    }
    log.info(`${st.exchange}:${st.symbol}: trade ids ${from}..${to} missing; fetching them from REST`)
    const run = async () => {
      let next = from
      try {
        while (next <= to && !this.stopping) {
          const ans = await fetchTrades(st.symbol, next, this.now)
          this.o.rawFrames?.(this.now(), 'rest', ans.url, ans.body)
          if (ans.value.length === 0) break
          // A page answers every id from `next` to its last one; ids it leaves out are not trades (futures
          // prints such as insurance-fund fills that mercury does not keep), so they are not holes
          let maxId = next - 1
          for (const x of ans.value.sort((a, b) => a.id - b.id)) {
            maxId = Math.max(maxId, x.id)
            if (x.id < next || x.id > to) continue
            this.emit(x)
            this.stats.repairedTrades++
          }
          if (maxId < next) break
          next = maxId + 1
        }
        if (next <= to) gap(next, to, `trade ids ${next}..${to} not served by REST`)
      } catch (err) {
        gap(next, to, `trade repair failed: ${oneLine(err).slice(0, 200)}`)
      }
    }
    st.repairs = st.repairs.then(run)
    void this.track(st.repairs)
  }

  private onDisconnect(adapter: VenueAdapter, spec: VenueConnectionSpec, reason: string, t: number): void {
    for (const symbol of spec.symbols) {
      const st = this.state(adapter.exchange, symbol)
      if (!st) continue
      this.emit({
        type: 'integrity', exchange: adapter.exchange, symbol, timestamp: t, localTimestamp: t,
        kind: 'disconnect', stream: spec.name, from: undefined, to: undefined, detail: reason,
      })
      // Diffs were lost with the connection: the book must be rebuilt from a new snapshot
      if (st.sync && spec.channels.includes('book') && st.sync.state === 'synced') {
        this.handleStep(st, st.sync.reset(`connection ${spec.name} ${reason}`, t), undefined)
      }
    }
  }

  private emitBookSnapshots(): void {
    const depth = this.o.bookDepth ?? 20
    const t = this.now()
    for (const st of this.states.values()) {
      const sync = st.sync
      if (!sync || sync.state !== 'synced') continue
      const { bids, asks } = sync.book.top(depth)
      this.o.observer?.bookLevels?.(st.exchange, st.symbol, sync.book.bidLevels, sync.book.askLevels)
      const snap: BookSnapshot = {
        type: 'book_snapshot', exchange: st.exchange, symbol: st.symbol, timestamp: st.lastBookTimestamp,
        localTimestamp: t, depth, bids, asks,
      }
      this.emit(snap)
    }
  }

  private startOpenInterest(adapter: VenueAdapter): void {
    const poll = adapter.pollOpenInterest?.bind(adapter)
    if (!poll) return
    const symbols = [...this.states.values()].filter((s) => s.adapter === adapter).map((s) => s.symbol)
    const last = new Map<string, number>()
    const tick = () => {
      for (const symbol of symbols) {
        void this.track(
          poll(symbol, this.now).then(
            (ans) => {
              this.o.rawFrames?.(this.now(), 'rest', ans.url, ans.body)
              // The value changes only when the exchange's time moves
              if (last.get(symbol) === ans.value.timestamp) return
              last.set(symbol, ans.value.timestamp)
              this.emit(ans.value)
            },
            (err) => log.warn(`${adapter.exchange}:${symbol}: open interest poll failed: ${oneLine(err)}`),
          ),
        )
      }
    }
    tick()
    this.timers.push(setInterval(tick, adapter.openInterestEveryMs ?? 10_000))
  }

  private emit(r: MarketRecord): void {
    this.stats.records[r.type] = (this.stats.records[r.type] ?? 0) + 1
    if (r.type === 'integrity') this.stats.integrity++
    this.o.persister?.add(r)
    if (this.o.bus) {
      this.o.bus.publish(r)
      this.o.observer?.busLatency?.((this.now() - r.localTimestamp) / 1e6)
    }
    this.o.onRecord?.(r)
  }

  /**
   * Feeds one recorded frame through the same path live frames take (parse, book, trades, sinks), without a
   * socket: `src` 'rest' is a depth snapshot body for `symbol`. Used by benchmarks, convert-lob and tests.
   */
  ingest(exchange: Exchange, text: string, localTimestamp: number, src: 'ws' | 'rest' = 'ws', symbol?: string): void {
    const adapter = this.o.adapters.find((a) => a.exchange === exchange)
    if (!adapter) throw new Error(`No adapter for ${exchange}`)
    let entry = this.offlineConns.get(exchange)
    if (!entry) {
      const spec: VenueConnectionSpec = { name: `${exchange}/replay`, url: () => 'replay:', symbols: [], channels: this.o.channels }
      entry = { spec, conn: { id: -1 - this.offlineConns.size, url: 'replay:', send: () => undefined } }
      this.offlineConns.set(exchange, entry)
    }
    if (src === 'rest') {
      if (!symbol || !adapter.parseSnapshot) throw new Error(`A snapshot needs a symbol and a venue that parses REST depth`)
      const st = this.ensureState(adapter, symbol, true)
      let snap: BookChange
      try {
        snap = adapter.parseSnapshot(JSON.parse(text), symbol, localTimestamp)
      } catch (err) {
        this.badFrame(adapter, 'invalid', text, err)
        return
      }
      this.stats.snapshots++
      if (st.sync) this.handleStep(st, st.sync.onSnapshot(snap), entry.conn)
      return
    }
    this.onFrame(adapter, entry.spec, undefined, text, localTimestamp, entry.conn)
  }

  private readonly offlineConns = new Map<Exchange, { spec: VenueConnectionSpec; conn: FeedConnection }>()

  /** True while every feed has an open connection. */
  get connected(): boolean {
    return this.feeds.every((f) => f.feed.connected)
  }

  /** Stops the feeds and timers and waits for REST work in flight (trade repairs) to settle. */
  async stop(): Promise<void> {
    this.stopping = true
    for (const t of this.timers) clearInterval(t)
    await Promise.all(this.feeds.map((f) => f.feed.stop()))
    this.stats.rotations = Math.max(this.stats.rotations, this.feeds.reduce((n, f) => n + f.feed.stats.rotations, 0))
    await Promise.allSettled([...this.pendingWork])
  }
}

