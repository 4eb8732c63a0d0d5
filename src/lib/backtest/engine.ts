// The backtester: an event-driven loop over the bars of one clock, columnar inside (Float64Array columns, no
// per-bar allocation), with the fill, cost and margin rules below. `simulate` is pure (no I/O), so the optimiser
// calls it many times on data loaded once; `runBacktest` loads from the lake and runs.
//
// One bar i of an instrument, in order:
//   1. A perpetual whose liquidation price the open gapped through is liquidated at that price.
//   2. Market orders fill at the open; working stops and limits the open gapped through fill at the open
//      (stops against you, limits in your favour). These are taker fills.
//   3. Funding events inside the bar are charged on the position held after the open's fills, at the event's mark
//      price when the lake has one, else at the open (exact for events at the bar open, which is when Binance
//      charges on bars of 8h or less).
//   4. The bar's range: stops (and stop-limits) first, then limits, repeated until nothing more fills: when a
//      stop and a target of one position are both inside the range, the stop wins (pessimistic). A stop fills at
//      its price (taker), a limit at its price (maker) when the range reaches it (`limitFill: 'through'`: passes
//      it). Orders placed during the bar (from onFill) may be stopped out in the same bar but take no profit in it.
//   5. A perpetual whose liquidation price lies inside the range is liquidated.
// With `intrabar: '1m'` steps 1–5 run on each 1m bar inside the bar, which settles most same-bar ambiguities.
// Then equity is marked at the close, the risk gate's breakers move, and the strategy sees the closed bar; its
// orders act from the next bar (market orders at its open), or at this close with `fillAt: 'close'` (optimistic:
// the signal bar's close is not a price anyone could still trade at once the bar had closed). Orders placed in
// onStart act from the first traded bar. A reduce-only stop or limit with nothing to reduce waits (a bracket may be
// placed with its entry); reduce-only orders are cancelled when their position closes, as on the venues.
// Spot instruments without working orders skip steps 1-5 entirely, so holding costs nothing per bar.
//
// Accounting (quote currency): `settled` = capital + realised PnL − fees − funding, with average-cost entries.
// Spot cash = settled − Σ spot qty × entry; equity = settled + Σ qty × (mark − entry) for spot and perpetuals alike.
// A round trip at zero cost on a flat price therefore leaves equity exactly at the starting capital. With
// `checkInvariant`, every bar compares that equity with an independent ledger (capital − fees − funding +
// Σ (qty × mark − Σ signed fill notional)) to 1e-9 relative, and each position with the sum of its fills.
//
// Perpetuals (isolated margin, one-way mode): margin = |qty| × entry / leverage; the liquidation price is where
// margin + unrealised PnL equals the maintenance margin of the bracket table (costs.ts). Liquidation closes at that
// price and forfeits the whole isolated margin (the rest beyond the realised loss is booked as the clearance fee);
// a gap through it is still closed at the liquidation price, as the insurance fund absorbs the excess on the venue.
// Simplifications: one bracket table for every symbol, the bracket of the entry notional, funding paid from the
// wallet rather than the isolated margin, marks from bar prices (the lake's mark price is used for funding only).
//
// Sizing: orders without a quantity are sized by the risk gate (default: an equal share of the buying power per
// instrument, all of it for one instrument); a sized or notional order keeps its notional and gets its quantity at
// the fill price, capped at what the cash or margin allows (silently: that is sizing). An explicit quantity the cash
// or margin cannot cover is resized at the fill and recorded as a RiskEvent. Spot cannot go short: sells beyond the
// holdings are cut to them.

import { FatalError, UsageError } from '../errors.js'
import { RiskEngine } from '../risk/engine.js'
import type { RiskAccount, RiskEvent as GateEvent, RiskMarket } from '../risk/types.js'
import { isoUs, US_PER_YEAR } from '../time.js'
import { DEFAULT_FEES, liquidationPrice, type FeeRates, type MarginBracket } from './costs.js'
import { loadMarketData, type MarketData } from './data.js'
import { indicatorSeries } from './indicators.js'
import { loadStrategy, resolveStrategyParams, type IndicatorOptions, type OpenOrder, type Strategy, type StrategyContext } from './strategy.js'
import type {
  BacktestConfig,
  BacktestResult,
  ClosedTrade,
  OpenPosition,
  Fill,
  OrderRecord,
  OrderRequest,
  OrderType,
  RiskEvent,
  SimConfig,
} from './types.js'

export { loadMarketData, sliceMarketData, marketDataFromColumns, type MarketData, type InstrumentSeries } from './data.js'
export type { Strategy, StrategyContext, StrategyParamSpec } from './strategy.js'
export type { BacktestConfig, SimConfig } from './types.js'

// The gate's events and the contract's are the same shape
const sameEvent: (e: GateEvent) => RiskEvent = (e) => e

/** Quantities this far below an order's size count as filled (float dust from partial fills) */
const DUST = 1e-12
const DEFAULT_CAPITAL = 10_000
const DEFAULT_SLIPPAGE_BPS = 1

/** A working order inside the simulator. */
interface Working {
  readonly id: number
  readonly k: number
  /** +1 buy, -1 sell */
  readonly s: 1 | -1
  readonly type: OrderType
  /** Base quantity left; NaN while the order is a notional not yet filled */
  remaining: number
  /** Quote amount for sized and notional orders, until the first fill fixes the quantity */
  notional: number
  readonly price: number
  readonly stop: number
  readonly reduceOnly: boolean
  readonly tag: string | undefined
  /** Whether the quantity came from the order itself (not sizing): a cut for cash is then a RiskEvent */
  readonly explicit: boolean
  /** First bar it may fill in */
  readonly activeFrom: number
  /** Segment it was placed in; placed during the current segment: `ref` is the price then */
  seg: number
  ref: number
  /** Stop-limit whose stop has triggered: a limit now */
  triggered: boolean
  done: boolean
  readonly record: { -readonly [K in keyof OrderRecord]: OrderRecord[K] }
  /** Internal (flattening after a halt): bypasses the gate */
  readonly internal: boolean
}

