import type { Command } from 'commander'
import { basename } from 'node:path'
import { FatalError, UsageError } from '../lib/errors.js'
import { formatInstrument, parseInstrument } from '../lib/instrument.js'
import { logger } from '../lib/log.js'
import { isoUs, parseInterval, parseTime } from '../lib/time.js'
import type { Interval } from '../lib/consts.js'
import type { HistoryTarget, RestKind } from '../lib/backfill/types.js'
import { fmtNum, globals, printJson, printTable, progressLine } from './common.js'

const KINDS = ['bars', 'klines', 'trades', 'agg_trades', 'aggTrades'] as const

/** REST kinds and their spellings; `trades` means aggTrades on Binance (paged by id) and trades on Coinbase */
const REST_KINDS: Record<string, RestKind> = {
  bars: 'bars',
  klines: 'bars',
  trades: 'agg_trades',
  agg_trades: 'agg_trades',
  aggTrades: 'agg_trades',
  funding: 'funding',
  oi: 'open_interest',
  open_interest: 'open_interest',
}

/** Options only a REST backfill takes */
const REST_ONLY = ['from', 'to', 'dryRun', 'maxWeight', 'maxRate', 'restUrl', 'testnet', 'timeout', 'retries', 'concurrency', 'batchRows'] as const

interface BackfillOpts {
  archive?: string[]
  instrument?: string
  kind?: string
  interval?: string
  skipBadRows?: boolean
  from?: string
  to?: string
  dryRun?: boolean
  maxWeight?: number
  maxRate?: number
  restUrl?: string
  testnet?: boolean
  timeout?: number
  retries?: number
  concurrency?: number
  batchRows?: number
  repair?: boolean
  recheck?: boolean
}

const flagOf = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`

function count(flag: string, min: number) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min) {
      throw new UsageError(`Invalid ${flag}: '${value}'. Expected ${min === 0 ? 'a non-negative' : 'a positive'} integer`)
    }
    return n
  }
}

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?'
  if (s < 60) return `${Math.max(0, Math.round(s))}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

