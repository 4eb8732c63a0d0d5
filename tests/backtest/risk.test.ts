// The risk gate: every sizing mode, limit and breaker, each with the RiskEvent reason it records
import { describe, expect, it } from 'vitest'
import { importArchives } from '../../src/lib/archive/import.js'
import { loadMarketData, simulate } from '../../src/lib/backtest/engine.js'
import { buyAndHold } from '../../src/lib/backtest/strategies/index.js'
import { RiskEngine } from '../../src/lib/risk/engine.js'
import type { RiskAccount, RiskMarket } from '../../src/lib/risk/types.js'
import { OUTAGE, tempDir } from '../helpers.js'
import { HOUR, T0, ZERO, script, synth, type Row } from './synthetic.js'

const DAY = 24 * HOUR
const I = 'binance:BTCUSDT'
const flat: RiskAccount = { equity: 10_000, leverage: 1, positions: {} }
const mkt: RiskMarket = { time: T0, price: 100 }
const buy = { instrument: I, side: 'buy' as const }

describe('sizing', () => {
  it('fixed notional and fixed fraction of buying power', () => {
    expect(new RiskEngine({ sizing: { mode: 'fixed_notional', notional: 2500 } }).check(buy, flat, mkt)).toMatchObject({ action: 'accept', qty: 25, sized: true })
    const r = new RiskEngine({ sizing: { mode: 'fixed_fraction', fraction: 0.5 } })
    expect(r.check(buy, flat, mkt).qty).toBe(50)
    expect(r.check(buy, { ...flat, leverage: 3 }, mkt).qty).toBe(150)
    // Default: all of the buying power
    expect(new RiskEngine().check(buy, flat, mkt).qty).toBe(100)
    // An explicit quantity is not sized
    expect(new RiskEngine().check({ ...buy, qty: 2 }, flat, mkt)).toMatchObject({ qty: 2, sized: false })
  })

  it('volatility targeting from the ATR or the realised volatility', () => {
    const atr = new RiskEngine({ sizing: { mode: 'vol_target', target: 0.2, estimator: 'atr' } })
    // ATR 1 on a 100 price, 8760 bars a year: vol = 0.01 × √8760 ≈ 0.936; notional = 10,000 × 0.2 / 0.936
    const vol = 0.01 * Math.sqrt(8760)
    expect(atr.check(buy, flat, { ...mkt, atr: 1, barsPerYear: 8760 }).qty).toBeCloseTo((10_000 * 0.2) / vol / 100, 9)
    const rv = new RiskEngine({ sizing: { mode: 'vol_target', target: 0.2, estimator: 'realized' } })
    expect(rv.check(buy, flat, { ...mkt, realizedVol: 0.5 }).qty).toBeCloseTo(40, 9)
    // Capped at the buying power
    expect(rv.check(buy, flat, { ...mkt, realizedVol: 0.01 }).qty).toBe(100)
    const none = new RiskEngine({ sizing: { mode: 'vol_target', target: 0.2, estimator: 'realized' } })
    expect(none.check(buy, flat, mkt)).toMatchObject({ action: 'reject' })
    expect(none.events).toEqual([expect.objectContaining({ action: 'rejected', reason: 'vol_target sizing: no realised volatility estimate yet' })])
  })

  it('capped Kelly from the closed trades, a fallback before enough of them, no edge rejects', () => {
    const k = new RiskEngine({ sizing: { mode: 'kelly', cap: 0.25, minTrades: 4, fallback: 0.1 } })
    expect(k.check(buy, flat, mkt).qty).toBeCloseTo(10, 9)
    // 3 wins of +4%, 1 loss of -2%: p = 0.75, b = 2, f* = 0.75 - 0.25 / 2 = 0.625, capped at 0.25
    for (const r of [0.04, 0.04, -0.02, 0.04]) k.onFill({ time: T0, instrument: I, side: 'sell', qty: 1, price: 100, closed: { pnl: r * 100, returnPct: r } })
    expect(k.kellyFraction()).toBeCloseTo(0.25, 12)
    expect(k.check(buy, flat, mkt).qty).toBeCloseTo(25, 9)
    const half = new RiskEngine({ sizing: { mode: 'kelly', cap: 1, multiplier: 0.5, minTrades: 4 } })
    for (const r of [0.04, 0.04, -0.02, 0.04]) half.onFill({ time: T0, instrument: I, side: 'sell', qty: 1, price: 100, closed: { pnl: r, returnPct: r } })
    expect(half.check(buy, flat, mkt).qty).toBeCloseTo(31.25, 9)
    const loser = new RiskEngine({ sizing: { mode: 'kelly', cap: 0.25, minTrades: 2 } })
    for (const r of [0.01, -0.03]) loser.onFill({ time: T0, instrument: I, side: 'sell', qty: 1, price: 100, closed: { pnl: r, returnPct: r } })
    expect(loser.check(buy, flat, mkt).action).toBe('reject')
    expect(loser.events[0].reason).toMatch(/^kelly sizing: no edge in the last 2 trades \(f\* = -1\.000, win rate 50%, win\/loss 0\.33\)$/)
  })
})

