// The collector's Prometheus metrics, scraped over HTTP as Prometheus would

import { createServer } from 'node:net'
import { register as globalRegistry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { CollectorMetrics, startMetricsServer, type MetricsServer } from '../../src/lib/collect/metrics.js'
import { FatalError } from '../../src/lib/errors.js'

const servers: MetricsServer[] = []
afterEach(async () => {
  while (servers.length) await servers.pop()!.close()
})

async function serve(m: CollectorMetrics, health?: () => object): Promise<MetricsServer> {
  const s = await startMetricsServer(m, 0, '127.0.0.1', health)
  servers.push(s)
  return s
}

interface Sample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}

/** Parses the Prometheus text format into samples (labels as a map, so their order does not matter). */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (t) types.set(t[1], t[2])
    if (!line || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m) throw new Error(`unparsable line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v
    samples.push({ name: m[1], labels, value: Number(m[3]) })
  }
  return { samples, types }
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hit = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (hit.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${hit.length} samples`)
  return hit[0]?.value
}

async function scrape(s: MetricsServer): Promise<{ samples: Sample[]; types: Map<string, string>; contentType: string | null }> {
  const res = await fetch(`${s.url}/metrics`)
  expect(res.status).toBe(200)
  return { ...parse(await res.text()), contentType: res.headers.get('content-type') }
}

