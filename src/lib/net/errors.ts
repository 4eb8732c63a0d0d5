// Typed failures of REST calls, classified once: rate limited (429, retry after the pause the exchange names),
// banned (418, stop), server trouble (5xx, timeouts, lost sockets: retry with backoff) and rejected (other 4xx:
// retrying cannot help)

import { FatalError, RetryableError } from '../errors.js'

/**
 * HTTP 429: the exchange asks for a pause of `retryAfterMs` before the next request. `named` says whether it sent
 * that pause (Retry-After) or the pause is the caller's default.
 */
export class RateLimitedError extends RetryableError {
  constructor(
    message: string,
    override readonly retryAfterMs: number,
    readonly named: boolean = true,
  ) {
    super(message, retryAfterMs)
  }
}

/** HTTP 418: the IP is banned until `retryAfterMs` has passed (Binance bans IPs that ignore 429s). */
export class BannedError extends FatalError {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(message)
  }
}

/** HTTP 5xx: the server failed; the request may be repeated. */
export class ServerError extends RetryableError {
  constructor(
    message: string,
    readonly status: number,
    retryAfterMs: number | undefined = undefined,
  ) {
    super(message, retryAfterMs)
  }
}

/** No complete response within the per-request timeout. */
export class RequestTimeoutError extends RetryableError {}

/** Connection refused, reset or lost, or a body that is not the JSON the endpoint sends. */
export class NetworkError extends RetryableError {}

/** Any other 4xx: a bad symbol, parameter or interval; repeating the request gives the same answer. */
export class RejectedError extends FatalError {
  constructor(
    message: string,
    readonly status: number,
    /** The exchange's own error code and text, when its body carries them */
    readonly code: number | undefined,
    readonly detail: string | undefined,
  ) {
    super(message)
  }
}
