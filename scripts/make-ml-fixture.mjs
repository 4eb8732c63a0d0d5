// Writes tests/fixtures/ml/btcusdt-spot-20240808/npy/ (features.npy, ts.npy, columns.json): the input of the kaggle/
// trainer's CPU tests, in the layout `mercury convert-lob --npy` writes. Derived from the real hftbacktest recording
// tests/fixtures/recordings/hftbacktest/spot-btcusdt_20240808.gz (nkaz001/hftbacktest, MIT; see datasets/README.md):
// its REST snapshot and depth@100ms diffs are replayed through mercury's own Binance parser and book sync, and the
// top LEVELS levels per side are sampled every INTERVAL_US of exchange time (the diffs' `E`; the recorder's local
// clock ran about 1.27 s behind the exchange). A sample at grid point g holds every diff stamped at or before g.
// Nothing is synthesised. Run after `npm run build`: node scripts/make-ml-fixture.mjs
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createBookSync } from '../dist/src/lib/book/sync.js'
import { mapBinanceMessage, parseBinanceDepthSnapshot } from '../dist/src/lib/exchanges/binance/stream.js'
import { rawColumns, rawRowFromBook, rowWidth } from '../dist/src/lib/ml/features.js'
import { writeNpy } from '../dist/src/lib/ml/npy.js'
import { readRecordingSync } from '../dist/src/lib/replay/recording.js'

const SOURCE = 'tests/fixtures/recordings/hftbacktest/spot-btcusdt_20240808.gz'
const OUT = 'tests/fixtures/ml/btcusdt-spot-20240808/npy'
const SYMBOL = 'BTCUSDT'
const LEVELS = 10
const INTERVAL_US = 100_000

const sync = createBookSync('binance', SYMBOL)
const width = rowWidth(LEVELS)
const rows = []
const times = []
let next
let lastE

const sample = () => {
  const row = new Float32Array(width)
  if (!rawRowFromBook(sync.book, LEVELS, row)) throw new Error(`empty book side at ${next}`)
  rows.push(row)
  times.push(BigInt(next))
}

for (const frame of readRecordingSync(SOURCE)) {
  const msg = JSON.parse(frame.text)
  if (frame.src === 'rest') {
    const step = sync.onSnapshot(parseBinanceDepthSnapshot(msg, 'binance', SYMBOL, frame.localTimestamp))
    for (const c of step.applied) if (!c.isSnapshot) lastE = c.timestamp
    if (step.integrity.length || step.needSnapshot) throw new Error(`sync trouble at line ${frame.line}`)
    continue
  }
  for (const r of mapBinanceMessage('binance', msg, frame.localTimestamp)) {
    if (r.type !== 'book_change' || r.symbol !== SYMBOL) continue
    if (sync.state === 'synced') {
      next ??= Math.ceil((lastE ?? r.timestamp) / INTERVAL_US) * INTERVAL_US
      while (next < r.timestamp) {
        sample()
        next += INTERVAL_US
      }
    }
    const step = sync.onDiff(r)
    if (step.integrity.length || step.needSnapshot) throw new Error(`sync trouble at line ${frame.line}`)
    if (step.applied.length) lastE = r.timestamp
  }
}

const features = new Float32Array(rows.length * width)
rows.forEach((row, i) => features.set(row, i * width))
mkdirSync(OUT, { recursive: true })
writeNpy(`${OUT}/features.npy`, features, [rows.length, width])
writeNpy(`${OUT}/ts.npy`, BigInt64Array.from(times), [times.length])
const columns = {
  columns: rawColumns(LEVELS),
  levels: LEVELS,
  dtype: 'float32',
  ts: 'int64 µs, exchange time, one row every 100 ms',
  exchange: 'binance',
  symbol: SYMBOL,
  source: SOURCE,
  source_sha256: createHash('sha256').update(readFileSync(SOURCE)).digest('hex'),
}
writeFileSync(`${OUT}/columns.json.tmp`, JSON.stringify(columns, null, 2) + '\n')
renameSync(`${OUT}/columns.json.tmp`, `${OUT}/columns.json`)
console.log(`${OUT}: ${rows.length} rows x ${width} columns, ${times[0]}..${times[times.length - 1]} µs`)
