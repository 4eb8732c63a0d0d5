// Binance wire types for the REST history endpoints, as sent: decimals are strings so no digit is lost in
// transit; times are integer ms unless the request asks for µs (`X-MBX-TIME-UNIT`), which mercury does not

/**
 * One kline (`GET /api/v3/klines`, `GET /fapi/v1/klines`): open time, open, high, low, close, volume, close
 * time, quote volume, trade count, taker-buy base volume, taker-buy quote volume, ignore.
 */
export type BinanceRestKline = readonly [
  openTime: number,
  open: string,
  high: string,
  low: string,
  close: string,
  volume: string,
  closeTime: number,
  quoteVolume: string,
  trades: number,
  takerBuyBaseVolume: string,
  takerBuyQuoteVolume: string,
  ignore: string,
]

/** One aggregated trade (`GET /api/v3/aggTrades`, `GET /fapi/v1/aggTrades`; futures omits `M`). */
export interface BinanceRestAggTrade {
  /** Aggregate trade id, contiguous per symbol */
  readonly a: number
  readonly p: string
  readonly q: string
  /** First and last trade id of the aggregate */
  readonly f: number
  readonly l: number
  /** Trade time, ms */
  readonly T: number
  /** Buyer was the maker: the seller took liquidity */
  readonly m: boolean
  readonly M?: boolean
}

/** One funding event (`GET /fapi/v1/fundingRate`); `markPrice` is missing or empty on old records. */
export interface BinanceFundingRate {
  readonly symbol: string
  readonly fundingRate: string
  readonly fundingTime: number
  readonly markPrice?: string
}

/** One open-interest statistic (`GET /futures/data/openInterestHist`); the timestamp may come as a string. */
export interface BinanceOpenInterestHist {
  readonly symbol: string
  readonly sumOpenInterest: string
  readonly sumOpenInterestValue: string
  readonly timestamp: number | string
}

/** Error body of every Binance endpoint, e.g. `{"code":-1121,"msg":"Invalid symbol."}`. */
export interface BinanceErrorBody {
  readonly code: number
  readonly msg: string
}
