// Replays recorded diff streams (mercury `collect --record`, hftbacktest, cryptofeed) through the one book engine
// (`createBookSync`) and samples the book on the receipt-time clock.
//
// Sampling: a row at grid instant T (a multiple of `every`) is the book after every frame with receipt time <= T.
// Rows are emitted only while the book is synced, and they are held back until the next applied diff proves that
// no update was lost in between (Binance `U`/`pu` continuity): when that diff reveals a gap instead, the rows since
// the last good diff are dropped, because the book was silently stale there. A later snapshot in the recording
// resyncs the book as the sequence rules say; unsynced stretches are reported as gaps.

import type { Exchange } from '../consts.js'
import { DataError, FatalError, type DataProblem } from '../errors.js'
import { createBookSync } from '../book/sync.js'
import type { BookSync, SyncStep } from '../book/types.js'
import { mapBinanceMessage, parseBinanceDepthSnapshot, UnknownMessageError, type BinanceExchange } from '../exchanges/binance/stream.js'
import { mapCoinbaseMessage } from '../exchanges/coinbase/parse.js'
import { streamName, type RecordedFrame } from '../replay/recording.js'
import { frameBatches } from './frames.js'
import type { BookChange, FeedControl, MarketRecord } from '../types.js'
import type { LobLayout } from './layout.js'
import { addProblem, emptyReport, type GapInfo, type ValidationReport } from './report.js'

/** Receives finished rows (length = layout columns), in time order. */
export interface RowSink {
  write(row: Float64Array): void
}

export interface ReplayOptions {
  readonly files: readonly string[]
  readonly exchange: Exchange
  readonly symbol: string
  readonly layout: LobLayout
  readonly everyUs: number
  readonly strict: boolean
  readonly sink: RowSink
  /** Called now and then with the frames and frame-text characters read so far (all files) */
  readonly onProgress?: (frames: number, chars: number) => void
}

/** Most rows held back waiting for the next diff; past it they are released (a very quiet book). */
const MAX_PENDING = 65_536

/** The book sampler: frames in receipt order in, grid rows out. */
export class BookSampler {
  readonly sync: BookSync
  readonly report: ValidationReport = emptyReport()
  private readonly row: Float64Array
  private pending: Float64Array
  private pendingRows = 0
  private nextT = -1
  private clock = -Infinity
  private buy = 0
  private sell = 0
  private count = 0
  /** 'trade' or 'agg_trade', whichever the recording carries first */
  private tradeKind: string | undefined
  private lastTradeId = -1
  private lastGood = -1
  private gapFrom = -1
  private gapReason = ''
  private everSynced = false
  private firstFrame = -1
  private wsOpens = 0
  private lastSeq = -1
  private readonly cols: number

  constructor(
    readonly exchange: Exchange,
    readonly symbol: string,
    readonly layout: LobLayout,
    readonly everyUs: number,
    private readonly sink: RowSink,
  ) {
    this.sync = createBookSync(exchange, symbol)
    this.cols = layout.columns.length
    this.row = new Float64Array(this.cols)
    this.pending = new Float64Array(this.cols * 256)
  }

  /** Emits the grid instants before `t`, then moves the clock to `t`. */
  advance(t: number): void {
    if (t < this.clock) {
      this.report.outOfOrder++
      t = this.clock
    }
    if (this.firstFrame < 0) this.firstFrame = t
    this.clock = t
    const every = this.everyUs
    if (this.nextT < 0) this.nextT = Math.ceil(t / every) * every
    if (this.nextT >= t) return
    if (this.sync.state !== 'synced') {
      // Nothing to sample: jump the grid (trades of skipped intervals belong to no row)
      this.nextT = Math.ceil(t / every) * every
      this.buy = this.sell = this.count = 0
      return
    }
    while (this.nextT < t) {
      this.sample(this.nextT)
      this.nextT += every
    }
  }

