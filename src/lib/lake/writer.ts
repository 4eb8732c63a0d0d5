// The lake's only writer. Rows are staged in DuckDB, merged with what the lake holds (same key: the newer row
// wins), and each changed partition is rewritten as one compacted Parquet file. The manifest swap is the
// commit point. Writing the same rows again changes nothing, not even a byte.

import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import type { DuckDBConnection } from '@duckdb/node-api'
import { hasInterval } from '../consts.js'
import type { DataProblem } from '../errors.js'
import { FatalError } from '../errors.js'
import { logger } from '../log.js'
import { intervalUs } from '../time.js'
import { fsyncDir, fsyncDirs, fsyncFiles, randomId } from '../util/fs.js'
import type { ColumnSegment } from './direct.js'
import { openDuck, tmpRoot, type Duck } from './duck.js'
import { HeldRows, type HeldPartition, type HoldBudget } from './held.js'
import { PartitionSpool } from './spool.js'
import { acquireWriterLock, type LakeLock } from './lock.js'
import { emptyManifest, readManifest, writeManifest, MANIFEST_FILE, type Manifest, type PartitionInfo } from './manifest.js'
import { datasetDir, partitionDirName } from './paths.js'
import {
  SCHEMAS,
  datasetLabel,
  granularityOf,
  partitionExpr,
  sqlString,
  type DatasetId,
  type KindSchema,
} from './schema.js'

const log = logger('mercury:lake')

/** Retired files stay this long for readers that listed them just before a commit. */
export const RETIRE_GRACE_MS = 5 * 60_000

/**
 * How every lake file is encoded. Version 2 pages (delta-encoded integers, byte-stream-split doubles) at zstd
 * level 1, without dictionaries (prices and volumes rarely repeat; zstd still folds repeated strings), encode
 * the 2024 BTCUSDT 1m year in about a third of the time of version 1 pages at zstd's default level, into files of
 * the same size, and read back faster (measured, see BENCHMARKS.md). DuckDB, Arrow (pyarrow, polars) and Spark
 * read them.
 */
export const PARQUET_OPTIONS = 'FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, PARQUET_VERSION V2, DICTIONARY_SIZE_LIMIT 1'

export interface LakeWriterOptions {
  /**
   * Keep staged rows in memory, up to this many bytes for all datasets together, while their keys only increase and the
   * partitions they touch are new to the lake; `commit` then writes them straight to Parquet without the
   * staging table (an archive import's common case, about 3x faster). Default 0: always the staging table.
   */
  readonly holdBytes?: number
  /** Held partitions of more than twice this many rows are written as several files at once (default 262,144) */
  readonly splitRows?: number
}

/** A batch of rows for one dataset, column-major. */
export interface StageBatch {
  readonly rows: number
  /** Index of the source (file) the rows came from; later sources win on equal keys */
  readonly source: number
  /** 1-based line numbers in the source, for error reports */
  readonly line: Float64Array
  readonly f64: Readonly<Record<string, Float64Array>>
  readonly text?: Readonly<Record<string, readonly string[]>>
}

export interface CommitResult {
  readonly dataset: DatasetId
  readonly rowsStaged: number
  readonly rowsWritten: number
  readonly partitionsChanged: number
  readonly partitionsUnchanged: number
}

interface StageState {
  readonly ds: DatasetId
  readonly table: string
  rows: number
  /** Rows kept in memory (see LakeWriterOptions.holdBytes); undefined once they went to the table */
  held?: HeldRows | undefined
  /** Writes of the held partitions, at commit */
  spool?: PartitionSpool | undefined
}

function dsKey(ds: DatasetId): string {
  return `${ds.kind}|${ds.exchange}|${ds.symbol}|${ds.interval ?? ''}`
}

/** Expression flagging a gap between a key and the previous one, and the count of missing steps. */
function gapSql(schema: KindSchema, ds: DatasetId, key: string, prev: string): { flag: string; missing: string } {
  if (schema.gapBy === 'id') {
    return { flag: `(${key} - ${prev} > 1)`, missing: `(${key} - ${prev} - 1)` }
  }
  if (schema.gapBy === 'interval' && ds.interval) {
    const step = intervalUs(ds.interval)
    if (step !== undefined) {
      return { flag: `(${key} - ${prev} > ${step})`, missing: `((${key} - ${prev}) // ${step} - 1)` }
    }
    const months = `date_diff('month', make_timestamp(${prev}), make_timestamp(${key}))`
    return { flag: `(${months} > 1)`, missing: `(${months} - 1)` }
  }
  return { flag: 'false', missing: '0' }
}

export class LakeWriter {
  private readonly stages = new Map<string, StageState>()
  private tableSeq = 0
  /** Memory every dataset's held rows share (LakeWriterOptions.holdBytes), made with the first */
  private holdBudget: HoldBudget | undefined
  private closed = false

  private constructor(
    readonly lakeDir: string,
    private readonly duck: Duck,
    private readonly lock: LakeLock,
    private readonly opts: LakeWriterOptions,
  ) {}

  /** Takes the writer lock and cleans what a killed writer left behind. */
  static async open(lakeDir: string, opts: LakeWriterOptions = {}): Promise<LakeWriter> {
    const lock = acquireWriterLock(lakeDir)
    try {
      const tmp = tmpRoot(lakeDir)
      // Anything in .tmp belongs to a dead writer: we hold the lock
      rmSync(tmp, { recursive: true, force: true })
      const duck = await openDuck({ spillDir: join(tmp, `spill-${process.pid}`) })
      return new LakeWriter(lakeDir, duck, lock, opts)
    } catch (err) {
      lock.release()
      throw err
    }
  }

