import type { Command } from 'commander'
import { FatalError, UsageError } from '../lib/errors.js'
import { isKind, KINDS, type Kind } from '../lib/consts.js'
import { parseInstrument } from '../lib/instrument.js'
import { isoUs, parseInterval, parseTime } from '../lib/time.js'
import { fmtBytes, fmtNum, globals, printJson, printTable } from './common.js'

function kindOption(value: string): Kind {
  const k = value === 'klines' ? 'bars' : value === 'aggTrades' ? 'agg_trades' : value
  if (!isKind(k)) throw new UsageError(`Invalid --kind: '${value}'. Expected bars, trades or agg_trades`)
  return k
}

/** JSON-safe form of a DuckDB JS value. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()
  if (v instanceof Date) return v.toISOString()
  if (Array.isArray(v)) return v.map(plain)
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
  return v
}

function cell(v: unknown): string {
  const p = plain(v)
  if (p === null || p === undefined) return ''
  return typeof p === 'object' ? JSON.stringify(p) : String(p)
}

function csvCell(v: unknown): string {
  const s = cell(v)
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

export function registerData(program: Command): void {
  const data = program
    .command('data')
    .description('inspect the lake: coverage, gaps and SQL')
    .addHelpText(
      'after',
      `
Examples:
  $ mercury data ls
  $ mercury data gaps binance:BTCUSDT --kind bars --interval 1m
  $ mercury data query "SELECT date_trunc('day', time) d, max(high) FROM bars GROUP BY 1 ORDER BY 1 LIMIT 5"`,
    )

  data
    .command('ls')
    .description('coverage per kind, exchange, symbol and interval: first, last, rows, gaps')
    .addHelpText('after', '\nExamples:\n  $ mercury data ls\n  $ mercury data ls --json | jq \'.[] | select(.gaps > 0)\'')
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globals(cmd)
      const { listDatasets, coverageOf } = await import('../lib/lake/reader.js')
      const cov = listDatasets(g.dataDir).map((d) => coverageOf(d.ds, d.manifest))
      if (g.json) {
        printJson(
          cov.map((c) => ({
            kind: c.dataset.kind,
            instrument: `${c.dataset.exchange}:${c.dataset.symbol}`,
            exchange: c.dataset.exchange,
            symbol: c.dataset.symbol,
            interval: c.dataset.interval ?? null,
            rows: c.rows,
            first: c.first === undefined ? null : isoUs(c.first),
            last: c.last === undefined ? null : isoUs(c.last),
            firstTime: c.first ?? null,
            lastTime: c.last ?? null,
            firstKey: c.firstKey ?? null,
            lastKey: c.lastKey ?? null,
            gaps: c.gaps,
            missing: c.missing,
            files: c.files,
            bytes: c.bytes,
          })),
        )
        return
      }
      if (cov.length === 0) {
        process.stdout.write(`The lake at ${g.dataDir} is empty. Import something: mercury backfill --archive <files>\n`)
        return
      }
      await printTable(
        ['kind', 'instrument', 'interval', 'rows', 'first (UTC)', 'last (UTC)', 'gaps', 'missing', 'files', 'size'],
        cov.map((c) => [
          c.dataset.kind,
          `${c.dataset.exchange}:${c.dataset.symbol}`,
          c.dataset.interval ?? '',
          c.rows,
          c.first === undefined ? '' : isoUs(c.first),
          c.last === undefined ? '' : isoUs(c.last),
          c.gaps,
          c.missing,
          c.files,
          fmtBytes(c.bytes),
        ]),
        ['left', 'left', 'left', 'right', 'left', 'left', 'right', 'right', 'right', 'right'],
      )
    })

  data
    .command('gaps')
    .description('missing bars (by interval) or missing trade ids in one dataset')
    .argument('<instrument>', 'exchange:SYMBOL, e.g. binance:BTCUSDT')
    .option('--kind <kind>', 'bars, trades or agg_trades', kindOption, 'bars' as Kind)
    .option('--interval <interval>', 'bar interval (needed for bars when the lake holds several)')
    .option('--from <time>', 'start (ISO date or time, UTC)')
    .option('--to <time>', 'end, exclusive (ISO date or time, UTC)')
    .option('--state <state>', 'only gaps in this state: open, repaired, exchange_gap (default all)')
    .addHelpText(
      'after',
      '\nStates come from the gap ledger that `mercury backfill --repair` keeps: open (missing), repaired (filled since),\nexchange_gap (the exchange has no data for it; not retried).\n\nExamples:\n  $ mercury data gaps binance:BTCUSDT --interval 1m\n  $ mercury data gaps binance:XRPETH --kind agg_trades --json\n  $ mercury data gaps coinbase:BTC-USD --interval 1m   (minutes without a Coinbase candle are exchange gaps)\n  $ mercury data gaps binance:BTCUSDT --interval 1m --from 2023-03-24 --to 2023-03-25',
    )
    .action(async (instrumentText: string, opts: { kind: Kind; interval?: string; from?: string; to?: string; state?: string }, cmd: Command) => {
      const g = globals(cmd)
      const instrument = parseInstrument(instrumentText)
      const from = opts.from ? parseTime(opts.from, '--from') : undefined
      const to = opts.to ? parseTime(opts.to, '--to') : undefined
      if (from !== undefined && to !== undefined && to <= from) throw new UsageError('Invalid --to: it must be after --from')
      const { LakeReader, listDatasets, datasetId } = await import('../lib/lake/reader.js')
      let interval = opts.interval
      if (opts.kind === 'bars' && !interval) {
        const held = listDatasets(g.dataDir).filter(
          (d) => d.ds.kind === 'bars' && d.ds.exchange === instrument.exchange && d.ds.symbol === instrument.symbol,
        )
        if (held.length === 1) interval = held[0].ds.interval
        else {
          throw new UsageError(
            `Missing --interval: the lake holds ${held.length ? held.map((d) => d.ds.interval).join(', ') : 'no'} bars for ${instrumentText}`,
          )
        }
      }
      const ds = datasetId(opts.kind, instrument, interval)
      const { gapStates, readLedger, GAP_STATES } = await import('../lib/backfill/ledger.js')
      if (opts.state && opts.state !== 'all' && !(GAP_STATES as readonly string[]).includes(opts.state)) {
        throw new UsageError(`Invalid --state: '${opts.state}'. Expected all, ${GAP_STATES.join(', ')}`)
      }
      const reader = await LakeReader.open(g.dataDir)
      try {
        const inRange = (x: { from: number; to: number }) => (from === undefined || x.to >= from) && (to === undefined || x.from < to)
        const all = gapStates(await reader.gaps(ds, { from, to }), readLedger(g.dataDir, ds)).filter(inRange)
        const gaps = all.filter((x) => !opts.state || opts.state === 'all' || x.state === opts.state)
        const byTime = opts.kind === 'bars'
        const holes = gaps.filter((x) => x.state !== 'repaired')
        const missing = holes.reduce((a, x) => a + x.missing, 0)
        if (g.json) {
          printJson({
            instrument: `${ds.exchange}:${ds.symbol}`,
            kind: ds.kind,
            interval: ds.interval ?? null,
            gaps: gaps.map((x) => ({
              ...(byTime
                ? { from: isoUs(x.from), to: isoUs(x.to), fromTime: x.from, toTime: x.to }
                : { fromId: x.from, toId: x.to }),
              missing: x.missing,
              state: x.state,
              note: x.note ?? null,
              lastChecked: x.lastChecked ?? null,
            })),
            count: holes.length,
            missing,
          })
          return
        }
        if (gaps.length === 0) {
          process.stdout.write(`No gaps in ${ds.exchange}:${ds.symbol} ${ds.kind}${ds.interval ? ' ' + ds.interval : ''}\n`)
          return
        }
        await printTable(
          [...(byTime ? ['first missing (UTC)', 'last missing (UTC)', 'missing bars'] : ['first missing id', 'last missing id', 'missing ids']), 'state'],
          gaps.map((x) => [...(byTime ? [isoUs(x.from), isoUs(x.to), x.missing] : [x.from, x.to, x.missing]), x.state]),
          ['left', 'left', 'right', 'left'],
        )
        process.stdout.write(`${fmtNum(holes.length)} gap${holes.length === 1 ? '' : 's'}, ${fmtNum(missing)} missing\n`)
      } finally {
        reader.close()
      }
    })

  data
    .command('validate')
    .description('check bars against bars rebuilt from trades, and flag outlier returns and zero-volume runs')
    .argument('<instrument>', 'exchange:SYMBOL, e.g. binance:BTCUSDT')
    .option('--interval <interval>', 'interval of the stored bars to check (checked as stored, never resampled)', '1m')
    .option('--from <time>', 'start (ISO date or time, UTC)')
    .option('--to <time>', 'end, exclusive')
    .option('--outlier-z <z>', 'robust z-score of a bar return above which it is flagged (1m crypto returns are fat-tailed)', '25')
    .option('--zero-run <bars>', 'shortest run of zero-volume bars to flag', '3')
    .option('--fail-on-issues', 'exit 1 when anything is found (for cron jobs)')
    .addHelpText(
      'after',
      `
Bars are rebuilt from the lake's trades (or aggTrades) for every interval whose trade ids are contiguous and
compared field by field (OHLC exactly, volumes to 1e-9). Nothing is changed: findings are reported.

Examples:
  $ mercury data validate binance:BTCUSDT
  $ mercury data validate binance:BTCUSDT --interval 1h --from 2024-08-01 --json
  $ mercury data validate binance:BTCUSDT --fail-on-issues --log-level error`,
    )
    .action(async (instrumentText: string, opts: { interval: string; from?: string; to?: string; outlierZ: string; zeroRun: string; failOnIssues?: boolean }, cmd: Command) => {
      const g = globals(cmd)
      const instrument = parseInstrument(instrumentText)
      const interval = parseInterval(opts.interval)
      const outlierZ = Number(opts.outlierZ)
      if (!(outlierZ > 0)) throw new UsageError(`Invalid --outlier-z: '${opts.outlierZ}'. Expected a positive number`)
      const zeroRun = Number(opts.zeroRun)
      if (!Number.isInteger(zeroRun) || zeroRun < 1) throw new UsageError(`Invalid --zero-run: '${opts.zeroRun}'. Expected a positive integer`)
      const { validateBars } = await import('../lib/lake/validate.js')
      const r = await validateBars({
        lakeDir: g.dataDir,
        instrument,
        interval,
        from: opts.from ? parseTime(opts.from, '--from') : undefined,
        to: opts.to ? parseTime(opts.to, '--to') : undefined,
        outlierZ,
        zeroRun,
      })
      const issues = r.mismatches.length + r.outliers.length + r.zeroVolumeRuns.length
      if (g.json) {
        printJson({
          instrument: instrumentText,
          interval,
          bars: r.bars,
          tradeSource: r.tradeSource ?? null,
          compared: r.compared,
          mismatches: r.mismatches.map((m) => ({ time: isoUs(m.openTime), openTime: m.openTime, fields: m.fields })),
          outliers: r.outliers.map((o) => ({ time: isoUs(o.openTime), openTime: o.openTime, logReturn: o.logReturn, z: o.z })),
          zeroVolumeRuns: r.zeroVolumeRuns.map((z) => ({ from: isoUs(z.from), to: isoUs(z.to), bars: z.bars })),
          issues,
        })
      } else {
        process.stdout.write(
          `${instrumentText} ${interval}: ${fmtNum(r.bars)} bars; ${r.tradeSource ? `${fmtNum(r.compared)} compared with bars rebuilt from ${r.tradeSource}, ${fmtNum(r.mismatches.length)} mismatched` : 'no trades in the lake to rebuild bars from'}; ${fmtNum(r.outliers.length)} outlier returns; ${fmtNum(r.zeroVolumeRuns.length)} zero-volume runs\n`,
        )
        if (r.mismatches.length) {
          await printTable(['bar (UTC)', 'field', 'stored', 'rebuilt'], r.mismatches.flatMap((m) => Object.entries(m.fields).map(([f, v]) => [isoUs(m.openTime), f, v.stored, v.rebuilt])))
        }
        if (r.outliers.length) await printTable(['bar (UTC)', 'log return', 'robust z'], r.outliers.map((o) => [isoUs(o.openTime), o.logReturn.toFixed(6), o.z.toFixed(1)]))
        if (r.zeroVolumeRuns.length) await printTable(['from (UTC)', 'to (UTC)', 'bars'], r.zeroVolumeRuns.map((z) => [isoUs(z.from), isoUs(z.to), z.bars]))
      }
      if (issues > 0 && opts.failOnIssues) throw new FatalError(`${issues} issues found in ${instrumentText} ${interval}`)
    })

  data
    .command('query')
    .description('DuckDB SQL over views named after the kinds: bars, trades, agg_trades, funding, ...')
    .argument('<sql>', 'the query; every view has a `time` TIMESTAMP column besides the µs integer columns')
    .option('--csv', 'print CSV instead of a table')
    .addHelpText(
      'after',
      `
Views: ${KINDS.join(', ')} (signals: indicator values that \`mercury signals\` stored).
Times are integer µs since the epoch (open_time, timestamp, ...); \`time\` is the same as a TIMESTAMP.

Examples:
  $ mercury data query "SELECT symbol, interval, count(*) FROM bars GROUP BY ALL"
  $ mercury data query "SELECT time, close FROM bars WHERE symbol='BTCUSDT' ORDER BY time DESC LIMIT 3" --csv
  $ mercury data query "SELECT max(high) FROM bars WHERE time >= '2024-03-01'" --json`,
    )
    .action(async (sql: string, opts: { csv?: boolean }, cmd: Command) => {
      const g = globals(cmd)
      if (!sql.trim()) throw new UsageError('Invalid <sql>: empty query')
      const { LakeReader } = await import('../lib/lake/reader.js')
      const reader = await LakeReader.open(g.dataDir)
      try {
        const r = await reader.query(sql)
        if (g.json) {
          printJson(r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, plain(row[i])]))))
        } else if (opts.csv) {
          process.stdout.write(r.columns.map(csvCell).join(',') + '\n')
          for (const row of r.rows) process.stdout.write(row.map(csvCell).join(',') + '\n')
        } else {
          await printTable(r.columns, r.rows.map((row) => row.map(cell)))
          process.stdout.write(`${fmtNum(r.rows.length)} row${r.rows.length === 1 ? '' : 's'}\n`)
        }
      } finally {
        reader.close()
      }
    })
}
