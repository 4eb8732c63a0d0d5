// The backtester's contract: what a run is given and what it returns. The engine (engine.ts) produces a
// BacktestResult; metrics, reports and the optimiser consume it. Times are µs since the epoch (UTC).

import type { Exchange, Interval } from '../consts.js'
import type { Instrument } from '../instrument.js'
import type { RiskLimits } from '../risk/types.js'
import type { FeeRates, MarginBracket, SlippageModel } from './costs.js'
import type { Market, MarketData } from './data.js'
import type { Strategy } from './strategy.js'

export type OrderType = 'market' | 'limit' | 'stop' | 'stop_limit'
export type OrderSide = 'buy' | 'sell'

/** An order as a strategy submits it; the risk engine may resize or reject it. */
export interface OrderRequest {
  readonly instrument: string
  readonly side: OrderSide
  readonly type: OrderType
  /** Base quantity; the risk engine's sizing may set it when undefined */
  readonly qty?: number | undefined
  readonly price?: number | undefined
  readonly stopPrice?: number | undefined
  readonly reduceOnly?: boolean | undefined
  /** Free text shown in the trade list */
  readonly tag?: string | undefined
  /** Quote amount to trade when `qty` is undefined; the quantity is derived at the fill price (added by the engine) */
  readonly notional?: number | undefined
}

/** One execution. */
export interface Fill {
  readonly time: number
  readonly instrument: string
  readonly orderId: number
  readonly side: OrderSide
  readonly qty: number
  readonly price: number
  readonly fee: number
  readonly liquidity: 'maker' | 'taker'
  /** Slippage paid versus the reference price, in quote currency */
  readonly slippage: number
  readonly tag?: string | undefined
}

/** A position opened and closed (a round trip), for the trade list and trade statistics. */
export interface ClosedTrade {
  readonly instrument: string
  readonly direction: 'long' | 'short'
  readonly entryTime: number
  readonly exitTime: number
  readonly entryPrice: number
  readonly exitPrice: number
  readonly qty: number
  /** Net of fees and funding */
  readonly pnl: number
  readonly fees: number
  readonly funding: number
  /** pnl / entry notional */
  readonly returnPct: number
  readonly bars: number
}

/** A position still open when the run ends, marked at the last close (not in `trades`, not in the trade metrics). */
export interface OpenPosition {
  readonly instrument: string
  readonly direction: 'long' | 'short'
  readonly entryTime: number
  /** Average price of the position still held */
  readonly entryPrice: number
  /** The last close the run saw */
  readonly markPrice: number
  readonly qty: number
  /** Marked to the last close: what was realised on partial exits plus the open part, net of fees and funding */
  readonly pnl: number
  readonly unrealised: number
  readonly fees: number
  readonly funding: number
  readonly bars: number
}

/** A decision of the risk engine that changed an order (resized, rejected) or the account state. */
export interface RiskEvent {
  readonly time: number
  readonly instrument: string | undefined
  readonly action: 'rejected' | 'resized' | 'halted' | 'reduce_only' | 'resumed'
  readonly reason: string
  readonly requestedQty?: number | undefined
  readonly allowedQty?: number | undefined
}

/** Columnar equity curve, one point per bar of the run's clock. */
export interface EquityCurve {
  readonly time: Float64Array
  /** cash + marked positions (+ unrealised PnL for perpetuals) */
  readonly equity: Float64Array
  readonly cash: Float64Array
  /** Gross notional of open positions / equity */
  readonly exposure: Float64Array
}

export interface BacktestResult {
  readonly strategy: string
  readonly params: Readonly<Record<string, number | string | boolean>>
  readonly instruments: readonly { readonly exchange: Exchange; readonly symbol: string }[]
  readonly interval: Interval
  readonly from: number
  readonly to: number
  readonly startCapital: number
  readonly equity: EquityCurve
  /** Buy-and-hold of the same instruments (equal weights) over the same clock */
  readonly benchmark: { readonly time: Float64Array; readonly equity: Float64Array }
  readonly trades: readonly ClosedTrade[]
  /** Positions still open at the end, marked at the last close (added by the engine) */
  readonly openPositions?: readonly OpenPosition[] | undefined
  readonly fills: readonly Fill[]
  readonly riskEvents: readonly RiskEvent[]
  readonly fees: number
  readonly funding: number
  readonly slippage: number
  /** Sum of filled notional */
  readonly turnover: number
  readonly bars: number
  /** Gaps found in the input range before the run: [from, to] µs and missing bars */
  readonly gaps: readonly { readonly instrument: string; readonly from: number; readonly to: number; readonly missing: number }[]
  /** Every order the risk gate let through, in submit order (added by the engine) */
  readonly orders?: readonly OrderRecord[] | undefined
  /** Things the run could not model as asked, e.g. no funding data for a perpetual (added by the engine) */
  readonly warnings?: readonly string[] | undefined
  /** How the run traded: costs, fill rules, market (added by the engine; for reports) */
  readonly settings?: RunSettings | undefined
}

