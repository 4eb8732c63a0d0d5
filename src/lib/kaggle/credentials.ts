// Kaggle credentials, found in the order the official CLI uses (docs: Kaggle/kaggle-api README, "API
// credentials"; kagglesdk kaggle_creds.py): an access token from KAGGLE_API_TOKEN (the token, or a path to a file
// holding it), then ~/.kaggle/access_token, then the legacy key from KAGGLE_USERNAME + KAGGLE_KEY, then
// kaggle.json. OAuth credentials from `kaggle auth login` are not supported. A credential file that group or
// others may read is refused, not merely warned about. Secrets never leave this module except in the one header
// sent to api.kaggle.com; `redactSecrets` scrubs them from any text shown to the user.

import { existsSync, readFileSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { FatalError, UsageError } from '../errors.js'

export type KaggleCredentials =
  | {
      readonly kind: 'token'
      readonly token: string
      /** Where it was found, shown in messages: `KAGGLE_API_TOKEN`, `/home/a/.kaggle/access_token` */
      readonly source: string
    }
  | {
      readonly kind: 'key'
      readonly username: string
      readonly key: string
      readonly source: string
    }

export interface CredentialLookup {
  /** Environment to read KAGGLE_* from (default process.env) */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Home folder (default os.homedir()) */
  readonly home?: string
}

/** Thrown when a credential file may be read by group or others. */
export class InsecureCredentialsError extends FatalError {
  constructor(readonly path: string, mode: number) {
    super(
      `Refusing Kaggle credentials in ${path}: group or others have access to it (mode ${(mode & 0o777).toString(8).padStart(3, '0')}). ` +
        `Run: chmod 600 ${path}`,
    )
  }
}

/** Refuses a credential file with any group or other permission bit set (POSIX only). */
function checkPrivate(path: string): void {
  if (process.platform === 'win32') return
  const mode = statSync(path).mode
  if ((mode & 0o077) !== 0) throw new InsecureCredentialsError(path, mode)
}

function readSecretFile(path: string): string {
  checkPrivate(path)
  return readFileSync(path, 'utf8').trim()
}

const nonEmpty = (v: string | undefined): v is string => v !== undefined && v.trim() !== ''

/** Folder of kaggle.json: $KAGGLE_CONFIG_DIR, else ~/.kaggle, else $XDG_CONFIG_HOME/kaggle when ~/.kaggle is absent. */
export function kaggleConfigDir(o: CredentialLookup = {}): string {
  const env = o.env ?? process.env
  const home = o.home ?? homedir()
  if (nonEmpty(env.KAGGLE_CONFIG_DIR)) return env.KAGGLE_CONFIG_DIR
  const dotKaggle = join(home, '.kaggle')
  if (existsSync(dotKaggle) || process.platform !== 'linux') return dotKaggle
  const xdg = nonEmpty(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(home, '.config')
  return join(xdg, 'kaggle')
}

/**
 * Finds Kaggle credentials; throws a UsageError naming every place looked at when there are none, and an
 * InsecureCredentialsError for a file others may read.
 */
export function resolveCredentials(o: CredentialLookup = {}): KaggleCredentials {
  const env = o.env ?? process.env
  const home = o.home ?? homedir()

  // 1. KAGGLE_API_TOKEN: the token itself, or the path of a file holding it
  const envToken = env.KAGGLE_API_TOKEN?.trim()
  if (nonEmpty(envToken)) {
    if (existsSync(envToken) && statSync(envToken).isFile()) {
      const token = readSecretFile(envToken)
      if (!token) throw new UsageError(`Invalid KAGGLE_API_TOKEN: the file ${envToken} is empty. Expected the token or a file holding it`)
      return { kind: 'token', token, source: `KAGGLE_API_TOKEN file ${envToken}` }
    }
    return { kind: 'token', token: envToken, source: 'KAGGLE_API_TOKEN' }
  }

  // 2. access_token files (the config dir first when KAGGLE_CONFIG_DIR names one)
  const tokenDirs = [...(nonEmpty(env.KAGGLE_CONFIG_DIR) ? [env.KAGGLE_CONFIG_DIR] : []), join(home, '.kaggle')]
  for (const dir of tokenDirs) {
    for (const name of ['access_token', 'access_token.txt']) {
      const p = join(dir, name)
      if (!existsSync(p)) continue
      const token = readSecretFile(p)
      if (token) return { kind: 'token', token, source: p }
    }
  }

  // 3 and 4. Legacy key: env vars win over kaggle.json, field by field, as in the official CLI
  let username = nonEmpty(env.KAGGLE_USERNAME) ? env.KAGGLE_USERNAME.trim() : undefined
  let key = nonEmpty(env.KAGGLE_KEY) ? env.KAGGLE_KEY.trim() : undefined
  let source = 'KAGGLE_USERNAME and KAGGLE_KEY'
  const configDir = kaggleConfigDir({ env, home })
  const jsonPath = join(configDir, 'kaggle.json')
  if ((username === undefined || key === undefined) && existsSync(jsonPath)) {
    const text = readSecretFile(jsonPath)
    let parsed: { username?: unknown; key?: unknown }
    try {
      parsed = JSON.parse(text) as { username?: unknown; key?: unknown }
    } catch {
      // The parse error would quote the file, key included
      throw new FatalError(`Invalid Kaggle credentials file ${jsonPath}: not JSON. Expected {"username":"...","key":"..."}`)
    }
    if (username === undefined && typeof parsed.username === 'string' && parsed.username.trim()) username = parsed.username.trim()
    if (key === undefined && typeof parsed.key === 'string' && parsed.key.trim()) key = parsed.key.trim()
    source = env.KAGGLE_USERNAME || env.KAGGLE_KEY ? `KAGGLE_USERNAME/KAGGLE_KEY and ${jsonPath}` : jsonPath
  }
  if (username !== undefined && key !== undefined) return { kind: 'key', username, key, source }
  if (username !== undefined || key !== undefined) {
    throw new UsageError(
      `Incomplete Kaggle credentials: ${username === undefined ? 'a username' : 'a key'} is missing. ` +
        `Set KAGGLE_USERNAME and KAGGLE_KEY, or put both in ${jsonPath}`,
    )
  }
  throw new UsageError(
    `No Kaggle credentials found. Set KAGGLE_API_TOKEN (a token from kaggle.com/settings, or a file holding one), ` +
      `or write it to ${join(home, '.kaggle', 'access_token')}, or set KAGGLE_USERNAME and KAGGLE_KEY, ` +
      `or put kaggle.json in ${configDir} (chmod 600 in every case)`,
  )
}

/** The Authorization header value: Bearer for tokens, HTTP Basic `username:key` for legacy keys. */
export function authorizationHeader(c: KaggleCredentials): string {
  return c.kind === 'token' ? `Bearer ${c.token}` : `Basic ${Buffer.from(`${c.username}:${c.key}`).toString('base64')}`
}

/** What may be shown of credentials: their kind, where they came from, and the username of a key. */
export function describeCredentials(c: KaggleCredentials): { kind: 'token' | 'key'; source: string; username?: string } {
  return c.kind === 'token' ? { kind: 'token', source: c.source } : { kind: 'key', source: c.source, username: c.username }
}

/** Replaces every secret of `c` (and its Basic encoding) in `text` with `***`. */
export function redactSecrets(text: string, c: KaggleCredentials | undefined): string {
  if (!c) return text
  const secrets = c.kind === 'token' ? [c.token] : [c.key, Buffer.from(`${c.username}:${c.key}`).toString('base64')]
  let out = text
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***')
  return out
}
