// Rows held in memory and written straight to Parquet (LakeWriterOptions.holdBytes) must give the lake exactly
// what the staging-table path gives: same rows, same partition statistics, same problems reported. Every case
// here is run both ways and compared, including the ones that leave the held path half-way.

import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { importArchives } from '../../src/lib/archive/import.js'
import { openDuck } from '../../src/lib/lake/duck.js'
import { readManifest } from '../../src/lib/lake/manifest.js'
import { datasetDir } from '../../src/lib/lake/paths.js'
import type { DatasetId } from '../../src/lib/lake/schema.js'
import { HeldRows, type HoldBudget } from '../../src/lib/lake/held.js'
import { SCHEMAS } from '../../src/lib/lake/schema.js'
import { LakeWriter, cutRuns, type StageBatch } from '../../src/lib/lake/writer.js'
import { OUTAGE, XRPETH_AGG, barBatch, tempDir, treeHash } from '../helpers.js'

const BARS: DatasetId = { kind: 'bars', exchange: 'binance', symbol: 'TESTUSDT', interval: '1m' }
const HOLD = 64 << 20

/** Every stored row (sorted by key) and the manifest's statistics, without file names and sizes. */
async function contents(lake: string, ds: DatasetId): Promise<{ rows: unknown[][]; parts: unknown; files: Record<string, number> }> {
  const dir = datasetDir(lake, ds)
  const m = readManifest(dir)
  if (!m) return { rows: [], parts: {}, files: {} }
  const files = Object.values(m.partitions).flatMap((p) => p.files.map((f) => `'${join(dir, f)}'`))
  const duck = await openDuck()
  try {
    const key = ds.kind === 'bars' ? 'open_time' : 'id'
    const r = await duck.conn.runAndReadAll(`SELECT * FROM read_parquet([${files.join(', ')}]) ORDER BY ${key}`)
    const parts = Object.fromEntries(
      Object.entries(m.partitions)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, p]) => [k, { ...p, files: undefined, bytes: undefined }]),
    )
    const counts = Object.fromEntries(Object.entries(m.partitions).map(([k, p]) => [k, p.files.length]))
    return { rows: r.getRows(), parts, files: counts }
  } finally {
    duck.close()
  }
}

const bars = barBatch

const T0 = Date.UTC(2024, 0, 31, 22, 0) * 1000
const minutes = (from: number, count: number) => Array.from({ length: count }, (_, i) => T0 + (from + i) * 60e6)

/** Stages the batches (each list is one writer session, committed) into a fresh lake; returns the lake. */
async function writeBoth(sessions: StageBatch[][], holdBytes: number, splitRows?: number): Promise<string> {
  const lake = tempDir()
  for (const batches of sessions) {
    const w = await LakeWriter.open(lake, { holdBytes, ...(splitRows ? { splitRows } : {}) })
    try {
      for (const b of batches) await w.stage(BARS, b)
      await w.commit(BARS)
    } finally {
      await w.settle()
      w.close()
    }
  }
  return lake
}

async function expectSame(sessions: () => StageBatch[][], holdBytes = HOLD, splitRows?: number) {
  const held = await writeBoth(sessions(), holdBytes, splitRows)
  const staged = await writeBoth(sessions(), 0)
  const a = await contents(held, BARS)
  const b = await contents(staged, BARS)
  expect(a.rows.length).toBeGreaterThan(0)
  expect(a.rows).toEqual(b.rows)
  expect(a.parts).toEqual(b.parts)
  expect(existsSync(join(held, '.tmp')) ? readdirSync(join(held, '.tmp')) : []).toEqual([])
  return a
}

