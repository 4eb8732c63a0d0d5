// Service heartbeats: an atomically written file, or a Redis key that expires after three missed beats

import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { heartbeatKey, startHeartbeat } from '../../src/lib/collect/heartbeat.js'
import { UsageError } from '../../src/lib/errors.js'
import * as log from '../../src/lib/log.js'
import { redisTestUrl, tempDir } from '../helpers.js'

const REDIS = await redisTestUrl()
const TAG = randomBytes(4).toString('hex')

describe('heartbeat to a file', () => {
  it('writes the JSON atomically every interval, and a final stopped beat', async () => {
    const dir = tempDir()
    const file = join(dir, '_state', 'health', 'collect-a.json')
    let n = 0
    const hb = startHeartbeat({ serviceId: 'collect-a', intervalMs: 30, file, status: () => ({ state: 'running', beats: ++n }) })
    // The first beat is written at once, creating the folder
    expect(existsSync(file)).toBe(true)
    const first = JSON.parse(readFileSync(file, 'utf8'))
    expect(first).toMatchObject({ serviceId: 'collect-a', pid: process.pid, host: hostname(), intervalMs: 30, state: 'running', beats: 1 })
    expect(Date.parse(first.startedAt)).toBeGreaterThan(Date.now() - 60_000)
    expect(first.now >= first.startedAt).toBe(true)
    await vi.waitFor(() => expect(JSON.parse(readFileSync(file, 'utf8')).beats).toBeGreaterThanOrEqual(3))
    await hb.stop()
    const last = JSON.parse(readFileSync(file, 'utf8'))
    expect(last).toMatchObject({ serviceId: 'collect-a', state: 'stopped', startedAt: first.startedAt })
    expect(last.beats).toBeGreaterThanOrEqual(4)
    // Nothing else in the folder: no temp files left behind
    expect(readdirSync(join(dir, '_state', 'health'))).toEqual(['collect-a.json'])
    // No more beats after stop; stopping twice is harmless
    const beats = last.beats
    await new Promise((r) => setTimeout(r, 100))
    expect(JSON.parse(readFileSync(file, 'utf8')).beats).toBe(beats)
    await hb.stop()
  })

  it('survives a status callback that throws and a folder it cannot write', async () => {
    const dir = tempDir()
    const file = join(dir, 'hb.json')
    const hb = startHeartbeat({ serviceId: 's', intervalMs: 1000, file, status: () => {
      throw new Error('status broke')
    } })
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ serviceId: 's', statusError: 'status broke' })
    await hb.stop()
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    try {
      // A path under a file cannot be created: logged, never thrown
      const bad = startHeartbeat({ serviceId: 's', intervalMs: 1000, file: join(file, 'sub', 'x.json'), status: () => ({}) })
      await bad.stop()
    } finally {
      spy.mockRestore()
    }
  })
})

describe.skipIf(!REDIS)('heartbeat to Redis (real redis-server)', () => {
  let admin: Redis
  beforeAll(() => {
    admin = new Redis(REDIS as string)
  })
  afterAll(async () => {
    const keys = await admin.keys(`health:*${TAG}*`)
    if (keys.length) await admin.del(...keys)
    admin.disconnect()
  })

  it('SETs health:<id>:heartbeat with a TTL of three intervals, from a URL', async () => {
    const id = `collect-${TAG}-url`
    const key = heartbeatKey(id)
    expect(key).toBe(`health:${id}:heartbeat`)
    const hb = startHeartbeat({ serviceId: id, intervalMs: 1000, redis: REDIS, status: () => ({ state: 'running', messages: 42 }) })
    await vi.waitFor(async () => expect(await admin.exists(key)).toBe(1))
    const doc = JSON.parse((await admin.get(key)) as string)
    expect(doc).toMatchObject({ serviceId: id, pid: process.pid, host: hostname(), intervalMs: 1000, state: 'running', messages: 42 })
    expect(typeof doc.startedAt).toBe('string')
    expect(typeof doc.now).toBe('string')
    const ttl = await admin.pttl(key)
    expect(ttl).toBeGreaterThan(2_000)
    expect(ttl).toBeLessThanOrEqual(3_000)
    await hb.stop()
    expect(JSON.parse((await admin.get(key)) as string)).toMatchObject({ serviceId: id, state: 'stopped', messages: 42 })
    expect(await admin.pttl(key)).toBeGreaterThan(2_000)
  })

  it('uses a connection it is given and leaves it open', async () => {
    const id = `collect-${TAG}-conn`
    const conn = new Redis(REDIS as string)
    let n = 0
    const hb = startHeartbeat({ serviceId: id, intervalMs: 40, redis: conn, status: () => ({ beats: ++n }) })
    await vi.waitFor(async () => expect(JSON.parse(((await admin.get(heartbeatKey(id))) as string) ?? '{}').beats).toBeGreaterThanOrEqual(3))
    const ttl = await admin.pttl(heartbeatKey(id))
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(120)
    await hb.stop()
    expect(JSON.parse((await admin.get(heartbeatKey(id))) as string).state).toBe('stopped')
    expect(await conn.ping()).toBe('PONG')
    conn.disconnect()
  })

  it('keeps beating quietly while Redis is unreachable, never showing the password', async () => {
    const lines: string[] = []
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
      lines.push(String(s))
      return true
    })
    log.setLogLevel('debug')
    try {
      const hb = startHeartbeat({ serviceId: `x-${TAG}`, intervalMs: 50, redis: 'redis://:hunter2secret@127.0.0.1:1', status: () => ({}) })
      await new Promise((r) => setTimeout(r, 300))
      await hb.stop()
    } finally {
      spy.mockRestore()
      log.setLogLevel((process.env.MERCURY_LOG_LEVEL as log.LogLevel) ?? 'warn')
    }
    const text = lines.join('')
    expect(text).toMatch(/mercury:heartbeat warn: heartbeat x-\w+ not written/)
    expect(text).not.toContain('hunter2secret')
    // One warning for the outage, the repeats at debug
    expect(text.match(/ warn: /g)?.length).toBe(1)
  })

  it('rejects a malformed Redis URL naming the flag', () => {
    expect(() => startHeartbeat({ serviceId: 'x', redis: 'redis://:pw@host:port', status: () => ({}) })).toThrow(UsageError)
    expect(() => startHeartbeat({ serviceId: 'x', redis: 'http://:pw@host', redisFlag: '--heartbeat-redis', status: () => ({}) })).toThrow(
      "Invalid --heartbeat-redis: 'http://:***@host'. Expected redis://host:port",
    )
  })
})