/** An accepted order as submitted, and how it ended. */
export interface OrderRecord {
  readonly id: number
  /** Decision time: the close of the bar the strategy saw (µs) */
  readonly time: number
  readonly instrument: string
  readonly side: OrderSide
  readonly type: OrderType
  /** Quantity after the risk gate; NaN when it is derived from a notional at the fill */
  readonly qty: number
  readonly notional: number | undefined
  readonly price: number | undefined
  readonly stopPrice: number | undefined
  readonly reduceOnly: boolean
  readonly tag: string | undefined
  /** At the end of the run */
  readonly status: 'filled' | 'partially_filled' | 'working' | 'cancelled'
  readonly filledQty: number
  /** Why it was cancelled, when it was */
  readonly cancelReason?: string | undefined
}

/** The cost, fill and margin settings a run used. */
export interface RunSettings {
  readonly market: readonly ('spot' | 'perp')[]
  readonly fees: readonly { readonly maker: number; readonly taker: number }[]
  /** `2bps` or `book` */
  readonly slippage: string
  readonly fillAt: 'next_open' | 'close'
  readonly intrabar: 'none' | '1m'
  readonly leverage: number
  readonly maxParticipation: number | undefined
}

/** Performance statistics of a result (metrics.ts). Ratios are annualised from the bar interval. */
export interface Metrics {
  readonly totalReturn: number
  readonly cagr: number
  readonly volatility: number
  readonly sharpe: number
  readonly sortino: number
  readonly calmar: number
  readonly maxDrawdown: number
  /** Longest time under a previous equity peak, ms */
  readonly maxDrawdownDurationMs: number
  readonly winRate: number
  readonly profitFactor: number
  readonly expectancy: number
  /** Share of bars with a position open */
  readonly exposure: number
  /** turnover / average equity */
  readonly turnover: number
  readonly fees: number
  readonly funding: number
  readonly trades: number
  readonly benchmark: { readonly totalReturn: number; readonly cagr: number; readonly sharpe: number; readonly maxDrawdown: number }
}

/**
 * How `simulate` trades (added by the engine). Every field is optional; defaults: capital 10,000, the strategy's
 * parameter defaults, the venue's base-tier fees (costs.ts), 1 bps slippage, market orders at the next bar's open,
 * no intrabar resolution, limit fills on touch, no participation cap, leverage 1, fixed-fraction sizing of 1.
 */
export interface SimConfig {
  /** Starting cash in the quote currency */
  readonly capital?: number | undefined
  /** Strategy parameters by name; missing ones take their defaults */
  readonly params?: Readonly<Record<string, number>> | undefined
  /** Fee rates for every instrument; default per venue (DEFAULT_FEES) */
  readonly fees?: FeeRates | undefined
  readonly slippage?: SlippageModel | undefined
  /** `next_open` (default): market orders fill at the next bar's open. `close`: at the signal bar's close (optimistic) */
  readonly fillAt?: 'next_open' | 'close' | undefined
  /** `1m`: walk the 1m bars inside each bar to order stop/target/liquidation hits (needs data loaded with intrabar) */
  readonly intrabar?: 'none' | '1m' | undefined
  /** `touch` (default): a limit fills when the range reaches its price. `through`: only when the range passes it */
  readonly limitFill?: 'touch' | 'through' | undefined
  /** At most this fraction of each bar's volume fills per instrument (0.1 = 10%); the rest fills later (partial fills) */
  readonly maxParticipation?: number | undefined
  /** Leverage of perpetual positions (isolated margin = notional / leverage); spot is always 1 */
  readonly leverage?: number | undefined
  readonly risk?: RiskLimits | undefined
  /** Maintenance margin table for liquidation prices (default Binance USDⓈ-M BTCUSDT's) */
  readonly brackets?: readonly MarginBracket[] | undefined
  /** Book snapshots older than this at a fill are ignored by `slippage: book` (default 60 s) */
  readonly bookMaxAgeMs?: number | undefined
  /** Check equity == cash + marked positions against an independent ledger at every bar (tests, debugging) */
  readonly checkInvariant?: boolean | undefined
}

/** A whole run from the lake (added by the engine): what to load, then how to trade it. */
export interface BacktestConfig extends SimConfig {
  readonly lakeDir: string
  readonly instruments: readonly Instrument[]
  readonly interval: Interval
  /** Inclusive start, µs; default the first bar held */
  readonly from?: number | undefined
  /** Exclusive end, µs; default after the last bar held */
  readonly to?: number | undefined
  /** A built-in name, a .js/.mjs/.ts path, or a strategy object */
  readonly strategy: string | Strategy
  /** Spot or perpetual for every instrument; default from the exchange */
  readonly market?: Market | undefined
  /** Refuse to run when the range has gaps (FatalError naming the first) */
  readonly strict?: boolean | undefined
  /** Called once the data is loaded, before the run: gaps and warnings can be reported first */
  readonly onData?: ((data: MarketData) => void) | undefined
}
