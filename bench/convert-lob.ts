// npm run bench, convert-lob section: throughput of `mercury convert-lob` (the built CLI, one process per run) on
// a large depth-snapshot file and on looped diff-stream recordings, with peak RSS, next to DuckDB's own
// read_json -> Parquet and a plain JSON.parse loop over the same file.
//
// Data (real-derived, generated in os.tmpdir and deleted afterwards):
// - Snapshot JSONL, MERCURY_BENCH_LOB_GB gigabytes (default 1): the spot BTCUSDT recording of 2024-08-08 replayed
//   through the book engine, its top 20 written after every applied diff as {"ts":ms,"bids":[["p","q"],...],
//   "asks":[...]} with Binance's 8-decimal strings. To reach the size the 3,451 real states are looped; each loop
//   shifts time by the recording's span and perturbs the book the way a later book of the same market looks:
//   every price moves by the same whole number of ticks (a random walk of 0.01 steps, so sides stay sorted and
//   uncrossed) and every size is scaled by a factor in [0.5, 1.5) rounded to Binance's 5 decimals (seeded PRNG).
// - Recordings: the spot and USD-M hftbacktest recordings looped MERCURY_BENCH_LOB_LOOPS times (default 40) with
//   receipt times, update ids (U, u, pu, lastUpdateId) and trade ids shifted per loop, so the sequence rules hold.

import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { gunzipSync, gzipSync } from 'node:zlib'
import { createBookSync } from '../src/lib/book/index.js'
import { mapBinanceMessage, parseBinanceDepthSnapshot } from '../src/lib/exchanges/binance/stream.js'
import { lineBlocks } from '../src/lib/dataset/frames.js'
import { openDuck } from '../src/lib/lake/duck.js'
import { readRecordingSync } from '../src/lib/replay/recording.js'
import { mulberry32 } from '../src/lib/util/fs.js'

const ROOT = resolve(import.meta.dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'mercury.js')
const REC = join(ROOT, 'tests', 'fixtures', 'recordings', 'hftbacktest')
const SPOT = join(REC, 'spot-btcusdt_20240808.gz')
const USDM = join(REC, 'usdm-btcusdt_20230404.dat.gz')
const LEVELS = 20

const log = (...a: unknown[]) => console.log(...a)
const fmt = (x: number) => Math.round(x).toLocaleString('en-US')
const mb = (b: number) => b / 1e6


interface State {
  readonly local: number
  readonly bids: [number, number][]
  readonly asks: [number, number][]
}

/** Top 20 of the spot recording after every applied diff. */
function realStates(): State[] {
  const sync = createBookSync('binance', 'BTCUSDT')
  const out: State[] = []
  for (const f of readRecordingSync(SPOT)) {
    if (f.src === 'rest') {
      sync.onSnapshot(parseBinanceDepthSnapshot(JSON.parse(f.text), 'binance', 'BTCUSDT', f.localTimestamp))
      continue
    }
    if (!f.text.includes('@depth@')) continue
    for (const r of mapBinanceMessage('binance', JSON.parse(f.text), f.localTimestamp)) {
      if (r.type !== 'book_change' || sync.onDiff(r).applied.length === 0 || sync.state !== 'synced') continue
      const top = sync.book.top(LEVELS)
      out.push({ local: f.localTimestamp, bids: top.bids.map((l) => [l.price, l.amount]), asks: top.asks.map((l) => [l.price, l.amount]) })
    }
  }
  return out
}

