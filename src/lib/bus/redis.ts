// Redis bus. Pub/sub by default (PUBLISH; SUBSCRIBE for exact names, PSUBSCRIBE for patterns): fire-and-forget,
// consumers see what is published while they are subscribed. `?mode=streams` uses one Redis stream per channel
// (XADD with approximate MAXLEN trimming), read with XREAD BLOCK, so a consumer that blinks misses nothing that
// the stream still holds.
//
// Publishing never blocks the collector: `publish` appends to an in-process queue and, once per event-loop turn,
// batches of at most `batchSize` records (with at most `maxInFlight` records awaiting replies) go to the server as
// one EVALSHA each: a tiny Lua loop that PUBLISHes (or XADDs) every record of the batch. One command per batch
// instead of one per record is what makes 50,000 records/s cheap for both ioredis and Redis (about twice the
// throughput of a pipeline of PUBLISH commands). Where scripting is refused, batches go as pipelines. While
// the connection is down ioredis reconnects with capped doubling backoff and the queue keeps the newest
// `maxBacklog` records, dropping and counting the oldest. Batches in flight when a connection drops are resent by
// ioredis once it is back (pub/sub is at-least-once for them, at-most-once for what was dropped).
//
// The URL may carry a password: it goes to the driver only; messages show `display` and pass through `redactRedis`.

import { Redis, type RedisOptions } from 'ioredis'
import { FatalError, RetryableError, UsageError, oneLine } from '../errors.js'
import { MASK, maskUserinfo, redactLoose, safeDecode } from '../util/redact.js'
import { logger } from '../log.js'
import type { MarketRecord } from '../types.js'
import {
  DEFAULT_MAX_BACKLOG,
  channelFor,
  decodeRecord,
  encodeRecord,
  isGlob,
  type Bus,
  type BusHandler,
  type BusOptions,
  type BusStats,
} from './types.js'

const log = logger('mercury:bus:redis')

export type RedisBusMode = 'pubsub' | 'streams'

/** A parsed redis:// or rediss:// URL. */
export interface RedisTarget {
  /** The URL as given, with the password: only for the driver */
  readonly url: string
  /** The URL with the password replaced by `***`: for anything printed */
  readonly display: string
  readonly host: string
  readonly port: number
  readonly db: number
  readonly username: string | undefined
  readonly password: string | undefined
  readonly tls: boolean
  readonly mode: RedisBusMode
  /** Approximate length each stream is trimmed to (streams mode) */
  readonly maxlen: number
  /** Every form of the password that could appear in a message: raw, URL-encoded */
  readonly secrets: readonly string[]
}

export interface ParseRedisOptions {
  /** Flag named in messages (`--bus`) */
  readonly flag?: string
  /** The expected form, as printed after "Expected" */
  readonly expected?: string
  /** Whether `?mode=` and `?maxlen=` are accepted (bus URLs) */
  readonly busParams?: boolean
}

const DEFAULT_MAXLEN = 100_000

// ARGV: channel, payload, channel, payload, ...
const PUBLISH_LUA = `for i = 1, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end return #ARGV / 2`
// KEYS: one stream per record; ARGV: maxlen, then one payload per record
const XADD_LUA = `for i = 1, #KEYS do redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[1], '*', 'd', ARGV[i + 1]) end return #KEYS`

