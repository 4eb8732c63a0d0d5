// Shared by the thin command modules: global options, output and progress. Keep imports light: `--help` must
// not load DuckDB.

import type { Command } from 'commander'
import { statSync, type Stats } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { LOG_LEVELS, setLogLevel, type LogLevel } from '../lib/log.js'
import { UsageError } from '../lib/errors.js'

export interface GlobalOptions {
  readonly dataDir: string
  readonly json: boolean
  readonly logLevel: LogLevel
}

/** Global options as seen from a subcommand, with the data dir resolved (flag, env, default). */
export function globals(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as { dataDir?: string; json?: boolean; logLevel?: string }
  const level = (o.logLevel ?? process.env.MERCURY_LOG_LEVEL ?? 'warn') as LogLevel
  if (!LOG_LEVELS.includes(level)) {
    throw new UsageError(`Invalid --log-level: '${level}'. Expected one of ${LOG_LEVELS.join(', ')}`)
  }
  setLogLevel(level)
  const flag = o.dataDir !== undefined ? '--data-dir' : process.env.MERCURY_DATA_DIR !== undefined ? 'MERCURY_DATA_DIR' : undefined
  const dir = resolve(o.dataDir ?? process.env.MERCURY_DATA_DIR ?? join(homedir(), '.mercury', 'data'))
  // A lake folder that is a file would fail later with a bare EEXIST or ENOTDIR, or read as an empty lake
  const name = flag ?? 'data folder'
  let st: Stats | undefined
  try {
    st = statSync(dir)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOTDIR') throw new UsageError(`Invalid ${name}: '${dir}' is inside a file. Expected the folder of a mercury lake (or one to create)`)
    // ENOENT: not there yet, the commands that write create it
    if (code !== 'ENOENT') throw new UsageError(`Invalid ${name}: '${dir}': ${(err as Error).message}`)
  }
  if (st !== undefined && !st.isDirectory()) {
    throw new UsageError(`Invalid ${name}: '${dir}' is a file, not a folder. Expected the folder of a mercury lake (or one to create)`)
  }
  return { dataDir: dir, json: Boolean(o.json), logLevel: level }
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n')
}

/** Renders rows as a terminal table. */
export async function printTable(head: string[], rows: (string | number)[][], align?: ('left' | 'right')[]): Promise<void> {
  const { default: Table } = await import('cli-table3')
  const t = new Table({ head, style: { head: [], border: [] }, ...(align ? { colAligns: align } : {}) })
  for (const r of rows) t.push(r.map((x) => (typeof x === 'number' ? fmtNum(x) : x)))
  process.stdout.write(t.toString() + '\n')
}

export function fmtNum(x: number): string {
  return Number.isInteger(x) ? x.toLocaleString('en-US') : x.toLocaleString('en-US', { maximumFractionDigits: 8 })
}

export function fmtBytes(n: number): string {
  const u = ['B', 'KB', 'MB', 'GB', 'TB']
  let i = 0
  let x = n
  while (x >= 1024 && i < u.length - 1) {
    x /= 1024
    i++
  }
  return `${x.toFixed(i === 0 ? 0 : 1)} ${u[i]}`
}

/** A one-line progress display on stderr when it is a terminal; silent otherwise. */
export function progressLine(): { update(text: string): void; done(text?: string): void } {
  const tty = process.stderr.isTTY
  let last = ''
  return {
    update(text) {
      if (!tty) return
      const width = process.stderr.columns ?? 100
      last = text.slice(0, width - 1)
      process.stderr.write(`\r\x1b[2K${last}`)
    },
    done(text) {
      if (tty && last) process.stderr.write('\r\x1b[2K')
      last = ''
      if (text) process.stderr.write(text + '\n')
    },
  }
}

/** Parses a positive integer option. */
export function intOption(flag: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`Invalid ${flag}: '${value}'. Expected a positive integer`)
    return n
  }
}
