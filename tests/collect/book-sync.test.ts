// The book engine against real recordings: every venue's snapshot-plus-diffs procedure must rebuild a book whose
// top equals what the exchange itself published (Binance bookTicker, Coinbase ticker), and every injected fault
// must surface as an integrity event

import { beforeAll, describe, expect, it } from 'vitest'
import { createBookSync, OrderBook, type BookSync, type SyncStep } from '../../src/lib/book/index.js'
import { mapBinanceMessage, parseBinanceDepthSnapshot, type BinanceExchange } from '../../src/lib/exchanges/binance/stream.js'
import { mapCoinbaseMessage, parseCoinbaseAdvancedL2 } from '../../src/lib/exchanges/coinbase/index.js'
import type { BookChange, BookLevel, BookTicker, IntegrityEvent, Trade } from '../../src/lib/types.js'
import { fixture, merge, readCryptofeed, readHftbacktest, type Frame } from './recordings.js'

// ---- Binance recordings as parsed event lists ----

type BinanceEvent = { kind: 'diff'; change: BookChange } | { kind: 'snapshot'; change: BookChange } | { kind: 'ticker'; ticker: BookTicker }

function binanceEvents(exchange: BinanceExchange, symbol: string, frames: Frame[]): BinanceEvent[] {
  const out: BinanceEvent[] = []
  for (const f of frames) {
    const m = f.msg as Record<string, unknown>
    if (m.lastUpdateId !== undefined) {
      // REST depth snapshot: hftbacktest's line without "stream", or a cryptofeed REST body for this symbol
      if (f.url === undefined || f.url.includes(`symbol=${symbol}&`)) out.push({ kind: 'snapshot', change: parseBinanceDepthSnapshot(m, exchange, symbol, f.local) })
      continue
    }
    for (const r of mapBinanceMessage(exchange, m, f.local)) {
      if (r.type === 'book_change' && r.symbol === symbol) out.push({ kind: 'diff', change: r })
      else if (r.type === 'book_ticker' && r.symbol === symbol) out.push({ kind: 'ticker', ticker: r })
    }
  }
  return out
}

/** Top of book after one applied diff. */
interface TopState {
  readonly u: number
  readonly bid: number | undefined
  readonly bidAmount: number | undefined
  readonly ask: number | undefined
  readonly askAmount: number | undefined
}

const topOf = (u: number, b: OrderBook): TopState => ({ u, bid: b.bidPrice(), bidAmount: b.bidAmount(), ask: b.askPrice(), askAmount: b.askAmount() })

interface Run {
  readonly sync: BookSync
  readonly steps: SyncStep[]
  readonly integrity: IntegrityEvent[]
  readonly applied: BookChange[]
  /** Top of book after every applied diff while synced */
  readonly states: TopState[]
  readonly tickers: BookTicker[]
  /** Steps that asked for a snapshot */
  readonly needSnapshot: number
}

function record(sync: BookSync, step: SyncStep, run: { steps: SyncStep[]; integrity: IntegrityEvent[]; applied: BookChange[]; states: TopState[] }): void {
  run.steps.push(step)
  run.integrity.push(...step.integrity)
  run.applied.push(...step.applied)
  // Only the last applied change of a step is the book's current state; earlier ones were intermediate
  if (sync.state === 'synced' && step.applied.length > 0) {
    const last = step.applied[step.applied.length - 1]
    if (!last.isSnapshot) run.states.push(topOf(last.lastUpdateId as number, sync.book))
  }
}

