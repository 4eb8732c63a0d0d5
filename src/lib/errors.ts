// Typed errors: the only place that turns them into exit codes is bin/mercury.js

/** Base class of every error mercury raises on purpose. */
export class MercuryError extends Error {
  readonly exitCode: number = 1
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
  }
}

/** Bad flag, bad value or unknown form given by the user (exit 2). */
export class UsageError extends MercuryError {
  override readonly exitCode = 2
}

/** Failure worth retrying after a pause: 429, 5xx, lost socket, book resync. */
export class RetryableError extends MercuryError {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined = undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** Failure that retrying cannot fix: corrupt data, bad credentials, a broken lake (exit 1). */
export class FatalError extends MercuryError {}

/** Input data that failed validation; names the file and line. */
export class DataError extends FatalError {
  constructor(
    message: string,
    readonly file: string,
    readonly problems: readonly DataProblem[] = [],
  ) {
    super(message)
  }
}

export interface DataProblem {
  readonly file: string
  /** 1-based line number in the decompressed CSV */
  readonly line: number
  readonly reason: string
}

/** Returns the message of any thrown value as one line. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err)
  return msg.replace(/\s*\n\s*/g, ' ').trim()
}
