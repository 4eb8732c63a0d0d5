// Exports the lake into PostgreSQL, as TimescaleDB hypertables with compression where the extension is there
// and as plain tables with the same columns and indexes where it is not.
//
// Per batch of lake partitions: DuckDB writes the rows to a CSV file, COPY streams it into a temp staging
// table, and INSERT ... ON CONFLICT DO NOTHING moves it into the table, so a re-export adds nothing. Then the
// rows per partition in PostgreSQL are compared with the lake's, and the watermark and partition records are
// written, all in one transaction: a mismatch leaves nothing behind.
//
// Incremental: each lake partition's manifest entry (files, rows, last time) is recorded when exported. An
// unchanged partition is skipped; one that only grew past its recorded last time sends just the newer rows; any
// other change (a gap filled, rows replaced) sends the partition again.

import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KINDS, type Kind } from '../consts.js'
import { FatalError, UsageError } from '../errors.js'
import { openDuck, type Duck } from '../lake/duck.js'
import { sortedPartitions, type Manifest, type PartitionInfo } from '../lake/manifest.js'
import { datasetDir } from '../lake/paths.js'
import { listDatasets } from '../lake/reader.js'
import { SCHEMAS, datasetLabel, partitionExpr, sqlString, type DatasetId, type Granularity } from '../lake/schema.js'
import { logger } from '../log.js'
import { isoUs } from '../time.js'
import { PgError, connectPg, inTransaction, type Pg } from './pg.js'
import {
  PARTITIONS_TABLE,
  STATE_TABLE,
  compressionSql,
  copySql,
  countByPartitionSql,
  createStageSql,
  createTableSql,
  hypertableSql,
  ident,
  insertFromStageSql,
  loadColumns,
  qualified,
  rangeHasRowsSql,
  stageTable,
  stateTablesSql,
  tableOf,
  upsertPartitionSql,
  upsertStateSql,
} from './sql.js'
import type { PgTarget } from './url.js'

export interface ExportOptions {
  readonly lakeDir: string
  readonly target: PgTarget
  /** PostgreSQL schema holding the tables (default public) */
  readonly schema?: string
  /** Kinds to export; every kind the lake holds when undefined */
  readonly kinds?: readonly Kind[] | undefined
  /** Only rows at or after this µs time */
  readonly since?: number | undefined
  /** Plan only: read the lake and the export state, write nothing */
  readonly dryRun?: boolean
  /** Ignore the recorded partitions and send every partition in range again (present rows are skipped) */
  readonly full?: boolean
  /** Use TimescaleDB when the server has it (default true) */
  readonly timescale?: boolean
  /** Lake rows per COPY batch; a partition is never split */
  readonly batchRows?: number
  readonly onProgress?: (line: string) => void
}

export type TableMode = 'hypertable' | 'plain'

export interface TableReport {
  readonly table: string
  readonly kind: Kind
  mode: TableMode
  compression: boolean
  datasets: number
  partitions: number
  rowsCopied: number
  rowsInserted: number
  seconds: number
  rowsPerSecond: number
}

export interface DatasetReport {
  readonly table: string
  readonly exchange: string
  readonly symbol: string
  readonly interval: string | null
  partitions: number
  partitionsSkipped: number
  rowsCopied: number
  rowsInserted: number
  /** Last exported time (ISO), after this run */
  watermark: string | null
}

export interface ExportReport {
  readonly target: string
  readonly schema: string
  readonly dryRun: boolean
  readonly since: string | null
  readonly timescale: { readonly installed: string | null; readonly available: string | null; readonly used: boolean }
  readonly compression: boolean
  readonly notes: string[]
  readonly tables: TableReport[]
  readonly datasets: DatasetReport[]
  readonly rowsCopied: number
  readonly rowsInserted: number
  readonly seconds: number
  readonly rowsPerSecond: number
}

interface PartitionPlan {
  readonly value: string
  readonly info: PartitionInfo
  readonly files: readonly string[]
  /** Bounds of the partition, µs, end exclusive */
  readonly startUs: number
  readonly endUs: number
  /** Rows at or after this time only (--since cuts the partition) */
  readonly fromUs: number | undefined
  /** Rows after this time only (the partition only grew since it was exported) */
  readonly afterUs: number | undefined
  readonly fingerprint: string
}

