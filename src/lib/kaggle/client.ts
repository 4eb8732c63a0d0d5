// The Kaggle public API as kagglesdk speaks it: every call is `POST {base}/v1/{service}/{Method}` with the
// request object as a camelCase JSON body, and a JSON reply (a body with `code >= 400` is an error too).
// 401 and 403 mean bad credentials and are fatal. Reads are retried on 429, 5xx and lost connections with capped
// backoff; calls that create something are retried only when the request cannot have been processed (429, a
// refused connection), because a create that timed out may have happened: that is an unknown outcome to
// check on kaggle.com, never something to repeat blindly.

import { FatalError, UsageError } from '../errors.js'
import { logger } from '../log.js'
import { backoffMs, sleep, type BackoffOptions } from '../net/backoff.js'
import { NetworkError, RateLimitedError, RequestTimeoutError, ServerError } from '../net/errors.js'
import { redactUrl, retryAfterMs } from '../net/http.js'
import { authorizationHeader, redactSecrets, type KaggleCredentials } from './credentials.js'

const log = logger('mercury:kaggle')

export const DEFAULT_KAGGLE_API_URL = 'https://api.kaggle.com'

export const SERVICES = {
  blobs: 'blobs.BlobApiService',
  datasets: 'datasets.DatasetApiService',
  kernels: 'kernels.KernelsApiService',
  security: 'security.OAuthService',
} as const

/** Kaggle answered 401 or 403: the credentials are wrong, expired or lack the permission. */
export class KaggleAuthError extends FatalError {}

/** Kaggle refused a request (4xx other than auth, or an error in the reply body); repeating it cannot help. */
export class KaggleApiError extends FatalError {
  constructor(
    message: string,
    readonly status: number,
    readonly detail: string | undefined,
  ) {
    super(message)
  }
}

/** A call that creates something failed after it may have reached Kaggle: whether it took effect is unknown. */
export class UnknownOutcomeError extends FatalError {}

export interface KaggleClientOptions {
  /** API root, e.g. https://api.kaggle.com (no /v1) */
  readonly baseUrl: string
  readonly credentials: KaggleCredentials
  /** Per-request deadline, ms (default 60 s) */
  readonly timeoutMs?: number
  /** Retries of a retryable failure (default 5) */
  readonly retries?: number
  readonly backoff?: BackoffOptions
}

export interface CallOptions {
  /** `safe` calls (reads, StartBlobUpload) are retried on any transient failure; `create` calls are not (see above) */
  readonly kind?: 'safe' | 'create'
}

/** Extracts Kaggle's error text from a reply body: `{"code":404,"message":"..."}` and similar. */
function errorText(body: string): string | undefined {
  try {
    const j = JSON.parse(body) as { message?: unknown; error?: unknown; errors?: unknown }
    if (typeof j.message === 'string' && j.message) return j.message
    if (typeof j.error === 'string' && j.error) return j.error
    if (j.error && typeof j.error === 'object' && typeof (j.error as { message?: unknown }).message === 'string') {
      return (j.error as { message: string }).message
    }
    if (Array.isArray(j.errors) && j.errors.length) return j.errors.map(String).join('; ')
    return undefined
  } catch {
    return body.trim().slice(0, 160) || undefined
  }
}

const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, capMs: 30_000 }

export class KaggleClient {
  /** Calls sent, by method name (tests and --json read it) */
  readonly sent: string[] = []

  constructor(readonly o: KaggleClientOptions) {}

  get credentials(): KaggleCredentials {
    return this.o.credentials
  }

  private url(service: string, method: string): string {
    return `${this.o.baseUrl.replace(/\/+$/, '')}/v1/${service}/${method}`
  }

