// One node-postgres connection for the export: connect with a timeout, stream a file into COPY FROM STDIN, and
// turn every driver or server error into a one-line FatalError with the password masked

import { createReadStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import type { Client, QueryResultRow } from 'pg'
import { FatalError } from '../errors.js'
import { redact, type PgTarget } from './url.js'

/** A statement PostgreSQL refused; `code` is its SQLSTATE (23505: unique violation). */
export class PgError extends FatalError {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message)
  }
}

export interface Pg {
  readonly target: PgTarget
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: readonly unknown[]): Promise<{ rows: R[]; rowCount: number }>
  /** Streams a CSV file into a `COPY ... FROM STDIN` statement; returns the rows copied. */
  copyFile(sql: string, file: string): Promise<number>
  close(): Promise<void>
}

/** The message of a driver, server or OS error, including the parts of an AggregateError (IPv6 and IPv4 tries). */
export function describePgError(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length) {
    return [...new Set(err.errors.map((e) => describePgError(e)))].join('; ')
  }
  if (err instanceof Error) {
    const e = err as Error & { code?: string; detail?: string }
    const msg = e.message || e.code || e.name
    return e.detail ? `${msg} (${e.detail})` : msg
  }
  return String(err)
}

/** Connects to PostgreSQL; an unreachable server or refused login is a FatalError naming the masked URL. */
export async function connectPg(target: PgTarget, opts: { timeoutMs?: number; applicationName?: string } = {}): Promise<Pg> {
  const { default: pg } = await import('pg')
  const client: Client = new pg.Client({
    connectionString: target.url,
    connectionTimeoutMillis: opts.timeoutMs ?? 15_000,
    application_name: opts.applicationName ?? 'mercury export',
  })
  // A connection lost between queries is reported by the next query; without a listener it would crash the process
  let lost: unknown
  client.on('error', (err) => {
    lost = err
  })
  try {
    await client.connect()
  } catch (err) {
    await client.end().catch(() => undefined)
    throw new FatalError(`Cannot connect to PostgreSQL at ${target.display} (${target.flag}): ${redact(describePgError(err), target)}`)
  }
  const fail = (err: unknown, what: string): never => {
    const cause = lost ?? err
    const msg = redact(describePgError(cause), target)
    const code = (cause as { code?: unknown }).code
    throw new PgError(`PostgreSQL ${what} failed at ${target.display}: ${msg}`, typeof code === 'string' ? code : undefined)
  }
  return {
    target,
    async query<R extends QueryResultRow>(sql: string, params: readonly unknown[] = []) {
      try {
        const r = await client.query<R>(sql, params as unknown[])
        return { rows: r.rows, rowCount: r.rowCount ?? 0 }
      } catch (err) {
        return fail(err, firstWords(sql))
      }
    },
    async copyFile(sql: string, file: string) {
      const { from: copyFrom } = await import('pg-copy-streams')
      try {
        const stream = client.query(copyFrom(sql))
        await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), stream)
        return stream.rowCount
      } catch (err) {
        return fail(err, 'COPY')
      }
    },
    async close() {
      await client.end().catch(() => undefined)
    },
  }
}

/** `CREATE TABLE`, `INSERT INTO "public"."bars"`: enough of a statement to say which one failed. */
function firstWords(sql: string): string {
  return sql.trim().split(/\s+/).slice(0, 3).join(' ').replace(/\($/, '')
}

/** Runs `fn` inside a transaction; any error rolls it back. */
export async function inTransaction<T>(db: Pg, fn: () => Promise<T>): Promise<T> {
  await db.query('BEGIN')
  try {
    const out = await fn()
    await db.query('COMMIT')
    return out
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined)
    throw err
  }
}
