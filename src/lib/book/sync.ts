// Book synchronisers: each venue's documented snapshot-plus-diffs procedure, pure and clock-free.
//
// - Binance spot (changelog 2025-11-12): buffer diffs; a snapshot older than the first buffered `U` is refetched;
//   diffs with `u <= lastUpdateId` are stale; `U > id + 1` means events were lost.
// - Binance USD-M: diffs with `u < lastUpdateId` are dropped; the first applied must bridge the snapshot
//   (`U <= lastUpdateId <= u`); after that every `pu` must equal the previous `u`.
// - Coinbase: the snapshot on the socket is the sync point and updates before it are dropped. Sequence numbers
//   are connection-wide (Advanced Trade) or absent (Exchange `level2`), so the feed checks them and calls
//   `reset()`; the sync itself only applies.
//
// Every discard of a synced book raises an integrity event (`gap` or `crossed_book`), and the next successful
// sync raises `resync` naming why the previous book was dropped, so the integrity stream explains every resync.
// `needSnapshot` is edge-triggered: true on the step that made a (new) snapshot necessary, so a driver can act
// on it without deduplicating; before the first snapshot the driver asks on its own (Binance on the first
// buffered diff, Coinbase through its subscription).

import type { Exchange } from '../consts.js'
import { FatalError } from '../errors.js'
import type { BookChange, IntegrityEvent, IntegrityKind } from '../types.js'
import { OrderBook } from './book.js'
import type { BookSync, SyncState, SyncStep } from './types.js'

export interface BookSyncOptions {
  /** Diffs kept while waiting for a snapshot; beyond it the oldest are dropped (default 10000) */
  readonly maxBuffer?: number
}

export const DEFAULT_MAX_BUFFER = 10_000

/** What to do with one diff on a synced book. */
type Verdict =
  | { readonly kind: 'apply' }
  | { readonly kind: 'stale' }
  | { readonly kind: 'gap'; readonly from: number | undefined; readonly to: number | undefined; readonly detail: string }

const APPLY: Verdict = { kind: 'apply' }
const STALE: Verdict = { kind: 'stale' }
const NOTHING: SyncStep = { applied: [], integrity: [], needSnapshot: false }

abstract class BaseSync implements BookSync {
  readonly book = new OrderBook()
  state: SyncState = 'awaiting_snapshot'
  lastUpdateId: number | undefined = undefined
  /** Diffs received while awaiting a snapshot, oldest first */
  protected buffer: BookChange[] = []
  /** Why the last book was thrown away; reported by the next successful sync's `resync` event */
  private dropped: string | undefined = undefined
  /** Id of the last update the thrown-away book held, when known */
  private droppedAt: number | undefined = undefined
  /** The buffer overflowed since the last sync (one gap event per episode, not one per dropped diff) */
  private overflowed = false
  private readonly maxBuffer: number

  constructor(
    readonly exchange: Exchange,
    readonly symbol: string,
    opts: BookSyncOptions,
  ) {
    this.maxBuffer = Math.max(1, opts.maxBuffer ?? DEFAULT_MAX_BUFFER)
  }

  /** Judges a diff against the synced book (`lastUpdateId` is the book's id). */
  protected abstract verdict(change: BookChange): Verdict
  /** Whether a snapshot arriving while awaiting can seed the book given the buffered diffs. */
  protected abstract usable(snapshot: BookChange): boolean
  /** Whether a snapshot arriving while synced should replace the book. */
  protected abstract replaces(snapshot: BookChange): boolean
  /** Hook after a snapshot is loaded. */
  protected loaded(_snapshot: BookChange): void {}
  /** Whether a diff arriving before the snapshot is kept for it. */
  protected keeps(_change: BookChange): boolean {
    return true
  }

  onDiff(change: BookChange): SyncStep {
    this.check(change, false)
    if (this.state === 'awaiting_snapshot') return this.keeps(change) ? this.hold(change) : NOTHING
    const applied: BookChange[] = []
    const integrity: IntegrityEvent[] = []
    const ok = this.process(change, applied, integrity)
    if (applied.length === 0 && integrity.length === 0) return NOTHING
    return { applied, integrity, needSnapshot: !ok }
  }