/** Parses a redis:// URL; a malformed one is a usage error that never echoes the password. */
export function parseRedisUrl(text: string, o: ParseRedisOptions = {}): RedisTarget {
  const flag = o.flag ?? '--bus'
  const expected = o.expected ?? 'memory or redis://host:port'
  const raw = text.trim()
  const bad = (why = ''): UsageError =>
    new UsageError(`Invalid ${flag}: '${redactLoose(maskUserinfo(raw))}'${why}. Expected ${expected}`)
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw bad()
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw bad()
  if (!u.hostname) throw bad(' names no host')
  const secrets: string[] = []
  const password = u.password ? safeDecode(u.password) : undefined
  if (u.password) secrets.push(u.password, safeDecode(u.password), encodeURIComponent(safeDecode(u.password)))
  const shown = new URL(raw)
  if (shown.password) shown.password = MASK
  const display = shown.toString().replace(encodeURIComponent(MASK), MASK)
  const badShown = (why: string, exp = expected): UsageError => new UsageError(`Invalid ${flag}: '${display}'${why}. Expected ${exp}`)
  const port = u.port ? Number(u.port) : 6379
  const path = u.pathname.replace(/^\//, '')
  if (path !== '' && !/^\d{1,5}$/.test(path)) throw badShown(` has database '${path}'`, `${expected}[/db] with a numeric db`)
  let mode: RedisBusMode = 'pubsub'
  let maxlen = DEFAULT_MAXLEN
  for (const [k, v] of u.searchParams) {
    if (o.busParams !== false && k === 'mode') {
      if (v !== 'pubsub' && v !== 'streams') throw badShown(` has mode '${v}'`, 'mode=pubsub or mode=streams')
      mode = v
    } else if (o.busParams !== false && k === 'maxlen') {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw badShown(` has maxlen '${v}'`, 'maxlen as a positive integer')
      maxlen = Number(v)
    } else {
      throw badShown(` has unknown parameter '${k}'`, o.busParams === false ? expected : `${expected}[?mode=streams&maxlen=N]`)
    }
  }
  return {
    url: raw,
    display,
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    db: path === '' ? 0 : Number(path),
    username: u.username ? safeDecode(u.username) : undefined,
    password,
    tls: u.protocol === 'rediss:',
    mode,
    maxlen,
    secrets: [...new Set(secrets.filter((s) => s.length > 0))].sort((a, b) => b.length - a.length),
  }
}

/** Replaces the target's password, in any form, in a text bound for a log or an error. */
export function redactRedis(text: string, target: Pick<RedisTarget, 'secrets'>): string {
  let out = redactLoose(text)
  for (const s of target.secrets) out = out.split(s).join(MASK)
  return out
}

/** ioredis options for a target: capped doubling reconnect backoff, no ready-check stalls, a client name. */
export function redisOptions(target: RedisTarget, name: string, extra: RedisOptions = {}, reconnectBaseMs = 100): RedisOptions {
  return {
    host: target.host,
    port: target.port,
    db: target.db,
    username: target.username,
    password: target.password,
    tls: target.tls ? { servername: target.host } : undefined,
    connectionName: name,
    lazyConnect: true,
    connectTimeout: 10_000,
    // 100 ms doubling to a 5 s cap; never give up (the collector runs for months)
    retryStrategy: (times: number) => Math.min(reconnectBaseMs * 2 ** Math.min(times - 1, 6), Math.max(5_000, reconnectBaseMs)),
    ...extra,
  }
}

/**
 * Opens a connection and waits until it is ready; a refused login is a FatalError, anything else still failing
 * after `timeoutMs` a RetryableError. Messages name the flag and the redacted URL.
 */
export async function connectRedis(
  target: RedisTarget,
  name: string,
  o: { flag?: string | undefined; timeoutMs?: number | undefined; reconnectBaseMs?: number | undefined; extra?: RedisOptions } = {},
): Promise<Redis> {
  const flag = o.flag ?? '--bus'
  const client = new Redis(redisOptions(target, name, o.extra, o.reconnectBaseMs))
  let last: Error | undefined
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => done(new RetryableError(`Cannot reach ${flag} ${target.display}: ${why(last) || 'no answer'} (waited ${o.timeoutMs ?? 10_000} ms)`)), o.timeoutMs ?? 10_000)
      const onError = (err: Error) => {
        last = err
        if (/^(WRONGPASS|NOAUTH|NOPERM)|invalid password|invalid username/i.test(err.message)) {
          done(new FatalError(`Redis refused the login for ${flag} ${target.display}: ${why(err)}`))
        }
      }
      const onReady = () => done()
      function done(err?: Error) {
        clearTimeout(timer)
        client.off('error', onError)
        client.off('ready', onReady)
        if (err) reject(err)
        else resolve()
      }
      client.on('error', onError)
      client.once('ready', onReady)
      client.connect().catch(() => undefined)
    })
  } catch (err) {
    client.disconnect()
    throw err
  }
  return client

  function why(err: Error | undefined): string {
    return err ? redactRedis(oneLine(err), target) : ''
  }
}

