// npm run bench, export section: `mercury export timescale` throughput against the local PostgreSQL that
// scripts/test.sh starts (MERCURY_TEST_PG_URL) or any other given as MERCURY_PG_URL. Without one reachable the
// section is a note saying so. Runs in a schema of its own, dropped afterwards.
//
// Data: the real 2024 BTCUSDT 1m year from ../shared/data/real when present (else the shipped sample), and the
// real XRPETH aggTrades file repeated to 1,000,000 rows with shifted ids and times (daily partitions).

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { oneLine } from '../src/lib/errors.js'
import { importArchives } from '../src/lib/archive/import.js'
import { connectPg } from '../src/lib/export/pg.js'
import { ident } from '../src/lib/export/sql.js'
import { exportToPostgres, type ExportReport } from '../src/lib/export/timescale.js'
import { parsePgUrl, redact } from '../src/lib/export/url.js'

const ROOT = resolve(import.meta.dirname, '..', '..')
const SHARED = resolve(ROOT, '..', 'shared', 'data', 'real', 'jan-kluger-backtest')
const KLINES = join(ROOT, 'datasets', 'binance', 'spot', 'klines', 'BTCUSDT', '1m')
const AGG = join(ROOT, 'tests', 'fixtures', 'binance', 'XRPETH-aggTrades-2019-10-11_2019-10-13.csv.gz')
const AGG_ROWS = 1_000_000
const REPS = 3

const log = (...a: unknown[]) => console.log(...a)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (x: number) => Math.round(x).toLocaleString('en-US')

/** Real XRPETH aggTrades repeated to `n` rows, ids and times shifted per copy so they stay unique and ordered. */
function aggTradesCsv(n: number): string {
  const agg = gunzipSync(readFileSync(AGG)).toString('utf8').trimEnd().split('\n').map((l) => l.split(','))
  const lines: string[] = []
  const span = Number(agg.at(-1)![5]) - Number(agg[0][5]) + 1000
  const tradeSpan = Number(agg.at(-1)![4]) - Number(agg[0][3]) + 1
  for (let k = 0; lines.length < n; k++) {
    for (const f of agg) {
      if (lines.length >= n) break
      lines.push([Number(f[0]) + k * agg.length, f[1], f[2], Number(f[3]) + k * tradeSpan, Number(f[4]) + k * tradeSpan, Number(f[5]) + k * span, f[6], f[7]].join(','))
    }
  }
  return lines.join('\n') + '\n'
}

