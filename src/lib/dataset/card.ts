// The dataset card (README.md) written next to the shards

import { basename } from 'node:path'
import { isoUs } from '../time.js'
import type { Manifest } from './manifest.js'

const fmt = (n: number) => n.toLocaleString('en-US')

function duration(us: number): string {
  if (us < 1000) return `${us} µs`
  if (us < 1e6) return `${us / 1000} ms`
  if (us < 60e6) return `${us / 1e6} s`
  return `${(us / 60e6).toFixed(1)} min`
}

/** Renders README.md for a finished dataset. */
export function datasetCard(m: Manifest): string {
  const o = m.options
  const v = m.validation
  const inst = o.exchange && o.symbol ? `${o.exchange}:${o.symbol}` : o.symbol ?? 'not stated (pass --instrument)'
  const range = m.ts_min !== null && m.ts_max !== null ? `${isoUs(m.ts_min)} to ${isoUs(m.ts_max)}` : 'empty'
  const sampling =
    o.every_us === null
      ? 'every snapshot in the input, stamped with its own time (receipt time when the line has one)'
      : o.input_kind === 'recording'
        ? `the book every ${duration(o.every_us)} on the receipt-time clock (a row at T is the book after every frame received at or before T), only while the book was synced`
        : `every ${duration(o.every_us)}: the newest snapshot at or before each instant, unless older than ${duration(o.max_gap_us)}`
  const lines: string[] = []
  lines.push(`# Order-book dataset: ${inst}, top ${o.levels} levels`)
  lines.push('')
  lines.push(`Converted by \`mercury convert-lob\` (mercury ${m.mercury_version}). Every row is the top ${o.levels} levels of the book at one instant.`)
  lines.push('')
  lines.push('| | |')
  lines.push('|---|---|')
  lines.push(`| instrument | ${inst} |`)
  lines.push(`| source | ${o.input_kind === 'recording' ? 'recorded diff streams with their REST snapshot, replayed through the book engine with the venue\'s sequence rules' : 'depth snapshots, one per line'} |`)
  lines.push(`| levels | ${o.levels} per side |`)
  lines.push(`| sampling | ${sampling} |`)
  lines.push(`| time range | ${range} |`)
  lines.push(`| rows | ${fmt(m.total_rows)} in ${m.shards.length} shard(s) of at most ${fmt(o.shard_rows)} rows, ${o.compression} |`)
  lines.push(`| trades | ${o.with_trades ? 'buy_volume, sell_volume, trade_count per interval (trades received in (previous instant, this instant])' : 'not included'} |`)
  lines.push('')
  lines.push('## Columns')
  lines.push('')
  lines.push('`ts` (BIGINT, µs since the epoch, UTC), `bid_px_i`/`bid_sz_i`/`ask_px_i`/`ask_sz_i` for i = 0 (best) to ' + `${o.levels - 1}` + ' (DOUBLE; NULL where the side has fewer levels), `mid` and `spread` (NULL when a side is empty)' + (o.with_trades ? ', `buy_volume`, `sell_volume` (DOUBLE, base units, by aggressor side), `trade_count` (BIGINT).' : '.'))
  lines.push('')
  lines.push('## Shards')
  lines.push('')
  lines.push('| file | rows | from | to | sha256 |')
  lines.push('|---|---|---|---|---|')
  for (const s of m.shards) lines.push(`| ${s.file} | ${fmt(s.rows)} | ${isoUs(s.ts_min)} | ${isoUs(s.ts_max)} | \`${s.sha256.slice(0, 16)}…\` |`)
  lines.push('')
  lines.push('Shards are in time order and do not overlap. `manifest.json` lists the full checksums, the schema and the options.')
  if (m.npy) lines.push('`npy/features.npy` (float32, the columns after `ts`, NULL as NaN), `npy/ts.npy` (int64) and `npy/columns.json` hold the same rows for readers without Parquet.')
  lines.push('')
  lines.push('## Gaps and validation')
  lines.push('')
  if (o.input_kind === 'recording') {
    lines.push(`- frames read: ${fmt(v.frames)}; snapshots seen: ${v.snapshots}; sequence gaps: ${v.sequenceGaps}; resyncs: ${v.resyncs}; crossed books: ${v.crossedBooks}`)
    lines.push(`- warm-up before the first synced book: ${duration(v.warmupUs)}; unsynced stretches after it: ${v.gapCount} (${duration(v.unsyncedUs)}); rows dropped as stale before a gap: ${v.rowsDroppedStale}`)
  } else {
    lines.push(`- lines read: ${fmt(v.lines)}; skipped (not snapshots): ${fmt(v.skippedLines)}; crossed books dropped: ${v.crossedBooks}`)
    lines.push(`- out-of-order timestamps dropped: ${v.outOfOrder}; duplicate timestamps dropped: ${v.duplicateTimestamps}; holes longer than ${duration(o.max_gap_us)}: ${v.gapCount}`)
  }
  lines.push(`- bad lines: ${v.badLines}${v.problems.length ? ` (first: ${basename(v.problems[0].file)}:${v.problems[0].line}: ${v.problems[0].reason})` : ''}`)
  lines.push(`- rows without bids: ${v.emptyBidRows}; without asks: ${v.emptyAskRows}`)
  for (const g of v.gaps.slice(0, 20)) lines.push(`- gap ${isoUs(g.from)} to ${isoUs(g.to)}: ${g.reason}`)
  if (v.gaps.length > 20) lines.push(`- … ${v.gapCount - 20} more in manifest.json`)
  lines.push('')
  lines.push('## Sources')
  lines.push('')
  for (const s of m.sources) lines.push(`- \`${basename(s.path)}\` (${s.kind}${s.format ? `, ${s.format}` : ''}, ${fmt(s.bytes)} bytes, sha256 \`${s.sha256}\`)`)
  lines.push('')
  lines.push('## Licence')
  lines.push('')
  lines.push(
    'The market data belongs to the exchange' +
      (o.exchange ? ` (${o.exchange.startsWith('binance') ? 'Binance' : o.exchange === 'coinbase' ? 'Coinbase' : o.exchange})` : '') +
      '; this dataset is derived from the recordings listed above, credited in their own documentation (for the recordings shipped with mercury, `tests/fixtures/recordings` and `../shared/data/real/SOURCES.md`). Check the exchange\'s terms before redistributing it.',
  )
  lines.push('')
  return lines.join('\n')
}
