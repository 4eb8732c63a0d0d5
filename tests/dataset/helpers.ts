// Helpers for the convert-lob tests: run the built CLI, read shards back with DuckDB, replay recordings the
// independent way (raw frames, no converter code) for the expected values

import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, FIXTURES } from '../helpers.js'
import { openDuck } from '../../src/lib/lake/duck.js'
import type { Manifest } from '../../src/lib/dataset/manifest.js'

export const HFT = join(FIXTURES, 'recordings', 'hftbacktest')
export const SPOT = join(HFT, 'spot-btcusdt_20240808.gz')
export const USDM = join(HFT, 'usdm-btcusdt_20230404.dat.gz')

export interface Converted {
  readonly out: string
  readonly rows: number
  readonly shards: Manifest['shards']
  readonly keptShards: number
  readonly writtenShards: number
  readonly validation: Manifest['validation']
}

/** Runs `mercury convert-lob ... --json` and returns its summary; throws with stderr on failure. */
export function convert(args: string[], dataDir: string, env: Record<string, string> = {}): Converted {
  const r = cli(['convert-lob', ...args, '--json'], dataDir, env)
  if (r.code !== 0) throw new Error(`convert-lob ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as Converted
}

export function manifestOf(out: string): Manifest {
  return JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest
}

export function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

export interface Table {
  readonly columns: string[]
  /** Row-major values; BIGINT as number, NULL as null */
  readonly rows: (number | null)[][]
  readonly types: string[]
}

/** Reads Parquet files back in file order (rows in stored order). */
export async function readParquet(files: readonly string[]): Promise<Table> {
  const duck = await openDuck({ threads: 1 })
  try {
    const out: (number | null)[][] = []
    let columns: string[] = []
    let types: string[] = []
    for (const f of files) {
      const r = await duck.conn.runAndReadAll(`SELECT * FROM read_parquet('${f}')`)
      columns = r.columnNames()
      types = r.columnTypes().map((t) => t.toString())
      for (const row of r.getRows()) out.push(row.map((v) => (v === null ? null : typeof v === 'bigint' ? Number(v) : (v as number))))
    }
    return { columns, rows: out, types }
  } finally {
    duck.close()
  }
}

/** Row counts of each file as Parquet metadata and a scan see them. */
export async function parquetCount(file: string): Promise<number> {
  const duck = await openDuck({ threads: 1 })
  try {
    const r = await duck.conn.runAndReadAll(`SELECT count(*) FROM read_parquet('${file}')`)
    return Number(r.getRows()[0][0])
  } finally {
    duck.close()
  }
}
