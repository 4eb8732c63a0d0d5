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
