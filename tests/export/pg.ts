// A real PostgreSQL for the export tests: the server scripts/test.sh starts (MERCURY_TEST_PG_URL), one fresh
// database per test, dropped afterwards. Without a server these tests fail with what to start; they never skip.

import pg from 'pg'
import { afterEach } from 'vitest'

/** The role and database scripts/test.sh creates, tried when MERCURY_TEST_PG_URL is not set */
const TEST_SH_URL = 'postgres://mercury_test:mercury_test@127.0.0.1:5432/mercury_test'

const HOW =
  'The export tests need a real PostgreSQL. Run them through `npm test` (scripts/test.sh installs and starts one on ' +
  'Debian as root), or start a server and set MERCURY_TEST_PG_URL=postgres://USER:PASSWORD@HOST:PORT/DB for a role ' +
  'allowed to CREATE DATABASE.'

let checked: Promise<string> | undefined

/** URL of the test server's maintenance database; throws (never skips) when no server answers. */
export function serverUrl(): Promise<string> {
  checked ??= (async () => {
    const url = process.env.MERCURY_TEST_PG_URL || TEST_SH_URL
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
    try {
      await c.connect()
    } catch (err) {
      const why = process.env.MERCURY_TEST_PG_URL ? 'MERCURY_TEST_PG_URL does not answer' : 'MERCURY_TEST_PG_URL is not set'
      throw new Error(`${why}${process.env.CI ? ' (CI)' : ''}: ${(err as Error).message}. ${HOW}`)
    } finally {
      await c.end().catch(() => undefined)
    }
    return url
  })()
  return checked
}

const made: { admin: string; name: string }[] = []
afterEach(async () => {
  while (made.length) {
    const { admin, name } = made.pop() as { admin: string; name: string }
    // FORCE ends sessions still open there; one of another role (an autovacuum worker) needs pg_signal_backend,
    // which scripts/test.sh grants; on a server without it, wait for such a session to end instead
    for (let attempt = 0; ; attempt++) {
      try {
        await sql(admin, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
        break
      } catch (err) {
        if (attempt >= 20 || !/pg_signal_backend|being accessed by other users/.test((err as Error).message)) throw err
        await new Promise((r) => setTimeout(r, 250))
      }
    }
  }
})

/** A fresh, empty database on the test server, dropped after the test; returns its URL (with the password). */
export async function freshDatabase(): Promise<string> {
  const admin = await serverUrl()
  const name = `mercury_t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`
  await sql(admin, `CREATE DATABASE "${name}"`)
  made.push({ admin, name })
  const u = new URL(admin)
  u.pathname = `/${name}`
  return u.toString()
}

/** Runs one statement on a database and returns its rows. */
export async function sql<R extends pg.QueryResultRow = Record<string, unknown>>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return (await c.query<R>(text, params)).rows
  } finally {
    await c.end()
  }
}

/** One connection for many statements (temp tables live as long as it). */
export async function session(url: string): Promise<{ q: <R extends pg.QueryResultRow = Record<string, unknown>>(text: string) => Promise<R[]>; end: () => Promise<void> }> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  return {
    q: async <R extends pg.QueryResultRow>(text: string) => (await c.query<R>(text)).rows,
    end: () => c.end(),
  }
}

/** The URL with another password, for the redaction tests. */
export function withPassword(url: string, password: string): string {
  const u = new URL(url)
  u.password = password
  return u.toString()
}
