import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { LakeReader } from '../../src/lib/lake/reader.js'
import { DATASETS, KLINES, OUTAGE, cli, cliJson, tempDir } from '../helpers.js'
import { freshDatabase, sql, withPassword } from './pg.js'

const DATASET_GLOB = join(DATASETS, '**', '*.zip')
const SAMPLE = { bars: 89_280, trades: 19_904 }
const NO_ENV = { MERCURY_PG_URL: '', PGPASSWORD: '' }
/** Error lines on stderr; progress lines start with `export:` */
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('mercury:'))

interface Report {
  dryRun: boolean
  compression: boolean
  notes: string[]
  timescale: { used: boolean }
  tables: { table: string; mode: string; compression: boolean; rowsCopied: number; rowsInserted: number; rowsPerSecond: number }[]
  datasets: { table: string; partitions: number; partitionsSkipped: number; rowsCopied: number; rowsInserted: number; watermark: string | null }[]
  rowsCopied: number
  rowsInserted: number
  seconds: number
  rowsPerSecond: number
}

function exportTo(lake: string, db: string, args: string[] = []): { report: Report; stderr: string } {
  const r = cli(['export', 'timescale', '--pg', db, ...args, '--json'], lake, NO_ENV)
  if (r.code !== 0) throw new Error(`mercury export exited ${r.code}: ${r.stderr}`)
  return { report: JSON.parse(r.stdout) as Report, stderr: r.stderr }
}

function sampleLake(): string {
  const lake = tempDir()
  expect(cli(['backfill', '--archive', DATASET_GLOB], lake).code).toBe(0)
  return lake
}

/** A lake holding the given lines of the real March 2023 1m file (44,560 rows around the 2023-03-24 outage). */
function outageLake(lake: string, keep: (i: number) => boolean): void {
  const lines = gunzipSync(readFileSync(OUTAGE)).toString('utf8').trim().split('\n')
  const file = join(tempDir(), 'BTCUSDT-1m-2023-03.csv')
  writeFileSync(file, lines.filter((_, i) => keep(i)).join('\n') + '\n')
  expect(cli(['backfill', '--archive', file], lake).code).toBe(0)
}

const PATTERN = { bars: ['%Y-%m', 'YYYY-MM'], trades: ['%Y-%m-%d', 'YYYY-MM-DD'] } as const

/** Rows per lake partition, counted by DuckDB, and by PostgreSQL in the exported table. */
async function countsBoth(lake: string, db: string, kind: 'bars' | 'trades', since?: string) {
  const [duckFmt, pgFmt] = PATTERN[kind]
  const lakeRows = cliJson<{ p: string; n: number }[]>(
    ['data', 'query', `SELECT strftime(time, '${duckFmt}') p, count(*) n FROM ${kind} ${since ? `WHERE time >= '${since}'` : ''} GROUP BY p ORDER BY p`],
    lake,
  )
  const pgRows = await sql<{ p: string; n: string }>(
    db,
    `SELECT to_char(time AT TIME ZONE 'UTC', '${pgFmt}') p, count(*) n FROM ${kind} GROUP BY p ORDER BY p`,
  )
  return { lake: lakeRows, pg: pgRows.map((r) => ({ p: r.p, n: Number(r.n) })) }
}

async function total(db: string, table: string): Promise<number> {
  return Number((await sql<{ n: string }>(db, `SELECT count(*) n FROM ${table}`))[0].n)
}