/** Feeds events through a fresh sync; `hook` may replace an event by others (fault injection). */
function drive(
  exchange: BinanceExchange,
  symbol: string,
  events: BinanceEvent[],
  hook?: (e: BinanceEvent, i: number, sync: BookSync) => BinanceEvent[] | undefined,
  maxBuffer?: number,
): Run {
  const sync = createBookSync(exchange, symbol, { maxBuffer })
  const run = { sync, steps: [] as SyncStep[], integrity: [] as IntegrityEvent[], applied: [] as BookChange[], states: [] as TopState[], tickers: [] as BookTicker[] }
  for (let i = 0; i < events.length; i++) {
    for (const e of hook?.(events[i], i, sync) ?? [events[i]]) {
      if (e.kind === 'ticker') run.tickers.push(e.ticker)
      else record(sync, e.kind === 'diff' ? sync.onDiff(e.change) : sync.onSnapshot(e.change), run)
    }
  }
  return { ...run, needSnapshot: run.steps.filter((s) => s.needSnapshot).length }
}

interface TickerCheck {
  /** Tickers whose `u` equals an applied diff's final `u`: the book state is exactly the ticker's */
  exact: number
  exactBad: string[]
  /** Applied diffs compared with the newest ticker at or before their `u` */
  latest: number
  latestBad: string[]
}

const same = (s: TopState, t: BookTicker) => s.bid === t.bidPrice && s.bidAmount === t.bidAmount && s.ask === t.askPrice && s.askAmount === t.askAmount
const show = (s: TopState, t: BookTicker) =>
  `u=${s.u} book ${s.bid}x${s.bidAmount} / ${s.ask}x${s.askAmount} ticker(u=${t.updateId}) ${t.bidPrice}x${t.bidAmount} / ${t.askPrice}x${t.askAmount}`

/**
 * Compares the book with the exchange's bookTicker.
 * - Exact: a ticker with update id `u` reflects the book after all updates <= u; the book after the diff ending
 *   at u_k reflects all updates <= u_k. A ticker with u_k < u < u_{k+1} reflects a state inside the next diff
 *   that the book never holds, so only `ticker.u === u_k` is exactly comparable.
 * - Latest: bookTicker is pushed on every change of the best price or quantity, so the newest ticker with
 *   u <= u_k still describes the top after u_k: any change in between would have produced a newer ticker.
 *   This compares every diff, and holds as long as the ticker stream lost nothing.
 */
function checkTickers(states: TopState[], tickers: BookTicker[]): TickerCheck {
  const sorted = [...tickers].sort((a, b) => (a.updateId as number) - (b.updateId as number))
  const byU = new Map(states.map((s) => [s.u, s]))
  const out: TickerCheck = { exact: 0, exactBad: [], latest: 0, latestBad: [] }
  for (const t of sorted) {
    const s = byU.get(t.updateId as number)
    if (!s) continue
    out.exact++
    if (!same(s, t)) out.exactBad.push(show(s, t))
  }
  let j = -1
  for (const s of [...states].sort((a, b) => a.u - b.u)) {
    while (j + 1 < sorted.length && (sorted[j + 1].updateId as number) <= s.u) j++
    if (j < 0) continue
    out.latest++
    if (!same(s, sorted[j])) out.latestBad.push(show(s, sorted[j]))
  }
  return out
}

/** What a persister storing `applied` rebuilds: a snapshot clears, everything is applied in order. */
function rebuild(applied: readonly BookChange[]): OrderBook {
  const b = new OrderBook()
  for (const c of applied) {
    if (c.isSnapshot) b.clear()
    b.apply(c.bids, c.asks)
  }
  return b
}

const ALL = 1_000_000

/** A snapshot made from a correct book (a clean run of the same recording) at update id `u`. */
function snapshotOf(book: OrderBook, exchange: BinanceExchange, symbol: string, u: number, at: BookChange): BookChange {
  const { bids, asks } = book.top(ALL)
  return {
    type: 'book_change',
    exchange,
    symbol,
    timestamp: at.timestamp,
    localTimestamp: at.localTimestamp,
    isSnapshot: true,
    firstUpdateId: u,
    lastUpdateId: u,
    prevUpdateId: undefined,
    bids,
    asks,
  }
}

// ---- acceptance: real recordings ----