  private get conn(): DuckDBConnection {
    return this.duck.conn
  }

  private async stageFor(ds: DatasetId): Promise<StageState> {
    const k = dsKey(ds)
    let st = this.stages.get(k)
    if (!st) {
      const schema = SCHEMAS[ds.kind]
      const table = `stage_${++this.tableSeq}`
      const cols = ['_source DOUBLE', '_line DOUBLE', ...schema.staged.map((c) => `"${c}" DOUBLE`)]
      for (const c of schema.stagedText ?? []) cols.push(`"${c}" VARCHAR`)
      await this.conn.run(`CREATE TEMP TABLE ${table} (${cols.join(', ')})`)
      st = { ds, table, rows: 0, held: this.heldFor(ds) }
      this.stages.set(k, st)
    }
    return st
  }

  /** In-memory holding for a new stage, where the options ask for it and the kind allows it. */
  private heldFor(ds: DatasetId): HeldRows | undefined {
    const max = this.opts.holdBytes ?? 0
    const schema = SCHEMAS[ds.kind]
    if (max <= 0 || schema.stagedText !== undefined) return undefined
    const before = readManifest(datasetDir(this.lakeDir, ds))
    const existing = new Set(Object.keys(before?.partitions ?? {}))
    const step = schema.gapBy === 'interval' && ds.interval ? intervalUs(ds.interval) : undefined
    const gap =
      schema.gapBy === 'id'
        ? ({ by: 'id' } as const)
        : schema.gapBy === 'interval' && ds.interval
          ? step !== undefined
            ? ({ by: 'step', step } as const)
            : ({ by: 'month' } as const)
          : ({ by: 'none' } as const)
    this.holdBudget ??= { used: 0, max }
    return new HeldRows(schema, granularityOf(ds), existing, gap, this.holdBudget)
  }

  /** Moves held rows into the staging table: the general path from here on. */
  private async release(st: StageState): Promise<void> {
    const held = st.held
    if (!held) return
    st.held = undefined
    held.free()
    await this.dropSpool(st)
    for (const b of held.batches) await this.append(st, b)
  }

  /** Waits for a stage's partition writes and deletes their files. */
  private async dropSpool(st: StageState): Promise<void> {
    const spool = st.spool
    if (!spool) return
    st.spool = undefined
    await spool.settle()
    spool.close()
  }

  /** Waits for every partition write still running (before `close` after a failure). */
  async settle(): Promise<void> {
    for (const st of this.stages.values()) await this.dropSpool(st)
  }

  /**
   * Writes every held partition to temp Parquet files on parallel connections; the files of each partition, in key
   * order. A partition of more than 2 x SPLIT_ROWS rows is cut into up to one file per connection (each COPY from
   * a table function runs on one DuckDB thread: one big partition would leave the other cores idle).
   */
  private async writeHeld(st: StageState, held: HeldRows): Promise<string[][]> {
    const spool = (st.spool ??= await PartitionSpool.open(
      this.duck.instance,
      join(tmpRoot(this.lakeDir), `held-${process.pid}-${randomId()}`),
    ))
    const names = SCHEMAS[st.ds.kind].staged
    const owner: number[] = []
    // Each lane's COPY then runs on the thread that started it. With DuckDB's own threads, a background thread ran
    // the scan (which waits on this thread for every chunk) while the starting thread polled for tasks in a busy
    // loop, on cores the lanes and the main thread need: the held year wrote in about 10% less time and 20% less CPU
    // with one thread (measured, see BENCHMARKS.md)
    const threads = await this.setThreads(1)
    let files: string[]
    try {
      for (const [i, p] of held.parts.entries()) {
        const pieces = Math.max(1, Math.min(spool.lanes, Math.floor(p.rows / (this.opts.splitRows ?? SPLIT_ROWS))))
        const select = this.heldSelect(st.ds, p)
        for (const piece of cutRuns(p.runs, p.rows, pieces)) {
          const segments: ColumnSegment[] = piece.map(([b, from, to]) => ({ cols: names.map((n) => held.batches[b].f64[n]), from, to }))
          spool.start(owner.length, names, segments, select, PARQUET_OPTIONS)
          owner.push(i)
        }
      }
      files = await spool.finish(owner.length)
    } finally {
      await spool.settle()
      await this.setThreads(threads)
    }
    const out: string[][] = held.parts.map(() => [])
    files.forEach((f, k) => out[owner[k]].push(f))
    return out
  }

  /** Sets the instance's DuckDB thread count (a setting of the whole instance), returning the one it replaces. */
  private async setThreads(n: number): Promise<number> {
    const r = await this.conn.runAndReadAll(`SELECT current_setting('threads')`)
    const was = Number(r.getRows()[0][0])
    if (was !== n) await this.conn.run(`SET threads = ${Math.max(1, Math.floor(n))}`)
    return was
  }

  /** The stored columns of a held partition, as SQL over its staged ones. */
  private heldSelect(ds: DatasetId, p: HeldPartition): string {
    return [...identSql(ds), ...SCHEMAS[ds.kind].columns.map((c) => columnExpr(c, !p.intNaN))].join(', ')
  }

