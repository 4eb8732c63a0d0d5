// npm run bench: archive import throughput, one-year range read, `mercury --help` start time.
// Writes BENCHMARKS.md (machine, numbers, comparison). Uses ../shared/data/real when present, else the
// shipped sample (said so in the output). MERCURY_BENCH_ONLY=<section> runs one section (import, signals, backfill, export, collect, bus, backtest, optimize, convert-lob).

import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, freemem, loadavg, totalmem, tmpdir, platform, release } from 'node:os'
import { join, resolve } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { NumericCsvScanner } from '../src/lib/archive/csv.js'
import { importArchives } from '../src/lib/archive/import.js'
import { KlineParser } from '../src/lib/exchanges/binance/archive.js'
import { openDuck } from '../src/lib/lake/duck.js'
import { LakeReader } from '../src/lib/lake/reader.js'
import { runBackfillBench } from './backfill.js'
import { runBacktestLoopBench } from './backtest.js'
import { runOptimizeBench } from './backtest-opt.js'
import { benchBus } from './bus.js'
import { runConvertLobBench } from './convert-lob.js'
import { runCollectBench } from './collect.js'
import { runExportBench } from './export.js'
import { runSignalsBench } from './signals.js'

const ROOT = resolve(import.meta.dirname, '..', '..')
const SHARED = resolve(ROOT, '..', 'shared', 'data', 'real', 'jan-kluger-backtest')
const KLINES = join(ROOT, 'datasets', 'binance', 'spot', 'klines', 'BTCUSDT', '1m')
const AGG = join(ROOT, 'tests', 'fixtures', 'binance', 'XRPETH-aggTrades-2019-10-11_2019-10-13.csv.gz')

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (x: number) => Math.round(x).toLocaleString('en-US')
const tmp = mkdtempSync(join(tmpdir(), 'mercury-bench-'))
const rows: string[][] = []
const log = (...a: unknown[]) => console.log(...a)

function add(name: string, value: string, target: string, note: string) {
  rows.push([name, value, target, note])
  log(`${name}: ${value} (target ${target}) ${note}`)
}

const SECTIONS = {
  signals: runSignalsBench,
  backfill: runBackfillBench,
  export: runExportBench,
  collect: runCollectBench,
  bus: async () => (await benchBus()).markdown,
  backtest: runBacktestLoopBench,
  optimize: runOptimizeBench,
  'convert-lob': runConvertLobBench,
} as const

/** Runs one section's bench and replaces its part of BENCHMARKS.md (between its markers) with the output */
async function writeSection(name: keyof typeof SECTIONS) {
  const body = await SECTIONS[name]()
  const doc = readFileSync(join(ROOT, 'BENCHMARKS.md'), 'utf8')
  const re = new RegExp(`<!-- ${name}:start -->[\\s\\S]*<!-- ${name}:end -->`)
  if (!re.test(doc)) throw new Error(`BENCHMARKS.md has no ${name} markers`)
  writeFileSync(join(ROOT, 'BENCHMARKS.md'), doc.replace(re, () => `<!-- ${name}:start -->\n${body}\n<!-- ${name}:end -->`))
  log(`\nBENCHMARKS.md ${name} section updated`)
}

async function writeSignalsSection() {
  await writeSection('signals')
}

