import type { StageBatch } from '../lake/writer.js'

const EMPTY = new Float64Array(0)

/** Column-major rows being collected for one staging call. */
export class ColumnBatch {
  rows = 0
  line: Float64Array
  cols: Record<string, Float64Array>

  constructor(
    readonly names: readonly string[],
    readonly capacity = 65_536,
  ) {
    // Columns are allocated on the first row: a parser made per file, and the batch after a file's last one,
    // would otherwise allocate (and zero) capacity x columns that nothing fills
    this.line = EMPTY
    this.cols = Object.fromEntries(names.map((n) => [n, EMPTY]))
  }

  get full(): boolean {
    return this.rows >= this.capacity
  }

  /** Index of a new row, growing the columns when they are full (one input chunk can exceed a batch). */
  next(): number {
    if (this.rows === this.line.length) {
      const grow = (a: Float64Array) => {
        if (a.length === 0) return new Float64Array(this.capacity)
        const b = new Float64Array(a.length * 2)
        b.set(a)
        return b
      }
      this.line = grow(this.line)
      for (const k of this.names) this.cols[k] = grow(this.cols[k])
    }
    return this.rows++
  }

  /** Hands the rows over as a stage batch and starts empty again. */
  take(source: number): StageBatch {
    const n = this.rows
    const batch: StageBatch = {
      rows: n,
      source,
      line: this.line.subarray(0, n),
      f64: Object.fromEntries(Object.entries(this.cols).map(([k, v]) => [k, v.subarray(0, n)])),
    }
    this.rows = 0
    this.line = EMPTY
    this.cols = Object.fromEntries(this.names.map((k) => [k, EMPTY]))
    return batch
  }
}