  /** Stages a batch (nothing reaches the lake before `commit`). */
  async stage(ds: DatasetId, batch: StageBatch): Promise<void> {
    if (batch.rows === 0) return
    const st = await this.stageFor(ds)
    if (st.held) {
      const held = st.held
      if (held.hold(batch)) {
        // Partitions are written at commit, all at once on parallel connections. Writing them while reading went on
        // cost more than it saved: DuckDB's thread waits on the busy main thread for every chunk (measured)
        st.rows += batch.rows
        return
      }
      log.debug(`${datasetLabel(ds)}: ${held.batches.reduce((a, b) => a + b.rows, 0)} held rows go to the staging table`)
      await this.release(st)
    }
    await this.append(st, batch)
    st.rows += batch.rows
  }

  /** Appends a batch to the dataset's staging table. */
  private async append(st: StageState, batch: StageBatch): Promise<void> {
    const ds = st.ds
    const schema = SCHEMAS[ds.kind]
    const { DuckDBDataChunk, DOUBLE, VARCHAR } = await import('@duckdb/node-api')
    const { default: bindings } = await import('@duckdb/node-bindings')
    const f64Cols = schema.staged.map((c) => {
      const a = batch.f64[c]
      if (!a) throw new Error(`stage ${ds.kind}: missing column ${c}`)
      return a
    })
    const textNames = schema.stagedText ?? []
    const textCols = textNames.map((c) => {
      const a = batch.text?.[c]
      if (!a) throw new Error(`stage ${ds.kind}: missing text column ${c}`)
      return a
    })
    const types = [DOUBLE, DOUBLE, ...f64Cols.map(() => DOUBLE), ...textCols.map(() => VARCHAR)]
    const source = new Float64Array(2048).fill(batch.source)
    const appender = await this.conn.createAppender(st.table)
    // Numeric chunks are filled with one native copy per column (the wrapper's vector objects cost ~40% more,
    // see BENCHMARKS.md); text columns go through the wrapper
    const raw = (appender as unknown as { appender: unknown }).appender
    const copy = (chunk: unknown, idx: number, arr: Float64Array) =>
      bindings.copy_data_to_vector(
        bindings.data_chunk_get_vector(chunk as never, idx),
        0,
        arr.buffer as ArrayBuffer,
        arr.byteOffset,
        arr.byteLength,
      )
    try {
      for (let off = 0; off < batch.rows; off += 2048) {
        const n = Math.min(2048, batch.rows - off)
        const chunk = DuckDBDataChunk.create(types, n)
        const native = (chunk as unknown as { chunk: unknown }).chunk
        copy(native, 0, source.subarray(0, n))
        copy(native, 1, batch.line.subarray(off, off + n))
        for (let j = 0; j < f64Cols.length; j++) copy(native, 2 + j, f64Cols[j].subarray(off, off + n))
        for (let j = 0; j < textCols.length; j++) {
          chunk.setColumnValues(2 + f64Cols.length + j, textCols[j].slice(off, off + n))
        }
        bindings.append_data_chunk(raw as never, native as never)
      }
      appender.flushSync()
    } finally {
      appender.closeSync()
    }
  }

  /** Rows staged so far for a dataset. */
  stagedRows(ds: DatasetId): number {
    return this.stages.get(dsKey(ds))?.rows ?? 0
  }

  datasets(): DatasetId[] {
    return [...this.stages.values()].map((s) => s.ds)
  }

  /**
   * Checks that need all of a source's rows: duplicate keys within one source, and (for id-keyed kinds) time
   * going backwards in id order. `sourceNames` maps source index to file name for the report.
   */
  async problems(ds: DatasetId, sourceNames: readonly string[], limit = 1000): Promise<DataProblem[]> {
    const st = this.stages.get(dsKey(ds))
    // Held rows have strictly increasing keys and times that never go back: neither problem can occur
    if (!st || st.held) return []
    const schema = SCHEMAS[ds.kind]
    const key = schema.key.map((k) => `"${k}"`).join(', ')
    const out: DataProblem[] = []
    const dup = await this.conn.runAndReadAll(
      `SELECT _source, _line, first_line FROM (
         SELECT _source, _line, first_value(_line) OVER w AS first_line, row_number() OVER w AS rn
         FROM ${st.table} WINDOW w AS (PARTITION BY _source, ${key} ORDER BY _line)
       ) WHERE rn > 1 ORDER BY _source, _line LIMIT ${limit}`,
    )
    for (const [s, line, first] of dup.getRows()) {
      out.push({
        file: sourceNames[Number(s)] ?? `source ${s}`,
        line: Number(line),
        reason: `duplicate key (${schema.key.join(', ')}) of line ${Number(first)}`,
      })
    }
    if (schema.gapBy === 'id') {
      const back = await this.conn.runAndReadAll(
        `SELECT _source, _line, prev_line FROM (
           SELECT _source, _line, "${schema.time}" AS t,
                  lag("${schema.time}") OVER w AS prev_t, lag(_line) OVER w AS prev_line
           FROM ${st.table} WINDOW w AS (PARTITION BY _source ORDER BY "${schema.key[0]}")
         ) WHERE t < prev_t ORDER BY _source, _line LIMIT ${limit}`,
      )
      for (const [s, line, prev] of back.getRows()) {
        out.push({
          file: sourceNames[Number(s)] ?? `source ${s}`,
          line: Number(line),
          reason: `time goes backwards in ${schema.key[0]} order (line ${Number(prev)} is later)`,
        })
      }
    }
    return out
  }

