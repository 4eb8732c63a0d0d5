// Held partitions written to Parquet on a few DuckDB connections of the writer's instance at once ("lanes"): each
// COPY from a table function runs on one DuckDB thread, so partitions written side by side use the other cores.
// Files land in a temp folder, flushed to disk; nothing is in the lake until the commit renames them and swaps the
// manifest.

import { availableParallelism } from 'node:os'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import { fsyncFiles } from '../util/fs.js'
import { DirectCopier, type ColumnSegment } from './direct.js'

interface Lane {
  readonly conn: DuckDBConnection
  readonly copier: DirectCopier
  tail: Promise<void>
  queued: number
}

export class PartitionSpool {
  private readonly lanes_: Lane[] = []
  private readonly writes = new Map<number, Promise<string>>()
  private closed = false

  private constructor(private readonly dir: string) {}

  /** Opens `lanes` connections (default: one per core, at most 4) on the instance. */
  static async open(instance: DuckDBInstance, dir: string, lanes = Math.min(4, availableParallelism())): Promise<PartitionSpool> {
    const s = new PartitionSpool(dir)
    try {
      mkdirSync(dir, { recursive: true })
      for (let i = 0; i < Math.max(1, lanes); i++) {
        const conn = await instance.connect()
        s.lanes_.push({ conn, copier: await DirectCopier.open(conn), tail: Promise.resolve(), queued: 0 })
      }
    } catch (err) {
      s.close()
      throw err
    }
    return s
  }

  /** How many writes run side by side */
  get lanes(): number {
    return this.lanes_.length
  }

  /** Starts write `i` (the rows of `segments`, `SELECT select FROM rows`) on the least busy lane. */
  start(i: number, names: readonly string[], segments: readonly ColumnSegment[], select: string, options: string): void {
    if (this.closed) throw new Error('spool closed')
    const lane = this.lanes_.reduce((a, b) => (b.queued < a.queued ? b : a))
    const file = join(this.dir, `${i}.parquet`)
    lane.queued++
    const done = lane.tail.then(async () => {
      try {
        await lane.copier.write(names, segments, select, file, options)
        return file
      } finally {
        lane.queued--
      }
    })
    // The lane goes on after a failure; the failure itself is reported by `finish`
    lane.tail = done.then(
      () => undefined,
      () => undefined,
    )
    // DuckDB's COPY does not fsync. Each file is flushed as soon as it is written, on an I/O thread while the lane
    // goes on with the next, rather than all of them after the last (their wait came at the end of every commit)
    this.writes.set(
      i,
      done.then(async (f) => {
        await fsyncFiles([f])
        return f
      }),
    )
  }

  /** Waits for writes 0 to count - 1: their files (on disk) in that order, or the first failure. */
  async finish(count: number): Promise<string[]> {
    const out: string[] = []
    const settled = await Promise.allSettled([...Array(count).keys()].map((i) => this.writes.get(i) ?? Promise.reject(new Error(`write ${i} was not started`))))
    for (const r of settled) {
      if (r.status === 'rejected') throw r.reason
      out.push(r.value)
    }
    return out
  }

  /** Waits for the writes started, whatever their outcome (before deleting their files or closing). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.writes.values()])
  }

  /** Closes the lanes (after `settle`) and deletes any file written. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const l of this.lanes_) l.conn.closeSync()
    rmSync(this.dir, { recursive: true, force: true })
  }
}
