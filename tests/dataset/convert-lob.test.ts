// convert-lob end to end through the built CLI: the real Binance recordings replayed and sampled must show the
// top of book Binance itself published (bookTicker), and the shards must be what the manifest says they are

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatRecordLine, readRecordingSync } from '../../src/lib/replay/recording.js'
import { cli, FIXTURES, tempDir } from '../helpers.js'
import { convert, manifestOf, parquetCount, readParquet, sha256, SPOT, USDM, type Converted, type Table } from './helpers.js'

interface Ticker {
  readonly u: number
  readonly bid: number
  readonly bidSize: number
  readonly ask: number
  readonly askSize: number
}

/** The recording read the plain way: book update ids by receipt time, and every bookTicker. */
function recorded(file: string): { times: number[]; ids: number[]; tickers: Ticker[] } {
  const lines = gunzipSync(readFileSync(file)).toString('utf8').split('\n').filter((l) => l.length > 0)
  const times: number[] = []
  const ids: number[] = []
  const tickers: Ticker[] = []
  let maxId = -1
  for (const l of lines) {
    const sp = l.indexOf(' ')
    // 19 digits are ns, 16 are µs
    const local = Number(l.slice(0, 16))
    const msg = JSON.parse(l.slice(sp + 1)) as { stream?: string; data?: Record<string, unknown>; lastUpdateId?: number }
    if (msg.stream === undefined) {
      // The REST depth snapshot
      maxId = Math.max(maxId, msg.lastUpdateId as number)
    } else if (/@depth(@\d+ms)?$/.test(msg.stream)) {
      maxId = Math.max(maxId, msg.data?.u as number)
    } else if (msg.stream.endsWith('@bookTicker')) {
      const d = msg.data as Record<string, string | number>
      tickers.push({ u: d.u as number, bid: Number(d.b), bidSize: Number(d.B), ask: Number(d.a), askSize: Number(d.A) })
      continue
    } else continue
    times.push(local)
    ids.push(maxId)
  }
  tickers.sort((a, b) => a.u - b.u)
  return { times, ids, tickers }
}

/** Index of the last element <= x in a sorted array, -1 when none. */
function lastAtOrBefore(xs: readonly number[], x: number): number {
  let lo = 0
  let hi = xs.length - 1
  let best = -1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (xs[mid] <= x) {
      best = mid
      lo = mid + 1
    } else hi = mid - 1
  }
  return best
}

const col = (t: Table, name: string) => t.columns.indexOf(name)