describe('mercury export timescale (against a real PostgreSQL)', () => {
  it('exports the shipped sample: exactly the lake rows per table and partition, same sums and values; again adds nothing', async () => {
    const lake = sampleLake()
    const db = await freshDatabase()
    const { report, stderr } = exportTo(lake, db)
    expect(report.tables).toEqual([
      expect.objectContaining({ table: 'bars', mode: 'plain', compression: false, rowsCopied: SAMPLE.bars, rowsInserted: SAMPLE.bars }),
      expect.objectContaining({ table: 'trades', mode: 'plain', compression: false, rowsCopied: SAMPLE.trades, rowsInserted: SAMPLE.trades }),
    ])
    expect(report).toMatchObject({ compression: false, dryRun: false, rowsInserted: SAMPLE.bars + SAMPLE.trades, timescale: { used: false } })
    expect(report.rowsPerSecond).toBeGreaterThan(0)
    expect(report.notes.join('\n')).toMatch(/TimescaleDB is not available on this server: plain PostgreSQL tables .*compression unavailable/)
    // Progress and the note go to stderr; nothing there is an error line
    expect(stderr).toMatch(/^export: note: TimescaleDB is not available/m)
    expect(stderr).toMatch(/^export: binance:BTCUSDT bars 1m: 2024-11\.\.2025-01 \(3 partitions\) 89,280 rows copied, 89,280 new, verified/m)
    expect(errorLines(stderr)).toEqual([])

    for (const kind of ['bars', 'trades'] as const) {
      const c = await countsBoth(lake, db, kind)
      expect(c.pg).toEqual(c.lake)
    }
    expect((await countsBoth(lake, db, 'bars')).pg.map((x) => x.p)).toEqual(['2024-11', '2024-12', '2025-01'])

    // Sums of a numeric column match DuckDB's, and every value is the same double
    const lakeSum = cliJson<{ v: number; a: number }[]>(['data', 'query', 'SELECT (SELECT sum(volume) FROM bars) v, (SELECT sum(amount) FROM trades) a'], lake)[0]
    const pgSum = (await sql<{ v: number; a: number }>(db, 'SELECT (SELECT sum(volume) FROM bars) v, (SELECT sum(amount) FROM trades) a'))[0]
    expect(pgSum.v).toBeCloseTo(lakeSum.v, 6)
    expect(pgSum.a).toBeCloseTo(lakeSum.a, 9)
    const reader = await LakeReader.open(lake)
    try {
      const rows = async (q: string) => (await reader.query(q)).rows.map((r) => r.map((v) => (typeof v === 'bigint' ? Number(v) : v)))
      const pgRows = async (q: string) => (await sql(db, q)).map((r) => Object.values(r).map((v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v)))
      const barsQ = 'SELECT open_time, volume, close, quote_volume FROM bars ORDER BY open_time'
      expect(await pgRows(barsQ)).toEqual(await rows(barsQ))
      const tradesQ = 'SELECT id, "timestamp", price, amount, side FROM trades ORDER BY id'
      expect(await pgRows(tradesQ)).toEqual(await rows(tradesQ))
    } finally {
      reader.close()
    }

    // `time` is the µs column as timestamptz, exactly
    const off = await sql<{ n: string }>(
      db,
      `SELECT (SELECT count(*) FROM bars WHERE (extract(epoch FROM time) * 1000000)::bigint <> open_time)
            + (SELECT count(*) FROM trades WHERE (extract(epoch FROM time) * 1000000)::bigint <> "timestamp") n`,
    )
    expect(Number(off[0].n)).toBe(0)
    const idx = await sql<{ indexname: string; indexdef: string }>(db, `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'bars' ORDER BY 1`)
    expect(idx.map((i) => i.indexname)).toEqual(['bars_pkey', 'bars_time_brin'])
    expect(idx[0].indexdef).toContain('(exchange, symbol, "interval", "time", open_time)')
    const state = await sql<{ table_name: string; watermark: Date; rows_exported: string }>(
      db, 'SELECT table_name, watermark, rows_exported FROM mercury_export_state ORDER BY 1',
    )
    expect(state.map((s) => [s.table_name, s.watermark.toISOString(), Number(s.rows_exported)])).toEqual([
      ['bars', '2025-01-01T23:59:00.000Z', SAMPLE.bars],
      ['trades', '2024-08-09T00:05:05.800Z', SAMPLE.trades],
    ])

    // Again: every partition is unchanged, so nothing is sent
    const again = exportTo(lake, db).report
    expect(again).toMatchObject({ rowsCopied: 0, rowsInserted: 0 })
    expect(again.datasets.map((d) => d.partitionsSkipped)).toEqual([3, 2])
    expect(again.datasets[0].watermark).toBe('2025-01-01T23:59:00Z')
    // --full sends everything again; the primary key skips every row
    const full = exportTo(lake, db, ['--full']).report
    expect(full).toMatchObject({ rowsCopied: SAMPLE.bars + SAMPLE.trades, rowsInserted: 0 })
    expect(await total(db, 'bars')).toBe(SAMPLE.bars)
    expect(await total(db, 'trades')).toBe(SAMPLE.trades)
  }, 120_000)

  it('--since limits the range; a later export without it adds exactly the rest', async () => {
    const lake = sampleLake()
    const db = await freshDatabase()
    const { report: first, stderr } = exportTo(lake, db, ['--since', '2024-12-15T12:00'])
    const c = await countsBoth(lake, db, 'bars', '2024-12-15 12:00')
    expect(c.pg).toEqual(c.lake)
    expect(c.pg.map((x) => x.p)).toEqual(['2024-12', '2025-01'])
    const expected = c.lake.reduce((a, x) => a + x.n, 0)
    // 2024-12-15 12:00 to the end of December, and 2025-01-01
    expect(expected).toBe(16 * 1440 + 720 + 1440)
    expect(first.rowsInserted).toBe(expected)
    expect(await total(db, 'trades')).toBe(0)
    expect(stderr).toMatch(/^export: binance:BTCUSDT trades: nothing to export from 2024-12-15T12:00:00Z on$/m)
    const min = await sql<{ t: Date }>(db, 'SELECT min(time) t FROM bars')
    expect(min[0].t.toISOString()).toBe('2024-12-15T12:00:00.000Z')

    // A later --since inside what was exported sends nothing; none sends the rest (the cut month again, whole)
    expect(exportTo(lake, db, ['--since', '2024-12-20']).report.rowsCopied).toBe(0)
    const rest = exportTo(lake, db).report
    expect(rest.rowsInserted).toBe(SAMPLE.bars + SAMPLE.trades - expected)
    for (const kind of ['bars', 'trades'] as const) {
      const all = await countsBoth(lake, db, kind)
      expect(all.pg).toEqual(all.lake)
    }
    expect(exportTo(lake, db).report.rowsCopied).toBe(0)
  }, 120_000)

  it('sends only what changed: rows after the watermark, a whole partition when a gap was filled, new partitions', async () => {
    const lake = tempDir()
    const db = await freshDatabase()
    outageLake(lake, (i) => i < 20_000)
    const first = exportTo(lake, db, ['--log-level', 'debug'])
    expect(first.report).toMatchObject({ rowsCopied: 20_000, rowsInserted: 20_000 })
    // Nothing of the dataset in the batch's range yet: COPY goes straight into the table
    expect(first.stderr).toMatch(/^mercury:export debug: binance:BTCUSDT bars 1m 2023-03: .*load \(direct\)/m)

    // The month grew past its exported end: only the newer rows are sent
    outageLake(lake, () => true)
    const grown = exportTo(lake, db).report
    expect(grown).toMatchObject({ rowsCopied: 44_560 - 20_000, rowsInserted: 44_560 - 20_000 })
    expect(await total(db, 'bars')).toBe(44_560)

    // New partition: only it is sent
    expect(cli(['backfill', '--archive', join(KLINES, 'BTCUSDT-1m-2025-01-01.zip')], lake).code).toBe(0)
    const added = exportTo(lake, db).report
    expect(added).toMatchObject({ rowsCopied: 1440, rowsInserted: 1440 })
    expect(added.datasets[0]).toMatchObject({ partitions: 1, partitionsSkipped: 1, watermark: '2025-01-01T23:59:00Z' })

    // A gap filled inside an exported month: the month is sent again and the missing rows land
    const lake2 = tempDir()
    const db2 = await freshDatabase()
    outageLake(lake2, (i) => i < 10_000 || i >= 20_000)
    expect(exportTo(lake2, db2).report.rowsInserted).toBe(34_560)
    outageLake(lake2, () => true)
    const filled = exportTo(lake2, db2, ['--log-level', 'debug'])
    expect(filled.report).toMatchObject({ rowsCopied: 44_560, rowsInserted: 10_000 })
    // Rows already there: through the staging table, keeping only the new keys
    expect(filled.stderr).toMatch(/^mercury:export debug: binance:BTCUSDT bars 1m 2023-03: .*load \(staged\)/m)
    const c = await countsBoth(lake2, db2, 'bars')
    expect(c.pg).toEqual(c.lake)
    expect(c.pg).toEqual([{ p: '2023-03', n: 44_560 }])
  }, 120_000)

  it('a partition that differs from the lake is an error naming table and partition, and the batch is rolled back', async () => {
    const lake = sampleLake()
    const db = await freshDatabase()
    exportTo(lake, db, ['--kinds', 'bars'])
    // A row the lake does not have, inside the 2024-11 partition
    await sql(db, `INSERT INTO bars SELECT time + interval '1 microsecond', exchange, symbol, "interval", open_time + 1, close_time, open, high, low,
      close, volume, quote_volume, trades, taker_buy_volume, taker_buy_quote_volume, local_timestamp FROM bars ORDER BY time LIMIT 1`)
    const r = cli(['export', 'timescale', '--pg', db, '--kinds', 'bars', '--full'], lake, NO_ENV)
    expect(r.code).toBe(1)
    expect(errorLines(r.stderr)).toEqual([
      'mercury: Verification failed: table "public"."bars" partition 2024-11 of binance:BTCUSDT bars 1m holds 43201 rows, the lake 43200; nothing of this batch was kept',
    ])
    const state = await sql<{ rows_exported: string }>(db, 'SELECT rows_exported FROM mercury_export_state')
    expect(Number(state[0].rows_exported)).toBe(SAMPLE.bars)
  }, 120_000)

  it('--dry-run writes nothing; --kinds and --schema choose what goes where; --no-timescale says so; batches', async () => {
    const lake = sampleLake()
    const db = await freshDatabase()
    const dry = exportTo(lake, db, ['--dry-run']).report
    expect(dry).toMatchObject({ dryRun: true, rowsCopied: SAMPLE.bars + SAMPLE.trades, rowsInserted: 0 })
    expect(await sql(db, `SELECT table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`)).toEqual([])
    const human = cli(['export', 'timescale', '--pg', db, '--dry-run'], lake, NO_ENV)
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/Dry run: .*compression off/)
    expect(human.stdout).toMatch(/^109,184 rows to copy, nothing written in [\d.]+ s$/m)
    // Counting is not copying: no rate
    expect(dry.rowsPerSecond).toBe(0)
    expect(human.stdout).not.toMatch(/rows\/s\)/)

    // Small batches: the next batch's CSV is written while the current one loads
    const { report: r, stderr } = exportTo(lake, db, ['--kinds', 'bars,funding', '--schema', 'market', '--no-timescale', '--batch-rows', '50000'])
    expect(stderr.split('\n').filter((l) => l.includes('rows copied'))).toEqual([
      expect.stringMatching(/^export: binance:BTCUSDT bars 1m: 2024-11 \(1 partition\) 43,200 rows copied, 43,200 new, verified/),
      expect.stringMatching(/^export: binance:BTCUSDT bars 1m: 2024-12\.\.2025-01 \(2 partitions\) 46,080 rows copied, 46,080 new, verified/),
    ])
    expect(r.tables.map((t) => t.table)).toEqual(['bars'])
    expect(r.notes).toEqual(['the lake holds no funding; nothing to export there', '--no-timescale: plain PostgreSQL tables, compression off'])
    const tables = await sql<{ s: string; t: string }>(
      db,
      `SELECT table_schema s, table_name t FROM information_schema.tables WHERE table_schema IN ('public', 'market') ORDER BY 1, 2`,
    )
    expect(tables).toEqual([
      { s: 'market', t: 'bars' },
      { s: 'market', t: 'mercury_export_partitions' },
      { s: 'market', t: 'mercury_export_state' },
    ])
    expect(await total(db, 'market.bars')).toBe(SAMPLE.bars)
  }, 120_000)

  it('a URL it cannot use is one line and exit 1, and never shows the password', async () => {
    const lake = sampleLake()
    const db = await freshDatabase()
    const cases: [string[], Record<string, string>, RegExp, string][] = [
      [['--pg', 'postgres://mercury_test:S3cret-Unreachable@127.0.0.1:1/mercury_test'], {},
        /^mercury: Cannot connect to PostgreSQL at postgres:\/\/mercury_test:\*\*\*@127\.0\.0\.1:1\/mercury_test \(--pg\): .*ECONNREFUSED/, 'S3cret-Unreachable'],
      [['--pg', withPassword(db, 'Wr0ng-Pa55')], {}, /^mercury: Cannot connect .*:\*\*\*@.*password authentication failed for user "mercury_test"/, 'Wr0ng-Pa55'],
      [[], { MERCURY_PG_URL: withPassword(db, 'Env-Wr0ng-Pa55') }, /\(MERCURY_PG_URL\): password authentication failed/, 'Env-Wr0ng-Pa55'],
      [['--pg', withPassword(db, '')], { PGPASSWORD: 'PgPass-Wr0ng' }, /password authentication failed/, 'PgPass-Wr0ng'],
      [['--pg', 'postgres://u:Dns-S3cret@no-such-host.invalid/db'], {}, /^mercury: Cannot connect to PostgreSQL at postgres:\/\/u:\*\*\*@no-such-host\.invalid\/db/, 'Dns-S3cret'],
    ]
    for (const [args, env, message, secret] of cases) {
      const r = cli(['export', 'timescale', ...args], lake, { ...NO_ENV, ...env })
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1)
      expect(errorLines(r.stderr)).toHaveLength(1)
      expect(errorLines(r.stderr)[0]).toMatch(message)
      expect(r.stderr + r.stdout).not.toContain(secret)
    }
  }, 120_000)

  it('bad flags exit 2 with one line naming the flag, before connecting', () => {
    const lake = tempDir()
    const pg = ['--pg', 'postgres://u:Flag-S3cret@127.0.0.1:1/db']
    const cases: [string[], RegExp][] = [
      [[], /Missing --pg: pass postgres:\/\/.* or set MERCURY_PG_URL/],
      [['--pg', 'mysql://u:Flag-S3cret@h/db'], /Invalid --pg: 'mysql:\/\/u:\*\*\*@h\/db'\. Expected postgres:\/\//],
      [['--pg', 'postgres://u:Flag-S3cret@h'], /Invalid --pg: 'postgres:\/\/u:\*\*\*@h' names no database/],
      [[...pg, '--kinds', 'bars,candles'], /Invalid --kinds: 'candles'\. Expected a comma-separated list of bars, trades/],
      [[...pg, '--since', 'soon'], /Invalid --since: 'soon'\. Expected an ISO date/],
      [[...pg, '--schema', 'a;b'], /Invalid --schema: 'a;b'/],
      [[...pg, '--bogus'], /unknown option '--bogus'/],
      [[...pg, '--batch-rows', '0'], /Invalid --batch-rows: '0'\. Expected a positive integer/],
      [pg, /The lake at .* holds no datasets to export\. Import some first/],
      [[...pg, '--kinds', 'funding'], /Invalid --kinds: the lake at .* holds no funding/],
    ]
    for (const [args, message] of cases) {
      const r = cli(['export', 'timescale', ...args], lake, NO_ENV)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr.trim().split('\n')[0]).toMatch(message)
      expect(r.stderr).not.toContain('Flag-S3cret')
    }
  })

  it('is listed in --help, with examples', () => {
    const top = cli(['--help'], tempDir())
    expect(top.stdout).toMatch(/^\s{2}export /m)
    for (const sub of [['export'], ['export', 'timescale']]) {
      const h = cli([...sub, '--help'], tempDir())
      expect(h.code).toBe(0)
      expect(h.stdout).toMatch(/Examples:\n\s+\$ (MERCURY_PG_URL=\S+ )?mercury export timescale/)
    }
  })
})
