// NumPy .npy files (format version 1.0, written by hand): the CI kernel reads these because Debian packages no
// Parquet reader for Python. https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { DuckDBConnection } from '@duckdb/node-api'
import { randomId, writeFileAtomic } from '../util/fs.js'
import type { LobLayout } from './layout.js'

export type NpyDescr = '<f4' | '<f8' | '<i8'

/** The .npy header: magic, version 1.0, little-endian length, the dict padded with spaces so the data starts at a multiple of 64. */
export function npyHeader(descr: NpyDescr, shape: readonly number[]): Buffer {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${dims}, }`
  const unpadded = 10 + dict.length + 1
  const total = Math.ceil(unpadded / 64) * 64
  const header = dict + ' '.repeat(total - unpadded) + '\n'
  const out = Buffer.alloc(total)
  out.write('\x93NUMPY', 0, 'latin1')
  out[6] = 1
  out[7] = 0
  out.writeUInt16LE(header.length, 8)
  out.write(header, 10, 'latin1')
  return out
}

export interface NpyArray {
  readonly descr: NpyDescr
  readonly shape: number[]
  readonly data: Float32Array | Float64Array | BigInt64Array
}

/** Reads a .npy file written by `npyHeader` (C order, little-endian f4, f8 or i8). */
export function readNpy(path: string): NpyArray {
  const b = readFileSync(path)
  if (b.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path} is not a .npy file`)
  const len = b.readUInt16LE(8)
  const header = b.toString('latin1', 10, 10 + len)
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1] as NpyDescr
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number)
  const start = 10 + len
  const body = b.buffer.slice(b.byteOffset + start, b.byteOffset + b.length)
  const data = descr === '<f4' ? new Float32Array(body) : descr === '<f8' ? new Float64Array(body) : new BigInt64Array(body)
  return { descr, shape, data }
}

/** A file written in pieces to a temp name and renamed when complete. */
class NpyFile {
  private readonly tmp: string
  private readonly fd: number
  constructor(
    readonly path: string,
    descr: NpyDescr,
    shape: readonly number[],
  ) {
    this.tmp = `${path}.${randomId()}.tmp`
    this.fd = openSync(this.tmp, 'w', 0o644)
    writeSync(this.fd, npyHeader(descr, shape))
  }
  write(b: ArrayBufferView): void {
    writeSync(this.fd, new Uint8Array(b.buffer, b.byteOffset, b.byteLength))
  }
  commit(): void {
    fsyncSync(this.fd)
    closeSync(this.fd)
    renameSync(this.tmp, this.path)
  }
}

/**
 * Writes `<dir>/npy/features.npy` (float32 [rows, columns without ts], NULL as NaN), `ts.npy` (int64 µs) and
 * `columns.json` by reading the shards back, so the arrays hold exactly what the Parquet files hold.
 */
export async function writeNpy(conn: DuckDBConnection, dir: string, shards: readonly string[], layout: LobLayout, rows: number): Promise<string[]> {
  const npyDir = join(dir, 'npy')
  const { mkdirSync } = await import('node:fs')
  mkdirSync(npyDir, { recursive: true })
  const feats = layout.columns.slice(1)
  const F = feats.length
  const features = new NpyFile(join(npyDir, 'features.npy'), '<f4', [rows, F])
  const ts = new NpyFile(join(npyDir, 'ts.npy'), '<i8', [rows])
  const select = ['CAST(ts AS BIGINT) AS ts', ...feats.map((c) => `CAST(COALESCE(CAST("${c.name}" AS DOUBLE), 'NaN'::DOUBLE) AS FLOAT) AS "${c.name}"`)].join(', ')
  let written = 0
  for (const shard of shards) {
    const result = await conn.stream(`SELECT ${select} FROM read_parquet('${join(dir, shard).replace(/'/g, "''")}')`)
    for (;;) {
      const chunk = await result.fetchChunk()
      if (!chunk || chunk.rowCount === 0) break
      const n = chunk.rowCount
      const out = new Float32Array(n * F)
      for (let c = 0; c < F; c++) {
        const v = chunk.getColumnVector(c + 1)
        for (let i = 0; i < n; i++) out[i * F + c] = v.getItem(i) as number
      }
      const tv = chunk.getColumnVector(0)
      const t = new BigInt64Array(n)
      for (let i = 0; i < n; i++) t[i] = tv.getItem(i) as bigint
      features.write(out)
      ts.write(t)
      written += n
    }
  }
  if (written !== rows) throw new Error(`npy export read ${written} rows from the shards, the manifest says ${rows}`)
  features.commit()
  ts.commit()
  writeFileAtomic(
    join(npyDir, 'columns.json'),
    JSON.stringify({ features: feats.map((c) => c.name), dtype: 'float32', shape: [rows, F], missing: 'NaN', ts: { file: 'ts.npy', dtype: 'int64', unit: 'us' } }, null, 2) + '\n',
  )
  return ['npy/features.npy', 'npy/ts.npy', 'npy/columns.json']
}
