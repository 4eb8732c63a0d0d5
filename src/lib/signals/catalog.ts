// The catalog as Markdown (docs/SIGNALS.md is generated from it and a test keeps the two equal)
import { INDICATORS } from './registry.js'
import { CATEGORIES, type IndicatorDef, type Source } from './types.js'

/** Indicator sources `--live` feeds: bars it closes, and the bus's trades and book snapshots. */
export const LIVE_INPUTS: readonly Source[] = ['bars', 'trades', 'book']

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')

/** Renders every indicator with its parameters, outputs, TA-Lib equivalent and notes. */
export function catalogMarkdown(): string {
  const lines = [
    '# Signals catalog',
    '',
    'Generated from the indicator definitions (`npm run docs:signals`); `mercury signals list` shows the same.',
    'Outputs keep the input length; the first `warm-up` values are NaN. Where a TA-Lib function is named, values',
    'follow TA-Lib exactly (tested against TA-Lib C on real data); deviations are in the notes.',
    '',
    'Batch calls can pass a reusable arena, `runBatch(def, input, params, { arena })` with a `BatchArena`: outputs and',
    'scratch arrays come from it and stay valid until `arena.reset()`; the values are identical. Computing many series',
    'this way skips the cost of first touching new memory (see BENCHMARKS.md). An arena keeps arrays of 4,096 rows and',
    'more in WebAssembly memory, where `mom`, `trange` and the window extremes of `stoch`, `stochf`, `willr` and',
    '`donchian` run as WebAssembly SIMD loops (src/lib/signals/simd.ts) with the same values bit for bit.',
    '',
    `${INDICATORS.length} indicators.`,
  ]
  for (const cat of CATEGORIES) {
    const defs = INDICATORS.filter((d) => d.category === cat)
    if (defs.length === 0) continue
    lines.push('', `## ${cat} (${defs.length})`, '', '| id | name | source | parameters: default [min, max] | outputs | warm-up | TA-Lib | notes |', '|---|---|---|---|---|---|---|---|')
    for (const d of defs) {
      const defaults = Object.fromEntries(d.params.map((p) => [p.name, p.default]))
      lines.push(
        `| \`${d.id}\` | ${esc(d.name)} | ${d.source} | ${d.params.map((p) => `${p.name} ${p.default} [${p.min}, ${p.max}]`).join('<br>') || '-'} | ${d.outputs.join(', ')} | ${d.lookback(defaults)} | ${d.talib ?? '-'} | ${esc(d.notes)} |`,
      )
    }
  }
  return lines.join('\n') + '\n\n' + liveMarkdown()
}

/** The `--live` section of docs/SIGNALS.md, with the indicators it feeds and those it cannot, from the registry. */
export function liveMarkdown(): string {
  const ids = (f: (d: IndicatorDef) => boolean) => INDICATORS.filter(f).map((d) => `\`${d.id}\``).join(', ')
  return [
    '## Live: `mercury signals <exchange:SYMBOL> --interval <i> --live`',
    '',
    'Follows the bus of a running `mercury collect --bus redis://...` (pub/sub or `?mode=streams`; `--bus` or `MERCURY_BUS`,',
    'a `memory` bus cannot be shared between processes) and prints one row per closed bar, or with `--json` one line',
    'per event: `ready` (what the warm-up read), `bar` (time, OHLCV, trades, `source`, `empty`, `complete`, every value',
    'by series name, every reading, the confluence score and its reading), `warning`, `integrity` and, on SIGINT or',
    'SIGTERM, `end` with the counts (exit 0). `--store` appends the values to the lake as kind `signals` through the',
    'collector\'s batched append path, under the same series names as the batch command.',
    '',
    '- **Warm-up.** The bus is subscribed first (records are buffered), then every indicator\'s streaming form is fed the',
    '  lake\'s closed bars of the interval (finer bars resampled, as the batch command does; all of them, or the last',
    '  `--warmup N`), then bars built from the lake\'s trades after the last of those bars. So a run beside a collector',
    '  that persists trades continues exactly where the lake ends. Lake data is warm-up; bars are emitted from the bus on.',
    '  The warm-up and live values are those of the batch computation over the same bars, bit for bit (tested for',
    '  every bar indicator, with `--mtf`).',
    '- **Bars from trades** (`trade`, or `agg_trade` where that is what the bus carries), bucketed by exchange time with',
    '  the conventions of `mercury data validate`: open and close are the prices of the lowest and highest trade id,',
    '  high and low the extremes, volume and taker-buy volume sum the amounts (quote volumes sum price x amount),',
    '  `trades` counts exchange trades (an aggTrade its id range). Built bars equal Binance\'s klines for the same',
    '  trades (tested on real data).',
    '- **Closing.** A bar closes when a trade of a later bucket arrives, or when the clock passes the bucket\'s end plus',
    '  the feed\'s lag (receipt minus exchange time of recent trades) plus `--grace` (2 s), so quiet markets still close',
    '  bars. An interval without trades is a flat bar at the previous close with zero volume and zero trades (`empty`),',
    '  Binance\'s kline convention: one row per interval. A trade for a bar already closed is counted and reported',
    '  (`late_trades`); the bar stays as emitted. The bar being built when the run stops is not emitted. The first',
    '  bucket of a stream with nothing before it (no lake trades) is partial and skipped.',
    '- **Exchange bars.** `--source auto` (default) also reads `bar` records of the interval (the collector\'s `bars`',
    '  channel): a bar the trades have not closed yet is taken from the exchange, and every trade-built bar is checked',
    '  against the exchange\'s (`bar_mismatch`). `--source bars` uses the exchange\'s bars only, `--source trades` trades only.',
    '- **Trade gaps never make a silently wrong bar.** Trades are released in id order. A hole in the ids holds every',
    '  later trade, and the bars, until the missing trades arrive (the collector fetches them from REST and publishes',
    '  them; at start-up the hole between the lake\'s last trade and the bus\'s first is read back from the lake once the',
    '  collector has persisted it), until a `gap` integrity event declares them lost, or until `--gap-wait` (10 s)',
    '  passes. Then the bars on both sides of the hole are emitted with `complete: false`, the intervals inside it are',
    '  reported missing (`missing_bars`) rather than filled, and a `trade_gap` warning names the ids. Binance USD-M skips',
    '  ids of prints that are not trades, so there a hole may also be `--gap-wait` of delay with nothing lost.',
    '- **Integrity events** on the bus (gap, resync, disconnect, crossed book, checksum failure) are printed as they',
    '  come. After a `disconnect` the clock closes no bar until a trade shows the feed is back (a dead feed is not a',
    '  quiet market); our own Redis reconnecting does the same (`bus_reconnect`). A collector that dies without a word',
    '  looks like a quiet market: its bars are flat, and the trades it fetches back after a restart are reported late.',
    `- **Microstructure.** Trade indicators (${ids((d) => d.source === 'trades')}) run on the trades in id order and book`,
    `  indicators (${ids((d) => d.source === 'book')}) on \`book_snapshot\` records (the collector's`,
    '  `--book-snapshot-every`; levels a snapshot lacks repeat its deepest price with size 0) when named in `--only`;',
    '  each bar reports their values after the last trade or snapshot before its end. Trade indicators warm up on the',
    '  lake\'s trades of the hour before; book indicators start with the first snapshot.',
    `  ${ids((d) => !LIVE_INPUTS.includes(d.source))} read funding, open-interest or liquidation series, which \`--live\``,
    '  does not feed: they run from the library (`runBatch`, `openStream`), and `--only` with them is a usage error.',
    '',
  ].join('\n')
}