async function main() {
  // Sections take minutes each; MERCURY_BENCH_ONLY=<section> runs one of them alone (import: the table at the top)
  const only = process.env.MERCURY_BENCH_ONLY
  if (only && only !== 'import') {
    if (!(only in SECTIONS)) throw new Error(`MERCURY_BENCH_ONLY=${only}: expected import, ${Object.keys(SECTIONS).join(', ')}`)
    rmSync(tmp, { recursive: true, force: true })
    await writeSection(only as keyof typeof SECTIONS)
    return
  }
  const loadAtStart = loadavg()[0]
  const haveYear = existsSync(join(SHARED, 'BTCUSDT-1m-2024-01.csv.gz'))
  const gzFiles = haveYear
    ? Array.from({ length: 12 }, (_, i) => join(SHARED, `BTCUSDT-1m-2024-${String(i + 1).padStart(2, '0')}.csv.gz`))
    : []
  const source = haveYear ? 'the real 2024 BTCUSDT 1m year (527,040 rows, 12 monthly .csv.gz)' : 'the shipped sample (3 zips, 89,280 rows)'
  log(`data: ${source}`)

  // 1. Scanner + kline validation alone, on decompressed text in memory
  const texts = haveYear ? gzFiles.map((f) => gunzipSync(readFileSync(f))) : []
  if (haveYear) {
    const times: number[] = []
    for (let k = 0; k < 5; k++) {
      const p = new KlineParser('1m')
      const t = performance.now()
      for (const buf of texts) {
        const s = new NumericCsvScanner(12, (v, n, l, tx) => {
          p.row(v, n, l, tx)
          if (p.batch.rows >= 60_000) p.batch.take(0)
        })
        s.push(buf)
        s.end()
      }
      times.push(performance.now() - t)
    }
    add('parse + validate klines CSV (no lake)', `${fmt(527_040 / (median(times) / 1000))} rows/s`, '-', `median of 5, ${median(times).toFixed(0)} ms for 527,040 rows`)

    // DuckDB's own CSV reader on the same text, for comparison (no validation, no line numbers)
    const plain = join(tmp, 'year.csv')
    writeFileSync(plain, Buffer.concat(texts))
    const duck = await openDuck()
    const t = performance.now()
    await duck.conn.run(`CREATE TEMP TABLE x AS SELECT * FROM read_csv('${plain}', header=false, columns={'a':'BIGINT','o':'DOUBLE','h':'DOUBLE','l':'DOUBLE','c':'DOUBLE','v':'DOUBLE','ct':'BIGINT','qv':'DOUBLE','n':'BIGINT','tb':'DOUBLE','tq':'DOUBLE','i':'VARCHAR'})`)
    const dt = performance.now() - t
    duck.close()
    add('DuckDB read_csv of the same CSV into a table', `${fmt(527_040 / (dt / 1000))} rows/s`, '-', 'comparison: what a pure-DuckDB import would start from')

    // 2. End-to-end import, plain CSV and gzip
    for (const [label, files, holdBytes, target] of [
      ['import klines .csv (end to end, fresh lake)', [plain], undefined, '1,000,000 rows/s'],
      ['import klines .csv.gz (end to end, fresh lake)', gzFiles, undefined, '1,000,000 rows/s'],
      ['import klines .csv through the staging table (the general path)', [plain], 0, '-'],
    ] as const) {
      const secs: number[] = []
      // One untimed run first, then three timed: the first run in a process also compiles the parser and maps fresh
      // memory, which a long import pays once (the CLI row below shows a single run in its own process)
      for (let k = -1; k < 3; k++) {
        const lake = join(tmp, `lake-${label.length}-${k}`)
        const t0 = performance.now()
        await importArchives({
          lakeDir: lake,
          patterns: [...files],
          instrument: { exchange: 'binance', symbol: 'BTCUSDT' },
          kind: 'bars',
          interval: '1m',
          ...(holdBytes === undefined ? {} : { holdBytes }),
        })
        if (k >= 0) secs.push((performance.now() - t0) / 1000)
        rmSync(lake, { recursive: true, force: true })
      }
      const how = holdBytes === 0 ? 'what re-imports, overlaps and files out of order take' : 'held in memory, written straight to Parquet'
      add(label, `${fmt(527_040 / median(secs))} rows/s`, target, `median of 3 after a warm-up run: ${median(secs).toFixed(2)} s for 527,040 rows; ${how}`)
    }
    // The same import as a user runs it once: its own process, so Node's start, loading DuckDB and compiling the
    // parser are in the time
    {
      const bin = join(ROOT, 'bin', 'mercury.js')
      const secs: number[] = []
      for (let k = 0; k < 3; k++) {
        const lake = join(tmp, `lake-cli-${k}`)
        const t0 = performance.now()
        const r = spawnSync(process.execPath, [bin, '--data-dir', lake, 'backfill', '--archive', ...gzFiles, '--json'], { encoding: 'utf8', env: { ...process.env, MERCURY_LOG_LEVEL: 'error' } })
        secs.push((performance.now() - t0) / 1000)
        if (r.status !== 0) throw new Error(`mercury backfill: ${r.stderr}`)
        rmSync(lake, { recursive: true, force: true })
      }
      add('import klines .csv.gz, one CLI run (`mercury backfill --archive`, own process)', `${fmt(527_040 / median(secs))} rows/s`, '-', `median of 3: ${median(secs).toFixed(2)} s for 527,040 rows, Node's start and loading DuckDB included`)
    }
    // Re-import of the same year: compare and write nothing
    const lake = join(tmp, 'lake-year')
    await importArchives({ lakeDir: lake, patterns: gzFiles })
    const t1 = performance.now()
    await importArchives({ lakeDir: lake, patterns: gzFiles })
    add('re-import of the same year (no-op)', `${((performance.now() - t1) / 1000).toFixed(2)} s`, '-', 'reads, validates and compares; writes nothing')

    // 3. One-year range read into Float64Arrays
    const reader = await LakeReader.open(lake)
    const ds = { kind: 'bars', exchange: 'binance', symbol: 'BTCUSDT', interval: '1m' } as const
    const cols = ['open_time', 'open', 'high', 'low', 'close', 'volume'] as const
    const reads: number[] = []
    for (let k = 0; k < 7; k++) {
      const t = performance.now()
      const r = await reader.readColumns(ds, cols, { from: Date.UTC(2024, 0, 1) * 1000, to: Date.UTC(2025, 0, 1) * 1000 })
      reads.push(performance.now() - t)
      if (r.length !== 527_040) throw new Error(`read ${r.length} rows`)
    }
    reader.close()
    add('read one year of 1m bars (6 columns, Float64Array)', `${median(reads).toFixed(0)} ms`, '< 300 ms', `median of 7; 527,040 rows, monthly partitions`)
  }

  // 4. aggTrades: the real XRPETH file repeated to 1M rows with shifted ids and times (real-derived), twice: at the
  //    density of a liquid market (times compressed so that 1M rows span about a day, as BTCUSDT's aggTrades did in
  //    2024: one daily partition holds most of them) and at the file's own thin density (about 5,000 rows a day, so
  //    1M rows make about 200 daily partitions, where per-file costs dominate)
  const agg = gunzipSync(readFileSync(AGG)).toString('utf8').trimEnd().split('\n').map((l) => l.split(','))
  for (const [label, squeeze] of [
    ['import aggTrades .csv (end to end, 1,000,000 rows, liquid-market density)', 250],
    ['import aggTrades .csv (end to end, 1,000,000 rows, thin-market density)', 1],
  ] as const) {
    const lines: string[] = []
    const t0 = Number(agg[0][5])
    const span = Math.ceil((Number(agg.at(-1)![5]) - t0) / squeeze) + 1000
    const idSpan = agg.length
    const tradeSpan = Number(agg.at(-1)![4]) - Number(agg[0][3]) + 1
    for (let k = 0; lines.length < 1_000_000; k++) {
      for (const f of agg) {
        const t = t0 + Math.floor((Number(f[5]) - t0) / squeeze) + k * span
        lines.push([Number(f[0]) + k * idSpan, f[1], f[2], Number(f[3]) + k * tradeSpan, Number(f[4]) + k * tradeSpan, t, f[6], f[7]].join(','))
        if (lines.length === 1_000_000) break
      }
    }
    const aggFile = join(tmp, `XRPETH-aggTrades-bench-${squeeze}.csv`)
    writeFileSync(aggFile, lines.join('\n') + '\n')
    const aggSecs: number[] = []
    let parts = 0
    for (let k = -1; k < 3; k++) {
      const lake = join(tmp, `lake-agg-${k}`)
      const t1 = performance.now()
      const r = await importArchives({ lakeDir: lake, patterns: [aggFile], instrument: { exchange: 'binance', symbol: 'XRPETH' }, kind: 'agg_trades' })
      if (k >= 0) aggSecs.push((performance.now() - t1) / 1000)
      parts = r.commits.reduce((a, c) => a + c.partitionsChanged, 0)
      rmSync(lake, { recursive: true, force: true })
    }
    add(label, `${fmt(1_000_000 / median(aggSecs))} rows/s`, '1,000,000 rows/s', `median of 3 after a warm-up run: ${median(aggSecs).toFixed(2)} s; real XRPETH rows repeated with shifted ids and times${squeeze > 1 ? `, times compressed ${squeeze}x` : ''}; ${parts} daily partitions`)
  }

  if (!haveYear) {
    const lake = join(tmp, 'lake-sample')
    const t0 = performance.now()
    const r = await importArchives({ lakeDir: lake, patterns: [join(KLINES, '*.zip')] })
    add('import klines .zip (shipped sample)', `${fmt(r.rowsRead / ((performance.now() - t0) / 1000))} rows/s`, '1,000,000 rows/s', `${r.rowsRead} rows`)
  }

  // 5. CLI start time
  const bin = join(ROOT, 'bin', 'mercury.js')
  const starts: number[] = []
  for (let k = 0; k < 11; k++) {
    const t = performance.now()
    const r = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' })
    starts.push(performance.now() - t)
    if (r.status !== 0) throw new Error(r.stderr)
  }
  const nodeOnly: number[] = []
  for (let k = 0; k < 11; k++) {
    const t = performance.now()
    spawnSync(process.execPath, ['-e', '0'])
    nodeOnly.push(performance.now() - t)
  }
  add('`mercury --help` start time', `${median(starts).toFixed(0)} ms`, '< 250 ms', `median of 11 spawns; a bare \`node -e 0\` takes ${median(nodeOnly).toFixed(0)} ms here`)

  rmSync(tmp, { recursive: true, force: true })
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  const pkg = JSON.parse(readFileSync(join(ROOT, 'node_modules', '@duckdb', 'node-api', 'package.json'), 'utf8')) as { version: string }
  const machine = `${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM (${(freemem() / 2 ** 30).toFixed(0)} free), ${platform()} ${release()}, Node ${process.version}, @duckdb/node-api ${pkg.version}`
  const table = ['| benchmark | result | target | notes |', '|---|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
  const doc = readFileSync(join(ROOT, 'BENCHMARKS.md'), 'utf8')
  const load = `1-minute load average ${loadAtStart.toFixed(2)} at the start and ${loadavg()[0].toFixed(2)} at the end (other processes share the cores: timings on a busy machine run slower and vary more)`
  const generated = `<!-- bench:start -->\nMeasured ${new Date().toISOString().slice(0, 10)} on ${machine}. Data: ${source}. ${load}.\n\n${table}\n<!-- bench:end -->`
  writeFileSync(join(ROOT, 'BENCHMARKS.md'), doc.replace(/<!-- bench:start -->[\s\S]*<!-- bench:end -->/, generated))
  log('\nBENCHMARKS.md updated')
  if (only === 'import') return

  // 6. Indicators (bench/signals.ts), in their own section of BENCHMARKS.md
  await writeSignalsSection()
  await writeSection('backfill')
  await writeSection('export')
  await writeSection('collect')
  await writeSection('bus')
  await writeSection('backtest')
  await writeSection('optimize')
  await writeSection('convert-lob')
}

await main()