export function registerBackfill(program: Command): void {
  program
    .command('backfill')
    .description('fill the lake with history: from exchange REST APIs (instruments) or data.binance.vision archives (--archive)')
    .argument('[instruments...]', 'exchange:SYMBOL to fetch over REST, e.g. binance:BTCUSDT binance-futures:ETHUSDT coinbase:BTC-USD')
    .option('--archive <path|glob...>', 'archive files or globs (.zip, .csv.gz, .csv; quote globs to let mercury expand them)')
    .option('--instrument <exchange:SYMBOL>', 'archives: override the instrument inferred from the file name, e.g. binance-futures:BTCUSDT')
    .option('--kind <kind>', 'REST: bars (default), trades (binance: aggTrades; coinbase: trades), funding or oi; archives: bars (klines), trades or agg_trades')
    .option('--interval <interval>', 'bar interval (REST default 1m; coinbase: 1m, 5m, 15m, 1h, 6h, 1d), or the open-interest period (default 5m); archives: override')
    .option('--from <time>', 'REST: start, ISO date or time in UTC (2024-01-01, 2024-01-01T12:00) or epoch ms')
    .option('--to <time>', 'REST: end, exclusive (default now; only closed bars are stored)')
    .option('--dry-run', 'REST: print the plan (requests, weight, time estimate) and send nothing')
    .option('--max-weight <n>', 'REST: request weight per minute to stay under (default and cap: binance 6000, binance-futures 2400)', count('--max-weight', 1))
    .option('--max-rate <n>', 'REST: requests per second to stay under on coinbase (default and cap 10)', count('--max-rate', 1))
    .option('--rest-url <url>', 'REST: base URL of the API (env MERCURY_BINANCE_REST_URL, MERCURY_BINANCE_FUTURES_REST_URL, MERCURY_COINBASE_REST_URL)')
    .option('--testnet', 'REST: use the exchange testnet (testnet.binance.vision, testnet.binancefuture.com, the Coinbase Exchange sandbox)')
    .option('--timeout <ms>', 'REST: per-request timeout in ms (default 10000)', count('--timeout', 1))
    .option('--retries <n>', 'REST: retries after a 5xx, timeout or lost connection (default 5)', count('--retries', 0))
    .option('--concurrency <n>', 'REST: requests in flight per instrument (default 4)', count('--concurrency', 1))
    .option('--batch-rows <n>', 'REST: commit to the lake every n rows (default 50000)', count('--batch-rows', 1))
    .option('--repair', 'find gaps in the lake\'s bars (and coinbase trades) for all or the instruments given, fetch them again; record repaired and exchange gaps')
    .option('--recheck', 'with --repair: ask again for ranges already recorded as exchange gaps')
    .option('--skip-bad-rows', 'archives: import the valid rows of files that have bad rows (reported), instead of rejecting them')
    .addHelpText(
      'after',
      `
REST backfill pages each instrument's history at the exchange's largest page size (spot klines 1000, futures
klines 1500, aggTrades 1000 by id, fundingRate 1000, openInterestHist 500), within a request-weight budget read
from the exchange's X-MBX-USED-WEIGHT-1M header. A 429 pauses for its Retry-After; a 418 (IP ban) stops that
instrument and the command exits non-zero after the others finish; 5xx and timeouts are retried with capped
exponential backoff and jitter. Rows are committed every --batch-rows and a checkpoint is kept in
<data-dir>/_state/backfill/, so an interrupted run resumes where it stopped and a repeated run fetches nothing
new. --kind trades stores Binance aggTrades (kind agg_trades). Funding and open interest are binance-futures
only; Binance serves open interest for the last 30 days only (an older --from is moved up, with a note).

Coinbase (coinbase:<product id>, e.g. coinbase:BTC-USD) uses the Exchange API: candles 300 per request in
granularities 1m, 5m, 15m, 1h, 6h and 1d (other intervals are refused), and trades (kind trades) 1000 per request,
walked forwards by trade id after one lookup of the first id at --from. Requests stay under 10 per second (the
public limit per IP; --max-rate lowers it); a 429 without Retry-After pauses with a growing backoff. Coinbase
publishes no candle for an interval without trades: such holes are recorded as exchange gaps (see mercury data
gaps). Candles carry no quote volume, trade count or taker volume: those columns stay missing (NaN, NULL).

Archives: kind, symbol and interval come from the file name (BTCUSDT-1m-2024-01.zip,
BTCUSDT-aggTrades-2024-01-01.zip, BTCUSDT-trades-2024-01-01.zip). USD-M files are recognised by a futures/um/
path, a header row or their column count; otherwise files are read as spot (binance:). Millisecond and
microsecond timestamps are both accepted. Re-importing the same files changes nothing; a file with a bad row is
rejected and nothing is written.

Examples:
  $ mercury backfill binance:BTCUSDT --kind bars --interval 1m --from 2024-01-01 --to 2024-02-01
  $ mercury backfill binance:BTCUSDT binance:ETHUSDT --kind trades --from 2024-06-01T00:00 --to 2024-06-01T01:00
  $ mercury backfill binance-futures:BTCUSDT --kind funding --from 2020-01-01 --dry-run
  $ mercury backfill binance-futures:BTCUSDT --kind oi --interval 1h --from 2024-01-01 --json
  $ mercury backfill coinbase:BTC-USD --kind bars --interval 1m --from 2024-01-01 --to 2024-01-08
  $ mercury backfill coinbase:BTC-USD coinbase:ETH-USD --kind trades --from 2024-06-01T00:00 --to 2024-06-01T01:00 --dry-run
  $ mercury backfill --archive 'datasets/binance/spot/klines/BTCUSDT/1m/*.zip'
  $ mercury backfill --archive 'archives/**/BTCUSDT-1m-2024-*.zip' --json
  $ mercury backfill --archive BTCUSDT-aggTrades-2024-01-01.zip --instrument binance-futures:BTCUSDT
  $ mercury backfill --archive odd-name.csv --instrument binance:ETHUSDT --kind bars --interval 1h`,
    )
    .action(async (instruments: string[], opts: BackfillOpts, cmd: Command) => {
      if (opts.repair) {
        if (opts.archive !== undefined) throw new UsageError('Invalid --archive with --repair: import archives first, then repair what is still missing')
        for (const k of ['from', 'to', 'dryRun', 'kind', 'interval', 'instrument'] as const) {
          if (opts[k] !== undefined) throw new UsageError(`Invalid ${flagOf(k)} with --repair: repair works on the gaps the lake reports`)
        }
        return repairAction(instruments, opts, cmd)
      }
      if (opts.recheck) throw new UsageError('Invalid --recheck: it applies to --repair')
      if (opts.archive !== undefined) {
        if (instruments.length > 0) {
          throw new UsageError(`Invalid instrument '${instruments[0]}' with --archive. Give instruments (REST backfill) or --archive (archives), not both`)
        }
        const rest = REST_ONLY.find((k) => opts[k] !== undefined)
        if (rest) throw new UsageError(`Invalid ${flagOf(rest)} with --archive: it applies to REST backfill of instruments`)
        return archiveAction(opts as BackfillOpts & { archive: string[] }, cmd)
      }
      if (instruments.length === 0) {
        throw new UsageError('Missing instrument: give exchange:SYMBOL for a REST backfill (e.g. binance:BTCUSDT --from 2024-01-01), or --archive <path>')
      }
      if (opts.instrument !== undefined) throw new UsageError('Invalid --instrument: it overrides archive file names; give REST instruments as arguments')
      if (opts.skipBadRows) throw new UsageError('Invalid --skip-bad-rows: it applies to --archive imports')
      return restAction(instruments, opts, cmd)
    })
}

