// Coinbase wire types for both public WebSocket APIs, as sent: decimals are strings, times are ISO-8601 UTC
// strings with up to µs (Exchange) or ns (Advanced Trade) digits.
// - Exchange feed (formerly Pro), `wss://ws-feed.exchange.coinbase.com`: messages tagged by `type`.
// - Advanced Trade, `wss://advanced-trade-ws.coinbase.com`: an envelope tagged by `channel` with `events[]`.

/** `[price, size]` as in a `level2` snapshot (older REST-style snapshots append an order count). */
export type CoinbaseLevel = readonly [price: string, size: string, ...rest: unknown[]]

// ---- Exchange feed ----

/** First `level2`/`level2_batch` message per product: the whole book. */
export interface CoinbaseSnapshotMsg {
  readonly type: 'snapshot'
  readonly product_id: string
  readonly bids: readonly CoinbaseLevel[]
  readonly asks: readonly CoinbaseLevel[]
  /** Sent by the current feed, absent in older captures */
  readonly time?: string
}

/** `level2` change: `[side, price, new size]`, `side` is `buy` (bid) or `sell` (ask); size `"0"` removes. */
export interface CoinbaseL2UpdateMsg {
  readonly type: 'l2update'
  readonly product_id: string
  readonly time: string
  readonly changes: readonly (readonly [side: string, price: string, size: string])[]
}

/** `matches` channel; `last_match` is the most recent trade, sent once on subscribing. `side` is the MAKER's. */
export interface CoinbaseMatchMsg {
  readonly type: 'match' | 'last_match'
  readonly trade_id: number
  readonly maker_order_id: string
  readonly taker_order_id: string
  readonly side: 'buy' | 'sell'
  readonly size: string
  readonly price: string
  readonly product_id: string
  /** Per-product sequence */
  readonly sequence: number
  readonly time: string
}

/** `ticker` channel: pushed after each match. `side` here is the TAKER's; the sizes are absent in older feeds. */
export interface CoinbaseTickerMsg {
  readonly type: 'ticker'
  readonly sequence: number
  readonly product_id: string
  readonly price: string
  readonly best_bid?: string
  readonly best_ask?: string
  readonly best_bid_size?: string
  readonly best_ask_size?: string
  readonly side?: 'buy' | 'sell'
  readonly time?: string
  readonly trade_id?: number
  readonly last_size?: string
}

/** `heartbeat` channel, 1/s per product. */
export interface CoinbaseHeartbeatMsg {
  readonly type: 'heartbeat'
  readonly sequence: number
  readonly last_trade_id: number
  readonly product_id: string
  readonly time: string
}

/** Answer to `subscribe`/`unsubscribe`: the whole current subscription set. */
export interface CoinbaseSubscriptionsMsg {
  readonly type: 'subscriptions'
  readonly channels: readonly ({ readonly name: string; readonly product_ids: readonly string[] } | string)[]
}

/** `{"type":"error","message":"Authentication Failed","reason":"..."}`; Advanced Trade uses the same shape. */
export interface CoinbaseErrorMsg {
  readonly type: 'error'
  readonly message: string
  readonly reason?: string
}

// ---- Advanced Trade ----

/** Every Advanced Trade frame; `sequence_num` numbers the frames of one connection. */
export interface CoinbaseAdvancedEnvelope<E = unknown> {
  readonly channel: string
  readonly client_id?: string
  /** Publish time, ISO with ns digits */
  readonly timestamp: string
  readonly sequence_num: number
  readonly events: readonly E[]
}

/** One level change; `side` is `bid` or `offer`; snapshot levels carry `event_time` 1970-01-01T00:00:00Z. */
export interface CoinbaseAdvancedL2Update {
  readonly side: 'bid' | 'offer'
  readonly event_time: string
  readonly price_level: string
  readonly new_quantity: string
}

/** `channel: "l2_data"` event. */
export interface CoinbaseAdvancedL2Event {
  readonly type: 'snapshot' | 'update'
  readonly product_id: string
  readonly updates: readonly CoinbaseAdvancedL2Update[]
}

/** One public trade; `side` is the taker's (`BUY`/`SELL`); `trade_id` is a string. */
export interface CoinbaseAdvancedTrade {
  readonly trade_id: string
  readonly product_id: string
  readonly price: string
  readonly size: string
  readonly side: 'BUY' | 'SELL'
  readonly time: string
}

/** `channel: "market_trades"` event; the snapshot event repeats recent trades on subscribing. */
export interface CoinbaseAdvancedTradesEvent {
  readonly type: 'snapshot' | 'update'
  readonly trades: readonly CoinbaseAdvancedTrade[]
}

/** `channel: "heartbeats"` event. */
export interface CoinbaseAdvancedHeartbeatEvent {
  readonly current_time: string
  readonly heartbeat_counter: string | number
}

/** `channel: "subscriptions"` event: channel name to product ids. */
export interface CoinbaseAdvancedSubscriptionsEvent {
  readonly subscriptions: Readonly<Record<string, readonly string[]>>
}
