// A single-producer, single-consumer ring of row blocks in shared memory. Producers are worker threads; the
// consumer is the main thread inside DuckDB's table-function callback, which must return rows synchronously, so
// it waits with Atomics.wait instead of messages (the main event loop is not running while it waits).

/** Rows per slot: DuckDB's vector size, so a slot fills one output chunk */
export const SLOT_ROWS = 2048

export const FLAG_END_OF_CHUNK = 1
export const FLAG_END_OF_STREAM = 2
export const FLAG_BAD = 4

/** Per-slot header fields */
export const H_ROWS = 0
export const H_FLAGS = 1
export const H_CHUNK = 2
export const H_FILE = 3
/** Lines in the chunk (on its last slot) */
export const H_LINES = 4
/** Local (1-based, within the chunk) line of a bad line */
export const H_BAD_LINE = 5
/** Counters of the chunk, on its last slot */
export const H_SKIPPED = 6
export const H_BAD = 7
export const H_CROSSED = 8
export const H_OUT_OF_ORDER = 11
export const H_DUPLICATE = 12
/** Start of the chunk in the decompressed file, bytes */
export const H_OFFSET = 13
const HEADER = 16
const TEXT = 512
const ERROR_TEXT = 4096

const C_PUBLISHED = 0
const C_CONSUMED = 1
const C_ERROR = 2
const C_ABORT = 3

/** Thrown in a producer when the consumer gave up (an error elsewhere, or strict mode stopped the run) */
export class RingAborted extends Error {
  constructor() {
    super('aborted by the consumer')
  }
}

export interface RingMemory {
  readonly sab: SharedArrayBuffer
  readonly slots: number
  /** Float64 columns per row (output columns + the line column) */
  readonly cols: number
}

/** Allocates the shared memory of one ring. */
export function createRing(cols: number, slots = 4): RingMemory {
  const bytes = 64 + 64 + slots * HEADER * 8 + slots * cols * SLOT_ROWS * 8 + slots * TEXT + ERROR_TEXT
  return { sab: new SharedArrayBuffer(bytes), slots, cols }
}

class RingViews {
  readonly ctrl: Int32Array
  /** [0] compressed bytes read, [1] lines or frames, [2] decompressed bytes */
  readonly progress: Float64Array
  readonly headers: Float64Array
  readonly data: Float64Array
  readonly text: Uint8Array
  readonly errText: Uint8Array
  readonly slots: number
  readonly cols: number
  readonly slotSize: number

  constructor(m: RingMemory) {
    this.slots = m.slots
    this.cols = m.cols
    this.slotSize = m.cols * SLOT_ROWS
    let at = 0
    this.ctrl = new Int32Array(m.sab, at, 16)
    at += 64
    this.progress = new Float64Array(m.sab, at, 8)
    at += 64
    this.headers = new Float64Array(m.sab, at, m.slots * HEADER)
    at += m.slots * HEADER * 8
    this.data = new Float64Array(m.sab, at, m.slots * this.slotSize)
    at += m.slots * this.slotSize * 8
    this.text = new Uint8Array(m.sab, at, m.slots * TEXT)
    at += m.slots * TEXT
    this.errText = new Uint8Array(m.sab, at, ERROR_TEXT)
  }
}

/** The writing end, in a worker. Rows are written column-major into the current slot. */
export class RingProducer extends RingViews {
  /** Chunk, file and offset written into every slot's header from now on */
  private metaChunk = 0
  private metaFile = 0
  private metaOffset = 0
  private slot = -1
  private row = 0
  private base = 0
  private hbase = 0

  /** Waits for a free slot (blocking the worker) and starts filling it. */
  private acquire(): void {
    const published = Atomics.load(this.ctrl, C_PUBLISHED)
    for (;;) {
      if (Atomics.load(this.ctrl, C_ABORT) !== 0) throw new RingAborted()
      const consumed = Atomics.load(this.ctrl, C_CONSUMED)
      if (published - consumed < this.slots) break
      Atomics.wait(this.ctrl, C_CONSUMED, consumed, 1000)
    }
    this.slot = published % this.slots
    this.row = 0
    this.base = this.slot * this.slotSize
    this.hbase = this.slot * HEADER
    this.headers.fill(0, this.hbase, this.hbase + HEADER)
    this.headers[this.hbase + H_CHUNK] = this.metaChunk
    this.headers[this.hbase + H_FILE] = this.metaFile
    this.headers[this.hbase + H_OFFSET] = this.metaOffset
  }

