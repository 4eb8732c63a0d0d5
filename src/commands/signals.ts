import type { Command } from 'commander'
import { UsageError } from '../lib/errors.js'
import { parseInstrument } from '../lib/instrument.js'
import { isoUs, parseInterval, parseTime } from '../lib/time.js'
import { fmtNum, globals, printJson, printTable } from './common.js'

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
    .option('--no-store', 'do not write the series into the lake (kind `signals`)')
    .option('--category <category>', 'with `list`: only this category')
    .addHelpText(
      'after',
      `
Series are stored in the lake as kind \`signals\` (long format: open_time, series, value) and can be queried:
  mercury data query "SELECT * FROM signals WHERE series = 'rsi' ORDER BY time DESC LIMIT 5"

Examples:
  $ mercury signals list
  $ mercury signals list --category momentum --json
  $ mercury signals binance:BTCUSDT --interval 1h
  $ mercury signals binance:BTCUSDT --interval 15m --from 2024-12-01 --only rsi,macd,bbands --mtf 1h,4h
  $ mercury signals binance:BTCUSDT --interval 1h --param rsi.timePeriod=21 --no-store --json`,
    )
    .action(async (target: string | undefined, opts: {
      interval?: string; from?: string; to?: string; only?: string[]; mtf?: string[]; param?: string[]; store: boolean; category?: string
    }, cmd: Command) => {
      const g = globals(cmd)
      if (target === undefined || target === 'list') {
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
      const instrument = parseInstrument(target)
      if (!opts.interval) throw new UsageError('Missing --interval: e.g. --interval 1h')
      const interval = parseInterval(opts.interval)
      const mtf = (opts.mtf ?? []).map((m) => parseInterval(m, '--mtf'))
      const from = opts.from ? parseTime(opts.from, '--from') : undefined
      const to = opts.to ? parseTime(opts.to, '--to') : undefined
      if (from !== undefined && to !== undefined && to <= from) throw new UsageError('Invalid --to: it must be after --from')
      const params = parseParams(opts.param ?? [])
      const { signalsFromLake } = await import('../lib/signals/lake.js')
      const r = await signalsFromLake({ lakeDir: g.dataDir, instrument, interval, from, to, only: opts.only, mtf, params, store: opts.store })
      const confluence = r.latest.find((l) => l.id === 'confluence' && l.timeframe === interval)
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
