// Collector benchmark: recorded real frames replayed flat out through parse, book, bus and persistence (the
// live path minus the socket), receipt-to-bus latency at a steady 5,000 msg/s, and RSS over a long run.

import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { setImmediate as tick } from 'node:timers/promises'
import { createBus } from '../src/lib/bus/index.js'
import { Collector } from '../src/lib/collect/collector.js'
import { Persister } from '../src/lib/collect/persister.js'
import type { Channel } from '../src/lib/collect/venue.js'
import { BinanceFeedAdapter } from '../src/lib/exchanges/binance/feed.js'
import { readRecordingSync, snapshotSymbol, type RecordedFrame } from '../src/lib/replay/recording.js'
import type { MarketRecord } from '../src/lib/types.js'

const ROOT = resolve(import.meta.dirname, '..', '..')
const REC = join(ROOT, 'tests', 'fixtures', 'recordings', 'hftbacktest')
const SHARED = resolve(ROOT, '..', 'shared', 'data', 'real', 'hftbacktest')
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000)
const fmt = (x: number) => Math.round(x).toLocaleString('en-US')
const pct = (xs: Float64Array | number[], q: number) => {
  const s = Float64Array.from(xs).sort()
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}

interface Input {
  exchange: 'binance' | 'binance-futures'
  frames: RecordedFrame[]
  symbols: (string | undefined)[]
}

function load(): Input[] {
  const files: [Input['exchange'], string][] = [
    ['binance', join(REC, 'spot-btcusdt_20240808.gz')],
    ['binance-futures', existsSync(join(SHARED, 'usdm', 'btcusdt_20240808.gz')) ? join(SHARED, 'usdm', 'btcusdt_20240808.gz') : join(REC, 'usdm-btcusdt_20230404.dat.gz')],
  ]
  return files.map(([exchange, f]) => {
    const frames = readRecordingSync(f).filter((x) => x.src === 'ws' || x.src === 'rest')
    return { exchange, frames, symbols: frames.map((x, i) => (x.src === 'rest' ? snapshotSymbol(frames, i) : undefined)) }
  })
}

function collector(inputs: Input[], persister: Persister | undefined, bus: Awaited<ReturnType<typeof createBus>> | undefined, onRecord?: (r: MarketRecord) => void) {
  const channels: Channel[] = ['trades', 'book', 'ticker', 'funding']
  const adapters = inputs.map(
    (i) => new BinanceFeedAdapter(i.exchange, { symbols: ['BTCUSDT'], channels: i.exchange === 'binance' ? ['trades', 'book', 'ticker'] : channels, wsUrl: 'ws://x', restUrl: 'http://x' }),
  )
  return new Collector({ adapters, channels, offline: true, persister, bus, onRecord, bookSnapshotEveryMs: 0 })
}