interface Recorded {
  readonly rows: number
  readonly maxTimeUs: number
  readonly sinceUs: number | null
  readonly fingerprint: string
}

const DEFAULT_BATCH_ROWS = 250_000
const log = logger('mercury:export')

/** Exports the lake's datasets into PostgreSQL/TimescaleDB; see the file comment for the steps. */
export async function exportToPostgres(opts: ExportOptions): Promise<ExportReport> {
  const t0 = performance.now()
  const schema = opts.schema ?? 'public'
  const dryRun = Boolean(opts.dryRun)
  const progress = opts.onProgress ?? (() => undefined)
  const wanted = opts.kinds ?? KINDS
  const all = listDatasets(opts.lakeDir).filter((d) => wanted.includes(d.ds.kind))
  if (all.length === 0) {
    throw new UsageError(
      opts.kinds
        ? `Invalid --kinds: the lake at ${opts.lakeDir} holds no ${opts.kinds.join(', ')}`
        : `The lake at ${opts.lakeDir} holds no datasets to export. Import some first: mercury backfill --archive <files>`,
    )
  }
  const notes: string[] = []
  const note = (text: string) => {
    notes.push(text)
    progress(`note: ${text}`)
  }
  const absent = (opts.kinds ?? []).filter((k) => !all.some((d) => d.ds.kind === k))
  if (absent.length) note(`the lake holds no ${absent.join(', ')}; nothing to export there`)

  const db = await connectPg(opts.target)
  let duck: Duck | undefined
  const work = mkdtempSync(join(tmpdir(), 'mercury-export-'))
  try {
    await db.query(`SET TIME ZONE 'UTC'`)
    if (!dryRun) {
      const lock = await db.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(hashtext($1)) AS ok`, [`mercury export ${schema}`])
      if (!lock.rows[0]?.ok) {
        throw new FatalError(`Another mercury export is writing to schema ${schema} at ${opts.target.display}; run again when it ends`)
      }
    }
    const ts = await detectTimescale(db, opts.timescale ?? true, dryRun, note)
    if (!dryRun) {
      if (schema !== 'public') await db.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`)
      for (const sql of stateTablesSql(schema)) await db.query(sql)
    }
    duck = await openDuck()
    const byKind = new Map<Kind, { ds: DatasetId; manifest: Manifest }[]>()
    for (const d of all) byKind.set(d.ds.kind, [...(byKind.get(d.ds.kind) ?? []), d])

    const tables: TableReport[] = []
    const datasets: DatasetReport[] = []
    for (const [kind, list] of byKind) {
      const tk0 = performance.now()
      const finest = finestGranularity(list.map((d) => d.manifest.granularity))
      const table = await prepareTable(db, schema, kind, finest, ts.used, dryRun)
      tables.push(table)
      if (!dryRun) {
        await db.query(createStageSql(kind))
      }
      for (const { ds, manifest } of list) {
        const dr = await exportDataset(db, duck, work, {
          schema, ds, manifest, lakeDir: opts.lakeDir, since: opts.since, full: Boolean(opts.full), dryRun,
          batchRows: opts.batchRows ?? DEFAULT_BATCH_ROWS, progress,
        })
        datasets.push(dr)
        table.datasets++
        table.partitions += dr.partitions
        table.rowsCopied += dr.rowsCopied
        table.rowsInserted += dr.rowsInserted
      }
      // Staging rows are not needed past this kind; dropping them now spares the server a large temp table
      if (!dryRun) await db.query(`DROP TABLE IF EXISTS ${ident(stageTable(kind))}`)
      table.seconds = round3((performance.now() - tk0) / 1000)
      // A dry run copies nothing: a rate of rows it only counted would be invented
      table.rowsPerSecond = !dryRun && table.seconds > 0 ? Math.round(table.rowsCopied / table.seconds) : 0
    }
    const seconds = round3((performance.now() - t0) / 1000)
    const rowsCopied = tables.reduce((a, t) => a + t.rowsCopied, 0)
    return {
      target: opts.target.display,
      schema,
      dryRun,
      since: opts.since === undefined ? null : isoUs(opts.since),
      timescale: { installed: ts.installed, available: ts.available, used: ts.used },
      compression: tables.some((t) => t.compression),
      notes,
      tables,
      datasets,
      rowsCopied,
      rowsInserted: tables.reduce((a, t) => a + t.rowsInserted, 0),
      seconds,
      rowsPerSecond: !dryRun && seconds > 0 ? Math.round(rowsCopied / seconds) : 0,
    }
  } finally {
    duck?.close()
    await db.close()
    rmSync(work, { recursive: true, force: true })
  }
}

