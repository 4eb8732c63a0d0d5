// One logical WebSocket feed: connects, keeps the subscription from its original arguments, reconnects with
// capped exponential backoff and jitter (reset after the first good message), honours Retry-After on 418/429
// handshakes, watches for stale streams, and rotates make-before-break: the new connection is opened and must
// deliver before the old one is closed, so nothing is missed across Binance's 24 h limit or a serverShutdown.

import WebSocket from 'ws'
import { logger } from '../log.js'
import { nowUs } from '../time.js'
import { backoffMs } from '../net/backoff.js'
import { retryAfterMs } from '../net/http.js'

const log = logger('mercury:feed')

export interface FeedConnection {
  /** Increases with every socket this feed opens */
  readonly id: number
  readonly url: string
  send(text: string): void
}

export interface FeedOptions {
  /** Shown in logs and metrics, e.g. `binance-futures/market` */
  readonly name: string
  /** Connection URL, rebuilt from the original arguments on every connect */
  readonly url: () => string
  /** Subscribes on a fresh connection (venues that subscribe by message) */
  readonly onOpen?: (conn: FeedConnection) => void
  /** A text frame and its receipt time (µs) */
  readonly onMessage: (text: string, localTimestamp: number, conn: FeedConnection) => void
  /** A connection ended that was not replaced make-before-break: data may be missing */
  readonly onDisconnect?: (info: { reason: string; localTimestamp: number; connId: number }) => void
  /** Called when a connection opens (after a reconnect too) */
  readonly onConnect?: (info: { connId: number; reconnect: boolean }) => void
  /** No frame for this long (heartbeats included) means the stream is dead, ms */
  readonly staleMs?: number
  /** Rotate before the venue's connection lifetime runs out (Binance: 24 h), ms */
  readonly maxAgeMs?: number
  readonly backoff?: { baseMs: number; capMs: number }
  readonly handshakeTimeoutMs?: number
  /** Client pings for venues that want them (none of Binance's streams do: the server pings) */
  readonly pingEveryMs?: number
  /** Receipt clock, µs */
  readonly now?: () => number
}

export interface FeedStats {
  connects: number
  reconnects: number
  rotations: number
  messages: number
  bytes: number
  staleTimeouts: number
  handshakeFailures: number
}

interface Conn extends FeedConnection {
  readonly ws: WebSocket
  openedAt: number
  lastFrameAt: number
  gotFrame: boolean
  retiring: boolean
  watchdog: NodeJS.Timeout | undefined
  pinger: NodeJS.Timeout | undefined
}

export class Feed {
  private active: Conn | undefined
  private next: Conn | undefined
  private seq = 0
  private attempt = 0
  private stopped = true
  private reconnectTimer: NodeJS.Timeout | undefined
  private ageTimer: NodeJS.Timeout | undefined
  private ever = false
  /** The last socket error, e.g. `connect ECONNREFUSED 127.0.0.1:9443` (for a run that never connected) */
  lastError: string | undefined
  readonly stats: FeedStats = { connects: 0, reconnects: 0, rotations: 0, messages: 0, bytes: 0, staleTimeouts: 0, handshakeFailures: 0 }
  private readonly now: () => number

  constructor(private readonly o: FeedOptions) {
    this.now = o.now ?? nowUs
  }

  get name(): string {
    return this.o.name
  }

  /** True while a connection is open. */
  get connected(): boolean {
    return this.active?.ws.readyState === WebSocket.OPEN
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.connect(false)
  }

  /** Opens a replacement connection and closes the current one once the replacement delivers. */
  rotate(reason: string): void {
    if (this.stopped || this.next) return
    log.info(`${this.o.name}: rotating connection (${reason})`)
    this.stats.rotations++
    this.next = this.open(true)
  }

  private connect(reconnect: boolean): void {
    if (this.stopped) return
    this.active = this.open(false)
    if (reconnect) this.stats.reconnects++
  }