export async function runCollectBench(): Promise<string> {
  const inputs = load()
  const total = inputs.reduce((n, i) => n + i.frames.length, 0)
  const bytes = inputs.reduce((n, i) => n + i.frames.reduce((m, f) => m + f.text.length, 0), 0)
  const out: string[] = []
  const say = (s: string) => {
    console.log(s)
    out.push(s)
  }
  say(`Input: ${fmt(total)} recorded frames (${(bytes / 1e6).toFixed(1)} MB of JSON): ${inputs.map((i) => `${i.exchange} ${fmt(i.frames.length)}`).join(', ')}`)

  // 1. Flat out, parse + book + bus + persistence, several passes (each pass is a fresh collector, times shifted)
  const lake = mkdtempSync(join(tmpdir(), 'mercury-bench-collect-'))
  const bus = await createBus('memory')
  let seen = 0
  await bus.subscribe('market.*', () => {
    seen++
  })
  const persister = new Persister(lake, { windowMs: 5000 })
  persister.start()
  const passes = Number(process.env.MERCURY_BENCH_COLLECT_PASSES ?? 12)
  const rss: number[] = []
  const t0 = performance.now()
  let msgs = 0
  for (let p = 0; p < passes; p++) {
    const c = collector(inputs, persister, bus)
    const shift = p * 3_600_000_000
    for (const inp of inputs) {
      const f = inp.frames
      for (let i = 0; i < f.length; i++) {
        c.ingest(inp.exchange, f[i].text, f[i].localTimestamp + shift, f[i].src === 'rest' ? 'rest' : 'ws', inp.symbols[i])
        msgs++
        if ((i & 4095) === 0) await tick()
      }
    }
    await c.stop()
    rss.push(process.memoryUsage().rss)
  }
  const ingestMs = performance.now() - t0
  await persister.close()
  const totalMs = performance.now() - t0
  const st = persister.snapshot()
  say('')
  say(`| measure | value | target |`)
  say(`|---|---|---|`)
  say(`| flat-out replay, parse + book + bus + lake (${passes} passes, ${fmt(msgs)} msgs) | **${fmt(msgs / (totalMs / 1000))} msg/s** (${fmt(msgs / (ingestMs / 1000))} msg/s before the last flush) | ≥ 50,000 msg/s |`)
  say(`| rows persisted / batches | ${fmt(st.rowsWritten)} / ${st.flushes} | |`)
  say(`| records on the bus | ${fmt(seen)} | |`)
  say(`| RSS after pass 1 / ${Math.ceil(passes / 2)} / ${passes} (flat out the input outruns the lake, so batches grow) | ${rss.map((x) => (x / 1e6).toFixed(0)).filter((_, i) => i === 0 || i === Math.ceil(passes / 2) - 1 || i === passes - 1).join(' / ')} MB | |`)
  rmSync(lake, { recursive: true, force: true })

  // 2. Steady 5,000 msg/s: receipt (the ingest call) to bus delivery
  const lake2 = mkdtempSync(join(tmpdir(), 'mercury-bench-collect-'))
  const bus2 = await createBus('memory')
  const lat: number[] = []
  let stamp = 0
  await bus2.subscribe('market.*', (_ch, r) => {
    if (r.localTimestamp === stamp) lat.push(nowUs() - stamp)
  })
  const p2 = new Persister(lake2, { windowMs: 5000 })
  p2.start()
  const c2 = collector(inputs, p2, bus2)
  const rate = 5000
  const seconds = Number(process.env.MERCURY_BENCH_COLLECT_SECONDS ?? 60)
  const rssSteady: number[] = []
  const f = inputs[0].frames
  let i = 0
  const start = performance.now()
  let nextRss = 0
  for (let sent = 0; sent < rate * seconds; ) {
    const elapsed = performance.now() - start
    if (elapsed >= nextRss) {
      rssSteady.push(process.memoryUsage().rss)
      nextRss += 5000
    }
    const due = Math.floor((elapsed / 1000) * rate)
    while (sent < due && sent < rate * seconds) {
      const fr = f[i % f.length]
      stamp = nowUs()
      c2.ingest('binance', fr.text, stamp, fr.src === 'rest' ? 'rest' : 'ws', inputs[0].symbols[i % f.length])
      i++
      sent++
    }
    await new Promise((r) => setTimeout(r, 1))
  }
  await c2.stop()
  await p2.close()
  rmSync(lake2, { recursive: true, force: true })
  say(`| receipt-to-bus latency at a steady ${fmt(rate)} msg/s for ${seconds} s (memory bus, 5 s lake batches running) | p50 **${pct(lat, 0.5).toFixed(0)} µs**, p99 **${pct(lat, 0.99).toFixed(0)} µs**, max ${pct(lat, 1).toFixed(0)} µs (${fmt(lat.length)} samples) | p99 < 1 ms |`)
  const mb = rssSteady.map((x) => (x / 1e6).toFixed(0))
  say(`| RSS every 5 s during that steady run (${fmt(rate * seconds)} msgs, lake writes included) | ${mb.join(' / ')} MB | flat |`)

  // 3. The same through Redis when one is available
  const redisUrl = process.env.MERCURY_BENCH_REDIS_URL ?? process.env.MERCURY_TEST_REDIS_URL
  if (redisUrl) {
    const pub = await createBus(redisUrl)
    const sub = await createBus(redisUrl)
    const rl: number[] = []
    await sub.subscribe('market.*', (_ch, r) => {
      rl.push(nowUs() - r.localTimestamp)
    })
    const c3 = collector(inputs, undefined, pub)
    const start3 = performance.now()
    let j = 0
    for (let sent = 0; sent < rate * 5; ) {
      const due = Math.floor(((performance.now() - start3) / 1000) * rate)
      while (sent < due && sent < rate * 5) {
        const fr = f[j % f.length]
        c3.ingest('binance', fr.text, nowUs(), fr.src === 'rest' ? 'rest' : 'ws', inputs[0].symbols[j % f.length])
        j++
        sent++
      }
      await new Promise((r) => setTimeout(r, 1))
    }
    await pub.flush()
    await new Promise((r) => setTimeout(r, 500))
    await c3.stop()
    await pub.close()
    await sub.close()
    say(`| receipt to a subscriber in another connection via Redis pub/sub at ${fmt(rate)} msg/s | p50 ${pct(rl, 0.5).toFixed(0)} µs, p99 ${pct(rl, 0.99).toFixed(0)} µs (${fmt(rl.length)} records) | |`)
  }
  return out.join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runCollectBench().then(() => process.exit(0), (e) => {
    console.error(e)
    process.exit(1)
  })
}