interface OpenTrade {
  dir: 1 | -1
  entryTime: number
  entryIndex: number
  qtyIn: number
  costIn: number
  qtyOut: number
  proceedsOut: number
  realised: number
  fees: number
  funding: number
}

/** Strategy context: reads closed bars and indicators by index, so a bar costs no allocation. */
class Context implements StrategyContext {
  i = -1
  time = NaN
  equity: number
  readonly state: Record<string, unknown> = {}
  readonly series: Float64Array[] = []
  started = false
  constructor(
    private readonly sim: Sim,
    private readonly data: MarketData,
    readonly params: Readonly<Record<string, number>>,
    readonly instruments: readonly string[],
  ) {
    this.equity = sim.capital
  }
  get index(): number {
    return this.i
  }
  get interval() {
    return this.data.interval
  }
  get cash(): number {
    return this.sim.freeCash()
  }
  get riskState() {
    return this.sim.risk.state
  }
  market(k = 0) {
    return this.data.instruments[k].market
  }
  private at(col: Float64Array, lag: number): number {
    if (!(lag >= 0)) throw new Error(`lag must be 0 or more (a strategy cannot look ahead), was ${lag}`)
    const j = this.i - lag
    return j >= 0 ? col[j] : NaN
  }
  open(k = 0, lag = 0): number {
    return this.at(this.data.instruments[k].open, lag)
  }
  high(k = 0, lag = 0): number {
    return this.at(this.data.instruments[k].high, lag)
  }
  low(k = 0, lag = 0): number {
    return this.at(this.data.instruments[k].low, lag)
  }
  close(k = 0, lag = 0): number {
    return this.at(this.data.instruments[k].close, lag)
  }
  volume(k = 0, lag = 0): number {
    return this.at(this.data.instruments[k].volume, lag)
  }
  indicator(id: string, params?: Readonly<Record<string, number>>, opts?: IndicatorOptions): number {
    if (this.started) throw new Error(`ctx.indicator('${id}') must be called in onStart, before the first bar`)
    this.series.push(indicatorSeries(this.data, id, params, opts))
    return this.series.length - 1
  }
  value(h: number, lag = 0): number {
    return this.at(this.series[h], lag)
  }
  position(k = 0): number {
    return this.sim.pos[k]
  }
  entryPrice(k = 0): number {
    return this.sim.avg[k]
  }
  order(req: OrderRequest): number {
    return this.sim.submit(req)
  }
  cancel(id: number): boolean {
    return this.sim.cancel(id, 'cancelled by the strategy')
  }
  cancelAll(k?: number): number {
    let n = 0
    for (const w of this.sim.orders) if (!w.done && (k === undefined || w.k === k) && this.sim.cancel(w.id, 'cancelled by the strategy')) n++
    return n
  }
  openOrders(k?: number): readonly OpenOrder[] {
    return this.sim.orders
      .filter((w) => !w.done && (k === undefined || w.k === k))
      .map((w) => ({
        id: w.id,
        instrument: this.instruments[w.k],
        side: w.s > 0 ? 'buy' : 'sell',
        type: w.type,
        remaining: w.remaining,
        price: Number.isNaN(w.price) ? undefined : w.price,
        stopPrice: Number.isNaN(w.stop) ? undefined : w.stop,
        reduceOnly: w.reduceOnly,
        tag: w.tag,
      }))
  }
}

class Sim {
  readonly capital: number
  readonly K: number
  readonly pos: Float64Array
  readonly avg: Float64Array
  private readonly margin: Float64Array
  private readonly liq: Float64Array
  /** Independent ledger for the invariant: Σ −signed qty × price, and Σ signed qty */
  private readonly flow: Float64Array
  private readonly posLedger: Float64Array
  private readonly lastPx: Float64Array
  private readonly lastBar: Float64Array
  private readonly perp: boolean[]
  private readonly fee: FeeRates[]
  private readonly lev: number
  private readonly slipBps: number
  private readonly book: boolean
  private readonly bookMaxAgeUs: number
  private readonly maxPart: number
  private readonly through: boolean
  private readonly atClose: boolean
  private readonly intrabar: boolean
  private readonly brackets: readonly MarginBracket[] | undefined
  private readonly keyIndex: Map<string, number>
  readonly risk: RiskEngine
  settled: number
  fees = 0
  funding = 0
  slippage = 0
  turnover = 0
  readonly orders: Working[] = []
  readonly records: OrderRecord[] = []
  readonly fills: Fill[] = []
  readonly trades: ClosedTrade[] = []
  private readonly open: (OpenTrade | undefined)[]
  private readonly fundingAt: Int32Array
  private nextId = 1
  private seg = 0
  /** Bar being processed, its segment's time and the volume left to fill in it */
  private i = 0
  private segTime = 0
  private segK = -1
  private volLeft = Infinity
  private inBar = false
  private ctx!: Context
  private readonly atr: (Float64Array | undefined)[]
  private readonly rvol: (Float64Array | undefined)[]
  private readonly barsPerYear: number

