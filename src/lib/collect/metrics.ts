// Prometheus metrics of a collector, in a registry of its own (never prom-client's global one, so two collectors
// in one process or a test never share counts), and the small HTTP server that exposes them.
//
// The hot path stays cheap: per-message counters are plain numbers in cached cells that are folded into the
// prom-client counters when Prometheus scrapes (prom-client hashes the label set on every `inc`, even on a cached
// child), and histograms observe through labelled children cached per label set.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { oneLine } from '../errors.js'
import { listenError } from '../net/listen.js'
import { logger } from '../log.js'
import type { CollectorObserver } from './collector.js'

const log = logger('mercury:metrics')

/** Exchange event time to receipt: 1 ms to 10 s */
export const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** One lake commit */
export const PERSIST_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
/** Receipt to bus: 10 µs to 1 s */
export const BUS_LATENCY_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

export type ParseErrorReason = 'malformed' | 'unknown' | 'invalid'

/** What one lake flush reports (the persister's `FlushResult`); `byKind` splits the rows when known. */
export interface PersistReport {
  readonly rowsWritten: number
  readonly ms: number
  readonly error?: string | undefined
  readonly byKind?: Readonly<Record<string, number>> | undefined
}

export interface MetricsOptions {
  /** Adds prom-client's process metrics (CPU, memory, event-loop lag, handles) to the registry; default true */
  readonly processMetrics?: boolean
}

interface MessageCell {
  readonly labels: { exchange: string; channel: string }
  messages: number
  bytes: number
  reportedMessages: number
  reportedBytes: number
}

type LagChild = ReturnType<Histogram<'exchange' | 'channel'>['labels']>

/** The collector's metrics in their own registry; every recording method is cheap enough for the hot path. */
export class CollectorMetrics {
  readonly registry = new Registry()

  private readonly cells = new Map<string, Map<string, MessageCell>>()
  private busDroppedSeen = 0
  private readonly lagChildren = new Map<string, Map<string, LagChild>>()

  readonly messages: Counter<'exchange' | 'channel'>
  readonly bytes: Counter<'exchange' | 'channel'>
  readonly parseErrors: Counter<'exchange' | 'reason'>
  readonly reconnects: Counter<'exchange'>
  readonly resyncs: Counter<'exchange' | 'symbol'>
  readonly gaps: Counter<'exchange' | 'symbol' | 'stream'>
  readonly recordsPersisted: Counter<'kind'>
  readonly persistFailures: Counter<string>
  readonly busDroppedTotal: Counter<string>
  readonly exchangeLag: Histogram<'exchange' | 'channel'>
  readonly persistSeconds: Histogram<string>
  readonly busLatencySeconds: Histogram<string>
  readonly busBacklog: Gauge<string>
  readonly persistQueue: Gauge<string>
  readonly bookLevelsGauge: Gauge<'exchange' | 'symbol' | 'side'>
  readonly up: Gauge<string>

