// One schema per kind: the Parquet columns, the natural key, and how partitions and gaps are cut
//
// Writers stage rows as float64 columns (fast to append); `select` turns the staged columns into the stored
// ones. Integers up to 2^53 (µs times, trade ids) are exact in float64.

import { hasInterval, type Exchange, type Interval, type Kind } from '../consts.js'
import { intervalUs, US_PER_HOUR } from '../time.js'

export type ColumnType = 'BIGINT' | 'DOUBLE' | 'VARCHAR' | 'BOOLEAN' | 'INTEGER'

export interface ColumnDef {
  readonly name: string
  readonly type: ColumnType
  /** SQL over the staged table producing this column; defaults to `CAST(name AS type)` */
  readonly expr?: string
  /**
   * The only strings `expr` yields: the column is then written as a dictionary of them (a DuckDB ENUM, which
   * readers see as plain strings) instead of a string per row, a third of the cost
   */
  readonly values?: readonly string[]
}

export interface KindSchema {
  readonly kind: Kind
  /** Stored columns after the identity columns (exchange, symbol[, interval]) */
  readonly columns: readonly ColumnDef[]
  /** Natural key: writing a row with the same key again replaces it */
  readonly key: readonly string[]
  /** µs time column used for partitions and ranges */
  readonly time: string
  /** Gaps are measured on a time grid (bars) or on contiguous ids (trades) */
  readonly gapBy: 'interval' | 'id' | 'none'
  /** Staged float64 columns the writer expects */
  readonly staged: readonly string[]
  /** Staged text columns (rare kinds only; text is slower to append) */
  readonly stagedText?: readonly string[]
}

const SIDES = ['buy', 'sell', 'unknown'] as const
const SIDE_EXPR = (col: string) => `CASE WHEN ${col} > 0 THEN 'buy' WHEN ${col} < 0 THEN 'sell' ELSE 'unknown' END`

