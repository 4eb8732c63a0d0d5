// `mercury signals --live` as a user runs it: the built CLI subscribed to a real Redis (the one scripts/test.sh
// starts), the real BTCUSDT trades of 2024-08-08 23:54-00:05 published on it, one JSON line (or table row) per
// closed bar, stopped with SIGINT/SIGTERM. The bars must equal Binance's own klines and the values the batch
// computation over the same bars. Symbols carry a per-run tag so parallel runs on one server never meet.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createBus } from '../../src/lib/bus/index.js'
import { computeSignals, seriesName } from '../../src/lib/signals/compute.js'
import { indicator } from '../../src/lib/signals/registry.js'
import type { Columns } from '../../src/lib/signals/types.js'
import { isoUs } from '../../src/lib/time.js'
import type { Trade } from '../../src/lib/types.js'
import { realTrades } from '../signals/data.js'
import { BIN, FIXTURES, ROOT, cli, cliJson, redisTestUrl, tempDir } from '../helpers.js'

const REDIS = await redisTestUrl()
const TAG = randomBytes(4).toString('hex').toUpperCase()
const SYM = `BTCUSDT${TAG}`
const KLINES = join(FIXTURES, 'binance', 'BTCUSDT-1m-2024-08-08T2350.csv')
const FIRST_LIVE = Date.UTC(2024, 7, 8, 23, 56) * 1000

const ONLY = ['sma', 'rsi', 'obv', 'bbands', 'cvd_bars', 'confluence', 'cvd', 'trade_imbalance']
const PARAMS = ['sma.timePeriod=3', 'rsi.timePeriod=3', 'bbands.timePeriod=3', 'trade_imbalance.timePeriod=50']
const params = { sma: { timePeriod: 3 }, rsi: { timePeriod: 3 }, bbands: { timePeriod: 3 } }

/** Binance's klines of the fixture as numbers: open_time ms, o, h, l, c, v, close_time, quote, trades, taker buy, taker buy quote */
const klineRows = () => readFileSync(KLINES, 'utf8').trim().split('\n').map((l) => l.split(',').map(Number))

/** A lake with the klines before the first live minute, under the tagged symbol. */
function lakeWithKlines(): string {
  const lake = tempDir()
  const csv = join(tempDir(), 'bars.csv')
  writeFileSync(csv, readFileSync(KLINES, 'utf8').trim().split('\n').filter((l) => Number(l.split(',')[0]) * 1000 < FIRST_LIVE).join('\n') + '\n')
  const r = cli(['backfill', '--archive', csv, '--instrument', `binance:${SYM}`, '--kind', 'bars', '--interval', '1m'], lake)
  expect(r.code, r.stderr).toBe(0)
  return lake
}

