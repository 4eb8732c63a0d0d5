// PostgreSQL URLs: parsed once, and every text that may reach a log, an error or stdout is passed through the
// redactor so that a password (in the URL or in PGPASSWORD) never leaves the process

import { UsageError } from '../errors.js'
import { MASK, maskUserinfo, redactLoose, safeDecode } from '../util/redact.js'

export interface PgTarget {
  /** The URL as given, with the password: only for the driver */
  readonly url: string
  /** Where the URL came from, for messages: `--pg` or `MERCURY_PG_URL` */
  readonly flag: string
  /** The URL with the password replaced by `***`: for anything printed */
  readonly display: string
  readonly host: string
  readonly port: number
  readonly database: string
  readonly user: string | undefined
  /** Every form of every secret that could appear in a message: raw, URL-encoded */
  readonly secrets: readonly string[]
}


/** Parses a postgres:// URL; a malformed one is a usage error that never echoes the password. */
export function parsePgUrl(text: string, flag = '--pg', env: NodeJS.ProcessEnv = process.env): PgTarget {
  const raw = text.trim()
  let u: URL | undefined
  try {
    u = new URL(raw)
  } catch {
    u = undefined
  }
  if (!u || !/^postgres(ql)?:$/.test(u.protocol)) {
    throw new UsageError(
      `Invalid ${flag}: '${maskUserinfo(raw)}'. Expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`,
    )
  }
  const secrets: string[] = []
  if (u.password) secrets.push(u.password, safeDecode(u.password))
  if (env.PGPASSWORD) secrets.push(env.PGPASSWORD, encodeURIComponent(env.PGPASSWORD))
  const shown = new URL(raw)
  if (shown.password) shown.password = MASK
  // Query parameters may carry a password too (`?password=`), so mask those as well
  for (const key of [...shown.searchParams.keys()]) {
    if (/pass/i.test(key)) {
      const v = shown.searchParams.get(key)
      if (v) secrets.push(v, encodeURIComponent(v))
      shown.searchParams.set(key, MASK)
    }
  }
  const database = safeDecode(u.pathname.replace(/^\//, ''))
  if (!database) {
    throw new UsageError(`Invalid ${flag}: '${shown.toString()}' names no database. Expected postgres://USER@HOST/DATABASE`)
  }
  return {
    url: raw,
    flag,
    display: shown.toString().replace(encodeURIComponent(MASK), MASK),
    host: u.hostname || 'localhost',
    port: u.port ? Number(u.port) : 5432,
    database,
    user: u.username ? safeDecode(u.username) : undefined,
    secrets: [...new Set(secrets.filter((s) => s.length > 0))].sort((a, b) => b.length - a.length),
  }
}

/** Replaces every secret of the target in a text (error messages from the driver, the server, the OS). */
export function redact(text: string, target: Pick<PgTarget, 'secrets'> | undefined): string {
  let out = redactLoose(text)
  for (const s of target?.secrets ?? []) out = out.split(s).join(MASK)
  return out
}