  onSnapshot(snapshot: BookChange): SyncStep {
    this.check(snapshot, true)
    if (this.state === 'synced') {
      // An older snapshot than the book would roll it back; ignore it
      if (!this.replaces(snapshot)) return NOTHING
      this.dropped = `a new snapshot (id ${String(snapshot.lastUpdateId)}) replaced the synced book (id ${String(this.lastUpdateId)})`
      this.droppedAt = this.lastUpdateId
    } else if (!this.usable(snapshot)) {
      return { applied: [], integrity: [], needSnapshot: true }
    }
    const applied: BookChange[] = [snapshot]
    const integrity: IntegrityEvent[] = []
    this.book.clear()
    this.book.apply(snapshot.bids, snapshot.asks)
    this.lastUpdateId = snapshot.lastUpdateId
    this.state = 'synced'
    this.loaded(snapshot)
    let ok = this.checkCrossed(snapshot, integrity)
    const buffered = this.buffer
    this.buffer = []
    for (let i = 0; i < buffered.length; i++) {
      // After a discard the rest stay buffered for the next snapshot
      if (!ok) this.buffer.push(buffered[i])
      else ok = this.process(buffered[i], applied, integrity)
    }
    if (ok) {
      this.overflowed = false
      if (this.dropped !== undefined) {
        // The range the stored diffs do not cover: after the old book's last update up to the snapshot
        const from = this.droppedAt === undefined ? undefined : this.droppedAt + 1
        integrity.push(this.event('resync', snapshot, from, snapshot.lastUpdateId, `book resynced from a snapshot after: ${this.dropped}`))
        this.dropped = undefined
        this.droppedAt = undefined
      }
    }
    return { applied, integrity, needSnapshot: !ok }
  }

  reset(reason: string, localTimestamp: number): SyncStep {
    const integrity: IntegrityEvent[] = []
    if (this.state === 'synced') {
      const t = { timestamp: localTimestamp, localTimestamp }
      const from = this.lastUpdateId === undefined ? undefined : this.lastUpdateId + 1
      integrity.push(this.event('gap', t, from, undefined, `book discarded after update ${String(this.lastUpdateId)}: ${reason}`))
    }
    this.dropped = reason
    this.discard()
    // Diffs buffered on the old connection may not join up with the new one
    this.buffer = []
    return { applied: [], integrity, needSnapshot: true }
  }

  /** Applies (or drops) one diff on the synced book; false when the book was discarded. */
  private process(change: BookChange, applied: BookChange[], integrity: IntegrityEvent[]): boolean {
    const v = this.verdict(change)
    if (v.kind === 'stale') return true
    if (v.kind === 'gap') {
      integrity.push(this.event('gap', change, v.from, v.to, v.detail))
      this.dropped = v.detail
      this.discard()
      // The diff that revealed the hole is still good data for the next sync
      this.buffer.push(change)
      return false
    }
    this.book.apply(change.bids, change.asks)
    this.lastUpdateId = change.lastUpdateId ?? this.lastUpdateId
    applied.push(change)
    return this.checkCrossed(change, integrity)
  }

  /** A crossed book cannot be right: report it, throw the book away and ask for a snapshot. */
  private checkCrossed(change: BookChange, integrity: IntegrityEvent[]): boolean {
    if (!this.book.isCrossed()) return true
    const detail = `best bid ${String(this.book.bidPrice())} >= best ask ${String(this.book.askPrice())} after update ${String(change.lastUpdateId)}`
    integrity.push(this.event('crossed_book', change, change.firstUpdateId, change.lastUpdateId, `crossed book: ${detail}`))
    this.dropped = `crossed book (${detail})`
    this.discard()
    return false
  }

  private hold(change: BookChange): SyncStep {
    this.buffer.push(change)
    if (this.buffer.length <= this.maxBuffer) return NOTHING
    const old = this.buffer.shift() as BookChange
    if (this.overflowed) return NOTHING
    this.overflowed = true
    const detail = `buffer of ${this.maxBuffer} diffs overflowed while awaiting a snapshot; dropping the oldest`
    // Keep the first reason too: the resync must explain both
    this.dropped = this.dropped === undefined ? detail : `${this.dropped}; then ${detail}`
    return { applied: [], integrity: [this.event('gap', change, old.firstUpdateId, old.lastUpdateId, detail)], needSnapshot: true }
  }

  private discard(): void {
    if (this.state === 'synced') this.droppedAt = this.lastUpdateId
    this.book.clear()
    this.state = 'awaiting_snapshot'
    this.lastUpdateId = undefined
  }

  private check(change: BookChange, snapshot: boolean): void {
    if (change.symbol !== this.symbol || change.exchange !== this.exchange) {
      throw new FatalError(`Book sync for ${this.exchange}:${this.symbol} was given a change for ${change.exchange}:${change.symbol}`)
    }
    if (change.isSnapshot !== snapshot) {
      throw new FatalError(`Book sync for ${this.exchange}:${this.symbol}: ${snapshot ? 'onSnapshot' : 'onDiff'} was given isSnapshot=${change.isSnapshot}`)
    }
  }

