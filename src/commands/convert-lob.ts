import type { Command } from 'commander'
import { existsSync } from 'node:fs'
import { UsageError } from '../lib/errors.js'
import { parseInstrument } from '../lib/instrument.js'
import { expandGlob } from '../lib/util/glob.js'
import { fmtBytes, fmtNum, globals, intOption, printJson, progressLine } from './common.js'

const KINDS = ['auto', 'snapshots', 'recording'] as const
const COMPRESSIONS = ['zstd', 'snappy', 'gzip', 'lz4', 'lz4_raw', 'brotli', 'uncompressed'] as const

/** `100ms`, `1s`, `250us`, `1m` into µs; `raw` (every snapshot) stays 'raw'. */
function parseEvery(text: string): number | 'raw' {
  if (text === 'raw') return 'raw'
  const m = /^(\d+(?:\.\d+)?)(us|µs|ms|s|m|h)$/.exec(text.trim())
  const unit: Record<string, number> = { us: 1, µs: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 }
  const us = m ? Math.round(Number(m[1]) * unit[m[2]]) : NaN
  if (!Number.isFinite(us) || us <= 0) throw new UsageError(`Invalid --every: '${text}'. Expected a duration such as 100ms, 1s or 500us, or 'raw'`)
  return us
}

function parseGap(text: string): number {
  const us = parseEvery(text)
  if (us === 'raw') throw new UsageError(`Invalid --max-gap: '${text}'. Expected a duration such as 10s`)
  return us
}

/** Expands each pattern; a pattern that matches nothing is a usage error. */
function resolveInputs(patterns: readonly string[]): string[] {
  const out: string[] = []
  for (const p of patterns) {
    const m = expandGlob(p)
    if (m.length === 0 || (m.length === 1 && m[0] === p && !existsSync(p))) throw new UsageError(`Invalid <input>: '${p}' matches no file`)
    out.push(...m)
  }
  return [...new Set(out)]
}

