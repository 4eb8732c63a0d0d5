// PostgreSQL DDL and DML for the export, as pure functions of the lake schema so they can be checked without a
// server (TimescaleDB is not packaged in Debian, so its statements are tested as text)

import { hasInterval, type Kind } from '../consts.js'
import { UsageError } from '../errors.js'
import { SCHEMAS, type ColumnType, type Granularity } from '../lake/schema.js'

/** Tables that hold the export's own bookkeeping, beside the data tables. */
export const STATE_TABLE = 'mercury_export_state'
export const PARTITIONS_TABLE = 'mercury_export_partitions'

const PG_TYPES: Record<ColumnType, string> = {
  BIGINT: 'bigint',
  DOUBLE: 'double precision',
  VARCHAR: 'text',
  BOOLEAN: 'boolean',
  INTEGER: 'integer',
}

/** Quotes an identifier for PostgreSQL. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

/** Quotes a string literal for PostgreSQL. */
export function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`
}

/** Validates a schema name given on the command line. */
export function parseSchemaName(text: string, flag = '--schema'): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(text)) {
    throw new UsageError(`Invalid ${flag}: '${text}'. Expected a PostgreSQL identifier such as public or market`)
  }
  return text
}

/** Fully qualified, quoted table name. */
export function qualified(schema: string, table: string): string {
  return `${ident(schema)}.${ident(table)}`
}

/** Table name of a kind: the kind itself (`bars`, `trades`, ...). */
export function tableOf(kind: Kind): string {
  return kind
}

/** Identity columns of a kind: exchange, symbol and, for bars and signals, interval. */
export function identityColumns(kind: Kind): string[] {
  return hasInterval(kind) ? ['exchange', 'symbol', 'interval'] : ['exchange', 'symbol']
}

/** Columns taken from the lake besides `time`: identity, then the lake's stored columns. */
export function lakeColumns(kind: Kind): string[] {
  return [...identityColumns(kind), ...SCHEMAS[kind].columns.map((c) => c.name)]
}

/** Columns of the CSV, the staging table and the table, in that order: `time`, identity, the lake's columns. */
export function loadColumns(kind: Kind): string[] {
  return ['time', ...lakeColumns(kind)]
}

/** Columns of the exported table, in table order: `time`, identity, then the lake's columns. */
export function tableColumns(kind: Kind): { name: string; type: string; notNull: boolean }[] {
  const schema = SCHEMAS[kind]
  const key = new Set(schema.key)
  return [
    { name: 'time', type: 'timestamptz', notNull: true },
    ...identityColumns(kind).map((name) => ({ name, type: 'text', notNull: true })),
    ...schema.columns.map((c) => ({ name: c.name, type: PG_TYPES[c.type], notNull: key.has(c.name) || c.name === schema.time })),
  ]
}

/**
 * Primary key: identity, `time`, then the lake's natural key. TimescaleDB requires the partitioning column in
 * every unique index; `time` is derived from the µs time column, so it changes no uniqueness, and placed before
 * the natural key it lets the one index serve range reads per instrument and the per-partition counts too.
 */
export function primaryKey(kind: Kind): string[] {
  return [...identityColumns(kind), 'time', ...SCHEMAS[kind].key]
}

/** CREATE TABLE and index statements for a kind (idempotent). */
export function createTableSql(schema: string, kind: Kind): string[] {
  const table = tableOf(kind)
  const cols = tableColumns(kind).map((c) => `  ${ident(c.name)} ${c.type}${c.notNull ? ' NOT NULL' : ''}`)
  const pk = primaryKey(kind).map(ident).join(', ')
  return [
    `CREATE TABLE IF NOT EXISTS ${qualified(schema, table)} (\n${cols.join(',\n')},\n  CONSTRAINT ${ident(`${table}_pkey`)} PRIMARY KEY (${pk})\n)`,
    // Time ranges across instruments; a block-range index costs next to nothing on append-mostly rows
    `CREATE INDEX IF NOT EXISTS ${ident(`${table}_time_brin`)} ON ${qualified(schema, table)} USING brin ("time")`,
  ]
}

/** Chunk span and compression delay per lake granularity: a day of trades, a week of minute bars, a quarter of hourly ones. */
export function chunkPolicy(g: Granularity): { chunk: string; compressAfter: string } {
  if (g === 'date') return { chunk: '1 day', compressAfter: '7 days' }
  if (g === 'month') return { chunk: '7 days', compressAfter: '30 days' }
  return { chunk: '90 days', compressAfter: '180 days' }
}

/** The granularity of a kind when no dataset says otherwise (bars: by their finest interval). */
export function defaultGranularity(kind: Kind): Granularity {
  return hasInterval(kind) ? 'month' : 'date'
}

/**
 * TimescaleDB statements that turn the table into a hypertable on `time` with compression segmented by
 * instrument (and interval) and a compression policy. `migrate_data` lets an existing plain table be converted.
 */
export function hypertableSql(schema: string, kind: Kind, g: Granularity = defaultGranularity(kind)): string[] {
  const rel = literal(qualified(schema, tableOf(kind)))
  const { chunk } = chunkPolicy(g)
  return [
    `SELECT create_hypertable(${rel}, 'time', chunk_time_interval => INTERVAL ${literal(chunk)}, ` +
      `if_not_exists => TRUE, create_default_indexes => FALSE, migrate_data => TRUE)`,
  ]
}

/** Compression settings and policy of a hypertable. */
export function compressionSql(schema: string, kind: Kind, g: Granularity = defaultGranularity(kind)): string[] {
  const table = qualified(schema, tableOf(kind))
  const segmentBy = identityColumns(kind).map(ident).join(', ')
  const { compressAfter } = chunkPolicy(g)
  return [
    `ALTER TABLE ${table} SET (timescaledb.compress, timescaledb.compress_segmentby = ${literal(segmentBy)}, ` +
      `timescaledb.compress_orderby = '"time" DESC')`,
    `SELECT add_compression_policy(${literal(table)}, compress_after => INTERVAL ${literal(compressAfter)}, if_not_exists => TRUE)`,
  ]
}

/** The export's bookkeeping tables: a watermark per table and dataset, and what each lake partition held when exported. */
export function stateTablesSql(schema: string): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${qualified(schema, STATE_TABLE)} (
  table_name text NOT NULL,
  exchange text NOT NULL,
  symbol text NOT NULL,
  "interval" text NOT NULL DEFAULT '',
  watermark_us bigint,
  watermark timestamptz,
  rows_exported bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (table_name, exchange, symbol, "interval")
)`,
    `CREATE TABLE IF NOT EXISTS ${qualified(schema, PARTITIONS_TABLE)} (
  table_name text NOT NULL,
  exchange text NOT NULL,
  symbol text NOT NULL,
  "interval" text NOT NULL DEFAULT '',
  partition text NOT NULL,
  rows bigint NOT NULL,
  max_time_us bigint NOT NULL,
  since_us bigint,
  fingerprint text NOT NULL,
  exported_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (table_name, exchange, symbol, "interval", partition)
)`,
  ]
}