describe('binance spot BTCUSDT recording (hftbacktest 2024-08-08)', () => {
  let events: BinanceEvent[]
  let run: Run
  beforeAll(() => {
    events = binanceEvents('binance', 'BTCUSDT', readHftbacktest('spot-btcusdt_20240808.gz'))
    run = drive('binance', 'BTCUSDT', events)
  })

  it('syncs once from the snapshot that arrives after the diffs started', () => {
    const firstSnapshot = events.findIndex((e) => e.kind === 'snapshot')
    expect(events.slice(0, firstSnapshot).filter((e) => e.kind === 'diff').length).toBeGreaterThan(0)
    expect(events.filter((e) => e.kind === 'snapshot')).toHaveLength(1)
    expect(run.sync.state).toBe('synced')
    expect(run.needSnapshot).toBe(0)
    expect(run.integrity).toEqual([])
  })

  it('returns the snapshot first, then the buffered diff that bridges it', () => {
    const step = run.steps.find((s) => s.applied[0]?.isSnapshot) as SyncStep
    const [snap, bridge] = step.applied
    expect(snap.lastUpdateId).toBe(50093239218)
    expect(bridge.isSnapshot).toBe(false)
    expect(bridge.firstUpdateId as number).toBeLessThanOrEqual(50093239219)
    expect(bridge.lastUpdateId as number).toBeGreaterThanOrEqual(50093239219)
    // Every diff after the snapshot id is applied exactly once
    const after = events.filter((e) => e.kind === 'diff' && (e.change.lastUpdateId as number) > 50093239218)
    expect(run.applied.filter((c) => !c.isSnapshot)).toEqual(after.map((e) => (e.kind === 'diff' ? e.change : undefined)))
  })

  it('matches every exactly comparable bookTicker, and the newest ticker after every diff', () => {
    const c = checkTickers(run.states, run.tickers)
    expect(c.exact).toBeGreaterThan(500)
    expect(c.exactBad).toEqual([])
    expect(c.latest).toBe(run.states.length)
    expect(c.latestBad).toEqual([])
  })

  it('stores enough to rebuild the book exactly', () => {
    expect(rebuild(run.applied).top(ALL)).toEqual(run.sync.book.top(ALL))
  })
})

describe('binance futures recordings', () => {
  it('usdm BTCUSDT 2023-04-04 (hftbacktest): pu chain, bridge, every ticker matches', () => {
    const events = binanceEvents('binance-futures', 'BTCUSDT', readHftbacktest('usdm-btcusdt_20230404.dat.gz'))
    const run = drive('binance-futures', 'BTCUSDT', events)
    expect(run.sync.state).toBe('synced')
    expect([run.needSnapshot, run.integrity.length]).toEqual([0, 0])
    const c = checkTickers(run.states, run.tickers)
    expect(c.exact).toBeGreaterThan(300)
    expect(c.exactBad).toEqual([])
    expect(c.latest).toBeGreaterThan(4000)
    expect(c.latestBad).toEqual([])
    expect(rebuild(run.applied).top(ALL)).toEqual(run.sync.book.top(ALL))
  })

  const cfFutures = () => merge(readCryptofeed('BINANCE_FUTURES.ws.1.0.txt.gz'), readCryptofeed('BINANCE_FUTURES.http.0.0.txt.gz'))
  it.each(['SUSHIUSDT', 'AKROUSDT', 'KEEPUSDT', 'CTKUSDT'])('cryptofeed USD-M ws+http pair: %s', (symbol) => {
    const events = binanceEvents('binance-futures', symbol, cfFutures())
    const run = drive('binance-futures', symbol, events)
    expect(events.findIndex((e) => e.kind === 'snapshot')).toBeGreaterThan(events.findIndex((e) => e.kind === 'diff'))
    expect(run.sync.state).toBe('synced')
    expect([run.needSnapshot, run.integrity.length]).toEqual([0, 0])
    const c = checkTickers(run.states, run.tickers)
    expect(c.exact).toBeGreaterThan(5)
    expect([c.exactBad, c.latestBad]).toEqual([[], []])
  })

  const cfSpot = () => merge(readCryptofeed('BINANCE.ws.1.0.txt.gz'), readCryptofeed('BINANCE.http.0.0.txt.gz'))
  it.each(['NKNUSDT', 'BLZETH', 'LRCBTC', 'RUNEEUR'])('cryptofeed spot ws+http pair: %s', (symbol) => {
    const run = drive('binance', symbol, binanceEvents('binance', symbol, cfSpot()))
    expect(run.sync.state).toBe('synced')
    expect([run.needSnapshot, run.integrity.length]).toEqual([0, 0])
    const c = checkTickers(run.states, run.tickers)
    expect([c.exactBad, c.latestBad]).toEqual([[], []])
  })
})