  constructor(
    private readonly data: MarketData,
    private readonly strategy: Strategy,
    private readonly cfg: SimConfig,
  ) {
    const K = data.instruments.length
    this.K = K
    this.capital = cfg.capital ?? DEFAULT_CAPITAL
    if (!(this.capital > 0) || !Number.isFinite(this.capital)) throw new UsageError(`Invalid --capital: ${this.capital}. Expected a positive amount`)
    this.settled = this.capital
    this.pos = new Float64Array(K)
    this.avg = new Float64Array(K)
    this.margin = new Float64Array(K)
    this.liq = new Float64Array(K).fill(NaN)
    this.flow = new Float64Array(K)
    this.posLedger = new Float64Array(K)
    this.lastPx = new Float64Array(K).fill(NaN)
    this.lastBar = new Float64Array(K).fill(NaN)
    this.perp = data.instruments.map((s) => s.market === 'perp')
    this.fee = data.instruments.map((s) => cfg.fees ?? DEFAULT_FEES[s.exchange])
    this.lev = cfg.leverage ?? 1
    if (!(this.lev >= 1 && this.lev <= 125)) throw new UsageError(`Invalid --leverage: ${this.lev}. Expected 1 to 125`)
    if (this.lev > 1 && !this.perp.some(Boolean)) {
      throw new UsageError(`Invalid --leverage: ${this.lev}. Spot trades without leverage; use a perpetual (binance-futures:…, or --market perp)`)
    }
    const slip = cfg.slippage ?? { kind: 'bps', bps: DEFAULT_SLIPPAGE_BPS }
    this.book = slip.kind === 'book'
    this.slipBps = slip.kind === 'bps' ? slip.bps : slip.fallbackBps
    this.bookMaxAgeUs = (cfg.bookMaxAgeMs ?? 60_000) * 1000
    const mp = cfg.maxParticipation
    if (mp !== undefined && !(mp > 0 && mp <= 1)) throw new UsageError(`Invalid --participation: ${mp}. Expected a fraction of bar volume above 0 and at most 1`)
    this.maxPart = mp ?? 0
    this.through = cfg.limitFill === 'through'
    this.atClose = cfg.fillAt === 'close'
    this.intrabar = cfg.intrabar === '1m'
    if (this.intrabar && data.step > 60e6 && data.instruments.some((s) => !s.intrabar)) {
      throw new UsageError('Invalid --intrabar 1m: the data was loaded without 1m bars (loadMarketData with intrabar: true)')
    }
    this.brackets = cfg.brackets
    this.keyIndex = new Map(data.instruments.map((s, k) => [s.key, k]))
    // Default sizing: an equal share of the buying power per instrument
    this.risk = new RiskEngine({ ...cfg.risk, sizing: cfg.risk?.sizing ?? { mode: 'fixed_fraction', fraction: 1 / K } })
    this.open = new Array(K).fill(undefined)
    this.fundingAt = new Int32Array(K)
    // Volatility estimates for vol_target sizing, from the registry on closed bars
    const sizing = cfg.risk?.sizing
    this.barsPerYear = US_PER_YEAR / data.step
    this.atr = data.instruments.map((_, k) =>
      sizing?.mode === 'vol_target' && sizing.estimator === 'atr' ? indicatorSeries(data, 'atr', {}, { instrument: k }) : undefined,
    )
    this.rvol = data.instruments.map((_, k) =>
      sizing?.mode === 'vol_target' && sizing.estimator === 'realized'
        ? indicatorSeries(data, 'realized_vol', { periodsPerYear: Math.round(this.barsPerYear) }, { instrument: k })
        : undefined,
    )
  }

  /** Spot cash not in positions (perpetual margin stays in it: the wallet balance). */
  freeCash(): number {
    let c = this.settled
    for (let k = 0; k < this.K; k++) if (!this.perp[k]) c -= this.pos[k] * this.avg[k]
    return c
  }

  /** Equity marked at the last known prices. */
  private markedEquity(): number {
    let e = this.settled
    for (let k = 0; k < this.K; k++) {
      const p = this.pos[k]
      if (p !== 0) e += p * (this.lastPx[k] - this.avg[k])
    }
    return e
  }

