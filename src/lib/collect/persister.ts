// Batched, crash-safe persistence of normalised records into the lake. Records collect in column buffers per
// dataset; every window (default 5 s) they are appended to the lake in one commit per dataset. A commit is
// the acknowledgement: a kill -9 loses at most the records of the window in flight, and because the lake skips
// keys it already holds, whatever a restart sends again is never stored twice.
//
// The writer lock is held only while a batch is written, so `backfill` can share the lake with a collector
// that runs for months; while another writer holds the lock the batch waits for the next window.

import { statfsSync } from 'node:fs'
import type { Kind } from '../consts.js'
import { FatalError, MercuryError, oneLine } from '../errors.js'
import { LakeWriter, type StageBatch } from '../lake/writer.js'
import { SCHEMAS, type DatasetId } from '../lake/schema.js'
import { logger } from '../log.js'
import type { MarketRecord, Side } from '../types.js'

const log = logger('mercury:persist')

export interface PersisterOptions {
  /** Batch window, ms */
  readonly windowMs?: number
  /** Records buffered beyond which `add` reports backpressure (the collector logs it; nothing is dropped) */
  readonly highWater?: number
  /** Files per partition before the append path compacts it */
  readonly compactAt?: number
  /** Called after every flush, successful or not */
  readonly onFlush?: (r: FlushResult) => void
}

export interface FlushResult {
  readonly records: number
  readonly rowsWritten: number
  readonly ms: number
  readonly error: string | undefined
}

const sideNum = (s: Side): number => (s === 'buy' ? 1 : s === 'sell' ? -1 : 0)
const num = (x: number | undefined): number => (x === undefined ? NaN : x)

/** Column buffers for one dataset. */
class Buffer {
  readonly f64: Record<string, number[]> = {}
  readonly text: Record<string, string[]> = {}
  rows = 0
  constructor(readonly ds: DatasetId) {
    const schema = SCHEMAS[ds.kind]
    for (const c of schema.staged) this.f64[c] = []
    for (const c of schema.stagedText ?? []) this.text[c] = []
  }
  batch(source: number): StageBatch {
    const f64: Record<string, Float64Array> = {}
    for (const [k, v] of Object.entries(this.f64)) f64[k] = Float64Array.from(v)
    const line = new Float64Array(this.rows)
    for (let i = 0; i < this.rows; i++) line[i] = i + 1
    return { rows: this.rows, source, line, f64, text: this.text }
  }
}

/** The dataset a record belongs to, undefined for records the lake does not keep (book tickers). */
export function datasetOf(r: MarketRecord): DatasetId | undefined {
  const kind = KIND_OF[r.type]
  if (!kind) return undefined
  return { kind, exchange: r.exchange, symbol: r.symbol, interval: r.type === 'bar' ? r.interval : undefined }
}

const KIND_OF: Partial<Record<MarketRecord['type'], Kind>> = {
  trade: 'trades',
  agg_trade: 'agg_trades',
  bar: 'bars',
  book_change: 'book_changes',
  book_snapshot: 'book_snapshots',
  funding: 'funding',
  liquidation: 'liquidations',
  open_interest: 'open_interest',
  integrity: 'integrity',
}

