// Deterministic fault injection for the replay server: which timeline frames to drop, duplicate or garble,
// where to cut every connection, and which REST requests to refuse. Same plan and seed, same faults.
//
// Indices are 0-based. WebSocket faults count positions in the server's timeline (the recorded frames it can
// send, in merged order), not per-connection message counts; REST faults count requests in arrival order.
// `{ every: n }` selects indices n-1, 2n-1, 3n-1, ... (every n-th frame). When one index is in several lists,
// drop wins over duplicate and malformed.

import { mulberry32 } from '../util/fs.js'

/** Kept here too for the replay module's users */
export { mulberry32 }

export type IndexSet = readonly number[] | { readonly every: number }

export interface FaultPlan {
  /** Timeline frames never sent (the server's own book and trade history still see them) */
  readonly drop?: IndexSet
  /** Timeline frames sent twice, back to back */
  readonly duplicate?: IndexSet
  /**
   * Timeline frames preceded by a truncated copy of their text (invalid JSON). The garbled text is sent in
   * addition to the real frame, so no data is lost: a client must skip it, not resync
   */
  readonly malformed?: IndexSet
  /** Terminate every ws connection (no close frame) when the timeline reaches this index */
  readonly disconnectAt?: readonly number[]
  /** Frames the timeline passes without sending after a `disconnectAt`, to model time passing (default 200) */
  readonly skipOnDisconnect?: number
  /** Binance: send `{"e":"serverShutdown","E":…}` to every connection, then close them after the grace period */
  readonly shutdownAt?: readonly number[]
  /** Delay between the shutdown notice and the close (default 500 ms) */
  readonly shutdownGraceMs?: number
  readonly rest?: RestFaultPlan
  /** Stop sending when the timeline reaches this index, keeping sockets open and answering pings */
  readonly stallAt?: readonly number[]
  /** How long a stall lasts (default 5000 ms) */
  readonly stallMs?: number
  /** Seed of the garbling positions (default 1) */
  readonly seed?: number
}

export interface RestFaultPlan {
  /** Request indices answered 429 with Retry-After */
  readonly rateLimitAt?: readonly number[]
  /** Request indices answered 418 (IP ban) with Retry-After */
  readonly banAt?: readonly number[]
  /** Retry-After in seconds on injected 429 and 418 (default 1) */
  readonly retryAfterSec?: number
  /** Request indices answered 500 */
  readonly failAt?: readonly number[]
}

export type FrameFault = 'drop' | 'duplicate' | 'malformed' | undefined
export type RestFault = 'rate_limit' | 'ban' | 'fail' | undefined

/** A compiled plan: constant-time lookups by index. */
export class FaultSchedule {
  readonly skipOnDisconnect: number
  readonly shutdownGraceMs: number
  readonly stallMs: number
  readonly retryAfterSec: number
  readonly seed: number
  private readonly drop: (i: number) => boolean
  private readonly duplicate: (i: number) => boolean
  private readonly malformed: (i: number) => boolean
  private readonly disconnects: ReadonlySet<number>
  private readonly shutdowns: ReadonlySet<number>
  private readonly stalls: ReadonlySet<number>
  private readonly rateLimits: ReadonlySet<number>
  private readonly bans: ReadonlySet<number>
  private readonly fails: ReadonlySet<number>

  constructor(readonly plan: FaultPlan = {}) {
    this.skipOnDisconnect = nonNegative('skipOnDisconnect', plan.skipOnDisconnect ?? 200)
    this.shutdownGraceMs = nonNegative('shutdownGraceMs', plan.shutdownGraceMs ?? 500)
    this.stallMs = nonNegative('stallMs', plan.stallMs ?? 5000)
    this.retryAfterSec = nonNegative('rest.retryAfterSec', plan.rest?.retryAfterSec ?? 1)
    this.seed = plan.seed ?? 1
    this.drop = matcher('drop', plan.drop)
    this.duplicate = matcher('duplicate', plan.duplicate)
    this.malformed = matcher('malformed', plan.malformed)
    this.disconnects = indexSet('disconnectAt', plan.disconnectAt)
    this.shutdowns = indexSet('shutdownAt', plan.shutdownAt)
    this.stalls = indexSet('stallAt', plan.stallAt)
    this.rateLimits = indexSet('rest.rateLimitAt', plan.rest?.rateLimitAt)
    this.bans = indexSet('rest.banAt', plan.rest?.banAt)
    this.fails = indexSet('rest.failAt', plan.rest?.failAt)
  }

  /** What happens to timeline frame `i` on the wire. */
  frame(i: number): FrameFault {
    if (this.drop(i)) return 'drop'
    if (this.duplicate(i)) return 'duplicate'
    if (this.malformed(i)) return 'malformed'
    return undefined
  }

  disconnectAt(i: number): boolean {
    return this.disconnects.has(i)
  }

  shutdownAt(i: number): boolean {
    return this.shutdowns.has(i)
  }

  stallAt(i: number): boolean {
    return this.stalls.has(i)
  }

  /** What happens to REST request `i` (arrival order). */
  rest(i: number): RestFault {
    if (this.bans.has(i)) return 'ban'
    if (this.rateLimits.has(i)) return 'rate_limit'
    if (this.fails.has(i)) return 'fail'
    return undefined
  }

  /** A truncated copy of `text` (never valid JSON for a JSON object or array); the cut depends on seed and index only. */
  garble(text: string, i: number): string {
    if (text.length < 2) return '{'
    const r = mulberry32((this.seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0)()
    // Cut somewhere in the middle half so the start still looks like a real frame
    const cut = Math.max(1, Math.min(text.length - 1, Math.floor(text.length * (0.25 + 0.5 * r))))
    return text.slice(0, cut)
  }
}

/** Counts how many of the indices 0..total-1 a set selects (for reports and tests). */
export function countSelected(set: IndexSet | undefined, total: number): number {
  if (set === undefined) return 0
  if (!isIndexList(set)) return Math.floor(total / set.every)
  return new Set(set.filter((i) => i >= 0 && i < total)).size
}

// `'every' in []` is true (Array.prototype.every), so tell the two forms apart with Array.isArray
function isIndexList(set: IndexSet): set is readonly number[] {
  return Array.isArray(set)
}

function nonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`Invalid fault ${name}: ${v}. Expected a non-negative number`)
  return v
}

function indexSet(name: string, xs: readonly number[] | undefined): ReadonlySet<number> {
  for (const x of xs ?? []) {
    if (!Number.isInteger(x) || x < 0) throw new RangeError(`Invalid fault ${name}: ${x}. Expected non-negative integer indices`)
  }
  return new Set(xs ?? [])
}

function matcher(name: string, set: IndexSet | undefined): (i: number) => boolean {
  if (set === undefined) return () => false
  if (!isIndexList(set)) {
    const n = set.every
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`Invalid fault ${name}.every: ${n}. Expected a positive integer`)
    return (i) => i % n === n - 1
  }
  const s = indexSet(name, set)
  return (i) => s.has(i)
}