  run(): BacktestResult {
    const d = this.data
    const n = d.time.length
    const start = d.start
    const K = this.K
    const ctx = new Context(this, d, this.params(), d.instruments.map((s) => s.key))
    this.ctx = ctx
    // Funding before the first traded bar is not ours
    for (let k = 0; k < K; k++) {
      const f = d.instruments[k].funding
      if (!f) continue
      let j = 0
      while (j < f.time.length && f.time[j] < d.time[start]) j++
      this.fundingAt[k] = j
    }
    // Prices known before the first traded bar (warm-up) mark nothing yet but seed lastPx for sizing
    for (let k = 0; k < K; k++) {
      const c = d.instruments[k].close
      for (let i = start - 1; i >= 0; i--) {
        if (c[i] * 0 === 0) {
          this.lastPx[k] = c[i]
          this.lastBar[k] = d.time[i]
          break
        }
      }
    }
    // Orders placed in onStart are decided before the first bar and act from its open
    ctx.i = start - 1
    this.i = start - 1
    this.segTime = d.time[start]
    this.strategy.onStart?.(ctx)
    ctx.started = true

    const m = n - start
    const eqT = d.time.slice(start, n)
    const eq = new Float64Array(m)
    const cash = new Float64Array(m)
    const expo = new Float64Array(m)
    const bench = new Float64Array(m)
    const units = new Float64Array(K).fill(NaN)
    let benchCash = this.capital
    const step = d.step
    const opens = d.instruments.map((s) => s.open)
    const closes = d.instruments.map((s) => s.close)
    const check = this.cfg.checkInvariant === true
    let state = this.risk.state

    for (let i = start; i < n; i++) {
      this.i = i
      const t = d.time[i]
      this.inBar = true
      let missing = 0
      for (let k = 0; k < K; k++) {
        const o = opens[k][i]
        if (o * 0 !== 0) continue
        const lb = this.lastBar[k]
        if (lb === lb) {
          const miss = Math.round((t - lb) / step) - 1
          if (miss > missing) missing = miss
        }
        // Nothing can happen to a spot instrument without working orders: skip its bar
        if (this.orders.length !== 0 || this.perp[k]) this.bar(k, i, t)
      }
      this.inBar = false

      // Mark at the close
      let e = this.settled
      let gross = 0
      let spotCost = 0
      for (let k = 0; k < K; k++) {
        const c = closes[k][i]
        if (c * 0 === 0) {
          this.lastPx[k] = c
          this.lastBar[k] = t
        }
        const p = this.pos[k]
        if (p !== 0) {
          const px = this.lastPx[k]
          e += p * (px - this.avg[k])
          gross += Math.abs(p) * px
          if (!this.perp[k]) spotCost += p * this.avg[k]
        }
      }
      const j = i - start
      eq[j] = e
      cash[j] = this.settled - spotCost
      expo[j] = e > 0 ? gross / e : gross > 0 ? Infinity : 0
      // Benchmark: equal weights bought at each instrument's first open of the run, no costs
      let b = benchCash
      for (let k = 0; k < K; k++) {
        if (units[k] !== units[k]) {
          const o = opens[k][i]
          if (o > 0) {
            units[k] = this.capital / K / o
            benchCash -= this.capital / K
            b -= this.capital / K
          }
        }
        if (units[k] === units[k]) b += units[k] * this.lastPx[k]
      }
      bench[j] = b
      if (check) this.checkInvariant(i, e)

      this.risk.onBar(t + step, e, missing)
      if (this.risk.state !== state) {
        state = this.risk.state
        if (state === 'halted' && this.risk.limits.flattenOnHalt !== false) this.flatten(i)
      }
      ctx.i = i
      ctx.time = t
      ctx.equity = e
      this.segTime = t + step
      this.strategy.onBar(ctx)
      if (this.atClose) this.fillAtClose(i)
      if (this.orders.length !== 0) this.compact()
    }
    this.strategy.onEnd?.(ctx)
    for (const w of this.orders) {
      if (!w.done) w.record.status = w.record.filledQty > 0 ? 'partially_filled' : 'working'
    }
    const last = n - 1
    const openPositions: OpenPosition[] = []
    for (let k = 0; k < this.K; k++) {
      const tr = this.open[k]
      const p = this.pos[k]
      if (!tr || p === 0) continue
      const unrealised = p * (this.lastPx[k] - this.avg[k])
      const pnl = tr.realised + unrealised - tr.fees - tr.funding
      openPositions.push({
        instrument: d.instruments[k].key,
        direction: p > 0 ? 'long' : 'short',
        entryTime: tr.entryTime,
        entryPrice: this.avg[k],
        markPrice: this.lastPx[k],
        qty: Math.abs(p),
        pnl,
        unrealised,
        fees: tr.fees,
        funding: tr.funding,
        bars: this.i - tr.entryIndex,
      })
    }
    return {
      strategy: this.strategy.name,
      params: ctx.params,
      instruments: d.instruments.map((s) => ({ exchange: s.exchange, symbol: s.symbol })),
      interval: d.interval,
      from: d.time[start],
      to: d.time[last] + step,
      startCapital: this.capital,
      equity: { time: eqT, equity: eq, cash, exposure: expo },
      benchmark: { time: eqT, equity: bench },
      trades: this.trades,
      openPositions,
      fills: this.fills,
      riskEvents: this.risk.events.map(sameEvent),
      fees: this.fees,
      funding: this.funding,
      slippage: this.slippage,
      turnover: this.turnover,
      bars: m,
      gaps: d.gaps,
      orders: this.records,
      warnings: d.warnings,
      settings: {
        market: d.instruments.map((s) => s.market),
        fees: this.fee,
        slippage: this.book ? 'book' : `${this.slipBps}bps`,
        fillAt: this.atClose ? 'close' : 'next_open',
        intrabar: this.intrabar ? '1m' : 'none',
        leverage: this.lev,
        maxParticipation: this.maxPart || undefined,
      },
    }
  }

  private params(): Readonly<Record<string, number>> {
    return resolveStrategyParams(this.strategy, this.cfg.params)
  }

  /** One bar of one instrument: the whole bar, or each 1m bar inside it. */
  private bar(k: number, i: number, t: number): void {
    const s = this.data.instruments[k]
    const ib = this.intrabar ? s.intrabar : undefined
    if (ib && ib.end[i] > ib.start[i]) {
      const a = ib.start[i]
      const z = ib.end[i]
      for (let j = a; j < z; j++) {
        this.segment(k, i, ib.time[j], ib.open[j], ib.high[j], ib.low[j], ib.volume[j], j + 1 < z ? ib.time[j + 1] : t + this.data.step)
      }
    } else {
      this.segment(k, i, t, s.open[i], s.high[i], s.low[i], s.volume[i], t + this.data.step)
    }
  }

