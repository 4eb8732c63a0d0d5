import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../helpers.js'
import {
  authorizationHeader,
  InsecureCredentialsError,
  redactSecrets,
  resolveCredentials,
} from '../../src/lib/kaggle/credentials.js'
import { UsageError } from '../../src/lib/errors.js'

function secretFile(dir: string, name: string, text: string, mode = 0o600): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const p = join(dir, name)
  writeFileSync(p, text)
  chmodSync(p, mode)
  return p
}

const KEY_JSON = JSON.stringify({ username: 'bob', key: 'filekey0123456789' })

describe('Kaggle credentials', () => {
  it('takes KAGGLE_API_TOKEN first, as the token itself or as a file holding it', () => {
    const home = tempDir()
    secretFile(join(home, '.kaggle'), 'access_token', 'file-token-123')
    secretFile(join(home, '.kaggle'), 'kaggle.json', KEY_JSON)
    const env = { KAGGLE_API_TOKEN: 'KGAT_env_token', KAGGLE_USERNAME: 'carol', KAGGLE_KEY: 'envkey0123' }
    expect(resolveCredentials({ env, home })).toEqual({ kind: 'token', token: 'KGAT_env_token', source: 'KAGGLE_API_TOKEN' })
    const f = secretFile(tempDir(), 'tok', 'KGAT_from_file\n')
    expect(resolveCredentials({ env: { KAGGLE_API_TOKEN: f }, home })).toEqual({ kind: 'token', token: 'KGAT_from_file', source: `KAGGLE_API_TOKEN file ${f}` })
  })

  it('then ~/.kaggle/access_token, then KAGGLE_USERNAME + KAGGLE_KEY, then kaggle.json', () => {
    const home = tempDir()
    const tokenFile = secretFile(join(home, '.kaggle'), 'access_token', 'file-token-123\n')
    const jsonFile = secretFile(join(home, '.kaggle'), 'kaggle.json', KEY_JSON)
    expect(resolveCredentials({ env: { KAGGLE_USERNAME: 'carol', KAGGLE_KEY: 'envkey0123' }, home })).toEqual({
      kind: 'token', token: 'file-token-123', source: tokenFile,
    })
    chmodSync(tokenFile, 0o600)
    writeFileSync(tokenFile, '')
    // An empty access_token is no token: the legacy key from the environment is next
    expect(resolveCredentials({ env: { KAGGLE_USERNAME: 'carol', KAGGLE_KEY: 'envkey0123' }, home })).toMatchObject({ kind: 'key', username: 'carol', key: 'envkey0123' })
    expect(resolveCredentials({ env: {}, home })).toEqual({ kind: 'key', username: 'bob', key: 'filekey0123456789', source: jsonFile })
  })

  it('reads kaggle.json from KAGGLE_CONFIG_DIR, else ~/.kaggle, else $XDG_CONFIG_HOME/kaggle when ~/.kaggle is absent', () => {
    const home = tempDir()
    const cfg = tempDir()
    const inCfg = secretFile(cfg, 'kaggle.json', KEY_JSON)
    expect(resolveCredentials({ env: { KAGGLE_CONFIG_DIR: cfg }, home }).source).toBe(inCfg)
    const xdg = tempDir()
    const inXdg = secretFile(join(xdg, 'kaggle'), 'kaggle.json', KEY_JSON)
    if (process.platform === 'linux') expect(resolveCredentials({ env: { XDG_CONFIG_HOME: xdg }, home }).source).toBe(inXdg)
    const inHome = secretFile(join(home, '.kaggle'), 'kaggle.json', KEY_JSON)
    expect(resolveCredentials({ env: { XDG_CONFIG_HOME: xdg }, home }).source).toBe(inHome)
  })

  it.skipIf(process.platform === 'win32')('refuses a credential file readable by group or others, naming chmod 600', () => {
    const home = tempDir()
    const p = secretFile(join(home, '.kaggle'), 'kaggle.json', KEY_JSON, 0o640)
    expect(() => resolveCredentials({ env: {}, home })).toThrow(InsecureCredentialsError)
    expect(() => resolveCredentials({ env: {}, home })).toThrow(`Run: chmod 600 ${p}`)
    const t = secretFile(tempDir(), 'tok', 'KGAT_x', 0o604)
    expect(() => resolveCredentials({ env: { KAGGLE_API_TOKEN: t }, home })).toThrow(`chmod 600 ${t}`)
    let message = ''
    try {
      resolveCredentials({ env: {}, home })
    } catch (err) {
      message = (err as Error).message
    }
    expect(message).not.toContain('filekey0123456789')
    expect(message.split('\n')).toHaveLength(1)
  })

  it('says where it looked when there are none, and what is missing from a half key', () => {
    const home = tempDir()
    expect(() => resolveCredentials({ env: {}, home })).toThrow(UsageError)
    expect(() => resolveCredentials({ env: {}, home })).toThrow(/No Kaggle credentials found. Set KAGGLE_API_TOKEN/)
    expect(() => resolveCredentials({ env: { KAGGLE_USERNAME: 'carol' }, home })).toThrow(/a key is missing/)
  })

  it('builds Bearer and Basic headers and redacts every secret form', () => {
    const tok = { kind: 'token', token: 'KGAT_secret_1', source: 'x' } as const
    const key = { kind: 'key', username: 'bob', key: 'keysecret99', source: 'y' } as const
    expect(authorizationHeader(tok)).toBe('Bearer KGAT_secret_1')
    const basic = Buffer.from('bob:keysecret99').toString('base64')
    expect(authorizationHeader(key)).toBe(`Basic ${basic}`)
    expect(redactSecrets('bad token KGAT_secret_1 here', tok)).toBe('bad token *** here')
    expect(redactSecrets(`key keysecret99 and ${basic}`, key)).toBe('key *** and ***')
  })
})