  constructor(o: MetricsOptions = {}) {
    const registers = [this.registry]
    const cells = this.cells
    this.messages = new Counter({
      name: 'mercury_messages_total',
      help: 'Records received from exchanges, by exchange and channel (record type)',
      labelNames: ['exchange', 'channel'],
      registers,
      collect() {
        for (const byChannel of cells.values()) {
          for (const c of byChannel.values()) {
            if (c.messages > c.reportedMessages) this.inc(c.labels, c.messages - c.reportedMessages)
            c.reportedMessages = c.messages
          }
        }
      },
    })
    this.bytes = new Counter({
      name: 'mercury_bytes_total',
      help: 'Bytes of exchange frames received, by exchange and channel',
      labelNames: ['exchange', 'channel'],
      registers,
      collect() {
        for (const byChannel of cells.values()) {
          for (const c of byChannel.values()) {
            if (c.bytes > c.reportedBytes) this.inc(c.labels, c.bytes - c.reportedBytes)
            c.reportedBytes = c.bytes
          }
        }
      },
    })
    this.parseErrors = new Counter({
      name: 'mercury_parse_errors_total',
      help: 'Frames that could not be turned into records: malformed (not JSON), unknown (unexpected shape), invalid (bad values)',
      labelNames: ['exchange', 'reason'],
      registers,
    })
    this.reconnects = new Counter({ name: 'mercury_reconnects_total', help: 'Exchange connections re-opened', labelNames: ['exchange'], registers })
    this.resyncs = new Counter({ name: 'mercury_resyncs_total', help: 'Order books thrown away and rebuilt from a snapshot', labelNames: ['exchange', 'symbol'], registers })
    this.gaps = new Counter({ name: 'mercury_gaps_total', help: 'Holes detected in a stream (ids or sequence numbers)', labelNames: ['exchange', 'symbol', 'stream'], registers })
    this.recordsPersisted = new Counter({ name: 'mercury_records_persisted_total', help: 'Rows committed to the lake, by kind (`all` when the flush does not split them)', labelNames: ['kind'], registers })
    this.persistFailures = new Counter({ name: 'mercury_persist_failures_total', help: 'Lake flushes that failed (the records stay queued)', registers })
    this.busDroppedTotal = new Counter({ name: 'mercury_bus_dropped_total', help: 'Records dropped from the bus backlog while its transport was unavailable', registers })
    this.exchangeLag = new Histogram({
      name: 'mercury_exchange_lag_seconds',
      help: 'Exchange event time to receipt, seconds (clock skew below zero counts as zero)',
      labelNames: ['exchange', 'channel'],
      buckets: LAG_BUCKETS,
      registers,
    })
    this.persistSeconds = new Histogram({ name: 'mercury_persist_seconds', help: 'Latency of one batch write to the lake, seconds', buckets: PERSIST_BUCKETS, registers })
    this.busLatencySeconds = new Histogram({ name: 'mercury_bus_latency_seconds', help: 'Receipt to bus publish, seconds', buckets: BUS_LATENCY_BUCKETS, registers })
    this.busBacklog = new Gauge({ name: 'mercury_bus_backlog', help: 'Records accepted by the bus but not yet handed to its transport', registers })
    this.persistQueue = new Gauge({ name: 'mercury_persist_queue_records', help: 'Records waiting for the next lake commit', registers })
    this.bookLevelsGauge = new Gauge({ name: 'mercury_book_levels', help: 'Price levels in the local order book', labelNames: ['exchange', 'symbol', 'side'], registers })
    this.up = new Gauge({ name: 'mercury_up', help: '1 while the collector runs, 0 once it stops', registers })
    this.up.set(1)
    if (o.processMetrics !== false) collectDefaultMetrics({ register: this.registry })
  }

  /** Counts one received record and the bytes of its frame. */
  message(exchange: string, channel: string, bytes: number): void {
    let byChannel = this.cells.get(exchange)
    if (!byChannel) this.cells.set(exchange, (byChannel = new Map()))
    let c = byChannel.get(channel)
    if (!c) byChannel.set(channel, (c = { labels: { exchange, channel }, messages: 0, bytes: 0, reportedMessages: 0, reportedBytes: 0 }))
    c.messages++
    c.bytes += bytes
  }

  /** Observes the exchange-to-receipt delay of one record, in seconds. */
  lag(exchange: string, channel: string, seconds: number): void {
    let byChannel = this.lagChildren.get(exchange)
    if (!byChannel) this.lagChildren.set(exchange, (byChannel = new Map()))
    let h = byChannel.get(channel)
    if (!h) byChannel.set(channel, (h = this.exchangeLag.labels(exchange, channel)))
    h.observe(seconds > 0 ? seconds : 0)
  }

  parseError(exchange: string, reason: ParseErrorReason): void {
    this.parseErrors.inc({ exchange, reason })
  }

  reconnect(exchange: string): void {
    this.reconnects.inc({ exchange })
  }

  resync(exchange: string, symbol: string): void {
    this.resyncs.inc({ exchange, symbol })
  }

  gap(exchange: string, symbol: string, stream: string): void {
    this.gaps.inc({ exchange, symbol, stream })
  }