  /** Removes staged rows named by (source, line), keeping the first of duplicate keys. */
  async dropRows(ds: DatasetId, rows: readonly { source: number; line: number }[]): Promise<void> {
    const st = this.stages.get(dsKey(ds))
    if (!st || rows.length === 0) return
    await this.release(st)
    await this.conn.run(`CREATE OR REPLACE TEMP TABLE _drop (_source DOUBLE, _line DOUBLE)`)
    for (let i = 0; i < rows.length; i += 1000) {
      const values = rows.slice(i, i + 1000).map((r) => `(${r.source}, ${r.line})`).join(', ')
      await this.conn.run(`INSERT INTO _drop VALUES ${values}`)
    }
    await this.conn.run(`DELETE FROM ${st.table} WHERE (_source, _line) IN (SELECT (_source, _line) FROM _drop)`)
    const r = await this.conn.runAndReadAll(`SELECT count(*) FROM ${st.table}`)
    st.rows = Number(r.getRows()[0][0])
  }

  /** Drops a dataset's staged rows without writing anything. */
  async discard(ds: DatasetId): Promise<void> {
    const st = this.stages.get(dsKey(ds))
    if (!st) return
    st.held?.free()
    await this.dropSpool(st)
    for (const sql of ['DROP VIEW IF EXISTS _new', 'DROP TABLE IF EXISTS _new', 'DROP VIEW IF EXISTS _old', 'DROP TABLE IF EXISTS _final']) {
      try {
        await this.conn.run(sql)
      } catch {
        // `_new` is a view or a table depending on the commit; dropping the other kind fails harmlessly
      }
    }
    await this.conn.run(`DROP TABLE IF EXISTS ${st.table}`)
    this.stages.delete(dsKey(ds))
  }

  /** What both commit paths need: the dataset's schema, folder and manifest, and the SQL pieces of its columns. */
  private commitSql(ds: DatasetId) {
    const schema = SCHEMAS[ds.kind]
    const gran = granularityOf(ds)
    const dir = datasetDir(this.lakeDir, ds)
    const before = readManifest(dir) ?? emptyManifest(ds, gran)
    if (before.granularity !== gran) {
      throw new FatalError(`Lake dataset ${dir} uses ${before.granularity} partitions, expected ${gran}`)
    }
    const ident = identSql(ds)
    return {
      schema,
      gran,
      dir,
      before,
      ident,
      storedCols: schema.columns.map((col) => col.name),
      colExprs: schema.columns.map((c) => columnExpr(c)),
      keyList: schema.key.map((k) => `"${k}"`).join(', '),
      part: partitionExpr(gran, `"${schema.time}"`),
    }
  }

