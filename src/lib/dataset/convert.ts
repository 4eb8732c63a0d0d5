// convert-lob: order-book inputs (snapshot lines or recorded diff streams) to wide Parquet shards with a manifest
// and a dataset card. See docs/DATASETS.md.
//
// Files: every file is written to a temp name and renamed; `.progress.json` lists the shards done so far (the
// resume point); `manifest.json` is written last and means "complete". With --strict nothing is renamed into
// place before the whole input has passed.
//
// --shards K needs the row count first: snapshot input without resampling counts lines (a fast pass that does
// not parse), anything else runs a counting pass of the full pipeline; the shard size is then ceil(rows / K).

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, statSync, unlinkSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import type { Exchange } from '../consts.js'
import { FatalError, UsageError } from '../errors.js'
import type { Instrument } from '../instrument.js'
import { logger } from '../log.js'
import { fsyncDir, randomId, writeFileAtomic } from '../util/fs.js'
import { datasetCard } from './card.js'
import { inspectInput, type InputInfo, type InputKind } from './detect.js'
import { countLines, fileBlocks } from './frames.js'
import { lobLayout, MAX_LEVELS, type LobLayout } from './layout.js'
import {
  fileSha256,
  MANIFEST_FILE,
  MANIFEST_VERSION,
  PROGRESS_FILE,
  readManifest,
  readProgress,
  sameOptions,
  shardName,
  writeManifest,
  writeProgress,
  type DatasetOptions,
  type Manifest,
  type NpyInfo,
  type ShardInfo,
  type SourceInfo,
} from './manifest.js'
import { writeNpy } from './npy.js'
import { ShardWriter, COMPRESSIONS, type Compression } from './parquet.js'
import { defaultThreads, Pass, ringError, type PassPlan } from './pipeline.js'
import type { ValidationReport } from './report.js'

const log = logger('mercury:convert-lob')

export const DEFAULT_LEVELS = 20
export const DEFAULT_EVERY_US = 100_000
export const DEFAULT_SHARD_ROWS = 1_000_000
export const DEFAULT_MAX_GAP_US = 10_000_000

export interface ConvertProgress {
  readonly phase: 'count' | 'verify' | 'convert' | 'npy'
  /** On-disk input bytes read (snapshot input) */
  readonly bytes: number
  readonly totalBytes: number
  /** Frames replayed (recordings) */
  readonly frames: number
  readonly rows: number
  readonly shards: number
}

export interface ConvertLobOptions {
  /** Input files (globs already expanded) */
  readonly inputs: readonly string[]
  readonly out: string
  readonly levels?: number
  /** Sampling period, µs; undefined: 100 ms for recordings, every snapshot for snapshot input; null: every snapshot */
  readonly everyUs?: number | null
  /** Target number of shards (needs a counting pass) */
  readonly shards?: number
  readonly shardRows?: number
  readonly compression?: Compression
  readonly withTrades?: boolean
  readonly resume?: boolean
  readonly force?: boolean
  readonly strict?: boolean
  readonly npy?: boolean
  readonly instrument?: Instrument
  readonly inputKind?: InputKind
  readonly maxGapUs?: number
  /** Parser workers for snapshot input (default: cores, at most 4) */
  readonly threads?: number
  readonly onProgress?: (p: ConvertProgress) => void
}

export interface ConvertLobResult {
  readonly out: string
  readonly manifest: Manifest
  /** Shards verified by checksum and kept (--resume) */
  readonly keptShards: number
  readonly writtenShards: number
  readonly seconds: number
  readonly inputBytes: number
}

/** The mercury package version. */
export function mercuryVersion(): string {
  let dir = dirname(new URL(import.meta.url).pathname)
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'package.json')
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'mercury-market' && pkg.version) return pkg.version
    }
    dir = dirname(dir)
  }
  return 'unknown'
}

interface Plan {
  readonly infos: readonly InputInfo[]
  readonly kind: InputKind
  readonly exchange: Exchange | undefined
  readonly symbol: string | undefined
  readonly layout: LobLayout
  readonly everyUs: number | undefined
  readonly maxGapUs: number
}

function unique<T>(xs: readonly (T | undefined)[]): T[] {
  return [...new Set(xs.filter((x): x is T => x !== undefined))]
}

/**
 * Refuses an --instrument that the recordings show they do not hold: replaying another venue's frames, or a book
 * the recording never streamed, would write a dataset of the wrong market (a REST snapshot without its symbol in
 * the frame is taken for the named book, and with no diffs to follow it stays frozen).
 */
