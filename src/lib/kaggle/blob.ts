// Resumable upload of one file to the createUrl StartBlobUpload returns (a Google Cloud Storage resumable
// session; docs: cloud.google.com/storage/docs/performing-resumable-uploads, and `_resume_upload` in
// Kaggle/kaggle-api kaggle_api_extended.py). The file is sent in chunks read from disk, never loaded whole:
// `PUT` with `Content-Range: bytes a-b/size`; 308 means "more please" and its `Range: bytes=0-K` says what the
// server holds; 200 or 201 means complete. After a lost connection, a timeout, 429 or 5xx, the client asks
// `Content-Range: bytes */size` and continues from K+1 (a 308 without Range means from 0). 404 or 410 means the
// session expired: the caller starts a new one. No Kaggle Authorization header is ever sent here.

import { open, type FileHandle } from 'node:fs/promises'
import { basename } from 'node:path'
import { FatalError, RetryableError } from '../errors.js'
import { logger } from '../log.js'
import { backoffMs, sleep, type BackoffOptions } from '../net/backoff.js'
import { retryAfterMs } from '../net/http.js'

const log = logger('mercury:kaggle:upload')

/** Default chunk: a multiple of 256 KiB as GCS requires for every chunk but the last. */
export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
const GCS_CHUNK_UNIT = 256 * 1024

export interface ResumableUploadOptions {
  readonly path: string
  /** Expected size; a file that no longer has it is an error (it changed since the plan) */
  readonly size: number
  readonly createUrl: string
  /** Bytes the server is known to hold: 0 for a fresh session, undefined to ask it first (a resumed session) */
  readonly knownOffset: number | undefined
  /** Bytes per PUT (default 8 MiB; rounded down to a multiple of 256 KiB unless smaller) */
  readonly chunkBytes?: number
  /** Consecutive failures tolerated before giving up (default 8) */
  readonly retries?: number
  readonly backoff?: BackoffOptions
  /** Deadline per PUT, ms (default 10 min) */
  readonly timeoutMs?: number
  /** Called after every answer with the bytes the server holds and the body bytes sent so far */
  readonly onProgress?: (committed: number, sent: number) => void
}

export type UploadOutcome =
  | { readonly kind: 'done'; readonly bytesSent: number; readonly resumedFrom: number }
  | { readonly kind: 'expired'; readonly bytesSent: number }

