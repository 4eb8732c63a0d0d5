// The risk gate's vocabulary, shared by the backtester and the live executor: nothing here knows which of the two
// is asking. Times are µs since the epoch (UTC); money is in the quote currency.

/** `active`: every order may pass. `reduce_only`: only orders that shrink a position. `halted`: none. */
export type RiskState = 'active' | 'reduce_only' | 'halted'

/**
 * A decision of the risk engine that changed an order (resized, rejected) or the account state. Structurally the
 * same as the backtester's `RiskEvent` (src/lib/backtest/types.ts), so either side can hold the other's.
 */
export interface RiskEvent {
  readonly time: number
  readonly instrument: string | undefined
  readonly action: 'rejected' | 'resized' | 'halted' | 'reduce_only' | 'resumed'
  readonly reason: string
  readonly requestedQty?: number | undefined
  readonly allowedQty?: number | undefined
}

/**
 * How an order without a quantity is sized. Notionals are quote currency; fractions are of buying power
 * (equity × the account's leverage).
 * - `fixed_notional`: the same notional every time.
 * - `fixed_fraction`: a fraction of buying power.
 * - `vol_target`: notional = equity × target / annualised volatility, from the market's realised volatility or its
 *   ATR (ATR / price × √barsPerYear), capped at buying power.
 * - `kelly`: Kelly fraction f* = p − (1 − p) / b from the closed trades' returns (p: win rate, b: mean win / mean
 *   loss), times `multiplier`, capped at `cap`; `fallback` until `minTrades` trades have closed.
 */
export type Sizing =
  | { readonly mode: 'fixed_notional'; readonly notional: number }
  | { readonly mode: 'fixed_fraction'; readonly fraction: number }
  | { readonly mode: 'vol_target'; readonly target: number; readonly estimator: 'atr' | 'realized' }
  | {
      readonly mode: 'kelly'
      readonly cap: number
      readonly multiplier?: number | undefined
      readonly minTrades?: number | undefined
      readonly fallback?: number | undefined
      /** Only the last N closed trades count; default all */
      readonly lookback?: number | undefined
    }

/** Limits and breakers; every field is optional and an absent one does not apply. */
export interface RiskLimits {
  /** Sizing of orders that carry no quantity; default fixed_fraction 1 (all of the buying power) */
  readonly sizing?: Sizing | undefined
  /** Largest notional of one order; larger ones are resized down */
  readonly maxOrderNotional?: number | undefined
  /** Largest absolute notional of one instrument's position */
  readonly maxPositionNotional?: number | undefined
  /** Largest gross notional of all positions / equity */
  readonly maxLeverage?: number | undefined
  /** Largest |long − short| notional / equity */
  readonly maxNetExposure?: number | undefined
  /** At most `maxOrders` submits in any `windowMs`; the excess is rejected */
  readonly throttle?: { readonly maxOrders: number; readonly windowMs: number } | undefined
  /** Halts until the next UTC day when equity falls this fraction below the day's opening equity */
  readonly maxDailyLoss?: number | undefined
  /** Halts for good when equity falls this fraction below its peak */
  readonly maxDrawdown?: number | undefined
  /** Reduce-only until the next UTC day after this many losing round trips in a row */
  readonly maxConsecutiveLosses?: number | undefined
  /** Orders that open risk are rejected when the instrument's last data is older than this */
  readonly maxDataAgeMs?: number | undefined
  /** Reduce-only when a bar arrives after more than this many missing bars… */
  readonly maxGapBars?: number | undefined
  /** …until this many bars in a row arrived without a gap (default 1) */
  readonly gapRecoveryBars?: number | undefined
  /** Whether the executor should close positions and cancel orders on entering `halted` (default true) */
  readonly flattenOnHalt?: boolean | undefined
}

/** An order as the risk gate sees it. */
export interface RiskOrder {
  readonly instrument: string
  readonly side: 'buy' | 'sell'
  /** Base quantity; absent: sized by the limits' sizing (or by `notional`) */
  readonly qty?: number | undefined
  /** Quote amount to trade when `qty` is absent */
  readonly notional?: number | undefined
  /** Limit or stop price; absent: the market price */
  readonly price?: number | undefined
  readonly reduceOnly?: boolean | undefined
}

/** The account as the risk gate sees it, at the moment of the check. */
export interface RiskAccount {
  readonly equity: number
  /** Buying power multiplier: 1 for spot, the chosen leverage for perpetuals */
  readonly leverage: number
  /** Signed base quantity and mark price per instrument with a position */
  readonly positions: Readonly<Record<string, { readonly qty: number; readonly price: number }>>
}

/** What the gate knows of the market of the order's instrument. */
export interface RiskMarket {
  /** Now, µs (the bar close in a backtest, the wall clock live) */
  readonly time: number
  /** Reference price: the last close or trade */
  readonly price: number
  /** Time of the instrument's newest data, µs */
  readonly dataTime?: number | undefined
  /** Average true range in price units, for vol_target with estimator atr */
  readonly atr?: number | undefined
  /** Annualised realised volatility, for vol_target with estimator realized */
  readonly realizedVol?: number | undefined
  /** Bars per year of the interval, to annualise the ATR */
  readonly barsPerYear?: number | undefined
}

/** The answer to one order. `qty` is what may be sent (0 when rejected). */
export interface Decision {
  readonly action: 'accept' | 'resize' | 'reject'
  readonly qty: number
  /** qty × reference price */
  readonly notional: number
  /** Whether the quantity came from sizing (not from the order): the executor may re-derive it at the fill price */
  readonly sized: boolean
  readonly reason?: string | undefined
}

/** A fill reported back to the gate; `closed` is set when it ended a round trip. */
export interface RiskFill {
  readonly time: number
  readonly instrument: string
  readonly side: 'buy' | 'sell'
  readonly qty: number
  readonly price: number
  readonly closed?: { readonly pnl: number; readonly returnPct: number } | undefined
}
