// Worker threads of convert-lob: `reader` (files to line-aligned chunks), `parser` (snapshot chunks to rows) and
// `replay` (recordings through the book engine to sampled rows). Rows go to the main thread through shared rings.

import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import type { Exchange } from '../consts.js'
import { DataError, FatalError } from '../errors.js'
import { lobLayout } from './layout.js'
import { replayRecordings } from './replay.js'
import { FLAG_END_OF_STREAM, RingAborted, RingProducer, type RingMemory } from './ring.js'
import { SnapshotLineParser } from './snapshot-line.js'
import { parseChunk, readChunks, type ChunkMessage, type ChunkProblem } from './snapshots.js'

export type WorkerTask =
  | { readonly role: 'reader'; readonly files: string[]; readonly ports: MessagePort[]; readonly progress: SharedArrayBuffer; readonly chunkBytes?: number }
  | {
      readonly role: 'parser'
      readonly ring: RingMemory
      readonly port: MessagePort
      readonly levels: number
      readonly strict: boolean
    }
  | {
      readonly role: 'replay'
      readonly ring: RingMemory
      readonly files: string[]
      readonly exchange: Exchange
      readonly symbol: string
      readonly levels: number
      readonly withTrades: boolean
      readonly everyUs: number
      readonly strict: boolean
      readonly progress: SharedArrayBuffer
    }

/** What a worker posts to the main thread. */
export type WorkerMessage =
  | { readonly type: 'problems'; readonly chunk: number; readonly items: ChunkProblem[] }
  | { readonly type: 'hashes'; readonly sha256: string[] }
  | { readonly type: 'report'; readonly report: unknown }
  | { readonly type: 'error'; readonly error: SerializedError }

export interface SerializedError {
  readonly name: string
  readonly message: string
  readonly file?: string
  readonly problems?: unknown
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof DataError) return { name: 'DataError', message: err.message, file: err.file, problems: err.problems }
  if (err instanceof FatalError) return { name: 'FatalError', message: err.message }
  return { name: 'Error', message: err instanceof Error ? err.message : String(err) }
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const b of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(b as Buffer)
  return h.digest('hex')
}

async function reader(t: Extract<WorkerTask, { role: 'reader' }>): Promise<void> {
  const progress = new Float64Array(t.progress)
  try {
    const r = await readChunks(t.files, t.ports, (bytes) => (progress[0] = bytes), t.chunkBytes)
    parentPort?.postMessage({ type: 'hashes', sha256: r.sha256 } satisfies WorkerMessage)
  } catch (err) {
    const e = serializeError(err instanceof Error && /^Corrupt gzip|^Cannot read/.test(err.message) ? new FatalError(err.message) : err)
    // The parsers turn this into a ring failure the consumer sees
    for (const p of t.ports) p.postMessage({ type: 'error', error: e })
    parentPort?.postMessage({ type: 'error', error: e } satisfies WorkerMessage)
  }
}

/** Rings this worker writes to, failed on an uncaught error so the main thread never waits forever */
const producers: RingProducer[] = []
process.on('uncaughtException', (err) => {
  for (const p of producers) p.fail(JSON.stringify(serializeError(err)))
  parentPort?.postMessage({ type: 'error', error: serializeError(err) } satisfies WorkerMessage)
})

function parser(t: Extract<WorkerTask, { role: 'parser' }>): void {
  const out = new RingProducer(t.ring)
  producers.push(out)
  const layout = lobLayout(t.levels, false)
  const lp = new SnapshotLineParser(t.levels)
  let stopped = false
  t.port.on('message', (m: ChunkMessage | { type: 'end' } | { type: 'error'; error: SerializedError }) => {
    if (stopped) return
    try {
      if (m.type === 'chunk') {
        const problems: ChunkProblem[] = []
        out.setMeta(m.chunk, m.file, m.offset)
        const ok = parseChunk(lp, layout, m, out, t.strict, problems)
        if (problems.length > 0) parentPort?.postMessage({ type: 'problems', chunk: m.chunk, items: problems } satisfies WorkerMessage)
        t.port.postMessage('ack')
        if (!ok) stopped = true
      } else if (m.type === 'end') {
        out.close(FLAG_END_OF_STREAM)
        stopped = true
        t.port.close()
        // After every problems message of this parser: the main thread waits for it before numbering them
        parentPort?.postMessage({ type: 'done' })
      } else {
        out.fail(JSON.stringify(m.error))
        stopped = true
        t.port.close()
      }
    } catch (err) {
      stopped = true
      t.port.close()
      if (err instanceof RingAborted) return
      out.fail(JSON.stringify(serializeError(err)))
    }
  })
}

async function replay(t: Extract<WorkerTask, { role: 'replay' }>): Promise<void> {
  const out = new RingProducer(t.ring)
  producers.push(out)
  const progress = new Float64Array(t.progress)
  try {
    const report = await replayRecordings({
      files: t.files,
      exchange: t.exchange,
      symbol: t.symbol,
      layout: lobLayout(t.levels, t.withTrades),
      everyUs: t.everyUs,
      strict: t.strict,
      sink: { write: (row) => out.write(row) },
      onProgress: (frames, chars) => {
        progress[1] = frames
        progress[2] = chars
      },
    })
    out.close(FLAG_END_OF_STREAM)
    parentPort?.postMessage({ type: 'report', report } satisfies WorkerMessage)
    const sha256: string[] = []
    for (const f of t.files) sha256.push(await sha256File(f))
    parentPort?.postMessage({ type: 'hashes', sha256 } satisfies WorkerMessage)
  } catch (err) {
    if (err instanceof RingAborted) return
    out.fail(JSON.stringify(serializeError(err)))
    parentPort?.postMessage({ type: 'error', error: serializeError(err) } satisfies WorkerMessage)
  }
}

const task = workerData as WorkerTask | undefined
if (task !== undefined && parentPort !== null) {
  if (task.role === 'reader') void reader(task)
  else if (task.role === 'parser') parser(task)
  else void replay(task)
}
