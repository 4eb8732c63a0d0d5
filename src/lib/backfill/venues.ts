// Which venues can backfill over REST, and where their REST API is: --rest-url, then --testnet, then the
// venue's environment variable, then the production URL

import type { Exchange } from '../consts.js'
import { UsageError } from '../errors.js'
import { binanceHistoryVenues } from '../exchanges/binance/index.js'
import { CoinbaseHistory } from '../exchanges/coinbase/rest.js'
import { REST_KINDS, type HistoryKind, type HistoryVenue, type RestKind } from './types.js'

const FACTORIES: Partial<Record<Exchange, () => HistoryVenue>> = {
  ...binanceHistoryVenues,
  coinbase: () => new CoinbaseHistory(),
}

/** What `--kind trades` fills on each exchange: aggTrades on Binance (paged by id), trades on Coinbase */
const TRADES_KIND: Record<Exchange, HistoryKind> = {
  binance: 'agg_trades',
  'binance-futures': 'agg_trades',
  coinbase: 'trades',
}

/** The kind a `--kind` spelling fills on an exchange: `trades` depends on the venue, the others do not. */
export function historyKindOf(exchange: Exchange, kindText: string, kind: RestKind): HistoryKind {
  return kindText === 'trades' ? TRADES_KIND[exchange] : kind
}

/** The kinds a venue serves. */
export function venueKinds(v: HistoryVenue): readonly HistoryKind[] {
  return v.kinds ?? REST_KINDS
}

/** Exchanges with a REST history. */
export const REST_EXCHANGES = Object.keys(FACTORIES) as Exchange[]

/** A fresh venue for a run (venues hold per-run request limiters). */
export function historyVenue(exchange: Exchange): HistoryVenue {
  const make = FACTORIES[exchange]
  if (!make) {
    throw new UsageError(`REST backfill is not available for ${exchange}. Expected an instrument on ${REST_EXCHANGES.join(', ')}`)
  }
  return make()
}

function checkUrl(url: string, source: string): string {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new UsageError(`Invalid ${source}: '${url}'. Expected an http(s) URL such as https://api.binance.com`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UsageError(`Invalid ${source}: '${url}'. Expected an http(s) URL such as https://api.binance.com`)
  }
  return url.replace(/\/+$/, '')
}

export interface UrlChoice {
  readonly restUrl?: string | undefined
  readonly testnet?: boolean | undefined
  readonly env?: Readonly<Record<string, string | undefined>>
}

/** The base URL a venue is reached at, and where that choice came from. */
export function restBaseUrl(v: HistoryVenue, o: UrlChoice): { url: string; source: string } {
  if (o.restUrl !== undefined) return { url: checkUrl(o.restUrl, '--rest-url'), source: '--rest-url' }
  if (o.testnet) return { url: v.testnetUrl, source: '--testnet' }
  const fromEnv = (o.env ?? process.env)[v.urlEnv]
  if (fromEnv !== undefined && fromEnv !== '') return { url: checkUrl(fromEnv, v.urlEnv), source: v.urlEnv }
  return { url: v.restUrl, source: 'default' }
}