  private sample(T: number): void {
    const L = this.layout
    const r = this.row
    const book = this.sync.book
    const N = L.levels
    r[0] = T
    const nb = Math.min(N, book.bidLevels)
    const na = Math.min(N, book.askLevels)
    for (let i = 0; i < N; i++) {
      if (i < nb) {
        r[L.bidPx + i] = book.bidPrice(i) as number
        r[L.bidSz + i] = book.bidAmount(i) as number
      } else {
        r[L.bidPx + i] = NaN
        r[L.bidSz + i] = NaN
      }
      if (i < na) {
        r[L.askPx + i] = book.askPrice(i) as number
        r[L.askSz + i] = book.askAmount(i) as number
      } else {
        r[L.askPx + i] = NaN
        r[L.askSz + i] = NaN
      }
    }
    if (nb > 0 && na > 0) {
      r[L.mid] = (r[L.bidPx] + r[L.askPx]) / 2
      r[L.spread] = r[L.askPx] - r[L.bidPx]
    } else {
      r[L.mid] = NaN
      r[L.spread] = NaN
    }
    if (L.withTrades) {
      r[L.buyVolume] = this.buy
      r[L.sellVolume] = this.sell
      r[L.tradeCount] = this.count
    }
    this.buy = this.sell = this.count = 0
    if (this.pendingRows * this.cols >= this.pending.length) {
      if (this.pendingRows >= MAX_PENDING) this.confirm()
      else {
        const bigger = new Float64Array(this.pending.length * 2)
        bigger.set(this.pending)
        this.pending = bigger
      }
    }
    this.pending.set(r, this.pendingRows * this.cols)
    this.pendingRows++
  }

  /** The rows held back are good: pass them on. */
  private confirm(): void {
    const c = this.cols
    const L = this.layout
    for (let i = 0; i < this.pendingRows; i++) {
      const row = this.pending.subarray(i * c, (i + 1) * c)
      if (row[L.bidPx] !== row[L.bidPx]) this.report.emptyBidRows++
      if (row[L.askPx] !== row[L.askPx]) this.report.emptyAskRows++
      this.sink.write(row)
    }
    this.report.rows += this.pendingRows
    this.pendingRows = 0
  }

  private dropPending(): void {
    this.report.rowsDroppedStale += this.pendingRows
    this.pendingRows = 0
  }

  /** Feeds a book change and tracks sync transitions. */
  private book(change: BookChange): void {
    const wasSynced = this.sync.state === 'synced'
    let step: SyncStep
    if (change.isSnapshot) {
      // A snapshot replacing a synced book does not say the old book was wrong
      if (wasSynced) this.confirm()
      step = this.sync.onSnapshot(change)
      this.report.snapshots++
    } else {
      step = this.sync.onDiff(change)
    }
    this.after(step, wasSynced, change.localTimestamp)
  }

  private after(step: SyncStep, wasSynced: boolean, t: number): void {
    for (const ev of step.integrity) {
      if (ev.kind === 'gap') this.report.sequenceGaps++
      else if (ev.kind === 'resync') this.report.resyncs++
      else if (ev.kind === 'crossed_book') this.report.crossedBooks++
      if (this.report.integrity.length < 100) this.report.integrity.push({ time: t, kind: ev.kind, detail: ev.detail })
    }
    const synced = this.sync.state === 'synced'
    if (wasSynced && !synced) {
      this.dropPending()
      this.gapFrom = this.lastGood >= 0 ? this.lastGood : t
      const ev = step.integrity.find((e) => e.kind !== 'resync')
      this.gapReason = ev ? `${ev.kind}: ${ev.detail}` : 'book discarded'
    } else if (synced && step.applied.length > 0) {
      this.confirm()
      this.lastGood = t
      if (!wasSynced) {
        if (this.everSynced) this.addGap({ from: this.gapFrom, to: t, reason: this.gapReason })
        else this.report.warmupUs = t - this.firstFrame
        this.everSynced = true
      }
    }
  }

  private addGap(g: GapInfo): void {
    this.report.gapCount++
    this.report.unsyncedUs += g.to - g.from
    if (this.report.gaps.length < 1000) this.report.gaps.push(g)
  }

  /** A connection ended (or a new one opened without a close): the diffs in between are lost. */
  lostConnection(reason: string): void {
    const wasSynced = this.sync.state === 'synced'
    const step = this.sync.reset(reason, this.clock)
    this.after(step, wasSynced, this.clock)
  }

  private trade(r: MarketRecord): void {
    if (r.type !== 'trade' && r.type !== 'agg_trade') return
    if (r.symbol !== this.symbol) return
    this.tradeKind ??= r.type
    if (r.type !== this.tradeKind) return
    // The overlap of a reconnect repeats trades: ids are increasing per venue
    if (r.id <= this.lastTradeId && this.exchange !== 'coinbase') return
    this.lastTradeId = r.id
    if (r.side === 'buy') this.buy += r.amount
    else if (r.side === 'sell') this.sell += r.amount
    this.count++
  }