async function repairAction(instruments: string[], opts: BackfillOpts, cmd: Command): Promise<void> {
  const g = globals(cmd)
  const parsed = instruments.map((i) => parseInstrument(i))
  const { repairGaps } = await import('../lib/backfill/repair.js')
  const r = await repairGaps({
    lakeDir: g.dataDir,
    instruments: parsed,
    recheck: Boolean(opts.recheck),
    restUrl: opts.restUrl,
    testnet: opts.testnet,
    maxWeight: opts.maxWeight,
    maxRate: opts.maxRate,
    timeoutMs: opts.timeout,
    retries: opts.retries,
    concurrency: opts.concurrency,
    batchRows: opts.batchRows,
    onNotice: (m) => process.stderr.write(`${m}\n`),
  })
  if (g.json) {
    printJson({
      datasets: r.datasets.map((d) => ({
        instrument: `${d.dataset.exchange}:${d.dataset.symbol}`,
        kind: d.dataset.kind,
        interval: d.dataset.interval ?? null,
        gaps: d.gaps.map((x) => ({
          // Bars are keyed by open time, trades by id
          ...(d.dataset.kind === 'bars' ? { from: isoUs(x.from), to: isoUs(x.to) } : { fromId: x.from, toId: x.to }),
          missing: x.missing,
          state: x.state,
          rowsFetched: x.rowsFetched,
          error: x.error ?? null,
        })),
      })),
      repaired: r.repaired,
      exchangeGaps: r.exchangeGaps,
      open: r.open,
    })
  } else {
    for (const d of r.datasets) {
      if (d.gaps.length === 0) continue
      const bars = d.dataset.kind === 'bars'
      process.stdout.write(`${d.dataset.exchange}:${d.dataset.symbol} ${d.dataset.kind}${bars ? ` ${d.dataset.interval}` : ''}\n`)
      await printTable(
        [bars ? 'first missing (UTC)' : 'first missing id', bars ? 'last missing (UTC)' : 'last missing id', 'missing', 'state', 'rows fetched'],
        d.gaps.map((x) => [bars ? isoUs(x.from) : x.from, bars ? isoUs(x.to) : x.to, x.missing, x.state + (x.error ? ` (${x.error})` : ''), x.rowsFetched]),
      )
    }
    process.stdout.write(`${fmtNum(r.repaired)} repaired, ${fmtNum(r.exchangeGaps)} exchange gaps, ${fmtNum(r.open)} still open\n`)
  }
  if (r.open > 0) throw new FatalError(`${r.open} gaps could not be repaired; run again later or see mercury data gaps`)
}

