// One GET with a deadline, on Node's built-in fetch (undici keeps connections alive between calls). Status codes
// become typed errors here so every caller classifies failures the same way

import { BannedError, NetworkError, RateLimitedError, RejectedError, RequestTimeoutError, ServerError } from './errors.js'

export interface HttpResponse {
  readonly status: number
  readonly headers: Headers
  readonly body: string
}

/** Removes credentials from a URL before it is printed (`https://user:secret@host` -> `https://host`). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (!u.username && !u.password) return url
    u.username = ''
    u.password = ''
    return u.toString()
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//')
  }
}

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds; undefined when absent or unreadable. */
export function retryAfterMs(headers: Headers, nowMs: number = Date.now()): number | undefined {
  const v = headers.get('retry-after')
  if (v === null || v.trim() === '') return undefined
  const secs = Number(v)
  if (Number.isFinite(secs) && secs >= 0) return Math.round(secs * 1000)
  const at = Date.parse(v)
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined
}

/** Exchange error bodies look like `{"code":-1121,"msg":"Invalid symbol."}`; returns them when they do. */
function errorBody(body: string): { code: number | undefined; msg: string | undefined } {
  try {
    const j = JSON.parse(body) as { code?: unknown; msg?: unknown; message?: unknown }
    const code = typeof j.code === 'number' ? j.code : undefined
    const msg = typeof j.msg === 'string' ? j.msg : typeof j.message === 'string' ? j.message : undefined
    return { code, msg }
  } catch {
    return { code: undefined, msg: body.trim().slice(0, 120) || undefined }
  }
}

/** Sends a GET and returns a 2xx response; throws a typed error for anything else. */
export async function httpGet(url: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<HttpResponse> {
  const shown = redactUrl(url)
  let res: Response
  let body: string
  try {
    // The deadline covers the body too: a server that stalls mid-body is a timeout, not a hang
    const signal = AbortSignal.timeout(timeoutMs)
    res = await fetch(url, { headers, signal })
    body = await res.text()
  } catch (err) {
    const name = (err as Error)?.name
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new RequestTimeoutError(`GET ${shown} timed out after ${timeoutMs} ms`, undefined, { cause: err })
    }
    const cause = (err as { cause?: { code?: string; message?: string } })?.cause
    const why = cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err)
    throw new NetworkError(`GET ${shown} failed: ${why}`, undefined, { cause: err })
  }
  const status = res.status
  if (status >= 200 && status < 300) return { status, headers: res.headers, body }
  const wait = retryAfterMs(res.headers)
  const { code, msg } = errorBody(body)
  const said = msg !== undefined ? `: ${code !== undefined ? `${code} ` : ''}${msg}` : ''
  if (status === 429) {
    // Binance always sends Retry-After with 429; without one, a minute is the documented window
    throw new RateLimitedError(`GET ${shown} was rate limited (HTTP 429${said})`, wait ?? 60_000, wait !== undefined)
  }
  if (status === 418) throw new BannedError(`GET ${shown} was refused: IP banned (HTTP 418${said})`, wait)
  if (status >= 500) throw new ServerError(`GET ${shown} failed with HTTP ${status}${said}`, status, wait)
  throw new RejectedError(`GET ${shown} was rejected with HTTP ${status}${said}`, status, code, msg)
}
