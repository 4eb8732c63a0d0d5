// Reads recordings as batches of frames for the converter. hftbacktest files (the bulk format: one line per
// frame, `<local_ts> <json>`) are split here in 1 MB blocks, which is several times faster than a line-by-line
// reader; the other formats go through `readRecording`, whose rules the fast path follows.

import { isAscii } from 'node:buffer'
import { createReadStream, openSync, readSync, closeSync } from 'node:fs'
import { createGunzip } from 'node:zlib'
import type { DataProblem } from '../errors.js'
import { DataError } from '../errors.js'
import { detectFileFormat, readRecording, type RecordedFrame } from '../replay/recording.js'

export interface FrameBatchOptions {
  readonly strict: boolean
  readonly onBadLine: (p: DataProblem) => void
  /** Compressed (on-disk) bytes read so far of this file */
  readonly onBytes?: (bytes: number) => void
}

const BLOCK = 1 << 20
const STREAM_KEY = /^\{\s*"stream"\s*:\s*"/

function isGzipFile(path: string): boolean {
  const fd = openSync(path, 'r')
  try {
    const head = Buffer.alloc(2)
    const n = readSync(fd, head, 0, 2, 0)
    return n === 2 && head[0] === 0x1f && head[1] === 0x8b
  } finally {
    closeSync(fd)
  }
}

/** The decompressed bytes of a file in blocks of about 1 MB. */
export async function* fileBlocks(path: string, onBytes?: (bytes: number) => void): AsyncGenerator<Buffer> {
  const file = createReadStream(path, { highWaterMark: BLOCK })
  const gz = isGzipFile(path)
  const input = gz ? file.pipe(createGunzip({ chunkSize: BLOCK })) : file
  if (gz) file.on('error', (e) => input.destroy(e))
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      onBytes?.(file.bytesRead)
      yield chunk
    }
  } finally {
    file.destroy()
    if (input !== file) input.destroy()
  }
}

/** Lines of a file in batches: `text` holds whole lines, `firstLine` is the 1-based number of its first. */
export async function* lineBlocks(path: string, onBytes?: (bytes: number) => void): AsyncGenerator<{ text: Buffer; firstLine: number }> {
  let rest: Buffer | undefined
  let line = 1
  for await (const chunk of fileBlocks(path, onBytes)) {
    const buf = rest !== undefined && rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk
    const cut = buf.lastIndexOf(10)
    if (cut < 0) {
      rest = buf
      continue
    }
    const text = buf.subarray(0, cut + 1)
    rest = buf.subarray(cut + 1)
    yield { text, firstLine: line }
    line += countLines(text)
  }
  if (rest !== undefined && rest.length > 0) yield { text: rest, firstLine: line }
}

/** Newlines in a buffer. */
export function countLines(b: Uint8Array): number {
  let n = 0
  let p = 0
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length)
  for (;;) {
    const q = buf.indexOf(10, p)
    if (q < 0) return n
    n++
    p = q + 1
  }
}

/** One hftbacktest line, by the same rules as `readRecording`; a string is the reason it is bad. */
function hftFrame(s: string, line: number): RecordedFrame | string | undefined {
  let end = s.length
  if (end > 0 && s.charCodeAt(end - 1) === 13) end--
  const sp = s.indexOf(' ')
  if (sp !== 16 && sp !== 19) {
    if (s.slice(0, end).trim() === '') return undefined
    return 'not an hftbacktest line (expected `<16 or 19 digit timestamp> <json>`)'
  }
  for (let i = 0; i < sp; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return 'not an hftbacktest line (expected `<16 or 19 digit timestamp> <json>`)'
  }
  const body = s.slice(sp + 1, end)
  let last = body.length - 1
  while (last >= 0 && (body.charCodeAt(last) === 32 || body.charCodeAt(last) === 9)) last--
  if (body.charCodeAt(0) !== 123 || body.charCodeAt(last) !== 125) return 'truncated or non-JSON payload'
  const ts = Number(s.slice(0, 16))
  return { localTimestamp: ts, src: STREAM_KEY.test(body) ? 'ws' : 'rest', url: undefined, text: body, line }
}

/** Streams a recording's frames in file order, in batches. Bad lines throw in strict mode, else are reported. */
export async function* frameBatches(path: string, o: FrameBatchOptions): AsyncGenerator<RecordedFrame[]> {
  const format = detectFileFormat(path)
  if (format !== 'hftbacktest') {
    let batch: RecordedFrame[] = []
    for await (const f of readRecording(path, { lenient: !o.strict, onBadLine: o.onBadLine, format })) {
      batch.push(f)
      if (batch.length === 1024) {
        yield batch
        batch = []
      }
    }
    if (batch.length > 0) yield batch
    return
  }
  for await (const { text, firstLine } of lineBlocks(path, o.onBytes)) {
    // Exchange frames are ASCII; latin1 decoding of ASCII is a plain copy, UTF-8 decoding validates every byte
    const s = isAscii(text) ? text.toString('latin1') : text.toString('utf8')
    const out: RecordedFrame[] = []
    let p = 0
    let line = firstLine
    while (p < s.length) {
      let q = s.indexOf('\n', p)
      if (q < 0) q = s.length
      const f = hftFrame(s.slice(p, q), line)
      if (typeof f === 'string') {
        const problem = { file: path, line, reason: f }
        if (o.strict) {
          const raw = s.slice(p, q)
          throw new DataError(`${path}:${line}: ${f}: '${raw.length > 80 ? raw.slice(0, 80) + '…' : raw}'`, path, [problem])
        }
        o.onBadLine(problem)
      } else if (f !== undefined) out.push(f)
      p = q + 1
      line++
    }
    yield out
  }
}
