import type { Command } from 'commander'
import { accessSync, constants } from 'node:fs'
import { EXCHANGES, isExchange, type Exchange } from '../lib/consts.js'
import { UsageError } from '../lib/errors.js'
import { fmtNum, globals, printTable } from './common.js'

interface ReplayServerOpts {
  port: number
  host: string
  pace: string
  venue?: string
  dropEvery?: number
  duplicateEvery?: number
  malformedEvery?: number
  disconnectAt?: number[]
  skipOnDisconnect?: number
  shutdownAt?: number[]
  stallAt?: number[]
  stallMs?: number
  seed?: number
  exitAtEnd?: boolean
  lenient?: boolean
}

function count(flag: string, min: number) {
  return (value: string): number => {
    const n = Number(value)
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new UsageError(`Invalid ${flag}: '${value}'. Expected ${min === 0 ? 'a non-negative' : 'a positive'} integer`)
    }
    return n
  }
}

function indexList(flag: string) {
  return (value: string, previous: number[] = []): number[] => {
    const parts = value.split(',').map((s) => s.trim())
    if (parts.some((p) => !/^\d+$/.test(p))) {
      throw new UsageError(`Invalid ${flag}: '${value}'. Expected comma-separated timeline indices, e.g. 1000,5000`)
    }
    return [...previous, ...parts.map(Number)]
  }
}

function parsePace(value: string): 'flat' | 'recorded' | number {
  if (value === 'flat' || value === 'recorded') return value
  const n = Number(value.replace(/x$/, ''))
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`Invalid --pace: '${value}'. Expected flat, recorded or a speed factor such as 10 or 0.5`)
  }
  return n
}

