import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { LakeWriter, type StageBatch } from '../../src/lib/lake/writer.js'
import { LakeReader, coverageOf, listDatasets } from '../../src/lib/lake/reader.js'
import { readManifest } from '../../src/lib/lake/manifest.js'
import { datasetDir } from '../../src/lib/lake/paths.js'
import type { DatasetId } from '../../src/lib/lake/schema.js'
import { tempDir, treeHash } from '../helpers.js'

const BARS: DatasetId = { kind: 'bars', exchange: 'binance', symbol: 'TESTUSDT', interval: '1m' }
const TRADES: DatasetId = { kind: 'trades', exchange: 'binance', symbol: 'TESTUSDT' }
const T0 = Date.UTC(2024, 0, 31, 23, 0) * 1000 // crosses a month boundary after 60 bars

function bars(opens: number[], price = 100, source = 0): StageBatch {
  const n = opens.length
  const col = (f: (i: number) => number) => Float64Array.from({ length: n }, (_, i) => f(i))
  const open_time = col((i) => opens[i])
  return {
    rows: n,
    source,
    line: col((i) => i + 1),
    f64: {
      open_time,
      close_time: col((i) => opens[i] + 59_999_999),
      open: col(() => price),
      high: col(() => price + 1),
      low: col(() => price - 1),
      close: col(() => price),
      volume: col((i) => i),
      quote_volume: col((i) => i * price),
      trades: col((i) => i),
      taker_buy_volume: col(() => 0),
      taker_buy_quote_volume: col(() => 0),
      local_timestamp: col((i) => opens[i] + 59_999_999),
    },
  }
}

const minutes = (from: number, count: number, skip: (i: number) => boolean = () => false) =>
  Array.from({ length: count }, (_, i) => T0 + (from + i) * 60e6).filter((_, i) => !skip(from + i))

async function write(lake: string, ds: DatasetId, batch: StageBatch) {
  const w = await LakeWriter.open(lake)
  try {
    await w.stage(ds, batch)
    return await w.commit(ds)
  } finally {
    w.close()
  }
}