describe('CollectorMetrics over HTTP', () => {
  it('exposes every metric with its labels and values', async () => {
    const m = new CollectorMetrics()
    const s = await serve(m)
    m.message('binance', 'trade', 150)
    m.message('binance', 'trade', 0)
    m.message('binance', 'trade', 160)
    m.message('coinbase', 'book_change', 1000)
    m.lag('binance', 'trade', 0.0004)
    m.lag('binance', 'trade', 0.003)
    m.lag('binance', 'trade', 12)
    m.lag('binance', 'trade', -0.002)
    m.parseError('binance', 'malformed')
    m.parseError('binance', 'invalid')
    m.parseError('binance', 'invalid')
    m.reconnect('coinbase')
    m.resync('binance', 'BTCUSDT')
    m.gap('binance', 'BTCUSDT', 'trades')
    m.gap('coinbase', 'BTC-USD', 'book')
    m.persisted({ rowsWritten: 900, ms: 120, error: undefined })
    m.persisted({ rowsWritten: 30, ms: 40, byKind: { trades: 20, book_changes: 10 } })
    m.persisted({ rowsWritten: 0, ms: 3, error: 'disk full' })
    m.busLatency(0.00004)
    m.busDropped(7)
    m.gauges({ busBacklog: 12, persistQueue: 3400 })
    m.bookLevels('binance', 'BTCUSDT', 1000, 998)

    const { samples, types, contentType } = await scrape(s)
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(value(samples, 'mercury_messages_total', { exchange: 'binance', channel: 'trade' })).toBe(3)
    expect(value(samples, 'mercury_messages_total', { exchange: 'coinbase', channel: 'book_change' })).toBe(1)
    expect(value(samples, 'mercury_bytes_total', { exchange: 'binance', channel: 'trade' })).toBe(310)
    expect(value(samples, 'mercury_bytes_total', { exchange: 'coinbase', channel: 'book_change' })).toBe(1000)
    expect(value(samples, 'mercury_parse_errors_total', { exchange: 'binance', reason: 'malformed' })).toBe(1)
    expect(value(samples, 'mercury_parse_errors_total', { exchange: 'binance', reason: 'invalid' })).toBe(2)
    expect(value(samples, 'mercury_reconnects_total', { exchange: 'coinbase' })).toBe(1)
    expect(value(samples, 'mercury_resyncs_total', { exchange: 'binance', symbol: 'BTCUSDT' })).toBe(1)
    expect(value(samples, 'mercury_gaps_total', { exchange: 'binance', symbol: 'BTCUSDT', stream: 'trades' })).toBe(1)
    expect(value(samples, 'mercury_gaps_total', { exchange: 'coinbase', symbol: 'BTC-USD', stream: 'book' })).toBe(1)
    expect(value(samples, 'mercury_records_persisted_total', { kind: 'all' })).toBe(900)
    expect(value(samples, 'mercury_records_persisted_total', { kind: 'trades' })).toBe(20)
    expect(value(samples, 'mercury_records_persisted_total', { kind: 'book_changes' })).toBe(10)
    expect(value(samples, 'mercury_persist_failures_total')).toBe(1)
    expect(value(samples, 'mercury_bus_dropped_total')).toBe(7)
    expect(value(samples, 'mercury_bus_backlog')).toBe(12)
    expect(value(samples, 'mercury_persist_queue_records')).toBe(3400)
    expect(value(samples, 'mercury_book_levels', { exchange: 'binance', symbol: 'BTCUSDT', side: 'bid' })).toBe(1000)
    expect(value(samples, 'mercury_book_levels', { exchange: 'binance', symbol: 'BTCUSDT', side: 'ask' })).toBe(998)
    expect(value(samples, 'mercury_up')).toBe(1)

    // Lag: 1 ms to 10 s buckets; a negative lag (clock skew) counts as 0, 12 s lands only in +Inf
    const lag = { exchange: 'binance', channel: 'trade' }
    const buckets = samples.filter((x) => x.name === 'mercury_exchange_lag_seconds_bucket' && x.labels.exchange === 'binance')
    expect(buckets.map((b) => b.labels.le)).toEqual(['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'])
    expect(value(samples, 'mercury_exchange_lag_seconds_bucket', { ...lag, le: '0.001' })).toBe(2)
    expect(value(samples, 'mercury_exchange_lag_seconds_bucket', { ...lag, le: '0.005' })).toBe(3)
    expect(value(samples, 'mercury_exchange_lag_seconds_bucket', { ...lag, le: '10' })).toBe(3)
    expect(value(samples, 'mercury_exchange_lag_seconds_bucket', { ...lag, le: '+Inf' })).toBe(4)
    expect(value(samples, 'mercury_exchange_lag_seconds_count', lag)).toBe(4)
    expect(value(samples, 'mercury_exchange_lag_seconds_sum', lag)).toBeCloseTo(12.0034, 9)
    expect(value(samples, 'mercury_persist_seconds_count')).toBe(3)
    expect(value(samples, 'mercury_persist_seconds_sum')).toBeCloseTo(0.163, 9)
    expect(value(samples, 'mercury_bus_latency_seconds_bucket', { le: '0.00005' })).toBe(1)
    expect(value(samples, 'mercury_bus_latency_seconds_bucket', { le: '0.000025' })).toBe(0)

    for (const [name, type] of [
      ['mercury_messages_total', 'counter'],
      ['mercury_bytes_total', 'counter'],
      ['mercury_parse_errors_total', 'counter'],
      ['mercury_reconnects_total', 'counter'],
      ['mercury_resyncs_total', 'counter'],
      ['mercury_gaps_total', 'counter'],
      ['mercury_records_persisted_total', 'counter'],
      ['mercury_bus_dropped_total', 'counter'],
      ['mercury_exchange_lag_seconds', 'histogram'],
      ['mercury_persist_seconds', 'histogram'],
      ['mercury_bus_latency_seconds', 'histogram'],
      ['mercury_bus_backlog', 'gauge'],
      ['mercury_persist_queue_records', 'gauge'],
      ['mercury_book_levels', 'gauge'],
      ['mercury_up', 'gauge'],
    ]) {
      expect(types.get(name), name).toBe(type)
    }
    // Process metrics come along unless turned off
    expect(types.get('process_cpu_user_seconds_total')).toBe('counter')
  })

  it('counts messages once across scrapes (the hot-path cells fold in at scrape time)', async () => {
    const m = new CollectorMetrics({ processMetrics: false })
    const s = await serve(m)
    for (let i = 0; i < 1000; i++) m.message('binance', 'agg_trade', 10)
    let { samples } = await scrape(s)
    expect(value(samples, 'mercury_messages_total', { exchange: 'binance', channel: 'agg_trade' })).toBe(1000)
    ;({ samples } = await scrape(s))
    expect(value(samples, 'mercury_messages_total', { exchange: 'binance', channel: 'agg_trade' })).toBe(1000)
    m.message('binance', 'agg_trade', 5)
    m.message('binance-futures', 'funding', 300)
    ;({ samples } = await scrape(s))
    expect(value(samples, 'mercury_messages_total', { exchange: 'binance', channel: 'agg_trade' })).toBe(1001)
    expect(value(samples, 'mercury_bytes_total', { exchange: 'binance', channel: 'agg_trade' })).toBe(10_005)
    expect(value(samples, 'mercury_messages_total', { exchange: 'binance-futures', channel: 'funding' })).toBe(1)
    expect(samples.some((x) => x.name.startsWith('process_'))).toBe(false)
  })

  it('mirrors bus counters given on each status tick', async () => {
    const m = new CollectorMetrics({ processMetrics: false })
    const s = await serve(m)
    m.busStats({ backlog: 5, dropped: 0 })
    m.busStats({ backlog: 100_000, dropped: 40 })
    m.busStats({ backlog: 7, dropped: 45 })
    const { samples } = await scrape(s)
    expect(value(samples, 'mercury_bus_backlog')).toBe(7)
    expect(value(samples, 'mercury_bus_dropped_total')).toBe(45)
  })

  it('routes the collector observer hooks to the metrics', async () => {
    const m = new CollectorMetrics({ processMetrics: false })
    const s = await serve(m)
    const o = m.observer()
    o.message('coinbase', 'trade', 99)
    o.parseError('coinbase', 'unknown')
    o.reconnect('binance')
    o.resync('coinbase', 'ETH-USD')
    o.gap('binance', 'ETHUSDT', 'book')
    o.lag('coinbase', 'trade', 0.02)
    o.busLatency(0.002)
    o.bookLevels('coinbase', 'ETH-USD', 50, 49)
    const { samples } = await scrape(s)
    expect(value(samples, 'mercury_messages_total', { exchange: 'coinbase', channel: 'trade' })).toBe(1)
    expect(value(samples, 'mercury_parse_errors_total', { exchange: 'coinbase', reason: 'unknown' })).toBe(1)
    expect(value(samples, 'mercury_reconnects_total', { exchange: 'binance' })).toBe(1)
    expect(value(samples, 'mercury_resyncs_total', { exchange: 'coinbase', symbol: 'ETH-USD' })).toBe(1)
    expect(value(samples, 'mercury_gaps_total', { exchange: 'binance', symbol: 'ETHUSDT', stream: 'book' })).toBe(1)
    expect(value(samples, 'mercury_exchange_lag_seconds_count', { exchange: 'coinbase', channel: 'trade' })).toBe(1)
    expect(value(samples, 'mercury_bus_latency_seconds_count')).toBe(1)
    expect(value(samples, 'mercury_book_levels', { exchange: 'coinbase', symbol: 'ETH-USD', side: 'ask' })).toBe(49)
  })

  it('keeps each instance in its own registry, never the global one', async () => {
    const a = new CollectorMetrics({ processMetrics: false })
    const b = new CollectorMetrics({ processMetrics: false })
    a.message('binance', 'trade', 1)
    a.setUp(false)
    const sa = await serve(a)
    const sb = await serve(b)
    expect(value((await scrape(sa)).samples, 'mercury_messages_total', { exchange: 'binance', channel: 'trade' })).toBe(1)
    expect(value((await scrape(sa)).samples, 'mercury_up')).toBe(0)
    expect(value((await scrape(sb)).samples, 'mercury_messages_total', { exchange: 'binance', channel: 'trade' })).toBeUndefined()
    expect(await globalRegistry.metrics()).not.toContain('mercury_')
  })

  it('serves /health from the callback: 200, or 503 when it says ok: false', async () => {
    let ok = true
    const s = await serve(new CollectorMetrics({ processMetrics: false }), () => ({ ok, state: 'running', queued: 3 }))
    let res = await fetch(`${s.url}/health`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(await res.json()).toEqual({ ok: true, state: 'running', queued: 3 })
    ok = false
    res = await fetch(`${s.url}/health`)
    expect(res.status).toBe(503)
    expect(await res.json()).toMatchObject({ ok: false })
    expect((await fetch(`${s.url}/nope`)).status).toBe(404)
    expect((await fetch(`${s.url}/metrics`, { method: 'POST' })).status).toBe(405)
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  })

  it('names --metrics-port when the port is taken', async () => {
    const blocker = createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r))
    const port = (blocker.address() as { port: number }).port
    try {
      const err = await startMetricsServer(new CollectorMetrics({ processMetrics: false }), port, '127.0.0.1').then(
        () => undefined,
        (e: unknown) => e as Error,
      )
      expect(err).toBeInstanceOf(FatalError)
      expect(err!.message).toBe(`Cannot serve metrics: --metrics-port ${port} is already in use on 127.0.0.1. Choose another --metrics-port (0 picks a free one)`)
    } finally {
      blocker.close()
    }
  })
})
