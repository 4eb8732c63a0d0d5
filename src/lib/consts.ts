// Ids are declared once here; the unions derive from them so a wrong venue or kind fails to compile

export const EXCHANGES = ['binance', 'binance-futures', 'coinbase'] as const
export type Exchange = (typeof EXCHANGES)[number]

/** Kinds of record the lake stores, one folder each. */
export const KINDS = [
  'bars',
  'trades',
  'agg_trades',
  'book_changes',
  'book_snapshots',
  'funding',
  'liquidations',
  'open_interest',
  'integrity',
  'signals',
] as const
export type Kind = (typeof KINDS)[number]

/** Kinds stored per bar interval (a folder level `interval=` and an `interval` column). */
export function hasInterval(kind: Kind): boolean {
  return kind === 'bars' || kind === 'signals'
}

/** Bar intervals Binance publishes; `1M` (calendar month) is written `1mo` in archive names. */
export const INTERVALS = [
  '1s', '1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M',
] as const
export type Interval = (typeof INTERVALS)[number]

export function isExchange(x: string): x is Exchange {
  return (EXCHANGES as readonly string[]).includes(x)
}
export function isKind(x: string): x is Kind {
  return (KINDS as readonly string[]).includes(x)
}
export function isInterval(x: string): x is Interval {
  return (INTERVALS as readonly string[]).includes(x)
}