  private open(asReplacement: boolean): Conn {
    const url = this.o.url()
    this.lastError = undefined
    const ws = new WebSocket(url, { handshakeTimeout: this.o.handshakeTimeoutMs ?? 10_000, perMessageDeflate: false })
    const conn: Conn = {
      id: ++this.seq,
      url,
      ws,
      openedAt: 0,
      lastFrameAt: 0,
      gotFrame: false,
      retiring: false,
      watchdog: undefined,
      pinger: undefined,
      send: (text: string) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(text)
      },
    }
    let retryAfter: number | undefined
    ws.on('unexpected-response', (_req, res) => {
      // A refused handshake: 429/418 carry Retry-After, and reconnecting sooner makes a ban longer
      const h = new Headers()
      for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v)
      retryAfter = retryAfterMs(h)
      this.stats.handshakeFailures++
      log.warn(`${this.o.name}: handshake refused with HTTP ${res.statusCode}${retryAfter !== undefined ? `, retry after ${retryAfter} ms` : ''}`)
      res.resume()
      ws.terminate()
    })
    ws.on('open', () => {
      conn.openedAt = this.now()
      conn.lastFrameAt = conn.openedAt
      this.stats.connects++
      this.o.onConnect?.({ connId: conn.id, reconnect: this.ever })
      this.ever = true
      this.o.onOpen?.(conn)
      this.armWatchdog(conn)
      if (this.o.pingEveryMs) {
        conn.pinger = setInterval(() => {
          if (ws.readyState === WebSocket.OPEN) ws.ping()
        }, this.o.pingEveryMs)
      }
      if (!asReplacement) this.armAge()
    })
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      const t = this.now()
      conn.lastFrameAt = t
      const text = isBinary ? Buffer.from(data as Buffer).toString('utf8') : data.toString()
      this.stats.messages++
      this.stats.bytes += text.length
      if (!conn.gotFrame) {
        conn.gotFrame = true
        if (conn === this.active) this.attempt = 0
        if (conn === this.next) this.promote()
      }
      if (conn.retiring) return
      this.o.onMessage(text, t, conn)
    })
    ws.on('ping', () => {
      // `ws` answers pings with the same payload on its own; a ping is liveness for the watchdog
      conn.lastFrameAt = this.now()
    })
    ws.on('error', (err) => {
      this.lastError = err.message
      log.debug(`${this.o.name}: socket error: ${err.message}`)
    })
    ws.on('close', (code, reason) => {
      this.clearConn(conn)
      if (conn.retiring || this.stopped) return
      if (conn === this.next) {
        // The replacement failed: keep the current connection and try again later
        this.next = undefined
        return
      }
      if (conn !== this.active) return
      const opened = conn.openedAt > 0
      // A handshake that failed says why in its socket error (ECONNREFUSED, ENOTFOUND), not in the close code
      const why = !opened && this.lastError !== undefined ? `could not connect: ${this.lastError}` : `closed with code ${code}${reason.length ? ` (${reason.toString().slice(0, 120)})` : ''}`
      // A handshake that never opened lost nothing: only report connections that carried data
      if (opened) this.o.onDisconnect?.({ reason: why, localTimestamp: this.now(), connId: conn.id })
      this.active = undefined
      // A pending replacement becomes the connection at once
      if (this.next) {
        this.promote()
        return
      }
      this.attempt++
      const wait = Math.max(backoffMs(this.attempt, this.o.backoff ?? { baseMs: 500, capMs: 32_000 }), retryAfter ?? 0)
      log.warn(`${this.o.name}: ${why}; reconnecting in ${wait} ms`)
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = undefined
        this.connect(true)
      }, wait)
    })
    return conn
  }

  /** The replacement delivered: it becomes the connection and the old one is closed. */
  private promote(): void {
    const old = this.active
    this.active = this.next
    this.next = undefined
    this.armAge()
    if (old) {
      old.retiring = true
      this.clearConn(old)
      old.ws.close(1000, 'rotated')
      setTimeout(() => old.ws.terminate(), 2000).unref()
    }
  }

  private armWatchdog(conn: Conn): void {
    const stale = this.o.staleMs ?? 30_000
    const tick = Math.max(50, Math.min(1000, stale / 4))
    conn.watchdog = setInterval(() => {
      if (this.now() - conn.lastFrameAt > stale * 1000) {
        this.stats.staleTimeouts++
        log.warn(`${this.o.name}: no frame for ${stale} ms; dropping the connection`)
        this.clearConn(conn)
        conn.ws.terminate()
      }
    }, tick)
  }

  private armAge(): void {
    if (this.ageTimer) clearTimeout(this.ageTimer)
    this.ageTimer = undefined
    const max = this.o.maxAgeMs
    if (!max) return
    this.ageTimer = setTimeout(() => this.rotate('connection age limit'), max)
    this.ageTimer.unref?.()
  }

  private clearConn(conn: Conn): void {
    if (conn.watchdog) clearInterval(conn.watchdog)
    if (conn.pinger) clearInterval(conn.pinger)
    conn.watchdog = undefined
    conn.pinger = undefined
  }

  /** Closes every connection and cancels timers; resolves when the sockets are closed. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    if (this.ageTimer) clearTimeout(this.ageTimer)
    const conns = [this.active, this.next].filter((c): c is Conn => c !== undefined)
    this.active = undefined
    this.next = undefined
    await Promise.all(
      conns.map(
        (c) =>
          new Promise<void>((resolve) => {
            this.clearConn(c)
            c.retiring = true
            if (c.ws.readyState === WebSocket.CLOSED) return resolve()
            const t = setTimeout(() => {
              c.ws.terminate()
              resolve()
            }, 1000)
            c.ws.once('close', () => {
              clearTimeout(t)
              resolve()
            })
            if (c.ws.readyState === WebSocket.CONNECTING) c.ws.terminate()
            else c.ws.close(1000, 'stopping')
          }),
      ),
    )
  }
}
