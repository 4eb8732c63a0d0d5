// Exact accounting on hand-computed ledgers (synthetic bars: see synthetic.ts for why), then the invariant on real
// bars under a random order flow.
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { importArchives } from '../../src/lib/archive/import.js'
import { loadMarketData, marketDataFromColumns, simulate, type MarketData } from '../../src/lib/backtest/engine.js'
import type { Strategy } from '../../src/lib/backtest/strategy.js'
import type { OrderType } from '../../src/lib/backtest/types.js'
import { liquidationPrice, maintenance } from '../../src/lib/backtest/costs.js'
import { mulberry32 } from '../../src/lib/util/fs.js'
import { KLINES, tempDir } from '../helpers.js'
import { HOUR, T0, ZERO, cols, script, synth, type Row } from './synthetic.js'

const close = (a: number, b: number) => expect(a).toBeCloseTo(b, 9)

describe('accounting (hand-computed ledgers, invariant checked every bar)', () => {
  it('a round trip at zero cost on a flat price returns exactly the starting capital (spot and perp, sized and partial)', () => {
    const px = 97_123.45
    const rows: Row[] = Array.from({ length: 16 }, () => [px, px, px, px, 0.2])
    const strategy = script({
      0: (c) => c.order({ instrument: c.instruments[0], side: 'buy', type: 'market' }),
      6: (c) => c.order({ instrument: c.instruments[0], side: 'sell', type: 'market', qty: c.position(), reduceOnly: true }),
    })
    for (const [market, leverage] of [['spot', 1], ['perp', 3]] as const) {
      for (const maxParticipation of [undefined, 0.5]) {
        const r = simulate(synth(rows, { market }), strategy, { ...ZERO, leverage, maxParticipation })
        expect(r.fills.length).toBeGreaterThanOrEqual(2)
        expect(r.trades).toHaveLength(1)
        expect(r.equity.equity.at(-1)).toBe(10_000)
        for (const e of r.equity.equity) expect(e).toBe(10_000)
        expect(r.trades[0].pnl).toBe(0)
      }
    }
  })

  it('fees: taker 0.1% each way on binance spot', () => {
    const rows: Row[] = [[100, 100, 100, 100], [100, 112, 99, 110], [110, 111, 109, 110], [110, 110, 110, 110]]
    const r = simulate(
      synth(rows),
      script({
        0: (c) => c.order({ instrument: c.instruments[0], side: 'buy', type: 'market', qty: 1 }),
        1: (c) => c.order({ instrument: c.instruments[0], side: 'sell', type: 'market', qty: 1 }),
      }),
      { slippage: { kind: 'bps', bps: 0 }, checkInvariant: true },
    )
    expect(r.fills.map((f) => [f.time, f.side, f.qty, f.price, f.liquidity])).toEqual([
      [T0 + HOUR, 'buy', 1, 100, 'taker'],
      [T0 + 2 * HOUR, 'sell', 1, 110, 'taker'],
    ])
    close(r.fills[0].fee, 0.1)
    close(r.fills[1].fee, 0.11)
    close(r.fees, 0.21)
    // Bar 1 close: cash 10000 - 100 - 0.1, one BTC marked at 110
    close(r.equity.cash[1], 9899.9)
    close(r.equity.equity[1], 10_009.9)
    close(r.equity.equity.at(-1)!, 10_009.79)
    const t = r.trades[0]
    expect(t).toMatchObject({ direction: 'long', entryPrice: 100, exitPrice: 110, qty: 1, bars: 1, entryTime: T0 + HOUR, exitTime: T0 + 2 * HOUR })
    close(t.pnl, 9.79)
    close(t.fees, 0.21)
    close(t.returnPct, 0.0979)
    close(r.turnover, 210)
  })

  it('slippage: 10 bps against the taker, on top of fees', () => {
    const rows: Row[] = [[100, 100, 100, 100], [100, 112, 99, 110], [110, 111, 109, 110], [110, 110, 110, 110]]
    const r = simulate(
      synth(rows),
      script({
        0: (c) => c.order({ instrument: c.instruments[0], side: 'buy', type: 'market', qty: 1 }),
        1: (c) => c.order({ instrument: c.instruments[0], side: 'sell', type: 'market', qty: 1 }),
      }),
      { slippage: { kind: 'bps', bps: 10 }, checkInvariant: true },
    )
    close(r.fills[0].price, 100.1)
    close(r.fills[1].price, 109.89)
    close(r.fills[0].slippage, 0.1)
    close(r.fills[1].slippage, 0.11)
    close(r.slippage, 0.21)
    close(r.fees, 0.1001 + 0.10989)
    close(r.trades[0].pnl, 109.89 - 100.1 - 0.20999)
    close(r.equity.equity.at(-1)!, 10_009.58001)
  })

  it('partial fills: at most 10% of each bar\'s volume, average entry over the pieces', () => {
    const rows: Row[] = [
      [100, 100, 100, 100, 5],
      [100, 100, 100, 100, 5],
      [110, 110, 110, 110, 5],
      [120, 120, 120, 120, 5],
      [130, 130, 130, 130, 5],
      [130, 130, 130, 130, 5],
      [130, 130, 130, 130, 5],
      [130, 130, 130, 130, 5],
    ]
    const r = simulate(
      synth(rows),
      script({
        0: (c) => c.order({ instrument: c.instruments[0], side: 'buy', type: 'market', qty: 1.2 }),
        3: (c) => c.order({ instrument: c.instruments[0], side: 'sell', type: 'market', qty: 1.2, reduceOnly: true }),
      }),
      { ...ZERO, maxParticipation: 0.1 },
    )
    expect(r.fills.map((f) => [f.side, f.qty, f.price])).toEqual([
      ['buy', 0.5, 100],
      ['buy', 0.5, 110],
      ['buy', expect.closeTo(0.2, 12), 120],
      ['sell', 0.5, 130],
      ['sell', 0.5, 130],
      ['sell', expect.closeTo(0.2, 12), 130],
    ])
    // Bar 2 close: 1 BTC at an average 105, marked 110
    close(r.equity.equity[2], 10_005)
    close(r.equity.equity[3], 10_000 + 1.2 * (120 - 107.5))
    const t = r.trades[0]
    close(t.entryPrice, 107.5)
    close(t.qty, 1.2)
    close(t.pnl, 27)
    expect(t.bars).toBe(5)
    close(r.equity.equity.at(-1)!, 10_027)
    expect(r.orders!.map((o) => [o.status, o.filledQty])).toEqual([
      ['filled', expect.closeTo(1.2, 12)],
      ['filled', expect.closeTo(1.2, 12)],
    ])
  })

  it('funding: longs pay positive rates on notional at the mark (or the bar open), shorts receive them', () => {
    const rows: Row[] = [[100, 100, 100, 100], [100, 100, 100, 100], [104, 104, 104, 104], [108, 108, 108, 108], [110, 110, 110, 110], [110, 110, 110, 110]]
    // Half an hour in (no position yet), at bar 2's open + 1 ms (no mark: the open), at bar 3's open (mark 107)
    const funding = {
      time: Float64Array.from([T0 + HOUR / 2, T0 + 2 * HOUR + 1000, T0 + 3 * HOUR]),
      rate: Float64Array.from([0.01, 0.0001, -0.0003]),
      mark: Float64Array.from([NaN, NaN, 107]),
    }
    for (const side of ['buy', 'sell'] as const) {
      const s = side === 'buy' ? 1 : -1
      const r = simulate(
        synth(rows, { exchange: 'binance-futures', funding }),
        script({
          0: (c) => c.order({ instrument: c.instruments[0], side, type: 'market', qty: 2 }),
          3: (c) => c.order({ instrument: c.instruments[0], side: side === 'buy' ? 'sell' : 'buy', type: 'market', qty: 2, reduceOnly: true }),
        }),
        ZERO,
      )
      const paid = s * (2 * 104 * 0.0001 + 2 * 107 * -0.0003)
      close(r.funding, paid)
      close(r.trades[0].funding, paid)
      close(r.trades[0].pnl, s * 2 * (110 - 100) - paid)
      close(r.equity.equity.at(-1)!, 10_000 + s * 20 - paid)
      // Bar 2 close: only the first charged event so far
      close(r.equity.equity[2], 10_000 + s * 2 * 4 - s * 2 * 104 * 0.0001)
    }
  })

  it('leverage: isolated margin, the liquidation price from the bracket table, liquidation forfeits the margin', () => {
    const rows: Row[] = [[100, 100, 100, 100], [100, 102, 99, 102], [102, 102, 80, 85], [85, 85, 85, 85]]
    const r = simulate(
      synth(rows, { exchange: 'binance-futures' }),
      script({ 0: (c) => c.order({ instrument: c.instruments[0], side: 'buy', type: 'market', qty: 300 }) }),
      { ...ZERO, leverage: 5 },
    )
    // Margin 300 × 100 / 5 = 6000; maintenance 0.4% (notional 30,000 < 50,000), no maintenance amount
    expect(maintenance(30_000)).toEqual({ mmr: 0.004, cum: 0 })
    const liq = (30_000 - 6000) / (300 * (1 - 0.004))
    expect(liquidationPrice(300, 100, 6000)).toBeCloseTo(liq, 9)
    close(r.equity.equity[1], 10_600)
    const [, out] = r.fills
    expect(out).toMatchObject({ side: 'sell', qty: 300, tag: 'liquidation', time: T0 + 2 * HOUR })
    close(out.price, liq)
    // What is left of the margin at the liquidation price goes as the clearance fee: the loss is the margin
    close(out.fee, 6000 + 300 * (liq - 100))
    close(out.fee, 0.004 * 300 * liq)
    close(r.trades[0].pnl, -6000)
    close(r.trades[0].returnPct, -0.2)
    close(r.equity.equity[2], 4000)
    close(r.equity.equity.at(-1)!, 4000)
    // Maintenance amounts keep the requirement continuous across brackets
    const { mmr, cum } = maintenance(300_000)
    expect(mmr).toBe(0.01)
    close(cum, 50_000 * 0.001 + 250_000 * 0.005)
  })

  it('leverage: an order beyond the margin is cut to what it allows, with a RiskEvent; shorts at 1x liquidate too', () => {
    const rows: Row[] = [[100, 100, 100, 100], [100, 100, 100, 100], [100, 100, 100, 100]]
    const r = simulate(
      synth(rows, { exchange: 'binance-futures' }),
      script({ 0: (c) => c.order({ instrument: c.instruments[0], side: 'buy', type: 'market', qty: 600 }) }),
      { ...ZERO, leverage: 5 },
    )
    expect(r.fills[0].qty).toBeCloseTo(500, 9)
    expect(r.riskEvents).toEqual([
      expect.objectContaining({ action: 'resized', reason: 'insufficient margin at the fill', requestedQty: 600, allowedQty: expect.closeTo(500, 9) }),
    ])
    // A short at 1x: margin = notional, liquidated near twice the entry
    expect(liquidationPrice(-1, 100, 100)).toBeCloseTo((100 + 100) / (1 + 0.004), 9)
    expect(liquidationPrice(1, 100, 100)).toBeNaN()
  })

  it('sized orders keep their notional to the fill price, capped at the cash after fees', () => {
    const rows: Row[] = [[100, 100, 100, 100], [125, 125, 125, 125], [125, 125, 125, 125]]
    const r = simulate(
      synth(rows),
      script({ 0: (c) => c.order({ instrument: c.instruments[0], side: 'buy', type: 'market', notional: 5000 }) }),
      { slippage: { kind: 'bps', bps: 0 }, checkInvariant: true },
    )
    expect(r.fills[0].qty).toBeCloseTo(40, 12)
    // All-in: the fee must fit too
    const all = simulate(synth(rows), script({ 0: (c) => c.order({ instrument: c.instruments[0], side: 'buy', type: 'market' }) }), {
      slippage: { kind: 'bps', bps: 0 },
      checkInvariant: true,
    })
    expect(all.fills[0].qty).toBeCloseTo(10_000 / (125 * 1.001), 9)
    expect(all.equity.cash.at(-1)).toBeCloseTo(0, 6)
    expect(all.riskEvents).toEqual([])
  })
})