describe('limits', () => {
  it('cut an order above the per-order notional (fat-finger), even a closing one', () => {
    const r = new RiskEngine({ maxOrderNotional: 1000 })
    expect(r.check({ ...buy, qty: 25 }, flat, mkt)).toMatchObject({ action: 'resize', qty: 10 })
    expect(r.events).toEqual([{ time: T0, instrument: I, action: 'resized', reason: 'order notional 2500 over the limit 1000', requestedQty: 25, allowedQty: 10 }])
    const long: RiskAccount = { ...flat, positions: { [I]: { qty: 30, price: 100 } } }
    expect(r.check({ ...buy, side: 'sell', qty: 30 }, long, mkt).qty).toBe(10)
  })

  it('cap the position, gross leverage and net exposure; orders that reduce pass', () => {
    const pos = new RiskEngine({ maxPositionNotional: 5000 })
    const long: RiskAccount = { ...flat, positions: { [I]: { qty: 30, price: 100 } } }
    expect(pos.check({ ...buy, qty: 30 }, long, mkt)).toMatchObject({ action: 'resize', qty: 20, reason: 'position notional over the limit 5000' })
    expect(pos.check({ ...buy, side: 'sell', qty: 30 }, long, mkt)).toMatchObject({ action: 'accept', qty: 30 })
    // Flipping from +30 to -50: the short side is capped at 50 (notional 5000)
    expect(pos.check({ ...buy, side: 'sell', qty: 100 }, long, mkt).qty).toBe(80)
    const lev = new RiskEngine({ maxLeverage: 2 })
    const other: RiskAccount = { equity: 10_000, leverage: 5, positions: { 'binance:ETHUSDT': { qty: 5, price: 2000 } } }
    expect(lev.check({ ...buy, qty: 200 }, other, mkt)).toMatchObject({ action: 'resize', qty: 100, reason: 'gross exposure over 2x equity' })
    expect(lev.check({ ...buy, qty: 200 }, { ...other, positions: { 'binance:ETHUSDT': { qty: 10, price: 2000 } } }, mkt)).toMatchObject({
      action: 'reject',
      reason: 'gross exposure over 2x equity',
    })
    const net = new RiskEngine({ maxNetExposure: 0.5 })
    expect(net.check({ ...buy, qty: 100 }, flat, mkt)).toMatchObject({ action: 'resize', qty: 50, reason: 'net exposure over 50% of equity' })
  })

  it('throttle submits to N per window', () => {
    const r = new RiskEngine({ throttle: { maxOrders: 2, windowMs: 1000 } })
    expect(r.check({ ...buy, qty: 1 }, flat, mkt).action).toBe('accept')
    expect(r.check({ ...buy, qty: 1 }, flat, { ...mkt, time: T0 + 100_000 }).action).toBe('accept')
    expect(r.check({ ...buy, qty: 1 }, flat, { ...mkt, time: T0 + 900_000 })).toMatchObject({ action: 'reject', reason: 'throttled: 2 orders in the last 1 s (limit 2 per 1 s)' })
    expect(r.check({ ...buy, qty: 1 }, flat, { ...mkt, time: T0 + 1_000_001 }).action).toBe('accept')
  })

  it('reject orders that add risk on stale data, not those that reduce it', () => {
    const r = new RiskEngine({ maxDataAgeMs: 60_000 })
    const old = { ...mkt, time: T0 + 5 * 60e6, dataTime: T0 }
    expect(r.check({ ...buy, qty: 1 }, flat, old)).toMatchObject({ action: 'reject', reason: 'stale data: the newest data is 300 s old (limit 60 s)' })
    const long: RiskAccount = { ...flat, positions: { [I]: { qty: 1, price: 100 } } }
    expect(r.check({ ...buy, side: 'sell', qty: 1 }, long, old).action).toBe('accept')
  })
})