interface Sub {
  readonly pattern: string
  readonly handler: BusHandler
}

interface Batch {
  readonly first: number
  readonly last: number
}

/** The Redis transport of the `Bus` contract. */
export class RedisBus implements Bus {
  readonly kind = 'redis' as const
  readonly display: string
  private readonly maxBacklog: number
  private readonly batchSize: number
  private readonly maxInFlight: number
  private readonly flag: string
  private readonly name: string

  // Accepted records not yet sent: queue[head..]; seq numbers are contiguous, the newest is `accepted`
  private queue: MarketRecord[] = []
  private head = 0
  private accepted = 0
  private inflight: Batch[] = []
  private inflightRecords = 0
  private waiters: { seq: number; resolve: () => void }[] = []
  private scheduled = false
  private closing: Promise<void> | undefined
  private down = false

  // Pub/sub consumer state: one subscriber connection, handlers per exact channel and per pattern
  private sub: Redis | undefined
  private subConnecting: Promise<Redis> | undefined
  private readonly exact = new Map<string, Sub[]>()
  private readonly patterns = new Map<string, Sub[]>()
  private readonly readers = new Set<StreamReader>()

  private counts = {
    published: 0,
    sent: 0,
    dropped: 0,
    failed: 0,
    delivered: 0,
    handlerErrors: 0,
    decodeErrors: 0,
    reconnects: 0,
  }

  private constructor(
    readonly target: RedisTarget,
    private readonly pub: Redis,
    private readonly o: BusOptions,
    /** SHA1 of the loaded batch script; undefined where scripting is refused (pipelines then) */
    private readonly sha: string | undefined,
  ) {
    this.display = target.display
    this.maxBacklog = o.maxBacklog ?? DEFAULT_MAX_BACKLOG
    // A batch is one command: keep its argument list bounded
    this.batchSize = Math.min(o.batchSize ?? 2_000, 20_000)
    this.maxInFlight = o.maxInFlight ?? 20_000
    this.flag = o.flag ?? '--bus'
    this.name = o.clientName ?? 'mercury-bus'
    pub.on('ready', () => {
      if (this.down) {
        this.counts.reconnects++
        log.info(`reconnected to ${this.display}`)
      }
      this.down = false
      this.schedule()
    })
    pub.on('close', () => {
      if (!this.closing && !this.down) log.warn(`connection to ${this.display} lost; reconnecting (keeping up to ${this.maxBacklog} records)`)
      this.down = true
    })
    pub.on('error', (err: Error) => this.transportError('publisher', err))
  }

  /** Connects the publishing connection (the subscriber one opens on the first `subscribe`). */
  static async connect(target: RedisTarget, o: BusOptions = {}): Promise<RedisBus> {
    const name = o.clientName ?? 'mercury-bus'
    const pub = await connectRedis(target, `${name}-pub`, { flag: o.flag, timeoutMs: o.connectTimeoutMs, reconnectBaseMs: o.reconnectBaseMs })
    let sha: string | undefined
    if (o.batchCommand !== 'pipeline') {
      try {
        sha = (await pub.script('LOAD', target.mode === 'streams' ? XADD_LUA : PUBLISH_LUA)) as string
      } catch (err) {
        log.info(`${target.display} refuses scripts (${redactRedis(oneLine(err), target)}); publishing with pipelines`)
      }
    }
    return new RedisBus(target, pub, o, sha)
  }

  publish(record: MarketRecord): void {
    this.counts.published++
    if (this.closing) {
      this.drop(1)
      return
    }
    this.accepted++
    this.queue.push(record)
    if (this.queue.length - this.head > this.maxBacklog) {
      this.queue[this.head++] = undefined as unknown as MarketRecord
      this.compact()
      this.drop(1)
      if (this.waiters.length) this.settle()
    }
    if (!this.scheduled) this.schedule()
  }