describe('several instruments on one clock (hand-computed)', () => {
  it('aligns bars on the union of their times, marks a missing bar at the last price, and shares one account', () => {
    // Spot BTC has every hour 0-5; the ETH perpetual starts at hour 1 and misses hour 3
    const btc = cols([[100, 100, 100, 100], [100, 100, 100, 100], [100, 100, 100, 100], [100, 100, 100, 100], [110, 110, 110, 110], [110, 110, 110, 110]])
    const eth = cols([[50, 50, 50, 50], [50, 50, 50, 50], [40, 40, 40, 40], [40, 40, 40, 40]])
    const keep = [1, 2, 4, 5]
    const ethBars = Object.fromEntries(Object.entries(eth).map(([k, v]) => [k, k === 'open_time' ? Float64Array.from(keep, (h) => T0 + h * HOUR) : v]))
    const data = marketDataFromColumns('1h', [
      { instrument: { exchange: 'binance', symbol: 'BTCUSDT' }, bars: btc },
      { instrument: { exchange: 'binance-futures', symbol: 'ETHUSDT' }, bars: ethBars },
    ])
    expect(Array.from(data.time, (t) => (t - T0) / HOUR)).toEqual([0, 1, 2, 3, 4, 5])
    expect(Array.from(data.instruments[1].close)).toEqual([NaN, 50, 50, NaN, 40, 40])
    expect(data.instruments.map((x) => x.market)).toEqual(['spot', 'perp'])
    const r = simulate(
      data,
      script({
        1: (c) => {
          c.order({ instrument: 'binance:BTCUSDT', side: 'buy', type: 'market', qty: 10 })
          c.order({ instrument: 'binance-futures:ETHUSDT', side: 'sell', type: 'market', qty: 5 })
        },
      }),
      ZERO,
    )
    expect(r.fills.map((f) => [f.instrument, f.side, f.price, (f.time - T0) / HOUR])).toEqual([
      ['binance:BTCUSDT', 'buy', 100, 2],
      ['binance-futures:ETHUSDT', 'sell', 50, 2],
    ])
    expect(Array.from(r.equity.equity)).toEqual([10_000, 10_000, 10_000, 10_000, 10_150, 10_150])
    // Spot cash paid for the BTC; the perpetual's margin stays in the wallet
    expect(r.equity.cash[2]).toBe(9000)
    expect(r.equity.exposure[2]).toBe(1250 / 10_000)
    // Buy-and-hold: half in each at its first open (BTC 100 at hour 0, ETH 50 at hour 1), no costs
    expect(Array.from(r.benchmark.equity)).toEqual([10_000, 10_000, 10_000, 10_000, 9500, 9500])
    expect(r.instruments).toEqual([{ exchange: 'binance', symbol: 'BTCUSDT' }, { exchange: 'binance-futures', symbol: 'ETHUSDT' }])
  })
})


