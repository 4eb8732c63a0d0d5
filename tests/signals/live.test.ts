// Live signals over an in-process bus, on the real BTCUSDT spot trades of 2024-08-08 23:54-00:05 UTC (datasets/) and
// the real top-20 book of the same minutes (tests/fixtures/signals): bars built live equal Binance's own klines
// and the lake's trades->bars aggregation (`data validate`), and every indicator's live value equals its batch value
// over the same bars (warm-up from a lake in a temp dir), through holes in the trade ids, lost trades, a quiet
// market and the exchange's bars on the bus.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MemoryBus } from '../../src/lib/bus/index.js'
import type { Interval } from '../../src/lib/consts.js'
import { LakeWriter } from '../../src/lib/lake/writer.js'
import type { DatasetId } from '../../src/lib/lake/schema.js'
import { validateBars } from '../../src/lib/lake/validate.js'
import { computeSignals, type Latest } from '../../src/lib/signals/compute.js'
import { runBatch } from '../../src/lib/signals/engine.js'
import { liveMarkdown } from '../../src/lib/signals/catalog.js'
import {
  BAR_FIELDS, barsFromTrades, selectLiveIndicators, startLive, tapeTrade, type LiveBar, type LiveEvent, type LiveOptions, type LiveSession, type TapeTrade,
} from '../../src/lib/signals/live.js'
import { INDICATORS, indicator } from '../../src/lib/signals/registry.js'
import type { Columns } from '../../src/lib/signals/types.js'
import { intervalUs } from '../../src/lib/time.js'
import type { Bar, BookSnapshot, IntegrityEvent, MarketRecord, Trade } from '../../src/lib/types.js'
import { FIXTURES, tempDir } from '../helpers.js'
import { realTrades } from './data.js'
import { realBook } from './micro-data.js'

const MIN = 60_000_000
const SEC = 1_000_000
const INSTRUMENT = { exchange: 'binance', symbol: 'BTCUSDT' } as const
/** Receipt 50 ms after the exchange time */
const LAG = 50_000
const KLINES = join(FIXTURES, 'binance', 'BTCUSDT-1m-2024-08-08T2350.csv')

/** Binance's 1m klines 2024-08-08 23:50 to 2024-08-09 00:09 as bar records. */
function klines(): Bar[] {
  return readFileSync(KLINES, 'utf8').trim().split('\n').map((l) => {
    const f = l.split(',').map(Number)
    return {
      type: 'bar', exchange: 'binance', symbol: 'BTCUSDT', interval: '1m', timestamp: f[0] * 1000, localTimestamp: f[6] * 1000 + 999,
      closeTime: f[6] * 1000 + 999, open: f[1], high: f[2], low: f[3], close: f[4], volume: f[5], quoteVolume: f[7], trades: f[8],
      takerBuyVolume: f[9], takerBuyQuoteVolume: f[10],
    }
  })
}

async function trades(): Promise<Trade[]> {
  const t = await realTrades()
  return Array.from(t.id, (id, i) => ({
    type: 'trade', exchange: 'binance', symbol: 'BTCUSDT', id, timestamp: t.timestamp[i], localTimestamp: t.timestamp[i] + LAG,
    price: t.price[i], amount: t.amount[i], side: t.side[i] > 0 ? 'buy' : 'sell',
  }) as Trade)
}

async function books(): Promise<BookSnapshot[]> {
  const b = await realBook()
  return Array.from(b.timestamp, (ts, i) => ({
    type: 'book_snapshot', exchange: 'binance', symbol: 'BTCUSDT', timestamp: ts, localTimestamp: ts + LAG, depth: 20,
    bids: Array.from({ length: 20 }, (_, k) => ({ price: b[`bid_px_${k}`][i], amount: b[`bid_sz_${k}`][i] })),
    asks: Array.from({ length: 20 }, (_, k) => ({ price: b[`ask_px_${k}`][i], amount: b[`ask_sz_${k}`][i] })),
  }))
}

