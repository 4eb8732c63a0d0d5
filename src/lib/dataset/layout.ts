// The wide row layout of a converted order-book dataset: one row per sample, top-N levels per side as columns

/** Column types as written to Parquet (and listed in manifest.json). */
export type LobColumnType = 'BIGINT' | 'DOUBLE'

export interface LobColumn {
  readonly name: string
  readonly type: LobColumnType
}

/** Where each field sits in a row; rows travel between threads as column-major Float64 blocks in this order. */
export interface LobLayout {
  readonly levels: number
  readonly withTrades: boolean
  /** Output columns, `ts` first */
  readonly columns: readonly LobColumn[]
  readonly bidPx: number
  readonly bidSz: number
  readonly askPx: number
  readonly askSz: number
  readonly mid: number
  readonly spread: number
  /** -1 without `--with-trades` */
  readonly buyVolume: number
  readonly sellVolume: number
  readonly tradeCount: number
}

export const MAX_LEVELS = 1000

/** Lays out `ts`, `bid_px_0..N-1`, `bid_sz_0..`, `ask_px_0..`, `ask_sz_0..`, `mid`, `spread` (and the trade columns). */
export function lobLayout(levels: number, withTrades: boolean): LobLayout {
  const n = levels
  const columns: LobColumn[] = [{ name: 'ts', type: 'BIGINT' }]
  for (const p of ['bid_px', 'bid_sz', 'ask_px', 'ask_sz']) for (let i = 0; i < n; i++) columns.push({ name: `${p}_${i}`, type: 'DOUBLE' })
  columns.push({ name: 'mid', type: 'DOUBLE' }, { name: 'spread', type: 'DOUBLE' })
  if (withTrades) {
    columns.push({ name: 'buy_volume', type: 'DOUBLE' }, { name: 'sell_volume', type: 'DOUBLE' }, { name: 'trade_count', type: 'BIGINT' })
  }
  return {
    levels: n,
    withTrades,
    columns,
    bidPx: 1,
    bidSz: 1 + n,
    askPx: 1 + 2 * n,
    askSz: 1 + 3 * n,
    mid: 1 + 4 * n,
    spread: 2 + 4 * n,
    buyVolume: withTrades ? 3 + 4 * n : -1,
    sellVolume: withTrades ? 4 + 4 * n : -1,
    tradeCount: withTrades ? 5 + 4 * n : -1,
  }
}