// ---- fault injection ----

describe('binance spot fault injection', () => {
  let events: BinanceEvent[]
  let diffIdx: number[]
  let clean: Run
  /** Correct books of the clean run, by the index of the diff just applied */
  const books = new Map<number, BookChange>()
  const D = 1500
  const R = 1520

  beforeAll(() => {
    events = binanceEvents('binance', 'BTCUSDT', readHftbacktest('spot-btcusdt_20240808.gz'))
    diffIdx = events.flatMap((e, i) => (e.kind === 'diff' ? [i] : []))
    clean = drive('binance', 'BTCUSDT', events, (e, i, sync) => {
      if (e.kind === 'diff' && (i === diffIdx[R] || i === diffIdx[R + 200])) {
        const step = sync.onDiff(e.change)
        books.set(i, snapshotOf(sync.book, 'binance', 'BTCUSDT', e.change.lastUpdateId as number, e.change))
        expect(step.applied).toEqual([e.change])
        return []
      }
      return undefined
    })
  })

  const diff = (k: number) => (events[diffIdx[k]] as { change: BookChange }).change

  it('a dropped diff raises a gap with the missing ids and asks for a snapshot once', () => {
    const run = drive('binance', 'BTCUSDT', events, (_e, i) => (i === diffIdx[D] ? [] : undefined))
    expect(run.integrity).toHaveLength(1)
    const gap = run.integrity[0]
    expect(gap).toMatchObject({
      type: 'integrity',
      kind: 'gap',
      stream: 'book',
      exchange: 'binance',
      symbol: 'BTCUSDT',
      from: diff(D).firstUpdateId,
      to: diff(D).lastUpdateId,
      timestamp: diff(D + 1).timestamp,
      localTimestamp: diff(D + 1).localTimestamp,
    })
    expect(gap.detail).not.toContain('\n')
    // Edge-triggered: only the step that found the hole asks
    expect(run.needSnapshot).toBe(1)
    expect(run.sync.state).toBe('awaiting_snapshot')
    expect(run.sync.lastUpdateId).toBeUndefined()
    expect(run.applied.filter((c) => (c.lastUpdateId as number) > (diff(D).lastUpdateId as number))).toEqual([])
  })

  it('after the gap a newer snapshot resyncs, raises resync naming the gap, and the book matches tickers again', () => {
    const snap = books.get(diffIdx[R]) as BookChange
    let resyncStep: SyncStep | undefined
    const run = drive('binance', 'BTCUSDT', events, (e, i, sync) => {
      if (i === diffIdx[D]) return []
      if (i === diffIdx[R + 3]) {
        // Diffs R-1..R+3 are buffered; the snapshot at R makes R+1..R+3 applicable
        const out = sync.onDiff((e as { change: BookChange }).change)
        expect(out.applied).toEqual([])
        resyncStep = sync.onSnapshot(snap)
        return []
      }
      return undefined
    })
    const step = resyncStep as SyncStep
    expect(step.applied).toEqual([snap, diff(R + 1), diff(R + 2), diff(R + 3)])
    expect(step.needSnapshot).toBe(false)
    expect(step.integrity).toHaveLength(1)
    expect(step.integrity[0]).toMatchObject({ kind: 'resync', to: diff(R).lastUpdateId, timestamp: snap.timestamp })
    expect(step.integrity[0].detail).toMatch(/missing/)
    expect(run.integrity.map((e) => e.kind)).toEqual(['gap'])
    expect(run.sync.state).toBe('synced')
    const after = run.states.filter((s) => s.u > (diff(R).lastUpdateId as number))
    const c = checkTickers(after, run.tickers)
    expect(c.exact).toBeGreaterThan(100)
    expect([c.exactBad, c.latestBad]).toEqual([[], []])
    expect(run.sync.book.top(ALL)).toEqual(clean.sync.book.top(ALL))
  })

  it('a duplicated diff is stale and ignored', () => {
    const dupSteps: SyncStep[] = []
    const run = drive('binance', 'BTCUSDT', events, (e, i, sync) => {
      if (i !== diffIdx[D]) return undefined
      const c = (e as { change: BookChange }).change
      dupSteps.push(sync.onDiff(c), sync.onDiff(c))
      return []
    })
    expect(dupSteps[0].applied).toHaveLength(1)
    expect(dupSteps[1]).toEqual({ applied: [], integrity: [], needSnapshot: false })
    expect(run.integrity).toEqual([])
    expect(run.sync.book.top(ALL)).toEqual(clean.sync.book.top(ALL))
  })

  it('a crossed book raises crossed_book, is discarded, and a later snapshot resyncs with the reason', () => {
    let crossedStep: SyncStep | undefined
    let resync: SyncStep | undefined
    const run = drive('binance', 'BTCUSDT', events, (e, i, sync) => {
      if (i === diffIdx[D]) {
        const c = (e as { change: BookChange }).change
        // The real diff plus a bid at the best ask: the book must cross
        const bids: BookLevel[] = [...c.bids, { price: sync.book.askPrice() as number, amount: 1 }]
        crossedStep = sync.onDiff({ ...c, bids })
        return []
      }
      if (i === diffIdx[R + 1]) {
        const out = sync.onDiff((e as { change: BookChange }).change)
        expect(out.applied).toEqual([])
        resync = sync.onSnapshot(books.get(diffIdx[R]) as BookChange)
        return []
      }
      return undefined
    })
    const step = crossedStep as SyncStep
    expect(step.applied).toHaveLength(1)
    expect(step.needSnapshot).toBe(true)
    expect(step.integrity).toHaveLength(1)
    expect(step.integrity[0]).toMatchObject({ kind: 'crossed_book', from: diff(D).firstUpdateId, to: diff(D).lastUpdateId })
    expect((resync as SyncStep).integrity.map((e) => [e.kind, /crossed/.test(e.detail)])).toEqual([['resync', true]])
    // The hooked steps above are not in `run`; nothing else was raised before or after them
    expect(run.integrity).toEqual([])
    expect(run.sync.book.top(ALL)).toEqual(clean.sync.book.top(ALL))
  })

  it('a snapshot older than the first buffered diff is refused', () => {
    const sync = createBookSync('binance', 'BTCUSDT')
    const snapshot = (events.find((e) => e.kind === 'snapshot') as { change: BookChange }).change
    // Start the stream after the snapshot's id: the diffs in between are missing
    const late = events.filter((e) => e.kind === 'diff' && (e.change.firstUpdateId as number) > (snapshot.lastUpdateId as number) + 1)
    for (const e of late.slice(0, 3)) expect(sync.onDiff((e as { change: BookChange }).change)).toEqual({ applied: [], integrity: [], needSnapshot: false })
    expect(sync.onSnapshot(snapshot)).toEqual({ applied: [], integrity: [], needSnapshot: true })
    expect(sync.state).toBe('awaiting_snapshot')
  })

  it('a buffer overflow drops the oldest diffs, raises one gap, and the resync names it', () => {
    const sync = createBookSync('binance', 'BTCUSDT', { maxBuffer: 3 })
    const steps = [0, 1, 2, 3, 4].map((k) => sync.onDiff(diff(k)))
    expect(steps.map((s) => s.needSnapshot)).toEqual([false, false, false, true, false])
    expect(steps[3].integrity).toHaveLength(1)
    expect(steps[3].integrity[0]).toMatchObject({ kind: 'gap', from: diff(0).firstUpdateId, to: diff(0).lastUpdateId })
    const snapshot = (events.find((e) => e.kind === 'snapshot') as { change: BookChange }).change
    const step = sync.onSnapshot(snapshot)
    expect(sync.state).toBe('synced')
    expect(step.applied[0]).toBe(snapshot)
    expect(step.integrity.map((e) => e.kind)).toEqual(['resync'])
    expect(step.integrity[0].detail).toMatch(/overflow/)
  })

  it('reset discards a synced book with a gap event and the next sync explains it', () => {
    let resetStep: SyncStep | undefined
    let resync: SyncStep | undefined
    drive('binance', 'BTCUSDT', events, (e, i, sync) => {
      if (i === diffIdx[D]) {
        resetStep = sync.reset('connection dropped', 1_723_161_500_000_000)
        return [e]
      }
      if (i === diffIdx[R + 1]) {
        sync.onDiff((e as { change: BookChange }).change)
        resync = sync.onSnapshot(books.get(diffIdx[R]) as BookChange)
        return []
      }
      return undefined
    })
    const step = resetStep as SyncStep
    expect(step.needSnapshot).toBe(true)
    expect(step.integrity).toHaveLength(1)
    expect(step.integrity[0]).toMatchObject({ kind: 'gap', from: (diff(D - 1).lastUpdateId as number) + 1, to: undefined, localTimestamp: 1_723_161_500_000_000 })
    expect(step.integrity[0].detail).toMatch(/connection dropped/)
    expect((resync as SyncStep).integrity.map((e) => [e.kind, /connection dropped/.test(e.detail)])).toEqual([['resync', true]])
    // The resync spans what the stored diffs do not cover: after the old book's last update up to the snapshot
    expect((resync as SyncStep).integrity[0]).toMatchObject({ from: (diff(D - 1).lastUpdateId as number) + 1, to: diff(R).lastUpdateId })
  })

  it('a newer snapshot while synced replaces the book; an older one is ignored', () => {
    let older: SyncStep | undefined
    let newer: SyncStep | undefined
    drive('binance', 'BTCUSDT', events, (e, i, sync) => {
      if (i === diffIdx[R + 100]) {
        older = sync.onSnapshot(books.get(diffIdx[R]) as BookChange)
        return [e]
      }
      if (i === diffIdx[R + 200]) {
        sync.onDiff((e as { change: BookChange }).change)
        newer = sync.onSnapshot(books.get(diffIdx[R + 200]) as BookChange)
        return []
      }
      return undefined
    })
    expect(older).toEqual({ applied: [], integrity: [], needSnapshot: false })
    expect((newer as SyncStep).applied).toHaveLength(1)
    expect((newer as SyncStep).integrity.map((e) => e.kind)).toEqual(['resync'])
  })

  it('refuses changes for another symbol or of the wrong kind', () => {
    const sync = createBookSync('binance', 'ETHUSDT')
    expect(() => sync.onDiff(diff(0))).toThrow(/BTCUSDT/)
    const other = createBookSync('binance', 'BTCUSDT')
    expect(() => other.onSnapshot(diff(0))).toThrow(/isSnapshot/)
  })
})