/** The CLI with its output split into lines as they come. */
function start(args: string[], lake: string, env: Record<string, string> = {}) {
  const p: ChildProcessWithoutNullStreams = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, MERCURY_DATA_DIR: lake, MERCURY_LOG_LEVEL: 'warn', ...env },
  })
  const out: string[] = []
  const err: string[] = []
  let outBuf = ''
  let errBuf = ''
  p.stdout.on('data', (c: Buffer) => {
    outBuf += c.toString()
    const parts = outBuf.split('\n')
    outBuf = parts.pop() as string
    out.push(...parts)
  })
  p.stderr.on('data', (c: Buffer) => {
    errBuf += c.toString()
    const parts = errBuf.split('\n')
    errBuf = parts.pop() as string
    err.push(...parts)
  })
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)))
  const until = async (what: string, ok: () => boolean, ms = 30_000) => {
    const t0 = Date.now()
    while (!ok()) {
      if (p.exitCode !== null) throw new Error(`mercury exited ${p.exitCode} waiting for ${what}: ${err.join('\n')}`)
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; stdout: ${out.join('\n')}\nstderr: ${err.join('\n')}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return { p, out, err, exited, until }
}

async function tradesOf(symbol: string): Promise<Trade[]> {
  const t = await realTrades()
  return Array.from(t.id, (id, i) => ({
    type: 'trade', exchange: 'binance', symbol, id, timestamp: t.timestamp[i], localTimestamp: t.timestamp[i] + 50_000,
    price: t.price[i], amount: t.amount[i], side: t.side[i] > 0 ? 'buy' : 'sell',
  }) as Trade)
}

interface BarLine {
  type: 'bar'
  time: string
  openTime: number
  open: number
  high: number
  low: number
  close: number
  volume: number
  trades: number
  takerBuyVolume: number
  complete: boolean
  empty: boolean
  values: Record<string, number | null>
  readings: Record<string, string | null>
  confluence: number | null
  confluenceReading: string | null
}

describe('mercury signals --live: bad input', () => {
  it('exits 2 with one line naming the flag', () => {
    const lake = tempDir()
    const base = ['signals', 'binance:BTCUSDT', '--interval', '1m', '--live']
    const cases: [string[], RegExp][] = [
      [base, /Missing --bus: --live reads the bus .*MERCURY_BUS/],
      [[...base, '--bus', 'memory'], /Invalid --bus: 'memory'\. A memory bus lives inside one process/],
      [[...base, '--bus', 'ftp://127.0.0.1:6379'], /Invalid --bus/],
      [[...base, '--bus', 'redis://127.0.0.1:1', '--from', '2024-01-01'], /Invalid --from\/--to with --live/],
      [[...base, '--bus', 'redis://127.0.0.1:1', '--source', 'ticks'], /Invalid --source: 'ticks'\. Expected one of auto, trades, bars/],
      [[...base, '--bus', 'redis://127.0.0.1:1', '--warmup', '0'], /Invalid --warmup: '0'/],
      [[...base, '--bus', 'redis://127.0.0.1:1', '--grace', 'soon'], /Invalid --grace: 'soon'/],
      [[...base, '--bus', 'redis://127.0.0.1:1', '--only', 'funding_zscore'], /funding_zscore reads funding data, which --live does not feed/],
      [[...base, '--bus', 'redis://127.0.0.1:1', '--param', 'rsi.timePeriod=1'], /Invalid rsi timePeriod: 1/],
      [[...base, '--bus', 'redis://127.0.0.1:1', '--mtf', '90s'], /Invalid --mtf/],
      [['signals', 'binance:BTCUSDT', '--interval', '1m', '--bus', 'redis://127.0.0.1:1'], /Invalid --bus without --live/],
      [['signals', 'list', '--live'], /Invalid --live with `list`/],
    ]
    for (const [args, msg] of cases) {
      const r = cli(args, lake, { MERCURY_BUS: '' })
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr).toMatch(msg)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
    }
  })

  it('documents --live in the help', () => {
    const r = cli(['signals', '--help'], tempDir())
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/--live/)
    expect(r.stdout).toMatch(/--bus <spec>/)
    expect(r.stdout).toMatch(/funding, open-interest and liquidation indicators do not/)
    expect(r.stdout).toMatch(/mercury signals binance:BTCUSDT --interval 1m --live --bus redis:\/\/127\.0\.0\.1:6379/)
  })
})