/** Writes about `bytes` of snapshot JSONL; returns the line count. */
function writeSnapshots(path: string, bytes: number): { lines: number; bytes: number } {
  const states = realStates()
  const span = states[states.length - 1].local - states[0].local + 100_000
  const rnd = mulberry32(20240808)
  const fd = openSync(path, 'w')
  let written = 0
  let lines = 0
  let ticks = 0
  const side = (ls: [number, number][], shift: number, scale: number[]) =>
    '[' + ls.map(([p, q], i) => `["${(Math.round(p * 100) / 100 + shift).toFixed(8)}","${(Math.round(q * scale[i] * 1e5) / 1e5).toFixed(8)}"]`).join(',') + ']'
  try {
    for (let k = 0; written < bytes; k++) {
      const parts: string[] = []
      for (const s of states) {
        ticks += rnd() < 0.5 ? -1 : 1
        const shift = Math.round(ticks) / 100
        const scale = Array.from({ length: LEVELS }, () => 0.5 + rnd())
        const ms = Math.floor((s.local + k * span) / 1000)
        parts.push(`{"ts":${ms},"bids":${side(s.bids, shift, scale)},"asks":${side(s.asks, shift, scale)}}`)
      }
      const text = parts.join('\n') + '\n'
      writeSync(fd, text)
      written += Buffer.byteLength(text)
      lines += parts.length
    }
  } finally {
    closeSync(fd)
  }
  return { lines, bytes: written }
}

/** A recording looped `loops` times with receipt times and ids shifted so every loop continues the last. */
function loopRecording(src: string, dst: string, loops: number): number {
  const lines = gunzipSync(readFileSync(src)).toString('utf8').split('\n').filter((l) => l.length > 0)
  const t0 = Number(lines[0].slice(0, lines[0].indexOf(' ')))
  const t1 = Number(lines[lines.length - 1].slice(0, lines[lines.length - 1].indexOf(' ')))
  const ns = lines[0].indexOf(' ') === 19
  const span = t1 - t0 + (ns ? 1_000_000_000 : 1_000_000)
  const idRe = /("(?:U|u|pu|lastUpdateId)": ?)(\d+)/g
  const tradeRe = /("t":)(\d+)/g
  let maxId = 0
  let minId = Infinity
  let maxT = 0
  let minT = Infinity
  for (const l of lines) {
    for (const m of l.matchAll(idRe)) {
      const v = Number(m[2])
      if (v > maxId) maxId = v
      if (v < minId) minId = v
    }
    for (const m of l.matchAll(tradeRe)) {
      const v = Number(m[2])
      if (v > maxT) maxT = v
      if (v < minT) minT = v
    }
  }
  const idSpan = maxId - minId + 1000
  const tSpan = maxT - minT + 1000
  const fd = openSync(dst, 'w')
  let bytes = 0
  try {
    for (let k = 0; k < loops; k++) {
      const out: string[] = []
      for (const l of lines) {
        const sp = l.indexOf(' ')
        const ts = ns ? (BigInt(l.slice(0, sp)) + BigInt(k) * BigInt(span)).toString() : String(Number(l.slice(0, sp)) + k * span)
        const body = l
          .slice(sp + 1)
          .replace(idRe, (_, key: string, v: string) => key + String(Number(v) + k * idSpan))
          .replace(tradeRe, (_, key: string, v: string) => key + String(Number(v) + k * tSpan))
        out.push(`${ts} ${body}`)
      }
      const text = out.join('\n') + '\n'
      bytes += Buffer.byteLength(text)
      writeSync(fd, gzipSync(text, { level: 1 }))
    }
  } finally {
    closeSync(fd)
  }
  return bytes
}

interface Run {
  readonly seconds: number
  readonly peakRssMb: number
  readonly rssSamplesMb: number[]
  readonly cpuSeconds: number
  readonly summary: { rows: number; shards: unknown[]; validation: { badLines: number; sequenceGaps: number } }
}