  /** Steps 1–5 of the header on one range [t, tEnd) of instrument k. */
  private segment(k: number, i: number, t: number, o: number, h: number, l: number, v: number, tEnd: number): void {
    const seg = ++this.seg
    this.segTime = t
    this.segK = k
    this.volLeft = this.maxPart > 0 ? this.maxPart * v : Infinity
    // 1. Liquidation on a gap through the liquidation price
    if (this.perp[k] && this.pos[k] !== 0) {
      const lp = this.liq[k]
      if (this.pos[k] > 0 ? o <= lp : o >= lp) this.liquidate(k)
    }
    // 2. At the open: market orders, then what the open gapped through (stops first)
    const orders = this.orders
    let any = false
    for (let x = 0; x < orders.length; x++) {
      const w = orders[x]
      if (w.done || w.k !== k || w.activeFrom > i) continue
      any = true
      if ((w.type === 'market' || (w.type === 'stop' && w.triggered)) && w.seg < seg) this.fill(w, o, true)
    }
    if (any) {
      for (let pass = 0; pass < 2; pass++) {
        for (let x = 0, len = orders.length; x < len; x++) {
          const w = orders[x]
          if (w.done || w.k !== k || w.activeFrom > i || w.seg >= seg || this.isMarket(w)) continue
          if (pass === 0 && this.isStop(w)) {
            if (w.s > 0 ? o >= w.stop : o <= w.stop) this.trigger(w, o, seg)
          } else if (pass === 1 && this.isLimit(w)) {
            if (w.s > 0 ? o <= w.price : o >= w.price) this.fill(w, o, true)
          }
        }
      }
    }
    // 3. Funding inside the range
    const f = this.data.instruments[k].funding
    if (f && this.perp[k]) {
      let fi = this.fundingAt[k]
      while (fi < f.time.length && f.time[fi] < tEnd) {
        const p = this.pos[k]
        if (p !== 0) {
          const mark = f.mark[fi]
          this.charge(k, p * (mark > 0 ? mark : o) * f.rate[fi])
        }
        fi++
      }
      this.fundingAt[k] = fi
    }
    // 4. The range, stops first, until nothing more fills
    if (any) {
      for (let round = 0; round < 16; round++) {
        let filled = false
        for (let pass = 0; pass < 2; pass++) {
          for (let x = 0, len = orders.length; x < len; x++) {
            const w = orders[x]
            if (w.done || w.k !== k || w.activeFrom > i || this.isMarket(w)) continue
            const fresh = w.seg === seg
            if (pass === 0 && this.isStop(w)) {
              let trig = NaN
              if (fresh && (w.s > 0 ? w.ref >= w.stop : w.ref <= w.stop)) trig = w.ref
              else if (w.s > 0 ? h >= w.stop : l <= w.stop) trig = w.stop
              if (trig === trig && this.trigger(w, trig, seg)) filled = true
            } else if (pass === 1 && this.isLimit(w)) {
              if (fresh) {
                // Placed during this range: marketable at once, or it waits (no profit taken inside its own bar)
                if ((w.s > 0 ? w.ref <= w.price : w.ref >= w.price) && this.fill(w, w.ref, true)) filled = true
              } else {
                const touched = this.through ? (w.s > 0 ? l < w.price : h > w.price) : w.s > 0 ? l <= w.price : h >= w.price
                if (touched && this.fill(w, w.price, false)) filled = true
              }
            }
          }
        }
        if (!filled) break
      }
    }
    // 5. Liquidation inside the range
    if (this.perp[k] && this.pos[k] !== 0) {
      const lp = this.liq[k]
      if (this.pos[k] > 0 ? l <= lp : h >= lp) this.liquidate(k)
    }
  }

  /** Market orders, and stops that triggered but could not fill in full (they fill on at the next open) */
  private isMarket(w: Working): boolean {
    return w.type === 'market' || (w.type === 'stop' && w.triggered)
  }

  private isStop(w: Working): boolean {
    return (w.type === 'stop' || w.type === 'stop_limit') && !w.triggered
  }

  private isLimit(w: Working): boolean {
    return w.type === 'limit' || (w.type === 'stop_limit' && w.triggered)
  }

  /** A stop reached at `px`: a stop fills there; a stop-limit becomes a limit, filling now when `px` is within it. */
  private trigger(w: Working, px: number, seg: number): boolean {
    // A reduce-only stop with nothing to reduce does not trigger: it waits for its entry
    if (w.reduceOnly && this.pos[w.k] * w.s >= 0) return false
    w.triggered = true
    if (w.type === 'stop') return this.fill(w, px, true)
    w.seg = seg
    w.ref = px
    return (w.s > 0 ? px <= w.price : px >= w.price) && this.fill(w, px, true)
  }