/** Stages columns into a lake dataset and commits them. */
async function write(lake: string, ds: DatasetId, f64: Record<string, Float64Array>): Promise<void> {
  const rows = Object.values(f64)[0].length
  const w = await LakeWriter.open(lake)
  try {
    await w.stage(ds, { rows, source: 0, line: Float64Array.from({ length: rows }, (_, i) => i + 1), f64 })
    await w.commit(ds)
  } finally {
    w.close()
  }
}

async function writeBars(lake: string, interval: Interval, bars: readonly LiveBar[]): Promise<void> {
  const step = intervalUs(interval)!
  const col = (f: (b: LiveBar) => number) => Float64Array.from(bars, f)
  await write(lake, { kind: 'bars', ...INSTRUMENT, interval }, {
    open_time: col((b) => b.openTime), close_time: col((b) => b.openTime + step - 1), open: col((b) => b.open), high: col((b) => b.high),
    low: col((b) => b.low), close: col((b) => b.close), volume: col((b) => b.volume), quote_volume: col((b) => b.quoteVolume),
    trades: col((b) => b.trades), taker_buy_volume: col((b) => b.takerBuyVolume), taker_buy_quote_volume: col((b) => b.takerBuyQuoteVolume),
    local_timestamp: col((b) => b.openTime + step - 1),
  })
}

async function writeTrades(lake: string, rows: readonly Trade[]): Promise<void> {
  const col = (f: (t: Trade) => number) => Float64Array.from(rows, f)
  await write(lake, { kind: 'trades', ...INSTRUMENT }, {
    id: col((t) => t.id), timestamp: col((t) => t.timestamp), local_timestamp: col((t) => t.timestamp), price: col((t) => t.price),
    amount: col((t) => t.amount), side: col((t) => (t.side === 'buy' ? 1 : -1)),
  })
}

const asLive = (b: Bar): LiveBar => ({
  openTime: b.timestamp, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, quoteVolume: b.quoteVolume!,
  trades: b.trades!, takerBuyVolume: b.takerBuyVolume!, takerBuyQuoteVolume: b.takerBuyQuoteVolume!, source: 'exchange', empty: false, complete: true,
})

/** Bars as columns named like the lake's. */
function columns(bars: readonly LiveBar[]): Columns {
  const get: Record<(typeof BAR_FIELDS)[number], (b: LiveBar) => number> = {
    open_time: (b) => b.openTime, open: (b) => b.open, high: (b) => b.high, low: (b) => b.low, close: (b) => b.close, volume: (b) => b.volume,
    quote_volume: (b) => b.quoteVolume, trades: (b) => b.trades, taker_buy_volume: (b) => b.takerBuyVolume, taker_buy_quote_volume: (b) => b.takerBuyQuoteVolume,
  }
  return Object.fromEntries(BAR_FIELDS.map((f) => [f, Float64Array.from(bars, get[f])]))
}

/** Live session on a MemoryBus with a clock the test moves. */
async function session(lake: string, o: Partial<LiveOptions> & { interval: Interval }) {
  const bus = new MemoryBus()
  const events: LiveEvent[] = []
  const clock = { now: 0 }
  const s: LiveSession = await startLive({ lakeDir: lake, instrument: INSTRUMENT, bus, tickMs: 60_000, now: () => clock.now, onEvent: (e) => events.push(e), ...o })
  s.begin()
  const publish = (r: MarketRecord) => {
    clock.now = Math.max(clock.now, r.timestamp + LAG)
    bus.publish(r)
  }
  const bars = () => events.flatMap((e) => (e.type === 'bar' ? [e] : []))
  const warnings = () => events.flatMap((e) => (e.type === 'warning' ? [e] : []))
  return { bus, s, events, clock, publish, bars, warnings }
}

/** Records merged by exchange time (book snapshots before trades of the same µs). */
function merged(...lists: MarketRecord[][]): MarketRecord[] {
  return lists.flat().sort((a, b) => a.timestamp - b.timestamp || (a.type === 'book_snapshot' ? -1 : 0) - (b.type === 'book_snapshot' ? -1 : 0))
}

/** Value of every output at the last row with a timestamp before `end`. */
function asOf(outs: Float64Array[], ts: Float64Array, end: number): number[] {
  let i = -1
  while (i + 1 < ts.length && ts[i + 1] < end) i++
  return outs.map((o) => (i < 0 ? NaN : o[i]))
}