/** Whether TimescaleDB is installed in the database, available to install, and going to be used. */
async function detectTimescale(
  db: Pg,
  wanted: boolean,
  dryRun: boolean,
  note: (text: string) => void,
): Promise<{ installed: string | null; available: string | null; used: boolean }> {
  const r = await db.query<{ installed: string | null; available: string | null }>(
    `SELECT (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS installed,
            (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb') AS available`,
  )
  let { installed, available } = r.rows[0] ?? { installed: null, available: null }
  if (!wanted) {
    note('--no-timescale: plain PostgreSQL tables, compression off')
    return { installed, available, used: false }
  }
  if (!installed && available) {
    if (dryRun) {
      note(`TimescaleDB ${available} is available and would be installed (CREATE EXTENSION timescaledb)`)
      return { installed, available, used: true }
    }
    try {
      await db.query('CREATE EXTENSION IF NOT EXISTS timescaledb')
      installed = (await db.query<{ v: string }>(`SELECT extversion AS v FROM pg_extension WHERE extname = 'timescaledb'`)).rows[0]?.v ?? null
    } catch (err) {
      note(`TimescaleDB is available but CREATE EXTENSION failed (${(err as Error).message}); plain PostgreSQL tables, compression unavailable`)
      return { installed: null, available, used: false }
    }
  }
  if (!installed) {
    note('TimescaleDB is not available on this server: plain PostgreSQL tables with the same columns and indexes; compression unavailable')
    return { installed: null, available, used: false }
  }
  return { installed, available, used: true }
}

function finestGranularity(gs: readonly Granularity[]): Granularity {
  return gs.includes('date') ? 'date' : gs.includes('month') ? 'month' : 'year'
}

/** Creates the table of a kind (and makes it a compressed hypertable when TimescaleDB is used). */
async function prepareTable(db: Pg, schema: string, kind: Kind, g: Granularity, timescale: boolean, dryRun: boolean): Promise<TableReport> {
  const table = tableOf(kind)
  const report: TableReport = {
    table, kind, mode: 'plain', compression: false, datasets: 0, partitions: 0, rowsCopied: 0, rowsInserted: 0, seconds: 0, rowsPerSecond: 0,
  }
  const hyper = timescale ? await hypertableState(db, schema, table) : undefined
  if (dryRun) {
    report.mode = timescale || hyper ? 'hypertable' : 'plain'
    report.compression = timescale ? (hyper?.compression ?? true) : false
    return report
  }
  for (const sql of createTableSql(schema, kind)) await db.query(sql)
  if (timescale) {
    if (!hyper) for (const sql of hypertableSql(schema, kind, g)) await db.query(sql)
    if (!hyper?.compression) for (const sql of compressionSql(schema, kind, g)) await db.query(sql)
    report.mode = 'hypertable'
    report.compression = true
  }
  return report
}

/** Hypertable and compression state of a table; undefined when it is not a hypertable (or TimescaleDB is absent). */
async function hypertableState(db: Pg, schema: string, table: string): Promise<{ compression: boolean } | undefined> {
  const r = await db.query<{ compression_enabled: boolean }>(
    `SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_schema = $1 AND hypertable_name = $2`,
    [schema, table],
  ).catch(() => ({ rows: [] as { compression_enabled: boolean }[] }))
  return r.rows[0] ? { compression: Boolean(r.rows[0].compression_enabled) } : undefined
}

interface DatasetJob {
  readonly schema: string
  readonly ds: DatasetId
  readonly manifest: Manifest
  readonly lakeDir: string
  readonly since: number | undefined
  readonly full: boolean
  readonly dryRun: boolean
  readonly batchRows: number
  readonly progress: (line: string) => void
}