  /** Fills as much of `w` as volume, cash and reduce-only allow at `ref` (taker: plus slippage). */
  private fill(w: Working, ref: number, taker: boolean): boolean {
    const k = w.k
    const s = w.s
    const pos = this.pos[k]
    let qty = w.remaining
    const sized = qty !== qty
    if (sized) qty = w.notional / ref
    if (w.reduceOnly) {
      if (pos * s >= 0) {
        // Nothing to reduce: a market order is void, a stop or limit waits (brackets may precede their entry)
        if (this.isMarket(w)) this.cancel(w.id, 'reduce-only with no position to reduce')
        return false
      }
      if (qty > Math.abs(pos)) qty = Math.abs(pos)
    }
    let px = ref
    if (taker) {
      px = this.slipped(k, s, ref, qty)
      // A limit never fills worse than its price
      if (w.type === 'limit' || w.type === 'stop_limit') px = s > 0 ? Math.min(px, w.price) : Math.max(px, w.price)
    }
    if (sized) {
      qty = w.notional / px
      if (w.reduceOnly && qty > Math.abs(pos)) qty = Math.abs(pos)
    }
    const want0 = qty
    if (qty > this.volLeft) qty = this.volLeft
    if (!(qty > 0)) return false
    const rate = taker ? this.fee[k].taker : this.fee[k].maker
    const max = this.affordable(k, s, px, rate)
    let cut = false
    if (qty > max) {
      const want = qty
      qty = max
      cut = true
      const spot = !this.perp[k]
      const why = spot ? (s < 0 ? 'spot cannot go short: sell cut to the holdings' : 'insufficient cash at the fill') : 'insufficient margin at the fill'
      if (!(qty > want * DUST)) {
        this.risk.note({ time: this.segTime, instrument: this.data.instruments[k].key, action: 'rejected', reason: why, requestedQty: want, allowedQty: 0 })
        this.cancel(w.id, why)
        return false
      }
      if (w.explicit) this.risk.note({ time: this.segTime, instrument: this.data.instruments[k].key, action: 'resized', reason: why, requestedQty: want, allowedQty: qty })
    }
    // The order's own state first, so the position closing does not cancel it and onFill sees it done
    this.volLeft -= qty
    const rec = w.record
    rec.filledQty += qty
    if (sized) {
      // The first fill fixes the quantity of a notional order
      w.remaining = w.notional / px - qty
      w.notional = NaN
    } else {
      w.remaining -= qty
    }
    if (cut || w.remaining <= DUST * (rec.filledQty + w.remaining)) {
      if (cut && w.remaining > DUST * rec.filledQty) {
        rec.cancelReason = 'rest cut: insufficient cash or margin'
      }
      w.remaining = 0
      w.done = true
      rec.status = 'filled'
    } else {
      rec.status = 'partially_filled'
    }
    // The book's walk depends on the size: price what is actually filled
    if (taker && this.book && qty !== want0) {
      px = this.slipped(k, s, ref, qty)
      if (w.type === 'limit' || w.type === 'stop_limit') px = s > 0 ? Math.min(px, w.price) : Math.max(px, w.price)
    }
    this.execute(k, s, qty, px, ref, taker ? 'taker' : 'maker', rate * qty * px, w.tag, w.id)
    return true
  }

  /** Largest quantity the account can take on at `px` (the reducing part is always allowed). */
  private affordable(k: number, s: 1 | -1, px: number, rate: number): number {
    const pos = this.pos[k]
    if (!this.perp[k]) {
      if (s < 0) return Math.max(0, pos)
      const free = this.freeCash() - this.perpMargin()
      return Math.max(0, free / (px * (1 + rate)))
    }
    const reduce = pos * s < 0 ? Math.abs(pos) : 0
    const available = this.markedEquity() - this.spotValue() - this.perpMargin()
    return reduce + Math.max(0, available / (px / this.lev + px * rate))
  }

  private perpMargin(): number {
    let m = 0
    for (let k = 0; k < this.K; k++) if (this.perp[k]) m += this.margin[k]
    return m
  }

  private spotValue(): number {
    let v = 0
    for (let k = 0; k < this.K; k++) if (!this.perp[k] && this.pos[k] !== 0) v += this.pos[k] * this.lastPx[k]
    return v
  }

  /** Price after slippage against a taker of `qty`: fixed bps, or the book's walk relative to its mid. */
  private slipped(k: number, s: 1 | -1, ref: number, qty: number): number {
    if (this.book) {
      const b = this.data.instruments[k].book
      if (b && b.time.length) {
        // Newest snapshot known at the fill time
        let lo = 0
        let hi = b.time.length - 1
        const t = this.segTime
        if (b.time[0] <= t) {
          while (lo < hi) {
            const mid = (lo + hi + 1) >> 1
            if (b.time[mid] <= t) lo = mid
            else hi = mid - 1
          }
          if (t - b.time[lo] <= this.bookMaxAgeUs) {
            const a = b.offset[lo]
            const z = b.offset[lo + 1]
            const mid = (b.bidPrice[a] + b.askPrice[a]) / 2
            const prices = s > 0 ? b.askPrice : b.bidPrice
            const amounts = s > 0 ? b.askAmount : b.bidAmount
            let left = qty
            let cost = 0
            let lastPx = prices[a]
            for (let x = a; x < z && left > 0; x++) {
              const take = Math.min(left, amounts[x])
              cost += take * prices[x]
              left -= take
              lastPx = prices[x]
            }
            // Beyond the snapshot's depth the rest is priced at its last level (an underestimate)
            cost += left * lastPx
            if (mid > 0 && qty > 0) return ref * (cost / qty / mid)
          }
        }
      }
    }
    return this.slipBps === 0 ? ref : ref * (1 + (s * this.slipBps) / 10_000)
  }