/** Markdown section: export throughput, or a note when no PostgreSQL is reachable. */
export async function runExportBench(): Promise<string> {
  const url = process.env.MERCURY_TEST_PG_URL || process.env.MERCURY_PG_URL
  if (!url) {
    return 'Not measured: no PostgreSQL given. `npm test` starts one (scripts/test.sh); run the bench with ' +
      'MERCURY_TEST_PG_URL or MERCURY_PG_URL set to measure `mercury export timescale`.'
  }
  const target = parsePgUrl(url, 'MERCURY_TEST_PG_URL')
  let server = ''
  let timescale = 'not installed'
  try {
    const db = await connectPg(target, { applicationName: 'mercury bench' })
    try {
      server = (await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0].v
      const ts = await db.query<{ v: string }>(`SELECT extversion AS v FROM pg_extension WHERE extname = 'timescaledb'`)
      if (ts.rows[0]) timescale = ts.rows[0].v
    } finally {
      await db.close()
    }
  } catch (err) {
    return `Not measured: the PostgreSQL at ${target.display} is not reachable (${redact(oneLine(err), target)}).`
  }

  const tmp = mkdtempSync(join(tmpdir(), 'mercury-bench-export-'))
  const schema = `mercury_bench_${process.pid}`
  const dropSchema = async () => {
    const db = await connectPg(target)
    try {
      await db.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`)
    } finally {
      await db.close()
    }
  }
  try {
    const lake = join(tmp, 'lake')
    const haveYear = existsSync(join(SHARED, 'BTCUSDT-1m-2024-01.csv.gz'))
    const barFiles = haveYear
      ? Array.from({ length: 12 }, (_, i) => join(SHARED, `BTCUSDT-1m-2024-${String(i + 1).padStart(2, '0')}.csv.gz`))
      : ['2024-11', '2024-12', '2025-01-01'].map((m) => join(KLINES, `BTCUSDT-1m-${m}.zip`))
    log(`\nexport: building the lake (${haveYear ? 'real 2024 BTCUSDT 1m year' : 'shipped sample bars'}, ${fmt(AGG_ROWS)} aggTrades)`)
    await importArchives({ lakeDir: lake, patterns: barFiles })
    const aggFile = join(tmp, 'XRPETH-aggTrades-bench.csv')
    writeFileSync(aggFile, aggTradesCsv(AGG_ROWS))
    await importArchives({ lakeDir: lake, patterns: [aggFile], instrument: { exchange: 'binance', symbol: 'XRPETH' }, kind: 'agg_trades' })

    const run = (extra: { full?: boolean } = {}) => exportToPostgres({ lakeDir: lake, target, schema, ...extra })
    const firsts: ExportReport[] = []
    for (let k = 0; k < REPS; k++) {
      await dropSchema()
      firsts.push(await run())
      log(`export: first export ${k + 1}/${REPS}: ${fmt(firsts.at(-1)!.rowsPerSecond)} rows/s`)
    }
    const t = performance.now()
    const noop = await run()
    const noopS = (performance.now() - t) / 1000
    const full = await run({ full: true })
    if (noop.rowsCopied !== 0 || full.rowsInserted !== 0) throw new Error('the re-exports changed the database')

    const byTable = (r: ExportReport, table: string) => r.tables.find((x) => x.table === table)!
    const mid = firsts.slice().sort((a, b) => a.rowsPerSecond - b.rowsPerSecond)[Math.floor(REPS / 2)]
    const rows: string[][] = []
    for (const table of ['bars', 'agg_trades']) {
      const tr = byTable(mid, table)
      const rates = firsts.map((r) => byTable(r, table).rowsPerSecond)
      rows.push([
        `first export, ${table}`,
        `${fmt(median(rates))} rows/s`,
        `median of ${REPS} into an empty schema; ${fmt(tr.rowsCopied)} rows in ${tr.seconds.toFixed(2)} s, ${tr.partitions} partitions; ${tr.mode} table, compression ${tr.compression ? 'on' : 'off'}`,
      ])
    }
    rows.push([
      'first export, whole lake',
      `${fmt(median(firsts.map((r) => r.rowsPerSecond)))} rows/s`,
      `median of ${REPS}; ${fmt(mid.rowsCopied)} rows in ${mid.seconds.toFixed(2)} s: DuckDB to CSV, COPY straight into the tables (their ranges are empty), per-partition verification`,
    ])
    rows.push(['re-export, nothing changed', `${noopS.toFixed(2)} s`, 'reads the manifests and the export state; sends nothing'])
    rows.push([
      're-export with --full',
      `${fmt(full.rowsPerSecond)} rows/s`,
      `${fmt(full.rowsCopied)} rows sent again, ${full.rowsInserted} new (every key already there); ${full.seconds.toFixed(2)} s`,
    ])
    const cpu = cpus()[0]?.model ?? 'unknown CPU'
    return [
      `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu}, ${cpus().length} cores, Node ${process.version}, against ` +
        `PostgreSQL ${server} on the same machine (TimescaleDB ${timescale}). Data: ${haveYear ? 'the real 2024 BTCUSDT 1m year (527,040 rows, ../shared/data/real)' : 'the shipped sample bars (89,280 rows)'} ` +
        `and ${fmt(AGG_ROWS)} aggTrades rows (the real XRPETH file repeated with shifted ids and times).`,
      '',
      '| benchmark | result | notes |',
      '|---|---|---|',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n')
  } finally {
    await dropSchema().catch(() => undefined)
    rmSync(tmp, { recursive: true, force: true })
  }
}

// `node dist/bench/export.js` prints the section alone
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  log(await runExportBench())
}
