// Trading costs and margin: fee schedules per venue, the `--fees` and `--slippage` forms, and the maintenance
// margin table behind the simulated liquidation price.

import type { Exchange } from '../consts.js'
import { UsageError } from '../errors.js'

/** Maker and taker fee rates as fractions of the filled notional (0.001 = 0.1%). */
export interface FeeRates {
  readonly maker: number
  readonly taker: number
}

/**
 * Base-tier fees (no volume discount, no fee-token discount), from the venues' public schedules:
 * - binance (spot): 0.1% maker / 0.1% taker, "Regular User" tier, https://www.binance.com/en/fee/schedule
 * - binance-futures (USDⓈ-M): 0.02% maker / 0.05% taker, "Regular User" tier, https://www.binance.com/en/fee/futureFee
 * - coinbase (Advanced): 0.60% maker / 1.20% taker, the lowest-volume tier ($0–$1K 30-day volume) of
 *   https://help.coinbase.com/en/coinbase/trading-and-funding/advanced-trade/advanced-trade-fees (table on the
 *   Coinbase Advanced fees page)
 * Venues change these; pass `--fees maker=…,taker=…` for your own tier.
 */
export const DEFAULT_FEES: Readonly<Record<Exchange, FeeRates>> = {
  binance: { maker: 0.001, taker: 0.001 },
  'binance-futures': { maker: 0.0002, taker: 0.0005 },
  coinbase: { maker: 0.006, taker: 0.012 },
}

/** Parses `--fees maker=0.0002,taker=0.0005` (fractions; a `%` suffix means percent, `bps` basis points). */
export function parseFees(text: string, base?: FeeRates): FeeRates {
  const out: { maker?: number; taker?: number } = { ...base }
  const bad = () =>
    new UsageError(`Invalid --fees: '${text}'. Expected maker=RATE,taker=RATE as fractions, e.g. maker=0.0002,taker=0.0005 (or 0.02%, 2bps)`)
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(maker|taker)=(-?\d+(?:\.\d+)?(?:e-?\d+)?)(%|bps)?$/.exec(part)
    if (!m) throw bad()
    const v = Number(m[2]) / (m[3] === '%' ? 100 : m[3] === 'bps' ? 10_000 : 1)
    // Negative maker fees are rebates, which some tiers pay; above 10% is surely a unit mistake
    if (!Number.isFinite(v) || v < -0.01 || v > 0.1) throw bad()
    out[m[1] as 'maker' | 'taker'] = v
  }
  if (out.maker === undefined || out.taker === undefined) throw bad()
  return { maker: out.maker, taker: out.taker }
}

/** Slippage model: a fixed number of basis points against the taker, or the lake's order book. */
export type SlippageModel = { readonly kind: 'bps'; readonly bps: number } | { readonly kind: 'book'; readonly fallbackBps: number }

/** Parses `--slippage 2` (bps) or `--slippage book` (book snapshots, falling back to `fallbackBps`). */
export function parseSlippage(text: string, fallbackBps = 1): SlippageModel {
  const t = text.trim()
  if (t === 'book') return { kind: 'book', fallbackBps }
  const m = /^(\d+(?:\.\d+)?)(bps)?$/.exec(t)
  const bps = m ? Number(m[1]) : NaN
  if (!Number.isFinite(bps) || bps > 1000) {
    throw new UsageError(`Invalid --slippage: '${text}'. Expected basis points such as 2, or 'book' to use the lake's book snapshots`)
  }
  return { kind: 'bps', bps }
}

/** One bracket of a maintenance margin table: from `floor` notional up, rate `mmr`. */
export interface MarginBracket {
  readonly floor: number
  readonly mmr: number
}

/**
 * Maintenance margin rates by position notional (USDT) of Binance USDⓈ-M BTCUSDT (`GET /fapi/v1/leverageBracket`,
 * as published in 2023–2024). Other symbols use the same table here: a simplification, their real brackets are
 * lower in notional and higher in rate. The maintenance amount of each bracket follows from the rates so the
 * requirement is continuous across brackets, as Binance defines it.
 */
export const BINANCE_USDM_BRACKETS: readonly MarginBracket[] = [
  { floor: 0, mmr: 0.004 },
  { floor: 50_000, mmr: 0.005 },
  { floor: 250_000, mmr: 0.01 },
  { floor: 3_000_000, mmr: 0.025 },
  { floor: 15_000_000, mmr: 0.05 },
  { floor: 30_000_000, mmr: 0.1 },
  { floor: 80_000_000, mmr: 0.125 },
  { floor: 150_000_000, mmr: 0.15 },
  { floor: 300_000_000, mmr: 0.25 },
  { floor: 500_000_000, mmr: 0.5 },
]

/** Maintenance rate and amount (`cum`) for a position notional. */
export function maintenance(notional: number, brackets: readonly MarginBracket[] = BINANCE_USDM_BRACKETS): { mmr: number; cum: number } {
  let cum = 0
  let mmr = brackets[0].mmr
  for (let b = 1; b < brackets.length; b++) {
    if (notional < brackets[b].floor) break
    cum += brackets[b].floor * (brackets[b].mmr - mmr)
    mmr = brackets[b].mmr
  }
  return { mmr, cum }
}

/**
 * Liquidation price of an isolated-margin position of `qty` (signed) entered at `entry` with margin `margin`:
 * the price at which margin + unrealised PnL equals the maintenance margin (mmr × qty × price − cum). NaN when the
 * position cannot be liquidated (a long at 1x: the price would have to go below zero).
 */
export function liquidationPrice(qty: number, entry: number, margin: number, brackets?: readonly MarginBracket[]): number {
  if (qty === 0) return NaN
  const { mmr, cum } = maintenance(Math.abs(qty) * entry, brackets)
  const p = qty > 0 ? (qty * entry - margin - cum) / (qty * (1 - mmr)) : (margin - qty * entry + cum) / (-qty * (1 + mmr))
  return p > 0 && Number.isFinite(p) ? p : NaN
}