describe('binance futures fault injection (usdm BTCUSDT 2023-04-04)', () => {
  let events: BinanceEvent[]
  let diffIdx: number[]
  beforeAll(() => {
    events = binanceEvents('binance-futures', 'BTCUSDT', readHftbacktest('usdm-btcusdt_20230404.dat.gz'))
    diffIdx = events.flatMap((e, i) => (e.kind === 'diff' ? [i] : []))
  })
  const diff = (k: number) => (events[diffIdx[k]] as { change: BookChange }).change

  it('a dropped diff breaks the pu chain: gap up to the missing u', () => {
    const D = 2000
    const run = drive('binance-futures', 'BTCUSDT', events, (_e, i) => (i === diffIdx[D] ? [] : undefined))
    expect(run.integrity).toHaveLength(1)
    expect(run.integrity[0]).toMatchObject({ kind: 'gap', from: (diff(D - 1).lastUpdateId as number) + 1, to: diff(D).lastUpdateId })
    expect(run.integrity[0].detail).toMatch(/pu=/)
    expect(run.needSnapshot).toBe(1)
    expect(run.sync.state).toBe('awaiting_snapshot')
  })

  it('a duplicated diff is stale, not a pu break', () => {
    const run = drive('binance-futures', 'BTCUSDT', events, (e, i) => (i === diffIdx[2000] ? [e, e] : undefined))
    expect(run.integrity).toEqual([])
    expect(run.sync.state).toBe('synced')
  })

  it('a first diff that does not bridge the snapshot is a gap', () => {
    const snapshot = (events.find((e) => e.kind === 'snapshot') as { change: BookChange }).change
    const sync = createBookSync('binance-futures', 'BTCUSDT')
    expect(sync.onSnapshot(snapshot).applied).toEqual([snapshot])
    // Diff 0 bridges the snapshot; starting at diff 1 leaves the updates between unknown
    expect(diff(0).firstUpdateId as number).toBeLessThanOrEqual(snapshot.lastUpdateId as number)
    const step = sync.onDiff(diff(1))
    expect(step.integrity.map((e) => e.kind)).toEqual(['gap'])
    expect(step.integrity[0].detail).toMatch(/bridge/)
    expect(step.needSnapshot).toBe(true)
  })
})