  /** Labels the slots that follow (the current one too, if it has no rows yet). */
  setMeta(chunk: number, file: number, offset: number): void {
    this.metaChunk = chunk
    this.metaFile = file
    this.metaOffset = offset
    if (this.slot >= 0 && this.row === 0) {
      this.headers[this.hbase + H_CHUNK] = chunk
      this.headers[this.hbase + H_FILE] = file
      this.headers[this.hbase + H_OFFSET] = offset
    }
  }

  private publish(flags: number): void {
    const h = this.headers
    h[this.hbase + H_ROWS] = this.row
    h[this.hbase + H_FLAGS] = flags
    this.slot = -1
    Atomics.add(this.ctrl, C_PUBLISHED, 1)
    Atomics.notify(this.ctrl, C_PUBLISHED)
  }

  /** Appends one row (`cols - 1` output values; `line` goes to the last column). */
  write(values: ArrayLike<number>, line = 0): void {
    if (this.slot < 0) this.acquire()
    const d = this.data
    const n = values.length
    let at = this.base + this.row
    for (let c = 0; c < n; c++) {
      d[at] = values[c]
      at += SLOT_ROWS
    }
    d[this.base + (this.cols - 1) * SLOT_ROWS + this.row] = line
    if (++this.row === SLOT_ROWS) this.publish(0)
  }

  /** Header of the slot being filled (acquired if needed), for chunk metadata. */
  header(): { h: Float64Array; at: number } {
    if (this.slot < 0) this.acquire()
    return { h: this.headers, at: this.hbase }
  }

  /** Publishes the current slot with `flags` (even when it has no rows) and optional text. */
  close(flags: number, text?: string): void {
    if (this.slot < 0) this.acquire()
    if (text !== undefined) {
      const bytes = Buffer.from(text.slice(0, TEXT / 2), 'utf8').subarray(0, TEXT - 1)
      const t = this.slot * TEXT
      this.text.fill(0, t, t + TEXT)
      this.text.set(bytes, t)
    }
    this.publish(flags)
  }

  /** Reports a failure the consumer turns into an error. */
  fail(message: string): void {
    const bytes = Buffer.from(message.slice(0, ERROR_TEXT / 2), 'utf8').subarray(0, ERROR_TEXT - 1)
    this.errText.fill(0)
    this.errText.set(bytes, 0)
    Atomics.store(this.ctrl, C_ERROR, 1)
    Atomics.add(this.ctrl, C_PUBLISHED, 0)
    Atomics.notify(this.ctrl, C_PUBLISHED)
  }

  setProgress(i: number, v: number): void {
    this.progress[i] = v
  }
}

/** The reading end, on the main thread. */
export class RingConsumer extends RingViews {
  /** Index of the slot at the head, or -1 */
  private current = -1

  /** Waits until a slot is published; returns its index. Throws the producer's failure. */
  head(): number {
    if (this.current >= 0) return this.current
    for (;;) {
      const consumed = Atomics.load(this.ctrl, C_CONSUMED)
      const published = Atomics.load(this.ctrl, C_PUBLISHED)
      if (published > consumed) {
        this.current = consumed % this.slots
        return this.current
      }
      if (Atomics.load(this.ctrl, C_ERROR) !== 0) throw new Error(this.errorText())
      Atomics.wait(this.ctrl, C_PUBLISHED, published, 1000)
    }
  }

  /** Hands the head slot back to the producer. */
  release(): void {
    this.current = -1
    Atomics.add(this.ctrl, C_CONSUMED, 1)
    Atomics.notify(this.ctrl, C_CONSUMED)
  }

  hdr(slot: number, field: number): number {
    return this.headers[slot * HEADER + field]
  }

  /** Column `c` of a slot, `rows` long from row `from`. */
  column(slot: number, c: number, from: number, rows: number): Float64Array {
    const at = slot * this.slotSize + c * SLOT_ROWS + from
    return this.data.subarray(at, at + rows)
  }

  value(slot: number, c: number, row: number): number {
    return this.data[slot * this.slotSize + c * SLOT_ROWS + row]
  }

  slotText(slot: number): string {
    const t = this.text.subarray(slot * TEXT, (slot + 1) * TEXT)
    const end = t.indexOf(0)
    return Buffer.from(t.subarray(0, end < 0 ? TEXT : end)).toString('utf8')
  }

  errorText(): string {
    const end = this.errText.indexOf(0)
    return Buffer.from(this.errText.subarray(0, end < 0 ? ERROR_TEXT : end)).toString('utf8')
  }

  /** Tells the producer to stop at its next slot. */
  abort(): void {
    Atomics.store(this.ctrl, C_ABORT, 1)
    Atomics.notify(this.ctrl, C_CONSUMED)
  }

  getProgress(i: number): number {
    return this.progress[i]
  }
}
