// DuckDB's COPY does not fsync the Parquet files it writes: the writer must flush every new file's data before the
// manifest names it, on each of its paths (fresh rows held in memory, the staging merge, appends, compaction)
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { readManifest } from '../../src/lib/lake/manifest.js'
import { datasetDir } from '../../src/lib/lake/paths.js'
import type { DatasetId } from '../../src/lib/lake/schema.js'
import { barBatch, tempDir } from '../helpers.js'

/** Each fsyncFiles call: the paths, and the files the manifest named at that moment */
const calls: { paths: string[]; named: Set<string> }[] = []
let lakeDs = ''

vi.mock('../../src/lib/util/fs.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/lib/util/fs.js')>()
  return {
    ...real,
    fsyncFiles: async (paths: readonly string[]) => {
      const m = lakeDs ? readManifest(lakeDs) : null
      calls.push({ paths: [...paths], named: new Set(Object.values(m?.partitions ?? {}).flatMap((p) => p.files.map((f) => join(lakeDs, f)))) })
      await real.fsyncFiles(paths)
    },
  }
})

const { LakeWriter } = await import('../../src/lib/lake/writer.js')

const BARS: DatasetId = { kind: 'bars', exchange: 'binance', symbol: 'TESTUSDT', interval: '1m' }
const T0 = Date.UTC(2024, 0, 31, 23, 0) * 1000

const bars = (from: number, count: number) => barBatch(Array.from({ length: count }, (_, i) => T0 + (from + i) * 60e6))

/** Runs one writer step; every file the manifest names afterwards and did not before was flushed, before it was named */
async function expectFlushed(lake: string, step: (w: Awaited<ReturnType<typeof LakeWriter.open>>) => Promise<unknown>): Promise<number> {
  lakeDs = datasetDir(lake, BARS)
  const files = () => new Set(Object.values(readManifest(lakeDs)?.partitions ?? {}).flatMap((p) => p.files.map((f) => join(lakeDs, f))))
  const before = files()
  calls.length = 0
  const w = await LakeWriter.open(lake)
  try {
    await step(w)
  } finally {
    w.close()
  }
  const added = [...files()].filter((f) => !before.has(f))
  expect(added.length).toBeGreaterThan(0)
  for (const f of added) {
    const call = calls.find((c) => c.paths.includes(f))
    expect(call, `${f} was never flushed`).toBeDefined()
    expect(call!.named.has(f), `${f} was named before it was flushed`).toBe(false)
  }
  return added.length
}

describe('lake durability', () => {
  it('flushes every new Parquet file before the manifest names it, on every write path', async () => {
    const lake = tempDir()
    // Fresh partitions, keys in order: the held path (two months)
    expect(await expectFlushed(lake, async (w) => {
      await w.stage(BARS, bars(0, 120))
      await w.commit(BARS)
    })).toBe(2)
    // Rows inside stored partitions: the staging merge
    await expectFlushed(lake, async (w) => {
      await w.stage(BARS, bars(100, 60))
      await w.commit(BARS)
    })
    // Appends (the collector's path), then compaction of the files they added
    await expectFlushed(lake, async (w) => {
      await w.stage(BARS, bars(200, 10))
      await w.commitAppend(BARS)
    })
    await expectFlushed(lake, async (w) => {
      await w.stage(BARS, bars(210, 10))
      await w.commitAppend(BARS)
    })
    await expectFlushed(lake, async (w) => {
      expect(await w.compact(BARS)).toBeGreaterThan(0)
    })
  })
})
