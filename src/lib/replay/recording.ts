// Readers for raw market-data recordings: hftbacktest, cryptofeed captures and mercury's own `--record` lines.
// A recording is a list of frames exactly as they came off the wire, each with its receipt time in µs.
//
// Formats (plain or gzip, detected from the content, never from the file name):
// - hftbacktest: `<local_ts> <json>`; local_ts in ns (19 digits) or µs (16 digits). The combined-stream wrapper
//   `{"stream":…,"data":…}` is a ws frame; a line without "stream" is a REST depth snapshot (url undefined:
//   the recorder did not write it; `snapshotSymbol` tells the symbol from the neighbouring streams).
// - cryptofeed: `wss://url <-> ts` open, `wss://url <- ts: json` sent, `ts: raw` received on the last opened ws,
//   `https://url -> ts: body` REST response; ts in epoch seconds as a float. The old single-file format starts
//   with a `configuration: {...}` line, skipped.
// - mercury: JSON lines `{"ts":<µs>,"src":"ws"|"rest"|"sent"|"open"|"close","url":"...","frame":"<raw text>"}`.

import { createReadStream, openSync, readSync, closeSync, readFileSync } from 'node:fs'
import { constants as zlibConstants, createGunzip, gunzipSync } from 'node:zlib'
import { createInterface } from 'node:readline'
import { DataError, type DataProblem } from '../errors.js'

export const FRAME_SOURCES = ['ws', 'rest', 'sent', 'open', 'close'] as const
export type FrameSource = (typeof FRAME_SOURCES)[number]

export interface RecordedFrame {
  /** Receipt time, µs since epoch */
  readonly localTimestamp: number
  /** 'ws' received frame, 'rest' REST response body, 'sent' a frame the client sent, 'open'/'close' connection events */
  readonly src: FrameSource
  /** Connection URL (ws) or request URL (rest), when the format records it */
  readonly url: string | undefined
  /** Raw text exactly as received */
  readonly text: string
  /** 1-based line in the (decompressed) file */
  readonly line: number
}

export const RECORDING_FORMATS = ['hftbacktest', 'cryptofeed', 'mercury'] as const
export type RecordingFormat = (typeof RECORDING_FORMATS)[number]

export interface ReadRecordingOptions {
  /** Skip bad lines instead of throwing; each is reported to `onBadLine` */
  readonly lenient?: boolean
  readonly onBadLine?: (problem: DataProblem) => void
  /** Force a format instead of detecting it */
  readonly format?: RecordingFormat
}

const HFT_LINE = /^(\d{16}|\d{19}) (.*)$/s
const CF_TS = String.raw`(\d+(?:\.\d+)?)`
const CF_OPEN = new RegExp(String.raw`^(wss?://\S+) <-> ${CF_TS}$`)
const CF_SENT = new RegExp(String.raw`^(wss?://\S+) <- ${CF_TS}: (.*)$`, 's')
const CF_REST = new RegExp(String.raw`^(https?://\S+) -> ${CF_TS}: (.*)$`, 's')
const CF_RECV = new RegExp(String.raw`^${CF_TS}: (.*)$`, 's')
const CF_CONFIG = /^configuration: /
const STREAM_KEY = /^\{\s*"stream"\s*:\s*"([^"]*)"/