export const SCHEMAS: Record<Kind, KindSchema> = {
  bars: {
    kind: 'bars',
    columns: [
      { name: 'open_time', type: 'BIGINT' },
      { name: 'close_time', type: 'BIGINT' },
      { name: 'open', type: 'DOUBLE' },
      { name: 'high', type: 'DOUBLE' },
      { name: 'low', type: 'DOUBLE' },
      { name: 'close', type: 'DOUBLE' },
      { name: 'volume', type: 'DOUBLE' },
      { name: 'quote_volume', type: 'DOUBLE' },
      { name: 'trades', type: 'BIGINT' },
      { name: 'taker_buy_volume', type: 'DOUBLE' },
      { name: 'taker_buy_quote_volume', type: 'DOUBLE' },
      { name: 'local_timestamp', type: 'BIGINT' },
    ],
    key: ['open_time'],
    time: 'open_time',
    gapBy: 'interval',
    staged: ['open_time', 'close_time', 'open', 'high', 'low', 'close', 'volume', 'quote_volume', 'trades',
      'taker_buy_volume', 'taker_buy_quote_volume', 'local_timestamp'],
  },
  trades: {
    kind: 'trades',
    columns: [
      { name: 'id', type: 'BIGINT' },
      { name: 'timestamp', type: 'BIGINT' },
      { name: 'local_timestamp', type: 'BIGINT' },
      { name: 'price', type: 'DOUBLE' },
      { name: 'amount', type: 'DOUBLE' },
      { name: 'side', type: 'VARCHAR', expr: SIDE_EXPR('side'), values: SIDES },
    ],
    key: ['id'],
    time: 'timestamp',
    gapBy: 'id',
    staged: ['id', 'timestamp', 'local_timestamp', 'price', 'amount', 'side'],
  },
  agg_trades: {
    kind: 'agg_trades',
    columns: [
      { name: 'id', type: 'BIGINT' },
      { name: 'first_trade_id', type: 'BIGINT' },
      { name: 'last_trade_id', type: 'BIGINT' },
      { name: 'timestamp', type: 'BIGINT' },
      { name: 'local_timestamp', type: 'BIGINT' },
      { name: 'price', type: 'DOUBLE' },
      { name: 'amount', type: 'DOUBLE' },
      { name: 'side', type: 'VARCHAR', expr: SIDE_EXPR('side'), values: SIDES },
    ],
    key: ['id'],
    time: 'timestamp',
    gapBy: 'id',
    staged: ['id', 'first_trade_id', 'last_trade_id', 'timestamp', 'local_timestamp', 'price', 'amount', 'side'],
  },
  book_changes: {
    kind: 'book_changes',
    // Long format: one row per level; side +1 bid, -1 ask
    columns: [
      { name: 'timestamp', type: 'BIGINT' },
      { name: 'local_timestamp', type: 'BIGINT' },
      { name: 'is_snapshot', type: 'BOOLEAN', expr: 'is_snapshot <> 0' },
      { name: 'first_update_id', type: 'BIGINT' },
      { name: 'last_update_id', type: 'BIGINT' },
      { name: 'prev_update_id', type: 'BIGINT' },
      { name: 'side', type: 'VARCHAR', expr: `CASE WHEN side > 0 THEN 'bid' ELSE 'ask' END`, values: ['bid', 'ask'] },
      { name: 'price', type: 'DOUBLE' },
      { name: 'amount', type: 'DOUBLE' },
    ],
    key: ['local_timestamp', 'last_update_id', 'side', 'price', 'is_snapshot'],
    time: 'timestamp',
    gapBy: 'none',
    staged: ['timestamp', 'local_timestamp', 'is_snapshot', 'first_update_id', 'last_update_id', 'prev_update_id',
      'side', 'price', 'amount'],
  },
  book_snapshots: {
    kind: 'book_snapshots',
    // Long format too (level 0 = best), so any depth fits one schema
    columns: [
      { name: 'timestamp', type: 'BIGINT' },
      { name: 'local_timestamp', type: 'BIGINT' },
      { name: 'level', type: 'INTEGER' },
      { name: 'bid_price', type: 'DOUBLE' },
      { name: 'bid_amount', type: 'DOUBLE' },
      { name: 'ask_price', type: 'DOUBLE' },
      { name: 'ask_amount', type: 'DOUBLE' },
    ],
    key: ['local_timestamp', 'level'],
    time: 'timestamp',
    gapBy: 'none',
    staged: ['timestamp', 'local_timestamp', 'level', 'bid_price', 'bid_amount', 'ask_price', 'ask_amount'],
  },
  funding: {
    kind: 'funding',
    columns: [
      { name: 'timestamp', type: 'BIGINT' },
      { name: 'local_timestamp', type: 'BIGINT' },
      { name: 'funding_rate', type: 'DOUBLE' },
      { name: 'funding_time', type: 'BIGINT' },
      { name: 'mark_price', type: 'DOUBLE' },
      { name: 'index_price', type: 'DOUBLE' },
    ],
    key: ['timestamp'],
    time: 'timestamp',
    gapBy: 'none',
    staged: ['timestamp', 'local_timestamp', 'funding_rate', 'funding_time', 'mark_price', 'index_price'],
  },
  liquidations: {
    kind: 'liquidations',
    columns: [
      { name: 'timestamp', type: 'BIGINT' },
      { name: 'local_timestamp', type: 'BIGINT' },
      { name: 'side', type: 'VARCHAR', expr: SIDE_EXPR('side'), values: SIDES },
      { name: 'price', type: 'DOUBLE' },
      { name: 'amount', type: 'DOUBLE' },
    ],
    key: ['timestamp', 'side', 'price', 'amount'],
    time: 'timestamp',
    gapBy: 'none',
    staged: ['timestamp', 'local_timestamp', 'side', 'price', 'amount'],
  },
  open_interest: {
    kind: 'open_interest',
    columns: [
      { name: 'timestamp', type: 'BIGINT' },
      { name: 'local_timestamp', type: 'BIGINT' },
      { name: 'open_interest', type: 'DOUBLE' },
      { name: 'open_interest_value', type: 'DOUBLE' },
    ],
    key: ['timestamp'],
    time: 'timestamp',
    gapBy: 'none',
    staged: ['timestamp', 'local_timestamp', 'open_interest', 'open_interest_value'],
  },
  signals: {
    kind: 'signals',
    // Long format: one row per bar and series (`rsi`, `macd.macdSignal`, `rsi@1h`, `confluence`)
    columns: [
      { name: 'open_time', type: 'BIGINT' },
      { name: 'series', type: 'VARCHAR' },
      { name: 'value', type: 'DOUBLE' },
    ],
    key: ['open_time', 'series'],
    time: 'open_time',
    gapBy: 'none',
    staged: ['open_time', 'value'],
    stagedText: ['series'],
  },
  integrity: {
    kind: 'integrity',
    columns: [
      { name: 'timestamp', type: 'BIGINT' },
      { name: 'local_timestamp', type: 'BIGINT' },
      { name: 'event', type: 'VARCHAR' },
      { name: 'stream', type: 'VARCHAR' },
      { name: 'range_from', type: 'BIGINT' },
      { name: 'range_to', type: 'BIGINT' },
      { name: 'detail', type: 'VARCHAR' },
    ],
    key: ['local_timestamp', 'event', 'stream'],
    time: 'timestamp',
    gapBy: 'none',
    staged: ['timestamp', 'local_timestamp', 'range_from', 'range_to'],
    stagedText: ['event', 'stream', 'detail'],
  },
}

