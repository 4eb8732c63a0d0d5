import { describe, expect, it } from 'vitest'
import { KINDS } from '../../src/lib/consts.js'
import { UsageError } from '../../src/lib/errors.js'
import {
  compressionSql,
  copySql,
  countByPartitionSql,
  createStageSql,
  createTableSql,
  hypertableSql,
  insertFromStageSql,
  parseSchemaName,
  primaryKey,
  rangeHasRowsSql,
  stateTablesSql,
  tableColumns,
} from '../../src/lib/export/sql.js'
import { partitionBounds } from '../../src/lib/export/timescale.js'
import { parsePgUrl, redact } from '../../src/lib/export/url.js'
import { SCHEMAS } from '../../src/lib/lake/schema.js'
import { freshDatabase, session } from './pg.js'

describe('export SQL (TimescaleDB is not packaged in Debian, so its statements are checked here as text)', () => {
  it('makes a hypertable on time, segmented by instrument (and interval), with a compression policy', () => {
    expect(hypertableSql('public', 'bars', 'month')).toEqual([
      `SELECT create_hypertable('"public"."bars"', 'time', chunk_time_interval => INTERVAL '7 days', ` +
        `if_not_exists => TRUE, create_default_indexes => FALSE, migrate_data => TRUE)`,
    ])
    expect(compressionSql('public', 'bars', 'month')).toEqual([
      `ALTER TABLE "public"."bars" SET (timescaledb.compress, timescaledb.compress_segmentby = '"exchange", "symbol", "interval"', ` +
        `timescaledb.compress_orderby = '"time" DESC')`,
      `SELECT add_compression_policy('"public"."bars"', compress_after => INTERVAL '30 days', if_not_exists => TRUE)`,
    ])
    expect(hypertableSql('market', 'trades', 'date')[0]).toContain(`create_hypertable('"market"."trades"', 'time', chunk_time_interval => INTERVAL '1 day'`)
    const trades = compressionSql('market', 'trades', 'date')
    expect(trades[0]).toContain(`timescaledb.compress_segmentby = '"exchange", "symbol"',`)
    expect(trades[1]).toBe(`SELECT add_compression_policy('"market"."trades"', compress_after => INTERVAL '7 days', if_not_exists => TRUE)`)
    expect(hypertableSql('public', 'bars', 'year')[0]).toContain(`INTERVAL '90 days'`)
  })

  it('keys every table on identity + time + natural key, and loads time, identity and the lake columns in one order', () => {
    expect(primaryKey('bars')).toEqual(['exchange', 'symbol', 'interval', 'time', 'open_time'])
    expect(primaryKey('trades')).toEqual(['exchange', 'symbol', 'time', 'id'])
    expect(primaryKey('book_changes')).toEqual(['exchange', 'symbol', 'time', 'local_timestamp', 'last_update_id', 'side', 'price', 'is_snapshot'])
    for (const kind of KINDS) {
      const cols = tableColumns(kind).map((c) => c.name)
      expect(cols.slice(0, 3)).toEqual(['time', 'exchange', 'symbol'])
      expect(cols).toEqual(expect.arrayContaining(SCHEMAS[kind].columns.map((c) => c.name)))
      expect(insertFromStageSql('public', kind)).toMatch(/SELECT s\."time", s\."exchange", s\."symbol"/)
      expect(insertFromStageSql('public', kind)).toMatch(
        new RegExp(`WHERE NOT EXISTS \\(SELECT 1 FROM "public"\\."${kind}" t WHERE t\\."exchange" = s\\."exchange" AND t\\."symbol" = s\\."symbol" .*AND t\\."time" = s\\."time"`),
      )
      expect(copySql('public', kind, 'table')).toMatch(new RegExp(`^COPY "public"\\."${kind}" \\("time", "exchange", "symbol", .*\\) FROM STDIN WITH \\(FORMAT csv\\)$`))
      expect(insertFromStageSql('public', kind, true)).toMatch(/ ON CONFLICT DO NOTHING$/)
    }
    expect(createTableSql('public', 'bars')[0]).toContain('CONSTRAINT "bars_pkey" PRIMARY KEY ("exchange", "symbol", "interval", "time", "open_time")')
    expect(createTableSql('public', 'bars')[1]).toBe('CREATE INDEX IF NOT EXISTS "bars_time_brin" ON "public"."bars" USING brin ("time")')
    expect(countByPartitionSql('public', 'bars', 'month')).toContain(`to_char("time" AT TIME ZONE 'UTC', 'YYYY-MM')`)
  })

  it('runs every generated plain statement on a real PostgreSQL, and the TimescaleDB calls against their signatures', async () => {
    const s = await session(await freshDatabase())
    const sql = s.q
    try {
      for (const kind of KINDS) {
        // Twice: every statement is idempotent
        for (const stmt of [...createTableSql('public', kind), ...createTableSql('public', kind), createStageSql(kind), createStageSql(kind)]) {
          await sql(stmt)
        }
        for (const onConflict of [false, true]) await sql(insertFromStageSql('public', kind, onConflict))
        const params = (_: string, n: string) => (n === '3' || n === '4' ? `'2024-01-01'` : `'x'`)
        expect(await sql(rangeHasRowsSql('public', kind).replace(/\$(\d)/g, params))).toEqual([{ found: false }])
      }
      for (const stmt of [...stateTablesSql('public'), ...stateTablesSql('public')]) await sql(stmt)
      // Stand-ins with the argument names and order of TimescaleDB 2.x (create_hypertable in its pre-2.13 form, still
      // accepted; compress_after is "any" there, which only C functions may take)
      await sql(`CREATE TABLE calls (f text, args text)`)
      await sql(`CREATE FUNCTION create_hypertable(relation regclass, time_column_name name, partitioning_column name = NULL,
        number_partitions integer = NULL, associated_schema_name name = NULL, associated_table_prefix name = NULL,
        chunk_time_interval anyelement = NULL::bigint, create_default_indexes boolean = TRUE, if_not_exists boolean = FALSE,
        partitioning_func regproc = NULL, migrate_data boolean = FALSE) RETURNS void LANGUAGE sql AS
        $$ INSERT INTO calls VALUES ('create_hypertable', concat_ws(' ', relation, time_column_name, chunk_time_interval, create_default_indexes, if_not_exists, migrate_data)) $$`)
      await sql(`CREATE FUNCTION add_compression_policy(hypertable regclass, compress_after anyelement = NULL::interval, if_not_exists boolean = FALSE,
        schedule_interval interval = NULL) RETURNS integer LANGUAGE plpgsql AS
        $$ BEGIN INSERT INTO calls VALUES ('add_compression_policy', concat_ws(' ', hypertable, if_not_exists)); RETURN 1; END $$`)
      await sql(hypertableSql('public', 'bars', 'month')[0])
      const [alter, policy] = compressionSql('public', 'bars', 'month')
      await sql(policy)
      expect(await sql('SELECT * FROM calls')).toEqual([
        { f: 'create_hypertable', args: 'bars time 7 days f t t' },
        { f: 'add_compression_policy', args: 'bars t' },
      ])
      // Plain PostgreSQL parses the compression settings and stops only at the unknown option namespace
      await expect(sql(alter)).rejects.toThrow(/unrecognized parameter namespace "timescaledb"/)
    } finally {
      await s.end()
    }
  })

  it('partition bounds match the lake partitions', () => {
    expect(partitionBounds('date', '2024-02-29')).toEqual([Date.UTC(2024, 1, 29) * 1000, Date.UTC(2024, 2, 1) * 1000])
    expect(partitionBounds('month', '2024-12')).toEqual([Date.UTC(2024, 11, 1) * 1000, Date.UTC(2025, 0, 1) * 1000])
    expect(partitionBounds('year', '2024')).toEqual([Date.UTC(2024, 0, 1) * 1000, Date.UTC(2025, 0, 1) * 1000])
  })

  it('validates schema names', () => {
    expect(parseSchemaName('market_1')).toBe('market_1')
    expect(() => parseSchemaName('a;b')).toThrow(UsageError)
  })
})