// ---- Coinbase ----

describe('coinbase exchange feed recording (cryptofeed COINBASE.ws.28.0, 10 products)', () => {
  const syncs = new Map<string, BookSync>()
  const integrity: IntegrityEvent[] = []
  let crossed = 0
  let changes = 0
  const trades: Trade[] = []
  /** Tickers: [raw, book best bid, book best ask, first ticker of its product] */
  const tickers: { raw: { product_id: string; best_bid: string; best_ask: string; side: string; trade_id: number }; bid: number | undefined; ask: number | undefined; first: boolean }[] = []

  beforeAll(() => {
    const seen = new Set<string>()
    for (const f of readCryptofeed('COINBASE.ws.28.0.txt.gz')) {
      const m = f.msg as { type: string; product_id: string; best_bid: string; best_ask: string; side: string; trade_id: number }
      if (m.type === 'ticker') {
        const s = syncs.get(m.product_id)
        tickers.push({ raw: m, bid: s?.book.bidPrice(), ask: s?.book.askPrice(), first: !seen.has(m.product_id) })
        seen.add(m.product_id)
      }
      for (const r of mapCoinbaseMessage(m, f.local)) {
        if (r.type === 'trade') trades.push(r)
        if (r.type !== 'book_change') continue
        let s = syncs.get(r.symbol)
        if (!s) syncs.set(r.symbol, (s = createBookSync('coinbase', r.symbol)))
        const step = r.isSnapshot ? s.onSnapshot(r) : s.onDiff(r)
        changes++
        integrity.push(...step.integrity)
        if (s.book.isCrossed()) crossed++
      }
    }
  })

  it('syncs all 10 products from their snapshots and never crosses', () => {
    expect(syncs.size).toBe(10)
    for (const s of syncs.values()) expect(s.state).toBe('synced')
    expect(changes).toBe(10 + 9719)
    expect(crossed).toBe(0)
    expect(integrity).toEqual([])
  })

  it('parses every match with the aggressor side the ticker of the same trade reports', () => {
    expect(trades).toHaveLength(97 + 10)
    const byId = new Map(trades.map((t) => [`${t.symbol}:${t.id}`, t]))
    expect(tickers).toHaveLength(107)
    for (const t of tickers) expect(byId.get(`${t.raw.product_id}:${t.raw.trade_id}`)?.side).toBe(t.raw.side)
  })

  it("matches every ticker's best bid/ask after the first per product", () => {
    // The first ticker per product is sent on subscribing and describes the book at the last trade before it,
    // not the snapshot; every later ticker equals the book's top when it arrives
    const live = tickers.filter((t) => !t.first)
    expect(live).toHaveLength(97)
    const bad = live.filter((t) => t.bid !== Number(t.raw.best_bid) || t.ask !== Number(t.raw.best_ask))
    expect(bad.map((t) => `${t.raw.product_id} ${t.raw.best_bid}/${t.raw.best_ask} book ${t.bid}/${t.ask}`)).toEqual([])
  })
})