describe('breakers', () => {
  it('max daily loss halts until the next UTC day', () => {
    const r = new RiskEngine({ maxDailyLoss: 0.05 })
    r.onBar(T0 + HOUR, 10_000)
    r.onBar(T0 + 2 * HOUR, 9_600)
    expect(r.state).toBe('active')
    r.onBar(T0 + 3 * HOUR, 9_400)
    expect(r.state).toBe('halted')
    expect(r.check({ ...buy, qty: 1 }, flat, mkt)).toMatchObject({ action: 'reject', reason: 'halted: daily loss 6% since 00:00 UTC (limit 5%); until the next UTC day' })
    r.onBar(T0 + DAY + HOUR, 9_400)
    expect(r.state).toBe('active')
    expect(r.events.map((e) => [e.action, e.reason])).toEqual([
      ['halted', 'daily loss 6% since 00:00 UTC (limit 5%); until the next UTC day'],
      ['rejected', 'halted: daily loss 6% since 00:00 UTC (limit 5%); until the next UTC day'],
      ['resumed', 'breakers cleared'],
    ])
  })

  it('max drawdown halts for good', () => {
    const r = new RiskEngine({ maxDrawdown: 0.2 })
    r.onBar(T0 + HOUR, 10_000)
    r.onBar(T0 + 2 * HOUR, 12_000)
    r.onBar(T0 + 3 * HOUR, 9_500)
    expect(r.state).toBe('halted')
    expect(r.reason).toBe('max drawdown 20.83% from the peak 12000 (limit 20%)')
    r.onBar(T0 + 10 * DAY, 13_000)
    expect(r.state).toBe('halted')
  })

  it('N consecutive losses go reduce-only until the next day: closing passes, opening does not', () => {
    const r = new RiskEngine({ maxConsecutiveLosses: 3 })
    r.onBar(T0 + HOUR, 10_000)
    const lose = () => r.onFill({ time: T0 + HOUR, instrument: I, side: 'sell', qty: 1, price: 99, closed: { pnl: -1, returnPct: -0.01 } })
    lose()
    lose()
    r.onFill({ time: T0 + HOUR, instrument: I, side: 'sell', qty: 1, price: 101, closed: { pnl: 1, returnPct: 0.01 } })
    lose()
    lose()
    expect(r.state).toBe('active')
    lose()
    expect(r.state).toBe('reduce_only')
    expect(r.check({ ...buy, qty: 1 }, flat, mkt)).toMatchObject({ action: 'reject', reason: 'reduce-only: 3 losing trades in a row (limit 3); until the next UTC day' })
    const long: RiskAccount = { ...flat, positions: { [I]: { qty: 2, price: 100 } } }
    expect(r.check({ ...buy, side: 'sell', qty: 2 }, long, mkt).action).toBe('accept')
    // A sell past flat is cut to the position
    expect(r.check({ ...buy, side: 'sell', qty: 5 }, long, mkt)).toMatchObject({ action: 'resize', qty: 2 })
    r.onBar(T0 + DAY + HOUR, 10_000)
    expect(r.state).toBe('active')
  })

  it('a data gap goes reduce-only until clean bars return', () => {
    const r = new RiskEngine({ maxGapBars: 5, gapRecoveryBars: 2 })
    r.onBar(T0 + HOUR, 10_000, 5)
    expect(r.state).toBe('active')
    r.onBar(T0 + 2 * HOUR, 10_000, 80)
    expect(r.state).toBe('reduce_only')
    expect(r.reason).toBe('data gap of 80 bars (limit 5); until 2 bar(s) in a row arrive without one')
    r.onBar(T0 + 3 * HOUR, 10_000)
    expect(r.state).toBe('reduce_only')
    r.onBar(T0 + 4 * HOUR, 10_000)
    expect(r.state).toBe('active')
  })
})