function checkNamedBook(inst: Instrument, infos: readonly InputInfo[]): void {
  const exs = unique(infos.map((i) => i.exchange))
  if (exs.length > 0 && !exs.includes(inst.exchange)) {
    throw new UsageError(`Invalid --instrument: '${inst.exchange}:${inst.symbol}' is not in the recording, which is from ${exs.join(', ')}`)
  }
  const syms = unique(infos.flatMap((i) => i.symbols))
  if (syms.length > 0 && !syms.includes(inst.symbol)) {
    const held = syms.map((s) => `${exs[0] ?? inst.exchange}:${s}`).join(', ')
    throw new UsageError(`Invalid --instrument: the recording holds no book for '${inst.exchange}:${inst.symbol}' (it holds ${held})`)
  }
}

/** Classifies the inputs and settles instrument, sampling and layout. */
function plan(o: ConvertLobOptions): Plan {
  if (o.inputs.length === 0) throw new UsageError('Missing <input>: give at least one file or glob')
  const levels = o.levels ?? DEFAULT_LEVELS
  if (!Number.isInteger(levels) || levels < 1 || levels > MAX_LEVELS) throw new UsageError(`Invalid --levels: '${levels}'. Expected an integer from 1 to ${MAX_LEVELS}`)
  const infos = o.inputs.map((p) => inspectInput(p))
  let kind: InputKind
  if (o.inputKind !== undefined) {
    kind = o.inputKind
    const wrong = infos.find((i) => kind === 'recording' && i.kind !== 'recording')
    if (wrong) throw new UsageError(`Invalid --input-kind: '${wrong.path}' is not a recording mercury can replay (mercury --record, hftbacktest or cryptofeed)`)
  } else {
    const kinds = unique(infos.map((i) => i.kind))
    if (kinds.length > 1) {
      const list = infos.map((i) => `${basename(i.path)}: ${i.kind}`).join(', ')
      throw new UsageError(`Invalid <input>: snapshot files and recordings cannot be mixed in one dataset (${list})`)
    }
    kind = kinds[0]
  }
  let exchange = o.instrument?.exchange
  let symbol = o.instrument?.symbol
  if (kind === 'recording') {
    const exs = unique(infos.map((i) => i.exchange))
    if (o.instrument !== undefined) checkNamedBook(o.instrument, infos)
    if (exchange === undefined) {
      if (exs.length > 1) throw new UsageError(`Invalid <input>: the recordings are from different venues (${exs.join(', ')}); convert them separately`)
      exchange = exs[0]
      if (exchange === undefined) throw new UsageError('Cannot tell the venue of the recording: pass --instrument exchange:SYMBOL')
    }
    if (symbol === undefined) {
      const syms = unique(infos.flatMap((i) => i.symbols))
      if (syms.length === 0) throw new UsageError('Cannot tell which book the recording holds: pass --instrument exchange:SYMBOL')
      if (syms.length > 1) throw new UsageError(`The recording holds several books (${syms.join(', ')}): pass --instrument ${exchange}:${syms[0]}`)
      symbol = syms[0]
    }
  } else {
    if (symbol === undefined) {
      const syms = unique(infos.flatMap((i) => i.symbols))
      if (syms.length === 1) symbol = syms[0]
    }
    exchange ??= unique(infos.map((i) => i.exchange))[0]
    if (o.withTrades) throw new UsageError('Invalid --with-trades: snapshot input carries no trades. Convert a recording with its trade stream instead')
  }
  let everyUs: number | undefined
  if (o.everyUs === null) {
    if (kind === 'recording') throw new UsageError("Invalid --every: 'raw' keeps every snapshot of snapshot input; a recording is sampled on a clock, e.g. --every 100ms")
    everyUs = undefined
  } else everyUs = o.everyUs ?? (kind === 'recording' ? DEFAULT_EVERY_US : undefined)
  if (everyUs !== undefined && (!Number.isInteger(everyUs) || everyUs <= 0)) throw new UsageError(`Invalid --every: ${everyUs} µs. Expected a positive duration such as 100ms`)
  return { infos, kind, exchange, symbol, layout: lobLayout(levels, Boolean(o.withTrades)), everyUs, maxGapUs: o.maxGapUs ?? DEFAULT_MAX_GAP_US }
}