describe('coinbase sync', () => {
  const [snapFrame, ...updateFrames] = fixture('coinbase', 'ws_level2.json')
  const change = (frame: unknown): BookChange => mapCoinbaseMessage(frame, 1)[0] as BookChange

  it('drops Exchange-feed updates that arrive before the snapshot', () => {
    const sync = createBookSync('coinbase', 'SKL-GBP')
    const early = change(updateFrames[1].frame)
    expect(sync.onDiff(early)).toEqual({ applied: [], integrity: [], needSnapshot: false })
    const snap = change(snapFrame.frame)
    expect(sync.onSnapshot(snap)).toEqual({ applied: [snap], integrity: [], needSnapshot: false })
    expect(sync.book.askAmount()).toBe(2865.9)
    expect(sync.onDiff(early).applied).toEqual([early])
    expect(sync.book.askAmount()).toBe(335)
  })

  it('tracks the Advanced Trade sequence_num of the last applied change', () => {
    const [l2Snapshot, l2Update] = fixture('coinbase', 'ws_advanced.json')
    const [snap] = parseCoinbaseAdvancedL2(l2Snapshot.frame, 1)
    const [update] = parseCoinbaseAdvancedL2(l2Update.frame, 2)
    const sync = createBookSync('coinbase', 'BTC-USD')
    // Before the snapshot an update belongs to an older subscription: dropped, not buffered
    expect(sync.onDiff(update)).toEqual({ applied: [], integrity: [], needSnapshot: false })
    expect(sync.onSnapshot(snap)).toEqual({ applied: [snap], integrity: [], needSnapshot: false })
    expect(sync.lastUpdateId).toBe(0)
    expect(sync.onDiff(update).applied).toEqual([update])
    expect(sync.lastUpdateId).toBe(1)
    // No per-product sequence check in the sync: the feed checks sequence_num and calls reset()
    expect(sync.onDiff(update).applied).toEqual([update])
  })

  it('reset (sequence gap seen by the feed) raises a gap and asks to resubscribe; the next snapshot resyncs', () => {
    const sync = createBookSync('coinbase', 'SKL-GBP')
    sync.onSnapshot(change(snapFrame.frame))
    const r = sync.reset('sequence jumped from 10 to 12', 5)
    expect(r.needSnapshot).toBe(true)
    expect(r.integrity).toMatchObject([{ kind: 'gap', stream: 'book', exchange: 'coinbase', symbol: 'SKL-GBP', timestamp: 5, localTimestamp: 5 }])
    expect(sync.state).toBe('awaiting_snapshot')
    expect(sync.book.bidLevels).toBe(0)
    const again = sync.onSnapshot(change(snapFrame.frame))
    expect(again.integrity.map((e) => [e.kind, /sequence jumped/.test(e.detail)])).toEqual([['resync', true]])
  })

  it('a crossed book raises crossed_book', () => {
    const sync = createBookSync('coinbase', 'SKL-GBP')
    sync.onSnapshot(change(snapFrame.frame))
    const u = change(updateFrames[1].frame)
    const step = sync.onDiff({ ...u, bids: [{ price: 0.5762, amount: 1 }] })
    expect(step.integrity.map((e) => e.kind)).toEqual(['crossed_book'])
    expect(step.needSnapshot).toBe(true)
    expect(sync.state).toBe('awaiting_snapshot')
  })
})
