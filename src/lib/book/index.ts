// The local order book and the venue synchronisers that keep it in step with the exchange

export { OrderBook, type BookSide } from './book.js'
export { createBookSync, DEFAULT_MAX_BUFFER, type BookSyncOptions } from './sync.js'
export type { BookSync, SyncState, SyncStep } from './types.js'