export function registerConvertLob(program: Command): void {
  program
    .command('convert-lob')
    .description('order-book snapshots or recorded diff streams to wide Parquet shards with a manifest and a dataset card')
    .argument('<input...>', 'snapshot JSON lines or recordings (mercury --record, hftbacktest, cryptofeed), plain or .gz; globs allowed')
    .option('--out <dir>', 'output folder (part-00000.parquet ..., manifest.json, README.md)')
    .option('--levels <n>', 'levels per side', intOption('--levels'), 20)
    .option('--every <duration>', "sampling period on the receipt-time clock (default 100ms for recordings, 'raw' = every snapshot for snapshot input)", parseEvery)
    .option('--shards <k>', 'target number of shards (counts the rows first)', intOption('--shards'))
    .option('--shard-rows <n>', 'rows per shard (default 1000000)', intOption('--shard-rows'))
    .option('--compression <codec>', `Parquet compression: ${COMPRESSIONS.join(', ')}`, 'zstd')
    .option('--with-trades', 'add buy_volume, sell_volume, trade_count per interval (recordings with a trade stream)')
    .option('--instrument <exchange:SYMBOL>', 'the book to convert when the recording holds several, or to name it in the card')
    .option('--input-kind <kind>', `${KINDS.join(', ')}: force how the inputs are read`, 'auto')
    .option('--max-gap <duration>', 'snapshot input: a hole longer than this is reported, and not filled when resampling', parseGap)
    .option('--threads <n>', 'parser threads for snapshot input (default: cores, at most 4)', intOption('--threads'))
    .option('--resume', 'keep the shards of an earlier run that match their checksums and write the rest')
    .option('--force', 'replace a dataset already in --out')
    .option('--strict', 'fail on the first bad line and write nothing')
    .option('--npy', 'also write npy/features.npy (float32), npy/ts.npy (int64) and npy/columns.json')
    .addHelpText(
      'after',
      `
Snapshot lines: {"ts":..., "bids":[[p,q],...], "asks":[...]} (ts in s, ms, µs, ns or ISO-8601), Binance
@depth<N> payloads (bare, in the combined-stream wrapper, or after a "<local_ts> " prefix). Recordings are replayed
through the book engine with the venue's sequence rules and sampled every --every while the book is synced.
See docs/DATASETS.md.

Examples:
  $ mercury convert-lob tests/fixtures/recordings/hftbacktest/spot-btcusdt_20240808.gz --out lob-btc
  $ mercury convert-lob 'captures/*.jsonl.gz' --out lob --levels 10 --shards 42 --npy
  $ mercury convert-lob rec.jsonl.gz --out lob --instrument binance:BTCUSDT --every 1s --with-trades --json
  $ mercury convert-lob 'captures/*.jsonl.gz' --out lob --resume`,
    )
    .action(async (patterns: string[], opts: {
      out?: string; levels: number; every?: number | 'raw'; shards?: number; shardRows?: number; compression: string; withTrades?: boolean
      instrument?: string; inputKind: string; maxGap?: number; threads?: number; resume?: boolean; force?: boolean; strict?: boolean; npy?: boolean
    }, cmd: Command) => {
      const g = globals(cmd)
      if (!opts.out) throw new UsageError('Missing --out: the folder to write the dataset to, e.g. --out datasets/lob')
      if (!(COMPRESSIONS as readonly string[]).includes(opts.compression)) {
        throw new UsageError(`Invalid --compression: '${opts.compression}'. Expected one of ${COMPRESSIONS.join(', ')}`)
      }
      if (!(KINDS as readonly string[]).includes(opts.inputKind)) throw new UsageError(`Invalid --input-kind: '${opts.inputKind}'. Expected one of ${KINDS.join(', ')}`)
      if (opts.shards !== undefined && opts.shardRows !== undefined) throw new UsageError('Invalid --shards: give --shards or --shard-rows, not both')
      if (opts.resume && opts.force) throw new UsageError('Invalid --resume: give --resume or --force, not both')
      const instrument = opts.instrument ? parseInstrument(opts.instrument, '--instrument') : undefined
      const inputs = resolveInputs(patterns)
      const { convertLob } = await import('../lib/dataset/convert.js')
      const { reportIssues } = await import('../lib/dataset/report.js')
      const bar = progressLine()
      let last = 0
      const r = await convertLob({
        inputs,
        out: opts.out,
        levels: opts.levels,
        everyUs: opts.every === 'raw' ? null : opts.every,
        shards: opts.shards,
        shardRows: opts.shardRows,
        compression: opts.compression as never,
        withTrades: opts.withTrades,
        instrument,
        inputKind: opts.inputKind === 'auto' ? undefined : (opts.inputKind as 'snapshots' | 'recording'),
        maxGapUs: opts.maxGap,
        threads: opts.threads,
        resume: opts.resume,
        force: opts.force,
        strict: opts.strict,
        npy: opts.npy,
        onProgress: (p) => {
          const now = Date.now()
          if (now - last < 200) return
          last = now
          const read = p.frames > 0 ? `${fmtNum(Math.round(p.frames))} frames` : `${fmtBytes(p.bytes)} of ${fmtBytes(p.totalBytes)} (${p.totalBytes ? Math.floor((100 * p.bytes) / p.totalBytes) : 0}%)`
          bar.update(`convert-lob ${p.phase}: ${read}, ${fmtNum(p.rows)} rows, ${p.shards} shard(s)`)
        },
      })
      bar.done()
      const m = r.manifest
      const v = m.validation
      const mbs = r.inputBytes / 1e6 / Math.max(r.seconds, 1e-9)
      if (g.json) {
        printJson({
          out: r.out,
          rows: m.total_rows,
          shards: m.shards,
          keptShards: r.keptShards,
          writtenShards: r.writtenShards,
          tsMin: m.ts_min,
          tsMax: m.ts_max,
          exchange: m.options.exchange,
          symbol: m.options.symbol,
          inputKind: m.options.input_kind,
          inputBytes: r.inputBytes,
          seconds: r.seconds,
          mbPerSecond: mbs,
          npy: m.npy,
          validation: v,
        })
        return
      }
      const inst = m.options.exchange && m.options.symbol ? ` ${m.options.exchange}:${m.options.symbol}` : ''
      process.stdout.write(
        `wrote ${fmtNum(m.total_rows)} rows${inst} in ${m.shards.length} shard(s) to ${r.out}` +
          (r.keptShards ? ` (${r.keptShards} kept after checksum verification)` : '') +
          `; ${fmtBytes(r.inputBytes)} in ${r.seconds.toFixed(1)} s (${mbs.toFixed(0)} MB/s)\n`,
      )
      for (const issue of reportIssues(v)) process.stdout.write(`  ${issue}\n`)
      for (const p of v.problems.slice(0, 5)) process.stdout.write(`  bad line ${p.file}:${p.line}: ${p.reason}\n`)
    })
}
