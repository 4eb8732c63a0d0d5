// The collector's persistence path: append-mode commits that skip stored keys, compaction, batching and NULLs

import { execFileSync } from 'node:child_process'
import { readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Persister } from '../../src/lib/collect/persister.js'
import { LakeReader } from '../../src/lib/lake/reader.js'
import { readManifest } from '../../src/lib/lake/manifest.js'
import { datasetDir } from '../../src/lib/lake/paths.js'
import type { BookChange, Funding, IntegrityEvent, Trade } from '../../src/lib/types.js'
import { tempDir } from '../helpers.js'

const T0 = Date.UTC(2024, 7, 8, 23, 55) * 1000

function trade(id: number): Trade {
  return {
    type: 'trade', exchange: 'binance', symbol: 'BTCUSDT', id,
    timestamp: T0 + id * 1000, localTimestamp: T0 + id * 1000 + 5, price: 60000 + id / 100, amount: 0.001 * id,
    side: id % 2 ? 'buy' : 'sell',
  }
}

async function ids(lake: string): Promise<number[]> {
  const r = await LakeReader.open(lake)
  try {
    const res = await r.query(`SELECT id FROM trades ORDER BY id`)
    return res.rows.map((x) => Number(x[0]))
  } finally {
    r.close()
  }
}

