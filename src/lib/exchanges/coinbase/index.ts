// Coinbase's registry entry: pure parsers for the Exchange feed and Advanced Trade WebSocket APIs

export {
  CoinbaseParseError,
  isoToUs,
  mapCoinbaseMessage,
  parseCoinbaseAdvancedL2,
  parseCoinbaseAdvancedTrades,
  parseCoinbaseL2Update,
  parseCoinbaseMatch,
  parseCoinbaseSnapshot,
  parseCoinbaseTicker,
} from './parse.js'
export type * from './raw.js'
export {
  COINBASE_GRANULARITY,
  COINBASE_REQUEST_RATE,
  COINBASE_REST,
  CoinbaseHistory,
  CoinbaseRestParseError,
  parseCoinbaseCandles,
  parseCoinbaseRestTrades,
} from './rest.js'
export type { CoinbaseRestCandle, CoinbaseRestTrade } from './rest.js'