describe('lake writer and reader', () => {
  it('partitions bars by month, reads them back in order as Float64Arrays', async () => {
    const lake = tempDir()
    const r = await write(lake, BARS, bars(minutes(0, 120)))
    expect(r).toMatchObject({ rowsWritten: 120, partitionsChanged: 2 })
    const m = readManifest(datasetDir(lake, BARS))
    expect(Object.keys(m!.partitions).sort()).toEqual(['2024-01', '2024-02'])
    expect(readdirSync(datasetDir(lake, BARS)).sort()).toEqual(['_manifest.json', 'month=2024-01', 'month=2024-02'])
    const reader = await LakeReader.open(lake)
    try {
      const { length, columns } = await reader.readColumns(BARS, ['open_time', 'close', 'volume'])
      expect(length).toBe(120)
      expect(columns.open_time).toBeInstanceOf(Float64Array)
      expect(Array.from(columns.open_time)).toEqual(minutes(0, 120))
      const part = await reader.readColumns(BARS, ['open_time'], { from: T0 + 30 * 60e6, to: T0 + 90 * 60e6 })
      expect(part.length).toBe(60)
      expect(part.columns.open_time[0]).toBe(T0 + 30 * 60e6)
    } finally {
      reader.close()
    }
  })

  it('is idempotent: the same rows again leave every byte as it was', async () => {
    const lake = tempDir()
    await write(lake, BARS, bars(minutes(0, 120)))
    const before = treeHash(lake)
    const again = await write(lake, BARS, bars(minutes(0, 120)))
    expect(again).toMatchObject({ rowsWritten: 0, partitionsChanged: 0, partitionsUnchanged: 2 })
    expect(treeHash(lake)).toEqual(before)
  })

  it('replaces rows with the same key and keeps the rest of the partition', async () => {
    const lake = tempDir()
    await write(lake, BARS, bars(minutes(0, 120)))
    const r = await write(lake, BARS, bars(minutes(10, 5), 200))
    expect(r).toMatchObject({ partitionsChanged: 1, partitionsUnchanged: 0, rowsWritten: 60 })
    const reader = await LakeReader.open(lake)
    try {
      const { length, columns } = await reader.readColumns(BARS, ['open_time', 'close'])
      expect(length).toBe(120)
      expect(Array.from(columns.close.subarray(8, 17))).toEqual([100, 100, 200, 200, 200, 200, 200, 100, 100])
    } finally {
      reader.close()
    }
  })

  it('counts gaps inside partitions and across their boundary', async () => {
    const lake = tempDir()
    // Missing: minutes 20-24 (inside January) and 58-61 (across the month boundary)
    await write(lake, BARS, bars(minutes(0, 120, (i) => (i >= 20 && i < 25) || (i >= 58 && i < 62))))
    const [d] = listDatasets(lake)
    const cov = coverageOf(d.ds, d.manifest)
    expect(cov).toMatchObject({ rows: 111, gaps: 2, missing: 9 })
    const reader = await LakeReader.open(lake)
    try {
      const gaps = await reader.gaps(BARS)
      expect(gaps).toEqual([
        { from: T0 + 20 * 60e6, to: T0 + 24 * 60e6, missing: 5 },
        { from: T0 + 58 * 60e6, to: T0 + 61 * 60e6, missing: 4 },
      ])
    } finally {
      reader.close()
    }
  })

  it('finds missing trade ids', async () => {
    const lake = tempDir()
    const ids = [1, 2, 3, 7, 8, 10]
    const n = ids.length
    const f = (g: (i: number) => number) => Float64Array.from({ length: n }, (_, i) => g(i))
    await write(lake, TRADES, {
      rows: n,
      source: 0,
      line: f((i) => i + 1),
      f64: {
        id: Float64Array.from(ids),
        timestamp: f((i) => T0 + i * 1000),
        local_timestamp: f((i) => T0 + i * 1000),
        price: f(() => 1.5),
        amount: f(() => 2),
        side: f((i) => (i % 2 ? 1 : -1)),
      },
    })
    const reader = await LakeReader.open(lake)
    try {
      expect(await reader.gaps(TRADES)).toEqual([
        { from: 4, to: 6, missing: 3 },
        { from: 9, to: 9, missing: 1 },
      ])
      const q = await reader.query(`SELECT side, count(*)::INT n FROM trades GROUP BY side ORDER BY side`)
      expect(q.rows).toEqual([
        ['buy', 3],
        ['sell', 3],
      ])
    } finally {
      reader.close()
    }
  })

  it('ignores files no manifest names, and the next writer removes them', async () => {
    const lake = tempDir()
    await write(lake, BARS, bars(minutes(0, 10)))
    // What a writer killed between writing a file and swapping the manifest leaves behind
    const orphanDir = join(datasetDir(lake, BARS), 'month=2024-03')
    mkdirSync(orphanDir)
    writeFileSync(join(orphanDir, 'part-g9-dead.parquet'), 'half-written')
    mkdirSync(join(lake, '.tmp', 'commit-1-x'), { recursive: true })
    const reader = await LakeReader.open(lake)
    try {
      expect((await reader.readColumns(BARS, ['open_time'])).length).toBe(10)
      expect((await reader.query('SELECT count(*)::INT FROM bars')).rows).toEqual([[10]])
    } finally {
      reader.close()
    }
    await write(lake, BARS, bars(minutes(10, 5)))
    expect(existsSync(orphanDir)).toBe(false)
    expect(existsSync(join(lake, '.tmp', 'commit-1-x'))).toBe(false)
  })

  it('keeps retired files for readers of the previous manifest, then collects them', async () => {
    const lake = tempDir()
    await write(lake, BARS, bars(minutes(0, 10)))
    const first = readManifest(datasetDir(lake, BARS))!
    const oldFile = first.partitions['2024-01'].files[0]
    await write(lake, BARS, bars(minutes(0, 10), 300))
    const second = readManifest(datasetDir(lake, BARS))!
    expect(second.generation).toBe(first.generation + 1)
    expect(second.retired.map((r) => r.file)).toContain(oldFile)
    expect(existsSync(join(datasetDir(lake, BARS), oldFile))).toBe(true)
  })

  it('allows one writer at a time and takes over the lock of a dead one', async () => {
    const lake = tempDir()
    const w = await LakeWriter.open(lake)
    try {
      await expect(LakeWriter.open(lake)).rejects.toThrow(/being written by process/)
    } finally {
      w.close()
    }
    writeFileSync(join(lake, '.writer.lock'), `999999999 ${(await import('node:os')).hostname()}\n`)
    const w2 = await LakeWriter.open(lake)
    w2.close()
    // A lock file written only in part (a full disk, a writer killed between open and write): refused while it is
    // fresh, taken over once it is a few seconds old
    const lock = join(lake, '.writer.lock')
    writeFileSync(lock, '')
    await expect(LakeWriter.open(lake)).rejects.toThrow(/being locked by another writer right now; try again/)
    const old = (Date.now() - 10_000) / 1000
    utimesSync(lock, old, old)
    const w3 = await LakeWriter.open(lake)
    w3.close()
    expect(existsSync(lock)).toBe(false)
  })

  it('serves readers while a writer commits', async () => {
    const lake = tempDir()
    await write(lake, BARS, bars(minutes(0, 2000)))
    const reader = await LakeReader.open(lake)
    try {
      const writes = (async () => {
        for (let k = 0; k < 5; k++) await write(lake, BARS, bars(minutes(0, 2000), 100 + k))
      })()
      let reads = 0
      let done = false
      void writes.then(() => (done = true))
      while (!done) {
        const { length, columns } = await reader.readColumns(BARS, ['open_time', 'close'])
        expect(length).toBe(2000)
        // Every read sees one whole generation, never a mix
        expect(new Set(columns.close.subarray(0, 1440)).size).toBe(1)
        reads++
      }
      await writes
      expect(reads).toBeGreaterThan(0)
    } finally {
      reader.close()
    }
  })
})
