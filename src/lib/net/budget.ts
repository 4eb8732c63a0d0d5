// A request-weight budget over the exchange's fixed windows. Binance counts the weight of every request per IP
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

export class WeightBudget {
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