/** Name of the session's staging table for a kind. */
export function stageTable(kind: Kind): string {
  return `_mercury_stage_${kind}`
}

/** Temp staging table: the table's columns without constraints, gone with the session. */
export function createStageSql(kind: Kind): string {
  const cols = tableColumns(kind).map((c) => `${ident(c.name)} ${c.type}`)
  return `CREATE TEMP TABLE IF NOT EXISTS ${ident(stageTable(kind))} (${cols.join(', ')})`
}

/**
 * COPY statement streaming the CSV into the staging table, or straight into the table when it holds no row in
 * the batch's range (nothing can collide there, and it saves the second write).
 */
export function copySql(schema: string, kind: Kind, into: 'stage' | 'table'): string {
  const rel = into === 'stage' ? ident(stageTable(kind)) : qualified(schema, tableOf(kind))
  return `COPY ${rel} (${loadColumns(kind).map(ident).join(', ')}) FROM STDIN WITH (FORMAT csv)`
}

/**
 * Whether the table holds a row of one dataset in a time range; parameters $1 exchange, $2 symbol, $3 from,
 * $4 to (timestamptz, to exclusive) and $5 interval for bars and signals. The primary key answers it.
 */
export function rangeHasRowsSql(schema: string, kind: Kind): string {
  const where = [`exchange = $1`, `symbol = $2`, `"time" >= $3::timestamptz`, `"time" < $4::timestamptz`]
  if (hasInterval(kind)) where.push(`"interval" = $5`)
  return `SELECT EXISTS (SELECT 1 FROM ${qualified(schema, tableOf(kind))} WHERE ${where.join(' AND ')}) AS found`
}