/** Tells the format of a recording from its first non-empty line (after any cryptofeed `configuration:` header). */
export function detectFormat(firstLine: string): RecordingFormat | undefined {
  const line = firstLine.trim()
  if (CF_CONFIG.test(line) || /^(wss?|https?):\/\//.test(line) || /^\d+(\.\d+)?: /.test(line)) return 'cryptofeed'
  if (/^\d{16} |^\d{19} /.test(line)) return 'hftbacktest'
  if (/^\{\s*"ts"\s*:/.test(line)) return 'mercury'
  return undefined
}

/** Tells the format of a recording file (plain or gzip) by reading its start. */
export function detectFileFormat(path: string): RecordingFormat {
  const first = firstLine(path)
  const format = first === undefined ? undefined : detectFormat(first)
  if (format === undefined) {
    throw new DataError(
      `${path}:1: unknown recording format. Expected hftbacktest, cryptofeed or mercury --record lines`,
      path,
      [{ file: path, line: 1, reason: 'unknown recording format' }],
    )
  }
  return format
}

function isGzip(head: Buffer): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b
}

function firstLine(path: string): string | undefined {
  const fd = openSync(path, 'r')
  let head: Buffer
  try {
    const buf = Buffer.alloc(64 * 1024)
    const n = readSync(fd, buf, 0, buf.length, 0)
    head = buf.subarray(0, n)
  } finally {
    closeSync(fd)
  }
  let text: string
  if (isGzip(head)) {
    // A partial gzip member: decompress what we have and ignore the truncation error
    try {
      text = gunzipSync(head, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).toString('utf8')
    } catch {
      text = gunzipSync(readFileSync(path)).toString('utf8')
    }
  } else {
    text = head.toString('utf8')
  }
  for (const line of text.split('\n')) if (line.trim() !== '') return line
  return undefined
}

/** Converts decimal epoch seconds (`1618677816.8434298`) to integer µs exactly, rounding half up past the 6th decimal. */
export function secondsToMicros(seconds: string): number {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(seconds)
  if (!m) throw new Error(`bad timestamp '${seconds}'. Expected epoch seconds like 1618677816.843429`)
  const frac = m[2] ?? ''
  const us = Number(m[1] + frac.slice(0, 6).padEnd(6, '0'))
  const roundUp = frac.length > 6 && frac.charCodeAt(6) >= 53 /* '5' */
  const out = roundUp ? us + 1 : us
  if (!Number.isSafeInteger(out)) throw new Error(`timestamp '${seconds}' out of range`)
  return out
}

/** Stateful line parser: cryptofeed's received frames belong to the last opened ws URL. */
class LineParser {
  private wsUrl: string | undefined = undefined

  constructor(readonly format: RecordingFormat) {}

  /** Returns the frame for one line, undefined for lines that carry none, or throws with a reason. */
  parse(raw: string, line: number): RecordedFrame | undefined {
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (text.trim() === '') return undefined
    switch (this.format) {
      case 'hftbacktest':
        return parseHft(text, line)
      case 'cryptofeed':
        return this.parseCryptofeed(text, line)
      case 'mercury':
        return parseMercury(text, line)
    }
  }

  private parseCryptofeed(text: string, line: number): RecordedFrame | undefined {
    let m: RegExpExecArray | null
    if ((m = CF_RECV.exec(text))) {
      return { localTimestamp: secondsToMicros(m[1]), src: 'ws', url: this.wsUrl, text: m[2], line }
    }
    if ((m = CF_OPEN.exec(text))) {
      this.wsUrl = m[1]
      return { localTimestamp: secondsToMicros(m[2]), src: 'open', url: m[1], text: '', line }
    }
    if ((m = CF_SENT.exec(text))) {
      return { localTimestamp: secondsToMicros(m[2]), src: 'sent', url: m[1], text: m[3], line }
    }
    if ((m = CF_REST.exec(text))) {
      return { localTimestamp: secondsToMicros(m[2]), src: 'rest', url: m[1], text: m[3], line }
    }
    if (CF_CONFIG.test(text)) return undefined
    throw new Error('not a cryptofeed capture line (expected `ts: frame`, `url <-> ts`, `url <- ts: frame` or `url -> ts: body`)')
  }
}

function parseHft(text: string, line: number): RecordedFrame {
  const m = HFT_LINE.exec(text)
  if (!m) throw new Error('not an hftbacktest line (expected `<16 or 19 digit timestamp> <json>`)')
  const ts = m[1].length === 19 ? Number(m[1].slice(0, 16)) : Number(m[1])
  const body = m[2]
  const last = body.trimEnd().slice(-1)
  if (body[0] !== '{' || last !== '}') throw new Error('truncated or non-JSON payload')
  return { localTimestamp: ts, src: STREAM_KEY.test(body) ? 'ws' : 'rest', url: undefined, text: body, line }
}

function parseMercury(text: string, line: number): RecordedFrame {
  let o: unknown
  try {
    o = JSON.parse(text)
  } catch {
    throw new Error('not a JSON line')
  }
  if (typeof o !== 'object' || o === null) throw new Error('not a JSON object')
  const r = o as { ts?: unknown; src?: unknown; url?: unknown; frame?: unknown }
  if (typeof r.ts !== 'number' || !Number.isSafeInteger(r.ts) || r.ts < 0) throw new Error(`bad "ts" ${JSON.stringify(r.ts)}, expected integer µs`)
  if (typeof r.src !== 'string' || !(FRAME_SOURCES as readonly string[]).includes(r.src)) {
    throw new Error(`bad "src" ${JSON.stringify(r.src)}, expected one of ${FRAME_SOURCES.join(', ')}`)
  }
  if (r.url !== undefined && r.url !== null && typeof r.url !== 'string') throw new Error('bad "url", expected a string')
  if (typeof r.frame !== 'string') throw new Error('bad "frame", expected a string')
  return { localTimestamp: r.ts, src: r.src as FrameSource, url: typeof r.url === 'string' ? r.url : undefined, text: r.frame, line }
}

/** Writes one frame as a mercury `--record` line (no trailing newline). */
export function formatRecordLine(frame: Pick<RecordedFrame, 'localTimestamp' | 'src' | 'url' | 'text'>): string {
  return JSON.stringify({ ts: frame.localTimestamp, src: frame.src, url: frame.url, frame: frame.text })
}

function handle(
  parser: LineParser,
  path: string,
  raw: string,
  line: number,
  opts: ReadRecordingOptions,
): RecordedFrame | undefined {
  try {
    return parser.parse(raw, line)
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    const problem: DataProblem = { file: path, line, reason }
    if (opts.lenient) {
      opts.onBadLine?.(problem)
      return undefined
    }
    const sample = raw.length > 80 ? raw.slice(0, 80) + '…' : raw
    throw new DataError(`${path}:${line}: ${reason}: '${sample}'`, path, [problem])
  }
}

/** Streams the frames of one recording file in file order. */
export async function* readRecording(path: string, opts: ReadRecordingOptions = {}): AsyncGenerator<RecordedFrame> {
  const format = opts.format ?? detectFileFormat(path)
  const parser = new LineParser(format)
  const fd = openSync(path, 'r')
  const head = Buffer.alloc(2)
  readSync(fd, head, 0, 2, 0)
  closeSync(fd)
  const file = createReadStream(path)
  const input = isGzip(head) ? file.pipe(createGunzip()) : file
  if (input !== file) file.on('error', (e) => input.destroy(e))
  const rl = createInterface({ input, crlfDelay: Infinity })
  let line = 0
  try {
    for await (const raw of rl) {
      line++
      const frame = handle(parser, path, raw, line, opts)
      if (frame) yield frame
    }
  } finally {
    rl.close()
    file.destroy()
  }
}

/** Reads all frames of one (small) recording file at once. */
export function readRecordingSync(path: string, opts: ReadRecordingOptions = {}): RecordedFrame[] {
  const buf = readFileSync(path)
  const text = (isGzip(buf) ? gunzipSync(buf) : buf).toString('utf8')
  const lines = text.split('\n')
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  let format = opts.format
  if (format === undefined) {
    const first = lines.find((l) => l.trim() !== '')
    format = first === undefined ? 'mercury' : detectFormat(first)
    if (format === undefined) {
      throw new DataError(`${path}:1: unknown recording format. Expected hftbacktest, cryptofeed or mercury --record lines`, path, [
        { file: path, line: 1, reason: 'unknown recording format' },
      ])
    }
  }
  const parser = new LineParser(format)
  const out: RecordedFrame[] = []
  for (let i = 0; i < lines.length; i++) {
    const frame = handle(parser, path, lines[i], i + 1, opts)
    if (frame) out.push(frame)
  }
  return out
}

/** The `stream` name of a Binance combined-stream frame (`btcusdt@depth@100ms`), read without parsing the JSON. */
export function streamName(text: string): string | undefined {
  const m = STREAM_KEY.exec(text)
  return m ? m[1] : undefined
}

/** The upper-case symbol of a Binance stream name: `btcusdt@trade` → `BTCUSDT`. */
export function streamSymbol(stream: string): string {
  const at = stream.indexOf('@')
  return (at < 0 ? stream : stream.slice(0, at)).toUpperCase()
}

/**
 * The symbol a REST snapshot frame belongs to: the `symbol=` query parameter when its URL was recorded, else the
 * symbol of the nearest ws frame with a stream name (hftbacktest writes one symbol per file and no URL).
 */
export function snapshotSymbol(frames: readonly RecordedFrame[], index: number): string | undefined {
  const f = frames[index]
  if (f?.url !== undefined) {
    const m = /[?&]symbol=([^&]+)/.exec(f.url)
    if (m) return decodeURIComponent(m[1]).toUpperCase()
  }
  for (let d = 1; d < frames.length; d++) {
    for (const j of [index - d, index + d]) {
      const g = frames[j]
      if (g === undefined || g.src !== 'ws') continue
      const s = streamName(g.text)
      if (s !== undefined) return streamSymbol(s)
    }
    if (index - d < 0 && index + d >= frames.length) break
  }
  return undefined
}

/**
 * Merges recordings into one list ordered by `localTimestamp`. Each list keeps its own order (a k-way merge, not a
 * sort), and ties go to the earlier list, so merging one file returns it unchanged.
 */
export function mergeFrames<T extends { readonly localTimestamp: number }>(lists: readonly (readonly T[])[]): T[] {
  if (lists.length === 1) return [...lists[0]]
  const out: T[] = []
  const at = lists.map(() => 0)
  for (;;) {
    let best = -1
    let bestTs = Infinity
    for (let k = 0; k < lists.length; k++) {
      const f = lists[k][at[k]]
      if (f !== undefined && f.localTimestamp < bestTs) {
        best = k
        bestTs = f.localTimestamp
      }
    }
    if (best < 0) return out
    out.push(lists[best][at[best]++])
  }
}