/** Plans, loads and verifies one dataset. */
async function exportDataset(db: Pg, duck: Duck, work: string, job: DatasetJob): Promise<DatasetReport> {
  const { ds, manifest, schema } = job
  const table = tableOf(ds.kind)
  const label = datasetLabel(ds)
  const interval = ds.interval ?? ''
  const recorded = await readRecorded(db, schema, table, ds)
  const state = await readWatermark(db, schema, table, ds)
  const g = manifest.granularity
  const timeCol = SCHEMAS[ds.kind].time
  const dir = datasetDir(job.lakeDir, ds)
  const report: DatasetReport = {
    table, exchange: ds.exchange, symbol: ds.symbol, interval: ds.interval ?? null, partitions: 0, partitionsSkipped: 0,
    rowsCopied: 0, rowsInserted: 0, watermark: state === undefined ? null : isoUs(state),
  }

  const plan: PartitionPlan[] = []
  for (const value of sortedPartitions(manifest)) {
    const info = manifest.partitions[value]
    if (job.since !== undefined && info.maxTime < job.since) continue
    const [startUs, endUs] = partitionBounds(g, value)
    const cut = job.since !== undefined && info.minTime < job.since
    const fingerprint = fingerprintOf(info)
    const rec = job.full ? undefined : recorded.get(value)
    const covered = rec !== undefined && (rec.sinceUs === null || (job.since !== undefined && rec.sinceUs <= job.since))
    if (rec && covered && rec.fingerprint === fingerprint) {
      report.partitionsSkipped++
      continue
    }
    const files = info.files.map((f) => join(dir, f))
    let afterUs: number | undefined
    // Grown only past its recorded end: every row up to that end is still there, so send just the newer ones
    if (rec && rec.sinceUs === null && !cut && info.maxTime > rec.maxTimeUs) {
      const older = await lakeCount(duck, files, `"${timeCol}" <= ${rec.maxTimeUs}`)
      if (older === rec.rows) afterUs = rec.maxTimeUs
    }
    plan.push({ value, info, files, startUs, endUs, fromUs: cut ? job.since : undefined, afterUs, fingerprint })
  }
  if (plan.length === 0) {
    job.progress(
      report.partitionsSkipped
        ? `${label}: up to date (${report.partitionsSkipped} partitions unchanged${report.watermark ? `, watermark ${report.watermark}` : ''})`
        : `${label}: nothing to export${job.since !== undefined ? ` from ${isoUs(job.since)} on` : ''}`,
    )
    return report
  }

  // Consecutive partitions up to batchRows lake rows each; a partition is never split
  const batches: PartitionPlan[][] = []
  let cur: PartitionPlan[] = []
  let curRows = 0
  for (const p of plan) {
    if (cur.length && curRows + p.info.rows > job.batchRows) {
      batches.push(cur)
      cur = []
      curRows = 0
    }
    cur.push(p)
    curRows += p.afterUs === undefined ? p.info.rows : Math.max(1, p.info.rows - (recorded.get(p.value)?.rows ?? 0))
  }
  if (cur.length) batches.push(cur)

  if (job.dryRun) {
    for (const batch of batches) {
      const toCopy = await rowsToCopy(duck, batch, timeCol)
      report.partitions += batch.length
      report.rowsCopied += toCopy
      job.progress(`${label}: would copy ${toCopy.toLocaleString('en-US')} rows of ${spanOf(batch)} (${batch.length} partitions)`)
    }
    return report
  }

  // DuckDB writes the next batch's CSV while PostgreSQL loads the current one (two processes, two cores)
  const prepare = async (i: number) => {
    const t = performance.now()
    const csv = join(work, `${ds.kind}-${i}.csv`)
    const lakeCounts = await lakePartitionCounts(duck, batches[i], timeCol, g)
    const written = await writeBatchCsv(duck, ds, batches[i], csv)
    return { csv, lakeCounts, written, ms: Math.round(performance.now() - t) }
  }
  let next: Promise<Awaited<ReturnType<typeof prepare>>> | undefined = prepare(0)
  try {
    for (let i = 0; i < batches.length; i++) {
      const batch = batches[i]
      const tb = performance.now()
      const span = spanOf(batch)
      const { csv, lakeCounts, written, ms: tCsv } = await (next as NonNullable<typeof next>)
      next = i + 1 < batches.length ? prepare(i + 1) : undefined
      // A failure of the current batch must not leave the prefetch's rejection unhandled
      next?.catch(() => undefined)
      const lap = stopwatch()
      const done = await inTransaction(db, async () => {
        const { copied, inserted, path } = written > 0 ? await load(db, schema, ds, batch, csv) : { copied: 0, inserted: 0, path: 'none' }
        if (copied !== written) {
          throw new FatalError(`COPY into ${table} sent ${copied} rows of ${label} ${span}, DuckDB wrote ${written}`)
        }
        const tLoad = lap()
        await verify(db, schema, ds, g, batch, lakeCounts, job.since)
        log.debug(`${label} ${span}: lake read + CSV ${tCsv} ms, load (${path}) ${tLoad} ms, verify ${lap()} ms`)
        const maxTime = Math.max(...batch.map((p) => p.info.maxTime))
        await db.query(upsertStateSql(schema), [table, ds.exchange, ds.symbol, interval, maxTime, inserted])
        for (const p of batch) {
          await db.query(upsertPartitionSql(schema), [
            table, ds.exchange, ds.symbol, interval, p.value, lakeCounts.get(p.value) ?? 0, p.info.maxTime, p.fromUs ?? null, p.fingerprint,
          ])
        }
        return { copied, inserted, maxTime }
      })
      rmSync(csv, { force: true })
      report.partitions += batch.length
      report.rowsCopied += done.copied
      report.rowsInserted += done.inserted
      const wm = Math.max(state ?? -Infinity, done.maxTime)
      report.watermark = isoUs(wm)
      const secs = (performance.now() - tb) / 1000
      job.progress(
        `${label}: ${span} (${batch.length} partition${batch.length > 1 ? 's' : ''}) ${done.copied.toLocaleString('en-US')} rows copied, ` +
          `${done.inserted.toLocaleString('en-US')} new, verified, ${secs.toFixed(1)} s (${Math.round(done.copied / Math.max(secs, 1e-6)).toLocaleString('en-US')} rows/s)`,
      )
    }
  } finally {
    // Let DuckDB finish before it is closed
    await next?.catch(() => undefined)
  }
  return report
}

