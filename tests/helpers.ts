import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { afterEach } from 'vitest'
import type { StageBatch } from '../src/lib/lake/writer.js'

export const ROOT = resolve(import.meta.dirname, '..')
export const BIN = join(ROOT, 'bin', 'mercury.js')
export const FIXTURES = join(ROOT, 'tests', 'fixtures')
export const DATASETS = join(ROOT, 'datasets')
export const KLINES = join(DATASETS, 'binance', 'spot', 'klines', 'BTCUSDT', '1m')
export const OUTAGE = join(FIXTURES, 'binance', 'BTCUSDT-1m-2023-03.csv.gz')
export const XRPETH_AGG = join(FIXTURES, 'binance', 'XRPETH-aggTrades-2019-10-11_2019-10-13.csv.gz')
/** The shared real-data folder, present beside the repo in CI and on developer machines, not in a fresh clone */
export const SHARED_REAL = resolve(ROOT, '..', 'shared', 'data', 'real')

const made: string[] = []
afterEach(() => {
  while (made.length) rmSync(made.pop() as string, { recursive: true, force: true })
})

/** A fresh temp dir, removed after the test. */
export function tempDir(prefix = 'mercury-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  made.push(d)
  return d
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the built CLI with a lake dir; never inherits the caller's MERCURY_DATA_DIR. */
export function cli(args: string[], dataDir: string, env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, MERCURY_DATA_DIR: dataDir, MERCURY_LOG_LEVEL: 'warn', ...env },
    encoding: 'utf8',
    timeout: 120_000,
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

export function cliJson<T = unknown>(args: string[], dataDir: string): T {
  const r = cli([...args, '--json'], dataDir)
  if (r.code !== 0) throw new Error(`mercury ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

/** Starts the CLI without waiting (for kill tests). */
export function cliSpawn(args: string[], dataDir: string) {
  return spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, MERCURY_DATA_DIR: dataDir, MERCURY_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

/** sha256 of every file under a folder, keyed by relative path: "byte-for-byte unchanged" checks. */
export function treeHash(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  if (!existsSync(dir)) return out
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e)
      if (statSync(p).isDirectory()) walk(p)
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex')
    }
  }
  walk(dir)
  return out
}

/** The lake's coverage rows. */
export interface LsRow {
  kind: string
  instrument: string
  interval: string | null
  rows: number
  first: string
  last: string
  gaps: number
  missing: number
  firstKey: number
  lastKey: number
}

/** Fails in CI when the shared real data is missing (never a silent skip); elsewhere says why it skips. */
export function sharedAvailable(): boolean {
  if (existsSync(join(SHARED_REAL, 'jan-kluger-backtest'))) return true
  if (process.env.CI) throw new Error(`CI must have ../shared/data/real beside the repo (looked in ${SHARED_REAL})`)
  console.warn(`skipping tests that need ${SHARED_REAL} (not present in this clone)`)
  return false
}

/** The Redis scripts/test.sh starts, tried when MERCURY_TEST_REDIS_URL is not set */
const TEST_SH_REDIS_URL = 'redis://127.0.0.1:6390'

let redisChecked: Promise<string | undefined> | undefined

/**
 * URL of the test Redis (MERCURY_TEST_REDIS_URL, else the one scripts/test.sh starts) once it answers PING.
 * In CI a missing server throws (the tests fail, never skip); elsewhere it says why and the tests skip.
 */
export function redisTestUrl(): Promise<string | undefined> {
  redisChecked ??= (async () => {
    const url = process.env.MERCURY_TEST_REDIS_URL || TEST_SH_REDIS_URL
    const { Redis } = await import('ioredis')
    const r = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null })
    let last: Error | undefined
    r.on('error', (e: Error) => (last = e))
    try {
      await r.connect()
      await r.ping()
      return url
    } catch (caught) {
      // ioredis rejects with "Connection is closed."; the socket error before it says why
      const err = (last ?? caught) as Error
      const why = process.env.MERCURY_TEST_REDIS_URL ? 'MERCURY_TEST_REDIS_URL does not answer' : 'MERCURY_TEST_REDIS_URL is not set'
      const how =
        'The bus and heartbeat tests need a real Redis. Run them through `npm test` (scripts/test.sh installs and starts ' +
        "one on Debian as root), or start redis-server --port 6390 --save '' and set MERCURY_TEST_REDIS_URL=redis://127.0.0.1:6390."
      if (process.env.CI) throw new Error(`${why} (CI): ${err.message.replace(/\.$/, '')}. ${how}`)
      console.warn(`skipping the tests that need Redis: ${why} (${err.message.replace(/\.$/, '')}). ${how}`)
      return undefined
    } finally {
      r.disconnect()
    }
  })()
  return redisChecked
}

/**
 * A staged batch of synthetic 1m bars opening at `opens` (µs), prices rising by 1 per row from 100, in the lake's
 * staged columns; `patch` edits the columns before the batch is made. For lake writer tests.
 */
export function barBatch(opens: number[], source = 0, patch?: (cols: Record<string, Float64Array>) => void): StageBatch {
  const n = opens.length
  const col = (f: (i: number) => number) => Float64Array.from({ length: n }, (_, i) => f(i))
  const f64: Record<string, Float64Array> = {
    open_time: col((i) => opens[i]),
    close_time: col((i) => opens[i] + 59_999_999),
    open: col((i) => 100 + i),
    high: col((i) => 101 + i),
    low: col((i) => 99 + i),
    close: col((i) => 100 + i),
    volume: col((i) => i),
    quote_volume: col((i) => i * 100),
    trades: col((i) => i),
    taker_buy_volume: col(() => 0),
    taker_buy_quote_volume: col(() => 0),
    local_timestamp: col((i) => opens[i] + 59_999_999),
  }
  patch?.(f64)
  return { rows: n, source, line: col((i) => i + 1), f64 }
}