  backlog(): number {
    return this.queue.length - this.head
  }

  flush(): Promise<void> {
    const seq = this.accepted
    if (this.minUnsettled() > seq) return Promise.resolve()
    this.schedule()
    return new Promise((resolve) => this.waiters.push({ seq, resolve }))
  }

  async subscribe(pattern: string, handler: BusHandler): Promise<() => Promise<void>> {
    if (this.closing) throw new FatalError(`The bus ${this.display} is closed`)
    if (this.target.mode === 'streams') {
      const reader = new StreamReader(this, pattern, handler)
      this.readers.add(reader)
      await reader.start()
      return async () => {
        this.readers.delete(reader)
        await reader.stop()
      }
    }
    const sub = await this.subscriber()
    const glob = isGlob(pattern)
    const map = glob ? this.patterns : this.exact
    const entry: Sub = { pattern, handler }
    const list = map.get(pattern)
    if (list) {
      map.set(pattern, [...list, entry])
    } else {
      map.set(pattern, [entry])
      await (glob ? sub.psubscribe(pattern) : sub.subscribe(pattern))
    }
    return async () => {
      const now = map.get(pattern)
      if (!now || !now.includes(entry)) return
      const rest = now.filter((s) => s !== entry)
      if (rest.length) {
        map.set(pattern, rest)
        return
      }
      map.delete(pattern)
      if (this.sub && this.sub.status !== 'end') {
        await (glob ? this.sub.punsubscribe(pattern) : this.sub.unsubscribe(pattern)).catch(() => undefined)
      }
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  stats(): BusStats {
    return { ...this.counts, backlog: this.backlog(), connected: this.pub.status === 'ready' }
  }

  /** A new connection to the same server, for stream readers and tests. */
  async duplicate(role: string): Promise<Redis> {
    const c = await connectRedis(this.target, `${this.name}-${role}`, {
      flag: this.flag,
      timeoutMs: this.o.connectTimeoutMs,
      reconnectBaseMs: this.o.reconnectBaseMs,
    })
    let down = false
    c.on('error', (err: Error) => this.transportError(role, err))
    c.on('close', () => {
      if (!down && !this.closing && c.status !== 'end') {
        const missed = this.target.mode === 'pubsub' ? ' (records published meanwhile are not seen)' : ''
        log.warn(`${role} connection to ${this.display} lost; reconnecting${missed}`)
      }
      down = true
    })
    c.on('ready', () => {
      if (down) this.counts.reconnects++
      down = false
    })
    return c
  }

  /** Hands one decoded payload to the handlers; called by the subscriber connection and stream readers. */
  deliver(subs: readonly Sub[] | undefined, channel: string, payload: string): void {
    if (!subs || subs.length === 0) return
    let record: MarketRecord
    try {
      record = decodeRecord(payload)
    } catch (err) {
      const n = ++this.counts.decodeErrors
      if (n <= 10 || n % 1000 === 0) log.warn(`payload on '${channel}' is not a record (${n} so far): ${oneLine(err)}`)
      return
    }
    for (const s of subs) {
      try {
        s.handler(channel, record)
        this.counts.delivered++
      } catch (err) {
        const n = ++this.counts.handlerErrors
        if (n <= 10 || n % 1000 === 0) log.warn(`handler for '${s.pattern}' threw (${n} so far): ${oneLine(err)}`)
      }
    }
  }

  private async subscriber(): Promise<Redis> {
    if (this.sub) return this.sub
    this.subConnecting ??= (async () => {
      const sub = await this.duplicate('sub')
      sub.on('message', (channel: string, payload: string) => this.deliver(this.exact.get(channel), channel, payload))
      sub.on('pmessage', (pattern: string, channel: string, payload: string) =>
        this.deliver(this.patterns.get(pattern), channel, payload),
      )
      this.sub = sub
      return sub
    })()
    try {
      return await this.subConnecting
    } finally {
      this.subConnecting = undefined
    }
  }

  /** Releases the consumed front of the queue (sent or dropped), amortised O(1) per record. */
  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
    } else if (this.head > 65_536 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
  }

  private drop(n: number): void {
    this.counts.dropped += n
    this.o.onDropped?.(n)
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => this.drain())
  }