  /** Merges a dataset's staged rows into the lake and swaps its manifest (the commit point). */
  async commit(ds: DatasetId): Promise<CommitResult> {
    const st = this.stages.get(dsKey(ds))
    if (!st) return { dataset: ds, rowsStaged: 0, rowsWritten: 0, partitionsChanged: 0, partitionsUnchanged: 0 }
    const sql = this.commitSql(ds)
    if (st.held) {
      const held = st.held
      if (held.parts.every((p) => sql.before.partitions[p.part] === undefined)) return this.commitHeld(st, held, sql)
      await this.release(st)
    }
    const { schema, gran, dir, before, ident, storedCols, colExprs, keyList, part } = sql
    const c = this.conn

    // Newest row per key among the staged ones; a plain view when the keys are unique (the common case),
    // because materialising a table costs as much as writing the Parquet (see BENCHMARKS.md)
    const dupes = Number(
      (await c.runAndReadAll(`SELECT count(*) - count(DISTINCT (${keyList})) FROM ${st.table}`)).getRows()[0][0],
    )
    const newSrc = dupes > 0
      ? `(SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY ${keyList} ORDER BY _source DESC, _line DESC) AS _rn
           FROM ${st.table}) WHERE _rn = 1)`
      : st.table
    await c.run(`CREATE OR REPLACE TEMP ${dupes > 0 ? 'TABLE' : 'VIEW'} _new AS
      SELECT ${ident.join(', ')}, ${colExprs.join(', ')}, ${part} AS _part FROM ${newSrc}`)
    const touched = (await c.runAndReadAll(`SELECT DISTINCT _part FROM _new ORDER BY 1`))
      .getRows()
      .map((r) => String(r[0]))
    const oldFiles = touched.flatMap((p) => (before.partitions[p]?.files ?? []).map((f) => join(dir, f)))
    const allCols = ['exchange', 'symbol', ...(hasInterval(ds.kind) ? ['interval'] : []), ...storedCols]
    const colList = allCols.map((x) => `"${x}"`).join(', ')
    const on = schema.key.map((k) => `n."${k}" = o."${k}"`).join(' AND ')
    let changed = touched
    let finalSrc = '_new'
    if (oldFiles.length > 0) {
      await c.run(`CREATE OR REPLACE TEMP VIEW _old AS
        SELECT ${colList}, ${part} AS _part FROM read_parquet([${oldFiles.map(sqlString).join(', ')}])`)
      const differs = storedCols.map((x) => `n."${x}" IS DISTINCT FROM o."${x}"`).join(' OR ')
      changed = (
        await c.runAndReadAll(`SELECT DISTINCT n._part FROM _new n LEFT JOIN _old o ON ${on}
          WHERE o."${schema.key[0]}" IS NULL OR ${differs} ORDER BY 1`)
      )
        .getRows()
        .map((r) => String(r[0]))
      if (changed.length > 0) {
        const inChanged = `_part IN (${changed.map(sqlString).join(', ')})`
        await c.run(`CREATE OR REPLACE TEMP TABLE _final AS
          SELECT ${colList}, _part FROM _new WHERE ${inChanged}
          UNION ALL
          SELECT ${colList}, _part FROM _old o WHERE ${inChanged}
            AND NOT EXISTS (SELECT 1 FROM _new n WHERE ${on})`)
        finalSrc = '_final'
      }
    }
    const unchanged = touched.length - changed.length
    if (changed.length === 0) {
      await this.discard(ds)
      log.debug(`${datasetLabel(ds)}: ${st.rows} staged rows already in the lake`)
      return { dataset: ds, rowsStaged: st.rows, rowsWritten: 0, partitionsChanged: 0, partitionsUnchanged: unchanged }
    }

    const k0 = `"${schema.key[0]}"`
    const gap = gapSql(schema, ds, k0, 'prev')
    const stats = await c.runAndReadAll(`SELECT _part, count(*), min("${schema.time}"), max("${schema.time}"),
        min(${k0}), max(${k0}),
        count(*) FILTER (WHERE prev IS NOT NULL AND ${gap.flag}),
        coalesce(sum(CASE WHEN prev IS NOT NULL AND ${gap.flag} THEN ${gap.missing} ELSE 0 END), 0)
      FROM (SELECT _part, "${schema.time}", ${k0}, lag(${k0}) OVER (PARTITION BY _part ORDER BY ${k0}) AS prev
            FROM ${finalSrc}) GROUP BY _part`)

    const stageDir = join(tmpRoot(this.lakeDir), `commit-${process.pid}-${randomId()}`)
    mkdirSync(stageDir, { recursive: true })
    try {
      await c.run(`COPY (SELECT ${colList}, _part FROM ${finalSrc} ORDER BY _part, ${keyList})
        TO ${sqlString(stageDir)} (${PARQUET_OPTIONS}, PARTITION_BY (_part), FILENAME_PATTERN 'data_{i}')`)
      const generation = before.generation + 1
      const partitions: Record<string, PartitionInfo> = { ...before.partitions }
      const retiredNow: string[] = []
      let rowsWritten = 0
      for (const row of stats.getRows()) {
        const p = String(row[0])
        const srcDir = join(stageDir, `_part=${p}`)
        const outs = readdirSync(srcDir).filter((f) => f.endsWith('.parquet')).sort(byNumber)
        const pdir = partitionDirName(gran, p)
        const { files, bytes } = placeFiles(dir, pdir, generation, outs.map((f) => join(srcDir, f)))
        fsyncDir(join(dir, pdir))
        for (const f of before.partitions[p]?.files ?? []) retiredNow.push(f)
        const rows = Number(row[1])
        rowsWritten += rows
        partitions[p] = {
          files,
          rows,
          bytes,
          minTime: Number(row[2]),
          maxTime: Number(row[3]),
          minKey: Number(row[4]),
          maxKey: Number(row[5]),
          gaps: Number(row[6]),
          missing: Number(row[7]),
        }
      }
      const now = Date.now()
      const after: Manifest = {
        ...before,
        generation,
        updatedAt: new Date(now).toISOString(),
        partitions,
        retired: [...before.retired, ...retiredNow.map((file) => ({ file, at: now }))],
      }
      await syncNewFiles(dir, before, after)
      writeManifest(dir, after)
      this.collectGarbage(dir, after)
      await this.discard(ds)
      log.info(`${datasetLabel(ds)}: wrote ${changed.length} partitions (${rowsWritten} rows), ${unchanged} unchanged`)
      return {
        dataset: ds,
        rowsStaged: st.rows,
        rowsWritten,
        partitionsChanged: changed.length,
        partitionsUnchanged: unchanged,
      }
    } finally {
      rmSync(stageDir, { recursive: true, force: true })
    }
  }

  /**
   * `commit` for held rows: every partition is new to the lake and the keys arrive in order, so each partition is
   * one Parquet file written straight from memory, and its statistics were counted while the rows came in.
   */
  private async commitHeld(st: StageState, held: HeldRows, sql: ReturnType<LakeWriter['commitSql']>): Promise<CommitResult> {
    const { gran, dir, before } = sql
    const ds = st.ds
    try {
      const tmps = await this.writeHeld(st, held)
      const generation = before.generation + 1
      const partitions: Record<string, PartitionInfo> = { ...before.partitions }
      let rowsWritten = 0
      for (const [i, p] of held.parts.entries()) {
        const { files, bytes } = placeFiles(dir, partitionDirName(gran, p.part), generation, tmps[i])
        rowsWritten += p.rows
        partitions[p.part] = {
          files,
          rows: p.rows,
          bytes,
          minTime: p.minTime,
          maxTime: p.maxTime,
          minKey: p.minKey,
          maxKey: p.maxKey,
          gaps: p.gaps,
          missing: p.missing,
        }
      }
      // The renames must be on disk before the manifest names the files (the spool flushed the files' data)
      await fsyncDirs(held.parts.map((p) => join(dir, partitionDirName(gran, p.part))))
      const after: Manifest = { ...before, generation, updatedAt: new Date().toISOString(), partitions }
      writeManifest(dir, after)
      this.collectGarbage(dir, after)
      await this.discard(ds)
      log.info(`${datasetLabel(ds)}: wrote ${held.parts.length} new partitions (${rowsWritten} rows) from memory`)
      return { dataset: ds, rowsStaged: st.rows, rowsWritten, partitionsChanged: held.parts.length, partitionsUnchanged: 0 }
    } finally {
      await this.dropSpool(st)
    }
  }

