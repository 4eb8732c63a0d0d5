// Request budgets. `WeightBudget`: request weight over the exchange's fixed windows (Binance); `RateBudget`: a
// token bucket of requests per second for exchanges that publish no weight or usage header (Coinbase).
//
// The weight budget: Binance counts the weight of every request per IP
// in windows that start on the clock (`X-MBX-USED-WEIGHT-1M` is the count of the current minute) and answers
// 429, then 418 bans, past its limit. The budget reserves weight before a request is sent and takes the
// exchange's own count from each response, so other processes on the same IP are accounted for too.

import { sleep } from './backoff.js'

const UNIT_MS: Record<string, number> = { S: 1000, M: 60_000, H: 3_600_000, D: 86_400_000 }

/** Reads `X-MBX-USED-WEIGHT-<n><unit>`; prefers the 1-minute counter. */
export function usedWeightHeader(headers: Headers): { used: number; windowMs: number } | undefined {
  let found: { used: number; windowMs: number } | undefined
  for (const [name, value] of headers) {
    const m = /^x-mbx-used-weight-(\d+)([smhd])$/i.exec(name)
    if (!m) continue
    const used = Number(value)
    if (!Number.isFinite(used)) continue
    const windowMs = Number(m[1]) * UNIT_MS[m[2].toUpperCase()]
    if (windowMs === 60_000) return { used, windowMs }
    found ??= { used, windowMs }
  }
  return found
}

export interface BudgetStats {
  /** Weight reserved so far */
  readonly weight: number
  /** Highest weight counted in one window (ours or the exchange's, whichever was higher) */
  readonly maxWindowWeight: number
  /** Times a request waited for the next window, and the total wait */
  readonly waits: number
  readonly waitedMs: number
}

/** What a REST client needs from a budget: reserve before sending, learn from responses, report. */
export interface RequestBudget {
  /** Most weight (or requests) per window */
  readonly limit: number
  /** Waits until `weight` may be sent, then reserves it. */
  acquire(weight: number): Promise<void>
  /** Records a request's round trip (send to answer). */
  noteLatency(ms: number): void
  /** Takes the exchange's own count from a response, where it sends one. */
  observe(headers: Headers, sentAt: number): void
  snapshot(): BudgetStats
}

export class WeightBudget implements RequestBudget {
  private readonly used = new Map<number, number>()
  /** Recent reservations (time, weight), to count them again if the window changes */
  private reservations: { t: number; w: number }[] = []
  private readonly latencies: number[] = []
  private stats = { weight: 0, maxWindowWeight: 0, waits: 0, waitedMs: 0 }

