import type { Command } from 'commander'
import { UsageError } from '../lib/errors.js'
import { formatInstrument, parseInstrument } from '../lib/instrument.js'
import { isoUs, parseInterval, parseTime } from '../lib/time.js'
import type { SimConfig } from '../lib/backtest/types.js'
import { fmtNum, globals, intOption, printJson, printTable, progressLine } from './common.js'

interface BacktestOptions {
  strategy?: string
  interval: string
  from?: string
  to?: string
  param?: string[]
  fees?: string
  slippage: string
  capital: string
  leverage: string
  market?: string
  fill: string
  intrabar?: string
  limitFill: string
  participation?: string
  sizing?: string
  maxDrawdown?: string
  maxDailyLoss?: string
  maxLosses?: number
  maxOrderNotional?: string
  maxLeverage?: string
  report?: string
  trades?: string
  equity?: string
  strict?: boolean
  check?: boolean
  optimize?: string
  trials?: number
  folds?: number
  workers?: number
  objective?: string
  seed?: number
}

const repeat = (v: string, p: string[] = []) => [...p, v]

/** A positive number option, e.g. --capital. */
function positive(flag: string, text: string, what = 'a positive number'): number {
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`Invalid ${flag}: '${text}'. Expected ${what}`)
  return n
}

/** A fraction given as 0.2 or 20%. */
function fraction(flag: string, text: string): number {
  const t = text.trim()
  const n = t.endsWith('%') ? Number(t.slice(0, -1)) / 100 : Number(t)
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw new UsageError(`Invalid ${flag}: '${text}'. Expected a fraction such as 0.2 or 20%`)
  return n
}

/** `--param k=v` (numbers) into a record; ranges (`k=lo:hi:step`) are for --optimize only. */
function fixedParams(items: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const item of items) {
    const m = /^([A-Za-z_][\w-]*)=(-?\d+(?:\.\d+)?(?:e-?\d+)?)$/.exec(item.trim())
    if (!m) {
      const range = /^[A-Za-z_][\w-]*=[^:]+:/.test(item)
      throw new UsageError(
        `Invalid --param: '${item}'. Expected name=value, e.g. period=21` + (range ? ' (ranges such as lo:hi:step need --optimize)' : ''),
      )
    }
    out[m[1]] = Number(m[2])
  }
  return out
}

/** `--sizing fraction=0.5 | notional=1000 | vol=0.3[:atr|:realized] | kelly=0.25` */
function parseSizing(text: string) {
  const m = /^(fraction|notional|vol|kelly)=(\d+(?:\.\d+)?)(?::(atr|realized))?$/.exec(text.trim())
  const bad = () =>
    new UsageError(`Invalid --sizing: '${text}'. Expected fraction=F (of buying power), notional=QUOTE, vol=ANNUAL_TARGET[:atr|:realized] or kelly=CAP, e.g. fraction=0.5`)
  if (!m) throw bad()
  const v = Number(m[2])
  if (!(v > 0)) throw bad()
  if (m[1] !== 'vol' && m[3]) throw bad()
  switch (m[1]) {
    case 'fraction':
      if (v > 1) throw bad()
      return { mode: 'fixed_fraction', fraction: v } as const
    case 'notional':
      return { mode: 'fixed_notional', notional: v } as const
    case 'vol':
      return { mode: 'vol_target', target: v, estimator: (m[3] ?? 'atr') as 'atr' | 'realized' } as const
    default:
      if (v > 1) throw bad()
      return { mode: 'kelly', cap: v } as const
  }
}