/** Appends a record's rows to its dataset's buffers (book records take one row per level). */
function push(b: Buffer, r: MarketRecord): void {
  const f = b.f64
  switch (r.type) {
    case 'trade':
      f.id.push(r.id), f.timestamp.push(r.timestamp), f.local_timestamp.push(r.localTimestamp)
      f.price.push(r.price), f.amount.push(r.amount), f.side.push(sideNum(r.side))
      b.rows++
      return
    case 'agg_trade':
      f.id.push(r.id), f.first_trade_id.push(r.firstTradeId), f.last_trade_id.push(r.lastTradeId)
      f.timestamp.push(r.timestamp), f.local_timestamp.push(r.localTimestamp)
      f.price.push(r.price), f.amount.push(r.amount), f.side.push(sideNum(r.side))
      b.rows++
      return
    case 'bar':
      f.open_time.push(r.timestamp), f.close_time.push(r.closeTime), f.open.push(r.open), f.high.push(r.high)
      f.low.push(r.low), f.close.push(r.close), f.volume.push(r.volume), f.quote_volume.push(num(r.quoteVolume))
      f.trades.push(num(r.trades)), f.taker_buy_volume.push(num(r.takerBuyVolume))
      f.taker_buy_quote_volume.push(num(r.takerBuyQuoteVolume)), f.local_timestamp.push(r.localTimestamp)
      b.rows++
      return
    case 'book_change': {
      const snap = r.isSnapshot ? 1 : 0
      const add = (side: number, price: number, amount: number) => {
        f.timestamp.push(r.timestamp), f.local_timestamp.push(r.localTimestamp), f.is_snapshot.push(snap)
        f.first_update_id.push(num(r.firstUpdateId)), f.last_update_id.push(num(r.lastUpdateId))
        f.prev_update_id.push(num(r.prevUpdateId)), f.side.push(side), f.price.push(price), f.amount.push(amount)
        b.rows++
      }
      for (const l of r.bids) add(1, l.price, l.amount)
      for (const l of r.asks) add(-1, l.price, l.amount)
      // An empty snapshot still says "the book is empty now": keep one marker row with no price
      if (r.isSnapshot && r.bids.length === 0 && r.asks.length === 0) add(1, NaN, 0)
      return
    }
    case 'book_snapshot': {
      const n = Math.max(r.bids.length, r.asks.length)
      for (let k = 0; k < n; k++) {
        f.timestamp.push(r.timestamp), f.local_timestamp.push(r.localTimestamp), f.level.push(k)
        f.bid_price.push(num(r.bids[k]?.price)), f.bid_amount.push(num(r.bids[k]?.amount))
        f.ask_price.push(num(r.asks[k]?.price)), f.ask_amount.push(num(r.asks[k]?.amount))
        b.rows++
      }
      return
    }
    case 'funding':
      f.timestamp.push(r.timestamp), f.local_timestamp.push(r.localTimestamp), f.funding_rate.push(r.fundingRate)
      f.funding_time.push(num(r.fundingTime)), f.mark_price.push(num(r.markPrice)), f.index_price.push(num(r.indexPrice))
      b.rows++
      return
    case 'liquidation':
      f.timestamp.push(r.timestamp), f.local_timestamp.push(r.localTimestamp), f.side.push(sideNum(r.side))
      f.price.push(r.price), f.amount.push(r.amount)
      b.rows++
      return
    case 'open_interest':
      f.timestamp.push(r.timestamp), f.local_timestamp.push(r.localTimestamp), f.open_interest.push(r.openInterest)
      f.open_interest_value.push(num(r.openInterestValue))
      b.rows++
      return
    case 'integrity':
      f.timestamp.push(r.timestamp), f.local_timestamp.push(r.localTimestamp)
      f.range_from.push(num(r.from)), f.range_to.push(num(r.to))
      b.text.event.push(r.kind), b.text.stream.push(r.stream), b.text.detail.push(r.detail)
      b.rows++
      return
    case 'book_ticker':
      return
  }
}

function dsKey(ds: DatasetId): string {
  return `${ds.kind}|${ds.exchange}|${ds.symbol}|${ds.interval ?? ''}`
}

/** Buffers records and appends them to the lake in batches. */
export class Persister {
  private buffers = new Map<string, Buffer>()
  /** Datasets this run wrote to, for the closing compaction */
  private readonly touched = new Map<string, DatasetId>()
  private pending = 0
  private timer: NodeJS.Timeout | undefined
  private flushing: Promise<FlushResult> | undefined
  private closed = false
  private readonly windowMs: number
  private lastError: string | undefined
  private stats = { flushes: 0, failures: 0, records: 0, rowsWritten: 0 }

  constructor(
    readonly lakeDir: string,
    private readonly o: PersisterOptions = {},
  ) {
    this.windowMs = o.windowMs ?? 5000
  }

  /** Starts the batch timer. */
  start(): void {
    if (this.timer || this.closed) return
    this.timer = setInterval(() => void this.flush(), this.windowMs)
    this.timer.unref?.()
  }