/** Runs the built CLI, sampling its RSS from /proc every 250 ms. */
function runCli(args: string[]): Promise<Run> {
  return new Promise((done, fail) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, [BIN, 'convert-lob', ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (b: Buffer) => (out += b.toString()))
    child.stderr.on('data', (b: Buffer) => (err += b.toString()))
    let peak = 0
    let cpu = 0
    const samples: number[] = []
    const sample = () => {
      try {
        const st = readFileSync(`/proc/${child.pid}/status`, 'utf8')
        const hwm = Number(/VmHWM:\s+(\d+)/.exec(st)?.[1] ?? 0) / 1024
        const rss = Number(/VmRSS:\s+(\d+)/.exec(st)?.[1] ?? 0) / 1024
        peak = Math.max(peak, hwm)
        samples.push(rss)
        const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8')
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        cpu = (Number(f[11]) + Number(f[12])) / 100
      } catch {
        // The process has just exited
      }
    }
    const timer = setInterval(sample, 250)
    child.on('error', fail)
    child.on('close', (code) => {
      clearInterval(timer)
      if (code !== 0) return fail(new Error(`convert-lob ${args.join(' ')} exited ${code}: ${err}`))
      done({ seconds: (performance.now() - t0) / 1000, peakRssMb: peak, rssSamplesMb: samples, cpuSeconds: cpu, summary: JSON.parse(out) as Run['summary'] })
    })
  })
}

/** DuckDB's own read_json to Parquet (zstd) with the same wide columns, on the same file. */
async function duckdbReadJson(file: string, out: string): Promise<{ seconds: number }> {
  const duck = await openDuck({})
  try {
    const cols: string[] = ['ts * 1000 AS ts']
    for (const s of ['bid', 'ask']) {
      for (let i = 0; i < LEVELS; i++) cols.push(`CAST(${s}s[${i + 1}][1] AS DOUBLE) AS ${s}_px_${i}`)
      for (let i = 0; i < LEVELS; i++) cols.push(`CAST(${s}s[${i + 1}][2] AS DOUBLE) AS ${s}_sz_${i}`)
    }
    cols.push('(CAST(bids[1][1] AS DOUBLE) + CAST(asks[1][1] AS DOUBLE)) / 2 AS mid', 'CAST(asks[1][1] AS DOUBLE) - CAST(bids[1][1] AS DOUBLE) AS spread')
    const t0 = performance.now()
    await duck.conn.run(
      `COPY (SELECT ${cols.join(', ')} FROM read_json('${file}', format = 'newline_delimited', columns = {'ts': 'BIGINT', 'bids': 'VARCHAR[][]', 'asks': 'VARCHAR[][]'})) TO '${out}' (FORMAT parquet, COMPRESSION zstd)`,
    )
    return { seconds: (performance.now() - t0) / 1000 }
  } finally {
    duck.close()
  }
}

/** JSON.parse of every line (and Number() of every level) on one thread, streaming the file. */
async function jsonParseLoop(file: string): Promise<{ seconds: number; lines: number }> {
  const t0 = performance.now()
  let lines = 0
  let sink = 0
  for await (const { text } of lineBlocks(file)) {
    const s = text.toString('latin1')
    let p = 0
    while (p < s.length) {
      let q = s.indexOf('\n', p)
      if (q < 0) q = s.length
      if (q > p) {
        const o = JSON.parse(s.slice(p, q)) as { bids: string[][]; asks: string[][] }
        for (const l of o.bids) sink += Number(l[0]) + Number(l[1])
        for (const l of o.asks) sink += Number(l[0]) + Number(l[1])
        lines++
      }
      p = q + 1
    }
  }
  if (sink === -1) log(sink)
  return { seconds: (performance.now() - t0) / 1000, lines }
}

const flat = (xs: number[]) => {
  const s = xs.slice(Math.floor(xs.length / 4)).sort((a, b) => a - b)
  return s.length ? `${fmt(s[0])}–${fmt(s[s.length - 1])} MB after the first quarter` : 'n/a'
}