const pct = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%` : x === Infinity ? '∞' : '-')
const num = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : x === Infinity ? '∞' : x === -Infinity ? '-∞' : '-')
const money = (x: number) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : '-')
const fmtQty = (x: number) => (Number.isFinite(x) ? String(Number(x.toPrecision(8))) : '-')

export function registerBacktest(program: Command): void {
  program
    .command('backtest')
    .description('run a strategy over the lake\'s bars with fees, slippage, funding and a risk gate, against buy-and-hold')
    .argument('<instrument...>', 'exchange:SYMBOL, one or more (traded on one clock)')
    .option('--strategy <name|file>', 'built-in (rsi-reversion, mtf-trend, buy-and-hold) or a .js/.mjs/.ts file')
    .option('--interval <interval>', 'bar interval; finer bars in the lake are resampled (closed buckets only)', '1h')
    .option('--from <time>', 'start (inclusive); history before it warms the indicators up')
    .option('--to <time>', 'end (exclusive)')
    .option('--param <name=value>', 'strategy parameter, repeatable, e.g. period=21 (with --optimize: name=lo:hi:step)', repeat)
    .option('--fees <maker=R,taker=R>', 'fee rates as fractions, e.g. maker=0.0002,taker=0.0005 (default: the venue\'s base tier)')
    .option('--slippage <bps|book>', 'taker slippage in basis points, or `book` to walk the lake\'s book snapshots', '1')
    .option('--capital <amount>', 'starting cash in the quote currency', '10000')
    .option('--leverage <x>', 'leverage of perpetual positions (isolated margin)', '1')
    .option('--market <spot|perp>', 'market of every instrument (default: binance-futures perp, others spot)')
    .option('--fill <next-open|close>', 'market orders fill at the next bar\'s open, or at the signal bar\'s close (optimistic)', 'next-open')
    .option('--intrabar <1m>', 'resolve stop/target/liquidation order inside each bar with the lake\'s 1m bars')
    .option('--limit-fill <touch|through>', 'a limit fills when the bar reaches its price, or only when it trades through', 'touch')
    .option('--participation <fraction>', 'fill at most this share of each bar\'s volume (e.g. 10%); the rest fills later')
    .option('--sizing <mode=value>', 'size of orders without a quantity: fraction=F, notional=Q, vol=TARGET[:atr|:realized], kelly=CAP')
    .option('--max-drawdown <fraction>', 'halt and flatten when equity falls this far below its peak (e.g. 20%)')
    .option('--max-daily-loss <fraction>', 'halt and flatten for the rest of the UTC day after this loss (e.g. 5%)')
    .option('--max-losses <n>', 'reduce-only for the rest of the UTC day after n losing trades in a row', intOption('--max-losses'))
    .option('--max-order-notional <amount>', 'cut orders to this notional')
    .option('--max-leverage <x>', 'cut orders that would take gross exposure above x times equity')
    .option('--report <file.html>', 'write a self-contained HTML report')
    .option('--trades <file>', 'write the closed trades (.csv or .parquet)')
    .option('--equity <file>', 'write the equity curve with the benchmark (.csv or .parquet)')
    .option('--strict', 'refuse to run when the range has data gaps (exit 1 naming the first)')
    .option('--check', 'check the accounting invariant at every bar (slower; for debugging)')
    .option('--optimize <grid|random|tpe>', 'search the strategy\'s parameters instead of one run (walk-forward)')
    .option('--trials <n>', 'with --optimize random|tpe: parameter sets to try', intOption('--trials'))
    .option('--folds <k>', 'with --optimize: walk-forward folds', intOption('--folds'))
    .option('--workers <n>', 'with --optimize: worker threads', intOption('--workers'))
    .option('--objective <name>', 'with --optimize: what to maximise (sharpe, total_return, calmar, sortino, cagr)')
    .option('--seed <n>', 'with --optimize: random seed', intOption('--seed'))
    .addHelpText(
      'after',
      `
Fills: market orders at the next bar's open (--fill close: the signal bar's close, optimistic); limits at their
price when the bar reaches it, or at the open when it gaps through in your favour; stops at their price, or the open
when it gaps through against you. A stop and a target hit in the same bar: the stop wins, unless --intrabar 1m
settles the order with the 1m bars. Fees default to each venue's base tier (binance 0.1%/0.1%, binance-futures
0.02%/0.05%, coinbase 0.6%/1.2% maker/taker). Perpetuals pay funding from the lake's funding data (longs pay positive
rates) and are liquidated at their isolated-margin liquidation price. A strategy file exports an object with
name, params and onBar(ctx) (default export); docs/STRATEGIES.md describes ctx (bars, ctx.indicator/value,
ctx.order, ctx.position, ...). With --optimize, every parameter is searched over its own range unless --param
narrows it (name=lo:hi[:step]) or fixes it (name=value).

