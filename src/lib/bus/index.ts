// The record bus: `createBus('memory' | 'redis://…')` and the shared contract

import type { BusOptions, Bus } from './types.js'
import { MemoryBus } from './memory.js'
import { RedisBus, parseRedisUrl } from './redis.js'

export * from './types.js'
export { MemoryBus } from './memory.js'
export { RedisBus, parseRedisUrl, redactRedis, connectRedis, type RedisTarget, type RedisBusMode } from './redis.js'

/** Opens the bus a `--bus` value names: `memory`, `redis://[user:password@]host:port[/db][?mode=streams&maxlen=N]` or `rediss://…`. */
export async function createBus(spec: string, opts: BusOptions = {}): Promise<Bus> {
  const s = spec.trim()
  if (s === 'memory') return new MemoryBus()
  const target = parseRedisUrl(s, { flag: opts.flag ?? '--bus', expected: 'memory or redis://host:port' })
  return RedisBus.connect(target, opts)
}
