// `mercury collect` as a library call: builds the venue adapters, the persister, the bus, metrics, the
// heartbeat and the recorder, runs until the duration ends or the signal aborts, then flushes everything

import { hostname } from 'node:os'
import { join } from 'node:path'
import type { Exchange } from '../consts.js'
import { UsageError } from '../errors.js'
import { BINANCE_MARKETS, type BinanceMarket } from '../exchanges/binance/rest.js'
import { BINANCE_WS, BinanceFeedAdapter } from '../exchanges/binance/feed.js'
import { COINBASE_URLS, CoinbaseFeedAdapter, type CoinbaseFeedKind } from '../exchanges/coinbase/feed.js'
import type { Instrument } from '../instrument.js'
import { readManifest } from '../lake/manifest.js'
import { datasetDir } from '../lake/paths.js'
import { logger } from '../log.js'
import { Collector, type CollectorStats } from './collector.js'
import { Persister, type FlushResult } from './persister.js'
import { Recorder } from './recorder.js'
import type { Channel, VenueAdapter } from './venue.js'

const log = logger('mercury:collect')

export interface CollectRunOptions {
  readonly instruments: readonly Instrument[]
  readonly channels: readonly Channel[]
  readonly lakeDir: string
  /** Stop after this long, ms; undefined runs until the signal */
  readonly durationMs?: number | undefined
  readonly signal?: AbortSignal | undefined
  readonly batchMs?: number
  readonly bookDepth?: number
  readonly bookSnapshotEveryMs?: number
  /** `memory` or `redis://host:port` */
  readonly bus?: string
  readonly metricsPort?: number | undefined
  readonly metricsHost?: string | undefined
  readonly recordPath?: string | undefined
  /** Per-exchange URL overrides (flags), then --testnet, then env, then production */
  readonly wsUrl?: Partial<Record<Exchange, string>>
  readonly restUrl?: Partial<Record<Exchange, string>>
  readonly testnet?: boolean
  readonly depthSpeed?: string | undefined
  readonly snapshotLimit?: number | undefined
  readonly maxRepairTrades?: number | undefined
  readonly staleMs?: number | undefined
  readonly coinbaseFeed?: CoinbaseFeedKind
  readonly serviceId?: string
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Sees the collector once it is built (tests, the monitor) */
  readonly onCollector?: (c: Collector) => void
  /** Called every second with a status line's numbers */
  readonly onStatus?: (s: CollectStatus) => void
}

export interface CollectStatus {
  readonly elapsedMs: number
  readonly stats: CollectorStats
  readonly persisted: number
  readonly queued: number
  readonly lastFlush: FlushResult | undefined
  readonly persistError: string | undefined
  readonly connected: boolean
  readonly metricsUrl: string | undefined
}

export interface CollectSummary {
  readonly elapsedMs: number
  readonly stats: CollectorStats
  readonly persisted: { flushes: number; failures: number; records: number; rowsWritten: number }
  readonly recordedFrames: number | undefined
  readonly metricsUrl: string | undefined
  /** Connections opened, attempts to re-open after a loss, and the feeds that never connected */
  readonly connections: ReturnType<Collector['connections']>
}

function pickUrl(kind: 'ws' | 'rest', exchange: Exchange, o: CollectRunOptions): string {
  const flag = (kind === 'ws' ? o.wsUrl : o.restUrl)?.[exchange]
  const env = o.env ?? process.env
  const check = (url: string, source: string) => {
    let u: URL
    try {
      u = new URL(url)
    } catch {
      throw new UsageError(`Invalid ${source}: '${url}'. Expected a ${kind === 'ws' ? 'ws(s)' : 'http(s)'} URL`)
    }
    const ok = kind === 'ws' ? ['ws:', 'wss:'] : ['http:', 'https:']
    if (!ok.includes(u.protocol)) throw new UsageError(`Invalid ${source}: '${url}'. Expected a ${kind === 'ws' ? 'ws(s)' : 'http(s)'} URL`)
    return url.replace(/\/+$/, '')
  }
  if (flag) return check(flag, kind === 'ws' ? '--ws-url' : '--rest-url')
  if (exchange === 'coinbase') {
    const feed = o.coinbaseFeed ?? 'advanced'
    const u = COINBASE_URLS[feed]
    const e = env[kind === 'ws' ? u.wsEnv : u.restEnv]
    if (e) return check(e, kind === 'ws' ? u.wsEnv : u.restEnv)
    return kind === 'ws' ? (o.testnet ? u.sandboxWs : u.ws) : o.testnet ? u.sandboxRest : u.rest
  }
  const m = exchange as BinanceMarket
  if (kind === 'ws') {
    const e = env[BINANCE_WS[m].env]
    if (o.testnet) return BINANCE_WS[m].testnet
    if (e) return check(e, BINANCE_WS[m].env)
    return BINANCE_WS[m].live
  }
  const e = env[BINANCE_MARKETS[m].urlEnv]
  if (o.testnet) return BINANCE_MARKETS[m].testnetUrl
  if (e) return check(e, BINANCE_MARKETS[m].urlEnv)
  return BINANCE_MARKETS[m].restUrl
}

