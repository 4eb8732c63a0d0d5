import { EXCHANGES, isExchange, type Exchange } from './consts.js'
import { UsageError } from './errors.js'

/** An instrument on one venue, written `exchange:SYMBOL`. */
export interface Instrument {
  readonly exchange: Exchange
  readonly symbol: string
}

const SYMBOL_RE = /^[A-Z0-9][A-Z0-9_-]{0,39}$/

/** Parses `binance:BTCUSDT` into an instrument; symbols are exchange-native and upper-case. */
export function parseInstrument(text: string, flag = 'instrument'): Instrument {
  const m = /^([a-z-]+):(.+)$/.exec(text.trim())
  if (!m) {
    throw new UsageError(
      `Invalid ${flag}: '${text}'. Expected exchange:SYMBOL, e.g. binance:BTCUSDT (exchanges: ${EXCHANGES.join(', ')})`,
    )
  }
  const [, exchange, rawSymbol] = m
  if (!isExchange(exchange)) {
    throw new UsageError(`Invalid ${flag}: unknown exchange '${exchange}'. Expected one of ${EXCHANGES.join(', ')}`)
  }
  const symbol = rawSymbol.toUpperCase()
  if (!SYMBOL_RE.test(symbol)) {
    throw new UsageError(`Invalid ${flag}: '${rawSymbol}' is not a symbol. Expected letters, digits, '-' or '_'`)
  }
  return { exchange, symbol }
}

export function formatInstrument(i: Instrument): string {
  return `${i.exchange}:${i.symbol}`
}