  private drain(): void {
    this.scheduled = false
    if (this.pub.status !== 'ready') return
    const streams = this.target.mode === 'streams'
    const maxlen = String(this.target.maxlen)
    while (this.backlog() > 0 && this.inflightRecords < this.maxInFlight) {
      const n = Math.min(this.backlog(), this.batchSize, this.maxInFlight - this.inflightRecords)
      const first = this.accepted - this.backlog() + 1
      const records = this.queue.slice(this.head, this.head + n)
      this.head += n
      this.compact()
      const batch: Batch = { first, last: first + n - 1 }
      this.inflight.push(batch)
      this.inflightRecords += n
      this.o.onSent?.(records)
      try {
        if (this.sha) this.sendScript(batch, records, streams, maxlen)
        else this.sendPipeline(batch, records, streams, maxlen)
      } catch (err) {
        // A record that cannot be encoded must not leave its batch in flight for ever
        this.done(batch, 0, n, err as Error)
      }
    }
  }

  /** One EVALSHA for the whole batch; a server that lost the script (restart, SCRIPT FLUSH) gets it by EVAL. */
  private sendScript(batch: Batch, records: readonly MarketRecord[], streams: boolean, maxlen: string): void {
    const n = records.length
    const args: string[] = []
    if (streams) {
      for (const r of records) args.push(channelFor(r))
      args.push(maxlen)
      for (const r of records) args.push(encodeRecord(r))
    } else {
      for (const r of records) args.push(channelFor(r), encodeRecord(r))
    }
    const numkeys = String(streams ? n : 0)
    this.pub
      .call('EVALSHA', [this.sha as string, numkeys, ...args])
      .catch((err: Error) => {
        if (!/^NOSCRIPT/.test(err.message)) throw err
        return this.pub.call('EVAL', [streams ? XADD_LUA : PUBLISH_LUA, numkeys, ...args])
      })
      .then(
        () => this.done(batch, n, 0, undefined),
        (err: Error) => this.done(batch, 0, n, err),
      )
  }

  private sendPipeline(batch: Batch, records: readonly MarketRecord[], streams: boolean, maxlen: string): void {
    const n = records.length
    const p = this.pub.pipeline()
    for (const r of records) {
      if (streams) p.xadd(channelFor(r), 'MAXLEN', '~', maxlen, '*', 'd', encodeRecord(r))
      else p.publish(channelFor(r), encodeRecord(r))
    }
    p.exec().then(
      (results) => {
        let errors = 0
        let firstErr: Error | undefined
        for (const [err] of results ?? []) {
          if (err) {
            errors++
            firstErr ??= err
          }
        }
        this.done(batch, n - errors, errors, firstErr)
      },
      (err: Error) => this.done(batch, 0, n, err),
    )
  }

  private done(batch: Batch, ok: number, failed: number, err: Error | undefined): void {
    this.counts.sent += ok
    if (failed) {
      this.counts.failed += failed
      log.warn(`${failed} records not taken by ${this.display}: ${redactRedis(oneLine(err), this.target)}`)
    }
    const i = this.inflight.indexOf(batch)
    if (i >= 0) this.inflight.splice(i, 1)
    this.inflightRecords -= batch.last - batch.first + 1
    this.settle()
    if (this.backlog() > 0) this.schedule()
  }

  /** Lowest seq not yet acknowledged, failed or dropped. */
  private minUnsettled(): number {
    if (this.inflight.length) return this.inflight[0].first
    return this.accepted - this.backlog() + 1
  }

