// --npy: the NumPy arrays hold exactly the Parquet values (float32 of each, NULL as NaN), in Parquet column order

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { npyHeader, readNpy } from '../../src/lib/dataset/npy.js'
import { tempDir } from '../helpers.js'
import { convert, manifestOf, readParquet, sha256, USDM } from './helpers.js'

describe('convert-lob --npy', () => {
  it('writes features.npy (float32 [rows, 4N+5]) and ts.npy (int64) equal to the shards', async () => {
    const dir = tempDir()
    const r = convert([USDM, '--out', join(dir, 'o'), '--levels', '10', '--with-trades', '--shard-rows', '300', '--npy'], dir)
    const t = await readParquet(r.shards.map((s) => join(r.out, s.file)))
    const f = readNpy(join(r.out, 'npy', 'features.npy'))
    const ts = readNpy(join(r.out, 'npy', 'ts.npy'))
    const cols = JSON.parse(readFileSync(join(r.out, 'npy', 'columns.json'), 'utf8')) as { features: string[]; shape: number[] }
    const F = 4 * 10 + 5
    expect(f.descr).toBe('<f4')
    expect(f.shape).toEqual([t.rows.length, F])
    expect(ts.descr).toBe('<i8')
    expect(ts.shape).toEqual([t.rows.length])
    expect(cols.features).toEqual(t.columns.slice(1))
    expect(cols.shape).toEqual([t.rows.length, F])
    const data = f.data as Float32Array
    const times = ts.data as BigInt64Array
    for (let i = 0; i < t.rows.length; i++) {
      expect(Number(times[i])).toBe(t.rows[i][0])
      for (let c = 0; c < F; c++) {
        const v = t.rows[i][c + 1]
        const got = data[i * F + c]
        if (v === null) expect(Number.isNaN(got)).toBe(true)
        else expect(got).toBe(Math.fround(v))
      }
    }
    // The header is NumPy format 1.0, padded so the data starts at a multiple of 64
    const raw = readFileSync(join(r.out, 'npy', 'features.npy'))
    const hlen = raw.readUInt16LE(8)
    expect(raw.subarray(0, 8)).toEqual(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]))
    expect((10 + hlen) % 64).toBe(0)
    expect(raw.toString('latin1', 10, 10 + hlen)).toMatch(new RegExp(`^\\{'descr': '<f4', 'fortran_order': False, 'shape': \\(${t.rows.length}, ${F}\\), \\} *\\n$`))
    const m = manifestOf(r.out)
    expect(m.npy?.map((x) => [x.file, x.sha256])).toEqual(['npy/features.npy', 'npy/ts.npy', 'npy/columns.json'].map((x) => [x, sha256(join(r.out, x))]))
  })

  it('writes 1-d shapes with a trailing comma', () => {
    const h = npyHeader('<i8', [7])
    expect(h.length % 64).toBe(0)
    expect(h.toString('latin1', 10)).toMatch(/^\{'descr': '<i8', 'fortran_order': False, 'shape': \(7,\), \} *\n$/)
  })
})
