// Order semantics on hand-made bars (see synthetic.ts): touch and gap-through rules, the pessimistic same-bar
// order, and its resolution with 1m bars.
import { describe, expect, it } from 'vitest'
import { simulate } from '../../src/lib/backtest/engine.js'
import type { StrategyContext } from '../../src/lib/backtest/strategy.js'
import type { BacktestResult, OrderRequest } from '../../src/lib/backtest/types.js'
import { HOUR, MINUTE, T0, ZERO, script, synth, type Row } from './synthetic.js'

const FEES = { ...ZERO, fees: { maker: 0.0002, taker: 0.0005 } }
const o = (c: StrategyContext, req: Omit<OrderRequest, 'instrument'>) => c.order({ instrument: c.instruments[0], ...req })
const fills = (r: BacktestResult) => r.fills.map((f) => [f.side, f.qty, f.price, f.liquidity, (f.time - T0) / HOUR])
const buy1 = (c: StrategyContext) => o(c, { side: 'buy', type: 'market', qty: 1 })

describe('limit orders', () => {
  const limitBuy = (c: StrategyContext) => o(c, { side: 'buy', type: 'limit', qty: 1, price: 95 })

  it('fill at the limit (maker) when the range reaches it; not when it stops short', () => {
    const reach: Row[] = [[100, 100, 100, 100], [100, 101, 95, 99], [99, 99, 99, 99]]
    expect(fills(simulate(synth(reach), script({ 0: limitBuy }), FEES))).toEqual([['buy', 1, 95, 'maker', 1]])
    const short: Row[] = [[100, 100, 100, 100], [100, 101, 95.01, 99], [99, 99, 99, 99]]
    expect(simulate(synth(short), script({ 0: limitBuy }), FEES).fills).toEqual([])
  })

  it('with limitFill through, need the range to pass the price', () => {
    const rows: Row[] = [[100, 100, 100, 100], [100, 101, 95, 99], [99, 99, 94.5, 96], [96, 96, 96, 96]]
    expect(fills(simulate(synth(rows), script({ 0: limitBuy }), { ...FEES, limitFill: 'through' }))).toEqual([['buy', 1, 95, 'maker', 2]])
  })

  it('fill at the open (taker) when it gaps through in their favour', () => {
    const gap: Row[] = [[100, 100, 100, 100], [94, 96, 93, 95], [95, 95, 95, 95]]
    expect(fills(simulate(synth(gap), script({ 0: limitBuy }), FEES))).toEqual([['buy', 1, 94, 'taker', 1]])
    const up: Row[] = [[100, 100, 100, 100], [100, 100, 100, 100], [106, 107, 104, 105], [105, 105, 105, 105]]
    const r = simulate(synth(up), script({ 0: buy1, 1: (c) => o(c, { side: 'sell', type: 'limit', qty: 1, price: 105, reduceOnly: true }) }), FEES)
    expect(fills(r)).toEqual([
      ['buy', 1, 100, 'taker', 1],
      ['sell', 1, 106, 'taker', 2],
    ])
    // A gap-through limit pays slippage but never past its price
    const slipped = simulate(synth(gap), script({ 0: limitBuy }), { ...FEES, slippage: { kind: 'bps', bps: 500 } })
    expect(slipped.fills[0].price).toBe(95)
  })
})

describe('stop orders', () => {
  const stopLoss = (c: StrategyContext) => o(c, { side: 'sell', type: 'stop', qty: 1, stopPrice: 95, reduceOnly: true })

  it('fill at the stop price (taker) when the range reaches it, at the open when it gaps through against them', () => {
    const touch: Row[] = [[100, 100, 100, 100], [100, 100, 100, 100], [99, 99, 94, 96], [96, 96, 96, 96]]
    expect(fills(simulate(synth(touch), script({ 0: buy1, 1: stopLoss }), FEES))).toEqual([
      ['buy', 1, 100, 'taker', 1],
      ['sell', 1, 95, 'taker', 2],
    ])
    const gap: Row[] = [[100, 100, 100, 100], [100, 100, 100, 100], [93, 94, 92, 93], [93, 93, 93, 93]]
    expect(fills(simulate(synth(gap), script({ 0: buy1, 1: stopLoss }), FEES))[1]).toEqual(['sell', 1, 93, 'taker', 2])
    // Slippage applies to stops, against the taker
    const slipped = simulate(synth(touch), script({ 0: buy1, 1: stopLoss }), { ...FEES, slippage: { kind: 'bps', bps: 10 } })
    expect(slipped.fills[1].price).toBeCloseTo(95 * 0.999, 9)
  })

  it('a buy stop enters on a breakout at its price', () => {
    const rows: Row[] = [[100, 100, 100, 100], [101, 106, 100, 104], [104, 104, 104, 104]]
    const r = simulate(synth(rows), script({ 0: (c) => o(c, { side: 'buy', type: 'stop', qty: 1, stopPrice: 105 }) }), FEES)
    expect(fills(r)).toEqual([['buy', 1, 105, 'taker', 1]])
  })

  it('a stop-limit fills at the trigger when within its limit; gapped past it, it rests as a limit', () => {
    const sl = (c: StrategyContext) => o(c, { side: 'buy', type: 'stop_limit', qty: 1, stopPrice: 105, price: 106 })
    const within: Row[] = [[100, 100, 100, 100], [104, 107, 103, 106], [106, 106, 106, 106]]
    expect(fills(simulate(synth(within), script({ 0: sl }), FEES))).toEqual([['buy', 1, 105, 'taker', 1]])
    const gapped: Row[] = [[100, 100, 100, 100], [107, 108, 103, 107], [106.5, 108, 105.5, 107], [107, 107, 107, 107]]
    expect(fills(simulate(synth(gapped), script({ 0: sl }), FEES))).toEqual([['buy', 1, 106, 'maker', 2]])
  })
})

