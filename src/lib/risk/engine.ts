// The risk gate every order passes before it is sent: sizing, exposure limits, a submit throttle and circuit
// breakers that move the account to `reduce_only` or `halted`. Shared by the backtester and the live executor, so
// it knows nothing of either: they describe the order, the account and the market in its own types.
//
// Every rejected or resized order and every state change is recorded as a RiskEvent with its reason.

import type { Decision, RiskAccount, RiskEvent, RiskFill, RiskLimits, RiskMarket, RiskOrder, RiskState } from './types.js'

const US_PER_DAY = 86_400_000_000
/** Quantities below this share of the request count as nothing left to send */
const NOTHING = 1e-12

const pct = (x: number) => `${(x * 100).toFixed(2).replace(/\.?0+$/, '')}%`
const money = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(4))

/** Checks orders against limits and tracks the breakers; one instance per account. */
export class RiskEngine {
  readonly events: RiskEvent[] = []
  private current: RiskState = 'active'
  private why = ''
  // Breakers
  private peak = -Infinity
  private day = NaN
  private dayOpenEquity = NaN
  private lastEquity = NaN
  private drawdownTrip: string | undefined
  private dailyTrip: string | undefined
  private lossTrip: string | undefined
  private losses = 0
  private gapBarsLeft = 0
  private gapWhy = ''
  // Throttle: times of the last accepted submits, a ring of maxOrders
  private readonly sent: Float64Array
  private sentHead = 0
  private sentCount = 0
  // Closed round trips' returns, for Kelly sizing
  private readonly returns: number[] = []

  /** Whether any breaker needs the bars (onBar is a no-op without one) */
  private readonly watching: boolean

  constructor(readonly limits: RiskLimits = {}) {
    this.sent = new Float64Array(Math.max(1, limits.throttle?.maxOrders ?? 1))
    this.watching =
      limits.maxDailyLoss !== undefined ||
      limits.maxDrawdown !== undefined ||
      limits.maxConsecutiveLosses !== undefined ||
      limits.maxGapBars !== undefined
  }

  /** The account state after the last bar and fill. */
  get state(): RiskState {
    return this.current
  }

  /** Why the state is not `active` ('' when it is). */
  get reason(): string {
    return this.why
  }

  /** Records an executor-side event (an order the venue or the simulator could not fill in full) with the gate's. */
  note(event: RiskEvent): void {
    this.events.push(event)
  }

