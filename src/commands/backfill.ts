import type { Command } from 'commander'
import { basename } from 'node:path'
import { UsageError } from '../lib/errors.js'
import { parseInstrument } from '../lib/instrument.js'
import { parseInterval } from '../lib/time.js'
import { fmtNum, globals, printJson, printTable, progressLine } from './common.js'

const KINDS = ['bars', 'klines', 'trades', 'agg_trades', 'aggTrades'] as const

export function registerBackfill(program: Command): void {
  program
    .command('backfill')
    .description('import history into the lake from data.binance.vision archives (.zip, .csv.gz, .csv)')
    .requiredOption('--archive <path|glob...>', 'archive files or globs (quote globs to let mercury expand them)')
    .option('--instrument <exchange:SYMBOL>', 'override the instrument inferred from the file name, e.g. binance-futures:BTCUSDT')
    .option('--kind <kind>', 'override the kind: bars (klines), trades or agg_trades')
    .option('--interval <interval>', 'override the bar interval, e.g. 1m')
    .option('--skip-bad-rows', 'import the valid rows of files that have bad rows (reported), instead of rejecting them')
    .addHelpText(
      'after',
      `
Kind, symbol and interval come from the file name (BTCUSDT-1m-2024-01.zip, BTCUSDT-aggTrades-2024-01-01.zip,
BTCUSDT-trades-2024-01-01.zip). USD-M files are recognised by a futures/um/ path, a header row or their column
count; otherwise files are read as spot (binance:). Millisecond and microsecond timestamps are both accepted.
Re-importing the same files changes nothing; a file with a bad row is rejected and nothing is written.

Examples:
  $ mercury backfill --archive datasets/binance/spot/klines/BTCUSDT/1m/*.csv.gz
  $ mercury backfill --archive 'archives/**/BTCUSDT-1m-2024-*.zip' --json
  $ mercury backfill --archive BTCUSDT-aggTrades-2024-01-01.zip --instrument binance-futures:BTCUSDT
  $ mercury backfill --archive odd-name.csv --instrument binance:ETHUSDT --kind bars --interval 1h`,
    )
    .action(async (opts: { archive: string[]; instrument?: string; kind?: string; interval?: string; skipBadRows?: boolean }, cmd: Command) => {
      const g = globals(cmd)
      let kind: 'bars' | 'trades' | 'agg_trades' | undefined
      if (opts.kind !== undefined) {
        if (!(KINDS as readonly string[]).includes(opts.kind)) {
          throw new UsageError(`Invalid --kind: '${opts.kind}'. Expected bars, trades or agg_trades`)
        }
        kind = opts.kind === 'klines' ? 'bars' : opts.kind === 'aggTrades' ? 'agg_trades' : (opts.kind as typeof kind)
      }
      const instrument = opts.instrument ? parseInstrument(opts.instrument, '--instrument') : undefined
      const interval = opts.interval ? parseInterval(opts.interval) : undefined
      const { importArchives } = await import('../lib/archive/import.js')
      const progress = progressLine()
      const tty = process.stderr.isTTY
      let lastFile = -1
      const report = await importArchives({
        lakeDir: g.dataDir,
        patterns: opts.archive,
        instrument,
        kind,
        interval,
        skipBadRows: Boolean(opts.skipBadRows),
        onProgress: (p) => {
          const pct = p.bytesTotal ? Math.min(100, Math.floor((100 * p.bytesDone) / p.bytesTotal)) : 0
          progress.update(`[${p.fileIndex + 1}/${p.files}] ${basename(p.file)} ${pct}% ${fmtNum(p.rows)} rows`)
          if (!tty && p.fileDone && p.fileIndex !== lastFile) {
            lastFile = p.fileIndex
            process.stderr.write(`read ${p.fileIndex + 1}/${p.files} ${basename(p.file)} (${fmtNum(p.rows)} rows so far)\n`)
          }
        },
      })
      progress.done()
      const rate = report.rowsRead / Math.max(report.seconds, 1e-9)
      if (g.json) {
        printJson({
          files: report.files.map((f) => ({
            file: f.file,
            instrument: `${f.dataset.exchange}:${f.dataset.symbol}`,
            kind: f.dataset.kind,
            interval: f.dataset.interval ?? null,
            rows: f.rows,
            badRows: f.badRows,
          })),
          datasets: report.commits.map((c) => ({
            instrument: `${c.dataset.exchange}:${c.dataset.symbol}`,
            kind: c.dataset.kind,
            interval: c.dataset.interval ?? null,
            rowsRead: c.rowsStaged,
            rowsWritten: c.rowsWritten,
            partitionsChanged: c.partitionsChanged,
            partitionsUnchanged: c.partitionsUnchanged,
          })),
          rowsRead: report.rowsRead,
          rowsWritten: report.rowsWritten,
          badRows: report.badRows,
          problems: report.problems,
          seconds: report.seconds,
          rowsPerSecond: Math.round(rate),
        })
        return
      }
      await printTable(
        ['dataset', 'rows read', 'rows written', 'partitions changed', 'unchanged'],
        report.commits.map((c) => [
          `${c.dataset.exchange}:${c.dataset.symbol} ${c.dataset.kind}${c.dataset.interval ? ' ' + c.dataset.interval : ''}`,
          c.rowsStaged,
          c.rowsWritten,
          c.partitionsChanged,
          c.partitionsUnchanged,
        ]),
        ['left', 'right', 'right', 'right', 'right'],
      )
      if (report.badRows > 0) {
        process.stderr.write(`skipped ${fmtNum(report.badRows)} bad rows, first: ${report.problems[0].file}:${report.problems[0].line}: ${report.problems[0].reason}\n`)
      }
      const nothing = report.rowsWritten === 0 && report.rowsRead > 0 ? ' (all already in the lake)' : ''
      process.stdout.write(
        `${fmtNum(report.files.length)} files, ${fmtNum(report.rowsRead)} rows in ${report.seconds.toFixed(2)} s (${fmtNum(Math.round(rate))} rows/s)${nothing}; lake: ${g.dataDir}\n`,
      )
    })
}