/** Identity of one stored series: kind + instrument (+ interval for bars). */
export interface DatasetId {
  readonly kind: Kind
  readonly exchange: Exchange
  readonly symbol: string
  readonly interval?: Interval | undefined
}

export type Granularity = 'date' | 'month' | 'year'

/**
 * Time span of one partition. Event kinds use UTC days; bars use months below 1h and years from 1h up, so a
 * year of 1m bars is 12 files rather than 366 (measured: 130 ms vs 370 ms to read, see BENCHMARKS.md).
 */
export function granularityOf(ds: DatasetId): Granularity {
  if (!hasInterval(ds.kind)) return 'date'
  const us = ds.interval ? intervalUs(ds.interval) : undefined
  if (us !== undefined && us < US_PER_HOUR) return 'month'
  return 'year'
}

/** SQL producing the partition value (`2024-01-31`, `2024-01` or `2024`) from a µs time expression. */
export function partitionExpr(g: Granularity, timeExpr: string): string {
  const fmt = g === 'date' ? '%Y-%m-%d' : g === 'month' ? '%Y-%m' : '%Y'
  return `strftime(make_timestamp(CAST(${timeExpr} AS BIGINT)), '${fmt}')`
}

/** Folder name of an interval: `1M` is written `1mo` so case-insensitive filesystems keep it apart from `1m`. */
export function intervalDir(i: Interval): string {
  return i === '1M' ? '1mo' : i
}

/** Path of a dataset relative to the lake root (Hive-style folders). */
export function datasetPath(ds: DatasetId): string {
  const parts = [ds.kind, `exchange=${ds.exchange}`, `symbol=${ds.symbol}`]
  if (hasInterval(ds.kind)) {
    if (!ds.interval) throw new Error(`${ds.kind} need an interval`)
    parts.push(`interval=${intervalDir(ds.interval)}`)
  }
  return parts.join('/')
}

export function datasetLabel(ds: DatasetId): string {
  return `${ds.exchange}:${ds.symbol} ${ds.kind}${ds.interval ? ' ' + ds.interval : ''}`
}

/** SQL literal for a string. */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`
}