for (const [name, file] of [
  ['spot BTCUSDT 2024-08-08', SPOT],
  ['usdm BTCUSDT 2023-04-04', USDM],
] as const) {
  describe(`convert-lob on the ${name} recording (hftbacktest)`, () => {
    let dir: string
    let r: Converted
    let table: Table

    beforeAll(async () => {
      // Shared by the tests below, so not a tempDir() (those go after each test)
      dir = mkdtempSync(join(tmpdir(), 'mercury-lob-'))
      r = convert([file, '--out', join(dir, 'out'), '--every', '100ms', '--shard-rows', '700'], dir)
      table = await readParquet(r.shards.map((s) => join(r.out, s.file)))
    })
    afterAll(() => rmSync(dir, { recursive: true, force: true }))

    it('replays without a gap and samples every 100 ms on the receipt clock', () => {
      expect(r.validation.sequenceGaps).toBe(0)
      expect(r.validation.badLines).toBe(0)
      expect(r.rows).toBeGreaterThan(900)
      const ts = table.rows.map((row) => row[0] as number)
      for (let i = 0; i < ts.length; i++) {
        expect(ts[i] % 100_000).toBe(0)
        if (i > 0) expect(ts[i] - ts[i - 1]).toBe(100_000)
      }
    })

    it("matches the recorded bookTicker: the newest ticker with u <= the book's last applied u", () => {
      // The row at T is the book after every frame received at or before T, so its last applied id is the largest
      // snapshot or diff id received by T. bookTicker is pushed on every change of the best level, so the newest
      // ticker at or below that id describes the same top (any change in between would have sent a newer one).
      // The ticker stream runs ahead of the 100 ms diffs, so tickers newer than the book's id are not comparable.
      const rec = recorded(file)
      const tickerU = rec.tickers.map((t) => t.u)
      const [bp, bs, ap, as] = ['bid_px_0', 'bid_sz_0', 'ask_px_0', 'ask_sz_0'].map((c) => col(table, c))
      let compared = 0
      const bad: string[] = []
      for (const row of table.rows) {
        const T = row[0] as number
        const at = lastAtOrBefore(rec.times, T)
        expect(at).toBeGreaterThanOrEqual(0)
        const bookU = rec.ids[at]
        const k = lastAtOrBefore(tickerU, bookU)
        if (k < 0) continue
        const t = rec.tickers[k]
        compared++
        if (row[bp] !== t.bid || row[bs] !== t.bidSize || row[ap] !== t.ask || row[as] !== t.askSize) {
          bad.push(`ts=${T} u=${bookU} row ${row[bp]}x${row[bs]} / ${row[ap]}x${row[as]} ticker(u=${t.u}) ${t.bid}x${t.bidSize} / ${t.ask}x${t.askSize}`)
        }
      }
      expect(bad.slice(0, 5)).toEqual([])
      expect(compared).toBeGreaterThan(0.95 * table.rows.length)
    })

    it('has the row counts, order, time ranges and checksums the manifest lists', async () => {
      const m = manifestOf(r.out)
      expect(m.shards.length).toBeGreaterThan(1)
      let total = 0
      for (let i = 0; i < m.shards.length; i++) {
        const s = m.shards[i]
        const path = join(r.out, s.file)
        expect(s.file).toBe(`part-${String(i).padStart(5, '0')}.parquet`)
        expect(await parquetCount(path)).toBe(s.rows)
        expect(sha256(path)).toBe(s.sha256)
        expect(readFileSync(path).length).toBe(s.bytes)
        const shard = await readParquet([path])
        expect(shard.rows[0][0]).toBe(s.ts_min)
        expect(shard.rows[shard.rows.length - 1][0]).toBe(s.ts_max)
        if (i > 0) expect(s.ts_min).toBeGreaterThan(m.shards[i - 1].ts_max)
        total += s.rows
      }
      expect(m.total_rows).toBe(total)
      expect(table.rows.length).toBe(total)
      expect(m.sources[0].sha256).toBe(sha256(file))
      expect(table.columns).toEqual(m.schema.columns.map((c) => c.name))
      expect(table.types[0]).toBe('BIGINT')
      expect(table.types.slice(1).every((t) => t === 'DOUBLE')).toBe(true)
      expect(table.columns.slice(0, 3)).toEqual(['ts', 'bid_px_0', 'bid_px_1'])
      expect(table.columns.slice(-2)).toEqual(['mid', 'spread'])
      expect(table.columns.length).toBe(1 + 4 * 20 + 2)
      // mid and spread follow the top of book
      const [bp, ap, mid, spread] = ['bid_px_0', 'ask_px_0', 'mid', 'spread'].map((c) => col(table, c))
      for (const row of table.rows) {
        expect(row[mid]).toBe(((row[bp] as number) + (row[ap] as number)) / 2)
        expect(row[spread]).toBe((row[ap] as number) - (row[bp] as number))
      }
      const card = readFileSync(join(r.out, 'README.md'), 'utf8')
      expect(card).toMatch(/market data belongs to the exchange/)
      expect(card).toMatch(/BTCUSDT/)
      expect(existsSync(join(r.out, '.progress.json'))).toBe(false)
    })
  })
}

describe('convert-lob --with-trades', () => {
  it('adds per-interval volumes that add up to the recorded trades received in each interval', async () => {
    const dir = tempDir()
    const r = convert([USDM, '--out', join(dir, 'out'), '--with-trades', '--levels', '5'], dir)
    const t = await readParquet(r.shards.map((s) => join(r.out, s.file)))
    expect(t.columns.slice(-3)).toEqual(['buy_volume', 'sell_volume', 'trade_count'])
    expect(t.types.slice(-3)).toEqual(['DOUBLE', 'DOUBLE', 'BIGINT'])
    // Independent count: trades (X = MARKET) received in (T - 100ms, T]
    const lines = gunzipSync(readFileSync(USDM)).toString('utf8').split('\n').filter(Boolean)
    const trades: { local: number; qty: number; buy: boolean }[] = []
    for (const l of lines) {
      if (!l.includes('@trade"')) continue
      const d = (JSON.parse(l.slice(l.indexOf(' ') + 1)) as { data: { q: string; m: boolean; X?: string } }).data
      if (d.X !== undefined && d.X !== 'MARKET') continue
      trades.push({ local: Number(l.slice(0, 16)), qty: Number(d.q), buy: !d.m })
    }
    let checked = 0
    for (const row of t.rows) {
      const T = row[0] as number
      const inside = trades.filter((x) => x.local > T - 100_000 && x.local <= T)
      expect(row[t.columns.length - 1]).toBe(inside.length)
      expect(row[t.columns.length - 3]).toBeCloseTo(inside.filter((x) => x.buy).reduce((n, x) => n + x.qty, 0), 9)
      expect(row[t.columns.length - 2]).toBeCloseTo(inside.filter((x) => !x.buy).reduce((n, x) => n + x.qty, 0), 9)
      if (inside.length > 0) checked++
    }
    expect(checked).toBeGreaterThan(100)
  })
})