describe('PostgreSQL URLs never show a password', () => {
  it('masks the password in the URL, URL-encoded forms, ?password= and PGPASSWORD', () => {
    const t = parsePgUrl('postgres://alice:p%40ss%2Fw0rd@db.internal:6543/market?sslmode=require', '--pg', {})
    expect(t.display).toBe('postgres://alice:***@db.internal:6543/market?sslmode=require')
    expect(t).toMatchObject({ host: 'db.internal', port: 6543, database: 'market', user: 'alice' })
    expect(redact('auth failed for p@ss/w0rd and p%40ss%2Fw0rd', t)).toBe('auth failed for *** and ***')
    const q = parsePgUrl('postgresql://bob@localhost/db?password=hunter2', '--pg', {})
    expect(q.display).not.toContain('hunter2')
    expect(redact('bad hunter2', q)).toBe('bad ***')
    const env = parsePgUrl('postgres://carol@localhost/db', '--pg', { PGPASSWORD: 'from-env' })
    expect(redact('x from-env y', env)).toBe('x *** y')
    expect(redact('see postgres://u:zzz@h/db', undefined)).toBe('see postgres://u:***@h/db')
  })

  it('rejects other schemes and missing databases without echoing the password', () => {
    for (const bad of ['mysql://u:topsecret@h/db', 'u:topsecret@h/db', 'postgres://u:topsecret@h', 'not a url']) {
      let err: unknown
      try {
        parsePgUrl(bad, '--pg', {})
      } catch (e) {
        err = e
      }
      expect(err, bad).toBeInstanceOf(UsageError)
      expect((err as Error).message).toMatch(/^Invalid --pg: /)
      expect((err as Error).message).not.toContain('topsecret')
    }
  })
})
