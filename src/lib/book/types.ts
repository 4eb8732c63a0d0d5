// The contract between a venue's book synchroniser and the collector that drives it

import type { BookChange, IntegrityEvent } from '../types.js'
import type { OrderBook } from './book.js'

export type SyncState = 'awaiting_snapshot' | 'synced'

/** What one step of a synchroniser did. */
export interface SyncStep {
  /** Changes applied to the book, in order; after a (re)sync the snapshot comes first with `isSnapshot` */
  readonly applied: readonly BookChange[]
  /** Integrity events raised by this step (gap, resync, crossed_book) */
  readonly integrity: readonly IntegrityEvent[]
  /** The book needs a fresh snapshot: Binance fetches REST depth, Coinbase re-subscribes */
  readonly needSnapshot: boolean
}

/**
 * Keeps one instrument's local book in sync with the venue's documented algorithm. Pure and clock-free:
 * times come from the records. Diffs arriving before the snapshot are buffered.
 */
export interface BookSync {
  readonly book: OrderBook
  readonly state: SyncState
  /** Id of the last applied update (Binance `u`, Coinbase sequence), undefined before a snapshot */
  readonly lastUpdateId: number | undefined
  /** A diff from the stream (`isSnapshot` false) */
  onDiff(change: BookChange): SyncStep
  /** A full snapshot (REST depth for Binance, the WS snapshot for Coinbase) */
  onSnapshot(snapshot: BookChange): SyncStep
  /** Throws the book away (disconnect, stale stream) and waits for a new snapshot; records why */
  reset(reason: string, localTimestamp: number): SyncStep
}
