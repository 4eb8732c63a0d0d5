// No look-ahead: a run over bars up to T makes exactly the decisions (orders, fills, trades, equity) that the run
// over all bars made before T. Real data: the shipped BTCUSDT 1m sample (2024-11-01 to 2025-01-01), resampled.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importArchives } from '../../src/lib/archive/import.js'
import { loadMarketData, simulate, sliceMarketData, type MarketData } from '../../src/lib/backtest/engine.js'
import { mtfTrend, rsiReversion } from '../../src/lib/backtest/strategies/index.js'
import type { Strategy } from '../../src/lib/backtest/strategy.js'
import type { BacktestResult, SimConfig } from '../../src/lib/backtest/types.js'
import type { Interval } from '../../src/lib/consts.js'
import { KLINES } from '../helpers.js'

const BTC = [{ exchange: 'binance' as const, symbol: 'BTCUSDT' }]

/**
 * Decisions made on data up to `t`: orders decided by then (immutable fields; an order decided at the close of the
 * last bar before `t` has time `t`), and the fills and trades before it
 */
function before(r: BacktestResult, t: number) {
  return {
    orders: (r.orders ?? [])
      .filter((o) => o.time <= t)
      .map(({ id, time, instrument, side, type, qty, notional, price, stopPrice, reduceOnly, tag }) => ({ id, time, instrument, side, type, qty, notional, price, stopPrice, reduceOnly, tag })),
    fills: r.fills.filter((f) => f.time < t),
    trades: r.trades.filter((x) => x.exitTime < t),
  }
}

describe('look-ahead: truncating the data never changes an earlier decision', () => {
  let lake: string
  const data: Partial<Record<Interval, MarketData>> = {}
  beforeAll(async () => {
    // Kept for the whole file (helpers' tempDir is removed after each test)
    lake = mkdtempSync(join(tmpdir(), 'mercury-bt-la-'))
    await importArchives({ lakeDir: lake, patterns: [join(KLINES, '*.zip')] })
    for (const interval of ['1h', '15m'] as const) data[interval] = await loadMarketData(lake, BTC, interval, undefined, undefined, { intrabar: true })
  }, 60_000)
  afterAll(() => rmSync(lake, { recursive: true, force: true }))

  const cases: [string, Strategy, Interval, Record<string, number>, SimConfig][] = [
    ['rsi-reversion 1h', rsiReversion, '1h', {}, {}],
    ['rsi-reversion 15m, 40/60, fill at close', rsiReversion, '15m', { lower: 40, upper: 60 }, { fillAt: 'close' }],
    ['mtf-trend 1h (4h confluence)', mtfTrend, '1h', {}, {}],
    ['mtf-trend 15m (1h confluence), intrabar 1m, partial fills', mtfTrend, '15m', { entry: 0.25 }, { intrabar: '1m', maxParticipation: 0.0005 }],
  ]

  for (const [name, strategy, interval, params, cfg] of cases) {
    it(name, async () => {
      const full = data[interval]!
      const config = { ...cfg, params, checkInvariant: true }
      const all = simulate(full, strategy, config)
      expect(all.fills.length, 'the strategy trades at all').toBeGreaterThan(4)
      const n = full.time.length
      // Fractions of the run, and right after bars where the strategy decided something (a leak of the next bar
      // into a decision shows only when the cut falls there), and after fills
      const cuts = new Set([0.2, 0.35, 0.5, 0.65, 0.8, 0.95].map((f) => Math.floor(n * f)))
      for (const o of (all.orders ?? []).slice(0, 8)) cuts.add(full.time.indexOf(o.time))
      for (const f of all.fills.slice(0, 3)) cuts.add(full.time.indexOf(f.time) + 1)
      for (const m of [...cuts].filter((m) => m > 0 && m < n)) {
        const t = full.time[m]
        const cut = simulate(sliceMarketData(full, 0, m), strategy, config)
        const want = before(all, t)
        expect(before(cut, t), `${name} cut at ${new Date(t / 1000).toISOString()}`).toEqual(want)
        expect(Array.from(cut.equity.equity), `equity up to the cut at row ${m}`).toEqual(Array.from(all.equity.equity.subarray(0, m)))
      }
    })
  }

  it('reading the lake only up to T (mid-bar too) gives the same decisions as the whole range', async () => {
    const full = data['1h']!
    for (const strategy of [rsiReversion, mtfTrend]) {
      const all = simulate(full, strategy, {})
      // Right after decisions, and a fixed point
      const decided = (all.orders ?? []).map((o) => full.time.indexOf(o.time)).filter((m) => m > 0)
      expect(decided.length).toBeGreaterThan(3)
      for (const hours of [decided[1], decided[3], decided.at(-1)!, 777]) {
        // Half an hour into bar `hours`: the incomplete 1h bucket must not appear
        const to = full.time[hours] + 30 * 60e6
        const part = await loadMarketData(lake, BTC, '1h', undefined, to)
        expect(part.time.length).toBe(hours)
        const cut = simulate(part, strategy, {})
        expect(before(cut, full.time[hours]), `${strategy.name} up to ${new Date(to / 1000).toISOString()}`).toEqual(before(all, full.time[hours]))
      }
    }
  })
})