  constructor(
    /** Most weight to spend per window */
    readonly limit: number,
    /** Window length; replaced by the one the exchange's header names */
    private windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  get window(): number {
    return this.windowMs
  }

  private startOf(t: number): number {
    return Math.floor(t / this.windowMs) * this.windowMs
  }

  /**
   * Near the end of a window a request may reach the exchange in the next one (clock skew, latency, a busy
   * machine): within this margin it is counted in both. The margin grows with the round trips seen lately.
   */
  private guardMs(): number {
    const base = Math.min(1000, Math.max(100, this.windowMs / 10))
    const slowest = this.latencies.length ? Math.max(...this.latencies) : 0
    return Math.min(this.windowMs / 2, Math.max(base, 2 * slowest))
  }

  /** Records a request's round trip (send to answer), which bounds how late it reached the exchange. */
  noteLatency(ms: number): void {
    this.latencies.push(ms)
    if (this.latencies.length > 32) this.latencies.shift()
  }

  private add(start: number, weight: number): void {
    const v = (this.used.get(start) ?? 0) + weight
    this.used.set(start, v)
    if (v > this.stats.maxWindowWeight) this.stats.maxWindowWeight = v
  }

  /** Waits until `weight` fits in the current window, then reserves it. */
  async acquire(weight: number): Promise<void> {
    if (weight > this.limit) throw new Error(`A request of weight ${weight} can never fit a budget of ${this.limit}`)
    for (;;) {
      const t = this.now()
      const start = this.startOf(t)
      const end = start + this.windowMs
      const spill = t + this.guardMs() >= end
      const fitsNow = (this.used.get(start) ?? 0) + weight <= this.limit
      const fitsNext = !spill || (this.used.get(end) ?? 0) + weight <= this.limit
      if (fitsNow && fitsNext) {
        this.add(start, weight)
        if (spill) this.add(end, weight)
        this.stats.weight += weight
        // Old windows are never consulted again
        for (const k of this.used.keys()) if (k < start) this.used.delete(k)
        this.reservations.push({ t, w: weight })
        const keepFrom = t - Math.max(60_000, 2 * this.windowMs)
        if (this.reservations[0].t < keepFrom) this.reservations = this.reservations.filter((r) => r.t >= keepFrom)
        return
      }
      // Wait for the next window to open; a small margin keeps us past the exchange's boundary too
      const wait = (fitsNow ? end + this.windowMs : end) - t + 5
      this.stats.waits++
      this.stats.waitedMs += wait
      await sleep(wait)
    }
  }

  /** Takes the exchange's count from a response to a request sent at `sentAt`. */
  observe(headers: Headers, sentAt: number): void {
    const h = usedWeightHeader(headers)
    if (!h) return
    if (h.windowMs !== this.windowMs) {
      // The exchange counts over another window than assumed: adopt it and count the recent reservations again
      // in the new windows; requests still in flight are in no response's count yet, and must not be forgotten
      this.windowMs = h.windowMs
      this.used.clear()
      const guard = this.guardMs()
      for (const r of this.reservations) {
        const start = this.startOf(r.t)
        this.add(start, r.w)
        if (r.t + guard >= start + this.windowMs) this.add(start + this.windowMs, r.w)
      }
    }
    const start = this.startOf(sentAt)
    // Only raise: requests still in flight are in our count but not yet in the exchange's
    if (start === this.startOf(this.now()) && h.used > (this.used.get(start) ?? 0)) {
      this.used.set(start, h.used)
      if (h.used > this.stats.maxWindowWeight) this.stats.maxWindowWeight = h.used
    }
  }

  snapshot(): BudgetStats {
    return { ...this.stats }
  }
}

/**
 * A request-rate budget for exchanges that limit requests per second and send no usage header (Coinbase: 10
 * requests/s per IP for public endpoints, bursts up to 15, enforced with a token bucket). Requests leave no faster
 * than `perSecond` on average and at most `burst` at once. A burst below the exchange's leaves room for arrival
 * jitter: with the exchange's bucket at 15 and ours at 5, requests may bunch up by a whole second on the way and
 * still fit.
 */
export class RateBudget implements RequestBudget {
  private tokens: number
  private last: number
  /** Send times of the last second, for the highest count seen in any one-second window */
  private recent: number[] = []
  private stats = { weight: 0, maxWindowWeight: 0, waits: 0, waitedMs: 0 }

  constructor(
    /** Requests per second, sustained */
    readonly limit: number,
    /** Requests that may leave at once after a quiet spell */
    readonly burst: number = Math.max(1, Math.floor(limit / 2)),
    private readonly now: () => number = Date.now,
  ) {
    if (!(limit > 0) || !(burst >= 1)) throw new Error(`A request rate needs a positive limit and a burst of at least 1, was ${limit}/${burst}`)
    this.tokens = burst
    this.last = now()
  }

  private refill(t: number): void {
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.limit) / 1000)
    this.last = t
  }

  async acquire(weight = 1): Promise<void> {
    if (weight > this.burst) throw new Error(`A request of weight ${weight} can never fit a burst of ${this.burst}`)
    for (;;) {
      const t = this.now()
      this.refill(t)
      if (this.tokens >= weight) {
        this.tokens -= weight
        this.stats.weight += weight
        this.recent.push(t)
        while (this.recent[0] <= t - 1000) this.recent.shift()
        if (this.recent.length > this.stats.maxWindowWeight) this.stats.maxWindowWeight = this.recent.length
        return
      }
      // The time the missing tokens take to drip in, rounded up so the next look finds them
      const wait = Math.max(1, Math.ceil(((weight - this.tokens) * 1000) / this.limit))
      this.stats.waits++
      this.stats.waitedMs += wait
      await sleep(wait)
    }
  }

  noteLatency(): void {
    // The bucket counts send times; latency only matters to window budgets
  }

  observe(): void {
    // No usage header to read: the exchange's own count is not published
  }

  snapshot(): BudgetStats {
    return { ...this.stats }
  }
}