function spanOf(batch: readonly PartitionPlan[]): string {
  return batch.length === 1 ? batch[0].value : `${batch[0].value}..${batch.at(-1)?.value}`
}

/**
 * Loads a batch's CSV: straight into the table when it holds no row of the dataset where the batch's rows fall
 * (the usual case: new partitions, rows past the watermark), else through the staging table, keeping only new keys.
 */
async function load(
  db: Pg,
  schema: string,
  ds: DatasetId,
  batch: readonly PartitionPlan[],
  csv: string,
): Promise<{ copied: number; inserted: number; path: 'direct' | 'staged' }> {
  const from = Math.min(...batch.map((p) => (p.afterUs !== undefined ? p.afterUs + 1 : (p.fromUs ?? p.startUs))))
  const to = Math.max(...batch.map((p) => p.endUs))
  const params: unknown[] = [ds.exchange, ds.symbol, isoUs(from), isoUs(to)]
  if (ds.interval) params.push(ds.interval)
  const occupied = (await db.query<{ found: boolean }>(rangeHasRowsSql(schema, ds.kind), params)).rows[0]?.found
  if (!occupied) {
    await db.query('SAVEPOINT mercury_direct')
    try {
      const copied = await db.copyFile(copySql(schema, ds.kind, 'table'), csv)
      await db.query('RELEASE SAVEPOINT mercury_direct')
      return { copied, inserted: copied, path: 'direct' }
    } catch (err) {
      // Another writer (not a mercury export: those hold the advisory lock) put rows there meanwhile
      if (!(err instanceof PgError) || err.code !== '23505') throw err
      await db.query('ROLLBACK TO SAVEPOINT mercury_direct')
    }
  }
  await db.query(`TRUNCATE ${ident(stageTable(ds.kind))}`)
  const copied = await db.copyFile(copySql(schema, ds.kind, 'stage'), csv)
  // Temp tables get no autovacuum statistics; the anti-join plan depends on the row count
  await db.query(`ANALYZE ${ident(stageTable(ds.kind))}`)
  await db.query('SAVEPOINT mercury_insert')
  try {
    const inserted = (await db.query(insertFromStageSql(schema, ds.kind))).rowCount
    await db.query('RELEASE SAVEPOINT mercury_insert')
    return { copied, inserted, path: 'staged' }
  } catch (err) {
    if (!(err instanceof PgError) || err.code !== '23505') throw err
    await db.query('ROLLBACK TO SAVEPOINT mercury_insert')
    return { copied, inserted: (await db.query(insertFromStageSql(schema, ds.kind, true))).rowCount, path: 'staged' }
  }
}

