// Backfill section of `npm run bench`: REST backfill throughput against the local Binance server (tests/servers),
// serving real klines and aggTrades with Binance's paging. Uses the real 2024 BTCUSDT 1m year from
// ../shared/data/real when present, else the shipped sample (89,280 rows), and says which.
// `runBackfillBench()` returns a markdown section; `node dist/bench/backfill.js` prints it.

import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { runBackfill } from '../src/lib/backfill/run.js'
import { BinanceHistory } from '../src/lib/exchanges/binance/rest.js'
import { WeightBudget } from '../src/lib/net/budget.js'
import { RestClient } from '../src/lib/net/client.js'
import { loadAggTrades, loadKlines, startBinanceRestServer, type BinanceRestServer, type KlineRow } from '../tests/servers/binance-rest.js'

const ROOT = resolve(import.meta.dirname, '..', '..')
const SHARED = resolve(ROOT, '..', 'shared', 'data', 'real', 'jan-kluger-backtest')
const KLINES = join(ROOT, 'datasets', 'binance', 'spot', 'klines', 'BTCUSDT', '1m')
const OUTAGE = join(ROOT, 'tests', 'fixtures', 'binance', 'BTCUSDT-1m-2023-03.csv.gz')
const AGG = join(ROOT, 'tests', 'fixtures', 'binance', 'XRPETH-aggTrades-2019-10-11_2019-10-13.csv.gz')
const BIN = join(ROOT, 'bin', 'mercury.js')

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (x: number) => Math.round(x).toLocaleString('en-US')
const us = (iso: string) => Date.parse(iso) * 1000

function cliRun(args: string[], lake: string): Promise<number> {
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, MERCURY_DATA_DIR: lake, MERCURY_LOG_LEVEL: 'error' }, stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    p.stderr.on('data', (d: Buffer) => (err += d.toString()))
    p.on('close', (code) => (code === 0 ? resolve((performance.now() - t0) / 1000) : reject(new Error(`mercury ${args.join(' ')}: ${err}`))))
  })
}