/** Builds one adapter per exchange named by the instruments. */
export function buildAdapters(o: CollectRunOptions, onRest?: (url: string, body: string) => void): VenueAdapter[] {
  const byExchange = new Map<Exchange, string[]>()
  for (const i of o.instruments) {
    const list = byExchange.get(i.exchange) ?? []
    if (!list.includes(i.symbol)) list.push(i.symbol)
    byExchange.set(i.exchange, list)
  }
  const env = o.env ?? process.env
  const out: VenueAdapter[] = []
  for (const [exchange, symbols] of byExchange) {
    const common = { symbols, channels: o.channels, wsUrl: pickUrl('ws', exchange, o), restUrl: pickUrl('rest', exchange, o), staleMs: o.staleMs, onRest }
    if (exchange === 'coinbase') {
      out.push(new CoinbaseFeedAdapter({ ...common, feed: o.coinbaseFeed ?? 'advanced' }))
    } else {
      const key = exchange === 'binance' ? env.MERCURY_BINANCE_API_KEY : env.MERCURY_BINANCE_FUTURES_API_KEY ?? env.MERCURY_BINANCE_API_KEY
      out.push(
        new BinanceFeedAdapter(exchange, {
          ...common,
          depthSpeed: o.depthSpeed,
          snapshotLimit: o.snapshotLimit,
          apiKey: key || undefined,
        }),
      )
    }
  }
  return out
}

/** Highest trade id the lake holds per instrument, so a restart fetches what it missed while down. */
export function storedLastTradeIds(lakeDir: string, instruments: readonly Instrument[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const i of instruments) {
    const m = readManifest(datasetDir(lakeDir, { kind: 'trades', exchange: i.exchange, symbol: i.symbol }))
    if (!m) continue
    let max = -Infinity
    for (const p of Object.values(m.partitions)) max = Math.max(max, p.maxKey)
    if (Number.isFinite(max)) out.set(`${i.exchange}:${i.symbol}`, max)
  }
  return out
}

/** Runs collectors until `durationMs` passes or `signal` aborts; flushes, closes and summarises. */
export async function runCollect(o: CollectRunOptions): Promise<CollectSummary> {
  if (o.instruments.length === 0) throw new UsageError('Missing instrument: name at least one, e.g. binance:BTCUSDT')
  const started = Date.now()
  const recorder = o.recordPath ? new Recorder(o.recordPath) : undefined
  const adapters = buildAdapters(o)
  const { createBus } = await import('../bus/index.js')
  const bus = await createBus(o.bus ?? 'memory')
  const { CollectorMetrics, startMetricsServer } = await import('./metrics.js')
  const metrics = new CollectorMetrics()
  let lastFlush: FlushResult | undefined
  const persister = new Persister(o.lakeDir, {
    windowMs: o.batchMs ?? 5000,
    onFlush: (r) => {
      lastFlush = r
      metrics.persisted(r)
    },
  })
  const serviceId = o.serviceId ?? `collect-${hostname()}-${process.pid}`
  const collector: Collector = new Collector({
    adapters,
    channels: o.channels,
    persister,
    bus,
    observer: metrics.observer(),
    bookDepth: o.bookDepth,
    bookSnapshotEveryMs: o.bookSnapshotEveryMs,
    maxRepairTrades: o.maxRepairTrades,
    lastTradeIds: o.channels.includes('trades') ? storedLastTradeIds(o.lakeDir, o.instruments) : undefined,
    rawFrames: recorder ? (t, src, url, text) => recorder.write(t, src, url, text) : undefined,
  })
  const status = (): CollectStatus => ({
    elapsedMs: Date.now() - started,
    stats: collector.stats,
    persisted: persister.snapshot().rowsWritten,
    queued: persister.queued,
    lastFlush,
    persistError: persister.error,
    connected: collector.connected,
    metricsUrl: server?.url,
  })
  // eslint-disable-next-line prefer-const -- assigned after `status` is defined, which the server reports
  let server: Awaited<ReturnType<typeof startMetricsServer>> | undefined
  server = o.metricsPort !== undefined
    ? await startMetricsServer(metrics, o.metricsPort, o.metricsHost, () => ({ ...status(), stats: undefined }))
    : undefined
  const { startHeartbeat } = await import('./heartbeat.js')
  const heartbeat = startHeartbeat({
    serviceId,
    redis: bus.kind === 'redis' ? o.bus : undefined,
    file: bus.kind === 'redis' ? undefined : join(o.lakeDir, '_state', 'health', `${serviceId}.json`),
    status: () => {
      const s = status()
      return {
        state: 'running', connected: s.connected, messages: s.stats.messages, persisted: s.persisted, queued: s.queued,
        resyncs: s.stats.resyncs, reconnects: s.stats.reconnects, persistError: s.persistError,
      }
    },
  })
  o.onCollector?.(collector)
  persister.start()
  collector.start()
  const ticker = setInterval(() => {
    metrics.gauges({ busBacklog: bus.backlog(), persistQueue: persister.queued })
    metrics.busStats(bus.stats())
    o.onStatus?.(status())
  }, 1000)
  try {
    await new Promise<void>((resolve) => {
      const done = () => resolve()
      if (o.signal?.aborted) return resolve()
      o.signal?.addEventListener('abort', done, { once: true })
      if (o.durationMs !== undefined) setTimeout(done, o.durationMs).unref()
    })
  } finally {
    clearInterval(ticker)
    await collector.stop()
    try {
      await persister.close({ compact: true })
    } finally {
      await bus.close()
      await recorder?.close()
      await heartbeat.stop()
      await server?.close()
    }
  }
  log.info(`stopped after ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return {
    elapsedMs: Date.now() - started,
    stats: collector.stats,
    persisted: persister.snapshot(),
    recordedFrames: recorder?.frames,
    metricsUrl: server?.url,
    connections: collector.connections(),
  }
}
