// In-process bus: `publish` fans out synchronously to every matching handler. A handler that throws is caught,
// counted and logged, so a broken consumer can never take the collector down with it.

import { oneLine } from '../errors.js'
import { logger } from '../log.js'
import type { MarketRecord } from '../types.js'
import { channelFor, compilePattern, type Bus, type BusHandler, type BusStats } from './types.js'

const log = logger('mercury:bus')

interface Subscription {
  readonly pattern: string
  readonly match: (channel: string) => boolean
  readonly handler: BusHandler
}

/** Synchronous in-process fan-out with the `Bus` contract. */
export class MemoryBus implements Bus {
  readonly kind = 'memory' as const
  readonly display = 'memory'
  // Replaced, never mutated, so an unsubscribe from inside a handler does not disturb the fan-out in progress
  private subs: readonly Subscription[] = []
  private closed = false
  private counts = { published: 0, sent: 0, dropped: 0, delivered: 0, handlerErrors: 0 }

  publish(record: MarketRecord): void {
    this.counts.published++
    if (this.closed) {
      this.counts.dropped++
      return
    }
    this.counts.sent++
    const subs = this.subs
    if (subs.length === 0) return
    const channel = channelFor(record)
    for (const s of subs) {
      if (!s.match(channel)) continue
      try {
        s.handler(channel, record)
        this.counts.delivered++
      } catch (err) {
        this.handlerFailed(s.pattern, err)
      }
    }
  }

  async subscribe(pattern: string, handler: BusHandler): Promise<() => Promise<void>> {
    const sub: Subscription = { pattern, match: compilePattern(pattern), handler }
    this.subs = [...this.subs, sub]
    return async () => {
      this.subs = this.subs.filter((s) => s !== sub)
    }
  }

  backlog(): number {
    return 0
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.closed = true
    this.subs = []
  }

  stats(): BusStats {
    return { ...this.counts, failed: 0, decodeErrors: 0, reconnects: 0, backlog: 0, connected: !this.closed }
  }

  private handlerFailed(pattern: string, err: unknown): void {
    const n = ++this.counts.handlerErrors
    // The first few in full, then one line per thousand so a handler failing on every record cannot flood stderr
    if (n <= 10 || n % 1000 === 0) log.warn(`handler for '${pattern}' threw (${n} so far): ${oneLine(err)}`)
  }
}