/**
 * Moves the staged rows into the table, skipping rows whose key is already there, so a re-export adds nothing.
 * An anti-join is about 1.7 times as fast as ON CONFLICT's speculative insertion (a year of 1m bars into an empty
 * table: about 2.3 s against 4 s); the export holds an advisory lock, and `onConflict` is the fallback should
 * another writer race it.
 */
export function insertFromStageSql(schema: string, kind: Kind, onConflict = false): string {
  const cols = loadColumns(kind)
  const table = qualified(schema, tableOf(kind))
  const head = `INSERT INTO ${table} (${cols.map(ident).join(', ')}) SELECT ${cols.map((c) => `s.${ident(c)}`).join(', ')} FROM ${ident(stageTable(kind))} s`
  if (onConflict) return `${head} ON CONFLICT DO NOTHING`
  const match = primaryKey(kind).map((c) => `t.${ident(c)} = s.${ident(c)}`).join(' AND ')
  return `${head} WHERE NOT EXISTS (SELECT 1 FROM ${table} t WHERE ${match})`
}

/** to_char pattern producing the lake's partition value from `time`. */
export function partitionPattern(g: Granularity): string {
  return g === 'date' ? 'YYYY-MM-DD' : g === 'month' ? 'YYYY-MM' : 'YYYY'
}

/**
 * Row counts per lake partition of one dataset between two instants; parameters $1 exchange, $2 symbol,
 * $3 from, $4 to (timestamptz, to exclusive) and $5 interval for bars and signals.
 */
export function countByPartitionSql(schema: string, kind: Kind, g: Granularity): string {
  const where = [`exchange = $1`, `symbol = $2`, `"time" >= $3::timestamptz`, `"time" < $4::timestamptz`]
  if (hasInterval(kind)) where.push(`"interval" = $5`)
  return (
    `SELECT to_char("time" AT TIME ZONE 'UTC', ${literal(partitionPattern(g))}) AS partition, count(*)::bigint AS n ` +
    `FROM ${qualified(schema, tableOf(kind))} WHERE ${where.join(' AND ')} GROUP BY 1`
  )
}

/** Records the watermark of a dataset: it only moves forward. */
export function upsertStateSql(schema: string): string {
  const t = qualified(schema, STATE_TABLE)
  return (
    `INSERT INTO ${t} AS s (table_name, exchange, symbol, "interval", watermark_us, watermark, rows_exported, updated_at) ` +
    `VALUES ($1, $2, $3, $4, $5::bigint, TIMESTAMPTZ 'epoch' + $5::bigint * INTERVAL '1 microsecond', $6, now()) ` +
    `ON CONFLICT (table_name, exchange, symbol, "interval") DO UPDATE SET ` +
    `watermark_us = GREATEST(s.watermark_us, EXCLUDED.watermark_us), ` +
    `watermark = GREATEST(s.watermark, EXCLUDED.watermark), ` +
    `rows_exported = s.rows_exported + EXCLUDED.rows_exported, updated_at = now()`
  )
}

/** Records what one lake partition held when it was exported. */
export function upsertPartitionSql(schema: string): string {
  const t = qualified(schema, PARTITIONS_TABLE)
  return (
    `INSERT INTO ${t} (table_name, exchange, symbol, "interval", partition, rows, max_time_us, since_us, fingerprint, exported_at) ` +
    `VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now()) ` +
    `ON CONFLICT (table_name, exchange, symbol, "interval", partition) DO UPDATE SET ` +
    `rows = EXCLUDED.rows, max_time_us = EXCLUDED.max_time_us, since_us = EXCLUDED.since_us, ` +
    `fingerprint = EXCLUDED.fingerprint, exported_at = now()`
  )
}