  /**
   * Appends a dataset's staged rows as new files next to the partitions' existing ones, skipping rows whose key
   * the lake already holds (events are immutable: the stored copy wins). This is the collector's path: its cost
   * grows with the batch, not with the partition, so a 5 s batch into a day of trades stays cheap. A partition
   * that reaches `compactAt` files is rewritten as one.
   */
  async commitAppend(ds: DatasetId, opts: { compactAt?: number } = {}): Promise<CommitResult> {
    const st = this.stages.get(dsKey(ds))
    if (!st) return { dataset: ds, rowsStaged: 0, rowsWritten: 0, partitionsChanged: 0, partitionsUnchanged: 0 }
    await this.release(st)
    const compactAt = opts.compactAt ?? 64
    const { schema, gran, dir, before, ident, storedCols, colExprs, keyList, part } = this.commitSql(ds)
    const c = this.conn
    const allCols = ['exchange', 'symbol', ...(hasInterval(ds.kind) ? ['interval'] : []), ...storedCols]
    const colList = allCols.map((x) => `"${x}"`).join(', ')
    const on = schema.key.map((k) => `n."${k}" = o."${k}"`).join(' AND ')
    const k0 = `"${schema.key[0]}"`

    // Kinds keyed by receipt time (book rows, integrity events) cannot collide with stored rows: a restarted
    // collector receives them at new times. Skipping the key checks for them halves the cost of a book batch
    const unique = schema.key[0] === 'local_timestamp'
    if (unique) {
      // A view: the batch is read a few times below, which costs less than materialising it
      await c.run(`CREATE OR REPLACE TEMP VIEW _new AS
        SELECT ${ident.join(', ')}, ${colExprs.join(', ')}, ${part} AS _part FROM ${st.table}`)
    } else {
      // First staged row per key wins within the batch too
      await c.run(`CREATE OR REPLACE TEMP TABLE _new AS
        SELECT ${colList}, _part FROM (
          SELECT ${ident.join(', ')}, ${colExprs.join(', ')}, ${part} AS _part,
                 row_number() OVER (PARTITION BY ${keyList} ORDER BY _source, _line) AS _rn
          FROM ${st.table}) WHERE _rn = 1`)
    }
    const ranges = unique
      ? []
      : (await c.runAndReadAll(`SELECT _part, min(${k0}), max(${k0}) FROM _new GROUP BY _part ORDER BY 1`))
          .getRows()
          .map((r) => ({ part: String(r[0]), min: Number(r[1]), max: Number(r[2]) }))
    // Drop keys the lake already has; the key range filter lets DuckDB skip row groups by their statistics
    for (const r of ranges) {
      const files = (before.partitions[r.part]?.files ?? []).map((f) => join(dir, f))
      if (files.length === 0 || unique) continue
      await c.run(`DELETE FROM _new n WHERE n._part = ${sqlString(r.part)} AND EXISTS (
        SELECT 1 FROM read_parquet([${files.map(sqlString).join(', ')}]) o
        WHERE o.${k0} BETWEEN ${r.min} AND ${r.max} AND ${on})`)
    }
    const stats = await c.runAndReadAll(`SELECT _part, count(*), min("${schema.time}"), max("${schema.time}"),
        min(${k0}), max(${k0}) FROM _new GROUP BY _part ORDER BY 1`)
    const rows = stats.getRows()
    if (rows.length === 0) {
      await this.discard(ds)
      return { dataset: ds, rowsStaged: st.rows, rowsWritten: 0, partitionsChanged: 0, partitionsUnchanged: ranges.length }
    }
    const gap = gapSql(schema, ds, k0, 'prev')
    const stageDir = join(tmpRoot(this.lakeDir), `append-${process.pid}-${randomId()}`)
    mkdirSync(stageDir, { recursive: true })
    try {
      // Receipt-keyed rows are staged in arrival order, which DuckDB keeps (preserve_insertion_order): no sort
      await c.run(`COPY (SELECT ${colList}, _part FROM _new ${unique ? '' : `ORDER BY _part, ${keyList}`})
        TO ${sqlString(stageDir)} (${PARQUET_OPTIONS}, PARTITION_BY (_part), FILENAME_PATTERN 'data_{i}')`)
      const generation = before.generation + 1
      const partitions: Record<string, PartitionInfo> = { ...before.partitions }
      const retiredNow: string[] = []
      let rowsWritten = 0
      for (const row of rows) {
        const p = String(row[0])
        const n = Number(row[1])
        const srcDir = join(stageDir, `_part=${p}`)
        const outs = readdirSync(srcDir).filter((f) => f.endsWith('.parquet')).sort(byNumber)
        const pdir = partitionDirName(gran, p)
        const { files: added, bytes } = placeFiles(dir, pdir, generation, outs.map((f) => join(srcDir, f)))
        const old = before.partitions[p]
        let files = [...(old?.files ?? []), ...added]
        let info: PartitionInfo
        const minKey = Number(row[4])
        const maxKey = Number(row[5])
        if (old && minKey > old.maxKey && files.length <= compactAt) {
          // The common case, keys moving forward: gap statistics extend without reading the old files
          const inner = await c.runAndReadAll(`SELECT count(*) FILTER (WHERE prev IS NOT NULL AND ${gap.flag}),
              coalesce(sum(CASE WHEN prev IS NOT NULL AND ${gap.flag} THEN ${gap.missing} ELSE 0 END), 0)
            FROM (SELECT ${k0}, lag(${k0}, 1, ${old.maxKey}) OVER (ORDER BY ${k0}) AS prev FROM _new WHERE _part = ${sqlString(p)})`)
          const [g, m] = inner.getRows()[0]
          info = {
            files,
            rows: old.rows + n,
            bytes: old.bytes + bytes,
            minTime: Math.min(old.minTime, Number(row[2])),
            maxTime: Math.max(old.maxTime, Number(row[3])),
            minKey: old.minKey,
            maxKey,
            gaps: old.gaps + Number(g),
            missing: old.missing + Number(m),
          }
        } else {
          // Keys landing inside the stored range (a repair) or too many files: recompute, compacting if due
          const src = `read_parquet([${files.map((f) => sqlString(join(dir, f))).join(', ')}])`
          if (files.length > compactAt) {
            const rel = `${pdir}/part-g${generation}-${randomId()}.parquet`
            const tmp = join(stageDir, `compact-${randomId()}.parquet`)
            await c.run(`COPY (SELECT ${colList} FROM ${src} ORDER BY ${keyList}) TO ${sqlString(tmp)} (${PARQUET_OPTIONS})`)
            renameSync(tmp, join(dir, rel))
            retiredNow.push(...files)
            files = [rel]
          }
          const all = `read_parquet([${files.map((f) => sqlString(join(dir, f))).join(', ')}])`
          const s2 = (await c.runAndReadAll(`SELECT count(*), min("${schema.time}"), max("${schema.time}"), min(${k0}), max(${k0}),
              count(*) FILTER (WHERE prev IS NOT NULL AND ${gap.flag}),
              coalesce(sum(CASE WHEN prev IS NOT NULL AND ${gap.flag} THEN ${gap.missing} ELSE 0 END), 0)
            FROM (SELECT "${schema.time}", ${k0}, lag(${k0}) OVER (ORDER BY ${k0}) AS prev FROM ${all})`)).getRows()[0]
          let total = 0
          for (const f of files) total += statSync(join(dir, f)).size
          info = {
            files,
            rows: Number(s2[0]),
            bytes: total,
            minTime: Number(s2[1]),
            maxTime: Number(s2[2]),
            minKey: Number(s2[3]),
            maxKey: Number(s2[4]),
            gaps: Number(s2[5]),
            missing: Number(s2[6]),
          }
        }
        fsyncDir(join(dir, pdir))
        rowsWritten += n
        partitions[p] = info
      }
      const now = Date.now()
      const after: Manifest = {
        ...before,
        generation,
        updatedAt: new Date(now).toISOString(),
        partitions,
        retired: [...before.retired, ...retiredNow.map((file) => ({ file, at: now }))],
      }
      await syncNewFiles(dir, before, after)
      writeManifest(dir, after)
      if (retiredNow.length > 0) this.collectGarbage(dir, after)
      await this.discard(ds)
      log.debug(`${datasetLabel(ds)}: appended ${rowsWritten} rows to ${rows.length} partitions`)
      return { dataset: ds, rowsStaged: st.rows, rowsWritten, partitionsChanged: rows.length, partitionsUnchanged: Math.max(0, ranges.length - rows.length) }
    } finally {
      rmSync(stageDir, { recursive: true, force: true })
    }
  }

