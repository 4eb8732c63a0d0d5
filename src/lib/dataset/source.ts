// The consuming end of the row rings, on the main thread: rows come out in order, in blocks the Parquet writer
// copies straight into DuckDB vectors. Snapshot rows are read from the parsers' rings in chunk order; rows whose
// time does not move forward are dropped here when they straddle two chunks (inside a chunk the parser does it).

import { DataError, FatalError } from '../errors.js'
import type { DataProblem } from '../errors.js'
import type { LobLayout } from './layout.js'
import type { ValidationReport } from './report.js'
import { MAX_LISTED } from './report.js'
import {
  FLAG_BAD,
  FLAG_END_OF_CHUNK,
  FLAG_END_OF_STREAM,
  H_BAD,
  H_BAD_LINE,
  H_CHUNK,
  H_CROSSED,
  H_DUPLICATE,
  H_FILE,
  H_FLAGS,
  H_LINES,
  H_OUT_OF_ORDER,
  H_ROWS,
  H_SKIPPED,
  SLOT_ROWS,
  type RingConsumer,
} from './ring.js'

/** Rows in order, in column-major blocks of at most SLOT_ROWS (stride SLOT_ROWS, layout column order). */
export interface BlockSource {
  /** Fills up to `max` rows into `out`; 0 means the input is exhausted. */
  fill(out: Float64Array, max: number): number
}

/** Where chunk `j` starts: file index and the number of lines of that file before it. */
export interface ChunkStart {
  readonly file: number
  readonly lineBase: number
}

interface Run {
  readonly ring: RingConsumer
  readonly slot: number
  readonly from: number
  readonly rows: number
}

/** Options of the snapshot source; `everyUs` undefined keeps every snapshot. */
export interface SnapshotSourceOptions {
  readonly rings: readonly RingConsumer[]
  readonly files: readonly string[]
  readonly layout: LobLayout
  readonly report: ValidationReport
  readonly everyUs: number | undefined
  /** A time hole longer than this is reported (and, when resampling, not filled) */
  readonly maxGapUs: number
}

/** Rows of snapshot input. */
export class SnapshotSource implements BlockSource {
  private chunk = 0
  private pos = 0
  private lastTs = -Infinity
  private ended = false
  private curFile = -1
  private lineBase = 0
  /** Start of every chunk seen, to number the lines parsers report */
  readonly chunkStarts: ChunkStart[] = []
  private readonly cols: number
  // Resampling state: the snapshot standing for the instants now, and the one after it
  private cur: Float64Array
  private next: Float64Array
  private haveCur = false
  private haveNext = false
  private inputEnded = false
  private nextT = -1

  constructor(private readonly o: SnapshotSourceOptions) {
    this.cols = o.layout.columns.length
    this.cur = new Float64Array(this.cols)
    this.next = new Float64Array(this.cols)
  }

  private get W(): number {
    return this.o.rings.length
  }

  /** The next run of accepted rows, at most `max`; undefined at the end of input. */
  private run(max: number): Run | undefined {
    const o = this.o
    const r = o.report
    for (;;) {
      if (this.ended) return undefined
      const ring = o.rings[this.chunk % this.W]
      const slot = ring.head()
      const file = ring.hdr(slot, H_FILE)
      if (this.pos === 0 && this.chunkStarts.length === this.chunk) {
        if (file !== this.curFile) {
          this.curFile = file
          this.lineBase = 0
        }
        this.chunkStarts.push({ file, lineBase: this.lineBase })
      }
      const flags = ring.hdr(slot, H_FLAGS)
      const n = ring.hdr(slot, H_ROWS)
      // Rows that do not move time forward across a chunk boundary form a prefix (inside a chunk time increases)
      while (this.pos < n) {
        const ts = ring.value(slot, 0, this.pos)
        if (ts > this.lastTs) break
        if (ts === this.lastTs) r.duplicateTimestamps++
        else r.outOfOrder++
        if (r.dropped.length < MAX_LISTED) {
          const line = ring.value(slot, this.cols, this.pos)
          r.dropped.push({ file: o.files[file], line: this.lineBase + line, reason: ts === this.lastTs ? `duplicate timestamp ${ts}` : `timestamp ${ts} before the previous ${this.lastTs}` })
        }
        this.pos++
      }
      if (this.pos < n) {
        const rows = Math.min(n - this.pos, max)
        const run = { ring, slot, from: this.pos, rows }
        this.pos += rows
        const last = ring.value(slot, 0, run.from + rows - 1)
        this.gapCheck(ring.value(slot, 0, run.from), last, ring, slot, run.from)
        this.lastTs = last
        return run
      }
      // The slot is used up: act on its flags and move on
      if (flags & FLAG_BAD) {
        const line = this.lineBase + ring.hdr(slot, H_BAD_LINE)
        const reason = ring.slotText(slot)
        const path = o.files[file]
        throw new DataError(`${path}:${line}: ${reason}`, path, [{ file: path, line, reason }])
      }
      if (flags & FLAG_END_OF_CHUNK) {
        if (ring.hdr(slot, H_CHUNK) !== this.chunk) throw new FatalError(`convert-lob: chunk ${ring.hdr(slot, H_CHUNK)} arrived when ${this.chunk} was due`)
        r.lines += ring.hdr(slot, H_LINES)
        r.skippedLines += ring.hdr(slot, H_SKIPPED)
        r.badLines += ring.hdr(slot, H_BAD)
        r.crossedBooks += ring.hdr(slot, H_CROSSED)
        r.outOfOrder += ring.hdr(slot, H_OUT_OF_ORDER)
        r.duplicateTimestamps += ring.hdr(slot, H_DUPLICATE)
        this.lineBase += ring.hdr(slot, H_LINES)
        this.chunk++
      }
      if (flags & FLAG_END_OF_STREAM) this.ended = true
      ring.release()
      this.pos = 0
    }
  }