describe('held rows written straight to Parquet', () => {
  it('equal the staging path for a real month with an exchange outage (gap statistics included)', async () => {
    const run = async (holdBytes: number) => {
      const lake = tempDir()
      await importArchives({ lakeDir: lake, patterns: [OUTAGE], holdBytes })
      return lake
    }
    const ds: DatasetId = { kind: 'bars', exchange: 'binance', symbol: 'BTCUSDT', interval: '1m' }
    const { files: _a, ...a } = await contents(await run(HOLD), ds)
    const { files: _b, ...b } = await contents(await run(0), ds)
    expect(a.rows.length).toBe(44_640 - (a.parts as Record<string, { missing: number }>)['2023-03'].missing)
    expect((a.parts as Record<string, { gaps: number }>)['2023-03'].gaps).toBeGreaterThan(0)
    expect(a).toEqual(b)
  })

  it('equal the staging path for real aggTrades over daily partitions (id gaps included)', async () => {
    const ds: DatasetId = { kind: 'agg_trades', exchange: 'binance', symbol: 'XRPETH' }
    const run = async (holdBytes: number) => {
      const lake = tempDir()
      await importArchives({ lakeDir: lake, patterns: [XRPETH_AGG], holdBytes, instrument: { exchange: 'binance', symbol: 'XRPETH' }, kind: 'agg_trades' })
      return lake
    }
    const { files: _a, ...a } = await contents(await run(HOLD), ds)
    const { files: _b, ...b } = await contents(await run(0), ds)
    expect(Object.keys(a.parts as object).length).toBeGreaterThan(1)
    expect(a).toEqual(b)
  })

  it('cross month boundaries inside one batch and across batches', async () => {
    const r = await expectSame(() => [[bars(minutes(0, 90)), bars(minutes(90, 40)), bars(minutes(140, 5))]])
    expect(Object.keys(r.parts as object)).toEqual(['2024-01', '2024-02'])
    expect((r.parts as Record<string, { gaps: number; missing: number }>)['2024-02']).toMatchObject({ gaps: 1, missing: 10 })
  })

  it('cut a big partition into several files written side by side, in key order', async () => {
    const r = await expectSame(() => [[bars(minutes(0, 50)), bars(minutes(50, 70)), bars(minutes(120, 130))]], HOLD, 20)
    expect(r.parts).toMatchObject({ '2024-01': { rows: 120 }, '2024-02': { rows: 130 } })
    expect(r.files).toEqual({ '2024-01': 2, '2024-02': 2 })
  })

  it('give the DuckDB thread count back after writing on one thread per lane, also when a write fails', async () => {
    const lake = tempDir()
    const w = await LakeWriter.open(lake, { holdBytes: HOLD, splitRows: 20 })
    const conn = (w as unknown as { duck: { conn: { runAndReadAll(sql: string): Promise<{ getRows(): unknown[][] }> } } }).duck.conn
    const threads = async () => Number((await conn.runAndReadAll(`SELECT current_setting('threads')`)).getRows()[0][0])
    try {
      const before = await threads()
      await w.stage(BARS, bars(minutes(0, 100)))
      await w.commit(BARS)
      expect(await threads()).toBe(before)
      // A NaN key column in a held batch cannot be cast: the write fails and the setting must still come back
      await w.stage(BARS, bars(minutes(200, 50)))
      const held = (w as unknown as { stages: Map<string, { held?: HeldRows }> }).stages.values().next().value?.held
      expect(held).toBeDefined()
      held!.batches[0].f64.open_time.fill(NaN, 10, 11)
      await expect(w.commit(BARS)).rejects.toThrow()
      expect(await threads()).toBe(before)
    } finally {
      await w.settle()
      w.close()
    }
  })

  it('cut runs into pieces of nearly equal rows without losing or reordering any', () => {
    const runs: [number, number, number][] = [[0, 0, 5], [1, 2, 9], [2, 0, 1], [3, 0, 20]]
    const rows = 5 + 7 + 1 + 20
    for (let pieces = 1; pieces <= 5; pieces++) {
      const cut = cutRuns(runs, rows, pieces)
      expect(cut.length).toBe(pieces)
      const sizes = cut.map((g) => g.reduce((a, [, f, t]) => a + t - f, 0))
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
      const flat = cut.flat().flatMap(([b, f, t]) => Array.from({ length: t - f }, (_, i) => `${b}:${f + i}`))
      expect(flat).toEqual(runs.flatMap(([b, f, t]) => Array.from({ length: t - f }, (_, i) => `${b}:${f + i}`)))
    }
  })

  it('fall back when batches arrive out of order', async () => {
    await expectSame(() => [[bars(minutes(200, 100), 0), bars(minutes(0, 100), 1)]])
  })

  it('fall back when keys repeat: the later source wins, as on the staging path', async () => {
    await expectSame(() => [[bars(minutes(0, 100), 0), bars(minutes(50, 100), 1, (c) => c.close.fill(7))]])
  })

  it('fall back when a partition is already in the lake, and merge with it', async () => {
    await expectSame(() => [[bars(minutes(0, 60))], [bars(minutes(30, 200), 0, (c) => c.volume.fill(3))]])
  })

  it('fall back beyond the memory budget', async () => {
    // 13 columns of 8 bytes: the budget holds the first two batches, which already crossed a month boundary
    await expectSame(() => [[bars(minutes(0, 150)), bars(minutes(150, 100)), bars(minutes(250, 100))]], 260 * 13 * 8)
  })

  it('share one memory budget across every dataset a writer stages', async () => {
    const rowBytes = 13 * 8
    const budget: HoldBudget = { used: 0, max: 200 * rowBytes }
    const held = () => new HeldRows(SCHEMAS.bars, 'month', new Set(), { by: 'step', step: 60e6 }, budget)
    const a = held()
    const b = held()
    expect(a.hold(bars(minutes(0, 150)))).toBe(true)
    expect(budget.used).toBe(150 * rowBytes)
    // Alone, b's 150 rows fit the budget; with a's held they do not
    expect(b.hold(bars(minutes(0, 150)))).toBe(false)
    a.free()
    a.free()
    expect(budget.used).toBe(0)
    expect(b.hold(bars(minutes(0, 150)))).toBe(true)
    expect(budget.used).toBe(150 * rowBytes)

    // Through a writer: the second dataset falls back to the staging table and both store what the staging path does
    const OTHER: DatasetId = { ...BARS, symbol: 'OTHERUSDT' }
    const write = async (holdBytes: number) => {
      const lake = tempDir()
      const w = await LakeWriter.open(lake, { holdBytes })
      try {
        await w.stage(BARS, bars(minutes(0, 150)))
        await w.stage(OTHER, bars(minutes(0, 150)))
        await w.commit(BARS)
        await w.commit(OTHER)
      } finally {
        w.close()
      }
      return [await contents(lake, BARS), await contents(lake, OTHER)]
    }
    const [shared, staged] = [await write(200 * rowBytes), await write(0)]
    expect(shared).toEqual(staged)
    expect(shared[1].rows.length).toBe(150)
  })

  it('store a NaN in an integer column as NULL, as the staging path does', async () => {
    const r = await expectSame(() => [[bars(minutes(0, 150), 0, (c) => (c.trades[100] = NaN))]])
    expect(r.rows.filter((row) => row.includes(null)).length).toBe(1)
  })

  it('report a duplicate key with its lines and write nothing', async () => {
    const lake = tempDir()
    const before = treeHash(lake)
    const w = await LakeWriter.open(lake, { holdBytes: HOLD })
    try {
      await w.stage(BARS, bars([...minutes(0, 100), ...minutes(99, 1)]))
      const problems = await w.problems(BARS, ['f.csv'])
      expect(problems).toEqual([{ file: 'f.csv', line: 101, reason: 'duplicate key (open_time) of line 100' }])
    } finally {
      await w.settle()
      w.close()
    }
    expect(treeHash(lake)).toEqual(before)
  })
})