  /** Sends one RPC and returns the parsed reply; throws typed errors (see the file comment). */
  async call<T>(service: string, method: string, body: object, opts: CallOptions = {}): Promise<T> {
    const kind = opts.kind ?? 'safe'
    const url = this.url(service, method)
    const shown = `POST ${redactUrl(url)}`
    const retries = this.o.retries ?? 5
    let failures = 0
    for (;;) {
      try {
        return await this.once<T>(url, shown, method, body)
      } catch (err) {
        const transient =
          err instanceof RateLimitedError || err instanceof ServerError || err instanceof NetworkError || err instanceof RequestTimeoutError
        if (!transient) throw err
        const neverSent = err instanceof RateLimitedError || (err instanceof NetworkError && /ECONNREFUSED|ENOTFOUND|EAI_AGAIN/.test(err.message))
        if (kind === 'create' && !neverSent) {
          throw new UnknownOutcomeError(
            `${method} may or may not have taken effect: ${(err as Error).message}. Check kaggle.com before running again`,
            { cause: err },
          )
        }
        if (failures >= retries) throw err
        failures++
        const wait = Math.max(backoffMs(failures, this.o.backoff ?? DEFAULT_BACKOFF), (err as ServerError).retryAfterMs ?? 0)
        log.warn(`${(err as Error).message}; retry ${failures}/${retries} in ${wait} ms`)
        await sleep(wait)
      }
    }
  }

  private async once<T>(url: string, shown: string, method: string, body: object): Promise<T> {
    const c = this.o.credentials
    const timeoutMs = this.o.timeoutMs ?? 60_000
    let res: Response
    let text: string
    this.sent.push(method)
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          authorization: authorizationHeader(c),
          'content-type': 'application/json',
          accept: 'application/json',
          'user-agent': 'mercury-kaggle-upload',
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      })
      text = await res.text()
    } catch (err) {
      const name = (err as Error)?.name
      if (name === 'TimeoutError' || name === 'AbortError') {
        throw new RequestTimeoutError(`${shown} timed out after ${timeoutMs} ms`, undefined, { cause: err })
      }
      const cause = (err as { cause?: { code?: string; message?: string } })?.cause
      const why = cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err)
      throw new NetworkError(redactSecrets(`${shown} failed: ${why}`, c), undefined, { cause: err })
    }
    const status = res.status
    const detail = errorText(text)
    const said = detail !== undefined ? `: ${redactSecrets(detail, c)}` : ''
    if (status === 401 || status === 403) {
      throw new KaggleAuthError(`Kaggle rejected the credentials (${c.source}): HTTP ${status} from ${method}${said}`)
    }
    if (status === 429) throw new RateLimitedError(`${shown} was rate limited (HTTP 429${said})`, retryAfterMs(res.headers) ?? 10_000)
    if (status >= 500) throw new ServerError(`${shown} failed with HTTP ${status}${said}`, status, retryAfterMs(res.headers))
    if (status < 200 || status >= 300) {
      throw new KaggleApiError(`Kaggle refused ${method} (HTTP ${status}${said})`, status, detail)
    }
    let value: unknown
    try {
      value = text.trim() === '' ? {} : JSON.parse(text)
    } catch {
      throw new NetworkError(`${shown} returned a body that is not JSON: ${redactSecrets(text.slice(0, 80), c)}`)
    }
    const code = (value as { code?: unknown })?.code
    if (typeof code === 'number' && code >= 400) {
      if (code === 401 || code === 403) throw new KaggleAuthError(`Kaggle rejected the credentials (${c.source}): code ${code} from ${method}${said}`)
      throw new KaggleApiError(`Kaggle refused ${method} (code ${code}${said})`, code, detail)
    }
    return value as T
  }
}

/** The API root from --api-url, else MERCURY_KAGGLE_API_URL, else api.kaggle.com; checks it is an http(s) URL. */
export function apiBaseUrl(flag: string | undefined, env: Readonly<Record<string, string | undefined>> = process.env): string {
  const from = flag !== undefined ? '--api-url' : 'MERCURY_KAGGLE_API_URL'
  const url = flag ?? (env.MERCURY_KAGGLE_API_URL || DEFAULT_KAGGLE_API_URL)
  let ok = false
  try {
    const u = new URL(url)
    ok = u.protocol === 'https:' || u.protocol === 'http:'
  } catch {
    ok = false
  }
  if (!ok) throw new UsageError(`Invalid ${from}: '${redactUrl(url)}'. Expected an http(s) URL such as ${DEFAULT_KAGGLE_API_URL}`)
  return url.replace(/\/+$/, '')
}
