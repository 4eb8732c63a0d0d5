// Binance REST history: endpoints, page sizes and weights per market, and the pagers that turn a time range
// into requests. Spot: https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints
// USD-M: https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api
//
// Paging follows the documented semantics: klines and fundingRate return the oldest rows at or after
// `startTime` up to `endTime` (both inclusive, ms); aggTrades with `fromId` returns ids from there, and with
// `startTime` alone the first trades at or after it; openInterestHist is asked only for windows that hold at
// most `limit` rows, so its ordering when a window holds more never matters.

import type { Interval } from '../../consts.js'
import { UsageError } from '../../errors.js'
import { formatInstrument } from '../../instrument.js'
import { WeightBudget } from '../../net/budget.js'
import type { RestClient } from '../../net/client.js'
import { intervalUs, isoUs, US_PER_DAY, US_PER_MINUTE, US_PER_MS } from '../../time.js'
import { idPages, timePages, type PagerPage } from '../../backfill/pager.js'
import type { BackfillTarget, HistoryPage, HistoryRange, HistoryRecord, HistoryVenue, PageOptions } from '../../backfill/types.js'
import type { AggTrade, Bar, Funding, OpenInterest } from '../../types.js'
import { parseBinanceAggTrades, parseBinanceFundingRates, parseBinanceKlines, parseBinanceOpenInterestHist } from './parse.js'

export type BinanceMarket = 'binance' | 'binance-futures'

interface Endpoint {
  readonly path: string
  /** Largest page the endpoint serves */
  readonly limit: number
  weight(limit: number): number
}

interface MarketSpec {
  readonly restUrl: string
  readonly testnetUrl: string
  readonly urlEnv: string
  /** REQUEST_WEIGHT per minute from exchangeInfo.rateLimits (spot 6000, USD-M 2400) */
  readonly weightLimit: number
  readonly klines: Endpoint
  readonly aggTrades: Endpoint
  readonly fundingRate?: Endpoint
  readonly openInterestHist?: Endpoint
}

/** Futures klines cost more for bigger pages: [1,100) 1, [100,500) 2, [500,1000] 5, above 10 */
const futuresKlineWeight = (limit: number) => (limit < 100 ? 1 : limit < 500 ? 2 : limit <= 1000 ? 5 : 10)

export const BINANCE_MARKETS: Record<BinanceMarket, MarketSpec> = {
  binance: {
    restUrl: 'https://api.binance.com',
    testnetUrl: 'https://testnet.binance.vision',
    urlEnv: 'MERCURY_BINANCE_REST_URL',
    weightLimit: 6000,
    klines: { path: '/api/v3/klines', limit: 1000, weight: () => 2 },
    aggTrades: { path: '/api/v3/aggTrades', limit: 1000, weight: () => 4 },
  },
  'binance-futures': {
    restUrl: 'https://fapi.binance.com',
    testnetUrl: 'https://testnet.binancefuture.com',
    urlEnv: 'MERCURY_BINANCE_FUTURES_REST_URL',
    weightLimit: 2400,
    klines: { path: '/fapi/v1/klines', limit: 1500, weight: futuresKlineWeight },
    aggTrades: { path: '/fapi/v1/aggTrades', limit: 1000, weight: () => 20 },
    fundingRate: { path: '/fapi/v1/fundingRate', limit: 1000, weight: () => 1 },
    // The published weight of the /futures/data endpoints has varied; counting 1 keeps the budget on the safe side
    openInterestHist: { path: '/futures/data/openInterestHist', limit: 500, weight: () => 1 },
  },
}

/** Periods openInterestHist accepts. */
export const OPEN_INTEREST_PERIODS: readonly Interval[] = ['5m', '15m', '30m', '1h', '2h', '4h', '6h', '12h', '1d']

/** openInterestHist serves only the last 30 days */
export const OPEN_INTEREST_DAYS = 30

/** fundingRate shares a limit of 500 requests per 5 minutes per IP with fundingInfo */
const FUNDING_REQUESTS = { limit: 500, windowMs: 5 * 60_000 }

