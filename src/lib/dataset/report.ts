// The validation report of a conversion: what was wrong with the input and what the converter did about it

import type { DataProblem } from '../errors.js'

/** A stretch without rows because the book was not synced (µs, receipt-time clock). */
export interface GapInfo {
  readonly from: number
  readonly to: number
  readonly reason: string
}

export interface ValidationReport {
  /** Lines read (snapshot input) */
  lines: number
  /** Frames read (recordings) */
  frames: number
  /** Rows written */
  rows: number
  badLines: number
  /** First 100 bad lines with file and line */
  problems: DataProblem[]
  /** Valid JSON that is not a depth snapshot (trades, tickers, acks) or frames of other streams and symbols */
  skippedLines: number
  skippedFrames: number
  /** Snapshot rows (or synced books) whose best bid was at or above the best ask: dropped */
  crossedBooks: number
  /** Rows with no bid (or no ask) level: kept, the side's columns are NULL */
  emptyBidRows: number
  emptyAskRows: number
  /** Rows (snapshot input) or frames (recordings) whose time went backwards: rows dropped, frames clamped */
  outOfOrder: number
  /** Rows whose time equals the previous row's: the first is kept */
  duplicateTimestamps: number
  /** First 100 dropped rows with file and line (snapshot input) */
  dropped: DataProblem[]
  /** Sequence gaps detected by the book engine, resyncs after them, snapshots seen */
  sequenceGaps: number
  resyncs: number
  snapshots: number
  /** Rows sampled after the last good diff and dropped when the next diff revealed a gap */
  rowsDroppedStale: number
  /** Unsynced stretches after the first sync (recordings), or time holes longer than --max-gap (snapshot input) */
  gapCount: number
  gaps: GapInfo[]
  unsyncedUs: number
  /** Receipt time from the first frame to the first synced book */
  warmupUs: number
  firstFrameUs: number | undefined
  lastFrameUs: number | undefined
  /** Integrity events raised by the book engine (first 100) */
  integrity: { time: number; kind: string; detail: string }[]
}

export function emptyReport(): ValidationReport {
  return {
    lines: 0,
    frames: 0,
    rows: 0,
    badLines: 0,
    problems: [],
    skippedLines: 0,
    skippedFrames: 0,
    crossedBooks: 0,
    emptyBidRows: 0,
    emptyAskRows: 0,
    outOfOrder: 0,
    duplicateTimestamps: 0,
    dropped: [],
    sequenceGaps: 0,
    resyncs: 0,
    snapshots: 0,
    rowsDroppedStale: 0,
    gapCount: 0,
    gaps: [],
    unsyncedUs: 0,
    warmupUs: 0,
    firstFrameUs: undefined,
    lastFrameUs: undefined,
    integrity: [],
  }
}

export const MAX_LISTED = 100

/** Counts a bad line and keeps the first ones. */
export function addProblem(r: ValidationReport, p: DataProblem): void {
  r.badLines++
  if (r.problems.length < MAX_LISTED) r.problems.push(p)
}

/** One-line summary of what needs attention, empty when the input was clean. */
export function reportIssues(r: ValidationReport): string[] {
  const out: string[] = []
  if (r.badLines) out.push(`${r.badLines} bad line(s), first ${r.problems[0]?.file}:${r.problems[0]?.line}: ${r.problems[0]?.reason}`)
  if (r.crossedBooks) out.push(`${r.crossedBooks} crossed book(s)`)
  if (r.outOfOrder) out.push(`${r.outOfOrder} out-of-order timestamp(s)`)
  if (r.duplicateTimestamps) out.push(`${r.duplicateTimestamps} duplicate timestamp(s)`)
  if (r.sequenceGaps) out.push(`${r.sequenceGaps} sequence gap(s), ${r.resyncs} resync(s)`)
  if (r.gapCount) out.push(`${r.gapCount} gap(s) without rows (${(r.unsyncedUs / 1e6).toFixed(1)} s)`)
  if (r.emptyBidRows || r.emptyAskRows) out.push(`${r.emptyBidRows} row(s) without bids, ${r.emptyAskRows} without asks`)
  return out
}