  /** Handles the records one frame mapped to. */
  records(recs: readonly (MarketRecord | FeedControl)[]): void {
    for (let i = 0; i < recs.length; i++) {
      const r = recs[i]
      if (r.type === 'book_change') {
        if (r.symbol === this.symbol) this.book(r)
      } else if (r.type === 'trade' || r.type === 'agg_trade') {
        if (this.layout.withTrades) this.trade(r)
      } else if (r.type === 'control' && r.sequence !== undefined) {
        // Coinbase Advanced Trade numbers every frame of a connection: a hole means frames were lost
        if (this.lastSeq >= 0 && r.sequence > this.lastSeq + 1) this.lostConnection(`sequence jumped from ${this.lastSeq} to ${r.sequence}`)
        this.lastSeq = r.sequence
      }
    }
  }

  /** One recorded frame. Returns a reason when the frame is bad, undefined otherwise. */
  frame(f: RecordedFrame): string | undefined {
    this.advance(f.localTimestamp)
    this.report.frames++
    const t = this.clock
    if (f.src === 'close') {
      this.lostConnection('connection closed in the recording')
      return undefined
    }
    if (f.src === 'open') {
      if (f.url !== undefined && f.url.startsWith('ws')) {
        if (this.wsOpens++ > 0 && this.sync.state === 'synced') this.lostConnection('a new connection opened in the recording')
        this.lastSeq = -1
      }
      return undefined
    }
    if (f.src === 'sent') return undefined
    if (this.exchange === 'coinbase') return this.coinbase(f, t)
    return this.binance(f, t)
  }

  private binance(f: RecordedFrame, t: number): string | undefined {
    const ex = this.exchange as BinanceExchange
    const text = f.text
    if (f.src === 'rest') {
      const url = f.url
      if (url !== undefined && !url.includes('/depth')) return undefined
      let sym = this.symbol
      if (url !== undefined) {
        const m = /[?&]symbol=([^&]+)/.exec(url)
        if (m) sym = decodeURIComponent(m[1]).toUpperCase()
      }
      if (sym !== this.symbol) return undefined
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch {
        return 'REST body is not JSON'
      }
      let snap: BookChange
      try {
        snap = parseBinanceDepthSnapshot(body, ex, this.symbol, t)
      } catch (err) {
        return err instanceof Error ? err.message : String(err)
      }
      this.book(snap)
      return undefined
    }
    // Skip what cannot matter without parsing it: other symbols' streams and streams the book does not use
    const stream = streamName(text)
    if (stream !== undefined) {
      const at = stream.indexOf('@')
      if (at >= 0 && stream.slice(0, at).toUpperCase() !== this.symbol) {
        this.report.skippedFrames++
        return undefined
      }
      const kind = stream.slice(at + 1)
      const diff = kind === 'depth' || kind.startsWith('depth@')
      const trade = this.layout.withTrades && (kind === 'trade' || kind === 'aggTrade')
      if (!diff && !trade) {
        this.report.skippedFrames++
        return undefined
      }
    }
    let msg: unknown
    try {
      msg = JSON.parse(text)
    } catch {
      return 'frame is not JSON'
    }
    let recs: (MarketRecord | FeedControl)[]
    try {
      recs = mapBinanceMessage(ex, msg, t)
    } catch (err) {
      if (err instanceof UnknownMessageError) {
        this.report.skippedFrames++
        return undefined
      }
      return err instanceof Error ? err.message.slice(0, 200) : String(err)
    }
    this.records(recs)
    return undefined
  }

  private coinbase(f: RecordedFrame, t: number): string | undefined {
    if (f.src !== 'ws') return undefined
    let msg: unknown
    try {
      msg = JSON.parse(f.text)
    } catch {
      return 'frame is not JSON'
    }
    let recs: (MarketRecord | FeedControl)[]
    try {
      recs = mapCoinbaseMessage(msg, t)
    } catch (err) {
      return err instanceof Error ? err.message.slice(0, 200) : String(err)
    }
    this.records(recs)
    return undefined
  }

