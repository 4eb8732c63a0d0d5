// Writes Parquet shards through DuckDB without staging the rows anywhere: a table function hands DuckDB the rows
// as they come out of the rings (one native copy per column per 2048 rows), and `COPY (SELECT ... FROM it) TO`
// encodes them straight into the file. Memory stays at DuckDB's row-group buffers whatever the shard size.

import { rmSync } from 'node:fs'
import type { DuckDBConnection, DuckDBDataChunk, DuckDBTableFunctionInfo } from '@duckdb/node-api'
import { MercuryError } from '../errors.js'
import { openDuck, type Duck } from '../lake/duck.js'
import type { LobLayout } from './layout.js'
import { SLOT_ROWS } from './ring.js'
import type { BlockSource } from './source.js'

export const COMPRESSIONS = ['zstd', 'snappy', 'gzip', 'lz4', 'lz4_raw', 'brotli', 'uncompressed'] as const
export type Compression = (typeof COMPRESSIONS)[number]

/** Rows per Parquet row group: DuckDB's default, fixed so shards do not depend on the version's default */
export const ROW_GROUP_SIZE = 122_880

export interface ShardStats {
  readonly rows: number
  readonly tsMin: number
  readonly tsMax: number
}

type Bindings = typeof import('@duckdb/node-bindings')

/** Most memory `writeBuffered` holds rows in (MERCURY_LOB_BUFFER_BYTES: tests use a small one to assemble shards from pieces) */
const BUFFER_BYTES = Number(process.env.MERCURY_LOB_BUFFER_BYTES) || 64 << 20

/** Rows already in memory (column-major, `stride` rows per column). */
class BufferSource implements BlockSource {
  private at = 0
  constructor(
    private readonly buf: Float64Array,
    private readonly stride: number,
    private readonly cols: number,
    private readonly rows: number,
  ) {}

  fill(out: Float64Array, max: number): number {
    const n = Math.min(max, this.rows - this.at)
    for (let c = 0; c < this.cols; c++) out.set(this.buf.subarray(c * this.stride + this.at, c * this.stride + this.at + n), c * SLOT_ROWS)
    this.at += n
    return n
  }
}

/** The SQL identifier of a column */
const ident = (name: string) => `"${name.replace(/"/g, '""')}"`

export class ShardWriter {
  private source: BlockSource | undefined
  private remaining = 0
  private rows = 0
  private tsMin = Infinity
  private tsMax = -Infinity
  private failure: unknown
  private readonly staging: Float64Array
  private readonly mask: Uint8Array
  private readonly nullable: boolean[]
  private registered = false
  private static readonly FN = 'mercury_lob_rows'

  private constructor(
    private readonly duck: Duck,
    private readonly bindings: Bindings,
    private readonly layout: LobLayout,
    private readonly api: typeof import('@duckdb/node-api'),
    /** Called after every block with the rows written to the current shard so far */
    private readonly onRows?: (rows: number) => void,
  ) {
    const C = layout.columns.length
    this.staging = new Float64Array(C * SLOT_ROWS)
    this.mask = new Uint8Array(SLOT_ROWS / 8)
    this.nullable = layout.columns.map((c) => c.name !== 'ts' && c.name !== 'buy_volume' && c.name !== 'sell_volume' && c.name !== 'trade_count')
  }

  /** Opens DuckDB (in memory, `threads` workers for encoding). */
  static async open(layout: LobLayout, o: { threads?: number; onRows?: (rows: number) => void } = {}): Promise<ShardWriter> {
    const api = await import('@duckdb/node-api')
    const { default: bindings } = await import('@duckdb/node-bindings')
    const duck = await openDuck({ threads: o.threads ?? 2 })
    return new ShardWriter(duck, bindings, layout, api, o.onRows)
  }

  private get conn(): DuckDBConnection {
    return this.duck.conn
  }

  /** The DuckDB connection (for reading the shards back). */
  get connection(): DuckDBConnection {
    return this.duck.conn
  }

  /** Fills one output chunk; runs on the main thread inside DuckDB's scan. */
  private produce(info: DuckDBTableFunctionInfo, out: DuckDBDataChunk): void {
    try {
      const src = this.source
      const want = Math.min(SLOT_ROWS, this.remaining)
      const n = src === undefined || want <= 0 ? 0 : src.fill(this.staging, want)
      out.rowCount = n
      if (n === 0) return
      const b = this.bindings
      const native = out.chunk
      const st = this.staging
      const C = this.layout.columns.length
      const words = Math.ceil(n / 64)
      for (let c = 0; c < C; c++) {
        const vec = b.data_chunk_get_vector(native, c)
        const at = c * SLOT_ROWS
        b.copy_data_to_vector(vec, 0, st.buffer as ArrayBuffer, st.byteOffset + at * 8, n * 8)
        if (!this.nullable[c]) continue
        // NaN marks a missing level: NULL in Parquet
        let any = false
        for (let i = 0; i < n; i++) {
          if (st[at + i] !== st[at + i]) {
            any = true
            break
          }
        }
        if (!any) continue
        const m = this.mask
        m.fill(0)
        for (let i = 0; i < n; i++) if (st[at + i] === st[at + i]) m[i >> 3] |= 1 << (i & 7)
        b.vector_ensure_validity_writable(vec)
        b.copy_data_to_vector_validity(vec, 0, m.buffer as ArrayBuffer, m.byteOffset, words * 8)
      }
      for (let i = 0; i < n; i++) {
        const t = st[i]
        if (t < this.tsMin) this.tsMin = t
        if (t > this.tsMax) this.tsMax = t
      }
      this.rows += n
      this.remaining -= n
      this.onRows?.(this.rows)
    } catch (err) {
      this.failure = err
      out.rowCount = 0
      info.setError(err instanceof Error ? err.message : String(err))
    }
  }