/** What each partition held when it was last exported (empty before the first export or in a fresh database). */
async function readRecorded(db: Pg, schema: string, table: string, ds: DatasetId): Promise<Map<string, Recorded>> {
  if (!(await exists(db, schema, PARTITIONS_TABLE))) return new Map()
  const r = await db.query<{ partition: string; rows: string; max_time_us: string; since_us: string | null; fingerprint: string }>(
    `SELECT partition, rows, max_time_us, since_us, fingerprint FROM ${qualified(schema, PARTITIONS_TABLE)}
     WHERE table_name = $1 AND exchange = $2 AND symbol = $3 AND "interval" = $4`,
    [table, ds.exchange, ds.symbol, ds.interval ?? ''],
  )
  return new Map(
    r.rows.map((x) => [
      x.partition,
      { rows: Number(x.rows), maxTimeUs: Number(x.max_time_us), sinceUs: x.since_us === null ? null : Number(x.since_us), fingerprint: x.fingerprint },
    ]),
  )
}

/** The dataset's watermark (last exported µs time), if it was exported before. */
async function readWatermark(db: Pg, schema: string, table: string, ds: DatasetId): Promise<number | undefined> {
  if (!(await exists(db, schema, STATE_TABLE))) return undefined
  const r = await db.query<{ w: string | null }>(
    `SELECT watermark_us AS w FROM ${qualified(schema, STATE_TABLE)} WHERE table_name = $1 AND exchange = $2 AND symbol = $3 AND "interval" = $4`,
    [table, ds.exchange, ds.symbol, ds.interval ?? ''],
  )
  const w = r.rows[0]?.w
  return w === null || w === undefined ? undefined : Number(w)
}