describe('same-bar stop and target', () => {
  const bracket = (c: StrategyContext) => {
    o(c, { side: 'sell', type: 'stop', qty: 1, stopPrice: 95, reduceOnly: true, tag: 'stop' })
    o(c, { side: 'sell', type: 'limit', qty: 1, price: 105, reduceOnly: true, tag: 'target' })
  }

  it('is pessimistic: both in the range, the stop fills and the target dies with the position', () => {
    const rows: Row[] = [[100, 100, 100, 100], [100, 100, 100, 100], [100, 106, 94, 100], [100, 100, 100, 100]]
    const r = simulate(synth(rows), script({ 0: buy1, 1: bracket }), FEES)
    expect(fills(r)[1]).toEqual(['sell', 1, 95, 'taker', 2])
    expect(r.fills[1].tag).toBe('stop')
    expect(r.trades).toEqual([expect.objectContaining({ entryPrice: 100, exitPrice: 95 })])
    expect(r.orders!.find((x) => x.tag === 'target')).toMatchObject({ status: 'cancelled', cancelReason: 'position closed' })
  })

  it('a bracket placed with its entry: the entry and the stop fill in the same bar', () => {
    const rows: Row[] = [[102, 102, 102, 102], [102, 103, 94, 96], [96, 96, 96, 96]]
    const r = simulate(
      synth(rows),
      script({
        0: (c) => {
          o(c, { side: 'buy', type: 'limit', qty: 1, price: 100, tag: 'entry' })
          bracket(c)
        },
      }),
      FEES,
    )
    expect(fills(r)).toEqual([
      ['buy', 1, 100, 'maker', 1],
      ['sell', 1, 95, 'taker', 1],
    ])
  })

  it('a target placed on the entry fill takes no profit inside the entry bar, but its stop can fire', () => {
    const rows: Row[] = [[100, 100, 100, 100], [100, 106, 99, 104], [104, 104, 104, 104]]
    const r = simulate(synth(rows), script({ 0: buy1 }, (c, f) => (f.side === 'buy' ? bracket(c) : undefined)), FEES)
    expect(r.fills).toHaveLength(1)
    const down: Row[] = [[100, 100, 100, 100], [100, 106, 94, 104], [104, 104, 104, 104]]
    expect(fills(simulate(synth(down), script({ 0: buy1 }, (c, f) => (f.side === 'buy' ? bracket(c) : undefined)), FEES))[1]).toEqual([
      'sell', 1, 95, 'taker', 1,
    ])
  })

  it('with intrabar 1m the 1m bars decide which came first', () => {
    // Hour 2 goes to 106 at minute 10 and to 94 at minute 40 (or the other way round)
    const hourOf = (m: Row[]): Row => [m[0][0], Math.max(...m.map((x) => x[1])), Math.min(...m.map((x) => x[2])), m[m.length - 1][3], 60]
    const flat = (p: number): Row[] => Array.from({ length: 60 }, () => [p, p, p, p, 1])
    const path = (firstUp: boolean): Row[] => {
      const m = flat(100)
      m[10] = firstUp ? [100, 106, 100, 104, 1] : [100, 100, 94, 96, 1]
      m[40] = firstUp ? [100, 100, 94, 96, 1] : [100, 106, 100, 104, 1]
      return m
    }
    for (const firstUp of [true, false]) {
      const minutes = [...flat(100), ...flat(100), ...path(firstUp), ...flat(100)]
      const hours = [0, 1, 2, 3].map((h) => hourOf(minutes.slice(h * 60, h * 60 + 60)))
      const data = synth(hours, { minute: minutes })
      const coarse = simulate(data, script({ 0: buy1, 1: bracket }), FEES)
      expect(coarse.fills[1].price).toBe(95)
      const fine = simulate(data, script({ 0: buy1, 1: bracket }), { ...FEES, intrabar: '1m' })
      expect(fine.fills[1]).toMatchObject(firstUp ? { price: 105, liquidity: 'maker', tag: 'target' } : { price: 95, tag: 'stop' })
      expect(fine.fills[1].time).toBe(T0 + 2 * HOUR + 10 * MINUTE)
    }
  })
})

