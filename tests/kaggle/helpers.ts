// Shared by the kaggle-upload tests: dataset folders in temp dirs, deterministic bytes, the async CLI runner
// (spawnSync would block the in-process test server) and clients with fast backoff.

import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, ROOT, tempDir } from '../helpers.js'
import { KaggleClient } from '../../src/lib/kaggle/client.js'
import type { KaggleCredentials } from '../../src/lib/kaggle/credentials.js'
import type { KaggleServer } from '../servers/kaggle.js'

export const FAST = { baseMs: 5, capMs: 20 }
export const KIB = 1024
export const MIB = 1024 * 1024

/** Deterministic pseudo-random bytes (sha256 in counter mode). */
export function bytes(n: number, seed = 'mercury'): Buffer {
  const out = Buffer.allocUnsafe(n)
  for (let i = 0, off = 0; off < n; i++) {
    const h = createHash('sha256').update(`${seed}:${i}`).digest()
    off += h.copy(out, off, 0, Math.min(h.length, n - off))
  }
  return out
}

export const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')

/** A folder like the one convert-lob writes: a dataset card, a manifest with a schema, Parquet shards. */
export function lobFolder(sizes: Record<string, number> = { 'part-0000.parquet': 700 * KIB, 'part-0001.parquet': 300 * KIB }): { dir: string; files: Record<string, Buffer> } {
  const dir = tempDir('mercury-kaggle-')
  const files: Record<string, Buffer> = {}
  for (const [name, n] of Object.entries(sizes)) files[name] = bytes(n, name)
  files['README.md'] = Buffer.from('# BTC order book L2 sample\n\nTen levels per side, sampled every 100 ms from Binance.\n')
  files['manifest.json'] = Buffer.from(
    JSON.stringify({
      format: 'mercury-lob',
      levels: 1,
      schema: {
        columns: [
          { name: 'time', type: 'TIMESTAMP_US', description: 'Exchange event time' },
          { name: 'bid_px_0', type: 'DOUBLE' },
          { name: 'bid_sz_0', type: 'DOUBLE' },
          { name: 'ask_px_0', type: 'DOUBLE' },
          { name: 'ask_sz_0', type: 'DOUBLE' },
          { name: 'update_id', type: 'BIGINT' },
          { name: 'symbol', type: 'VARCHAR' },
        ],
      },
      files: Object.keys(sizes).map((path) => ({ path })),
    }),
  )
  for (const [name, b] of Object.entries(files)) writeFileSync(join(dir, name), b)
  return { dir, files }
}

export function tokenCredentials(server: KaggleServer, token = server.token): KaggleCredentials {
  return { kind: 'token', token, source: 'KAGGLE_API_TOKEN' }
}

export function clientFor(server: KaggleServer, credentials: KaggleCredentials = tokenCredentials(server)): KaggleClient {
  return new KaggleClient({ baseUrl: server.url, credentials, backoff: FAST, retries: 3, timeoutMs: 10_000 })
}

/** A small kernel folder like kaggle/: a script and TPU metadata. */
export function kernelFolder(meta: Record<string, unknown> = {}, code = 'print("train")\n'): string {
  const dir = tempDir('mercury-kernel-')
  writeFileSync(join(dir, 'train_mamba.py'), code)
  writeFileSync(
    join(dir, 'kernel-metadata.json'),
    JSON.stringify({
      id: 'alice/mercury-mamba-lob',
      title: 'Mercury Mamba LOB',
      code_file: 'train_mamba.py',
      language: 'python',
      kernel_type: 'script',
      is_private: 'true',
      enable_gpu: 'false',
      enable_tpu: 'true',
      enable_internet: 'true',
      dataset_sources: ['alice/btc-lob-l10'],
      competition_sources: [],
      kernel_sources: [],
      model_sources: [],
      machine_shape: 'TpuV6E8',
      ...meta,
    }),
  )
  return dir
}

/** A HOME with no Kaggle credentials, optionally holding a kaggle.json of the given mode. */
export function home(kaggleJson?: { username: string; key: string; mode: number }): string {
  const h = tempDir('mercury-home-')
  if (kaggleJson) {
    mkdirSync(join(h, '.kaggle'), { mode: 0o700 })
    const p = join(h, '.kaggle', 'kaggle.json')
    writeFileSync(p, JSON.stringify({ username: kaggleJson.username, key: kaggleJson.key }))
    chmodSync(p, kaggleJson.mode)
  }
  return h
}

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** The environment of a spawned CLI: no KAGGLE_* from the caller, a credential-free HOME unless given. */
export function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KAGGLE_') && k !== 'MERCURY_KAGGLE_API_URL') env[k] = v
  return { ...env, HOME: extra.HOME ?? home(), XDG_CONFIG_HOME: join(extra.HOME ?? tempDir(), '.config'), MERCURY_LOG_LEVEL: 'warn', ...extra }
}

/** Starts the built CLI without blocking the event loop. */
export function spawnCli(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Runs the built CLI to its end. */
export function runCli(args: string[], env: Record<string, string>): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawnCli(args, env)
    let stdout = ''
    let stderr = ''
    p.stdout?.on('data', (c: Buffer) => (stdout += c.toString()))
    p.stderr?.on('data', (c: Buffer) => (stderr += c.toString()))
    p.on('error', reject)
    p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}