/** Places random orders of every type each bar: a stress test for the ledger. */
function chaos(seed: number): Strategy {
  return {
    name: 'chaos',
    description: 'random orders',
    params: [],
    onStart(ctx) {
      ctx.state.r = mulberry32(seed)
    },
    onBar(ctx) {
      const r = ctx.state.r as () => number
      const px = ctx.close()
      if (!(px > 0)) return
      const u = r()
      if (u < 0.05) ctx.cancelAll()
      if (u > 0.4) return
      const types: OrderType[] = ['market', 'limit', 'stop', 'stop_limit']
      const type = types[Math.floor(r() * 4)]
      const side = r() < 0.5 ? 'buy' : 'sell'
      const s = side === 'buy' ? 1 : -1
      const off = (r() - 0.5) * 0.02 * px
      const pos = ctx.position()
      const reduceOnly = pos !== 0 && pos * s < 0 && r() < 0.5
      ctx.order({
        instrument: ctx.instruments[0],
        side,
        type,
        qty: r() < 0.3 ? undefined : (r() * ctx.equity * 0.8) / px,
        price: type === 'limit' || type === 'stop_limit' ? px + off : undefined,
        stopPrice: type === 'stop' || type === 'stop_limit' ? px - off : undefined,
        reduceOnly,
      })
    },
  }
}

