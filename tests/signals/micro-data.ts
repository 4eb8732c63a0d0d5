// Real data loaders for the book, funding, open-interest and liquidation sources
//
// The fixtures in tests/fixtures/signals are slices of real Binance recordings (nkaz001/hftbacktest examples),
// rebuilt by scripts/make-signal-fixtures.py, which also checks the replayed book against the recorded bookTicker
// stream. No real open-interest or liquidation history was found, so those loaders fail on purpose instead of
// serving made-up series.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import type { Columns, Source } from '../../src/lib/signals/types.js'
import { FIXTURES } from '../helpers.js'

export const SIGNAL_FIXTURES = join(FIXTURES, 'signals')

const cache = new Map<string, Columns>()

/** Reads a gzip CSV fixture with a header row into one Float64Array per column. */
export function readFixture(name: string): Columns {
  const hit = cache.get(name)
  if (hit) return hit
  const text = gunzipSync(readFileSync(join(SIGNAL_FIXTURES, name))).toString('utf8')
  const lines = text.split('\n').filter((l) => l.length > 0)
  const header = lines[0].split(',')
  const cols = header.map(() => new Float64Array(lines.length - 1))
  for (let i = 1; i < lines.length; i++) {
    const cells = lines[i].split(',')
    if (cells.length !== header.length) throw new Error(`${name}:${i + 1}: expected ${header.length} cells, found ${cells.length}`)
    for (let k = 0; k < cells.length; k++) {
      const v = Number(cells[k])
      if (!Number.isFinite(v)) throw new Error(`${name}:${i + 1}: '${cells[k]}' in ${header[k]} is not a number`)
      cols[k][i - 1] = v
    }
  }
  const out = Object.fromEntries(header.map((h, k) => [h, cols[k]]))
  cache.set(name, out)
  return out
}

/** Binance spot BTCUSDT top-20 book, one snapshot per second of exchange time, 2024-08-08 23:54:16 to 2024-08-09 00:00:01 UTC (346 rows). */
export async function realBook(): Promise<Columns> {
  return readFixture('btcusdt-spot-book20-1s-20240808.csv.gz')
}

/** The same book after every depth@100ms diff, for its first 60 s (599 rows). */
export async function realBookDiffs(): Promise<Columns> {
  return readFixture('btcusdt-spot-book20-diff-20240808.csv.gz')
}

/** Binance USD-M BTCUSDT markPrice@1s events: funding_rate (r) and mark_price (p), 2023-04-04 23:58:21 to 2023-04-05 00:06:54 (514 rows). */
export async function realFunding(): Promise<Columns> {
  return readFixture('btcusdt-usdm-funding-1s-20230404.csv.gz')
}

function noRealData(source: Source, what: string): () => Promise<Columns> {
  return async () => {
    throw new Error(
      `No real ${source} data: ${what} Synthetic series are not used for parity tests; add a real recording to ` +
        '../shared/data/real, convert it in scripts/make-signal-fixtures.py and load it here.',
    )
  }
}

export const MICRO_SOURCES: Partial<Record<Source, () => Promise<Columns>>> = {
  book: realBook,
  funding: realFunding,
  open_interest: noRealData(
    'open_interest',
    'no open-interest history (Binance openInterestHist or data.binance.vision metrics) exists in the shared real ' +
      'data (see its SOURCES.md, "Not found"), and the recorded streams carry no open interest.',
  ),
  liquidations: noRealData(
    'liquidations',
    'none of the recordings in the shared real data subscribes to a liquidation stream (Binance forceOrder or ' +
      'another exchange\'s equivalent).',
  ),
}