  /** Rewrites every partition of a dataset that holds more than one file as a single sorted file. */
  async compact(ds: DatasetId): Promise<number> {
    const schema = SCHEMAS[ds.kind]
    const dir = datasetDir(this.lakeDir, ds)
    const before = readManifest(dir)
    if (!before) return 0
    const many = Object.entries(before.partitions).filter(([, p]) => p.files.length > 1)
    if (many.length === 0) return 0
    const c = this.conn
    const gran = before.granularity
    const allCols = ['exchange', 'symbol', ...(hasInterval(ds.kind) ? ['interval'] : []), ...schema.columns.map((x) => x.name)]
    const colList = allCols.map((x) => `"${x}"`).join(', ')
    const keyList = schema.key.map((k) => `"${k}"`).join(', ')
    const generation = before.generation + 1
    const partitions: Record<string, PartitionInfo> = { ...before.partitions }
    const retiredNow: string[] = []
    const stageDir = join(tmpRoot(this.lakeDir), `compact-${process.pid}-${randomId()}`)
    mkdirSync(stageDir, { recursive: true })
    try {
      for (const [p, info] of many) {
        const src = `read_parquet([${info.files.map((f) => sqlString(join(dir, f))).join(', ')}])`
        const rel = `${partitionDirName(gran, p)}/part-g${generation}-${randomId()}.parquet`
        const tmp = join(stageDir, `${randomId()}.parquet`)
        await c.run(`COPY (SELECT ${colList} FROM ${src} ORDER BY ${keyList}) TO ${sqlString(tmp)} (${PARQUET_OPTIONS})`)
        renameSync(tmp, join(dir, rel))
        fsyncDir(join(dir, partitionDirName(gran, p)))
        retiredNow.push(...info.files)
        partitions[p] = { ...info, files: [rel], bytes: statSync(join(dir, rel)).size }
      }
      const now = Date.now()
      const after: Manifest = {
        ...before,
        generation,
        updatedAt: new Date(now).toISOString(),
        partitions,
        retired: [...before.retired, ...retiredNow.map((file) => ({ file, at: now }))],
      }
      await syncNewFiles(dir, before, after)
      writeManifest(dir, after)
      this.collectGarbage(dir, after)
      return many.length
    } finally {
      rmSync(stageDir, { recursive: true, force: true })
    }
  }

