// Capped exponential backoff with jitter: attempts spread out instead of retrying in lockstep with every other
// client that saw the same 5xx

export interface BackoffOptions {
  /** Delay before the first retry, before jitter */
  readonly baseMs: number
  /** Upper bound of any delay */
  readonly capMs: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 30_000 }

/** Delay before retry number `attempt` (1-based): base * 2^(attempt-1), capped, then scaled by 0.5..1. */
export function backoffMs(attempt: number, o: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const raw = Math.min(o.capMs, o.baseMs * 2 ** Math.max(0, attempt - 1))
  // "Equal jitter": never less than half the step, so the cap still bounds the total wait
  return Math.round(raw / 2 + (raw / 2) * random())
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve()
  return new Promise((resolve) => setTimeout(resolve, ms))
}
