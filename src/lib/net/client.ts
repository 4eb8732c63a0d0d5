// A REST client for one exchange host: every request passes the budget (request weight, or request rate), a 429
// pauses every request to the host for the Retry-After the exchange names (or a growing backoff where it names
// none and the caller says so), 5xx and timeouts are retried with capped exponential backoff
// and jitter, and anything else surfaces as a typed error for the caller to classify

import { logger } from '../log.js'
import { backoffMs, DEFAULT_BACKOFF, sleep, type BackoffOptions } from './backoff.js'
import type { BudgetStats, RequestBudget } from './budget.js'
import { BannedError, NetworkError, RateLimitedError, RequestTimeoutError, ServerError } from './errors.js'
import { httpGet, redactUrl } from './http.js'

const log = logger('mercury:net')

export interface RestClientOptions {
  readonly baseUrl: string
  /** Shown in messages, e.g. `binance-futures` */
  readonly name: string
  readonly budget: RequestBudget
  readonly timeoutMs: number
  /** Retries after a 5xx, a timeout or a lost connection (429 pauses are not counted) */
  readonly retries: number
  readonly backoff?: BackoffOptions
  /** Consecutive 429s tolerated before giving up */
  readonly max429?: number
  /**
   * Pause after the n-th consecutive 429 that names no Retry-After; without this option such a 429 pauses for the
   * error's default (a minute, Binance's window)
   */
  readonly unnamed429PauseMs?: ((consecutive: number) => number) | undefined
  readonly headers?: Record<string, string> | undefined
  readonly now?: () => number
  /** Sees every successful body with its URL (the collector's `--record`) */
  readonly onBody?: ((url: string, body: string) => void) | undefined
}

export interface ClientStats extends BudgetStats {
  readonly requests: number
  readonly retries: number
  readonly rateLimited: number
  readonly pausedMs: number
}

export type Params = Record<string, string | number | undefined>

export class RestClient {
  private pauseUntil = 0
  /** After a 418 the whole host is off limits: more requests during a ban make Binance extend it */
  private bannedUntil = 0
  private banMessage = ''
  private stats = { requests: 0, retries: 0, rateLimited: 0, pausedMs: 0 }
  private readonly now: () => number

  constructor(readonly o: RestClientOptions) {
    this.now = o.now ?? Date.now
  }

  get budget(): RequestBudget {
    return this.o.budget
  }

  /** The URL of a path with its query string. */
  url(path: string, params: Params): string {
    const q = Object.entries(params)
      .filter((e): e is [string, string | number] => e[1] !== undefined)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join('&')
    return `${this.o.baseUrl.replace(/\/+$/, '')}${path}${q ? `?${q}` : ''}`
  }

  /** GETs JSON, waiting for budget and pauses, retrying what may be retried. */
  async getJson<T>(path: string, params: Params, weight: number): Promise<T> {
    return (await this.getJsonText<T>(path, params, weight)).value
  }

  /** Like `getJson`, also returning the URL and the body as received. */
  async getJsonText<T = unknown>(path: string, params: Params, weight: number): Promise<{ value: T; url: string; body: string }> {
    const url = this.url(path, params)
    let failures = 0
    let limited = 0
    for (;;) {
      if (this.now() < this.bannedUntil) {
        const left = Number.isFinite(this.bannedUntil) ? this.bannedUntil - this.now() : undefined
        throw new BannedError(`${this.banMessage}; not sending more requests to ${this.o.name} during the ban`, left)
      }
      // A 429 seen by any request pauses all of them
      while (this.now() < this.pauseUntil) await sleep(this.pauseUntil - this.now())
      await this.o.budget.acquire(weight)
      // A 429 or 418 may have arrived while this request waited for weight: honour it (the weight is not refunded)
      if (this.now() < this.pauseUntil || this.now() < this.bannedUntil) continue
      const sentAt = this.now()
      this.stats.requests++
      try {
        const res = await httpGet(url, this.o.timeoutMs, this.o.headers)
        this.o.budget.noteLatency(this.now() - sentAt)
        this.o.budget.observe(res.headers, sentAt)
        let value: T
        try {
          value = JSON.parse(res.body) as T
        } catch {
          throw new NetworkError(`GET ${redactUrl(url)} returned a body that is not JSON: ${res.body.slice(0, 80)}`)
        }
        this.o.onBody?.(url, res.body)
        return { value, url, body: res.body }
      } catch (err) {
        if (err instanceof RateLimitedError || err instanceof ServerError || err instanceof BannedError) {
          this.o.budget.noteLatency(this.now() - sentAt)
        }
        if (err instanceof BannedError) {
          // Without a Retry-After, stay away for the rest of this run
          this.bannedUntil = Math.max(this.bannedUntil, err.retryAfterMs !== undefined ? this.now() + err.retryAfterMs : Infinity)
          this.banMessage = err.message
          throw err
        }
        if (err instanceof RateLimitedError) {
          limited++
          this.stats.rateLimited++
          if (limited > (this.o.max429 ?? 10)) throw err
          const named = err.named || !this.o.unnamed429PauseMs
          const pause = named ? err.retryAfterMs : (this.o.unnamed429PauseMs as (n: number) => number)(limited)
          // Rounded up so the pause is never shorter than asked, whatever the timer granularity
          const t = this.now()
          const until = t + Math.ceil(pause) + 1
          if (until > this.pauseUntil) {
            // Wall time paused, not the sum over the requests that wait it out together
            this.stats.pausedMs += until - Math.max(t, this.pauseUntil)
            this.pauseUntil = until
          }
          log.warn(
            named
              ? `${this.o.name}: HTTP 429, pausing ${(pause / 1000).toFixed(1)} s as Retry-After asks`
              : `${this.o.name}: HTTP 429 without Retry-After, pausing ${(pause / 1000).toFixed(1)} s (backoff ${limited})`,
          )
          continue
        }
        const retryable = err instanceof ServerError || err instanceof RequestTimeoutError || err instanceof NetworkError
        if (!retryable || failures >= this.o.retries) throw err
        failures++
        this.stats.retries++
        const wait = Math.max(backoffMs(failures, this.o.backoff ?? DEFAULT_BACKOFF), (err as ServerError).retryAfterMs ?? 0)
        log.warn(`${this.o.name}: ${(err as Error).message}; retry ${failures}/${this.o.retries} in ${wait} ms`)
        await sleep(wait)
      }
    }
  }

  snapshot(): ClientStats {
    return { ...this.o.budget.snapshot(), ...this.stats }
  }
}