describe('the gate inside a backtest', () => {
  it('a drawdown halt rejects new orders and flattens at the next open', () => {
    const rows: Row[] = [[100, 100, 100, 100], [100, 100, 100, 100], [100, 100, 70, 75], [75, 75, 75, 75], [75, 75, 75, 75], [75, 75, 75, 75]]
    const r = simulate(
      synth(rows),
      script({ 0: (c) => c.order({ instrument: I, side: 'buy', type: 'market' }), 3: (c) => c.order({ instrument: I, side: 'buy', type: 'market', qty: 1 }) }),
      { ...ZERO, risk: { maxDrawdown: 0.2 } },
    )
    expect(r.riskEvents.map((e) => [e.action, (e.time - T0) / HOUR, e.reason])).toEqual([
      ['halted', 3, 'max drawdown 25% from the peak 10000 (limit 20%)'],
      ['rejected', 4, 'halted: max drawdown 25% from the peak 10000 (limit 20%)'],
    ])
    expect(r.fills.map((f) => [f.side, f.price, f.tag, (f.time - T0) / HOUR])).toEqual([
      ['buy', 100, undefined, 1],
      ['sell', 75, 'halt', 3],
    ])
    expect(r.equity.equity.at(-1)).toBeCloseTo(7500, 9)
  })

  it('the gap breaker trips on the real 2023-03-24 Binance outage and clears on the next clean bar', async () => {
    const lake = tempDir()
    await importArchives({ lakeDir: lake, patterns: [OUTAGE] })
    const data = await loadMarketData(lake, [{ exchange: 'binance', symbol: 'BTCUSDT' }], '1m', Date.UTC(2023, 2, 24, 12) * 1000, Date.UTC(2023, 2, 24, 15) * 1000)
    expect(data.gaps).toEqual([{ instrument: 'binance:BTCUSDT', from: Date.UTC(2023, 2, 24, 12, 40) * 1000, to: Date.UTC(2023, 2, 24, 13, 59) * 1000, missing: 80 }])
    const r = simulate(data, buyAndHold, { risk: { maxGapBars: 5 } })
    // The first bar after the hole is 14:00; its close (14:01) is when the gate sees it
    expect(r.riskEvents.map((e) => [e.action, new Date(e.time / 1000).toISOString(), e.reason])).toEqual([
      ['reduce_only', '2023-03-24T14:01:00.000Z', 'data gap of 80 bars (limit 5); until 1 bar(s) in a row arrive without one'],
      ['resumed', '2023-03-24T14:02:00.000Z', 'breakers cleared'],
    ])
  })

  it('explicit quantities the cash cannot cover are cut at the fill with a RiskEvent', () => {
    const rows: Row[] = [[100, 100, 100, 100], [100, 100, 100, 100], [100, 100, 100, 100]]
    const r = simulate(synth(rows), script({ 0: (c) => c.order({ instrument: I, side: 'buy', type: 'market', qty: 150 }) }), ZERO)
    expect(r.fills[0].qty).toBeCloseTo(100, 9)
    expect(r.riskEvents).toEqual([expect.objectContaining({ action: 'resized', reason: 'insufficient cash at the fill', requestedQty: 150, allowedQty: expect.closeTo(100, 9) })])
  })
})