  /** Books a fill: position, average entry, cash, margin, trade list, the gate and the strategy. */
  private execute(k: number, s: 1 | -1, qty: number, px: number, ref: number, liquidity: 'maker' | 'taker', fee: number, tag: string | undefined, orderId: number): void {
    const pos0 = this.pos[k]
    const a0 = this.avg[k]
    const closeQ = pos0 * s < 0 ? Math.min(qty, Math.abs(pos0)) : 0
    const openQ = qty - closeQ
    const realised = closeQ > 0 ? closeQ * (px - a0) * (pos0 > 0 ? 1 : -1) : 0
    let pos1 = pos0 + s * qty
    // Float dust from partial fills must not leave a phantom position
    if (Math.abs(pos1) <= DUST * Math.max(Math.abs(pos0), qty)) pos1 = 0
    let a1 = a0
    if (pos1 === 0) a1 = 0
    else if (pos0 === 0 || (closeQ > 0 && openQ > 0 && pos1 * pos0 < 0)) a1 = px
    else if (pos0 * s > 0) a1 = a0 + (px - a0) * (qty / (Math.abs(pos0) + qty))
    this.pos[k] = pos1
    this.avg[k] = a1
    this.settled += realised - fee
    this.fees += fee
    const slip = Math.abs(px - ref) * qty
    this.slippage += slip
    this.turnover += qty * px
    this.flow[k] -= s * qty * px
    this.posLedger[k] += s * qty
    if (this.perp[k]) {
      this.margin[k] = (Math.abs(pos1) * a1) / this.lev
      this.liq[k] = liquidationPrice(pos1, a1, this.margin[k], this.brackets)
    }
    const time = this.segTime
    const key = this.data.instruments[k].key
    const fill: Fill = { time, instrument: key, orderId, side: s > 0 ? 'buy' : 'sell', qty, price: px, fee, liquidity, slippage: slip, tag }

    // Round trips: flat to flat (a flip closes one and opens the next)
    let closed: ClosedTrade | undefined
    let tr = this.open[k]
    if (closeQ > 0 && tr) {
      const share = closeQ / qty
      tr.qtyOut += closeQ
      tr.proceedsOut += closeQ * px
      tr.realised += realised
      tr.fees += fee * share
      if (pos1 === 0 || pos1 * pos0 < 0) {
        const pnl = tr.realised - tr.fees - tr.funding
        closed = {
          instrument: key,
          direction: tr.dir > 0 ? 'long' : 'short',
          entryTime: tr.entryTime,
          exitTime: time,
          entryPrice: tr.costIn / tr.qtyIn,
          exitPrice: tr.proceedsOut / tr.qtyOut,
          qty: tr.qtyIn,
          pnl,
          fees: tr.fees,
          funding: tr.funding,
          returnPct: pnl / tr.costIn,
          bars: this.i - tr.entryIndex,
        }
        this.trades.push(closed)
        this.open[k] = tr = undefined
      }
    }
    if (openQ > 0 && pos1 !== 0) {
      const share = openQ / qty
      if (!tr) {
        tr = { dir: s, entryTime: time, entryIndex: this.i, qtyIn: 0, costIn: 0, qtyOut: 0, proceedsOut: 0, realised: 0, fees: 0, funding: 0 }
        this.open[k] = tr
      }
      tr.qtyIn += openQ
      tr.costIn += openQ * px
      tr.fees += fee * share
    }
    this.fills.push(fill)
    this.risk.onFill({
      time,
      instrument: key,
      side: fill.side,
      qty,
      price: px,
      closed: closed ? { pnl: closed.pnl, returnPct: closed.returnPct } : undefined,
    })
    if (pos1 === 0) {
      // Reduce-only orders die with the position, as on the venues
      for (const w of this.orders) if (!w.done && w.k === k && w.reduceOnly) this.cancel(w.id, 'position closed')
    }
    this.strategy.onFill?.(this.ctx, fill)
  }

  /** Funding payment of instrument k (positive: paid by us). */
  private charge(k: number, amount: number): void {
    this.settled -= amount
    this.funding += amount
    const tr = this.open[k]
    if (tr) tr.funding += amount
  }

  /** Closes a perpetual at its liquidation price, forfeiting the isolated margin. */
  private liquidate(k: number): void {
    const pos = this.pos[k]
    const px = this.liq[k]
    const realised = pos * (px - this.avg[k])
    const clearance = Math.max(0, this.margin[k] + realised)
    for (const w of this.orders) if (!w.done && w.k === k) this.cancel(w.id, 'liquidated')
    this.execute(k, pos > 0 ? -1 : 1, Math.abs(pos), px, px, 'taker', clearance, 'liquidation', 0)
  }

  /** Takes an order from the strategy (or the flattener) through the gate; returns its id or -1. */
  submit(req: OrderRequest, internal = false): number {
    const k = this.keyIndex.get(req.instrument)
    if (k === undefined) throw new UsageError(`Order for '${req.instrument}', which is not in the run (${[...this.keyIndex.keys()].join(', ')})`)
    const type = req.type
    const price = req.price ?? NaN
    const stop = req.stopPrice ?? NaN
    if ((type === 'limit' || type === 'stop_limit') && !(price > 0)) throw new UsageError(`A ${type} order needs a positive price, was ${req.price}`)
    if ((type === 'stop' || type === 'stop_limit') && !(stop > 0)) throw new UsageError(`A ${type} order needs a positive stopPrice, was ${req.stopPrice}`)
    if (!['market', 'limit', 'stop', 'stop_limit'].includes(type)) throw new UsageError(`Unknown order type '${type}'. Expected market, limit, stop or stop_limit`)
    const s: 1 | -1 = req.side === 'buy' ? 1 : -1
    const midBar = this.inBar
    const refPx = midBar && this.segK === k ? this.fills.at(-1)?.price ?? this.lastPx[k] : this.lastPx[k]
    let qty = req.qty ?? NaN
    let notional = NaN
    let sized = false
    if (!internal) {
      const positions: Record<string, { qty: number; price: number }> = {}
      for (let j = 0; j < this.K; j++) if (this.pos[j] !== 0) positions[this.data.instruments[j].key] = { qty: this.pos[j], price: this.lastPx[j] }
      const account: RiskAccount = { equity: this.markedEquity(), leverage: this.perp[k] ? this.lev : 1, positions }
      const idx = this.ctx.i
      const market: RiskMarket = {
        time: this.segTime,
        price: refPx,
        dataTime: this.lastBar[k] + this.data.step,
        atr: idx >= 0 ? this.atr[k]?.[idx] : undefined,
        realizedVol: idx >= 0 ? this.rvol[k]?.[idx] : undefined,
        barsPerYear: this.barsPerYear,
      }
      const d = this.risk.check(
        { instrument: req.instrument, side: req.side, qty: req.qty, notional: req.notional, price: type === 'market' ? undefined : type === 'stop' ? stop : price, reduceOnly: req.reduceOnly },
        account,
        market,
      )
      if (d.action === 'reject') return -1
      sized = d.sized
      if (sized) notional = d.qty * refPx
      else qty = d.qty
    }
    const id = this.nextId++
    const record: Working['record'] = {
      id,
      time: this.segTime,
      instrument: req.instrument,
      side: req.side,
      type,
      qty: sized ? NaN : qty,
      notional: sized ? notional : undefined,
      price: req.price,
      stopPrice: req.stopPrice,
      reduceOnly: req.reduceOnly === true,
      tag: req.tag,
      status: 'working',
      filledQty: 0,
    }
    const w: Working = {
      id,
      k,
      s,
      type,
      remaining: sized ? NaN : qty,
      notional,
      price,
      stop,
      reduceOnly: req.reduceOnly === true,
      tag: req.tag,
      explicit: !sized,
      // During a bar: this instrument's orders may act in it (from the current range on); others from the next bar
      activeFrom: midBar ? (this.segK === k ? this.i : this.i + 1) : this.i + 1,
      seg: this.seg,
      ref: refPx,
      triggered: false,
      done: false,
      record,
      internal,
    }
    this.orders.push(w)
    this.records.push(record)
    return id
  }