describe.skipIf(!REDIS)('mercury signals --live over Redis', () => {
  it('prints a JSON line per closed bar equal to Binance klines and to the batch values, stores them, stops on SIGINT', async () => {
    const lake = lakeWithKlines()
    const json = start(['signals', `binance:${SYM}`, '--interval', '1m', '--live', '--json', '--store', '--only', ONLY.join(','), ...PARAMS.flatMap((p) => ['--param', p])], lake, { MERCURY_BUS: REDIS as string })
    const table = start(['signals', `binance:${SYM}`, '--interval', '1m', '--live', '--bus', REDIS as string, '--only', 'rsi,confluence', '--param', 'rsi.timePeriod=3'], lake)
    try {
      await json.until('ready', () => json.out.some((l) => l.includes('"type":"ready"')))
      await table.until('ready', () => table.err.some((l) => l.startsWith(`live binance:${SYM} 1m on redis://`)))
      const ready = JSON.parse(json.out.find((l) => l.includes('"type":"ready"'))!)
      expect(ready).toMatchObject({ interval: '1m', source: 'auto', warmup: { bars: 6, interval: '1m', until: '2024-08-08T23:56:00Z' }, indicators: ONLY })

      const all = await tradesOf(SYM)
      const disconnectAt = all.findIndex((x) => x.timestamp >= Date.UTC(2024, 7, 8, 23, 58) * 1000)
      const disconnectTime = isoUs(all[disconnectAt].timestamp)
      const bus = await createBus(REDIS as string)
      try {
        all.forEach((x, i) => {
          if (i === disconnectAt) {
            bus.publish({
              type: 'integrity', exchange: 'binance', symbol: SYM, timestamp: x.timestamp, localTimestamp: x.timestamp, kind: 'disconnect',
              stream: 'binance/trades', from: undefined, to: undefined, detail: 'socket closed (1006), reconnecting',
            })
          }
          bus.publish(x)
        })
        await bus.flush()
      } finally {
        await bus.close()
      }
      const lastBar = '"time":"2024-08-09T00:04:00Z"'
      await json.until('the 00:04 bar', () => json.out.some((l) => l.includes(lastBar)))
      await table.until('the 00:04 row', () => table.out.some((l) => l.startsWith('2024-08-09T00:04:00Z')))
      json.p.kill('SIGINT')
      table.p.kill('SIGTERM')
      expect(await json.exited).toBe(0)
      expect(await table.exited).toBe(0)

      const lines = json.out.map((l) => JSON.parse(l) as { type: string })
      const bars = lines.filter((l): l is BarLine => l.type === 'bar')
      expect(bars.map((b) => b.time)).toEqual(Array.from({ length: 9 }, (_, k) => new Date(FIRST_LIVE / 1000 + k * 60_000).toISOString().replace('.000Z', 'Z')))
      const k = klineRows()
      for (const b of bars) {
        const row = k.find((r) => r[0] * 1000 === b.openTime)!
        expect([b.open, b.high, b.low, b.close, b.trades]).toEqual([row[1], row[2], row[3], row[4], row[8]])
        expect(Math.abs(b.volume - row[5])).toBeLessThan(1e-9 * row[5])
        expect(Math.abs(b.takerBuyVolume - row[9])).toBeLessThan(1e-9 * row[9])
        expect(b).toMatchObject({ complete: true, empty: false })
      }
      // The values of the batch computation over the lake's bars and the printed ones, bar by bar
      const cols = (n: number): Columns => {
        const rows = [...k.filter((r) => r[0] * 1000 < FIRST_LIVE).map((r) => [r[0] * 1000, r[1], r[2], r[3], r[4], r[5], r[7], r[8], r[9], r[10]]),
          ...bars.slice(0, n).map((b) => [b.openTime, b.open, b.high, b.low, b.close, b.volume, NaN, b.trades, b.takerBuyVolume, NaN])]
        const names = ['open_time', 'open', 'high', 'low', 'close', 'volume', 'quote_volume', 'trades', 'taker_buy_volume', 'taker_buy_quote_volume']
        return Object.fromEntries(names.map((c, j) => [c, Float64Array.from(rows, (r) => r[j])]))
      }
      const barIds = ONLY.filter((id) => indicator(id).source === 'bars')
      bars.forEach((b, n) => {
        const batch = computeSignals(cols(n + 1), '1m', { only: barIds, params })
        for (const l of batch.latest) {
          const d = indicator(l.id)
          for (const o of d.outputs) {
            const want = l.outputs[o]
            expect(b.values[seriesName(d, o, undefined)], `${b.time} ${l.id}.${o}`).toBe(Number.isNaN(want) ? null : want)
          }
          expect(b.readings[l.id], `${b.time} ${l.id} reading`).toBe(l.reading ?? null)
        }
        const conf = batch.latest.find((l) => l.id === 'confluence')!
        expect(b.confluence).toBe(Number.isNaN(conf.outputs.confluence) ? null : conf.outputs.confluence)
        expect(b.confluenceReading).toBe(conf.reading)
        for (const id of ['cvd', 'trade_imbalance']) expect(Number.isFinite(b.values[id]), `${b.time} ${id}`).toBe(true)
      })
      // The collector's disconnect was surfaced, the run ended with its counts
      expect(lines).toContainEqual(expect.objectContaining({ type: 'integrity', kind: 'disconnect', stream: 'binance/trades', time: disconnectTime }))
      expect(lines.at(-1)).toMatchObject({ type: 'end', bars: 9, trades: 19_904, lostTrades: 0, lateTrades: 0, integrity: 1 })
      const stored = (lines.at(-1) as unknown as { stored: number }).stored
      expect(stored).toBe(bars.reduce((a, b) => a + Object.values(b.values).filter((v) => v !== null).length, 0))
      const q = cliJson<{ n: number; series: number }[]>(
        ['data', 'query', `SELECT count(*)::INT n, count(DISTINCT series)::INT series FROM signals WHERE symbol = '${SYM}' AND interval = '1m'`],
        lake,
      )
      expect(q).toEqual([{ n: stored, series: expect.any(Number) }])
      expect(q[0].series).toBeGreaterThanOrEqual(8)

      // The table: a header, a row per bar with the reading words, the disconnect on stderr, a summary line
      expect(table.out[0]).toMatch(/^time +close +volume +trades +confluence +rsi +note$/)
      const rows = table.out.filter((l) => /^\d{4}-/.test(l))
      expect(rows).toHaveLength(9)
      expect(rows[0]).toMatch(/^2024-08-08T23:56:00Z +61727\.66 +15\.4978 +1011 .*(bullish|bearish|neutral)/)
      expect(table.err).toContain(`integrity: disconnect on binance/trades at ${disconnectTime}: socket closed (1006), reconnecting`)
      expect(table.out.at(-1)).toMatch(/^stopped: 9 bars \(0 empty, 0 incomplete, 0 from exchange bars\), 19,904 trades, 0 lost, 0 late; 1 integrity events$/)
    } finally {
      json.p.kill('SIGKILL')
      table.p.kill('SIGKILL')
    }
  })
})