const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))

function expectBarsEqual(live: LiveBar, want: LiveBar, what: string) {
  for (const f of ['open', 'high', 'low', 'close', 'trades'] as const) expect(live[f], `${what} ${f}`).toBe(want[f])
  for (const f of ['volume', 'quoteVolume', 'takerBuyVolume', 'takerBuyQuoteVolume'] as const) {
    expect(Math.abs(live[f] - want[f]), `${what} ${f} ${live[f]} vs ${want[f]}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(want[f])))
  }
}

/** A lake holding Binance's 1m klines 23:50 to 23:55 (the minutes before the trades' first whole minute). */
async function lakeWithKlines(): Promise<string> {
  const lake = tempDir()
  await writeBars(lake, '1m', klines().filter((k) => k.timestamp < Date.UTC(2024, 7, 8, 23, 56) * 1000).map(asLive))
  return lake
}

const BAR_IDS = ['sma', 'ema', 'rsi', 'bbands', 'atr', 'obv', 'stoch', 'cvd_bars', 'taker_imbalance', 'macd', 'confluence']
const TAPE_IDS = ['cvd', 'trade_imbalance', 'kyle_lambda', 'vpin', 'hawkes', 'ofi', 'spread', 'microprice', 'depth_imbalance', 'liquidity_walls']
const SHORT = { sma: { timePeriod: 3 }, ema: { timePeriod: 3 }, rsi: { timePeriod: 3 }, bbands: { timePeriod: 3 }, atr: { timePeriod: 3 }, taker_imbalance: { timePeriod: 3 }, trade_imbalance: { timePeriod: 50 }, kyle_lambda: { timePeriod: 50 } }

describe('live signals on the real trades and book', () => {
  it('builds 1m bars equal to Binance klines and updates every indicator to its batch value', async () => {
    const lake = await lakeWithKlines()
    const all = await trades()
    const book = await books()
    const live = await session(lake, { interval: '1m', only: [...BAR_IDS, ...TAPE_IDS], params: SHORT })
    expect(live.s.ready).toMatchObject({ warmupBars: 6, warmupSource: '1m', warmedUntil: Date.UTC(2024, 7, 8, 23, 56) * 1000, warmupTrades: 0 })
    for (const r of merged(all, book)) live.publish(r)
    // 23:54 is partial and 23:55 is in the lake; 23:56 to 00:04 closed when a trade of the next minute came
    let bars = live.bars()
    expect(bars.map((e) => e.bar.openTime)).toEqual(Array.from({ length: 9 }, (_, k) => Date.UTC(2024, 7, 8, 23, 56 + k) * 1000))
    const exchange = klines()
    for (const e of bars) {
      const k = exchange.find((x) => x.timestamp === e.bar.openTime)!
      expectBarsEqual(e.bar, asLive(k), new Date(e.bar.openTime / 1000).toISOString())
      expect(e.bar).toMatchObject({ source: 'trades', complete: true, empty: false })
    }
    // The last trade is 00:05:05.8: the clock closes 00:05 once its end, the feed's lag and the grace have passed,
    // then the quiet minutes as flat bars at the last price
    const end = Date.UTC(2024, 7, 9, 0, 6) * 1000
    live.clock.now = end + LAG + 2 * SEC - 1
    live.s.tick()
    expect(live.bars()).toHaveLength(9)
    live.clock.now = end + 2 * MIN + LAG + 2 * SEC
    live.s.tick()
    bars = live.bars()
    expect(bars.map((e) => e.bar.openTime).slice(9)).toEqual([0, 1, 2].map((k) => end - MIN + k * MIN))
    const last = all.at(-1)!
    expect(bars[10].bar).toMatchObject({ open: last.price, high: last.price, low: last.price, close: last.price, volume: 0, trades: 0, empty: true, complete: true })

    // Every bar with trades equals the trades->bars aggregation of the same trades
    const built = barsFromTrades(all.map(tapeTrade), '1m')
    expect(bars.slice(0, 10).map((e) => e.bar)).toEqual(built.slice(2))

    // Bar indicators: the batch command's computation over the warm-up bars and the live bars, bar by bar
    const warm = exchange.filter((k) => k.timestamp < Date.UTC(2024, 7, 8, 23, 56) * 1000).map(asLive)
    const t = await realTrades()
    const b = await realBook()
    for (let k = 0; k < bars.length; k++) {
      const e = bars[k]
      const batch = computeSignals(columns([...warm, ...bars.slice(0, k + 1).map((x) => x.bar)]), '1m', { only: BAR_IDS, params: SHORT })
      expect(e.latest.filter((l) => BAR_IDS.includes(l.id))).toEqual(batch.latest)
      expect(e.confluence).toEqual(batch.latest.find((l) => l.id === 'confluence'))
      // Trade and book indicators: their batch value at the last trade / snapshot before the bar's end
      for (const id of TAPE_IDS) {
        const d = indicator(id)
        const src = d.source === 'trades' ? t : b
        const want = asOf(runBatch(d, src, SHORT[id as keyof typeof SHORT]), src.timestamp, e.bar.openTime + MIN)
        const got = e.latest.find((l) => l.id === id)!
        d.outputs.forEach((o, j) => expect(same(got.outputs[o], want[j]), `${id}.${o} at bar ${k}: live ${got.outputs[o]} batch ${want[j]}`).toBe(true))
      }
    }
    expect(bars.some((e) => Number.isFinite(e.values.rsi) && Number.isFinite(e.values.ofi) && Number.isFinite(e.values.kyle_lambda))).toBe(true)
    expect(live.warnings().map((w) => w.kind)).toEqual(['no_warmup'])
    const c = await live.s.stop()
    expect(c).toMatchObject({ bars: 12, emptyBars: 2, incompleteBars: 0, trades: all.length, duplicateTrades: 0, lateTrades: 0, lostTrades: 0, bookSnapshots: book.length })
  })

  it('on 1s bars, every bar indicator and the 1m timeframe equal the batch computation; the bars pass data validate', async () => {
    const lake = tempDir()
    const all = await trades()
    const cut = Date.UTC(2024, 7, 8, 23, 59) * 1000
    const before = all.filter((x) => x.timestamp < cut)
    // The lake: the trades before the cut and the 1s bars built from them (the first, partial second left out)
    const warm = barsFromTrades(before.map(tapeTrade), '1s').slice(1)
    await writeTrades(lake, before)
    await writeBars(lake, '1s', warm)
    const only = INDICATORS.filter((d) => d.source === 'bars' && d.id !== 'mtf_alignment').map((d) => d.id)
    const live = await session(lake, { interval: '1s', only, mtf: ['1m'] })
    expect(live.s.ready).toMatchObject({ warmupBars: warm.length, warmedUntil: cut, lastTradeId: before.at(-1)!.id })
    // The bus sends everything again from the first trade: what the lake holds is recognised by id
    for (const r of all) live.publish(r)
    const bars = live.bars()
    const built = barsFromTrades(all.map(tapeTrade), '1s')
    expect(bars[0].bar.openTime).toBe(cut)
    expect(bars.at(-1)!.bar.openTime).toBe(built.at(-2)!.openTime)
    expect(bars.map((e) => e.bar)).toEqual(built.filter((b) => b.openTime >= cut).slice(0, -1))
    // Seconds without a trade are flat bars
    expect(bars.filter((e) => e.bar.empty).length).toBeGreaterThan(0)
    for (let k = 0; k < bars.length; k++) {
      const batch = computeSignals(columns([...warm, ...bars.slice(0, k + 1).map((x) => x.bar)]), '1s', { only, mtf: ['1m'] })
      const got = bars[k].latest
      if (!equalLatest(got, batch.latest)) expect(got, `bar ${k}`).toEqual(batch.latest)
    }
    expect(bars.at(-1)!.latest.filter((l) => l.timeframe === '1m').length).toBe(only.length)
    const finite = bars.at(-1)!.latest.filter((l) => l.timeframe === '1s' && Object.values(l.outputs).every(Number.isFinite))
    expect(finite.length).toBeGreaterThan(only.length * 0.8)
    const c = await live.s.stop()
    expect(c).toMatchObject({ duplicateTrades: before.length, lostTrades: 0, lateTrades: 0, incompleteBars: 0 })

    // The lake's own aggregation (`mercury data validate`) rebuilds the same bars from the same trades
    await writeTrades(lake, all.filter((x) => x.timestamp >= cut))
    await writeBars(lake, '1s', bars.map((e) => e.bar))
    const v = await validateBars({ lakeDir: lake, instrument: INSTRUMENT, interval: '1s' })
    expect(v.tradeSource).toBe('trades')
    expect(v.mismatches).toEqual([])
    expect(v.compared).toBeGreaterThan(500)
    // Every bar with trades, both sides of it in the lake's trades
    expect(v.compared).toBe([...warm, ...bars.map((e) => e.bar)].filter((x) => !x.empty).length)
  })
})

/** Latest lists equal, NaN equal to NaN */
function equalLatest(a: readonly Latest[], b: readonly Latest[]): boolean {
  if (a.length !== b.length) return false
  return a.every((x, i) => {
    const y = b[i]
    return x.id === y.id && x.timeframe === y.timeframe && x.reading === y.reading &&
      Object.keys(y.outputs).every((k) => same(x.outputs[k], y.outputs[k]))
  })
}

describe('live signals through holes in the trades', () => {
  const minute = (m: number) => Date.UTC(2024, 7, 8, 23, m) * 1000
  /** Trade ids of 23:58:20 to 23:58:30, withheld from the bus */
  const withheld = (all: Trade[]) => all.filter((x) => x.timestamp >= minute(58) + 20 * SEC && x.timestamp < minute(58) + 30 * SEC)

  it('holds the bar until trades repaired from REST arrive, then builds it exactly', async () => {
    const lake = await lakeWithKlines()
    const all = await trades()
    const hole = withheld(all)
    const ids = new Set(hole.map((x) => x.id))
    const live = await session(lake, { interval: '1m', only: ['sma'], params: { sma: { timePeriod: 3 } } })
    let sent = 0
    for (const r of all) {
      if (ids.has(r.id)) continue
      live.publish(r)
      // Re-sent frames are dropped
      if (sent++ % 500 === 0) live.publish(r)
      // The collector's REST repair comes back while the next minute is under way
      if (hole.length && r.timestamp >= minute(59) + 10 * SEC) {
        expect(live.bars().at(-1)!.bar.openTime).toBe(minute(57))
        for (const x of hole.splice(0)) live.publish({ ...x, localTimestamp: r.localTimestamp })
      }
    }
    const bars = live.bars()
    expect(bars).toHaveLength(9)
    const exchange = klines()
    for (const e of bars) expectBarsEqual(e.bar, asLive(exchange.find((k) => k.timestamp === e.bar.openTime)!), `${e.bar.openTime}`)
    expect(live.warnings().filter((w) => w.kind !== 'no_warmup')).toEqual([])
    expect(live.s.counts).toMatchObject({ lostTrades: 0, incompleteBars: 0, lateTrades: 0 })
    expect(live.s.counts.duplicateTrades).toBeGreaterThan(30)
    await live.s.stop()
  })

  it('marks the bars around trades declared lost by a gap event and reports trades that come later', async () => {
    const lake = await lakeWithKlines()
    const all = await trades()
    const hole = withheld(all)
    const ids = new Set(hole.map((x) => x.id))
    const live = await session(lake, { interval: '1m', only: ['sma', 'obv'], params: { sma: { timePeriod: 3 } } })
    const first = hole[0].id
    const lastId = hole.at(-1)!.id
    for (const r of all) {
      if (ids.has(r.id)) continue
      // As the collector does: the gap event goes out before the trade that revealed it
      if (r.id === lastId + 1) {
        const gap: IntegrityEvent = {
          type: 'integrity', exchange: 'binance', symbol: 'BTCUSDT', timestamp: r.timestamp, localTimestamp: r.timestamp + LAG,
          kind: 'gap', stream: 'trades', from: first, to: lastId, detail: `trade ids ${first}..${lastId} not served by REST`,
        }
        live.publish(gap)
      }
      live.publish(r)
    }
    // Too late: their bar is out
    for (const x of hole.slice(0, 3)) live.publish(x)
    const bars = live.bars()
    expect(bars.map((e) => [new Date(e.bar.openTime / 1000).toISOString().slice(11, 16), e.bar.complete])).toEqual([
      ['23:56', true], ['23:57', true], ['23:58', false], ['23:59', true], ['00:00', true], ['00:01', true], ['00:02', true], ['00:03', true], ['00:04', true],
    ])
    const exchange = klines()
    const b58 = bars[2].bar
    const k58 = exchange.find((k) => k.timestamp === minute(58))!
    expect(b58.trades).toBe(k58.trades! - hole.length)
    expect(b58.volume).toBeLessThan(k58.volume)
    const w = live.warnings().filter((x) => x.kind !== 'no_warmup')
    expect(w[0]).toMatchObject({ kind: 'trade_gap', from: first, to: lastId })
    expect(w.slice(1).map((x) => x.kind)).toEqual(['late_trades', 'late_trades', 'late_trades'])
    expect(live.events.filter((e) => e.type === 'integrity')).toHaveLength(1)
    expect(live.s.counts).toMatchObject({ lostTrades: hole.length, incompleteBars: 1, lateTrades: 3 })
    await live.s.stop()
  })

  it('declares a hole lost after --gap-wait, and a disconnect stops the clock from closing bars', async () => {
    const lake = await lakeWithKlines()
    const all = await trades()
    const hole = withheld(all)
    const ids = new Set(hole.map((x) => x.id))
    const live = await session(lake, { interval: '1m', only: ['sma'], params: { sma: { timePeriod: 3 } }, gapWaitMs: 5000 })
    // The first trade after the hole starts the wait
    const after = all.find((x) => x.timestamp >= minute(58) + 30 * SEC)!
    const since = after.timestamp + LAG
    for (const r of all.filter((x) => x.timestamp < after.timestamp + 3 * SEC && !ids.has(x.id))) live.publish(r)
    live.clock.now = since + 5 * SEC - 1
    live.s.tick()
    expect(live.s.counts).toMatchObject({ lostTrades: 0 })
    live.clock.now = since + 5 * SEC
    live.s.tick()
    expect(live.s.counts).toMatchObject({ lostTrades: hole.length })
    expect(live.warnings().find((w) => w.kind === 'trade_gap')?.message).toMatch(/not received within 5000 ms/)
    // The held trades went on; 23:58 closes with the first trade of 23:59, incomplete
    for (const r of all.filter((x) => x.timestamp >= after.timestamp + 3 * SEC && x.timestamp < minute(59) + 30 * SEC)) live.publish(r)
    expect(live.bars().map((e) => [e.bar.openTime, e.bar.complete]).slice(-2)).toEqual([[minute(57), true], [minute(58), false]])

    // A disconnect: the clock closes no bar until a trade shows the feed is back
    live.publish({
      type: 'integrity', exchange: 'binance', symbol: 'BTCUSDT', timestamp: minute(59) + 31 * SEC, localTimestamp: minute(59) + 31 * SEC + LAG,
      kind: 'disconnect', stream: 'binance/trades', from: undefined, to: undefined, detail: 'socket closed (1006)',
    })
    live.clock.now = minute(60) + LAG + 3 * SEC
    live.s.tick()
    expect(live.bars().at(-1)!.bar.openTime).toBe(minute(58))
    for (const r of all.filter((x) => x.timestamp >= minute(59) + 30 * SEC && x.timestamp < minute(60) + 10 * SEC)) live.publish(r)
    expect(live.bars().at(-1)!.bar).toMatchObject({ openTime: minute(59), complete: true })
    expect(live.events.some((e) => e.type === 'integrity' && e.event.kind === 'disconnect')).toBe(true)
    await live.s.stop()
  })
})

describe('live signals starting beside a running collector', () => {
  it('continues from the lake: its trades after its bars are warm-up, and the hole before the bus\'s first trade is read back', async () => {
    const lake = await lakeWithKlines()
    const all = await trades()
    const minute = (m: number) => Date.UTC(2024, 7, 8, 23, m) * 1000
    // The collector had persisted the trades up to 23:57:30; the bus delivers from 23:57:40 (the 10 s between are
    // in its next batch)
    const persisted = all.filter((x) => x.timestamp < minute(57) + 30 * SEC)
    const pending = all.filter((x) => x.timestamp >= minute(57) + 30 * SEC && x.timestamp < minute(57) + 40 * SEC)
    await writeTrades(lake, persisted)
    const only = ['sma', 'rsi', 'cvd']
    const params = { sma: { timePeriod: 3 }, rsi: { timePeriod: 3 } }
    const live = await session(lake, { interval: '1m', only, params })
    // 23:56 is built from the lake's trades and fed as warm-up; 23:57 continues on the bus
    expect(live.s.ready).toMatchObject({ warmupBars: 6, warmedUntil: minute(57), lastTradeId: persisted.at(-1)!.id, warmupTrades: persisted.length })
    const fromBus = all.filter((x) => x.timestamp >= minute(57) + 40 * SEC && x.timestamp < minute(59) + 10 * SEC)
    const first = fromBus.filter((x) => x.timestamp < minute(57) + 43 * SEC)
    for (const r of first) live.publish(r)
    expect(live.s.counts.trades).toBe(persisted.length)
    // The read-back finds nothing yet, then the collector's batch lands and the next read-back fills the hole
    const readBack = async () => {
      live.s.tick()
      for (let i = 0; i < 40; i++) await new Promise((r) => setTimeout(r, 25))
    }
    await readBack()
    expect(live.s.counts.trades).toBe(persisted.length)
    await writeTrades(lake, pending)
    live.clock.now += SEC
    await readBack()
    expect(live.s.counts.trades).toBe(persisted.length + pending.length + first.length)
    for (const r of fromBus.slice(first.length)) live.publish(r)
    const bars = live.bars()
    expect(bars.map((e) => e.bar.openTime)).toEqual([minute(57), minute(58)])
    const exchange = klines()
    for (const e of bars) expectBarsEqual(e.bar, asLive(exchange.find((k) => k.timestamp === e.bar.openTime)!), `${e.bar.openTime}`)
    expect(bars.every((e) => e.bar.complete)).toBe(true)
    // Values: the batch computation over the lake's bars, the bar built from its trades, and the live bars
    const bridge = barsFromTrades(persisted.map(tapeTrade), '1m').find((b) => b.openTime === minute(56))!
    const warm = [...exchange.filter((k) => k.timestamp < minute(56)).map(asLive), bridge]
    const batch = computeSignals(columns([...warm, ...bars.map((e) => e.bar)]), '1m', { only: ['sma', 'rsi'], params })
    expect(bars.at(-1)!.latest.filter((l) => l.id !== 'cvd')).toEqual(batch.latest)
    // cvd ran over every trade from the lake's (an hour back: all of them) to the bar's end, in id order
    const fed = all.filter((x) => x.timestamp < minute(59))
    expect(bars.at(-1)!.values.cvd).toBe(fed.reduce((a, x) => a + (x.side === 'buy' ? 1 : -1) * x.amount, 0))
    expect(live.s.counts).toMatchObject({ lostTrades: 0, lateTrades: 0 })
    expect(live.warnings().filter((w) => w.kind !== 'no_warmup')).toEqual([])
    await live.s.stop()
  })
})

describe('live signals from the exchange bars on the bus', () => {
  it('auto: checks every trade-built bar against the exchange bar; bars: takes the exchange bars as they come', async () => {
    const lake = await lakeWithKlines()
    const all = await trades()
    const exchange = klines()
    // The kline of a minute goes out 400 ms after its end, among the next minute's trades
    const kl = exchange
      .filter((k) => k.timestamp >= Date.UTC(2024, 7, 8, 23, 56) * 1000 && k.timestamp < Date.UTC(2024, 7, 9, 0, 5) * 1000)
      .map((k) => ({ ...k, localTimestamp: k.closeTime + 400_000 }))
    const arrival = (r: MarketRecord) => (r.type === 'bar' ? r.localTimestamp : r.timestamp + LAG)
    const withBars = [...all, ...kl].sort((a, b) => arrival(a) - arrival(b))
    const auto = await session(lake, { interval: '1m', only: ['sma', 'rsi'], params: { sma: { timePeriod: 3 }, rsi: { timePeriod: 3 } } })
    for (const r of withBars) {
      auto.clock.now = Math.max(auto.clock.now, arrival(r))
      auto.bus.publish(r)
    }
    expect(auto.s.counts).toMatchObject({ bars: 9, compared: 9, mismatched: 0 })
    await auto.s.stop()

    const only = await session(lake, { interval: '1m', only: ['sma', 'rsi'], params: { sma: { timePeriod: 3 }, rsi: { timePeriod: 3 } }, source: 'bars' })
    for (const r of withBars) {
      only.clock.now = Math.max(only.clock.now, arrival(r))
      only.bus.publish(r)
    }
    const bars = only.bars()
    expect(bars.map((e) => e.bar)).toEqual(exchange.filter((k) => k.timestamp >= Date.UTC(2024, 7, 8, 23, 56) * 1000 && k.timestamp < Date.UTC(2024, 7, 9, 0, 5) * 1000)
      .map((k) => ({ ...asLive(k), empty: false })))
    const warm = exchange.filter((k) => k.timestamp < Date.UTC(2024, 7, 8, 23, 56) * 1000).map(asLive)
    const batch = computeSignals(columns([...warm, ...bars.map((e) => e.bar)]), '1m', { only: ['sma', 'rsi'], params: { sma: { timePeriod: 3 }, rsi: { timePeriod: 3 } } })
    expect(bars.at(-1)!.latest).toEqual(batch.latest)
    expect(only.s.counts).toMatchObject({ bars: 9, exchangeBars: 9 })
    await only.s.stop()
  })

  it('stores the live values in the lake as kind signals', async () => {
    const lake = await lakeWithKlines()
    const all = await trades()
    const live = await session(lake, { interval: '1m', only: ['sma', 'bbands'], params: { sma: { timePeriod: 3 }, bbands: { timePeriod: 3 } }, store: true })
    for (const r of all) live.publish(r)
    const c = await live.s.stop()
    const values = live.bars().reduce((a, e) => a + Object.values(e.values).filter(Number.isFinite).length, 0)
    expect(c.stored).toBe(values)
    const { LakeReader } = await import('../../src/lib/lake/reader.js')
    const r = await LakeReader.open(lake)
    try {
      const q = await r.query(`SELECT series, count(*)::INT n, max(open_time)::DOUBLE t FROM signals GROUP BY 1 ORDER BY 1`)
      expect(q.rows).toEqual([
        ['bbands.lowerBand', 9, Date.UTC(2024, 7, 9, 0, 4) * 1000], ['bbands.middleBand', 9, Date.UTC(2024, 7, 9, 0, 4) * 1000],
        ['bbands.upperBand', 9, Date.UTC(2024, 7, 9, 0, 4) * 1000], ['sma', 9, Date.UTC(2024, 7, 9, 0, 4) * 1000],
      ])
    } finally {
      r.close()
    }
  })
})

describe('what --live runs', () => {
  it('feeds bar, trade and book indicators, refuses the others, and documents both lists from the registry', () => {
    expect(selectLiveIndicators().map((d) => d.id)).toEqual(INDICATORS.filter((d) => d.source === 'bars').map((d) => d.id))
    expect(selectLiveIndicators(['cvd', 'ofi', 'rsi']).map((d) => d.source)).toEqual(['trades', 'book', 'bars'])
    const md = liveMarkdown()
    for (const d of INDICATORS.filter((x) => x.source !== 'bars')) {
      expect(md).toContain(`\`${d.id}\``)
      if (['funding', 'open_interest', 'liquidations'].includes(d.source)) {
        expect(() => selectLiveIndicators([d.id])).toThrow(new RegExp(`${d.id} reads ${d.source} data, which --live does not feed`))
      }
    }
  })
})