  cancel(id: number, reason: string): boolean {
    for (const w of this.orders) {
      if (w.id === id && !w.done) {
        w.done = true
        w.record.status = w.record.filledQty > 0 ? 'partially_filled' : 'cancelled'
        w.record.cancelReason = reason
        return true
      }
    }
    return false
  }

  private compact(): void {
    const o = this.orders
    let live = 0
    for (let x = 0; x < o.length; x++) if (!o[x].done) live++
    if (live === o.length) return
    let m = 0
    for (let x = 0; x < this.orders.length; x++) if (!this.orders[x].done) this.orders[m++] = this.orders[x]
    this.orders.length = m
  }

  /** With fillAt close: market orders placed at this bar's close fill at it. */
  private fillAtClose(i: number): void {
    const d = this.data
    for (let round = 0; round < 16; round++) {
      let filled = false
      for (let x = 0, len = this.orders.length; x < len; x++) {
        const w = this.orders[x]
        if (w.done || w.type !== 'market' || w.activeFrom !== i + 1) continue
        const c = d.instruments[w.k].close[i]
        if (c * 0 !== 0) continue
        this.segK = w.k
        this.volLeft = this.maxPart > 0 ? this.maxPart * d.instruments[w.k].volume[i] : Infinity
        this.inBar = true
        if (this.fill(w, c, true)) filled = true
        this.inBar = false
      }
      if (!filled) break
    }
  }

  /** On entering `halted`: cancel every working order and close every position at the next open. */
  private flatten(i: number): void {
    for (const w of this.orders) if (!w.done) this.cancel(w.id, 'halted by the risk gate')
    for (let k = 0; k < this.K; k++) {
      const p = this.pos[k]
      if (p === 0) continue
      this.submit({ instrument: this.data.instruments[k].key, side: p > 0 ? 'sell' : 'buy', type: 'market', qty: Math.abs(p), reduceOnly: true, tag: 'halt' }, true)
    }
    void i
  }

  /** Equity against the independent ledger, and positions against their fills. */
  private checkInvariant(i: number, equity: number): void {
    let ledger = this.capital - this.fees - this.funding
    let scale = Math.abs(this.capital)
    for (let k = 0; k < this.K; k++) {
      const p = this.pos[k]
      if (Math.abs(p - this.posLedger[k]) > 1e-9 * Math.max(1, Math.abs(p))) {
        throw new FatalError(`invariant broken at ${isoUs(this.data.time[i])}: ${this.data.instruments[k].key} position ${p} but its fills sum to ${this.posLedger[k]}`)
      }
      const mark = p !== 0 ? p * this.lastPx[k] : 0
      ledger += mark + this.flow[k]
      scale = Math.max(scale, Math.abs(mark), Math.abs(this.flow[k]))
    }
    if (Math.abs(equity - ledger) > 1e-9 * Math.max(scale, Math.abs(equity))) {
      throw new FatalError(`invariant broken at ${isoUs(this.data.time[i])}: equity ${equity} but cash + marked positions by the ledger is ${ledger}`)
    }
  }
}

/**
 * Runs a strategy over preloaded market data (no I/O; call it as often as needed on the same data). Throws a
 * UsageError for invalid settings or parameters.
 */
export function simulate(data: MarketData, strategy: Strategy, config: SimConfig = {}): BacktestResult {
  return new Sim(data, strategy, config).run()
}

/** One line describing a gap, e.g. for --strict. */
export function describeGap(g: BacktestResult['gaps'][number]): string {
  return `${g.instrument}: ${g.missing} bar${g.missing === 1 ? '' : 's'} missing from ${isoUs(g.from)} to ${isoUs(g.to)}`
}

/** Loads the data a config names from the lake and runs it. */
export async function runBacktest(config: BacktestConfig): Promise<BacktestResult> {
  const strategy = typeof config.strategy === 'string' ? await loadStrategy(config.strategy) : config.strategy
  const params = resolveStrategyParams(strategy, config.params)
  const warmupBars = config.from !== undefined ? Math.max(0, Math.ceil(strategy.warmup?.(params, config.interval) ?? 0)) : 0
  const data = await loadMarketData(config.lakeDir, config.instruments, config.interval, config.from, config.to, {
    market: config.market,
    warmupBars,
    intrabar: config.intrabar === '1m',
    book: config.slippage?.kind === 'book',
  })
  config.onData?.(data)
  if (config.strict && data.gaps.length) {
    const more = data.gaps.length > 1 ? ` (and ${data.gaps.length - 1} more)` : ''
    throw new FatalError(`Refusing to run over a gap (--strict): ${describeGap(data.gaps[0])}${more}`)
  }
  return simulate(data, strategy, { ...config, params })
}
