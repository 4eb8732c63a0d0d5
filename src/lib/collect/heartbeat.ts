// Liveness of a long-running service: every interval a small JSON document says who runs, since when, and how it
// is doing. With Redis it is `SET health:<service-id>:heartbeat <json> PX <3 × interval>`, so a dead service's key
// expires on its own; otherwise the same JSON is written atomically to a file whose mtime and `now` tell the age.
// A beat that fails is logged and skipped; the service never stops because its heartbeat cannot be written.

import { mkdirSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname } from 'node:path'
import { Redis } from 'ioredis'
import { parseRedisUrl, redactRedis, redisOptions, type RedisTarget } from '../bus/redis.js'
import { FatalError, oneLine } from '../errors.js'
import { logger } from '../log.js'
import { writeFileAtomic } from '../util/fs.js'

const log = logger('mercury:heartbeat')

export interface HeartbeatOptions {
  readonly serviceId: string
  /** Period of the beats, ms (5,000) */
  readonly intervalMs?: number
  /** A connection (left open on `stop`) or a redis:// URL (connected here, closed on `stop`) */
  readonly redis?: Redis | string | undefined
  /** Flag named when the URL is malformed (`--bus`) */
  readonly redisFlag?: string
  /** File written when there is no Redis, e.g. `<data-dir>/_state/health/<service-id>.json` */
  readonly file?: string | undefined
  /** Service-specific fields merged into each beat (`state`, counters, last error) */
  readonly status: () => object
}

export interface Heartbeat {
  /** Writes a final beat with `state: 'stopped'` and ends the timer (and a connection opened here) */
  stop(): Promise<void>
}

/** The Redis key of a service's heartbeat. */
export function heartbeatKey(serviceId: string): string {
  return `health:${serviceId}:heartbeat`
}

/** Starts beating at once and then every `intervalMs`. */
export function startHeartbeat(o: HeartbeatOptions): Heartbeat {
  const intervalMs = o.intervalMs ?? 5_000
  if (!(intervalMs > 0)) throw new FatalError(`Heartbeat interval must be positive, was ${intervalMs}`)
  if (o.redis === undefined && o.file === undefined) throw new FatalError('Heartbeat needs a Redis connection or a file')
  const startedAt = new Date().toISOString()
  const base = { serviceId: o.serviceId, pid: process.pid, host: hostname(), startedAt, intervalMs }
  const key = heartbeatKey(o.serviceId)

  let target: RedisTarget | undefined
  let redis: Redis | undefined
  if (typeof o.redis === 'string') {
    target = parseRedisUrl(o.redis, { flag: o.redisFlag ?? '--bus', expected: 'redis://host:port' })
    // No offline queue: a beat fails at once while Redis is away instead of queueing up behind the reconnects
    redis = new Redis(redisOptions(target, 'mercury-heartbeat', { enableOfflineQueue: false }))
    redis.on('error', (err: Error) => log.debug(`redis: ${redactRedis(oneLine(err), target as RedisTarget)}`))
    redis.connect().catch(() => undefined)
  } else if (o.redis) {
    redis = o.redis
  } else if (o.file) {
    try {
      mkdirSync(dirname(o.file), { recursive: true })
    } catch (err) {
      log.warn(`cannot create ${dirname(o.file)}: ${oneLine(err)}`)
    }
  }

  let failing = false
  const document = (extra: object): string => {
    let status: object
    try {
      status = o.status()
    } catch (err) {
      status = { statusError: oneLine(err) }
    }
    return JSON.stringify({ ...base, now: new Date().toISOString(), ...status, ...extra })
  }
  const write = async (json: string): Promise<void> => {
    try {
      if (redis) await redis.set(key, json, 'PX', 3 * intervalMs)
      else writeFileAtomic(o.file as string, `${json}\n`)
      if (failing) log.info(`heartbeat ${o.serviceId} written again`)
      failing = false
    } catch (err) {
      const msg = `heartbeat ${o.serviceId} not written: ${target ? redactRedis(oneLine(err), target) : oneLine(err)}`
      if (failing) log.debug(msg)
      else log.warn(msg)
      failing = true
    }
  }

  let pending: Promise<void> | undefined
  const beat = () => {
    // A beat still waiting on Redis makes the next one pointless
    if (pending) return
    pending = write(document({})).finally(() => {
      pending = undefined
    })
  }
  // A connection opened here beats as soon as it is ready rather than failing its first beat
  if (typeof o.redis === 'string') redis?.once('ready', beat)
  else beat()
  const timer = setInterval(beat, intervalMs)
  timer.unref()

  let stopping: Promise<void> | undefined
  return {
    stop() {
      stopping ??= (async () => {
        clearInterval(timer)
        if (typeof o.redis === 'string') redis?.off('ready', beat)
        await pending
        let t: NodeJS.Timeout | undefined
        await Promise.race([
          write(document({ state: 'stopped' })),
          new Promise<void>((r) => {
            t = setTimeout(r, Math.max(intervalMs, 2_000))
          }),
        ])
        clearTimeout(t)
        if (typeof o.redis === 'string') redis?.disconnect()
      })()
      return stopping
    },
  }
}