describe('Persister', () => {
  it('appends batches, skips keys already stored and keeps gap statistics', async () => {
    const lake = tempDir()
    const p = new Persister(lake)
    for (let i = 1; i <= 100; i++) p.add(trade(i))
    expect((await p.flush()).rowsWritten).toBe(100)
    // A restart sends overlapping trades again: only the new ones are stored
    for (let i = 90; i <= 150; i++) if (i !== 120) p.add(trade(i))
    expect((await p.flush()).rowsWritten).toBe(49)
    const dir = datasetDir(lake, { kind: 'trades', exchange: 'binance', symbol: 'BTCUSDT' })
    let m = readManifest(dir)!
    const part = Object.values(m.partitions)[0]
    expect(part.files.length).toBe(2)
    expect(part.rows).toBe(149)
    expect(part.gaps).toBe(1)
    expect(part.missing).toBe(1)
    // A repair fills the hole inside the stored range: statistics are recomputed
    p.add(trade(120))
    expect((await p.flush()).rowsWritten).toBe(1)
    m = readManifest(dir)!
    expect(Object.values(m.partitions)[0]).toMatchObject({ rows: 150, gaps: 0, missing: 0, minKey: 1, maxKey: 150 })
    await p.close({ compact: true })
    m = readManifest(dir)!
    expect(Object.values(m.partitions)[0].files.length).toBe(1)
    expect(await ids(lake)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1))
  })

  it('compacts a partition that reaches the file limit', async () => {
    const lake = tempDir()
    const p = new Persister(lake, { compactAt: 3 })
    for (let b = 0; b < 6; b++) {
      for (let i = 1; i <= 10; i++) p.add(trade(b * 10 + i))
      await p.flush()
    }
    const dir = datasetDir(lake, { kind: 'trades', exchange: 'binance', symbol: 'BTCUSDT' })
    const part = Object.values(readManifest(dir)!.partitions)[0]
    expect(part.files.length).toBeLessThanOrEqual(3)
    expect(part.rows).toBe(60)
    expect(await ids(lake)).toHaveLength(60)
  })

  it('stores book changes per level, funding with missing fields as NULL, and integrity events', async () => {
    const lake = tempDir()
    const p = new Persister(lake)
    const snap: BookChange = {
      type: 'book_change', exchange: 'binance-futures', symbol: 'BTCUSDT', timestamp: T0, localTimestamp: T0 + 1,
      isSnapshot: true, firstUpdateId: 10, lastUpdateId: 10, prevUpdateId: undefined,
      bids: [{ price: 100, amount: 1 }, { price: 99, amount: 2 }], asks: [{ price: 101, amount: 3 }],
    }
    const f: Funding = {
      type: 'funding', exchange: 'binance-futures', symbol: 'BTCUSDT', timestamp: T0, localTimestamp: T0 + 2,
      fundingRate: 0.0001, fundingTime: undefined, markPrice: 100.5, indexPrice: undefined,
    }
    const ev: IntegrityEvent = {
      type: 'integrity', exchange: 'binance-futures', symbol: 'BTCUSDT', timestamp: T0, localTimestamp: T0 + 3,
      kind: 'gap', stream: 'book', from: 11, to: undefined, detail: 'pu 9 after u 10',
    }
    p.add(snap), p.add(f), p.add(ev)
    await p.close()
    const r = await LakeReader.open(lake)
    try {
      const book = await r.query(`SELECT side, price, amount, is_snapshot, prev_update_id FROM book_changes ORDER BY side, price`)
      expect(book.rows).toEqual([['ask', 101, 3, true, null], ['bid', 99, 2, true, null], ['bid', 100, 1, true, null]])
      const fund = await r.query(`SELECT funding_rate, funding_time, mark_price FROM funding`)
      expect(fund.rows).toEqual([[0.0001, null, 100.5]])
      const integ = await r.query(`SELECT event, stream, range_from, range_to, detail FROM integrity`)
      expect(integ.rows).toEqual([['gap', 'book', 11n, null, 'pu 9 after u 10']])
    } finally {
      r.close()
    }
  })

  // A real full disk: a 4 MB tmpfs. Mounting one takes root (and a machine that lets root mount: CI's does); where
  // it cannot, the test is reported skipped with the reason, never passed
  it('on a full disk keeps the batch, says so in one line, and writes it once there is room (mounts a tmpfs)', async (ctx) => {
    const mnt = tempDir('mercury-tmpfs-')
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt], { stdio: 'pipe' })
    } catch (err) {
      console.warn(`skipping the disk-full test: cannot mount a tmpfs here (${String((err as Error).message).split('\n')[0]}); it needs root`)
      ctx.skip()
      return
    }
    try {
      const lake = join(mnt, 'lake')
      const errors: string[] = []
      const p = new Persister(lake, { onFlush: (r) => r.error && errors.push(r.error) })
      for (let i = 1; i <= 100; i++) p.add(trade(i))
      expect((await p.flush()).rowsWritten).toBe(100)
      // Fill the disk to the last block
      const ballast = join(mnt, 'ballast')
      const mb = Buffer.alloc(1 << 20, 1)
      for (let k = 0; ; k++) {
        try {
          writeFileSync(join(mnt, `ballast-${k}`), mb)
        } catch {
          break
        }
      }
      for (let b = 0; ; b++) {
        try {
          writeFileSync(`${ballast}-small-${b}`, Buffer.alloc(4096, 1))
        } catch {
          break
        }
      }
      for (let i = 101; i <= 20_000; i++) p.add(trade(i))
      const failed = await p.flush()
      expect(failed.rowsWritten).toBe(0)
      expect(failed.error).toMatch(new RegExp(`^disk full writing ${lake.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(0 MB free\\)$`))
      expect(p.error).toBe(failed.error)
      expect(p.snapshot()).toMatchObject({ queued: 19_900, failures: 1 })
      // The lake is as it was: readable, the first batch only, no temp files left behind
      expect(await ids(lake)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
      // Room again: the kept batch and what came meanwhile are written, each trade once
      for (const f of readdirSync(mnt)) if (f.startsWith('ballast')) rmSync(join(mnt, f))
      p.add(trade(20_001))
      const ok = await p.flush()
      expect(ok.error).toBeUndefined()
      expect(ok.rowsWritten).toBe(19_901)
      expect(p.error).toBeUndefined()
      await p.close({ compact: true })
      expect(await ids(lake)).toEqual(Array.from({ length: 20_001 }, (_, i) => i + 1))
      expect(errors).toEqual([failed.error])
    } finally {
      // Lazily: DuckDB may still hold a file of the lake open until its instance is collected
      execFileSync('umount', ['-l', mnt])
    }
  })
})