  /** End of input: the rows held back have no later diff to confirm them, and nothing says they are wrong. */
  finish(): ValidationReport {
    if (this.sync.state === 'synced') {
      // The last grid instant at or before the final frame
      if (this.nextT >= 0 && this.nextT === this.clock) {
        this.sample(this.nextT)
        this.nextT += this.everyUs
      }
      this.confirm()
    } else {
      this.dropPending()
      if (this.everSynced) this.addGap({ from: this.gapFrom, to: this.clock, reason: `${this.gapReason} (not resynced before the end)` })
    }
    if (this.firstFrame >= 0) {
      this.report.firstFrameUs = this.firstFrame
      this.report.lastFrameUs = this.clock
    }
    return this.report
  }
}

/** A cursor over one file's frame batches. */
class FrameCursor {
  batch: RecordedFrame[] = []
  at = 0
  done = false
  constructor(
    readonly file: string,
    readonly it: AsyncIterator<RecordedFrame[]>,
  ) {}

  /** Makes `head` valid unless the file is exhausted. */
  async fill(): Promise<void> {
    while (!this.done && this.at >= this.batch.length) {
      let r: IteratorResult<RecordedFrame[]>
      try {
        r = await this.it.next()
      } catch (err) {
        throw gzipError(this.file, err)
      }
      if (r.done) this.done = true
      else {
        this.batch = r.value
        this.at = 0
      }
    }
  }

  get head(): RecordedFrame | undefined {
    return this.at < this.batch.length ? this.batch[this.at] : undefined
  }
}

/**
 * Feeds the frames of several recordings to `onFrame` merged by receipt time; ties go to the earlier file
 * (a streaming k-way merge, so one file is read in its own order).
 */
async function mergeRecordings(
  files: readonly string[],
  strict: boolean,
  onBad: (p: DataProblem) => void,
  onFrame: (f: RecordedFrame, file: string) => void,
): Promise<void> {
  const cursors = files.map((f) => new FrameCursor(f, frameBatches(f, { strict, onBadLine: onBad })[Symbol.asyncIterator]()))
  try {
    for (const c of cursors) await c.fill()
    if (cursors.length === 1) {
      const c = cursors[0]
      while (!c.done) {
        for (let i = c.at; i < c.batch.length; i++) onFrame(c.batch[i], c.file)
        c.at = c.batch.length
        await c.fill()
      }
      return
    }
    for (;;) {
      let best: FrameCursor | undefined
      for (const c of cursors) {
        const h = c.head
        if (h !== undefined && (best === undefined || h.localTimestamp < (best.head as RecordedFrame).localTimestamp)) best = c
      }
      if (best === undefined) return
      onFrame(best.batch[best.at++], best.file)
      if (best.at >= best.batch.length) await best.fill()
    }
  } finally {
    for (const c of cursors) if (!c.done) await c.it.return?.(undefined)
  }
}

/** Replays the recordings into `sink`; returns the validation report. Throws DataError in strict mode. */
export async function replayRecordings(o: ReplayOptions): Promise<ValidationReport> {
  const sampler = new BookSampler(o.exchange, o.symbol, o.layout, o.everyUs, o.sink)
  const report = sampler.report
  const onBad = (p: DataProblem) => addProblem(report, p)
  let n = 0
  let chars = 0
  try {
    await mergeRecordings(o.files, o.strict, onBad, (f, file) => {
      const bad = sampler.frame(f)
      if (bad !== undefined) {
        const p = { file, line: f.line, reason: bad }
        if (o.strict) throw new DataError(`${file}:${f.line}: ${bad}`, file, [p])
        addProblem(report, p)
      }
      chars += f.text.length + 20
      if ((++n & 4095) === 0) o.onProgress?.(n, chars)
    })
  } finally {
    o.onProgress?.(n, chars)
  }
  return sampler.finish()
}

/** A zlib failure while reading `file` becomes one line naming the file; anything else passes through. */
export function gzipError(file: string, err: unknown): unknown {
  if (err instanceof DataError || err instanceof FatalError) return err
  const code = (err as { code?: unknown } | null)?.code
  const msg = err instanceof Error ? err.message : String(err)
  if ((typeof code === 'string' && code.startsWith('Z_')) || /incorrect header check|unexpected end of file|invalid (block type|distance|stored block|code)/i.test(msg)) {
    return new FatalError(`Corrupt gzip input ${file}: ${msg.split('\n')[0]}`)
  }
  return err
}