  /** Reports holes longer than --max-gap between consecutive rows of a run (and before it). */
  private gapCheck(first: number, last: number, ring: RingConsumer, slot: number, from: number): void {
    const max = this.o.maxGapUs
    if (this.lastTs !== -Infinity && first - this.lastTs > max) this.gap(this.lastTs, first)
    if (last - first <= max) return
    let prev = first
    for (let i = from + 1; ; i++) {
      const t = ring.value(slot, 0, i)
      if (t - prev > max) this.gap(prev, t)
      prev = t
      if (t === last) break
    }
  }

  private gap(from: number, to: number): void {
    const r = this.o.report
    r.gapCount++
    r.unsyncedUs += to - from
    if (r.gaps.length < 1000) r.gaps.push({ from, to, reason: `no snapshot for ${((to - from) / 1e6).toFixed(1)} s` })
  }

  fill(out: Float64Array, max: number): number {
    const n = this.o.everyUs === undefined ? this.fillRaw(out, max) : this.fillGrid(out, max)
    // Sides are counted on the rows written (a parser cannot know which of its rows the order check drops)
    const L = this.o.layout
    const r = this.o.report
    for (let i = 0; i < n; i++) {
      if (out[L.bidPx * SLOT_ROWS + i] !== out[L.bidPx * SLOT_ROWS + i]) r.emptyBidRows++
      if (out[L.askPx * SLOT_ROWS + i] !== out[L.askPx * SLOT_ROWS + i]) r.emptyAskRows++
    }
    return n
  }

  private fillRaw(out: Float64Array, max: number): number {
    let rows = 0
    const C = this.cols
    while (rows < max) {
      const run = this.run(max - rows)
      if (run === undefined) break
      for (let c = 0; c < C; c++) out.set(run.ring.column(run.slot, c, run.from, run.rows), c * SLOT_ROWS + rows)
      rows += run.rows
    }
    this.o.report.rows += rows
    return rows
  }

  /**
   * Resampling: the row at grid instant T is the newest snapshot at or before T, stamped T, unless that snapshot
   * is older than --max-gap. After the last snapshot no instant is filled.
   */
  private fillGrid(out: Float64Array, max: number): number {
    const every = this.o.everyUs as number
    const C = this.cols
    let rows = 0
    while (rows < max) {
      if (!this.haveNext && !this.inputEnded) {
        const run = this.run(1)
        if (run === undefined) this.inputEnded = true
        else {
          for (let c = 0; c < C; c++) this.next[c] = run.ring.value(run.slot, c, run.from)
          this.haveNext = true
        }
      }
      if (this.haveCur) {
        const cur = this.cur
        const until = this.haveNext ? this.next[0] : cur[0] + 1
        while (this.nextT < until && rows < max) {
          if (this.nextT - cur[0] > this.o.maxGapUs) {
            // Too old to stand for these instants: the hole is reported by the order check
            this.nextT = Math.ceil(until / every) * every
            break
          }
          out[rows] = this.nextT
          for (let c = 1; c < C; c++) out[c * SLOT_ROWS + rows] = cur[c]
          rows++
          this.nextT += every
        }
        if (this.nextT < until) break
      }
      if (!this.haveNext) break
      const t = this.cur
      this.cur = this.next
      this.next = t
      this.haveCur = true
      this.haveNext = false
      if (this.nextT < 0) this.nextT = Math.ceil(this.cur[0] / every) * every
    }
    this.o.report.rows += rows
    return rows
  }

  /** Global line numbers for what the parsers reported per chunk. */
  numberProblems(chunk: number, items: readonly { line: number; reason: string; kind: 'bad' | 'dropped' }[]): { bad: DataProblem[]; dropped: DataProblem[] } {
    const st = this.chunkStarts[chunk]
    const bad: DataProblem[] = []
    const dropped: DataProblem[] = []
    if (st === undefined) return { bad, dropped }
    const file = this.o.files[st.file]
    for (const p of items) (p.kind === 'bad' ? bad : dropped).push({ file, line: st.lineBase + p.line, reason: p.reason })
    return { bad, dropped }
  }
}

/** Rows a replay worker already sampled: copied through. */
export class RingSource implements BlockSource {
  private pos = 0
  private ended = false

  constructor(
    private readonly ring: RingConsumer,
    private readonly cols: number,
  ) {}

  fill(out: Float64Array, max: number): number {
    let rows = 0
    const ring = this.ring
    while (rows < max && !this.ended) {
      const slot = ring.head()
      const n = ring.hdr(slot, H_ROWS)
      if (this.pos < n) {
        const take = Math.min(n - this.pos, max - rows)
        for (let c = 0; c < this.cols; c++) out.set(ring.column(slot, c, this.pos, take), c * SLOT_ROWS + rows)
        rows += take
        this.pos += take
        continue
      }
      if (ring.hdr(slot, H_FLAGS) & FLAG_END_OF_STREAM) this.ended = true
      ring.release()
      this.pos = 0
    }
    return rows
  }
}
