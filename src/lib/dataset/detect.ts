// Tells what an input file is from its first lines: depth snapshots (one book per line) or a recording of diff
// streams with their REST snapshot, and for recordings the venue and the instruments whose books it carries

import { closeSync, openSync, readSync, statSync } from 'node:fs'
import { constants as zlibConstants, gunzipSync } from 'node:zlib'
import type { Exchange } from '../consts.js'
import { FatalError, UsageError } from '../errors.js'
import { detectFormat, type RecordingFormat } from '../replay/recording.js'

export const INPUT_KINDS = ['snapshots', 'recording'] as const
export type InputKind = (typeof INPUT_KINDS)[number]

export interface InputInfo {
  readonly path: string
  readonly bytes: number
  readonly gzip: boolean
  readonly kind: InputKind
  /** Recording format (recordings only) */
  readonly format: RecordingFormat | undefined
  /** Venue, when the head tells it */
  readonly exchange: Exchange | undefined
  /** Instruments with a book in the head (diff streams, REST depth, Coinbase level2; partial-depth streams) */
  readonly symbols: readonly string[]
}

const HEAD_BYTES = 1 << 20
const HEAD_LINES = 4000

/** The first lines of a file (decompressing the start of a .gz). */
export function headLines(path: string): { lines: string[]; gzip: boolean } {
  const fd = openSync(path, 'r')
  let head: Buffer
  try {
    const buf = Buffer.alloc(HEAD_BYTES)
    const n = readSync(fd, buf, 0, buf.length, 0)
    head = buf.subarray(0, n)
  } finally {
    closeSync(fd)
  }
  const gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b
  let text: string
  if (gzip) {
    try {
      text = gunzipSync(head, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).subarray(0, 8 * HEAD_BYTES).toString('utf8')
    } catch (err) {
      throw new FatalError(`Corrupt gzip input ${path}: ${err instanceof Error ? err.message : String(err)}`)
    }
  } else {
    text = head.toString('utf8')
  }
  const lines = text.split('\n')
  // The last piece may be cut short
  if (lines.length > 1) lines.pop()
  return { lines: lines.slice(0, HEAD_LINES), gzip }
}

function exchangeOfUrl(url: string): Exchange | undefined {
  if (/coinbase/.test(url)) return 'coinbase'
  if (/fstream\.binance|fapi\.binance|dstream\.binance|dapi\.binance/.test(url)) return 'binance-futures'
  if (/binance/.test(url)) return 'binance'
  return undefined
}

const STREAM = /"stream"\s*:\s*"([a-z0-9_]+)@(depth\d*)(?:@\d+ms)?"/i
const SYMBOL_PARAM = /[?&]symbol=([A-Za-z0-9_-]+)/
const PRODUCT = /"product_id"\s*:\s*"([A-Z0-9-]+)"/
const LEVEL2 = /"type"\s*:\s*"(snapshot|l2update)"|"channel"\s*:\s*"l2_data"/

/** Inspects one input. */
export function inspectInput(path: string): InputInfo {
  let bytes: number
  try {
    const st = statSync(path)
    if (!st.isFile()) throw new Error('not a file')
    bytes = st.size
  } catch {
    throw new UsageError(`Invalid input '${path}': no such file`)
  }
  const { lines, gzip } = headLines(path)
  const first = lines.find((l) => l.trim() !== '')
  const base = { path, bytes, gzip }
  if (first === undefined) return { ...base, kind: 'snapshots', format: undefined, exchange: undefined, symbols: [] }
  let format = detectFormat(first)
  if (format === 'mercury') {
    // `{"ts":..}` starts both mercury --record lines and snapshot lines: a record line has `src` and `frame`
    try {
      const o = JSON.parse(first) as Record<string, unknown>
      if (typeof o.src !== 'string' || typeof o.frame !== 'string') format = undefined
    } catch {
      format = undefined
    }
  }
  const symbols = new Set<string>()
  let exchange: Exchange | undefined
  let diffs = 0
  let partial = 0
  let futuresDiff = false
  let coinbase = false
  for (const l of lines) {
    if (format === 'cryptofeed' || format === 'mercury') {
      const url = /^(wss?|https?):\/\/\S+/.exec(l)?.[0] ?? /"url"\s*:\s*"([^"]+)"/.exec(l)?.[1]
      if (url !== undefined) {
        exchange ??= exchangeOfUrl(url)
        const sym = SYMBOL_PARAM.exec(url)
        if (sym && /\/depth/.test(url)) symbols.add(sym[1].toUpperCase())
      }
    }
    // Mercury lines hold the frame as an escaped string
    const text = format === 'mercury' ? l.replace(/\\"/g, '"') : l
    const m = STREAM.exec(text)
    if (m) {
      if (m[2].length > 5) partial++
      else {
        diffs++
        symbols.add(m[1].toUpperCase())
        if (/"pu"\s*:/.test(text)) futuresDiff = true
      }
      if (m[2].length > 5 && format !== 'cryptofeed' && format !== 'mercury') symbols.add(m[1].toUpperCase())
    } else if (LEVEL2.test(text)) {
      coinbase = true
      const p = PRODUCT.exec(text)
      if (p) symbols.add(p[1])
    }
  }
  if (format === 'hftbacktest') {
    const kind: InputKind = diffs > 0 || partial === 0 ? 'recording' : 'snapshots'
    if (kind === 'snapshots') return { ...base, kind, format: undefined, exchange: futuresDiff ? 'binance-futures' : undefined, symbols: [...symbols] }
    return { ...base, kind, format, exchange: futuresDiff ? 'binance-futures' : coinbase ? 'coinbase' : 'binance', symbols: [...symbols] }
  }
  if (format === 'cryptofeed' || format === 'mercury') {
    if (exchange === undefined && coinbase) exchange = 'coinbase'
    if (exchange === undefined && diffs > 0) exchange = futuresDiff ? 'binance-futures' : 'binance'
    return { ...base, kind: 'recording', format, exchange, symbols: [...symbols] }
  }
  if (diffs > 0 && partial === 0) {
    throw new UsageError(
      `Invalid input '${path}': it holds depth diffs without receipt times. Convert the recording they came from (mercury collect --record, hftbacktest or cryptofeed), which has the REST snapshot too`,
    )
  }
  return { ...base, kind: 'snapshots', format: undefined, exchange: undefined, symbols: [...symbols] }
}