/** Files in `dir` that belong to a dataset. */
function datasetEntries(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).filter((e) => e === MANIFEST_FILE || e === PROGRESS_FILE || e === 'README.md' || e === 'npy' || /^\.?part-\d+\.parquet/.test(e))
}

function removeDataset(dir: string): void {
  for (const e of datasetEntries(dir)) rmSync(join(dir, e), { recursive: true, force: true })
}

/** Leftover temp files of an interrupted run */
function removeTemps(dir: string): void {
  if (!existsSync(dir)) return
  for (const e of readdirSync(dir)) if (e.endsWith('.tmp') || /^\.part-\d+\.parquet\./.test(e)) rmSync(join(dir, e), { force: true })
}

function inputsKey(infos: readonly InputInfo[]): string[] {
  return infos.map((i) => `${basename(i.path)}:${i.bytes}`)
}

/** Counts the non-empty lines of the inputs without parsing them (the row count of raw snapshot input, at most). */
async function countInputLines(files: readonly string[]): Promise<number> {
  let n = 0
  for (const f of files) {
    let lastByte = 10
    for await (const b of fileBlocks(f)) {
      n += countLines(b)
      if (b.length > 0) lastByte = b[b.length - 1]
    }
    if (lastByte !== 10) n++
  }
  return n
}

/** Verifies the shards a previous run listed; returns the prefix that matches its checksums. */
async function verifyShards(dir: string, shards: readonly ShardInfo[]): Promise<ShardInfo[]> {
  const ok: ShardInfo[] = []
  for (const s of shards) {
    const p = join(dir, s.file)
    if (!existsSync(p) || statSync(p).size !== s.bytes) break
    const { sha256 } = await fileSha256(p)
    if (sha256 !== s.sha256) {
      log.warn(`${s.file}: checksum differs from the one recorded; writing it again`)
      break
    }
    ok.push(s)
  }
  return ok
}

/** Why a conversion gave no rows, from its report. */
function emptyReason(kind: InputKind, r: ValidationReport): string {
  const bad = r.problems[0]
  if (kind === 'snapshots') {
    if (r.lines === 0) return 'the input has no lines'
    if (r.badLines > 0 && bad !== undefined) {
      return `${r.badLines.toLocaleString('en-US')} of ${r.lines.toLocaleString('en-US')} line(s) are not depth snapshots, first ${bad.file}:${bad.line}: ${bad.reason}`
    }
    return `none of the ${r.lines.toLocaleString('en-US')} line(s) is a depth snapshot (${r.skippedLines.toLocaleString('en-US')} skipped, ${r.crossedBooks} crossed)`
  }
  if (r.frames === 0) return 'the recording has no frames'
  if (r.snapshots === 0) return `the book never synced: the ${r.frames.toLocaleString('en-US')} frame(s) hold no depth snapshot to start it from`
  return `the book never stayed synced through a sampling instant in ${r.frames.toLocaleString('en-US')} frame(s) (${r.sequenceGaps} sequence gap(s))`
}