/** A session URL as it may be printed: its query (the upload id, a bearer capability) is dropped. */
export function shownUploadUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.origin}${u.pathname}`
  } catch {
    return '(upload URL)'
  }
}

/** Parses `Range: bytes=0-K` into the next offset K+1; 0 when absent. */
export function nextOffsetFromRange(range: string | null): number {
  if (!range) return 0
  const m = /^bytes=0-(\d+)$/.exec(range.trim())
  if (!m) throw new FatalError(`Unexpected Range header from the upload server: '${range}'. Expected bytes=0-K`)
  return Number(m[1]) + 1
}

class TransientUploadError extends RetryableError {}

type Answer = { kind: 'done' } | { kind: 'expired' } | { kind: 'partial'; offset: number }

/** Uploads (or resumes) one file into a resumable session; returns `expired` when the session is gone. */
export async function putResumable(o: ResumableUploadOptions): Promise<UploadOutcome> {
  const name = basename(o.path)
  const shown = shownUploadUrl(o.createUrl)
  const retries = o.retries ?? 8
  const backoff = o.backoff ?? { baseMs: 1000, capMs: 30_000 }
  const timeoutMs = o.timeoutMs ?? 600_000
  let chunk = Math.max(1, Math.floor(o.chunkBytes ?? DEFAULT_CHUNK_BYTES))
  if (chunk >= GCS_CHUNK_UNIT) chunk -= chunk % GCS_CHUNK_UNIT
  const size = o.size
  let offset = o.knownOffset
  let sent = 0
  let failures = 0
  let resumedFrom: number | undefined = o.knownOffset === undefined ? undefined : o.knownOffset

  const send = async (headers: Record<string, string>, body: Uint8Array | undefined): Promise<Answer> => {
    let res: Response
    try {
      res = await fetch(o.createUrl, {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream', ...headers },
        body: (body ?? new Uint8Array(0)) as unknown as RequestInit['body'],
        signal: AbortSignal.timeout(timeoutMs),
      })
      // The body of a GCS answer is small (object metadata or an error); read it so the socket is reusable
      await res.arrayBuffer()
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } })?.cause
      const why = (err as Error)?.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : cause?.code ?? cause?.message ?? (err as Error)?.message
      throw new TransientUploadError(`PUT ${shown} (${name}) failed: ${why}`, undefined, { cause: err })
    }
    const s = res.status
    if (s === 200 || s === 201) return { kind: 'done' }
    if (s === 308) return { kind: 'partial', offset: nextOffsetFromRange(res.headers.get('range')) }
    if (s === 404 || s === 410) return { kind: 'expired' }
    if (s === 408 || s === 429 || s >= 500) {
      throw new TransientUploadError(`PUT ${shown} (${name}) answered HTTP ${s}`, retryAfterMs(res.headers))
    }
    throw new FatalError(`The upload server refused ${name}: HTTP ${s} from PUT ${shown}`)
  }

  const status = () => send({ 'content-range': `bytes */${size}` }, undefined)

  let fh: FileHandle | undefined
  try {
    fh = await open(o.path, 'r')
    const st = await fh.stat()
    if (st.size !== size) throw new FatalError(`${o.path} changed since the plan: ${st.size} bytes, was ${size}. Run again`)
    for (;;) {
      try {
        if (offset === undefined) {
          const a = await status()
          if (a.kind === 'done') return { kind: 'done', bytesSent: sent, resumedFrom: resumedFrom ?? size }
          if (a.kind === 'expired') return { kind: 'expired', bytesSent: sent }
          offset = a.offset
          resumedFrom ??= offset
          log.info(`${name}: the server holds ${offset} of ${size} bytes; continuing from there`)
          o.onProgress?.(offset, sent)
        }
        if (offset > size) throw new FatalError(`The upload server claims ${offset} bytes of ${name}, which has ${size}`)
        let a: Answer
        if (size === 0) {
          a = await status()
        } else {
          const n = Math.min(chunk, size - offset)
          // A fresh buffer per chunk: a server may answer before reading a whole body, and fetch may still hold it
          const buf = Buffer.allocUnsafe(n)
          let got = 0
          while (got < n) {
            const r = await fh.read(buf, got, n - got, offset + got)
            if (r.bytesRead === 0) throw new FatalError(`${o.path} shrank while it was being uploaded. Run again`)
            got += r.bytesRead
          }
          sent += n
          a = await send({ 'content-range': `bytes ${offset}-${offset + n - 1}/${size}` }, buf)
        }
        if (a.kind === 'done') {
          o.onProgress?.(size, sent)
          return { kind: 'done', bytesSent: sent, resumedFrom: resumedFrom ?? 0 }
        }
        if (a.kind === 'expired') return { kind: 'expired', bytesSent: sent }
        if (a.offset > offset) failures = 0
        else if (++failures > retries) throw new FatalError(`The upload of ${name} makes no progress: the server stays at ${a.offset} of ${size} bytes`)
        offset = a.offset
        o.onProgress?.(offset, sent)
      } catch (err) {
        if (!(err instanceof TransientUploadError)) throw err
        if (++failures > retries) {
          throw new RetryableError(`${err.message}; gave up after ${retries} retries. Run again to resume where it stopped`, undefined, { cause: err })
        }
        const wait = Math.max(backoffMs(failures, backoff), err.retryAfterMs ?? 0)
        log.warn(`${err.message}; asking the server what it holds and resuming in ${wait} ms (retry ${failures}/${retries})`)
        await sleep(wait)
        // What reached the server before the failure is unknown: ask
        offset = undefined
      }
    }
  } finally {
    await fh?.close()
  }
}