/** Funding is charged every 8 h on most symbols; only used to estimate a dry run */
const FUNDING_STEP_US = 8 * 60 * US_PER_MINUTE

/** Aggregated trades older than this are final */
const SETTLE_US = 60 * 1_000_000

const msStart = (us: number) => Math.ceil(us / US_PER_MS)
/** Inclusive ms end of a half-open µs range */
const msEnd = (us: number) => Math.ceil(us / US_PER_MS) - 1

function endpointOf(spec: MarketSpec, target: BackfillTarget): Endpoint {
  switch (target.kind) {
    case 'bars':
      return spec.klines
    case 'agg_trades':
      return spec.aggTrades
    case 'funding':
      if (!spec.fundingRate) throw new UsageError(`Invalid --kind: 'funding' for ${formatInstrument(target.instrument)}. Funding rates exist on binance-futures only`)
      return spec.fundingRate
    case 'open_interest':
      if (!spec.openInterestHist) throw new UsageError(`Invalid --kind: 'oi' for ${formatInstrument(target.instrument)}. Open interest exists on binance-futures only`)
      return spec.openInterestHist
  }
}

/** Step between two keys of a time-keyed kind, µs (a calendar month counts as 31 days) */
function stepOf(target: BackfillTarget): number {
  if (target.kind === 'bars' || target.kind === 'open_interest') {
    return intervalUs(target.interval as Interval) ?? 31 * US_PER_DAY
  }
  return FUNDING_STEP_US
}

/** The Binance REST history of one market. */
export class BinanceHistory implements HistoryVenue {
  readonly restUrl: string
  readonly testnetUrl: string
  readonly urlEnv: string
  readonly weightLimit: number
  private readonly spec: MarketSpec
  private readonly fundingRequests = new WeightBudget(FUNDING_REQUESTS.limit, FUNDING_REQUESTS.windowMs)

  constructor(readonly exchange: BinanceMarket) {
    this.spec = BINANCE_MARKETS[exchange]
    this.restUrl = this.spec.restUrl
    this.testnetUrl = this.spec.testnetUrl
    this.urlEnv = this.spec.urlEnv
    this.weightLimit = this.spec.weightLimit
  }

  check(target: BackfillTarget): void {
    endpointOf(this.spec, target)
    if (target.kind === 'bars' && !target.interval) throw new UsageError('Missing --interval: bars need one, e.g. --interval 1m')
    if (target.kind === 'open_interest' && !OPEN_INTEREST_PERIODS.includes(target.interval as Interval)) {
      throw new UsageError(`Invalid --interval: '${target.interval}' for open interest. Expected one of ${OPEN_INTEREST_PERIODS.join(', ')}`)
    }
  }

  pageCost(target: BackfillTarget, pageSize?: number): { weight: number; rows: number } {
    const ep = endpointOf(this.spec, target)
    const rows = Math.min(pageSize ?? ep.limit, ep.limit)
    return { weight: ep.weight(rows), rows }
  }

  clamp(target: BackfillTarget, from: number, to: number, nowUs: number): { from: number; to: number; notice?: string } {
    switch (target.kind) {
      case 'bars':
        // Only closed bars: one whose open is a full interval ago has closed
        return { from, to: Math.min(to, nowUs - stepOf(target)) }
      case 'agg_trades':
      case 'funding':
        return { from, to: Math.min(to, nowUs) }
      case 'open_interest': {
        const step = stepOf(target)
        // A margin of one period keeps the first request inside Binance's window whatever the clock skew
        const oldest = Math.ceil((nowUs - OPEN_INTEREST_DAYS * US_PER_DAY) / step) * step + step
        const end = Math.min(to, nowUs - step)
        if (from >= oldest) return { from, to: end }
        return {
          from: oldest,
          to: end,
          notice:
            `${formatInstrument(target.instrument)} open interest: Binance serves only the last ${OPEN_INTEREST_DAYS} days of ` +
            `openInterestHist; starting at ${isoUs(oldest)} instead of --from ${isoUs(from)}`,
        }
      }
    }
  }

