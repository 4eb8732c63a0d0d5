// Snapshot input, worker side: a reader cuts the files into line-aligned chunks (decompressing .gz) and deals
// them round-robin to parser workers; each parser turns its chunks into rows in its ring. The consumer reads the
// rings in chunk order, so the output is in file order whatever the number of parsers.

import { createHash } from 'node:crypto'
import { createReadStream, openSync, readSync, closeSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { createGunzip } from 'node:zlib'
import type { MessagePort } from 'node:worker_threads'
import type { LobLayout } from './layout.js'
import {
  FLAG_BAD,
  FLAG_END_OF_CHUNK,
  H_BAD,
  H_BAD_LINE,
  H_CHUNK,
  H_CROSSED,
  H_DUPLICATE,
  H_FILE,
  H_LINES,
  H_OFFSET,
  H_OUT_OF_ORDER,
  H_SKIPPED,
  type RingProducer,
} from './ring.js'
import { LINE_BAD, LINE_OK, LINE_SKIP, SnapshotLineParser } from './snapshot-line.js'

/** Bytes per chunk handed to a parser */
export const CHUNK_BYTES = 4 << 20

/** A chunk of whole lines of one file. */
export interface ChunkMessage {
  readonly type: 'chunk'
  readonly chunk: number
  readonly file: number
  /** Offset of the chunk in the decompressed file */
  readonly offset: number
  readonly buf: Uint8Array
}

/** A problem line inside a chunk; `line` is 1-based within the chunk. */
export interface ChunkProblem {
  readonly line: number
  readonly reason: string
  /** `bad`: a bad line; `dropped`: a valid snapshot that was not written (crossed, out of order, duplicate) */
  readonly kind: 'bad' | 'dropped'
}

const MAX_PROBLEMS_PER_CHUNK = 100

/** Parses the lines of one chunk into rows. Returns false when strict mode stopped at a bad line. */
export function parseChunk(
  parser: SnapshotLineParser,
  layout: LobLayout,
  msg: ChunkMessage,
  out: RingProducer,
  strict: boolean,
  problems: ChunkProblem[],
): boolean {
  const b = msg.buf
  const buf = Buffer.from(b.buffer, b.byteOffset, b.length)
  const N = layout.levels
  const row = new Float64Array(layout.columns.length)
  let lines = 0
  let skipped = 0
  let bad = 0
  let crossed = 0
  let outOfOrder = 0
  let duplicate = 0
  let lastTs = -Infinity
  let s = 0
  const end = buf.length
  const note = (line: number, reason: string, kind: 'bad' | 'dropped') => {
    if (problems.length < MAX_PROBLEMS_PER_CHUNK) problems.push({ line, reason, kind })
  }
  while (s < end) {
    let q = buf.indexOf(10, s)
    if (q < 0) q = end
    lines++
    // Blank lines are not data and not errors
    let blank = true
    for (let i = s; i < q; i++) {
      const c = buf[i]
      if (c !== 32 && c !== 13 && c !== 9) {
        blank = false
        break
      }
    }
    if (!blank) {
      const st = parser.parse(buf, s, q)
      if (st === LINE_OK) {
        const nb = parser.bids
        const na = parser.asks
        const ts = parser.ts
        if (nb > 0 && na > 0 && parser.bidPx[0] >= parser.askPx[0]) {
          crossed++
          note(lines, `crossed book: best bid ${parser.bidPx[0]} >= best ask ${parser.askPx[0]}`, 'dropped')
        } else if (ts <= lastTs) {
          if (ts === lastTs) duplicate++
          else outOfOrder++
          note(lines, ts === lastTs ? `duplicate timestamp ${ts}` : `timestamp ${ts} before the previous ${lastTs}`, 'dropped')
        } else {
          lastTs = ts
          row[0] = ts
          const bp = parser.bidPx
          const bs = parser.bidSz
          const ap = parser.askPx
          const as = parser.askSz
          for (let i = 0; i < N; i++) {
            if (i < nb) {
              row[layout.bidPx + i] = bp[i]
              row[layout.bidSz + i] = bs[i]
            } else {
              row[layout.bidPx + i] = NaN
              row[layout.bidSz + i] = NaN
            }
            if (i < na) {
              row[layout.askPx + i] = ap[i]
              row[layout.askSz + i] = as[i]
            } else {
              row[layout.askPx + i] = NaN
              row[layout.askSz + i] = NaN
            }
          }
          if (nb > 0 && na > 0) {
            row[layout.mid] = (bp[0] + ap[0]) / 2
            row[layout.spread] = ap[0] - bp[0]
          } else {
            row[layout.mid] = NaN
            row[layout.spread] = NaN
          }
          out.write(row, lines)
        }
      } else if (st === LINE_SKIP) {
        skipped++
      } else if (st === LINE_BAD) {
        bad++
        note(lines, parser.reason, 'bad')
        if (strict) {
          const { h, at } = out.header()
          h[at + H_CHUNK] = msg.chunk
          h[at + H_FILE] = msg.file
          h[at + H_BAD_LINE] = lines
          h[at + H_OFFSET] = msg.offset
          out.close(FLAG_BAD, parser.reason)
          return false
        }
      }
    }
    s = q + 1
  }
  const { h, at } = out.header()
  h[at + H_CHUNK] = msg.chunk
  h[at + H_FILE] = msg.file
  h[at + H_LINES] = lines
  h[at + H_SKIPPED] = skipped
  h[at + H_BAD] = bad
  h[at + H_CROSSED] = crossed
  h[at + H_OUT_OF_ORDER] = outOfOrder
  h[at + H_DUPLICATE] = duplicate
  h[at + H_OFFSET] = msg.offset
  out.close(FLAG_END_OF_CHUNK)
  return true
}

function isGzip(path: string): boolean {
  const fd = openSync(path, 'r')
  try {
    const head = Buffer.alloc(2)
    return readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b
  } finally {
    closeSync(fd)
  }
}

export interface ReaderResult {
  /** sha256 of each file as stored (compressed bytes for .gz) */
  readonly sha256: string[]
  readonly chunks: number
}

/**
 * Reads the files in order and posts line-aligned chunks to the parser ports round-robin, at most `inflight`
 * unacknowledged chunks per parser. Hashes each file on the way. `onBytes` gets the on-disk bytes read so far.
 */
export async function readChunks(
  files: readonly string[],
  ports: readonly MessagePort[],
  onBytes: (bytes: number) => void,
  chunkBytes = CHUNK_BYTES,
  inflight = 2,
): Promise<ReaderResult> {
  const W = ports.length
  const pending = new Array<number>(W).fill(0)
  const waiters: ((() => void) | undefined)[] = new Array(W).fill(undefined)
  for (let w = 0; w < W; w++) {
    ports[w].on('message', () => {
      pending[w]--
      const f = waiters[w]
      waiters[w] = undefined
      f?.()
    })
  }
  let chunk = 0
  let readBefore = 0
  const sha: string[] = []
  const slot = async () => {
    const w = chunk % W
    while (pending[w] >= inflight) await new Promise<void>((r) => (waiters[w] = r))
    return w
  }
  /** Hands `buf` (whose ArrayBuffer nothing else uses) to the next parser. */
  const post = (w: number, file: number, offset: number, buf: Uint8Array) => {
    pending[w]++
    const msg: ChunkMessage = { type: 'chunk', chunk, file, offset, buf }
    ports[w].postMessage(msg, [buf.buffer as ArrayBuffer])
    chunk++
  }
  const send = async (file: number, offset: number, parts: Buffer[], len: number) => {
    const w = await slot()
    // A fresh (unpooled) buffer the parser owns once transferred
    const buf = new Uint8Array(new ArrayBuffer(len))
    let at = 0
    for (const p of parts) {
      buf.set(p, at)
      at += p.length
    }
    post(w, file, offset, buf)
  }
  for (let f = 0; f < files.length; f++) {
    const path = files[f]
    if (!isGzip(path)) {
      // Plain files are read straight into the buffer that is handed over: no copy but the line tail
      const hash = createHash('sha256')
      const fh = await open(path, 'r')
      let carry: Uint8Array = new Uint8Array(0)
      let offset = 0
      let pos = 0
      try {
        for (;;) {
          const w = await slot()
          const buf = new Uint8Array(new ArrayBuffer(carry.length + chunkBytes))
          buf.set(carry, 0)
          const { bytesRead } = await fh.read(buf, carry.length, chunkBytes, pos)
          hash.update(buf.subarray(carry.length, carry.length + bytesRead))
          pos += bytesRead
          onBytes(readBefore + pos)
          const total = carry.length + bytesRead
          if (bytesRead === 0) {
            if (total > 0) post(w, f, offset, buf.subarray(0, total))
            break
          }
          const nl = buf.lastIndexOf(10, total - 1)
          if (nl < 0) {
            // A line longer than a chunk: keep reading
            carry = buf.slice(0, total)
            continue
          }
          carry = buf.slice(nl + 1, total)
          post(w, f, offset, buf.subarray(0, nl + 1))
          offset += nl + 1
        }
      } catch (err) {
        throw new Error(`Cannot read ${path}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`)
      } finally {
        await fh.close()
      }
      readBefore += pos
      sha.push(hash.digest('hex'))
      continue
    }
    const hash = createHash('sha256')
    const raw = createReadStream(path, { highWaterMark: 1 << 20 })
    let rawBytes = 0
    // Hashed as it is piped to gunzip
    raw.on('data', (b) => {
      hash.update(b as Buffer)
      rawBytes += (b as Buffer).length
    })
    const input = raw.pipe(createGunzip({ chunkSize: 1 << 20 }))
    raw.on('error', (e) => input.destroy(e))
    let parts: Buffer[] = []
    let len = 0
    let offset = 0
    try {
      for await (const block of input as AsyncIterable<Buffer>) {
        onBytes(readBefore + rawBytes)
        parts.push(block)
        len += block.length
        // Cut at the first newline past the chunk size; the tail starts the next chunk
        while (len >= chunkBytes) {
          const last = parts[parts.length - 1]
          const nl = last.indexOf(10, Math.max(0, chunkBytes - (len - last.length) - 1))
          if (nl < 0) break
          const tail = last.subarray(nl + 1)
          parts[parts.length - 1] = last.subarray(0, nl + 1)
          const size = len - tail.length
          await send(f, offset, parts, size)
          offset += size
          parts = tail.length > 0 ? [tail] : []
          len = tail.length
        }
      }
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err)
      throw new Error(`Corrupt gzip input ${path}: ${msg.split('\n')[0]}`)
    } finally {
      raw.destroy()
      input.destroy()
    }
    if (len > 0) await send(f, offset, parts, len)
    readBefore += rawBytes
    onBytes(readBefore)
    sha.push(hash.digest('hex'))
  }
  // Ports keep message order: each parser sees `end` after its last chunk
  for (const port of ports) port.postMessage({ type: 'end' })
  return { sha256: sha, chunks: chunk }
}
