import type { Command } from 'commander'
import { UsageError } from '../lib/errors.js'
import { parseInstrument } from '../lib/instrument.js'
import type { Instrument } from '../lib/instrument.js'
import type { Interval } from '../lib/consts.js'
import type { LiveEvent, LiveSource } from '../lib/signals/live.js'
import { isoUs, parseDuration, parseInterval, parseTime } from '../lib/time.js'
import { fmtNum, globals, printJson, printTable, type GlobalOptions } from './common.js'

function list(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)]
}

/** `--param rsi.timePeriod=21` into { rsi: { timePeriod: 21 } } */
function parseParams(items: string[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {}
  for (const item of items) {
    const m = /^([a-z0-9_]+)\.([A-Za-z0-9]+)=(-?[\d.]+(?:e-?\d+)?)$/.exec(item)
    if (!m) throw new UsageError(`Invalid --param: '${item}'. Expected indicator.name=value, e.g. rsi.timePeriod=21`)
    out[m[1]] ??= {}
    out[m[1]][m[2]] = Number(m[3])
  }
  return out
}

const fmtValue = (v: number) => (Number.isFinite(v) ? (Math.abs(v) >= 1000 ? v.toFixed(2) : Number(v.toPrecision(6)).toString()) : '')

interface SignalsOpts {
  interval?: string
  from?: string
  to?: string
  only?: string[]
  mtf?: string[]
  param?: string[]
  store?: boolean
  category?: string
  live?: boolean
  bus?: string
  source?: string
  grace?: string
  gapWait?: string
  warmup?: string
}

/** Indicators shown as table columns in --live when --only does not name them */
const LIVE_COLUMNS = ['rsi', 'macd', 'adx', 'stoch', 'mfi']
const LIVE_MAX_COLUMNS = 8

/** `--live`: follows the collector's bus, one row (or JSON line) per closed bar until SIGINT/SIGTERM. */
async function runLive(
  g: GlobalOptions,
  target: string,
  instrument: Instrument,
  interval: Interval,
  mtf: Interval[],
  params: Record<string, Record<string, number>>,
  opts: SignalsOpts,
): Promise<void> {
  if (opts.from !== undefined || opts.to !== undefined) {
    throw new UsageError('Invalid --from/--to with --live: live signals start at the end of the lake; use --warmup to limit the history read')
  }
  const spec = (opts.bus ?? process.env.MERCURY_BUS ?? '').trim()
  if (!spec) {
    throw new UsageError(
      'Missing --bus: --live reads the bus that `mercury collect --bus` publishes to, e.g. --bus redis://127.0.0.1:6379 (or set MERCURY_BUS)',
    )
  }
  if (spec === 'memory') {
    throw new UsageError(
      "Invalid --bus: 'memory'. A memory bus lives inside one process; --live needs the collector's Redis, e.g. redis://127.0.0.1:6379",
    )
  }
  const { LIVE_SOURCES, checkLive, startLive } = await import('../lib/signals/live.js')
  const source = (opts.source ?? 'auto') as LiveSource
  if (!LIVE_SOURCES.includes(source)) throw new UsageError(`Invalid --source: '${opts.source}'. Expected one of ${LIVE_SOURCES.join(', ')}`)
  const graceMs = parseDuration(opts.grace ?? '2s', '--grace')
  const gapWaitMs = parseDuration(opts.gapWait ?? '10s', '--gap-wait')
  let warmupBars: number | 'all' = 'all'
  if (opts.warmup !== undefined && opts.warmup !== 'all') {
    warmupBars = Number(opts.warmup)
    if (!/^\d+$/.test(opts.warmup) || warmupBars < 1) {
      throw new UsageError(`Invalid --warmup: '${opts.warmup}'. Expected a number of bars such as 5000, or all`)
    }
  }
  const cfg = { instrument, interval, only: opts.only, mtf, params, source, graceMs, gapWaitMs }
  checkLive(cfg)

  // Handlers go in before anything slow, so a signal during the warm-up still ends the run cleanly
  let onSignal: () => void = () => undefined
  const stopped = new Promise<void>((resolve) => (onSignal = resolve))
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const line = (x: unknown) => process.stdout.write(JSON.stringify(x) + '\n')
  let table: ((e: Extract<LiveEvent, { type: 'bar' }>) => void) | undefined
  const onEvent = (e: LiveEvent) => {
    if (e.type === 'bar') {
      if (g.json) {
        const b = e.bar
        line({
          type: 'bar',
          time: isoUs(b.openTime),
          openTime: b.openTime,
          open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, trades: b.trades,
          takerBuyVolume: b.takerBuyVolume,
          source: b.source,
          empty: b.empty,
          complete: b.complete,
          values: e.values,
          readings: Object.fromEntries(e.latest.map((l) => [l.timeframe === interval ? l.id : `${l.id}@${l.timeframe}`, l.reading ?? null])),
          confluence: e.confluence ? e.confluence.outputs.confluence : null,
          confluenceReading: e.confluence?.reading ?? null,
        })
      } else table?.(e)
    } else if (e.type === 'warning') {
      if (g.json) line({ type: 'warning', kind: e.kind, message: e.message, from: e.from ?? null, to: e.to ?? null })
      else process.stderr.write(`warning: ${e.message}\n`)
    } else {
      const r = e.event
      if (g.json) {
        line({ type: 'integrity', time: isoUs(r.timestamp), kind: r.kind, stream: r.stream, from: r.from ?? null, to: r.to ?? null, detail: r.detail })
      } else process.stderr.write(`integrity: ${r.kind} on ${r.stream} at ${isoUs(r.timestamp)}: ${r.detail}\n`)
    }
  }

  const { createBus } = await import('../lib/bus/index.js')
  let bus: Awaited<ReturnType<typeof createBus>> | undefined
  try {
    bus = await createBus(spec, { flag: '--bus', clientName: 'mercury-signals' })
    const session = await startLive({ ...cfg, lakeDir: g.dataDir, bus, warmupBars, store: opts.store === true, onEvent })
    const r = session.ready
    if (g.json) {
      line({
        type: 'ready', instrument: target, interval, bus: bus.display, source, channels: r.channels, indicators: r.indicators,
        warmup: {
          bars: r.warmupBars, interval: r.warmupSource ?? null, from: r.warmupFrom === undefined ? null : isoUs(r.warmupFrom),
          until: r.warmedUntil === undefined ? null : isoUs(r.warmedUntil), gaps: r.warmupGaps, trades: r.warmupTrades,
        },
        lastTradeId: r.lastTradeId ?? null,
      })
    } else {
      process.stderr.write(
        `live ${target} ${interval} on ${bus.display}: warmed up on ${fmtNum(r.warmupBars)} bars` +
          (r.warmupFrom !== undefined && r.warmedUntil !== undefined ? ` (${isoUs(r.warmupFrom)} to ${isoUs(r.warmedUntil)})` : '') +
          (r.warmupTrades ? ` and ${fmtNum(r.warmupTrades)} lake trades` : '') + '; Ctrl-C stops\n',
      )
      table = liveTable(interval, r.indicators, opts.only !== undefined && opts.only.length > 0)
    }
    session.begin()
    await stopped
    const c = await session.stop()
    if (g.json) line({ type: 'end', ...c })
    else {
      process.stdout.write(
        `stopped: ${fmtNum(c.bars)} bars (${c.emptyBars} empty, ${c.incompleteBars} incomplete, ${c.exchangeBars} from exchange bars), ` +
          `${fmtNum(c.trades)} trades, ${c.lostTrades} lost, ${c.lateTrades} late; ${c.integrity} integrity events` +
          (opts.store ? `; stored ${fmtNum(c.stored)} values` : '') + '\n',
      )
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await bus?.close()
  }
}

/** Prints a header once and returns the row printer of `--live` without --json. */
function liveTable(interval: Interval, ids: readonly string[], named: boolean) {
  const shown = (named ? ids.filter((id) => id !== 'confluence') : LIVE_COLUMNS.filter((id) => ids.includes(id))).slice(0, LIVE_MAX_COLUMNS)
  const more = named ? ids.filter((id) => id !== 'confluence').length - shown.length : 0
  const cols = [
    ['time', 20], ['close', 12], ['volume', 12], ['trades', 7], ['confluence', 17], ...shown.map((id) => [id, 18] as [string, number]), ['note', 10],
  ] as [string, number][]
  const fmt = (cells: string[]) => cells.map((c, k) => c.padEnd(cols[k][1])).join(' ').trimEnd() + '\n'
  process.stdout.write(fmt(cols.map(([h]) => h)))
  if (more > 0) process.stderr.write(`(${more} more indicators not shown; --json prints every value)\n`)
  return (e: Extract<LiveEvent, { type: 'bar' }>) => {
    const b = e.bar
    const cell = (id: string) => {
      const l = e.latest.find((x) => x.id === id && x.timeframe === interval)
      if (!l) return ''
      const first = Object.values(l.outputs)[0]
      return `${fmtValue(first)} ${l.reading ?? ''}`.trim()
    }
    const conf = e.confluence ? `${fmtValue(e.confluence.outputs.confluence)} ${e.confluence.reading ?? ''}`.trim() : ''
    const note = [b.empty ? 'empty' : '', b.complete ? '' : 'incomplete', b.source === 'exchange' ? 'exchange' : ''].filter(Boolean).join(',')
    process.stdout.write(fmt([isoUs(b.openTime), fmtValue(b.close), fmtValue(b.volume), String(b.trades), conf, ...shown.map(cell), note]))
  }
}

export function registerSignals(program: Command): void {
  program
    .command('signals')
    .description('technical, microstructure and composite indicators: `signals list`, or compute them over the lake')
    .argument('[instrument|list]', 'exchange:SYMBOL to compute for, or `list` for the catalog')
    .option('--interval <interval>', 'bar interval to compute on (finer bars in the lake are resampled, closed bars only)')
    .option('--from <time>', 'start of the range to report and store (history before it is read for warm-up)')
    .option('--to <time>', 'end of the range, exclusive')
    .option('--only <ids>', 'comma-separated indicator ids (default: every bar indicator)', list)
    .option('--mtf <intervals>', 'higher timeframes to compute on too, joined as of each bar close, e.g. 4h,1d', list)
    .option('--param <indicator.name=value>', 'indicator parameter, repeatable, e.g. rsi.timePeriod=21', (v: string, p: string[] = []) => [...p, v])
    .option('--store', 'with --live: append the live values to the lake (kind `signals`); batch runs store by default')
    .option('--no-store', 'do not write the series into the lake (kind `signals`)')
    .option('--category <category>', 'with `list`: only this category')
    .option('--live', 'follow the collector\'s bus: warm up from the lake, then print a row per closed bar until SIGINT/SIGTERM')
    .option('--bus <spec>', 'with --live: the bus `mercury collect --bus` publishes to, redis://host:port[?mode=streams] (default: env MERCURY_BUS)')
    .option('--source <source>', 'with --live: bars from auto (trades, with the exchange\'s bars as check and stand-in), trades or bars', 'auto')
    .option('--grace <time>', 'with --live: wait after a bar\'s end (plus the feed\'s lag) before closing it when no later trade came', '2s')
    .option('--gap-wait <time>', 'with --live: how long trades behind a hole in the trade ids wait for the missing ones', '10s')
    .option('--warmup <bars|all>', 'with --live: lake bars read for the warm-up', 'all')
    .addHelpText(
      'after',
      `
Series are stored in the lake as kind \`signals\` (long format: open_time, series, value) and can be queried:
  mercury data query "SELECT * FROM signals WHERE series = 'rsi' ORDER BY time DESC LIMIT 5"

--live warms every indicator up from the lake (its bars, then bars built from its trades), subscribes to the
instrument on the collector's Redis bus and prints one row per closed bar (--json: one JSON line per bar, with
every value, reading and the confluence score, plus warning and integrity lines). Bars are built from trades by
exchange time like \`data validate\` rebuilds them; a bar closes when a later trade arrives or --grace after its
end; an interval without trades is a flat bar at the previous close with zero volume. A hole in the trade ids
holds the bar until the trades arrive (REST repair, the lake) or --gap-wait passes; bars next to trades that
never came are marked incomplete. Trade (cvd, vpin, kyle_lambda, ...) and book (ofi, spread, microprice, ...)
indicators run live when named in --only; funding, open-interest and liquidation indicators do not.

Examples:
  $ mercury signals list
  $ mercury signals list --category momentum --json
  $ mercury signals binance:BTCUSDT --interval 1h
  $ mercury signals binance:BTCUSDT --interval 15m --from 2024-12-01 --only rsi,macd,bbands --mtf 1h,4h
  $ mercury signals binance:BTCUSDT --interval 1h --param rsi.timePeriod=21 --no-store --json
  $ mercury collect binance:BTCUSDT --channels trades,book,bars --bus redis://127.0.0.1:6379 &
  $ mercury signals binance:BTCUSDT --interval 1m --live --bus redis://127.0.0.1:6379
  $ MERCURY_BUS=redis://127.0.0.1:6379 mercury signals binance:BTCUSDT --interval 5m --live --mtf 1h --store --json
  $ mercury signals binance:BTCUSDT --interval 1m --live --only rsi,confluence,cvd,ofi --warmup 10000`,
    )
    .action(async (target: string | undefined, opts: SignalsOpts, cmd: Command) => {
      const g = globals(cmd)
      if (target === undefined || target === 'list') {
        if (opts.live) throw new UsageError('Invalid --live with `list`: pass exchange:SYMBOL to follow')
        const { INDICATORS } = await import('../lib/signals/registry.js')
        const { CATEGORIES } = await import('../lib/signals/types.js')
        if (opts.category && !(CATEGORIES as readonly string[]).includes(opts.category)) {
          throw new UsageError(`Invalid --category: '${opts.category}'. Expected one of ${CATEGORIES.join(', ')}`)
        }
        if (target === undefined && !opts.category) {
          throw new UsageError('Missing <instrument>: pass exchange:SYMBOL, or `list` for the catalog')
        }
        const defs = INDICATORS.filter((d) => !opts.category || d.category === opts.category)
        if (g.json) {
          printJson(defs.map((d) => ({ id: d.id, name: d.name, category: d.category, source: d.source, inputs: d.inputs, params: d.params, outputs: d.outputs, talib: d.talib ?? null, notes: d.notes })))
          return
        }
        for (const cat of CATEGORIES) {
          const rows = defs.filter((d) => d.category === cat)
          if (!rows.length) continue
          process.stdout.write(`\n${cat} (${rows.length})\n`)
          await printTable(
            ['id', 'name', 'source', 'parameters (default [min..max])', 'outputs', 'TA-Lib'],
            rows.map((d) => [
              d.id,
              d.name,
              d.source,
              d.params.map((p) => `${p.name}=${p.default} [${p.min}..${p.max}]`).join('\n'),
              d.outputs.join(', '),
              d.talib ?? '',
            ]),
          )
        }
        process.stdout.write(`\n${defs.length} indicators\n`)
        return
      }
      if (opts.category !== undefined) throw new UsageError('Invalid --category: it filters `signals list`; pick the indicators of a run with --only')
      const instrument = parseInstrument(target)
      if (!opts.interval) throw new UsageError('Missing --interval: e.g. --interval 1h')
      const interval = parseInterval(opts.interval)
      const mtf = (opts.mtf ?? []).map((m) => parseInterval(m, '--mtf'))
      const from = opts.from ? parseTime(opts.from, '--from') : undefined
      const to = opts.to ? parseTime(opts.to, '--to') : undefined
      if (from !== undefined && to !== undefined && to <= from) throw new UsageError('Invalid --to: it must be after --from')
      const params = parseParams(opts.param ?? [])
      if (opts.live) return runLive(g, target, instrument, interval, mtf, params, opts)
      if (opts.bus !== undefined) throw new UsageError('Invalid --bus without --live: the batch command reads the lake only')
      const { signalsFromLake } = await import('../lib/signals/lake.js')
      const { confluenceOf } = await import('../lib/signals/compute.js')
      const r = await signalsFromLake({ lakeDir: g.dataDir, instrument, interval, from, to, only: opts.only, mtf, params, store: opts.store !== false })
      const confluence = confluenceOf(r.latest, interval)
      if (g.json) {
        printJson({
          instrument: target,
          interval,
          source: r.source,
          rows: r.rows,
          first: r.first === undefined ? null : isoUs(r.first),
          last: r.last === undefined ? null : isoUs(r.last),
          gaps: r.gaps,
          missingBars: r.missingBars,
          stored: r.stored ? r.stored.rowsWritten : 0,
          confluence: confluence ? confluence.outputs.confluence : null,
          latest: r.latest.map((l) => ({ id: l.id, timeframe: l.timeframe, outputs: l.outputs, reading: l.reading ?? null })),
        })
        return
      }
      if (r.gaps > 0) process.stderr.write(`warning: the bars have ${r.gaps} gaps (${r.missingBars} missing) in the range; indicators ran over the rows present\n`)
      await printTable(
        ['indicator', 'timeframe', 'value', 'reading'],
        r.latest.map((l) => [
          l.id,
          l.timeframe,
          Object.entries(l.outputs).map(([k, v]) => (Object.keys(l.outputs).length > 1 ? `${k} ${fmtValue(v)}` : fmtValue(v))).join('\n'),
          l.reading ?? '',
        ]),
      )
      const summary = [
        `${target} ${interval}${r.source !== interval ? ` (from ${r.source} bars)` : ''}, ${r.last !== undefined ? `last bar ${isoUs(r.last)}` : ''}`,
        confluence ? `confluence ${fmtValue(confluence.outputs.confluence)} (${confluence.reading})` : undefined,
        r.stored ? `stored ${fmtNum(r.stored.rowsWritten)} values` : undefined,
      ].filter(Boolean)
      process.stdout.write(summary.join('; ') + '\n')
    })
}
