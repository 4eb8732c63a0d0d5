// Real data for indicator tests: Binance spot BTCUSDT 1m bars and trades shipped in datasets/
import { join } from 'node:path'
import { NumericCsvScanner } from '../../src/lib/archive/csv.js'
import { openArchive } from '../../src/lib/archive/source.js'
import { KlineParser, TradeParser, type ArchiveRowParser } from '../../src/lib/exchanges/binance/archive.js'
import type { Columns, Source } from '../../src/lib/signals/types.js'
import { DATASETS, KLINES } from '../helpers.js'
import { MICRO_SOURCES } from './micro-data.js'

async function parse(files: string[], make: () => ArchiveRowParser): Promise<Record<string, Float64Array>> {
  const p = make()
  for (const f of files) {
    for await (const e of openArchive(f).entries()) {
      const s = new NumericCsvScanner(12, (v, n, l, t) => p.row(v, n, l, t))
      for await (const c of e.stream) s.push(c)
      s.end()
    }
  }
  const n = p.batch.rows
  return Object.fromEntries(Object.entries(p.batch.cols).map(([k, v]) => [k, v.slice(0, n)]))
}

let barsCache: Promise<Record<string, Float64Array>> | undefined

/** Real BTCUSDT 1m bars, 2024-11-01 to 2025-01-01 (89,280 rows), optionally the first `limit`. */
export async function realBars(limit?: number): Promise<Columns> {
  barsCache ??= parse(
    ['BTCUSDT-1m-2024-11.zip', 'BTCUSDT-1m-2024-12.zip', 'BTCUSDT-1m-2025-01-01.zip'].map((f) => join(KLINES, f)),
    () => new KlineParser('1m'),
  )
  const all = await barsCache
  return limit === undefined ? all : Object.fromEntries(Object.entries(all).map(([k, v]) => [k, v.subarray(0, limit)]))
}

/** Real BTCUSDT spot trades (19,904): timestamp (µs), price, amount, side (+1 buy / -1 sell aggressor). */
export async function realTrades(): Promise<Columns> {
  const dir = join(DATASETS, 'binance', 'spot', 'trades', 'BTCUSDT')
  return parse(
    ['BTCUSDT-trades-2024-08-08.zip', 'BTCUSDT-trades-2024-08-09.zip'].map((f) => join(dir, f)),
    () => new TradeParser(),
  )
}

/** Real input columns per source, for parity and edge-case tests. */
export const SOURCE_DATA: Partial<Record<Source, () => Promise<Columns>>> = {
  bars: () => realBars(5000),
  trades: realTrades,
  ...MICRO_SOURCES,
}

/** Index of the first value that is not bit-identical (NaN payloads included), or -1; 0 on a length mismatch */
export function firstDiff(a: Float64Array, b: Float64Array): number {
  if (a.length !== b.length) return 0
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length * 2)
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length * 2)
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i >> 1
  return -1
}
