// kill -9 of a running collector, then a restart: no trade twice, none missing (the restart fetches what the
// killed run had not yet stored, and the time it was down, by trade id from REST). Runs the built CLI.

import { existsSync } from 'node:fs'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { LakeReader } from '../../src/lib/lake/reader.js'
import { readManifest } from '../../src/lib/lake/manifest.js'
import { datasetDir } from '../../src/lib/lake/paths.js'
import { readRecordingSync } from '../../src/lib/replay/recording.js'
import { startReplayServer, type ReplayServer } from '../../src/lib/replay/server.js'
import { cli, cliSpawn, FIXTURES, ROOT, tempDir } from '../helpers.js'

const SPOT = join(FIXTURES, 'recordings', 'hftbacktest', 'spot-btcusdt_20240808.gz')
let server: ReplayServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function storedTrades(lake: string): number {
  const m = readManifest(datasetDir(lake, { kind: 'trades', exchange: 'binance', symbol: 'BTCUSDT' }))
  return m ? Object.values(m.partitions).reduce((n, p) => n + p.rows, 0) : 0
}

describe('collect crash safety', () => {
  it('kill -9 then restart: every recorded trade exactly once', async () => {
    if (!existsSync(join(ROOT, 'dist', 'src', 'cli.js'))) throw new Error('dist/ is missing: run npm run build first')
    // Recorded pace sped up 30x: the 6-minute recording plays in about 12 s
    server = await startReplayServer({ recordings: [SPOT], pace: 30 })
    const lake = tempDir()
    const args = ['collect', 'binance:BTCUSDT', '--channels', 'trades,book', '--ws-url', server.wsUrl, '--rest-url', server.restUrl,
      '--batch', '1s', '--book-snapshot-every', '0']
    const first = cliSpawn(args, lake)
    let stderr = ''
    first.stderr.on('data', (d) => (stderr += d))
    // Wait until a few batches are stored, then kill without warning
    for (let i = 0; i < 200 && storedTrades(lake) < 1000; i++) await sleep(100)
    expect(storedTrades(lake)).toBeGreaterThan(0)
    await sleep(700)
    first.kill('SIGKILL')
    await new Promise((r) => first.once('exit', r))
    const atKill = storedTrades(lake)
    await sleep(500)

    const second = cliSpawn([...args, '--json'], lake)
    let out = ''
    second.stdout.on('data', (d) => (out += d))
    second.stderr.on('data', (d) => (stderr += d))
    await server.finished
    await sleep(2000)
    second.kill('SIGTERM')
    const code = await new Promise<number | null>((r) => second.once('exit', (c) => r(c)))
    expect(code, stderr).toBe(0)
    const summary = JSON.parse(out) as { stats: { repairedTrades: number; unrepairedTrades: number } }
    expect(summary.stats.repairedTrades).toBeGreaterThan(0)
    expect(summary.stats.unrepairedTrades).toBe(0)

    const ids = readRecordingSync(SPOT)
      .filter((f) => f.src === 'ws' && f.text.includes('@trade"'))
      .map((f) => Number(/"t":(\d+)/.exec(f.text)![1]))
    const r = await LakeReader.open(lake)
    try {
      const [[n, distinct, lo, hi]] = (await r.query(`SELECT count(*), count(DISTINCT id), min(id), max(id) FROM trades`)).rows
      expect(atKill).toBeLessThan(ids.length)
      expect(Number(n)).toBe(ids.length)
      expect(Number(distinct)).toBe(ids.length)
      expect(Number(lo)).toBe(ids[0])
      expect(Number(hi)).toBe(ids[ids.length - 1])
    } finally {
      r.close()
    }
    // The lake is readable by the CLI afterwards
    const ls = cli(['data', 'ls', '--json'], lake)
    expect(ls.code).toBe(0)
  }, 120_000)

  it('a run that never connects exits 1, naming the feed and why, and counts its attempts apart from reconnects', async () => {
    // A port that was free a moment ago: connections are refused
    const probe = createNetServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as AddressInfo).port
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    const lake = tempDir()
    const r = cli(['collect', 'binance:BTCUSDT', '--duration', '2s', '--ws-url', `ws://127.0.0.1:${port}`, '--rest-url', `http://127.0.0.1:${port}`], lake)
    expect(r.code, r.stderr).toBe(1)
    expect(r.stdout).toMatch(/collected 0 messages .* 0 reconnects \(\d+ attempts\)/)
    expect(r.stderr).toMatch(/binance\/spot: could not connect: connect ECONNREFUSED/)
    const last = r.stderr.trim().split('\n').at(-1)
    expect(last).toMatch(new RegExp(`^mercury: Never connected in [\\d.]+ s: binance/spot \\(ws://127\\.0\\.0\\.1:${port}/stream\\?streams=.*: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\)$`))
  }, 30_000)
})
