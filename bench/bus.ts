// npm run bench, bus section: how many records a second the record bus carries.
// - memory: synchronous fan-out to one subscriber
// - redis pub/sub and streams: a flat-out burst (publish → server acknowledgement, and publish → a subscriber in
//   this process), then a steady 50,000 records/s for 3 s with the backlog and the publish-to-delivery latency
// Redis is the one scripts/test.sh starts (MERCURY_TEST_REDIS_URL) or MERCURY_BENCH_REDIS_URL; without one
// reachable the Redis rows are a note saying so.
//
// Data: the real XRPETH aggTrades fixture (12,477 rows) as AggTrade records, repeated with shifted ids and times.

import { existsSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { createBus, parseRedisUrl, redactRedis, type Bus } from '../src/lib/bus/index.js'
import { oneLine } from '../src/lib/errors.js'
import type { AggTrade } from '../src/lib/types.js'

/** The repo root, from bench/ (ts) or dist/bench/ (js) */
function repoRoot(): string {
  let d = import.meta.dirname
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d)
  return d
}
const AGG = join(repoRoot(), 'tests', 'fixtures', 'binance', 'XRPETH-aggTrades-2019-10-11_2019-10-13.csv.gz')
const SYMBOL = `XRPETHBENCH${process.pid}`

const fmt = (x: number) => Math.round(x).toLocaleString('en-US')
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Real aggTrades repeated to `n` records, ids and times shifted per copy so they stay unique and ordered. */
function aggTrades(n: number): AggTrade[] {
  const rows = gunzipSync(readFileSync(AGG)).toString('utf8').trimEnd().split('\n').map((l) => l.split(','))
  const span = (Number(rows.at(-1)![5]) - Number(rows[0][5]) + 1000) * 1000
  const out: AggTrade[] = []
  for (let k = 0; out.length < n; k++) {
    for (const f of rows) {
      if (out.length >= n) break
      const t = Number(f[5]) * 1000 + k * span
      out.push({
        type: 'agg_trade', exchange: 'binance', symbol: SYMBOL, id: Number(f[0]) + k * rows.length,
        firstTradeId: Number(f[3]), lastTradeId: Number(f[4]), timestamp: t, localTimestamp: t + 850,
        price: Number(f[1]), amount: Number(f[2]), side: f[6] === 'True' ? 'sell' : 'buy',
      })
    }
  }
  return out
}

export interface FlatOut {
  readonly records: number
  /** Publish until the server acknowledged every record (flush), records/s */
  readonly publishPerSec: number
  /** Publish until a subscriber in this process received every record, records/s */
  readonly endToEndPerSec: number
  /** Largest backlog seen (records queued, not yet handed to Redis) */
  readonly maxBacklog: number
}

export interface Steady {
  readonly targetPerSec: number
  readonly seconds: number
  readonly published: number
  readonly received: number
  readonly dropped: number
  readonly maxBacklog: number
  /** Publish to delivery in the subscriber, ms */
  readonly latencyP50Ms: number
  readonly latencyP99Ms: number
  readonly latencyMaxMs: number
}

export interface RedisModeResult {
  readonly flatOut: FlatOut
  readonly steady: Steady
}

export interface BusBenchResult {
  readonly cpus: string
  readonly memory: { readonly records: number; readonly perSec: number }
  readonly redis:
    | {
        readonly url: string
        readonly server: string
        /** Batches as one EVALSHA each (the default) */
        readonly pubsub: RedisModeResult
        readonly streams: RedisModeResult
        /** Batches as pipelines of PUBLISH (the fallback where scripts are refused) */
        readonly pubsubPipeline: RedisModeResult
      }
    | { readonly skipped: string }
  /** The section as Markdown, for BENCHMARKS.md */
  readonly markdown: string
}

async function benchMemory(records: AggTrade[]): Promise<{ records: number; perSec: number }> {
  const bus = await createBus('memory')
  let n = 0
  await bus.subscribe('market.trades.*', () => n++)
  let best = 0
  for (let rep = 0; rep < 3; rep++) {
    const t = performance.now()
    for (const r of records) bus.publish(r)
    best = Math.max(best, records.length / ((performance.now() - t) / 1000))
  }
  await bus.close()
  if (n !== records.length * 3) throw new Error(`memory bus delivered ${n} of ${records.length * 3}`)
  return { records: records.length, perSec: best }
}

/** Publishes `records` in ticks of `perTick`, as a collector does, and waits for acknowledgement and delivery. */
async function flatOut(pub: Bus, sub: Bus, records: AggTrade[], perTick = 5_000): Promise<FlatOut> {
  let received = 0
  let resolveAll: () => void = () => undefined
  const all = new Promise<void>((r) => (resolveAll = r))
  const off = await sub.subscribe(`market.trades.binance.${SYMBOL}`, () => {
    if (++received === records.length) resolveAll()
  })
  let maxBacklog = 0
  const t = performance.now()
  for (let i = 0; i < records.length; i += perTick) {
    const end = Math.min(records.length, i + perTick)
    for (let j = i; j < end; j++) pub.publish(records[j])
    maxBacklog = Math.max(maxBacklog, pub.backlog())
    // Let the event loop run (socket writes, replies) between ticks
    await new Promise((r) => setImmediate(r))
  }
  await pub.flush()
  const published = performance.now() - t
  await Promise.race([all, sleep(60_000)])
  const delivered = performance.now() - t
  await off()
  if (received !== records.length) throw new Error(`subscriber received ${received} of ${records.length}`)
  return {
    records: records.length,
    publishPerSec: records.length / (published / 1000),
    endToEndPerSec: records.length / (delivered / 1000),
    maxBacklog,
  }
}

