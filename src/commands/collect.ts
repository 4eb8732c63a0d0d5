import type { Command } from 'commander'
import { resolve } from 'node:path'
import { EXCHANGES, isExchange, type Exchange } from '../lib/consts.js'
import { FatalError, UsageError } from '../lib/errors.js'
import { formatInstrument, parseInstrument } from '../lib/instrument.js'
import { parseDuration } from '../lib/time.js'
import { fmtNum, globals, printJson, progressLine } from './common.js'

// Kept here rather than imported so `--help` does not load the collector
const CHANNELS = ['trades', 'book', 'bars', 'funding', 'liquidations', 'oi', 'ticker'] as const
type Channel = (typeof CHANNELS)[number]

interface CollectOpts {
  channels: string
  duration?: string
  bookSnapshotEvery: string
  bookDepth: string
  bus: string
  metricsPort?: string
  metricsHost?: string
  record?: string
  wsUrl?: string[]
  restUrl?: string[]
  testnet?: boolean
  batch: string
  depthSpeed?: string
  snapshotLimit?: string
  maxRepair: string
  staleAfter: string
  coinbaseFeed: string
  serviceId?: string
}

function positiveInt(flag: string, text: string, max = Number.MAX_SAFE_INTEGER, min = 1): number {
  const n = Number(text)
  if (!/^\d+$/.test(text.trim()) || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`Invalid ${flag}: '${text}'. Expected an integer from ${min} to ${max}`)
  }
  return n
}

/** `--ws-url URL` for a single exchange, or `exchange=URL` (repeatable) when several are collected. */
function urlMap(flag: string, values: string[] | undefined, exchanges: Exchange[]): Partial<Record<Exchange, string>> {
  const out: Partial<Record<Exchange, string>> = {}
  for (const v of values ?? []) {
    const m = /^([a-z-]+)=(.+)$/.exec(v)
    if (m && isExchange(m[1])) out[m[1]] = m[2]
    else if (exchanges.length === 1) out[exchanges[0]] = v
    else {
      throw new UsageError(`Invalid ${flag}: '${v}'. With several exchanges write exchange=URL, e.g. binance=ws://127.0.0.1:9443 (exchanges: ${EXCHANGES.join(', ')})`)
    }
  }
  return out
}

