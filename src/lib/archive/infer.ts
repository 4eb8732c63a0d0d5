import { basename } from 'node:path'
import type { Exchange, Interval } from '../consts.js'
import { UsageError } from '../errors.js'
import type { Instrument } from '../instrument.js'
import { parseInterval } from '../time.js'
import type { ArchiveKind } from '../exchanges/binance/archive.js'

/** What an archive holds: from its name and path, or from the user's overrides. */
export interface ArchiveSpec {
  readonly path: string
  readonly kind: ArchiveKind
  readonly symbol: string
  readonly interval: Interval | undefined
  /** Set when the path or the user says which market; otherwise the file's shape decides */
  readonly exchange: Exchange | undefined
}

export interface ArchiveOverrides {
  readonly instrument?: Instrument | undefined
  readonly kind?: ArchiveKind | undefined
  readonly interval?: Interval | undefined
}

const NAME_RE =
  /^([A-Z0-9]+)-(?:(1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1mo|1M)|(aggTrades)|(trades))-(\d{4}-\d{2}(?:-\d{2})?)(?:\.[A-Za-z0-9_-]+)*$/

/** Infers kind, symbol and interval from a data.binance.vision file name; overrides win. */
export function inferArchive(path: string, o: ArchiveOverrides = {}): ArchiveSpec {
  const name = basename(path)
  const m = NAME_RE.exec(name)
  const fromName = m
    ? {
        symbol: m[1],
        kind: (m[2] ? 'bars' : m[3] ? 'agg_trades' : 'trades') as ArchiveKind,
        interval: m[2] ? parseInterval(m[2]) : undefined,
      }
    : undefined
  const kind = o.kind ?? fromName?.kind
  const symbol = o.instrument?.symbol ?? fromName?.symbol
  if (!kind || !symbol) {
    throw new UsageError(
      `Cannot infer what '${name}' holds from its name (expected e.g. BTCUSDT-1m-2024-01.zip, BTCUSDT-aggTrades-2024-01-01.zip); pass --instrument and --kind`,
    )
  }
  const interval = kind === 'bars' ? (o.interval ?? fromName?.interval) : undefined
  if (kind === 'bars' && !interval) {
    throw new UsageError(`Missing --interval for '${name}': klines need one, e.g. --interval 1m`)
  }
  let exchange: Exchange | undefined = o.instrument?.exchange
  const norm = path.replace(/\\/g, '/')
  if (!exchange && /\/futures\/cm\//.test(norm)) {
    throw new UsageError(`'${name}' is a COIN-M futures archive; COIN-M is not supported yet`)
  }
  if (!exchange && /\/futures\/um\//.test(norm)) exchange = 'binance-futures'
  if (!exchange && /\/spot\//.test(norm)) exchange = 'binance'
  if (exchange === 'coinbase') {
    throw new UsageError(`Invalid --instrument: data.binance.vision archives are Binance data, not ${exchange}`)
  }
  return { path, kind, symbol, interval, exchange }
}