/** Runs the backfill benchmarks and returns them as a markdown section. */
export async function runBackfillBench(): Promise<string> {
  const tmp = mkdtempSync(join(tmpdir(), 'mercury-bench-backfill-'))
  const rows: string[][] = []
  const add = (name: string, value: string, note: string) => {
    rows.push([name, value, note])
    console.log(`${name}: ${value} ${note}`)
  }
  const year = Array.from({ length: 12 }, (_, i) => join(SHARED, `BTCUSDT-1m-2024-${String(i + 1).padStart(2, '0')}.csv.gz`))
  const haveYear = year.every((f) => existsSync(f))
  const files = haveYear ? year : [join(KLINES, 'BTCUSDT-1m-2024-11.zip'), join(KLINES, 'BTCUSDT-1m-2024-12.zip'), join(KLINES, 'BTCUSDT-1m-2025-01-01.zip')]
  const [from, to] = haveYear ? ['2024-01-01', '2025-01-01'] : ['2024-11-01', '2025-01-02']
  const source = haveYear ? 'the real 2024 BTCUSDT 1m year (527,040 rows)' : 'the shipped sample (89,280 rows, Nov-Dec 2024 + 2025-01-01)'
  const klines: KlineRow[] = await loadKlines(files)
  const n = klines.length
  let server: BinanceRestServer | undefined
  try {
    server = await startBinanceRestServer({ spot: { klines: { BTCUSDT: { '1m': klines } }, aggTrades: { XRPETH: loadAggTrades(AGG) } } })
    const url = server.url
    const args = ['backfill', 'binance:BTCUSDT', '--from', from, '--to', to, '--rest-url', url]

    // 1. The CLI as a user runs it: its own process, fresh lake, default settings (4 requests in flight, commits every 50,000 rows)
    const cliSecs: number[] = []
    for (let k = 0; k < 3; k++) {
      const lake = join(tmp, `cli-${k}`)
      cliSecs.push(await cliRun(args, lake))
      if (k < 2) rmSync(lake, { recursive: true, force: true })
    }
    const requests = server.log.length / 3
    add('REST backfill, CLI end to end (spot 1m bars, fresh lake)', `${fmt(n / median(cliSecs))} rows/s`, `median of 3: ${median(cliSecs).toFixed(2)} s for ${fmt(n)} rows in ${fmt(requests)} requests; includes process start and DuckDB`)

    // 2. Re-running the same command: the checkpoint says it is complete, nothing is sent
    const before = server.log.length
    const again = await cliRun(args, join(tmp, 'cli-2'))
    add('REST backfill re-run of the same range', `${again.toFixed(2)} s`, `${server.log.length - before} requests, nothing written`)

    // 3. The library in this process (the server shares its event loop, so this is a lower bound)
    const libSecs: number[] = []
    for (let k = 0; k < 1; k++) {
      const lake = join(tmp, `lib-${k}`)
      const t0 = performance.now()
      const r = await runBackfill({ lakeDir: lake, targets: [{ instrument: { exchange: 'binance', symbol: 'BTCUSDT' }, kind: 'bars', interval: '1m' }], from: us(from), to: us(to), restUrl: url })
      libSecs.push((performance.now() - t0) / 1000)
      if (r.rowsFetched !== n) throw new Error(`fetched ${r.rowsFetched} of ${n}`)
      rmSync(lake, { recursive: true, force: true })
    }
    add('REST backfill, library in-process', `${fmt(n / median(libSecs))} rows/s`, `${median(libSecs).toFixed(2)} s (one run); the server shares this process's event loop`)

    // 4. Fetch and parse only, no lake: what the HTTP + JSON + parser path sustains
    const fetchSecs: number[] = []
    for (let k = 0; k < 3; k++) {
      const client = new RestClient({ baseUrl: url, name: 'binance', budget: new WeightBudget(1e9), timeoutMs: 10_000, retries: 0 })
      const venue = new BinanceHistory('binance')
      const t0 = performance.now()
      let got = 0
      const target = { instrument: { exchange: 'binance' as const, symbol: 'BTCUSDT' }, kind: 'bars' as const, interval: '1m' as const }
      for await (const p of venue.pages(client, target, { from: us(from), to: us(to) }, { concurrency: 4, settledBefore: Date.now() * 1000 })) got += p.records.length
      fetchSecs.push((performance.now() - t0) / 1000)
      if (got !== n) throw new Error(`fetched ${got} of ${n}`)
    }
    add('fetch + parse klines only (no lake)', `${fmt(n / median(fetchSecs))} rows/s`, `median of 3: ${median(fetchSecs).toFixed(2)} s; HTTP keep-alive, JSON, decimal checks, 4 in flight`)

    // 5. aggTrades by id
    const aggSecs: number[] = []
    for (let k = 0; k < 3; k++) {
      const lake = join(tmp, `agg-${k}`)
      aggSecs.push(await cliRun(['backfill', 'binance:XRPETH', '--kind', 'trades', '--from', '2019-10-11', '--to', '2019-10-14', '--rest-url', url], lake))
      rmSync(lake, { recursive: true, force: true })
    }
    add('REST backfill of aggTrades, CLI end to end', `${fmt(12_477 / median(aggSecs))} rows/s`, `median of 3: ${median(aggSecs).toFixed(2)} s for 12,477 XRPETH aggTrades (13 requests); mostly process start`)
  } finally {
    await server?.close()
  }

  // 6. With a real exchange's round trip: 50 ms per request, one vs four requests in flight
  const march = await loadKlines([OUTAGE])
  const slow = await startBinanceRestServer({ spot: { klines: { BTCUSDT: { '1m': march } } }, latencyMs: 50 })
  try {
    for (const c of [1, 4]) {
      const lake = join(tmp, `lat-${c}`)
      const t0 = performance.now()
      const r = await runBackfill({ lakeDir: lake, targets: [{ instrument: { exchange: 'binance', symbol: 'BTCUSDT' }, kind: 'bars', interval: '1m' }], from: us('2023-03-01'), to: us('2023-04-01'), restUrl: slow.url, concurrency: c })
      const s = (performance.now() - t0) / 1000
      add(`REST backfill at 50 ms per request, concurrency ${c}`, `${fmt(r.rowsFetched / s)} rows/s`, `${s.toFixed(2)} s for ${fmt(r.rowsFetched)} rows (March 2023) in ${r.requests} requests`)
      rmSync(lake, { recursive: true, force: true })
    }
  } finally {
    await slow.close()
  }
  rmSync(tmp, { recursive: true, force: true })

  const table = ['| benchmark | result | notes |', '|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
  return [
    '## REST backfill',
    '',
    `Against the local Binance server of \`tests/servers/binance-rest.ts\` on 127.0.0.1, serving ${source} with Binance's`,
    `paging (1000 klines per request). Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}.`,
    '',
    table,
    '',
  ].join('\n')
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runBackfillBench().then(
    (md) => process.stdout.write('\n' + md),
    (err: unknown) => {
      console.error(err)
      process.exitCode = 1
    },
  )
}
