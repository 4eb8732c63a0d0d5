// Small hand-made bar series for ledger and order-semantics tests. STYLE rule 14 asks for real payloads; these
// are not market data but arithmetic fixtures: every expected value in the tests using them is computed by hand
// from the few prices here, which real bars would only obscure. Real bars are used by the look-ahead, invariant
// and CLI tests.
import type { Interval } from '../../src/lib/consts.js'
import { marketDataFromColumns, type FundingSeries, type Market, type MarketData } from '../../src/lib/backtest/data.js'
import type { Strategy, StrategyContext } from '../../src/lib/backtest/strategy.js'
import type { Fill } from '../../src/lib/backtest/types.js'
import type { Exchange } from '../../src/lib/consts.js'

export const T0 = Date.UTC(2024, 0, 1) * 1000
export const HOUR = 3_600_000_000
export const MINUTE = 60_000_000

/** [open, high, low, close, volume?] per bar */
export type Row = readonly [number, number, number, number, number?]

export function cols(rows: readonly Row[], step = HOUR, t0 = T0) {
  return {
    open_time: Float64Array.from(rows, (_, i) => t0 + i * step),
    open: Float64Array.from(rows, (r) => r[0]),
    high: Float64Array.from(rows, (r) => r[1]),
    low: Float64Array.from(rows, (r) => r[2]),
    close: Float64Array.from(rows, (r) => r[3]),
    volume: Float64Array.from(rows, (r) => r[4] ?? 1000),
  }
}

/** One instrument's synthetic bars as market data. */
export function synth(
  rows: readonly Row[],
  opts: { exchange?: Exchange; symbol?: string; market?: Market; interval?: Interval; funding?: FundingSeries; minute?: readonly Row[] } = {},
): MarketData {
  const interval = opts.interval ?? '1h'
  return marketDataFromColumns(interval, [
    {
      instrument: { exchange: opts.exchange ?? 'binance', symbol: opts.symbol ?? 'BTCUSDT' },
      market: opts.market,
      bars: cols(rows),
      funding: opts.funding,
      minute: opts.minute ? cols(opts.minute, MINUTE) : undefined,
    },
  ])
}

/** A strategy that runs `steps[i]` at the close of bar i (and `fill` on fills). */
export function script(
  steps: Record<number, (ctx: StrategyContext) => void>,
  fill?: (ctx: StrategyContext, f: Fill) => void,
): Strategy {
  return {
    name: 'script',
    description: 'test script',
    params: [],
    onBar(ctx) {
      steps[ctx.index]?.(ctx)
    },
    onFill: fill,
  }
}

export const ZERO = { fees: { maker: 0, taker: 0 }, slippage: { kind: 'bps', bps: 0 } as const, checkInvariant: true }