  estimateRequests(target: BackfillTarget, range: HistoryRange, pageSize?: number): number | undefined {
    if (range.to <= range.from) return 0
    if (target.kind === 'agg_trades') return undefined
    const rows = Math.ceil((range.to - range.from) / stepOf(target))
    return Math.max(1, Math.ceil(rows / this.pageCost(target, pageSize).rows))
  }

  pages(client: RestClient, target: BackfillTarget, range: HistoryRange, o: PageOptions): AsyncIterable<HistoryPage> {
    const ep = endpointOf(this.spec, target)
    const limit = Math.min(o.pageSize ?? ep.limit, ep.limit)
    const weight = ep.weight(limit)
    const symbol = target.instrument.symbol
    const ctx = { exchange: this.exchange, symbol }
    switch (target.kind) {
      case 'bars': {
        const interval = target.interval as Interval
        const step = intervalUs(interval)
        return toHistory(
          timePages<Bar>({
            from: range.from,
            to: range.to,
            limit,
            // Calendar months are unevenly spaced: page them by probes (1000 months fit one page anyway)
            mode: step === undefined ? 'probe' : 'probe-windows',
            windowUs: step === undefined ? undefined : step * limit,
            stepUs: stepOf(target),
            concurrency: o.concurrency,
            keyOf: (b) => b.timestamp,
            fetch: async (start, end, n) => {
              const raw = await client.getJson(ep.path, { symbol, interval, startTime: msStart(start), endTime: msEnd(end), limit: n }, weight)
              return parseBinanceKlines(raw, undefined, { ...ctx, interval }).filter((b) => b.timestamp >= start && b.timestamp < end)
            },
          }),
        )
      }
      case 'agg_trades':
        return toHistory(
          idPages<AggTrade>({
            from: range.from,
            to: range.to,
            fromId: range.fromId,
            limit,
            concurrency: o.concurrency,
            settledBefore: o.settledBefore - SETTLE_US,
            idOf: (t) => t.id,
            timeOf: (t) => t.timestamp,
            fetchFrom: async (start, n) =>
              parseBinanceAggTrades(await client.getJson(ep.path, { symbol, startTime: msStart(start), limit: n }, weight), undefined, ctx),
            fetchId: async (fromId, n) =>
              parseBinanceAggTrades(await client.getJson(ep.path, { symbol, fromId, limit: n }, weight), undefined, ctx),
          }),
        )
      case 'funding':
        return toHistory(
          timePages<Funding>({
            from: range.from,
            to: range.to,
            limit,
            mode: 'probe',
            stepUs: US_PER_MS,
            concurrency: 1,
            keyOf: (f) => f.timestamp,
            fetch: async (start, end, n) => {
              await this.fundingRequests.acquire(1)
              const raw = await client.getJson(ep.path, { symbol, startTime: msStart(start), endTime: msEnd(end), limit: n }, weight)
              return parseBinanceFundingRates(raw, undefined, ctx).filter((f) => f.timestamp >= start && f.timestamp < end)
            },
          }),
        )
      case 'open_interest': {
        const period = target.interval as Interval
        const step = stepOf(target)
        return toHistory(
          timePages<OpenInterest>({
            from: range.from,
            to: range.to,
            limit,
            mode: 'windows',
            windowUs: step * limit,
            stepUs: step,
            concurrency: o.concurrency,
            keyOf: (r) => r.timestamp,
            fetch: async (start, end, n) => {
              const raw = await client.getJson(ep.path, { symbol, period, startTime: msStart(start), endTime: msEnd(end), limit: n }, weight)
              return parseBinanceOpenInterestHist(raw, undefined, ctx).filter((r) => r.timestamp >= start && r.timestamp < end)
            },
          }),
        )
      }
    }
  }
}

async function* toHistory(pages: AsyncIterable<PagerPage<HistoryRecord>>): AsyncGenerator<HistoryPage> {
  for await (const p of pages) yield { records: p.rows, coveredTo: p.coveredTo, nextId: p.nextId }
}