  /** Decides whether an order may be sent, and with what quantity. */
  check(order: RiskOrder, account: RiskAccount, market: RiskMarket): Decision {
    const L = this.limits
    const inst = order.instrument
    const pos = account.positions[inst]?.qty ?? 0
    const s = order.side === 'buy' ? 1 : -1
    const price = order.price ?? market.price
    const reject = (reason: string, requested?: number): Decision => {
      this.events.push({ time: market.time, instrument: inst, action: 'rejected', reason, requestedQty: requested, allowedQty: 0 })
      return { action: 'reject', qty: 0, notional: 0, sized: false, reason }
    }
    if (!(price > 0) || !Number.isFinite(price)) return reject(`no price to size or check the order against (${price})`, order.qty)
    if (order.qty !== undefined && !(order.qty > 0)) return reject(`invalid quantity ${order.qty}: expected a positive number`, order.qty)
    if (order.notional !== undefined && !(order.notional > 0)) return reject(`invalid notional ${order.notional}: expected a positive number`)
    if (this.current === 'halted') return reject(`halted: ${this.why}`, order.qty)

    // Quantity: the order's, its notional's, the whole position for a reduce-only order, or sized
    let qty: number
    let sized = false
    const against = pos * s < 0
    if (order.qty !== undefined) qty = order.qty
    else if (order.notional !== undefined) {
      qty = order.notional / price
      sized = true
    } else if (order.reduceOnly || (this.current === 'reduce_only' && against)) {
      qty = Math.abs(pos)
      if (qty === 0) return reject('reduce-only order with no position to reduce')
    } else {
      if (this.current === 'reduce_only') return reject(`reduce-only: ${this.why}`)
      const r = this.size(account, market, price)
      if (typeof r === 'string') return reject(r)
      qty = r / price
      sized = true
    }

    let allowed = qty
    let binding = ''
    // Orders that cannot add risk: reduce-only ones, and those shrinking the position without flipping it
    let addsRisk = order.reduceOnly !== true && !(against && qty <= Math.abs(pos) * (1 + NOTHING))
    if (this.current === 'reduce_only' && addsRisk) {
      if (!against) return reject(`reduce-only: ${this.why}`, qty)
      // Against the position but past flat: keep the closing part
      allowed = Math.abs(pos)
      binding = `reduce-only: ${this.why}`
      addsRisk = false
    }
    if (addsRisk && L.maxDataAgeMs !== undefined && market.dataTime !== undefined) {
      const ageMs = (market.time - market.dataTime) / 1000
      if (ageMs > L.maxDataAgeMs) {
        return reject(`stale data: the newest data is ${Math.round(ageMs / 1000)} s old (limit ${Math.round(L.maxDataAgeMs / 1000)} s)`, qty)
      }
    }
    if (this.throttled(market.time)) {
      const t = L.throttle!
      return reject(`throttled: ${t.maxOrders} orders in the last ${t.windowMs / 1000} s (limit ${t.maxOrders} per ${t.windowMs / 1000} s)`, qty)
    }

    // A fat-finger cap on every order, then limits on the position after the order for the part that adds risk
    if (L.maxOrderNotional !== undefined && allowed * price > L.maxOrderNotional) {
      allowed = L.maxOrderNotional / price
      binding = `order notional ${money(qty * price)} over the limit ${money(L.maxOrderNotional)}`
    }
    const capPosition = (capNotional: number, why: string) => {
      // Largest q with |pos + s q| × price <= capNotional
      const capQty = Math.max(0, capNotional) / price
      const q = against ? Math.abs(pos) + capQty : capQty - Math.abs(pos)
      if (q < allowed) {
        allowed = Math.max(0, q)
        binding = why
      }
    }
    if (addsRisk && L.maxPositionNotional !== undefined) {
      capPosition(L.maxPositionNotional, `position notional over the limit ${money(L.maxPositionNotional)}`)
    }
    if (addsRisk && (L.maxLeverage !== undefined || L.maxNetExposure !== undefined)) {
      let grossOthers = 0
      let netOthers = 0
      for (const [k, p] of Object.entries(account.positions)) {
        if (k === inst) continue
        grossOthers += Math.abs(p.qty) * p.price
        netOthers += p.qty * p.price
      }
      if (L.maxLeverage !== undefined) {
        capPosition(L.maxLeverage * account.equity - grossOthers, `gross exposure over ${L.maxLeverage}x equity`)
      }
      if (L.maxNetExposure !== undefined) {
        const cap = L.maxNetExposure * account.equity
        // Only an order that moves the net exposure away from zero is limited
        const net = netOthers + pos * price
        if (Math.abs(net + s * allowed * price) > Math.abs(net)) {
          const room = s > 0 ? cap - net : cap + net
          const q = Math.max(0, room / price)
          if (q < allowed) {
            allowed = q
            binding = `net exposure over ${pct(L.maxNetExposure)} of equity`
          }
        }
      }
    }
    if (allowed < qty * (1 - NOTHING)) {
      if (allowed <= qty * NOTHING) return reject(binding, qty)
      return this.resized(market.time, inst, qty, allowed, price, sized, binding)
    }
    this.markSent(market.time)
    return { action: 'accept', qty, notional: qty * price, sized }
  }

  private resized(time: number, inst: string, qty: number, allowed: number, price: number, sized: boolean, reason: string): Decision {
    this.events.push({ time, instrument: inst, action: 'resized', reason, requestedQty: qty, allowedQty: allowed })
    this.markSent(time)
    return { action: 'resize', qty: allowed, notional: allowed * price, sized, reason }
  }

  /** Notional for an order without a quantity, or why there is none. */
  private size(account: RiskAccount, market: RiskMarket, price: number): number | string {
    const sizing = this.limits.sizing ?? { mode: 'fixed_fraction', fraction: 1 }
    const power = Math.max(0, account.equity) * account.leverage
    switch (sizing.mode) {
      case 'fixed_notional':
        return sizing.notional
      case 'fixed_fraction':
        return sizing.fraction * power
      case 'vol_target': {
        const vol =
          sizing.estimator === 'realized'
            ? market.realizedVol
            : market.atr !== undefined && market.barsPerYear !== undefined
              ? (market.atr / price) * Math.sqrt(market.barsPerYear)
              : undefined
        if (vol === undefined || !(vol > 0) || !Number.isFinite(vol)) {
          return `vol_target sizing: no ${sizing.estimator === 'realized' ? 'realised volatility' : 'ATR'} estimate yet`
        }
        return Math.min(power, (Math.max(0, account.equity) * sizing.target) / vol)
      }
      case 'kelly': {
        const minTrades = sizing.minTrades ?? 20
        const rs = sizing.lookback ? this.returns.slice(-sizing.lookback) : this.returns
        if (rs.length < minTrades) return (sizing.fallback ?? 0.1) * power
        let wins = 0
        let winSum = 0
        let lossSum = 0
        for (const r of rs) {
          if (r > 0) {
            wins++
            winSum += r
          } else lossSum -= r
        }
        const p = wins / rs.length
        const losses = rs.length - wins
        if (losses === 0 || lossSum === 0) return sizing.cap * power
        if (wins === 0) return `kelly sizing: no winning trade in the last ${rs.length}`
        const b = winSum / wins / (lossSum / losses)
        const f = (sizing.multiplier ?? 1) * (p - (1 - p) / b)
        if (!(f > 0)) return `kelly sizing: no edge in the last ${rs.length} trades (f* = ${f.toFixed(3)}, win rate ${pct(p)}, win/loss ${b.toFixed(2)})`
        return Math.min(sizing.cap, f) * power
      }
    }
  }

