// Rows held in memory (float64 columns) written straight into a Parquet file: a DuckDB table function hands the
// columns over 2048 rows at a time (one native copy per column) and `COPY (SELECT ... FROM it) TO` encodes them.
// No table is built on the way, which is what makes a fresh archive import fast (see BENCHMARKS.md: appending
// to a DuckDB table cost more than the whole Parquet write).

import type { DuckDBConnection, DuckDBDataChunk, DuckDBTableFunctionInfo } from '@duckdb/node-api'
import { sqlString } from './schema.js'

type Api = typeof import('@duckdb/node-api')
type Bindings = typeof import('@duckdb/node-bindings')

/** DuckDB's vector size: rows per chunk handed over */
const CHUNK = 2048

/** A run of rows: `cols[j]` holds column j, rows `from` to `to` (exclusive) are read. */
export interface ColumnSegment {
  readonly cols: readonly Float64Array[]
  readonly from: number
  readonly to: number
}

export class DirectCopier {
  private segments: readonly ColumnSegment[] = []
  private seg = 0
  private at = 0
  private failure: unknown
  private readonly registered = new Set<string>()
  /** Table functions live in the database's catalog, shared by its connections: each copier names its own */
  private static seq = 0
  private readonly id = ++DirectCopier.seq

  private constructor(
    private readonly conn: DuckDBConnection,
    private readonly api: Api,
    private readonly bindings: Bindings,
  ) {}

  static async open(conn: DuckDBConnection): Promise<DirectCopier> {
    const api = await import('@duckdb/node-api')
    const { default: bindings } = await import('@duckdb/node-bindings')
    return new DirectCopier(conn, api, bindings)
  }

  /** Fills one output chunk from the segments; runs on the main thread inside DuckDB's scan. */
  private produce(info: DuckDBTableFunctionInfo, out: DuckDBDataChunk): void {
    try {
      while (this.seg < this.segments.length && this.at >= this.segments[this.seg].to) {
        this.seg++
        if (this.seg < this.segments.length) this.at = this.segments[this.seg].from
      }
      if (this.seg >= this.segments.length) {
        out.rowCount = 0
        return
      }
      const s = this.segments[this.seg]
      const n = Math.min(CHUNK, s.to - this.at)
      out.rowCount = n
      const b = this.bindings
      const native = out.chunk
      for (let j = 0; j < s.cols.length; j++) {
        const a = s.cols[j]
        b.copy_data_to_vector(b.data_chunk_get_vector(native, j), 0, a.buffer as ArrayBuffer, a.byteOffset + this.at * 8, n * 8)
      }
      this.at += n
    } catch (err) {
      this.failure = err
      out.rowCount = 0
      info.setError(err instanceof Error ? err.message : String(err))
    }
  }

  /** The name of a table function yielding these DOUBLE columns, registered on first use. */
  private functionFor(names: readonly string[]): string {
    const name = `mercury_direct_${this.id}_${names.join('_').replace(/[^a-z0-9_]/gi, '')}`
    if (!this.registered.has(name)) {
      const { DuckDBTableFunction, DOUBLE } = this.api
      const fn = DuckDBTableFunction.create({
        name,
        bindFunction: (bind) => {
          for (const c of names) bind.addResultColumn(c, DOUBLE)
        },
        // One scanning thread: rows come out in the order they are held
        initFunction: (init) => init.setMaxThreads(1),
        mainFunction: (info, out) => this.produce(info, out),
      })
      this.conn.registerTableFunction(fn)
      this.registered.add(name)
    }
    return name
  }

  /**
   * Writes the segments' rows, in order, to the Parquet file `path` as `SELECT <select> FROM rows`, where `rows`
   * has one DOUBLE column per name. `options` is the COPY option list (with FORMAT).
   */
  async write(names: readonly string[], segments: readonly ColumnSegment[], select: string, path: string, options: string): Promise<void> {
    for (const s of segments) {
      if (s.cols.length !== names.length) throw new Error(`direct write: ${s.cols.length} columns for ${names.length} names`)
    }
    const fn = this.functionFor(names)
    this.segments = segments
    this.seg = 0
    this.at = segments.length > 0 ? segments[0].from : 0
    this.failure = undefined
    try {
      await this.conn.run(`COPY (SELECT ${select} FROM ${fn}()) TO ${sqlString(path)} (${options})`)
    } catch (err) {
      if (this.failure !== undefined) throw this.failure
      throw err
    } finally {
      this.segments = []
    }
    if (this.failure !== undefined) throw this.failure
  }
}
