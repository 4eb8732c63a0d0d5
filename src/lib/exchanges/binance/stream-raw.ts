// Binance WebSocket wire types (spot `stream.binance.com`, USD-M `fstream.binance.com`) plus the two REST bodies the
// stream needs: the depth snapshot that seeds the local book and the historical trades that fill a trade-id gap.
// Decimals are strings; times are integer ms unless the connection asked for µs (`timeUnit=MICROSECOND`)

/** A price level as sent: `[price, quantity]`; quantity `"0"` deletes the level. */
export type BinanceLevel = readonly [price: string, quantity: string]

/** Combined-stream envelope (`/stream?streams=a/b`). */
export interface BinanceCombinedMsg<T = unknown> {
  /** Stream name, lowercase symbol first, e.g. `btcusdt@depth@100ms` */
  readonly stream: string
  readonly data: T
}

/** `<s>@trade`. Futures adds `X` (MARKET, LIQUIDATION, INSURANCE_FUND, ADL, NA) and omits `M`. */
export interface BinanceTradeMsg {
  readonly e: 'trade'
  readonly E: number
  readonly s: string
  readonly t: number
  readonly p: string
  readonly q: string
  /** Trade time */
  readonly T: number
  /** Buyer was the maker: the seller took liquidity */
  readonly m: boolean
  readonly M?: boolean
  readonly X?: string
}

/** `<s>@aggTrade`: the fills of one taker order at one price. */
export interface BinanceAggTradeMsg {
  readonly e: 'aggTrade'
  readonly E: number
  readonly s: string
  readonly a: number
  readonly p: string
  readonly q: string
  readonly f: number
  readonly l: number
  readonly T: number
  readonly m: boolean
  readonly M?: boolean
}

/** `<s>@depth[@100ms]` diff. Futures adds `T` (transaction time) and `pu` (previous event's `u`). */
export interface BinanceDepthMsg {
  readonly e: 'depthUpdate'
  readonly E: number
  readonly T?: number
  readonly s: string
  /** First and final update id in the event */
  readonly U: number
  readonly u: number
  readonly pu?: number
  readonly b: readonly BinanceLevel[]
  readonly a: readonly BinanceLevel[]
}

/** `<s>@bookTicker`. Spot sends neither `e` nor `E`/`T`; futures sends all three. */
export interface BinanceBookTickerMsg {
  readonly e?: 'bookTicker'
  readonly E?: number
  readonly T?: number
  /** Order book update id the quote reflects */
  readonly u: number
  readonly s: string
  readonly b: string
  readonly B: string
  readonly a: string
  readonly A: string
}

/** USD-M `<s>@markPrice[@1s]`; delivery contracts send `r: ""` and `T: 0`. */
export interface BinanceMarkPriceMsg {
  readonly e: 'markPriceUpdate'
  readonly E: number
  readonly s: string
  /** Mark price */
  readonly p: string
  /** Index price */
  readonly i: string
  /** Estimated settle price */
  readonly P: string
  /** Funding rate */
  readonly r: string
  /** Next funding time */
  readonly T: number
}

/** USD-M `<s>@forceOrder` / `!forceOrder@arr`: the latest liquidation order per symbol per second. */
export interface BinanceForceOrderMsg {
  readonly e: 'forceOrder'
  readonly E: number
  readonly o: {
    readonly s: string
    /** Order side, `BUY` or `SELL` */
    readonly S: string
    readonly o: string
    readonly f: string
    /** Original quantity */
    readonly q: string
    /** Order price */
    readonly p: string
    /** Average fill price */
    readonly ap: string
    readonly X: string
    /** Last filled quantity */
    readonly l: string
    /** Accumulated filled quantity */
    readonly z: string
    readonly T: number
  }
}

/** `<s>@kline_<i>`; `k.x` is true on the last push of a bar. */
export interface BinanceKlineMsg {
  readonly e: 'kline'
  readonly E: number
  readonly s: string
  readonly k: {
    /** Open and close time */
    readonly t: number
    readonly T: number
    readonly s: string
    readonly i: string
    readonly f: number
    readonly L: number
    readonly o: string
    readonly c: string
    readonly h: string
    readonly l: string
    /** Base volume */
    readonly v: string
    readonly n: number
    readonly x: boolean
    /** Quote volume */
    readonly q: string
    /** Taker-buy base and quote volume */
    readonly V: string
    readonly Q: string
    readonly B: string
  }
}

/** `{"e":"serverShutdown"}`: the server will close this connection soon. */
export interface BinanceServerShutdownMsg {
  readonly e: 'serverShutdown'
  readonly E: number
}

/** Answer to a `SUBSCRIBE`/`UNSUBSCRIBE`/`LIST_SUBSCRIPTIONS` request; `result: null` means success. */
export interface BinanceWsResult {
  readonly result: unknown
  readonly id: number | string | null
}

/** Error answer, either `{"error":{"code":..,"msg":..},"id":..}` or a bare `{"code":..,"msg":..}`. */
export interface BinanceWsError {
  readonly error?: { readonly code: number; readonly msg: string } | string
  readonly code?: number
  readonly msg?: string
  readonly id?: number | string | null
}

/** `GET /api/v3/depth` and `GET /fapi/v1/depth`; futures adds `E` and `T`. */
export interface BinanceDepthSnapshot {
  readonly lastUpdateId: number
  readonly E?: number
  readonly T?: number
  readonly bids: readonly BinanceLevel[]
  readonly asks: readonly BinanceLevel[]
}

/** One row of `GET /api/v3/historicalTrades` (`/fapi/v1/historicalTrades` omits `isBestMatch`). */
export interface BinanceHistoricalTrade {
  readonly id: number
  readonly price: string
  readonly qty: string
  readonly quoteQty: string
  readonly time: number
  readonly isBuyerMaker: boolean
  readonly isBestMatch?: boolean
}