  /** Deletes retired files past their grace period and files no manifest names (left by a killed writer). */
  private collectGarbage(dir: string, m: Manifest): void {
    const now = Date.now()
    const live = new Set(Object.values(m.partitions).flatMap((p) => p.files))
    const keepRetired = m.retired.filter((r) => now - r.at < RETIRE_GRACE_MS)
    const expired = m.retired.filter((r) => now - r.at >= RETIRE_GRACE_MS)
    const known = new Set([...live, ...keepRetired.map((r) => r.file)])
    for (const r of expired) rmSync(join(dir, r.file), { force: true })
    if (expired.length > 0) writeManifest(dir, { ...m, retired: keepRetired })
    for (const pdir of readdirSync(dir)) {
      const full = join(dir, pdir)
      if (pdir === MANIFEST_FILE || !statSync(full).isDirectory()) continue
      for (const f of readdirSync(full)) {
        const rel = relative(dir, join(full, f))
        if (!known.has(rel)) {
          log.debug(`removing unreferenced file ${rel}`)
          rmSync(join(full, f), { force: true })
        }
      }
      if (readdirSync(full).length === 0) rmSync(full, { recursive: true, force: true })
    }
  }

  /** Commits every staged dataset. */
  async commitAll(): Promise<CommitResult[]> {
    const out: CommitResult[] = []
    for (const ds of this.datasets()) out.push(await this.commit(ds))
    return out
  }

  /** Releases DuckDB and the writer lock; staged rows not committed are dropped. */
  close(): void {
    if (this.closed) return
    this.closed = true
    try {
      // Call `settle` first where writes may still run: closing a connection under a running query is not safe
      for (const st of this.stages.values()) st.spool?.close()
      this.duck.close()
    } finally {
      rmSync(join(tmpRoot(this.lakeDir), `spill-${process.pid}`), { recursive: true, force: true })
      this.lock.release()
    }
  }
}

/** Rows below which a held partition is not cut into several files (see `writeHeld`) */
const SPLIT_ROWS = 262_144

/** Cuts runs holding `rows` rows into `pieces` consecutive groups of runs, of nearly equal row counts. */
export function cutRuns(runs: readonly (readonly [number, number, number])[], rows: number, pieces: number): [number, number, number][][] {
  const out: [number, number, number][][] = []
  let cur: [number, number, number][] = []
  let left = rows
  let goal = Math.ceil(left / Math.max(1, pieces))
  let taken = 0
  for (const [b, from, to] of runs) {
    let at = from
    while (at < to) {
      const n = Math.min(to - at, goal - taken)
      cur.push([b, at, at + n])
      at += n
      taken += n
      if (taken === goal && out.length < pieces - 1) {
        out.push(cur)
        cur = []
        left -= taken
        taken = 0
        goal = Math.ceil(left / (pieces - out.length))
      }
    }
  }
  if (cur.length > 0) out.push(cur)
  return out
}

/**
 * The identity columns of a dataset's rows, as SQL constants. Typed as one-value ENUMs: DuckDB writes an ENUM as
 * a dictionary-encoded string column (readers see plain strings, as in files written before), at about a third of
 * the cost of a VARCHAR constant, which it encodes row by row (measured: 35% of a bar file's write time).
 */
function identSql(ds: DatasetId): string[] {
  const constant = (v: string, name: string) => `CAST(${sqlString(v)} AS ENUM(${sqlString(v)})) AS ${name}`
  const ident = [constant(ds.exchange, 'exchange'), constant(ds.symbol, 'symbol')]
  if (hasInterval(ds.kind)) ident.push(constant(ds.interval ?? '', 'interval'))
  return ident
}

/** SQL turning a staged column into its stored type; a NaN staged for an integer column means NULL (not sent). */
function columnExpr(col: KindSchema['columns'][number], nanFree = false): string {
  if (col.expr && col.values) return `CAST(${col.expr} AS ENUM(${col.values.map(sqlString).join(', ')})) AS "${col.name}"`
  if (col.expr) return `CAST(${col.expr} AS ${col.type}) AS "${col.name}"`
  const c = `"${col.name}"`
  // Where the rows are known to hold no NaN the test is left out (it costs as much as the rest of the cast)
  if (!nanFree && (col.type === 'BIGINT' || col.type === 'INTEGER')) {
    return `CAST(CASE WHEN isnan(${c}) THEN NULL ELSE ${c} END AS ${col.type}) AS ${c}`
  }
  return `CAST(${c} AS ${col.type}) AS ${c}`
}

function byNumber(a: string, b: string): number {
  return Number(/\d+/.exec(a)?.[0] ?? 0) - Number(/\d+/.exec(b)?.[0] ?? 0)
}

/**
 * The data of every file `after` names and `before` did not, flushed to disk before the manifest names it: DuckDB's
 * COPY does not fsync, so after a power cut (not a kill, which the page cache survives) the manifest could otherwise
 * name a file whose data never reached the disk
 */
async function syncNewFiles(dir: string, before: Manifest, after: Manifest): Promise<void> {
  const old = new Set(Object.values(before.partitions).flatMap((p) => p.files))
  const added = Object.values(after.partitions).flatMap((p) => p.files).filter((f) => !old.has(f))
  await fsyncFiles(added.map((f) => join(dir, f)))
}

/**
 * Moves written files into a partition's folder under new generation names (the folder made if need be); returns
 * their names relative to the dataset folder, in the order given, and their total size. Nothing names them yet
 */
function placeFiles(dir: string, pdir: string, generation: number, paths: readonly string[]): { files: string[]; bytes: number } {
  mkdirSync(join(dir, pdir), { recursive: true })
  const files: string[] = []
  let bytes = 0
  for (const path of paths) {
    const rel = `${pdir}/part-g${generation}-${randomId()}.parquet`
    renameSync(path, join(dir, rel))
    bytes += statSync(join(dir, rel)).size
    files.push(rel)
  }
  return { files, bytes }
}