export function registerCollect(program: Command): void {
  program
    .command('collect')
    .description('collect live trades, L2 books, bars, funding, liquidations and open interest into the lake (and a bus)')
    .argument('<instruments...>', 'exchange:SYMBOL, e.g. binance:BTCUSDT binance-futures:ETHUSDT coinbase:BTC-USD')
    .option('--channels <list>', `comma-separated: ${CHANNELS.join(', ')}`, 'trades,book')
    .option('--duration <time>', 'stop after this long (90m, 2h, 1d); default: until SIGINT/SIGTERM')
    .option('--book-snapshot-every <time>', 'period of the top-N book snapshots stored (0 = none)', '1s')
    .option('--book-depth <n>', 'levels per side in those snapshots', '20')
    .option('--bus <spec>', 'where records are published: memory or redis://host:port', 'memory')
    .option('--metrics-port <port>', 'serve Prometheus metrics on /metrics and status on /health (0 picks a free port)')
    .option('--metrics-host <host>', 'interface for the metrics server', '127.0.0.1')
    .option('--record <file.jsonl.gz>', 'also write every raw frame with its receipt time (replayable)')
    .option('--ws-url <url...>', 'WebSocket base URL (env MERCURY_BINANCE_WS_URL, ...); exchange=URL with several exchanges')
    .option('--rest-url <url...>', 'REST base URL (env MERCURY_BINANCE_REST_URL, ...); exchange=URL with several exchanges')
    .option('--testnet', 'use the exchanges\' testnet or sandbox endpoints')
    .option('--batch <time>', 'persistence window: a kill -9 loses at most this much', '5s')
    .option('--depth-speed <speed>', 'Binance diff-depth stream speed: spot 100ms|1000ms, futures 0ms|100ms|250ms|500ms', '100ms')
    .option('--snapshot-limit <n>', 'levels in REST depth snapshots (spot 1-5000; futures 5, 10, 20, 50, 100, 500 or 1000)', '1000')
    .option('--max-repair <n>', 'largest hole in trade ids fetched back from REST; larger ones are recorded as gaps', '200000')
    .option('--stale-after <time>', 'reconnect when a connection is silent this long', '30s')
    .option('--coinbase-feed <feed>', 'coinbase: advanced (Advanced Trade) or exchange (Exchange feed)', 'advanced')
    .option('--service-id <id>', 'name in the heartbeat (Redis key health:<id>:heartbeat or <data-dir>/_state/health/<id>.json)')
    .addHelpText(
      'after',
      `
Records go to the lake in batches (--batch) and to the bus as they arrive. Books follow each exchange's
documented snapshot + diff sequencing; any gap, crossed book or sequence jump is stored as an integrity event
and the book is rebuilt. Trades missed during a disconnect (or while a restarted collector was down) are
fetched back from REST by trade id.

Examples:
  $ mercury collect binance:BTCUSDT --duration 90m
  $ mercury collect binance:BTCUSDT binance:ETHUSDT --channels trades,book,bars --bus redis://127.0.0.1:6379
  $ mercury collect binance-futures:BTCUSDT --channels trades,book,funding,liquidations,oi --metrics-port 9464
  $ mercury collect coinbase:BTC-USD --channels trades,book --record btc.jsonl.gz
  $ mercury replay-server rec.jsonl.gz --port 9443 &  mercury collect binance:BTCUSDT --ws-url ws://127.0.0.1:9443 --rest-url http://127.0.0.1:9443`,
    )
    .action(async (args: string[], opts: CollectOpts, cmd: Command) => {
      const g = globals(cmd)
      const instruments = args.map((a) => parseInstrument(a))
      const channels = opts.channels.split(',').map((c) => c.trim()).filter(Boolean)
      for (const c of channels) {
        if (!(CHANNELS as readonly string[]).includes(c)) {
          throw new UsageError(`Invalid --channels: '${c}'. Expected some of ${CHANNELS.join(', ')}`)
        }
      }
      if (channels.length === 0) throw new UsageError(`Invalid --channels: empty. Expected some of ${CHANNELS.join(', ')}`)
      const coinbaseFeed = opts.coinbaseFeed
      if (coinbaseFeed !== 'advanced' && coinbaseFeed !== 'exchange') {
        throw new UsageError(`Invalid --coinbase-feed: '${coinbaseFeed}'. Expected advanced or exchange`)
      }
      const exchanges = [...new Set(instruments.map((i) => i.exchange))]
      const snapshotLimit = opts.snapshotLimit ? positiveInt('--snapshot-limit', opts.snapshotLimit, 5000) : undefined
      if (channels.includes('book')) {
        const { checkDepthOptions } = await import('../lib/exchanges/binance/feed.js')
        for (const ex of exchanges) if (ex === 'binance' || ex === 'binance-futures') checkDepthOptions(ex, opts.depthSpeed, snapshotLimit)
      }
      const snapshotEvery = opts.bookSnapshotEvery === '0' ? 0 : parseDuration(opts.bookSnapshotEvery, '--book-snapshot-every')
      const ctl = new AbortController()
      const stop = () => ctl.abort()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      const progress = progressLine()
      const { runCollect } = await import('../lib/collect/run.js')
      try {
        const summary = await runCollect({
          instruments,
          channels: channels as Channel[],
          lakeDir: g.dataDir,
          durationMs: opts.duration ? parseDuration(opts.duration, '--duration') : undefined,
          signal: ctl.signal,
          batchMs: parseDuration(opts.batch, '--batch'),
          bookDepth: positiveInt('--book-depth', opts.bookDepth, 1000),
          bookSnapshotEveryMs: snapshotEvery,
          bus: opts.bus,
          metricsPort: opts.metricsPort !== undefined ? positiveInt('--metrics-port', opts.metricsPort, 65535, 0) : undefined,
          metricsHost: opts.metricsHost,
          recordPath: opts.record ? resolve(opts.record) : undefined,
          wsUrl: urlMap('--ws-url', opts.wsUrl, exchanges),
          restUrl: urlMap('--rest-url', opts.restUrl, exchanges),
          testnet: Boolean(opts.testnet),
          depthSpeed: opts.depthSpeed,
          snapshotLimit,
          maxRepairTrades: positiveInt('--max-repair', opts.maxRepair),
          staleMs: parseDuration(opts.staleAfter, '--stale-after'),
          coinbaseFeed,
          serviceId: opts.serviceId,
          onStatus: (s) =>
            progress.update(
              `${instruments.map(formatInstrument).join(' ')}: ${fmtNum(s.stats.messages)} msgs, ${fmtNum(s.persisted)} rows stored, ` +
                `${fmtNum(s.queued)} queued, ${s.stats.resyncs} resyncs, ${s.stats.reconnects} reconnects` +
                (s.persistError ? `, WRITE FAILING: ${s.persistError}` : '') + (s.connected ? '' : ', connecting'),
            ),
        })
        progress.done()
        if (g.json) {
          printJson({ ...summary, instruments: instruments.map(formatInstrument), channels })
        } else {
          const s = summary.stats
          const attempts = summary.connections.reconnectAttempts
          // Attempts that never opened are not reconnects, but the user saw them logged
          const reconnects = attempts > s.reconnects ? `${s.reconnects} reconnects (${attempts} attempts)` : `${s.reconnects} reconnects`
          process.stdout.write(
            `collected ${fmtNum(s.messages)} messages in ${(summary.elapsedMs / 1000).toFixed(1)} s; stored ${fmtNum(summary.persisted.rowsWritten)} rows ` +
              `in ${summary.persisted.flushes} batches; ${s.resyncs} resyncs, ${reconnects}, ${s.integrity} integrity events, ` +
              `${fmtNum(s.repairedTrades)} trades repaired, ${fmtNum(s.unrepairedTrades)} missing, ${s.malformed + s.unknown + s.invalid} bad frames\n`,
          )
        }
        // A feed that never connected collected nothing: say so with a failing exit code (cron notices)
        const never = summary.connections.neverOpened
        if (never.length > 0) {
          const which = never.map((f) => `${f.name} (${f.url}${f.lastError ? `: ${f.lastError}` : ''})`).join(', ')
          throw new FatalError(`Never connected in ${(summary.elapsedMs / 1000).toFixed(1)} s: ${which}`)
        }
      } finally {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
      }
    })
}