  protected event(
    kind: IntegrityKind,
    at: { readonly timestamp: number; readonly localTimestamp: number },
    from: number | undefined,
    to: number | undefined,
    detail: string,
  ): IntegrityEvent {
    return {
      type: 'integrity',
      exchange: this.exchange,
      symbol: this.symbol,
      timestamp: at.timestamp,
      localTimestamp: at.localTimestamp,
      kind,
      stream: 'book',
      from,
      to,
      detail,
    }
  }
}

function ids(change: BookChange): { first: number; last: number } {
  const first = change.firstUpdateId
  const last = change.lastUpdateId
  if (first === undefined || last === undefined) {
    throw new FatalError(`Binance diff for ${change.symbol} has no update ids (U/u)`)
  }
  return { first, last }
}

function snapshotId(snapshot: BookChange): number {
  if (snapshot.lastUpdateId === undefined) throw new FatalError(`Binance snapshot for ${snapshot.symbol} has no lastUpdateId`)
  return snapshot.lastUpdateId
}

/** Binance spot: `U`/`u` ranges are contiguous, so `U` must be at most the book id + 1. */
class BinanceSpotSync extends BaseSync {
  protected verdict(change: BookChange): Verdict {
    const { first, last } = ids(change)
    const id = this.lastUpdateId as number
    if (last <= id) return STALE
    if (first > id + 1) {
      return { kind: 'gap', from: id + 1, to: first - 1, detail: `updates ${id + 1}..${first - 1} missing: diff U=${first} after book id ${id}` }
    }
    return APPLY
  }

  protected usable(snapshot: BookChange): boolean {
    // A snapshot older than the first buffered diff leaves a hole before it: fetch another (step 3)
    return this.buffer.length === 0 || snapshotId(snapshot) >= ids(this.buffer[0]).first
  }

  protected replaces(snapshot: BookChange): boolean {
    return snapshotId(snapshot) >= (this.lastUpdateId as number)
  }
}

/** Binance USD-M: ids jump between events, so continuity is `pu` = previous `u` once the snapshot is bridged. */
class BinanceFuturesSync extends BaseSync {
  private bridged = false

  protected override loaded(): void {
    this.bridged = false
  }

  protected verdict(change: BookChange): Verdict {
    const { first, last } = ids(change)
    const id = this.lastUpdateId as number
    if (!this.bridged) {
      if (last < id) return STALE
      if (first > id) {
        return { kind: 'gap', from: id + 1, to: first - 1, detail: `first diff U=${first} u=${last} does not bridge snapshot id ${id}` }
      }
      this.bridged = true
      return APPLY
    }
    // A repeat of the last applied diff (or older) is stale, not a break in the pu chain
    if (last <= id) return STALE
    const pu = change.prevUpdateId
    if (pu === undefined) throw new FatalError(`Binance futures diff for ${change.symbol} has no pu`)
    if (pu !== id) {
      return { kind: 'gap', from: id + 1, to: pu > id ? pu : first - 1, detail: `pu=${pu} does not follow book id ${id} (diff U=${first} u=${last})` }
    }
    return APPLY
  }

  protected usable(snapshot: BookChange): boolean {
    return this.buffer.length === 0 || snapshotId(snapshot) >= ids(this.buffer[0]).first
  }

  protected replaces(snapshot: BookChange): boolean {
    return snapshotId(snapshot) >= (this.lastUpdateId as number)
  }
}

/** Coinbase: the socket snapshot resets the book; every update after it applies. */
class CoinbaseSync extends BaseSync {
  protected override keeps(): boolean {
    // A product's snapshot is the first message of its subscription, so updates before it belong to an older
    // subscription (or another connection, whose sequence numbers cannot be compared): drop them
    return false
  }

  protected verdict(): Verdict {
    return APPLY
  }

  protected usable(): boolean {
    return true
  }

  protected replaces(): boolean {
    // A snapshot on the socket always answers a fresh subscription and is the newest picture
    return true
  }
}

/** Creates the synchroniser for one instrument's book on `exchange`. */
export function createBookSync(exchange: Exchange, symbol: string, opts: BookSyncOptions = {}): BookSync {
  switch (exchange) {
    case 'binance':
      return new BinanceSpotSync(exchange, symbol, opts)
    case 'binance-futures':
      return new BinanceFuturesSync(exchange, symbol, opts)
    case 'coinbase':
      return new CoinbaseSync(exchange, symbol, opts)
  }
}