describe('market orders and the rest', () => {
  const rows: Row[] = [[100, 100, 100, 101], [102, 103, 101, 102], [102, 102, 102, 102]]

  it('fill at the next bar\'s open by default, at the signal bar\'s close with fillAt close', () => {
    expect(fills(simulate(synth(rows), script({ 0: buy1 }), FEES))).toEqual([['buy', 1, 102, 'taker', 1]])
    expect(fills(simulate(synth(rows), script({ 0: buy1 }), { ...FEES, fillAt: 'close' }))).toEqual([['buy', 1, 101, 'taker', 1]])
  })

  it('reduce-only never flips a position; spot never goes short', () => {
    const r = simulate(synth([...rows, [102, 102, 102, 102]]), script({ 0: buy1, 1: (c) => o(c, { side: 'sell', type: 'market', qty: 2, reduceOnly: true }) }), FEES)
    expect(fills(r)[1]).toEqual(['sell', 1, 102, 'taker', 2])
    const short = simulate(synth(rows), script({ 0: (c) => o(c, { side: 'sell', type: 'market', qty: 1 }) }), FEES)
    expect(short.fills).toEqual([])
    expect(short.riskEvents).toEqual([expect.objectContaining({ action: 'rejected', reason: 'spot cannot go short: sell cut to the holdings', requestedQty: 1 })])
    // A perpetual may
    const perp = simulate(synth(rows, { exchange: 'binance-futures' }), script({ 0: (c) => o(c, { side: 'sell', type: 'market', qty: 1 }) }), FEES)
    expect(fills(perp)).toEqual([['sell', 1, 102, 'taker', 1]])
  })

  it('a market order placed on a fill waits for the next bar\'s open', () => {
    const r = simulate(
      synth([...rows, [105, 105, 105, 105]]),
      script({ 0: buy1 }, (c, f) => (f.side === 'buy' ? o(c, { side: 'sell', type: 'market', qty: 1 }) : undefined)),
      FEES,
    )
    expect(fills(r)).toEqual([
      ['buy', 1, 102, 'taker', 1],
      ['sell', 1, 102, 'taker', 2],
    ])
  })

  it('strategies cannot read ahead of the closed bar', () => {
    let seen = NaN
    const r = () =>
      simulate(
        synth(rows),
        script({
          1: (c) => {
            seen = c.close()
            c.close(0, -1)
          },
        }),
        FEES,
      )
    expect(r).toThrow(/cannot look ahead/)
    expect(seen).toBe(102)
  })

  it('orders placed in onStart act from the first traded bar\'s open, given a price to check them against', () => {
    const starter = { name: 'start', description: '', params: [], onStart: (c: StrategyContext) => void buy1(c), onBar: () => {} }
    // Bar 0 is warm-up: its close is the reference price
    const warm = { ...synth(rows), start: 1 }
    const r = simulate(warm, starter, FEES)
    expect(fills(r)).toEqual([['buy', 1, 102, 'taker', 1]])
    expect(r.orders![0].time).toBe(T0 + HOUR)
    // No bar seen yet: nothing to check the order against
    const cold = simulate(synth(rows), starter, FEES)
    expect(cold.fills).toEqual([])
    expect(cold.riskEvents).toEqual([expect.objectContaining({ action: 'rejected', reason: 'no price to size or check the order against (NaN)' })])
  })

  it('cancel removes a working order', () => {
    const r = simulate(
      synth(rows),
      script({
        0: (c) => {
          const id = o(c, { side: 'buy', type: 'limit', qty: 1, price: 50 })
          expect(c.openOrders()).toHaveLength(1)
          expect(c.cancel(id)).toBe(true)
          expect(c.openOrders()).toHaveLength(0)
        },
      }),
      FEES,
    )
    expect(r.orders![0]).toMatchObject({ status: 'cancelled', cancelReason: 'cancelled by the strategy' })
  })
})