export function registerReplayServer(program: Command): void {
  program
    .command('replay-server')
    .description('serve raw recordings as a local fake exchange (Binance or Coinbase WebSocket and REST), with fault injection')
    .argument('<recording...>', 'recording files: hftbacktest, cryptofeed captures or mercury --record lines (.gz or plain)')
    .option('--port <n>', 'port for both WebSocket and REST (0 = any free port)', count('--port', 0), 9443)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--pace <pace>', 'flat (as fast as the slowest client reads), recorded (recorded gaps) or a speed factor', 'flat')
    .option('--venue <venue>', `${EXCHANGES.join(', ')} (default: inferred from the recording)`)
    .option('--drop-every <n>', 'never send every n-th timeline frame', count('--drop-every', 1))
    .option('--duplicate-every <n>', 'send every n-th timeline frame twice', count('--duplicate-every', 1))
    .option('--malformed-every <n>', 'precede every n-th timeline frame with a truncated copy (invalid JSON)', count('--malformed-every', 1))
    .option('--disconnect-at <i,j>', 'terminate every connection when the timeline reaches these indices', indexList('--disconnect-at'))
    .option('--skip-on-disconnect <n>', 'frames that pass unsent after a disconnect (default 200)', count('--skip-on-disconnect', 0))
    .option('--shutdown-at <i>', 'Binance: send serverShutdown at these indices, then close those connections after 500 ms', indexList('--shutdown-at'))
    .option('--stall-at <i>', 'stop sending at these indices for --stall-ms, sockets kept open', indexList('--stall-at'))
    .option('--stall-ms <ms>', 'length of a stall (default 5000)', count('--stall-ms', 0))
    .option('--seed <n>', 'seed of the garbled frames (default 1)', count('--seed', 0))
    .option('--exit-at-end', 'stop once the whole timeline has been sent (default: run until SIGINT/SIGTERM)')
    .option('--lenient', 'skip bad recording lines instead of refusing the file')
    .addHelpText(
      'after',
      `
Recorded ws frames form one timeline, ordered by receipt time. It moves only while a client is subscribed, and a
frame goes to every client subscribed to its stream; fault indices count positions on this timeline. REST
answers (depth, historicalTrades, trades) come from the server's own book and trade history at the current
position, never from the future.

Binance: connect to <ws>/ws/<stream> (bare payloads) or <ws>/stream?streams=a/b (wrapped), also under /public
or /market for futures, or send SUBSCRIBE; REST on <rest>/api/v3/... (spot) or <rest>/fapi/v1/... (futures).
Coinbase: connect to <ws> and send a subscribe, legacy (channels) or Advanced Trade (channel).
The URLs are printed first (one JSON line with --json); stats are printed when the server stops.

Examples:
  $ mercury replay-server tests/fixtures/recordings/hftbacktest/spot-btcusdt_20240808.gz
  $ mercury replay-server btcusdt_20240808.gz btcusdt_20240809.gz --port 0 --json --exit-at-end
  $ mercury replay-server usdm-btcusdt_20230404.dat.gz --pace recorded --disconnect-at 5000,9000
  $ mercury replay-server COINBASE.ws.28.0.txt.gz --pace 10 --drop-every 500 --shutdown-at 2000`,
    )
    .action(async (recordings: string[], opts: ReplayServerOpts, cmd: Command) => {
      const g = globals(cmd)
      const pace = parsePace(opts.pace)
      if (opts.venue !== undefined && !isExchange(opts.venue)) {
        throw new UsageError(`Invalid --venue: '${opts.venue}'. Expected one of ${EXCHANGES.join(', ')}`)
      }
      for (const r of recordings) {
        try {
          accessSync(r, constants.R_OK)
        } catch {
          throw new UsageError(`Invalid recording: '${r}' does not exist or cannot be read`)
        }
      }
      const { startReplayServer } = await import('../lib/replay/server.js')
      const server = await startReplayServer({
        recordings,
        venue: opts.venue as Exchange | undefined,
        pace,
        host: opts.host,
        port: opts.port,
        lenient: Boolean(opts.lenient),
        faults: {
          drop: opts.dropEvery !== undefined ? { every: opts.dropEvery } : undefined,
          duplicate: opts.duplicateEvery !== undefined ? { every: opts.duplicateEvery } : undefined,
          malformed: opts.malformedEvery !== undefined ? { every: opts.malformedEvery } : undefined,
          disconnectAt: opts.disconnectAt,
          skipOnDisconnect: opts.skipOnDisconnect,
          shutdownAt: opts.shutdownAt,
          stallAt: opts.stallAt,
          stallMs: opts.stallMs,
          seed: opts.seed,
        },
      })
      // Stop on a signal or, with --exit-at-end, once the timeline is sent. Handlers are in place before the URLs
      // are printed: a client that reads them and signals at once must not kill the process unhandled
      let onSignal: (() => void) | undefined
      const stopped = new Promise<void>((resolve) => {
        onSignal = resolve
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
      const total = server.stats().total
      if (g.json) {
        process.stdout.write(JSON.stringify({ wsUrl: server.wsUrl, restUrl: server.restUrl, port: server.port, venue: server.venue, frames: total }) + '\n')
      } else {
        process.stdout.write(`ws    ${server.wsUrl}\nrest  ${server.restUrl}\n`)
        process.stderr.write(`replaying ${fmtNum(total)} ${server.venue} frames; stop with Ctrl-C\n`)
      }
      await Promise.race(opts.exitAtEnd ? [stopped, server.finished] : [stopped])
      if (onSignal) {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
      }
      await server.close({ drainMs: 2000 })
      const st = server.stats()
      if (g.json) {
        process.stdout.write(JSON.stringify(st) + '\n')
        return
      }
      const rest = Object.entries(st.rest).flatMap(([path, byStatus]) => Object.entries(byStatus).map(([status, n]) => `${path} ${status}: ${n}`))
      await printTable(
        ['stat', 'value'],
        [
          ['timeline', `${fmtNum(st.index)} / ${fmtNum(st.total)}${st.finished ? ' (finished)' : ''}`],
          ['frames sent', st.framesSent],
          ['dropped / duplicated / malformed', `${st.dropped} / ${st.duplicated} / ${st.malformed}`],
          ['skipped after disconnects', st.skipped],
          ['connections', st.connections],
          ['disconnects / shutdowns / stalls', `${st.disconnects} / ${st.shutdowns} / ${st.stalls}`],
          ['pings / pongs', `${st.pings} / ${st.pongs}`],
          ['REST requests', rest.length > 0 ? `${st.restRequests} (${rest.join(', ')})` : st.restRequests],
        ],
      )
    })
}
