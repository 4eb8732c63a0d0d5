// Staged rows kept in memory while they are known to be the simple case: keys strictly increasing across every
// batch, times never going back, and every partition they touch new to the lake. Such rows need none of the
// commit's SQL (no duplicates to resolve, nothing stored to merge with, already in key order), so they are
// written straight to Parquet, and their partition statistics are counted here as they arrive, with the same
// rules as the SQL in writer.ts (`gapSql`). The first row that breaks the case hands everything to the staging
// table and the general path.

import type { StageBatch } from './writer.js'
import type { Granularity, KindSchema } from './schema.js'

/** The rows of one partition: runs of held batches, in order, and their statistics. */
export interface HeldPartition {
  readonly part: string
  /** [batch index, first row, end row) */
  readonly runs: [number, number, number][]
  rows: number
  minTime: number
  maxTime: number
  minKey: number
  maxKey: number
  gaps: number
  missing: number
  /** Whether an integer column holds a NaN (stored as NULL: the SQL needs the NaN test then) */
  intNaN: boolean
}

/** Last valid µs time the partition names can express as DuckDB's strftime does (year 9999) */
const MAX_US = Date.UTC(10000, 0, 1) * 1000

function monthIndex(us: number): number {
  const d = new Date(Math.floor(us / 1000))
  return d.getUTCFullYear() * 12 + d.getUTCMonth()
}

/** Memory all of a writer's held rows may take together: every dataset it stages draws on the one budget */
export interface HoldBudget {
  used: number
  readonly max: number
}

export class HeldRows {
  readonly batches: StageBatch[] = []
  readonly parts: HeldPartition[] = []
  bytes = 0
  private lastKey = -Infinity
  private lastTime = -Infinity
  /** µs bounds of the current partition */
  private lo = Infinity
  private hi = -Infinity
  private readonly keyCol: string
  private readonly integerKey: boolean
  private readonly integerTime: boolean
  /** Staged columns stored as integers: a NaN there is a NULL */
  private readonly intCols: readonly string[]

  constructor(
    private readonly schema: KindSchema,
    private readonly gran: Granularity,
    /** Partitions the lake already holds: rows for them must be merged, so they end the simple case */
    private readonly existing: ReadonlySet<string>,
    /** Gap rule: 'id' (ids contiguous), a fixed step in µs, 'month' (calendar months) or none */
    private readonly gap: { by: 'id' } | { by: 'step'; step: number } | { by: 'month' } | { by: 'none' },
    private readonly budget: HoldBudget,
  ) {
    this.keyCol = schema.key[0]
    const type = (name: string) => schema.columns.find((c) => c.name === name)?.type
    this.integerKey = type(this.keyCol) === 'BIGINT' || type(this.keyCol) === 'INTEGER'
    this.integerTime = type(schema.time) === 'BIGINT' || type(schema.time) === 'INTEGER'
    this.intCols = schema.columns.filter((c) => !c.expr && (c.type === 'BIGINT' || c.type === 'INTEGER')).map((c) => c.name)
  }

  /** Start and end (µs) of the partition holding `us`, and its name as `partitionExpr` writes it. */
  private partitionOf(us: number): { name: string; lo: number; hi: number } {
    const d = new Date(Math.floor(us / 1000))
    const y = d.getUTCFullYear()
    const m = d.getUTCMonth()
    const day = d.getUTCDate()
    const iso = d.toISOString()
    if (this.gran === 'date') return { name: iso.slice(0, 10), lo: Date.UTC(y, m, day) * 1000, hi: Date.UTC(y, m, day + 1) * 1000 }
    if (this.gran === 'month') return { name: iso.slice(0, 7), lo: Date.UTC(y, m, 1) * 1000, hi: Date.UTC(y, m + 1, 1) * 1000 }
    return { name: iso.slice(0, 4), lo: Date.UTC(y, 0, 1) * 1000, hi: Date.UTC(y + 1, 0, 1) * 1000 }
  }

  /**
   * Takes a batch if all its rows keep the simple case and the memory budget allows; otherwise returns false
   * and the held rows must go the general way (statistics counted for a refused batch are then meaningless).
   */
  hold(batch: StageBatch): boolean {
    const cols = 1 + Object.keys(batch.f64).length
    const bytes = batch.rows * 8 * cols
    if (this.budget.used + bytes > this.budget.max || batch.text !== undefined) return false
    for (const c of this.schema.staged) if (!batch.f64[c]) return false
    const keys = batch.f64[this.keyCol]
    const times = batch.f64[this.schema.time]
    if (!keys || !times) return false
    const ints = this.intCols.map((c) => batch.f64[c])
    const bi = this.batches.length
    let part = this.parts[this.parts.length - 1]
    let runStart = 0
    let lastKey = this.lastKey
    let lastTime = this.lastTime
    for (let i = 0; i < batch.rows; i++) {
      const k = keys[i]
      const t = times[i]
      // NaN fails every comparison here, so it leaves the simple case too
      if (!(k > lastKey) || !(t >= lastTime) || !(t >= 0 && t < MAX_US)) return false
      if ((this.integerKey && !Number.isInteger(k)) || (this.integerTime && !Number.isInteger(t))) return false
      if (t >= this.hi || part === undefined) {
        const p = this.partitionOf(t)
        if (this.existing.has(p.name)) return false
        if (part !== undefined && i > runStart) part.runs.push([bi, runStart, i])
        runStart = i
        this.lo = p.lo
        this.hi = p.hi
        part = { part: p.name, runs: [], rows: 0, minTime: t, maxTime: t, minKey: k, maxKey: k, gaps: 0, missing: 0, intNaN: false }
        this.parts.push(part)
      } else if (part.rows > 0) {
        const d = k - part.maxKey
        const g = this.gap
        if (g.by === 'id') {
          if (d > 1) {
            part.gaps++
            part.missing += d - 1
          }
        } else if (g.by === 'step') {
          if (d > g.step) {
            part.gaps++
            part.missing += Math.floor(d / g.step) - 1
          }
        } else if (g.by === 'month') {
          const months = monthIndex(k) - monthIndex(part.maxKey)
          if (months > 1) {
            part.gaps++
            part.missing += months - 1
          }
        }
      }
      if (!part.intNaN) {
        for (let j = 0; j < ints.length; j++) {
          const v = ints[j][i]
          if (v !== v) part.intNaN = true
        }
      }
      part.rows++
      part.maxKey = k
      part.maxTime = t
      lastKey = k
      lastTime = t
    }
    if (part !== undefined && batch.rows > runStart) part.runs.push([bi, runStart, batch.rows])
    this.lastKey = lastKey
    this.lastTime = lastTime
    this.batches.push(batch)
    this.bytes += bytes
    this.budget.used += bytes
    return true
  }

  /** Gives the rows' memory back to the budget (once), when they went to the staging table or were written */
  free(): void {
    this.budget.used -= this.bytes
    this.bytes = 0
  }
}
