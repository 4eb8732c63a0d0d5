// Binance's registry entries: the REST history of spot (`binance`) and USD-M futures (`binance-futures`)

import { BinanceHistory } from './rest.js'

export { BinanceHistory, BINANCE_MARKETS, OPEN_INTEREST_PERIODS, OPEN_INTEREST_DAYS } from './rest.js'

/** A fresh history venue per market (each holds its own per-run request limiters). */
export const binanceHistoryVenues = {
  binance: () => new BinanceHistory('binance'),
  'binance-futures': () => new BinanceHistory('binance-futures'),
} as const