async function exists(db: Pg, schema: string, table: string): Promise<boolean> {
  const r = await db.query<{ e: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS e`, [qualified(schema, table)])
  return Boolean(r.rows[0]?.e)
}

/** Compares rows per partition in PostgreSQL with the lake's; a mismatch names the table and partition. */
async function verify(
  db: Pg,
  schema: string,
  ds: DatasetId,
  g: Granularity,
  batch: readonly PartitionPlan[],
  lakeCounts: ReadonlyMap<string, number>,
  since: number | undefined,
): Promise<void> {
  const from = Math.max(batch[0].startUs, since ?? -Infinity)
  const to = batch.at(-1)?.endUs ?? batch[0].endUs
  const params: unknown[] = [ds.exchange, ds.symbol, isoUs(from), isoUs(to)]
  if (ds.interval) params.push(ds.interval)
  const r = await db.query<{ partition: string; n: string }>(countByPartitionSql(schema, ds.kind, g), params)
  const inPg = new Map(r.rows.map((x) => [x.partition, Number(x.n)]))
  for (const p of batch) {
    const lake = lakeCounts.get(p.value) ?? 0
    const pg = inPg.get(p.value) ?? 0
    if (pg !== lake) {
      throw new FatalError(
        `Verification failed: table ${qualified(schema, tableOf(ds.kind))} partition ${p.value} of ${datasetLabel(ds)} holds ${pg} rows` +
          `${since !== undefined ? ` from ${isoUs(since)}` : ''}, the lake ${lake}; nothing of this batch was kept`,
      )
    }
  }
}

/** Rows per partition in the lake for a batch (from --since on), counted by DuckDB from the Parquet files. */
async function lakePartitionCounts(duck: Duck, batch: readonly PartitionPlan[], timeCol: string, g: Granularity): Promise<Map<string, number>> {
  const files = batch.flatMap((p) => p.files)
  const since = batch.find((p) => p.fromUs !== undefined)?.fromUs
  const where = since === undefined ? '' : `WHERE "${timeCol}" >= ${since}`
  const r = await duck.conn.runAndReadAll(
    `SELECT ${partitionExpr(g, `"${timeCol}"`)} AS p, count(*) AS n FROM ${parquet(files)} ${where} GROUP BY p`,
  )
  return new Map((r.getRowsJS() as [string, bigint][]).map(([p, n]) => [p, Number(n)]))
}

/** Rows a batch would send (dry run). */
async function rowsToCopy(duck: Duck, batch: readonly PartitionPlan[], timeCol: string): Promise<number> {
  let n = 0
  for (const p of batch) {
    const where = rowFilter(p, timeCol)
    n += where ? await lakeCount(duck, p.files, where) : p.info.rows
  }
  return n
}

async function lakeCount(duck: Duck, files: readonly string[], where: string): Promise<number> {
  const r = await duck.conn.runAndReadAll(`SELECT count(*) FROM ${parquet(files)} WHERE ${where}`)
  return Number((r.getRowsJS() as [bigint][])[0][0])
}

function rowFilter(p: PartitionPlan, timeCol: string): string {
  const where: string[] = []
  if (p.fromUs !== undefined) where.push(`"${timeCol}" >= ${p.fromUs}`)
  if (p.afterUs !== undefined) where.push(`"${timeCol}" > ${p.afterUs}`)
  return where.join(' AND ')
}

/** Writes a batch's rows as CSV in the staging table's column order; returns the rows written. */
async function writeBatchCsv(duck: Duck, ds: DatasetId, batch: readonly PartitionPlan[], file: string): Promise<number> {
  const timeCol = SCHEMAS[ds.kind].time
  const identity: Record<string, string> = { exchange: ds.exchange, symbol: ds.symbol, interval: ds.interval ?? '' }
  // `time` as exact µs text with an explicit UTC offset, so PostgreSQL's session time zone cannot shift it
  const select = loadColumns(ds.kind)
    .map((c) =>
      c === 'time'
        ? `strftime(make_timestamp(CAST("${timeCol}" AS BIGINT)), '%Y-%m-%d %H:%M:%S.%f+00') AS "time"`
        : c in identity
          ? `${sqlString(identity[c])} AS "${c}"`
          : `"${c}"`,
    )
    .join(', ')
  // Whole partitions share one scan; filtered ones (cut by --since, or grown) get their own
  const whole = batch.filter((p) => !rowFilter(p, timeCol))
  const parts: string[] = []
  if (whole.length) parts.push(`SELECT ${select} FROM ${parquet(whole.flatMap((p) => p.files))}`)
  for (const p of batch.filter((x) => rowFilter(x, timeCol))) {
    parts.push(`SELECT ${select} FROM ${parquet(p.files)} WHERE ${rowFilter(p, timeCol)}`)
  }
  const r = await duck.conn.runAndReadAll(`COPY (${parts.join(' UNION ALL ')}) TO ${sqlString(file)} (FORMAT csv, HEADER false)`)
  return Number((r.getRowsJS() as [bigint][])[0][0])
}

function parquet(files: readonly string[]): string {
  return `read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = false)`
}

/** A partition's identity as the manifest describes it: any rewrite changes its file names. */
function fingerprintOf(p: PartitionInfo): string {
  return createHash('sha1').update(JSON.stringify([p.files, p.rows, p.minTime, p.maxTime])).digest('hex').slice(0, 16)
}

/** Start and end (exclusive) in µs of a partition value: `2024-01-31`, `2024-01` or `2024`. */
export function partitionBounds(g: Granularity, value: string): [number, number] {
  const [y, m = 1, d = 1] = value.split('-').map(Number)
  const start = Date.UTC(y, m - 1, d)
  const end = g === 'date' ? Date.UTC(y, m - 1, d + 1) : g === 'month' ? Date.UTC(y, m, 1) : Date.UTC(y + 1, 0, 1)
  if (!Number.isFinite(start) || !Number.isFinite(end)) throw new FatalError(`Lake partition '${value}' is not a ${g}`)
  return [start * 1000, end * 1000]
}

/** Milliseconds since the previous call (or since creation). */
function stopwatch(): () => number {
  let last = performance.now()
  return () => {
    const now = performance.now()
    const ms = Math.round(now - last)
    last = now
    return ms
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000
}