  /** Writes up to `maxRows` rows of `source` into a Parquet file at `path` (which must not exist). */
  async write(source: BlockSource, path: string, maxRows: number, compression: Compression): Promise<ShardStats> {
    const name = ShardWriter.FN
    if (!this.registered) {
      const { DuckDBTableFunction, DOUBLE } = this.api
      const fn = DuckDBTableFunction.create({
        name,
        bindFunction: (bind) => {
          for (const c of this.layout.columns) bind.addResultColumn(c.name, DOUBLE)
        },
        // One scanning thread: rows must come out in order
        initFunction: (init) => init.setMaxThreads(1),
        mainFunction: (info, out) => this.produce(info, out),
      })
      this.conn.registerTableFunction(fn)
      this.registered = true
    }
    this.source = source
    this.remaining = maxRows
    this.rows = 0
    this.tsMin = Infinity
    this.tsMax = -Infinity
    this.failure = undefined
    const select = this.layout.columns
      .map((c) => (c.type === 'BIGINT' ? `CAST(${ident(c.name)} AS BIGINT) AS ${ident(c.name)}` : ident(c.name)))
      .join(', ')
    const file = path.replace(/'/g, "''")
    try {
      await this.conn.run(
        `COPY (SELECT ${select} FROM ${name}()) TO '${file}' (FORMAT parquet, COMPRESSION ${compression}, ROW_GROUP_SIZE ${ROW_GROUP_SIZE}, DICTIONARY_SIZE_LIMIT 1)`,
      )
    } catch (err) {
      if (this.failure !== undefined) throw this.failure
      throw err instanceof MercuryError ? err : new Error(`DuckDB could not write ${path}: ${err instanceof Error ? err.message : String(err)}`)
    } finally {
      this.source = undefined
    }
    if (this.failure !== undefined) throw this.failure
    return { rows: this.rows, tsMin: this.tsMin, tsMax: this.tsMax }
  }

  /**
   * `write` for sources much slower than the encoder (recordings sample a few rows per MB). DuckDB's thread spins
   * while it waits on a table-function callback, so a streaming COPY would burn a core for the whole replay.
   * Instead rows are buffered (at most about 64 MB) and each full buffer is written by a COPY that never waits;
   * a shard that needs several buffers is assembled from those pieces by one more COPY.
   */
  async writeBuffered(source: BlockSource, path: string, maxRows: number, compression: Compression): Promise<ShardStats> {
    const C = this.layout.columns.length
    const cap = Math.max(SLOT_ROWS, Math.min(ROW_GROUP_SIZE, Math.floor(BUFFER_BYTES / (C * 8) / SLOT_ROWS) * SLOT_ROWS))
    const buf = new Float64Array(C * cap)
    const pieces: string[] = []
    let total = 0
    let tsMin = Infinity
    let tsMax = -Infinity
    try {
      for (;;) {
        // Fill the buffer from the source (the main thread waits here, DuckDB is not involved)
        let n = 0
        while (n < cap && total + n < maxRows) {
          const want = Math.min(SLOT_ROWS, cap - n, maxRows - total - n)
          const got = source.fill(this.staging, want)
          if (got === 0) break
          for (let c = 0; c < C; c++) buf.set(this.staging.subarray(c * SLOT_ROWS, c * SLOT_ROWS + got), c * cap + n)
          n += got
        }
        const ended = n < cap && total + n < maxRows
        if (n === 0 && pieces.length === 0) {
          // Nothing at all: an empty shard, which the caller discards
          return await this.write(new BufferSource(buf, cap, C, 0), path, 0, compression)
        }
        if (n === 0) break
        const target = pieces.length === 0 && (ended || total + n >= maxRows) ? path : `${path}.piece${pieces.length}`
        const st = await this.write(new BufferSource(buf, cap, C, n), target, n, compression)
        if (target !== path) pieces.push(target)
        total += st.rows
        tsMin = Math.min(tsMin, st.tsMin)
        tsMax = Math.max(tsMax, st.tsMax)
        this.onRows?.(total)
        if (target === path || ended || total >= maxRows) break
      }
      if (pieces.length > 0) {
        const list = pieces.map((f) => `'${f.replace(/'/g, "''")}'`).join(', ')
        await this.conn.run(
          `COPY (SELECT * FROM read_parquet([${list}])) TO '${path.replace(/'/g, "''")}' (FORMAT parquet, COMPRESSION ${compression}, ROW_GROUP_SIZE ${ROW_GROUP_SIZE}, DICTIONARY_SIZE_LIMIT 1)`,
        )
      }
    } finally {
      for (const f of pieces) rmSync(f, { force: true })
    }
    return { rows: total, tsMin, tsMax }
  }

  /** Reads up to `count` rows from the source without writing them (resume, counting); returns how many. */
  skip(source: BlockSource, count: number): number {
    let left = count
    while (left > 0) {
      const n = source.fill(this.staging, Math.min(SLOT_ROWS, left))
      if (n === 0) break
      left -= n
    }
    return count - left
  }

  close(): void {
    this.duck.close()
  }
}