/** Converts the inputs into a Parquet dataset in `o.out`. */
export async function convertLob(o: ConvertLobOptions): Promise<ConvertLobResult> {
  const started = performance.now()
  const p = plan(o)
  const out = resolve(o.out)
  const compression = o.compression ?? 'zstd'
  if (!(COMPRESSIONS as readonly string[]).includes(compression)) throw new UsageError(`Invalid --compression: '${compression}'. Expected one of ${COMPRESSIONS.join(', ')}`)
  if (o.shards !== undefined && o.shardRows !== undefined) throw new UsageError('Invalid --shards: give --shards or --shard-rows, not both')
  if (o.shards !== undefined && (!Number.isInteger(o.shards) || o.shards < 1)) throw new UsageError(`Invalid --shards: '${o.shards}'. Expected a positive integer`)
  const shardRowsOpt = o.shardRows ?? (o.shards === undefined ? DEFAULT_SHARD_ROWS : undefined)
  if (shardRowsOpt !== undefined && (!Number.isInteger(shardRowsOpt) || shardRowsOpt < 1)) throw new UsageError(`Invalid --shard-rows: '${shardRowsOpt}'. Expected a positive integer`)
  const totalBytes = p.infos.reduce((n, i) => n + i.bytes, 0)
  const threads = o.threads ?? defaultThreads()
  const progress = (x: Omit<ConvertProgress, 'totalBytes'>) => o.onProgress?.({ ...x, totalBytes })

  // What is in the output folder decides between a fresh run, a resume and a refusal
  const existing = datasetEntries(out)
  const prior = readProgress(out) ?? readManifest(out)
  const priorInputs = prior && 'inputs' in prior ? prior.inputs : prior ? (prior as Manifest).sources.map((s) => `${basename(s.path)}:${s.bytes}`) : undefined
  if (existing.length > 0 && !o.force) {
    if (!o.resume) {
      throw new UsageError(`Invalid --out: '${o.out}' already holds a dataset (${existing.slice(0, 3).join(', ')}). Pass --resume to finish or verify it, or --force to replace it`)
    }
    if (prior === undefined) throw new UsageError(`Invalid --resume: '${o.out}' has dataset files but no manifest.json or ${PROGRESS_FILE} to resume from. Pass --force to replace them`)
  }
  if (o.force) removeDataset(out)
  const pass = (kind: 'count' | 'convert'): PassPlan => ({
    kind: p.kind,
    files: p.infos.map((i) => i.path),
    layout: p.layout,
    everyUs: p.everyUs,
    maxGapUs: p.maxGapUs,
    strict: kind === 'convert' && Boolean(o.strict),
    threads,
    exchange: p.exchange,
    symbol: p.symbol,
  })

  // Shard size
  const optionsFor = (shardRows: number): DatasetOptions => ({
    levels: p.layout.levels,
    every_us: p.everyUs ?? null,
    shard_rows: shardRows,
    shards_target: o.shards ?? null,
    compression,
    with_trades: p.layout.withTrades,
    max_gap_us: p.maxGapUs,
    exchange: p.exchange ?? null,
    symbol: p.symbol ?? null,
    input_kind: p.kind,
  })
  let shardRows = shardRowsOpt
  if (shardRows === undefined && o.resume && prior && prior.options.shards_target === o.shards) shardRows = prior.options.shard_rows
  if (shardRows === undefined) {
    const K = o.shards as number
    let rows: number
    if (p.kind === 'snapshots' && p.everyUs === undefined) rows = await countInputLines(p.infos.map((i) => i.path))
    else {
      const counting = new Pass(pass('count'))
      const w = await ShardWriter.open(p.layout, { onRows: undefined })
      try {
        rows = w.skip(counting.source, Number.MAX_SAFE_INTEGER)
      } catch (err) {
        await counting.stop()
        throw ringError(err)
      } finally {
        w.close()
      }
      await counting.stop()
      progress({ phase: 'count', bytes: totalBytes, frames: 0, rows, shards: 0 })
    }
    shardRows = Math.max(1, Math.ceil(rows / K))
  }
  const options = optionsFor(shardRows)
  const inputs = inputsKey(p.infos)

  let kept: ShardInfo[] = []
  if (o.resume && prior) {
    if (!sameOptions(prior.options, options) || JSON.stringify(priorInputs) !== JSON.stringify(inputs)) {
      throw new UsageError(`Invalid --resume: '${o.out}' holds a dataset made from other inputs or options. Pass --force to replace it`)
    }
    progress({ phase: 'verify', bytes: 0, frames: 0, rows: 0, shards: prior.shards.length })
    kept = await verifyShards(out, prior.shards)
  }
  const createdOut = !existsSync(out)
  mkdirSync(out, { recursive: true })
  removeTemps(out)
  // Shards after the verified prefix are rewritten
  for (const e of readdirSync(out)) {
    const m = /^part-(\d+)\.parquet$/.exec(e)
    if (m && Number(m[1]) >= kept.length) unlinkSync(join(out, e))
  }
  const complete = o.resume && prior && 'validation' in prior && kept.length === prior.shards.length
  const mkManifest = (shards: readonly ShardInfo[], sources: SourceInfo[], validation: ValidationReport, npy: NpyInfo[] | null): Manifest => ({
    format: 'mercury-lob',
    version: MANIFEST_VERSION,
    mercury_version: mercuryVersion(),
    options,
    schema: { columns: p.layout.columns },
    total_rows: shards.reduce((n, s) => n + s.rows, 0),
    ts_min: shards.length ? shards[0].ts_min : null,
    ts_max: shards.length ? shards[shards.length - 1].ts_max : null,
    shards,
    sources,
    npy,
    validation,
  })

  const shards: ShardInfo[] = [...kept]
  let report: ValidationReport
  let sha256: string[]
  let written = 0
  let run: Pass | undefined
  let rowsBefore = 0
  const writer = await ShardWriter.open(p.layout, {
    onRows: (rows) => progress({ phase: 'convert', bytes: run?.bytesRead ?? 0, frames: run?.frames ?? 0, rows: rowsBefore + rows, shards: shards.length }),
  })
  const strictTemps: { tmp: string; final: string }[] = []
  try {
    if (complete) {
      report = (prior as Manifest).validation
      sha256 = (prior as Manifest).sources.map((s) => s.sha256)
    } else {
      run = new Pass(pass('convert'))
      const keptRows = kept.reduce((n, s) => n + s.rows, 0)
      if (keptRows > 0 && writer.skip(run.source, keptRows) !== keptRows) {
        throw new FatalError(`--resume: the input gives fewer rows than the ${kept.length} verified shard(s) hold; pass --force`)
      }
      rowsBefore = keptRows
      for (let i = kept.length; ; i++) {
        const final = join(out, shardName(i))
        const tmp = join(out, `.${shardName(i)}.${randomId()}.tmp`)
        // Recordings give a few rows per MB: buffered, so DuckDB never waits on (and spins for) the replay
        const st = p.kind === 'recording' ? await writer.writeBuffered(run.source, tmp, shardRows, compression) : await writer.write(run.source, tmp, shardRows, compression)
        if (st.rows === 0) {
          unlinkSync(tmp)
          break
        }
        const { sha256: sum, bytes } = await fileSha256(tmp)
        const info: ShardInfo = { file: shardName(i), rows: st.rows, ts_min: st.tsMin, ts_max: st.tsMax, sha256: sum, bytes }
        shards.push(info)
        written++
        rowsBefore += st.rows
        if (o.strict) strictTemps.push({ tmp, final })
        else {
          renameSync(tmp, final)
          fsyncDir(out)
          writeProgress(out, { format: 'mercury-lob-progress', version: MANIFEST_VERSION, options, inputs, shards })
        }
        if (st.rows < shardRows) break
      }
      const fin = await run.finish()
      report = fin.report
      sha256 = fin.sha256
      run = undefined
      if (rowsBefore === 0) throw new FatalError(`No rows to write: ${emptyReason(p.kind, report)}. Nothing was written`)
      // Strict: everything passed, now the shards take their names
      for (const t of strictTemps) renameSync(t.tmp, t.final)
      strictTemps.length = 0
      fsyncDir(out)
    }
    const sources: SourceInfo[] = p.infos.map((info, k) => ({ path: info.path, bytes: info.bytes, sha256: sha256[k], kind: info.kind, format: info.format ?? null }))
    let npy: NpyInfo[] | null = null
    if (o.npy) {
      progress({ phase: 'npy', bytes: totalBytes, frames: 0, rows: rowsBefore, shards: shards.length })
      const total = shards.reduce((n, s) => n + s.rows, 0)
      const files = await writeNpy(writer.connection, out, shards.map((s) => s.file), p.layout, total)
      npy = []
      for (const f of files) {
        const { sha256: sum, bytes } = await fileSha256(join(out, f))
        const dtype = f.endsWith('features.npy') ? 'float32' : f.endsWith('ts.npy') ? 'int64' : 'json'
        const shape = f.endsWith('features.npy') ? [total, p.layout.columns.length - 1] : f.endsWith('ts.npy') ? [total] : []
        npy.push({ file: f, dtype, shape, sha256: sum, bytes })
      }
    } else if (existsSync(join(out, 'npy'))) {
      rmSync(join(out, 'npy'), { recursive: true, force: true })
    }
    const manifest = mkManifest(shards, sources, { ...report, rows: shards.reduce((n, s) => n + s.rows, 0) }, npy)
    writeFileAtomic(join(out, 'README.md'), datasetCard(manifest))
    writeManifest(out, manifest)
    rmSync(join(out, PROGRESS_FILE), { force: true })
    return { out, manifest, keptShards: kept.length, writtenShards: written, seconds: (performance.now() - started) / 1000, inputBytes: totalBytes }
  } catch (err) {
    if (run) await run.stop()
    for (const t of strictTemps) rmSync(t.tmp, { force: true })
    removeTemps(out)
    // A folder this run created and left empty goes too (strict mode never renames a shard into it)
    if (createdOut && existsSync(out) && readdirSync(out).length === 0) {
      try {
        rmdirSync(out)
      } catch {
        // Something else was put there meanwhile: leave it
      }
    }
    throw ringError(err)
  } finally {
    writer.close()
  }
}