describe('convert-lob on the other recording formats', () => {
  it('gives the same rows from a mercury --record file as from the hftbacktest file it was converted from', async () => {
    const dir = tempDir()
    // Format conversion of the real recording: the same frames and receipt times as mercury --record lines
    const lines = readRecordingSync(SPOT).map((f) =>
      formatRecordLine({
        localTimestamp: f.localTimestamp,
        src: f.src,
        url: f.src === 'rest' ? 'https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000' : 'wss://stream.binance.com:9443/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker/btcusdt@trade',
        text: f.text,
      }),
    )
    const rec = join(dir, 'spot.record.jsonl.gz')
    writeFileSync(rec, gzipSync(lines.join('\n') + '\n'))
    const a = convert([SPOT, '--out', join(dir, 'a'), '--with-trades'], dir)
    const b = convert([rec, '--out', join(dir, 'b'), '--with-trades'], dir)
    expect(manifestOf(b.out).sources[0].format).toBe('mercury')
    expect(manifestOf(b.out).options.exchange).toBe('binance')
    expect(b.shards.map((s) => s.sha256)).toEqual(a.shards.map((s) => s.sha256))
  })

  it('replays cryptofeed captures (REST and ws files merged) for Binance spot, USD-M and Coinbase', () => {
    const dir = tempDir()
    const cf = join(FIXTURES, 'recordings', 'cryptofeed')
    for (const [files, inst] of [
      [['BINANCE.http.0.0.txt.gz', 'BINANCE.ws.1.0.txt.gz'], 'binance:NKNUSDT'],
      [['BINANCE_FUTURES.http.0.0.txt.gz', 'BINANCE_FUTURES.ws.1.0.txt.gz'], 'binance-futures:SUSHIUSDT'],
      [['COINBASE.ws.28.0.txt.gz'], 'coinbase:SKL-USD'],
    ] as const) {
      const r = convert([...files.map((f) => join(cf, f)), '--out', join(dir, inst.replace(':', '-')), '--instrument', inst, '--levels', '5'], dir)
      expect({ inst, ok: r.rows > 250, gaps: r.validation.sequenceGaps, bad: r.validation.badLines }).toEqual({ inst, ok: true, gaps: 0, bad: 0 })
    }
    // Several books in one capture: the command asks which
    const many = cli(['convert-lob', join(cf, 'BINANCE.ws.1.0.txt.gz'), join(cf, 'BINANCE.http.0.0.txt.gz'), '--out', join(dir, 'x')], dir)
    expect(many.code).toBe(2)
    expect(many.stderr).toMatch(/holds several books \(NKNUSDT, .*\): pass --instrument binance:NKNUSDT/)
  })

  it('refuses an --instrument the recording does not hold, writing nothing', () => {
    const dir = tempDir()
    // The hftbacktest REST snapshot names no symbol: without the check it was taken for ETHUSDT's book and,
    // with no ETHUSDT diffs to follow, written out frozen under that name
    for (const [inst, msg] of [
      ['binance:ETHUSDT', /holds no book for 'binance:ETHUSDT' \(it holds binance:BTCUSDT\)/],
      ['binance-futures:BTCUSDT', /'binance-futures:BTCUSDT' is not in the recording, which is from binance/],
    ] as const) {
      const out = join(dir, inst.replace(':', '-'))
      const r = cli(['convert-lob', SPOT, '--out', out, '--instrument', inst], dir)
      expect({ inst, code: r.code, stderr: r.stderr.trim() }).toEqual({ inst, code: 2, stderr: expect.stringMatching(msg) })
      expect(existsSync(out)).toBe(false)
    }
  })
})