  /** The Kelly fraction the history supports now (for reports); NaN before `minTrades`. */
  kellyFraction(): number {
    const sizing = this.limits.sizing
    if (sizing?.mode !== 'kelly') return NaN
    const r = this.size({ equity: 1, leverage: 1, positions: {} }, { time: 0, price: 1 }, 1)
    return typeof r === 'number' ? r : 0
  }

  private throttled(time: number): boolean {
    const t = this.limits.throttle
    if (!t || this.sentCount < t.maxOrders) return false
    // The oldest of the last maxOrders submits is inside the window: one more would exceed it
    const oldest = this.sent[this.sentHead]
    return time - oldest < t.windowMs * 1000
  }

  private markSent(time: number): void {
    const t = this.limits.throttle
    if (!t) return
    this.sent[this.sentHead] = time
    this.sentHead = (this.sentHead + 1) % this.sent.length
    if (this.sentCount < this.sent.length) this.sentCount++
  }

  /** Takes a fill; a fill that ends a round trip feeds the loss streak and Kelly's history. */
  onFill(fill: RiskFill): void {
    const c = fill.closed
    if (!c) return
    this.returns.push(c.returnPct)
    if (c.pnl < 0) {
      this.losses++
      const max = this.limits.maxConsecutiveLosses
      if (max !== undefined && this.losses >= max && this.lossTrip === undefined) {
        this.lossTrip = `${this.losses} losing trades in a row (limit ${max}); until the next UTC day`
        this.losses = 0
        this.update(fill.time)
      }
    } else {
      this.losses = 0
    }
  }

  /**
   * Takes the equity at a bar close (or any periodic mark) and moves the breakers. `missingBars` is the number of
   * bars missing just before this one (data gaps).
   */
  onBar(time: number, equity: number, missingBars = 0): void {
    if (!this.watching) return
    const L = this.limits
    // A bar closing exactly at midnight belongs to the day it ends
    const day = Math.floor((time - 1) / US_PER_DAY)
    if (day !== this.day) {
      this.dayOpenEquity = Number.isNaN(this.lastEquity) ? equity : this.lastEquity
      this.day = day
      this.dailyTrip = undefined
      this.lossTrip = undefined
    }
    this.lastEquity = equity
    if (equity > this.peak) this.peak = equity
    if (L.maxDrawdown !== undefined && this.drawdownTrip === undefined && this.peak > 0) {
      const dd = 1 - equity / this.peak
      if (dd >= L.maxDrawdown) this.drawdownTrip = `max drawdown ${pct(dd)} from the peak ${money(this.peak)} (limit ${pct(L.maxDrawdown)})`
    }
    if (L.maxDailyLoss !== undefined && this.dailyTrip === undefined && this.dayOpenEquity > 0) {
      const loss = 1 - equity / this.dayOpenEquity
      if (loss >= L.maxDailyLoss) this.dailyTrip = `daily loss ${pct(loss)} since 00:00 UTC (limit ${pct(L.maxDailyLoss)}); until the next UTC day`
    }
    if (L.maxGapBars !== undefined) {
      const missing = missingBars
      if (missing > L.maxGapBars) {
        this.gapBarsLeft = L.gapRecoveryBars ?? 1
        this.gapWhy = `data gap of ${missing} bars (limit ${L.maxGapBars}); until ${this.gapBarsLeft} bar(s) in a row arrive without one`
      } else if (this.gapBarsLeft > 0) {
        this.gapBarsLeft--
      }
    }
    this.update(time)
  }

  private update(time: number): void {
    const halt = this.drawdownTrip ?? this.dailyTrip
    const reduce = this.lossTrip ?? (this.gapBarsLeft > 0 ? this.gapWhy : undefined)
    const next: RiskState = halt ? 'halted' : reduce ? 'reduce_only' : 'active'
    const why = halt ?? reduce ?? ''
    if (next === this.current) {
      this.why = why
      return
    }
    this.current = next
    this.why = why
    this.events.push({
      time,
      instrument: undefined,
      action: next === 'active' ? 'resumed' : next,
      reason: next === 'active' ? 'breakers cleared' : why,
    })
  }
}