/** Markdown section for BENCHMARKS.md. */
export async function runConvertLobBench(): Promise<string> {
  const gb = Number(process.env.MERCURY_BENCH_LOB_GB ?? 1)
  const loops = Number(process.env.MERCURY_BENCH_LOB_LOOPS ?? 40)
  if (!existsSync(BIN) || !existsSync(join(ROOT, 'dist', 'src', 'lib', 'dataset', 'worker.js'))) throw new Error('convert-lob bench needs the build: npm run build')
  const tmp = mkdtempSync(join(tmpdir(), 'mercury-bench-lob-'))
  const rows: string[] = []
  const add = (name: string, value: string, target: string, note: string) => {
    rows.push(`| ${name} | ${value} | ${target} | ${note} |`)
    log(`${name}: ${value} (target ${target}) ${note}`)
  }
  const load0 = loadavg()[0]
  try {
    // 1. Snapshot input
    const snap = join(tmp, 'book.jsonl')
    const g = writeSnapshots(snap, gb * 1e9)
    log(`generated ${fmt(mb(g.bytes))} MB, ${fmt(g.lines)} snapshot lines`)
    const run = await runCli([snap, '--out', join(tmp, 'out-snap'), '--levels', String(LEVELS)])
    add(
      'convert-lob, snapshot JSONL → Parquet zstd (top 20)',
      `**${fmt(mb(g.bytes) / run.seconds)} MB/s**`,
      '≥ 100 MB/s',
      `${fmt(mb(g.bytes))} MB, ${fmt(run.summary.rows)} rows, ${run.summary.shards.length} shard(s) in ${run.seconds.toFixed(1)} s wall (process start included), ${run.cpuSeconds.toFixed(1)} CPU-s (${fmt(mb(g.bytes) / run.cpuSeconds)} MB per CPU-second); peak RSS ${fmt(run.peakRssMb)} MB, RSS ${flat(run.rssSamplesMb)}`,
    )
    rmSync(join(tmp, 'out-snap'), { recursive: true, force: true })
    const d = await duckdbReadJson(snap, join(tmp, 'duck.parquet'))
    add('DuckDB read_json → Parquet zstd, same file, same wide columns', `${fmt(mb(g.bytes) / d.seconds)} MB/s`, '-', `comparison; ${d.seconds.toFixed(1)} s`)
    rmSync(join(tmp, 'duck.parquet'), { force: true })
    const j = await jsonParseLoop(snap)
    add('JSON.parse + Number() per line, one thread, same file', `${fmt(mb(g.bytes) / j.seconds)} MB/s`, '-', `comparison; ${fmt(j.lines)} lines in ${j.seconds.toFixed(1)} s`)
    rmSync(snap, { force: true })

    // 2. Diff-stream replay
    for (const [name, src, exchange] of [
      ['spot', SPOT, 'binance'],
      ['usdm', USDM, 'binance-futures'],
    ] as const) {
      const rec = join(tmp, `${name}.gz`)
      const text = loopRecording(src, rec, loops)
      const gz = statSync(rec).size
      const r = await runCli([rec, '--out', join(tmp, `out-${name}`), '--instrument', `${exchange}:BTCUSDT`, '--every', '100ms'])
      add(
        `convert-lob, ${name} BTCUSDT recording replayed (hftbacktest, looped ×${loops})`,
        `**${fmt(mb(text) / r.seconds)} MB/s** of frames`,
        '≥ 30 MB/s',
        `${fmt(mb(text))} MB of frames (${fmt(mb(gz))} MB gzip), ${fmt(r.summary.rows)} rows at 100 ms, sequence gaps ${r.summary.validation.sequenceGaps}, in ${r.seconds.toFixed(1)} s wall, ${r.cpuSeconds.toFixed(1)} CPU-s; peak RSS ${fmt(r.peakRssMb)} MB`,
      )
      rmSync(rec, { force: true })
      rmSync(join(tmp, `out-${name}`), { recursive: true, force: true })
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  const head = `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}; 1-minute load average ${load0.toFixed(1)} at the start (the machine is shared: wall-clock rates move with it, CPU-seconds less so).`
  return [head, '', '| benchmark | result | target | notes |', '|---|---|---|---|', ...rows].join('\n')
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  runConvertLobBench().then(
    (md) => {
      console.log(`\n${md}`)
      process.exit(0)
    },
    (e) => {
      console.error(e)
      process.exit(1)
    },
  )
}