  /** Buffers a record; returns false when the buffer is above its high-water mark (nothing is dropped). */
  add(r: MarketRecord): boolean {
    const ds = datasetOf(r)
    if (!ds) return true
    const k = dsKey(ds)
    let b = this.buffers.get(k)
    if (!b) {
      b = new Buffer(ds)
      this.buffers.set(k, b)
      this.touched.set(k, ds)
    }
    push(b, r)
    this.pending++
    return this.pending < (this.o.highWater ?? 2_000_000)
  }

  /** Records waiting for the next batch. */
  get queued(): number {
    return this.pending
  }

  get error(): string | undefined {
    return this.lastError
  }

  snapshot(): { flushes: number; failures: number; records: number; rowsWritten: number; queued: number } {
    return { ...this.stats, queued: this.pending }
  }

  /** Writes everything buffered now; concurrent calls share one write. */
  flush(): Promise<FlushResult> {
    if (this.flushing) return this.flushing.then(() => this.flush())
    if (this.pending === 0) return Promise.resolve({ records: 0, rowsWritten: 0, ms: 0, error: undefined })
    const p = this.write().finally(() => {
      this.flushing = undefined
    })
    this.flushing = p
    return p
  }

  private async write(): Promise<FlushResult> {
    const t0 = performance.now()
    const buffers = this.buffers
    const records = this.pending
    this.buffers = new Map()
    this.pending = 0
    let writer: LakeWriter | undefined
    let rowsWritten = 0
    let error: string | undefined
    const done = new Set<string>()
    try {
      writer = await LakeWriter.open(this.lakeDir)
      for (const [k, b] of buffers) {
        await writer.stage(b.ds, b.batch(0))
        const r = await writer.commitAppend(b.ds, { compactAt: this.o.compactAt })
        rowsWritten += r.rowsWritten
        done.add(k)
      }
      this.stats.flushes++
      this.stats.records += records
      this.stats.rowsWritten += rowsWritten
      this.lastError = undefined
    } catch (err) {
      error = describeWriteError(err, this.lakeDir)
      this.lastError = error
      this.stats.failures++
      // Keep what was not committed for the next window, ahead of what arrived meanwhile
      const keep = new Map<string, Buffer>()
      for (const [k, b] of buffers) if (!done.has(k)) keep.set(k, b)
      for (const [k, b] of this.buffers) {
        const prev = keep.get(k)
        if (prev) {
          for (const c of Object.keys(b.f64)) for (const v of b.f64[c]) prev.f64[c].push(v)
          for (const c of Object.keys(b.text)) for (const v of b.text[c]) prev.text[c].push(v)
          prev.rows += b.rows
        } else keep.set(k, b)
      }
      let n = 0
      for (const b of keep.values()) n += b.rows
      this.buffers = keep
      this.pending = n
      log.error(`batch of ${records} records not written, kept for the next window: ${error}`)
    } finally {
      writer?.close()
    }
    const res = { records, rowsWritten, ms: performance.now() - t0, error }
    this.o.onFlush?.(res)
    return res
  }

  /** Stops the timer, writes what is buffered and compacts the partitions the run appended to. */
  async close(opts: { compact?: boolean } = {}): Promise<FlushResult> {
    this.closed = true
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    const r = await this.flush()
    if (r.error) throw new FatalError(`Could not write the last batch of ${r.records} records: ${r.error}`)
    if (opts.compact) {
      const writer = await LakeWriter.open(this.lakeDir)
      try {
        for (const ds of this.touched.values()) await writer.compact(ds)
      } finally {
        writer.close()
      }
    }
    return r
  }

}

/** One line for a failed batch write: full disks and locks get their own words. */
function describeWriteError(err: unknown, lakeDir: string): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOSPC' || /No space left/i.test(String((err as Error)?.message))) {
    let free = ''
    try {
      const s = statfsSync(lakeDir)
      free = ` (${((s.bavail * s.bsize) / 1e6).toFixed(0)} MB free)`
    } catch {
      // statfs is informational only
    }
    return `disk full writing ${lakeDir}${free}`
  }
  if (err instanceof MercuryError) return oneLine(err)
  return oneLine(err)
}

