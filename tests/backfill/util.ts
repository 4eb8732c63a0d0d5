// Shared by the REST backfill tests: the CLI run asynchronously (the local server lives in this process, so a
// blocking spawnSync would starve it) and a local Binance server loaded with the repo's real data

import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { BIN, FIXTURES, KLINES, OUTAGE, ROOT, XRPETH_AGG } from '../helpers.js'
import {
  loadAggTrades,
  loadFunding,
  loadKlines,
  startBinanceRestServer,
  type BinanceRestServer,
  type KlineRow,
  type ServerOptions,
} from '../servers/binance-rest.js'

export const FUNDING = join(FIXTURES, 'binance', 'BTC_USDT_USDT-8h-funding_rate.csv.gz')
export const MONTH_ZIPS = [join(KLINES, 'BTCUSDT-1m-2024-11.zip'), join(KLINES, 'BTCUSDT-1m-2024-12.zip'), join(KLINES, 'BTCUSDT-1m-2025-01-01.zip')]

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
  ms: number
}

/** Runs the built CLI without blocking this process's event loop. */
export function runCli(args: string[], dataDir: string, opts: { env?: Record<string, string>; onSpawn?: (p: ChildProcess) => void } = {}): Promise<RunResult> {
  const t0 = Date.now()
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: {
        ...process.env,
        MERCURY_DATA_DIR: dataDir,
        MERCURY_LOG_LEVEL: 'warn',
        // A developer's own settings must not point the tests at a real exchange
        MERCURY_BINANCE_REST_URL: 'http://127.0.0.1:9',
        MERCURY_BINANCE_FUTURES_REST_URL: 'http://127.0.0.1:9',
        MERCURY_COINBASE_REST_URL: 'http://127.0.0.1:9',
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - t0 }))
    opts.onSpawn?.(p)
  })
}

export async function runJson<T>(args: string[], dataDir: string, env?: Record<string, string>): Promise<T> {
  const r = await runCli([...args, '--json'], dataDir, { env })
  if (r.code !== 0) throw new Error(`mercury ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

let spotKlines: Promise<KlineRow[]> | undefined
/** Real BTCUSDT 1m klines: March 2023 (with the 2023-03-24 outage), Nov and Dec 2024, 2025-01-01 (µs in the archive) */
export function realKlines(): Promise<KlineRow[]> {
  spotKlines ??= loadKlines([OUTAGE, ...MONTH_ZIPS])
  return spotKlines
}

/** A local Binance with the real data: spot and futures serve the same recorded BTCUSDT klines. */
export async function realServer(o: Partial<ServerOptions> = {}): Promise<BinanceRestServer> {
  const klines = await realKlines()
  return startBinanceRestServer({
    spot: { klines: { BTCUSDT: { '1m': klines } }, aggTrades: { XRPETH: loadAggTrades(XRPETH_AGG) } },
    futures: { klines: { BTCUSDT: { '1m': klines } }, fundingRate: { BTCUSDT: loadFunding(FUNDING, 'BTCUSDT') } },
    ...o,
  })
}

export const KLINES_PATH = '/api/v3/klines'

/** Every numeric bar column of a lake's dataset, for exact comparisons. */
export const BAR_COLUMNS = [
  'open_time', 'close_time', 'open', 'high', 'low', 'close', 'volume', 'quote_volume', 'trades',
  'taker_buy_volume', 'taker_buy_quote_volume', 'local_timestamp',
] as const

export async function readBars(lake: string, exchange: 'binance' | 'binance-futures' = 'binance') {
  const { LakeReader } = await import('../../src/lib/lake/reader.js')
  const r = await LakeReader.open(lake)
  try {
    return await r.readColumns({ kind: 'bars', exchange, symbol: 'BTCUSDT', interval: '1m' }, BAR_COLUMNS)
  } finally {
    r.close()
  }
}

/** Start times (ms) of the kline requests in a slice of the server log. */
export const startTimes = (entries: { params: Record<string, string> }[]) => entries.map((e) => Number(e.params.startTime))

export const ms = (iso: string) => Date.parse(iso)
