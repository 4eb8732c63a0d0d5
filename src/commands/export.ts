import type { Command } from 'commander'
import { KINDS, isKind, type Kind } from '../lib/consts.js'
import { UsageError } from '../lib/errors.js'
import { parseSchemaName } from '../lib/export/sql.js'
import { parsePgUrl } from '../lib/export/url.js'
import { parseTime } from '../lib/time.js'
import { fmtNum, globals, intOption, printJson, printTable } from './common.js'

function list(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)]
}

function parseKinds(items: readonly string[]): Kind[] {
  const out: Kind[] = []
  for (const item of items) {
    const k = item === 'klines' ? 'bars' : item === 'aggTrades' ? 'agg_trades' : item
    if (!isKind(k)) throw new UsageError(`Invalid --kinds: '${item}'. Expected a comma-separated list of ${KINDS.join(', ')}`)
    if (!out.includes(k)) out.push(k)
  }
  if (out.length === 0) throw new UsageError(`Invalid --kinds: ''. Expected a comma-separated list of ${KINDS.join(', ')}`)
  return out
}

export function registerExport(program: Command): void {
  const exp = program
    .command('export')
    .description('copy the lake into other stores: TimescaleDB/PostgreSQL')
    .addHelpText(
      'after',
      `
Examples:
  $ mercury export timescale --pg postgres://mercury@localhost/market
  $ MERCURY_PG_URL=postgres://mercury@db/market mercury export timescale --kinds bars --since 2024-12-01`,
    )

  exp
    .command('timescale')
    .description('export the lake into PostgreSQL: TimescaleDB hypertables with compression where the extension is there, plain tables otherwise')
    .option('--pg <url>', 'postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (env MERCURY_PG_URL; the password may come from PGPASSWORD)')
    .option('--kinds <kinds>', 'comma-separated kinds to export, e.g. bars,trades (default: every kind the lake holds)', list)
    .option('--since <time>', 'only rows at or after this time (ISO date or time, UTC)')
    .option('--schema <name>', 'PostgreSQL schema of the tables', 'public')
    .option('--dry-run', 'plan only: read the lake and the export state, print what would be copied, write nothing')
    .option('--full', 'ignore the recorded export state and send every partition in range again (rows already there are skipped)')
    .option('--no-timescale', 'plain PostgreSQL tables even when TimescaleDB is available')
    .option('--batch-rows <n>', 'lake rows per COPY batch and transaction; a partition is never split', intOption('--batch-rows'), 250_000)
    .addHelpText(
      'after',
      `
One table per kind (bars, trades, ...): the lake's columns, exchange, symbol (and interval for bars), plus
\`time timestamptz\` derived from the µs time column. Rows are bulk-loaded with COPY; rows already in the table
are skipped, so exporting again adds nothing. Only lake partitions changed since the last export are sent (the
state is kept in the tables mercury_export_state and mercury_export_partitions). After each batch the rows per
partition are compared with the lake's; a mismatch is an error and the batch is not kept. The password is never
printed. Progress goes to stderr, the summary to stdout.

Examples:
  $ mercury export timescale --pg postgres://mercury@localhost:5432/market
  $ PGPASSWORD=... mercury export timescale --pg postgres://mercury@db.internal/market --kinds bars,trades --json
  $ mercury export timescale --pg postgres://mercury@localhost/market --since 2024-12-01 --dry-run
  $ MERCURY_PG_URL=postgres://mercury@localhost/market mercury export timescale --schema crypto --no-timescale`,
    )
    .action(async (opts: {
      pg?: string; kinds?: string[]; since?: string; schema: string; dryRun?: boolean; full?: boolean; timescale: boolean; batchRows: number
    }, cmd: Command) => {
      const g = globals(cmd)
      const url = opts.pg ?? process.env.MERCURY_PG_URL
      if (!url) throw new UsageError('Missing --pg: pass postgres://USER@HOST[:PORT]/DATABASE or set MERCURY_PG_URL')
      const target = parsePgUrl(url, opts.pg ? '--pg' : 'MERCURY_PG_URL')
      const kinds = opts.kinds ? parseKinds(opts.kinds) : undefined
      const since = opts.since !== undefined ? parseTime(opts.since, '--since') : undefined
      const schema = parseSchemaName(opts.schema)
      const quiet = g.logLevel === 'silent' || g.logLevel === 'error'
      const { exportToPostgres } = await import('../lib/export/timescale.js')
      const report = await exportToPostgres({
        lakeDir: g.dataDir,
        target,
        schema,
        kinds,
        since,
        dryRun: Boolean(opts.dryRun),
        full: Boolean(opts.full),
        timescale: opts.timescale,
        batchRows: opts.batchRows,
        onProgress: (line) => {
          if (!quiet) process.stderr.write(`export: ${line}\n`)
        },
      })
      if (g.json) {
        printJson(report)
        return
      }
      const verb = report.dryRun ? 'to copy' : 'copied'
      process.stdout.write(
        `${report.dryRun ? 'Dry run: ' : ''}${report.target} schema ${report.schema}` +
          `${report.since ? ` since ${report.since}` : ''}, TimescaleDB ${report.timescale.used ? report.timescale.installed ?? report.timescale.available : 'not used'}` +
          `, compression ${report.compression ? 'on' : 'off'}\n`,
      )
      await printTable(
        ['table', 'mode', 'compression', 'datasets', 'partitions', report.dryRun ? 'rows to copy' : 'rows copied', 'rows new', 'seconds', 'rows/s'],
        report.tables.map((t) => [
          t.table, t.mode, t.compression ? 'on' : 'off', t.datasets, t.partitions, t.rowsCopied, report.dryRun ? '' : t.rowsInserted,
          t.seconds.toFixed(2), report.dryRun ? '' : t.rowsPerSecond,
        ]),
        ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'],
      )
      const latest = report.datasets.map((d) => d.watermark).filter((w): w is string => w !== null).sort().at(-1)
      process.stdout.write(
        `${fmtNum(report.rowsCopied)} rows ${verb}, ${report.dryRun ? 'nothing written' : `${fmtNum(report.rowsInserted)} new`} in ` +
          `${report.seconds.toFixed(2)} s${report.dryRun ? '' : ` (${fmtNum(report.rowsPerSecond)} rows/s)`}` +
          `${latest ? `; latest watermark ${latest}` : ''}\n`,
      )
    })
}