  private settle(): void {
    if (!this.waiters.length) return
    const min = this.minUnsettled()
    let k = 0
    while (k < this.waiters.length && this.waiters[k].seq < min) this.waiters[k++].resolve()
    if (k) this.waiters.splice(0, k)
  }

  private transportError(role: string, err: Error): void {
    // ioredis repeats the error at every reconnect attempt: one warning per outage, the rest at debug
    const msg = `${role} connection to ${this.display}: ${redactRedis(oneLine(err), this.target)}`
    if (this.down || this.closing) log.debug(msg)
    else log.warn(msg)
  }

  private async shutdown(): Promise<void> {
    const timeoutMs = this.o.closeTimeoutMs ?? 5_000
    let timer: NodeJS.Timeout | undefined
    const flushed = await Promise.race([
      this.flush().then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), timeoutMs)
      }),
    ])
    clearTimeout(timer)
    if (!flushed) {
      const lost = this.backlog() + this.inflightRecords
      log.warn(`closing ${this.display} with ${lost} records unsent after ${timeoutMs} ms`)
      this.drop(this.backlog())
      this.queue = []
      this.head = 0
    }
    for (const w of this.waiters.splice(0)) w.resolve()
    await Promise.all([...this.readers].map((r) => r.stop()))
    this.readers.clear()
    this.exact.clear()
    this.patterns.clear()
    this.sub?.disconnect()
    this.pub.disconnect()
  }
}

/** One streams-mode subscription: its own blocking connection, SCAN to find the streams a pattern names. */
class StreamReader {
  private conn: Redis | undefined
  private stopped = false
  private loop: Promise<void> | undefined
  private readonly ids = new Map<string, string>()
  private startId = '0-0'
  private scannedAt = 0
  private readonly subs: readonly Sub[]

  constructor(
    private readonly bus: RedisBus,
    private readonly pattern: string,
    handler: BusHandler,
  ) {
    this.subs = [{ pattern, handler }]
  }

  async start(): Promise<void> {
    this.conn = await this.bus.duplicate('stream')
    // Entries from the server's clock now on: streams created later are read from here too, so none is missed
    const [s, us] = await this.conn.time()
    this.startId = `${Number(s) * 1000 + Math.floor(Number(us) / 1000)}-0`
    if (!isGlob(this.pattern)) this.ids.set(this.pattern, this.startId)
    else await this.scan()
    this.loop = this.run()
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    // Interrupts a pending XREAD BLOCK
    this.conn?.disconnect()
    await this.loop
  }

  private async scan(): Promise<void> {
    const conn = this.conn as Redis
    let cursor = '0'
    do {
      const [next, keys] = await conn.scan(cursor, 'MATCH', this.pattern, 'COUNT', 1000, 'TYPE', 'stream')
      for (const k of keys) if (!this.ids.has(k)) this.ids.set(k, this.startId)
      cursor = next
    } while (cursor !== '0' && !this.stopped)
    this.scannedAt = Date.now()
  }

  private async run(): Promise<void> {
    const conn = this.conn as Redis
    while (!this.stopped) {
      try {
        if (isGlob(this.pattern) && Date.now() - this.scannedAt >= 1_000) await this.scan()
        if (this.ids.size === 0) {
          await new Promise((r) => setTimeout(r, 200))
          continue
        }
        const keys = [...this.ids.keys()]
        const res = (await conn.xread('COUNT', 5_000, 'BLOCK', 1_000, 'STREAMS', ...keys, ...keys.map((k) => this.ids.get(k) as string))) as
          | [string, [string, string[]][]][]
          | null
        if (this.stopped) return
        for (const [key, entries] of res ?? []) {
          for (const [id, fields] of entries) {
            const at = fields.indexOf('d')
            if (at >= 0 && at % 2 === 0) this.bus.deliver(this.subs, key, fields[at + 1])
            this.ids.set(key, id)
          }
        }
      } catch (err) {
        if (this.stopped) return
        log.debug(`stream read on '${this.pattern}': ${oneLine(err)}`)
        await new Promise((r) => setTimeout(r, 500))
      }
    }
  }
}