Examples:
  $ mercury backtest binance:BTCUSDT --strategy rsi-reversion --interval 1h
  $ mercury backtest binance:BTCUSDT --strategy rsi-reversion --param period=21 --param lower=25 --report out.html
  $ mercury backtest binance:BTCUSDT --strategy mtf-trend --interval 15m --intrabar 1m --slippage 2 --trades trades.csv
  $ mercury backtest binance-futures:BTCUSDT --strategy mtf-trend --param short=1 --leverage 3 --fees maker=0.0002,taker=0.0005
  $ mercury backtest binance:BTCUSDT --strategy ./my-strategy.mjs --from 2024-12-01 --strict --json
  $ mercury backtest binance:BTCUSDT --strategy rsi-reversion --optimize tpe --trials 200 --folds 4 --param period=5:50:1`,
    )
    .action(async (targets: string[], opts: BacktestOptions, cmd: Command) => {
      const g = globals(cmd)
      if (!opts.strategy) throw new UsageError('Missing --strategy: a built-in (rsi-reversion, mtf-trend, buy-and-hold) or a .js/.mjs/.ts file')
      const instruments = targets.map((t) => parseInstrument(t))
      const interval = parseInterval(opts.interval)
      const from = opts.from ? parseTime(opts.from, '--from') : undefined
      const to = opts.to ? parseTime(opts.to, '--to') : undefined
      if (from !== undefined && to !== undefined && to <= from) throw new UsageError('Invalid --to: it must be after --from')
      const { parseFees, parseSlippage } = await import('../lib/backtest/costs.js')
      const fees = opts.fees !== undefined ? parseFees(opts.fees) : undefined
      const slippage = parseSlippage(opts.slippage)
      const capital = positive('--capital', opts.capital, 'a positive amount, e.g. 10000')
      const leverage = positive('--leverage', opts.leverage, 'a number from 1 to 125')
      if (leverage < 1 || leverage > 125) throw new UsageError(`Invalid --leverage: '${opts.leverage}'. Expected a number from 1 to 125`)
      if (opts.market !== undefined && opts.market !== 'spot' && opts.market !== 'perp') {
        throw new UsageError(`Invalid --market: '${opts.market}'. Expected spot or perp`)
      }
      if (opts.fill !== 'next-open' && opts.fill !== 'close') throw new UsageError(`Invalid --fill: '${opts.fill}'. Expected next-open or close`)
      if (opts.intrabar !== undefined && opts.intrabar !== '1m') throw new UsageError(`Invalid --intrabar: '${opts.intrabar}'. Expected 1m`)
      if (opts.limitFill !== 'touch' && opts.limitFill !== 'through') throw new UsageError(`Invalid --limit-fill: '${opts.limitFill}'. Expected touch or through`)
      const maxParticipation = opts.participation !== undefined ? fraction('--participation', opts.participation) : undefined
      const risk = {
        sizing: opts.sizing !== undefined ? parseSizing(opts.sizing) : undefined,
        maxDrawdown: opts.maxDrawdown !== undefined ? fraction('--max-drawdown', opts.maxDrawdown) : undefined,
        maxDailyLoss: opts.maxDailyLoss !== undefined ? fraction('--max-daily-loss', opts.maxDailyLoss) : undefined,
        maxConsecutiveLosses: opts.maxLosses,
        maxOrderNotional: opts.maxOrderNotional !== undefined ? positive('--max-order-notional', opts.maxOrderNotional) : undefined,
        maxLeverage: opts.maxLeverage !== undefined ? positive('--max-leverage', opts.maxLeverage) : undefined,
      }
      for (const [flag, file, exts] of [
        ['--report', opts.report, ['.html', '.htm']],
        ['--trades', opts.trades, ['.csv', '.parquet']],
        ['--equity', opts.equity, ['.csv', '.parquet']],
      ] as const) {
        if (file !== undefined && !exts.some((e) => file.toLowerCase().endsWith(e))) {
          throw new UsageError(`Invalid ${flag}: '${file}'. Expected a file name ending in ${exts.join(' or ')}`)
        }
      }
      const sim = {
        capital,
        fees,
        slippage,
        leverage,
        fillAt: opts.fill === 'close' ? ('close' as const) : ('next_open' as const),
        intrabar: opts.intrabar === '1m' ? ('1m' as const) : ('none' as const),
        limitFill: opts.limitFill as 'touch' | 'through',
        maxParticipation,
        risk,
        checkInvariant: opts.check === true,
      }
      const market = opts.market as 'spot' | 'perp' | undefined

      if (opts.optimize !== undefined) {
        if (!['grid', 'random', 'tpe'].includes(opts.optimize)) {
          throw new UsageError(`Invalid --optimize: '${opts.optimize}'. Expected grid, random or tpe`)
        }
        await optimize(g, opts, { instruments, interval, from, to, market, sim })
        return
      }
      for (const [flag, v] of [['--trials', opts.trials], ['--folds', opts.folds], ['--workers', opts.workers], ['--objective', opts.objective], ['--seed', opts.seed]] as const) {
        if (v !== undefined) throw new UsageError(`Invalid ${flag}: it applies to --optimize runs only`)
      }
      const params = fixedParams(opts.param ?? [])

      const { runBacktest, describeGap } = await import('../lib/backtest/engine.js')
      const progress = progressLine()
      progress.update(`loading ${targets.join(', ')} ${interval} bars…`)
      const result = await runBacktest({
        lakeDir: g.dataDir,
        instruments,
        interval,
        from,
        to,
        market,
        strategy: opts.strategy,
        params,
        strict: opts.strict === true,
        ...sim,
        onData: (data) => {
          progress.done()
          // With --strict the refusal names the gap in one line; otherwise each gap is reported before the run
          if (!opts.strict) {
            for (const gap of data.gaps.slice(0, 10)) process.stderr.write(`warning: gap in the data: ${describeGap(gap)}\n`)
            if (data.gaps.length > 10) process.stderr.write(`warning: … and ${data.gaps.length - 10} more gaps\n`)
          }
          for (const w of data.warnings) process.stderr.write(`warning: ${w}\n`)
          progress.update(`running ${opts.strategy} over ${fmtNum(data.time.length - data.start)} bars…`)
        },
      })
      progress.done()
      const { computeMetrics } = await import('../lib/backtest/metrics.js')
      const metrics = computeMetrics(result)
      const files = await writeRunFiles(opts, result, metrics)
      const n = result.equity.equity.length
      const finalEquity = n ? result.equity.equity[n - 1] : result.startCapital
      const finalBench = n ? result.benchmark.equity[n - 1] : result.startCapital
      if (g.json) {
        // Non-finite metrics as "NaN"/"Infinity", as --optimize writes them (plain JSON would make both null)
        const { toJsonData } = await import('../lib/util/json.js')
        printJson(toJsonData({
          strategy: result.strategy,
          params: result.params,
          instruments: result.instruments.map(formatInstrument),
          interval: result.interval,
          from: isoUs(result.from),
          to: isoUs(result.to),
          bars: result.bars,
          startCapital: result.startCapital,
          finalEquity,
          benchmarkFinalEquity: finalBench,
          metrics,
          trades: result.trades.length,
          openPositions: (result.openPositions ?? []).map((o) => ({ ...o, entryTime: isoUs(o.entryTime) })),
          fills: result.fills.length,
          orders: result.orders?.length ?? 0,
          fees: result.fees,
          funding: result.funding,
          slippage: result.slippage,
          turnover: result.turnover,
          gaps: result.gaps.map((x) => ({ instrument: x.instrument, from: isoUs(x.from), to: isoUs(x.to), missing: x.missing })),
          riskEvents: result.riskEvents.map((e) => ({ ...e, time: isoUs(e.time) })),
          warnings: result.warnings ?? [],
          settings: result.settings,
          files,
        }))
        return
      }
      const m = metrics
      const b = m.benchmark
      process.stdout.write(
        `${result.strategy} on ${result.instruments.map(formatInstrument).join(', ')} ${result.interval}, ${isoUs(result.from)} to ${isoUs(result.to)} ` +
          `(${fmtNum(result.bars)} bars), capital ${money(result.startCapital)}` +
          (Object.keys(result.params).length ? `, ${Object.entries(result.params).map(([k, v]) => `${k}=${v}`).join(' ')}` : '') +
          '\n',
      )
      await printTable(
        ['', result.strategy, 'buy-and-hold'],
        [
          ['total return', pct(m.totalReturn), pct(b.totalReturn)],
          ['CAGR', pct(m.cagr), pct(b.cagr)],
          ['Sharpe', num(m.sharpe), num(b.sharpe)],
          ['max drawdown', pct(m.maxDrawdown), pct(b.maxDrawdown)],
          ['final equity', money(finalEquity), money(finalBench)],
          ['trades (closed)', String(m.trades), ''],
          ['win rate', Number.isFinite(m.winRate) ? pct(m.winRate).replace('+', '') : '-', ''],
          ['profit factor', num(m.profitFactor), ''],
          ['time in market', Number.isFinite(m.exposure) ? `${(m.exposure * 100).toFixed(1)}%` : '-', '100.0%'],
          ['fees', money(m.fees), ''],
          ['slippage', money(result.slippage), ''],
          ...(result.settings?.market.includes('perp') ? [['funding', money(m.funding), '']] : []),
        ],
        ['left', 'right', 'right'],
      )
      const diff = (m.totalReturn - b.totalReturn) * 100
      process.stdout.write(
        `${result.strategy} ${pct(m.totalReturn)} vs buy-and-hold ${pct(b.totalReturn)} (${diff >= 0 ? '+' : ''}${diff.toFixed(2)} points)` +
          `; Sharpe ${num(m.sharpe)} vs ${num(b.sharpe)}; max drawdown ${pct(m.maxDrawdown)} vs ${pct(b.maxDrawdown)}\n`,
      )
      const rejected = result.riskEvents.filter((e) => e.action === 'rejected' || e.action === 'resized').length
      const states = result.riskEvents.filter((e) => e.action !== 'rejected' && e.action !== 'resized')
      if (rejected) process.stdout.write(`risk: ${rejected} order(s) rejected or resized (see --json riskEvents)\n`)
      for (const e of states.slice(0, 5)) process.stdout.write(`risk: ${e.action} at ${isoUs(e.time)}: ${e.reason}\n`)
      for (const o of result.openPositions ?? []) {
        process.stdout.write(
          `open at the end: ${o.direction} ${fmtQty(o.qty)} ${o.instrument} since ${isoUs(o.entryTime)} at ${fmtQty(o.entryPrice)}, ` +
            `marked at ${fmtQty(o.markPrice)}: unrealised ${money(o.unrealised)} (not in the trade statistics)\n`,
        )
      }
      if (result.gaps.length) process.stdout.write(`note: the range has ${result.gaps.length} data gap(s); --strict refuses to run over them\n`)
      for (const [k, v] of Object.entries(files)) process.stdout.write(`wrote ${k} ${v}\n`)
    })
}

/** Writes what --report, --trades and --equity ask for; returns what was written, by kind. */
async function writeRunFiles(
  opts: Pick<BacktestOptions, 'report' | 'trades' | 'equity'>,
  result: import('../lib/backtest/types.js').BacktestResult,
  metrics: import('../lib/backtest/types.js').Metrics,
): Promise<Record<string, string>> {
  const files: Record<string, string> = {}
  if (!opts.report && !opts.trades && !opts.equity) return files
  const { renderHtmlReport, writeEquityFile, writeTradesFile } = await import('../lib/backtest/report.js')
  if (opts.report) {
    const { writeFileAtomic } = await import('../lib/util/fs.js')
    const { mkdirSync } = await import('node:fs')
    const { dirname, resolve } = await import('node:path')
    mkdirSync(dirname(resolve(opts.report)), { recursive: true })
    writeFileAtomic(opts.report, renderHtmlReport(result, metrics))
    files.report = opts.report
  }
  if (opts.trades) {
    await writeTradesFile(opts.trades, result)
    files.trades = opts.trades
  }
  if (opts.equity) {
    await writeEquityFile(opts.equity, result)
    files.equity = opts.equity
  }
  return files
}

/** --optimize: the optimiser (src/lib/backtest/optimize.ts) searches; this prints its table or JSON. */
async function optimize(
  g: ReturnType<typeof globals>,
  opts: BacktestOptions,
  base: {
    instruments: ReturnType<typeof parseInstrument>[]
    interval: ReturnType<typeof parseInterval>
    from: number | undefined
    to: number | undefined
    market: 'spot' | 'perp' | undefined
    sim: Omit<SimConfig, 'params'>
  },
): Promise<void> {
  const { runOptimization, formatOptimization, optimizationToJson } = await import('../lib/backtest/optimize.js')
  const { parseParamOverride } = await import('../lib/backtest/opt-space.js')
  const { OBJECTIVES, objectiveValue } = await import('../lib/backtest/metrics.js')
  const objective = opts.objective
  if (objective !== undefined && !(OBJECTIVES as readonly string[]).includes(objective)) {
    throw new UsageError(`Invalid --objective: '${objective}'. Expected one of ${OBJECTIVES.join(', ')}`)
  }
  const progress = progressLine()
  const result = await runOptimization({
    strategy: opts.strategy as string,
    lakeDir: g.dataDir,
    instruments: base.instruments,
    interval: base.interval,
    from: base.from,
    to: base.to,
    market: base.market,
    sim: base.sim,
    params: (opts.param ?? []).map(parseParamOverride),
    method: opts.optimize as 'grid' | 'random' | 'tpe',
    trials: opts.trials,
    folds: opts.folds,
    seed: opts.seed,
    threads: opts.workers,
    objective: objective as (typeof OBJECTIVES)[number] | undefined,
    onProgress: (p) =>
      progress.update(`${p.folds > 1 ? `fold ${p.fold + 1}/${p.folds}: ` : ''}${p.done}/${p.total} trials, best ${Number.isFinite(p.best) ? p.best.toFixed(3) : '-'}`),
  })
  progress.done()
  // --report, --trades and --equity describe one run of the best parameters (the ones to trade next) over the
  // whole range: in-sample for the folds it was chosen on, which the report's header says through its params
  let files: Record<string, string> = {}
  if (opts.report || opts.trades || opts.equity) {
    const { runBacktest } = await import('../lib/backtest/engine.js')
    const { computeMetrics } = await import('../lib/backtest/metrics.js')
    progress.update(`running the best parameters over the whole range for the report…`)
    const run = await runBacktest({
      lakeDir: g.dataDir,
      instruments: base.instruments,
      interval: base.interval,
      from: base.from,
      to: base.to,
      market: base.market,
      strategy: opts.strategy as string,
      params: result.best.params,
      strict: opts.strict === true,
      ...base.sim,
    })
    progress.done()
    files = await writeRunFiles(opts, run, computeMetrics(run))
  }
  if (g.json) {
    printJson({ ...(optimizationToJson(result) as Record<string, unknown>), files })
    return
  }
  const rows = formatOptimization(result)
  await printTable(rows[0], rows.slice(1))
  const best = Object.entries(result.best.params).map(([k, v]) => `${k}=${v}`).join(' ')
  process.stdout.write(
    `${result.method} search of ${result.strategy} on ${result.instruments.join(', ')} ${result.interval}: ${result.runs} runs on ${result.threads} thread(s) ` +
      `in ${(result.wallMs / 1000).toFixed(1)} s; best ${result.objective} ${result.best.score.toFixed(3)} with ${best || '(no parameters)'}\n`,
  )
  if (result.foldCount > 0 && result.oos) {
    process.stdout.write(`out-of-sample (walk-forward, ${result.foldCount} folds): return ${pct(result.oos.metrics.totalReturn)}, ${result.objective} ${num(objectiveValue(result.oos.metrics, result.objective))}\n`)
  }
  for (const [k, v] of Object.entries(files)) process.stdout.write(`wrote ${k} ${v} (best parameters over the whole range)\n`)
}