/** A steady rate in 10 ms ticks; latency from the publish instant (stamped in localTimestamp) to delivery. */
async function steady(pub: Bus, sub: Bus, records: AggTrade[], perSec = 50_000, seconds = 3): Promise<Steady> {
  const lat: number[] = []
  const off = await sub.subscribe(`market.trades.binance.${SYMBOL}`, (_ch, r) => lat.push(nowUs() - r.localTimestamp))
  const droppedBefore = pub.stats().dropped
  let published = 0
  let maxBacklog = 0
  const start = performance.now()
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * perSec)
    while (published < due) {
      const r = records[published % records.length]
      pub.publish({ ...r, localTimestamp: nowUs() })
      published++
    }
    maxBacklog = Math.max(maxBacklog, pub.backlog())
    await sleep(10)
  }
  await pub.flush()
  for (let i = 0; i < 200 && lat.length < published; i++) await sleep(10)
  await off()
  lat.sort((a, b) => a - b)
  const q = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] / 1000 : NaN)
  return {
    targetPerSec: perSec,
    seconds,
    published,
    received: lat.length,
    dropped: pub.stats().dropped - droppedBefore,
    maxBacklog,
    latencyP50Ms: q(0.5),
    latencyP99Ms: q(0.99),
    latencyMaxMs: lat.length ? lat[lat.length - 1] / 1000 : NaN,
  }
}

async function benchRedisMode(url: string, records: AggTrade[], batchCommand: 'script' | 'pipeline' = 'script'): Promise<RedisModeResult> {
  const pub = await createBus(url, { clientName: 'mercury-bench', batchCommand })
  const sub = await createBus(url, { clientName: 'mercury-bench' })
  try {
    // Warm-up: JIT and connections
    await flatOut(pub, sub, records.slice(0, 20_000))
    const f = await flatOut(pub, sub, records)
    const s = await steady(pub, sub, records)
    return { flatOut: f, steady: s }
  } finally {
    await pub.close()
    await sub.close()
  }
}

/** Runs the bus benchmark; Redis rows only when a server answers. */
export async function benchBus(): Promise<BusBenchResult> {
  const cpu = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}`
  const records = aggTrades(200_000)
  const memory = await benchMemory(records)
  const lines = [
    `Records: real XRPETH aggTrades (tests/fixtures), repeated to ${fmt(records.length)}. Machine: ${cpu}; Redis on the same machine.`,
    '',
    '| transport | measure | result | target |',
    '| --- | --- | --- | --- |',
    `| memory | publish → subscriber (synchronous) | **${fmt(memory.perSec)} rec/s** | |`,
  ]
  const url = process.env.MERCURY_BENCH_REDIS_URL || process.env.MERCURY_TEST_REDIS_URL || 'redis://127.0.0.1:6390'
  let redis: BusBenchResult['redis']
  let target
  try {
    target = parseRedisUrl(url, { flag: 'MERCURY_BENCH_REDIS_URL' })
    const probe = await createBus(url, { connectTimeoutMs: 3_000 })
    await probe.close()
  } catch (err) {
    const why = target ? redactRedis(oneLine(err), target) : oneLine(err)
    redis = { skipped: `no Redis reachable at ${target?.display ?? url} (${why}); npm test starts one, or set MERCURY_BENCH_REDIS_URL` }
    lines.push('', `Redis not measured: ${redis.skipped}.`)
    return { cpus: cpu, memory, redis, markdown: lines.join('\n') }
  }
  const { Redis } = await import('ioredis')
  const admin = new Redis(url)
  let server = 'unknown'
  try {
    server = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? server
    const base = url.includes('?') ? url.slice(0, url.indexOf('?')) : url
    const pubsub = await benchRedisMode(base, records)
    const streams = await benchRedisMode(`${base}?mode=streams&maxlen=100000`, records)
    const pubsubPipeline = await benchRedisMode(base, records, 'pipeline')
    redis = { url: target.display, server, pubsub, streams, pubsubPipeline }
    for (const [name, r] of [['redis pub/sub', pubsub], ['redis streams', streams], ['redis pub/sub, pipeline fallback', pubsubPipeline]] as const) {
      lines.push(
        `| ${name} | burst of ${fmt(r.flatOut.records)}: publish → acknowledged | **${fmt(r.flatOut.publishPerSec)} rec/s** | ≥ 50,000 rec/s |`,
        `| ${name} | burst: publish → received by a subscriber | ${fmt(r.flatOut.endToEndPerSec)} rec/s | |`,
        `| ${name} | steady ${fmt(r.steady.targetPerSec)} rec/s for ${r.steady.seconds} s: delivered, dropped, max backlog | ${fmt(r.steady.received)} of ${fmt(r.steady.published)}, ${fmt(r.steady.dropped)} dropped, backlog ≤ ${fmt(r.steady.maxBacklog)} | none dropped |`,
        `| ${name} | steady: publish → delivery latency p50 / p99 / max | ${r.steady.latencyP50Ms.toFixed(2)} / ${r.steady.latencyP99Ms.toFixed(2)} / ${r.steady.latencyMaxMs.toFixed(2)} ms | |`,
      )
    }
    lines.push('', `Redis ${server} at ${target.display}; publisher and subscriber share this process (and its CPU).`)
  } finally {
    const keys = await admin.keys(`market.*${SYMBOL}`).catch(() => [] as string[])
    if (keys.length) await admin.del(...keys).catch(() => undefined)
    admin.disconnect()
  }
  return { cpus: cpu, memory, redis, markdown: lines.join('\n') }
}

// Runs alone too: node dist/bench/bus.js
if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? '')).href) {
  benchBus().then(
    (r) => {
      console.log(r.markdown)
      console.log(JSON.stringify({ ...r, markdown: undefined }, null, 2))
    },
    (err) => {
      console.error(err)
      process.exitCode = 1
    },
  )
}