  /** Records one lake flush: its latency, and its rows by kind. */
  persisted(r: PersistReport): void {
    this.persistSeconds.observe(r.ms / 1000)
    if (r.error) this.persistFailures.inc()
    if (r.byKind) {
      for (const [kind, n] of Object.entries(r.byKind)) if (n > 0) this.recordsPersisted.inc({ kind }, n)
    } else if (r.rowsWritten > 0) {
      this.recordsPersisted.inc({ kind: 'all' }, r.rowsWritten)
    }
  }

  busLatency(seconds: number): void {
    this.busLatencySeconds.observe(seconds > 0 ? seconds : 0)
  }

  busDropped(n = 1): void {
    if (n > 0) this.busDroppedTotal.inc(n)
  }

  bookLevels(exchange: string, symbol: string, bids: number, asks: number): void {
    this.bookLevelsGauge.set({ exchange, symbol, side: 'bid' }, bids)
    this.bookLevelsGauge.set({ exchange, symbol, side: 'ask' }, asks)
  }

  /** Sets the queue gauges (the collector calls this once a second). */
  gauges(g: { busBacklog?: number; persistQueue?: number }): void {
    if (g.busBacklog !== undefined) this.busBacklog.set(g.busBacklog)
    if (g.persistQueue !== undefined) this.persistQueue.set(g.persistQueue)
  }

  /** Mirrors a bus's counters (call it with `bus.stats()` on the status tick): backlog gauge, dropped counter. */
  busStats(stats: { readonly backlog: number; readonly dropped: number }): void {
    this.busBacklog.set(stats.backlog)
    if (stats.dropped > this.busDroppedSeen) this.busDroppedTotal.inc(stats.dropped - this.busDroppedSeen)
    this.busDroppedSeen = stats.dropped
  }

  setUp(up: boolean): void {
    this.up.set(up ? 1 : 0)
  }

  /** The hooks the collector calls, bound to this instance. */
  observer(): Required<CollectorObserver> {
    return {
      message: (e, ch, b) => this.message(e, ch, b),
      parseError: (e, r) => this.parseError(e, r),
      reconnect: (e) => this.reconnect(e),
      resync: (e, s) => this.resync(e, s),
      gap: (e, s, st) => this.gap(e, s, st),
      lag: (e, ch, s) => this.lag(e, ch, s),
      busLatency: (s) => this.busLatency(s),
      bookLevels: (e, s, b, a) => this.bookLevels(e, s, b, a),
    }
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }
}

export interface MetricsServer {
  /** Base URL, e.g. `http://127.0.0.1:9100`; metrics at `/metrics`, health at `/health` */
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

/**
 * Serves `/metrics` (Prometheus text) and `/health` (the callback's JSON; 503 when it says `ok: false`).
 * Port 0 picks a free one. A port in use is a FatalError naming `--metrics-port`.
 */
export async function startMetricsServer(
  metrics: CollectorMetrics,
  port: number,
  host = '0.0.0.0',
  health: () => object = () => ({ ok: true }),
): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      log.warn(`${req.url}: ${oneLine(err)}`)
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
      res.end('internal error\n')
    })
  })
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    if (path === '/metrics') {
      const body = await metrics.text()
      res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : body)
    } else if (path === '/health') {
      const h = health() as { ok?: unknown }
      const body = `${JSON.stringify(h, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`
      res.writeHead(h.ok === false ? 503 : 200, { 'content-type': 'application/json' }).end(req.method === 'HEAD' ? undefined : body)
    } else if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('mercury collector: /metrics /health\n')
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /health\n')
    }
  }
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening)
      reject(listenError(err, { what: 'metrics', host, port, hostFlag: '--metrics-host', portFlag: '--metrics-port' }))
    }
    const onListening = () => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen(port, host)
  })
  server.on('error', (err) => log.warn(`metrics server: ${oneLine(err)}`))
  const bound = (server.address() as AddressInfo).port
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  const url = `http://${shownHost}:${bound}`
  log.info(`metrics at ${url}/metrics`)
  return {
    url,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