async function restAction(instruments: string[], opts: BackfillOpts, cmd: Command): Promise<void> {
  const g = globals(cmd)
  const kindText = opts.kind ?? 'bars'
  const kind = Object.hasOwn(REST_KINDS, kindText) ? REST_KINDS[kindText] : undefined
  if (!kind) throw new UsageError(`Invalid --kind: '${kindText}'. Expected bars, trades (aggTrades), funding or oi`)
  let interval: Interval | undefined
  if (kind === 'bars' || kind === 'open_interest') {
    interval = parseInterval(opts.interval ?? (kind === 'bars' ? '1m' : '5m'))
  } else if (opts.interval !== undefined) {
    throw new UsageError(`Invalid --interval: '${opts.interval}'. ${kindText} have no interval`)
  }
  if (opts.from === undefined) throw new UsageError('Missing --from: give the start, e.g. --from 2024-01-01')
  if (opts.restUrl !== undefined && opts.testnet) throw new UsageError('Invalid --testnet with --rest-url: give one of them')
  const from = parseTime(opts.from, '--from')
  const to = opts.to !== undefined ? parseTime(opts.to, '--to') : undefined
  const seen = new Set<string>()
  const targets: HistoryTarget[] = []
  const { historyKindOf } = await import('../lib/backfill/venues.js')
  for (const text of instruments) {
    const instrument = parseInstrument(text, 'instrument')
    const key = formatInstrument(instrument)
    if (seen.has(key)) continue
    seen.add(key)
    targets.push({ instrument, kind: historyKindOf(instrument.exchange, kindText, kind), interval })
  }
  const { planBackfill, runBackfill } = await import('../lib/backfill/run.js')
  const { redactUrl } = await import('../lib/net/http.js')
  const options = {
    lakeDir: g.dataDir,
    targets,
    from,
    to,
    restUrl: opts.restUrl,
    testnet: opts.testnet,
    maxWeight: opts.maxWeight,
    maxRate: opts.maxRate,
    timeoutMs: opts.timeout,
    retries: opts.retries,
    concurrency: opts.concurrency,
    batchRows: opts.batchRows,
  }
  if (opts.dryRun) {
    const plan = planBackfill(options)
    const rows = plan.targets.map((t) => ({
      instrument: formatInstrument(t.target.instrument),
      kind: t.target.kind,
      interval: t.target.interval ?? null,
      from: isoUs(t.from),
      to: isoUs(t.to),
      fetch: t.ranges.map((r) => ({ from: isoUs(r.from), to: isoUs(r.to), ...(r.fromId !== undefined ? { fromId: r.fromId } : {}) })),
      requests: t.requests ?? null,
      weight: t.weight ?? null,
      pageRows: t.pageRows,
      pageWeight: t.pageWeight,
      maxWeightPerMinute: plan.budgets[t.target.instrument.exchange] ?? null,
      maxRequestsPerSecond: plan.rates[t.target.instrument.exchange] ?? null,
      seconds: t.seconds ?? null,
      url: redactUrl(t.baseUrl),
      urlSource: t.urlSource,
      note: t.notice ?? null,
    }))
    if (g.json) {
      printJson({ dryRun: true, targets: rows })
      return
    }
    for (const t of plan.targets) if (t.notice) process.stderr.write(`note: ${t.notice}\n`)
    await printTable(
      ['dataset', 'to fetch', 'requests', 'weight', 'estimate', 'url'],
      plan.targets.map((t) => [
        t.label,
        t.ranges.length === 0 ? 'nothing (complete)' : t.ranges.map((r) => `${isoUs(r.from)} .. ${isoUs(r.to)}`).join('\n'),
        t.requests === undefined ? `>= ${t.ranges.length} (1 per ${fmtNum(t.pageRows)} trades${t.target.kind === 'trades' ? ', plus a lookup' : ''})` : t.requests,
        t.weight === undefined ? `${t.pageWeight} per request` : t.weight,
        t.seconds === undefined ? '?' : fmtSeconds(t.seconds),
        redactUrl(t.baseUrl),
      ]),
      ['left', 'left', 'right', 'right', 'right', 'left'],
    )
    const limits = [
      ...(Object.keys(plan.budgets).length ? [`weight budget ${Object.entries(plan.budgets).map(([e, w]) => `${e} ${fmtNum(w as number)}/min`).join(', ')}`] : []),
      ...(Object.keys(plan.rates).length ? [`request rate ${Object.entries(plan.rates).map(([e, r]) => `${e} ${fmtNum(r as number)}/s`).join(', ')}`] : []),
    ]
    process.stdout.write(`dry run: nothing was sent; ${limits.join('; ')}; estimates assume 250 ms per request\n`)
    return
  }

  const progress = progressLine()
  const tty = process.stderr.isTTY
  const log = logger('mercury:backfill')
  const report = await runBackfill({
    ...options,
    onNotice: (msg) => log.warn(msg),
    onProgress: (p) => {
      const secs = p.elapsedMs / 1000
      const rate = p.rowsFetched / Math.max(secs, 1e-3)
      const pct = p.todoUs > 0 ? Math.min(100, (100 * p.doneUs) / p.todoUs) : 100
      const eta = p.doneUs > 0 ? ((p.todoUs - p.doneUs) * secs) / p.doneUs : NaN
      const text =
        `${p.label}: ${pct.toFixed(0)}% to ${isoUs(p.coveredTo)}, ${fmtNum(p.rowsFetched)} rows, ` +
        `${fmtNum(Math.round(rate))} rows/s, ${fmtNum(p.requests)} requests, ETA ${fmtSeconds(eta)}`
      progress.update(text)
      if (!tty && p.event === 'commit' && p.todoUs > 0) process.stderr.write(text + '\n')
    },
  })
  progress.done()
  const failures = report.targets.filter((t) => t.error !== undefined)
  const rate = report.rowsFetched / Math.max(report.seconds, 1e-9)
  if (g.json) {
    printJson({
      targets: report.targets.map((t) => ({
        instrument: t.instrument,
        kind: t.kind,
        interval: t.interval,
        from: isoUs(t.from),
        to: isoUs(t.to),
        status: t.status,
        error: t.error ?? null,
        resumedFrom: t.resumedFrom !== undefined ? isoUs(t.resumedFrom) : null,
        coveredTo: isoUs(t.coveredTo),
        requests: t.requests,
        weight: t.weight,
        rowsFetched: t.rowsFetched,
        rowsWritten: t.rowsWritten,
        commits: t.commits,
        seconds: t.seconds,
      })),
      failed: report.failed,
      requests: report.requests,
      weight: report.weight,
      maxWindowWeight: report.maxWindowWeight,
      retries: report.retries,
      rateLimited: report.rateLimited,
      pausedMs: report.pausedMs,
      budgetWaits: report.budgetWaits,
      budgetWaitedMs: report.budgetWaitedMs,
      rowsFetched: report.rowsFetched,
      rowsWritten: report.rowsWritten,
      seconds: report.seconds,
      rowsPerSecond: Math.round(rate),
    })
  } else {
    await printTable(
      ['dataset', 'status', 'complete to', 'requests', 'rows fetched', 'rows written', 'seconds'],
      report.targets.map((t) => [
        t.label,
        t.status === 'done' && t.requests === 0 ? 'up to date' : t.status,
        isoUs(t.coveredTo),
        t.requests,
        t.rowsFetched,
        t.rowsWritten,
        t.seconds.toFixed(1),
      ]),
      ['left', 'left', 'left', 'right', 'right', 'right', 'right'],
    )
    const extra = [
      report.retries ? `${report.retries} ${report.retries === 1 ? 'retry' : 'retries'}` : '',
      report.rateLimited ? `${report.rateLimited} rate-limited (paused ${(report.pausedMs / 1000).toFixed(1)} s)` : '',
      report.budgetWaits ? `waited ${(report.budgetWaitedMs / 1000).toFixed(1)} s for weight` : '',
    ].filter(Boolean)
    process.stdout.write(
      `${fmtNum(report.requests)} requests (weight ${fmtNum(report.weight)}${extra.length ? '; ' + extra.join(', ') : ''}), ` +
        `${fmtNum(report.rowsFetched)} rows in ${report.seconds.toFixed(2)} s (${fmtNum(Math.round(rate))} rows/s); lake: ${g.dataDir}\n`,
    )
  }
  if (failures.length === 1) throw new FatalError(failures[0].error as string)
  if (failures.length > 1) {
    for (const f of failures) process.stderr.write(`mercury: ${f.error}\n`)
    throw new FatalError(`${failures.length} of ${report.targets.length} backfills failed (see above)`)
  }
}

async function archiveAction(opts: BackfillOpts & { archive: string[] }, cmd: Command): Promise<void> {
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
}