describe('the invariant on real bars (2024-11 to 2025-01-01 BTCUSDT 1m, resampled)', () => {
  let lake: string
  let spot1h: MarketData
  let perp1h: MarketData
  beforeAll(async () => {
    lake = tempDir('mercury-bt-acc-')
    await importArchives({ lakeDir: lake, patterns: [join(KLINES, '*.zip')] })
    spot1h = await loadMarketData(lake, [{ exchange: 'binance', symbol: 'BTCUSDT' }], '1h', undefined, undefined, { intrabar: true })
    perp1h = await loadMarketData(lake, [{ exchange: 'binance', symbol: 'BTCUSDT' }], '1h', undefined, undefined, { intrabar: true, market: 'perp' })
  }, 60_000)

  it('holds at every bar under random market, limit, stop and stop-limit orders, spot and 5x perp, partial fills, intrabar', () => {
    for (let seed = 1; seed <= 4; seed++) {
      for (const [data, leverage] of [[spot1h, 1], [perp1h, 5]] as const) {
        const r = simulate(data, chaos(seed), {
          checkInvariant: true,
          leverage,
          maxParticipation: seed % 2 ? 0.001 : undefined,
          intrabar: seed > 2 ? '1m' : 'none',
          slippage: { kind: 'bps', bps: 3 },
        })
        expect(r.fills.length).toBeGreaterThan(50)
        // The final equity by the ledger of fills alone
        let flow = 0
        let pos = 0
        for (const f of r.fills) {
          const s = f.side === 'buy' ? 1 : -1
          flow -= s * f.qty * f.price
          pos += s * f.qty
        }
        const last = data.instruments[0].close.at(-1)!
        const ledger = 10_000 - r.fees - r.funding + flow + pos * last
        expect(Math.abs(r.equity.equity.at(-1)! - ledger)).toBeLessThan(1e-6 * Math.max(1, r.turnover / 10_000))
        expect(r.fees).toBeGreaterThan(0)
      }
    }
  })
})
