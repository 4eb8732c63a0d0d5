// Normalised records to the lake's staged float64 columns. The lake stages numbers only, so a value the source
// does not carry (`undefined`, e.g. an old funding record's mark price) is staged as NaN

import { ColumnBatch } from '../archive/batch.js'
import { SCHEMAS } from '../lake/schema.js'
import type { StageBatch } from '../lake/writer.js'
import type { AggTrade, Bar, Funding, OpenInterest, Side, Trade } from '../types.js'
import type { HistoryKind, HistoryRecord } from './types.js'

const sideNum = (s: Side) => (s === 'buy' ? 1 : s === 'sell' ? -1 : 0)
const num = (x: number | undefined) => (x === undefined ? NaN : x)

/** Collects records of one kind as staged columns. */
export class RecordBatch {
  private readonly batch: ColumnBatch
  private line = 0

  constructor(readonly kind: HistoryKind) {
    this.batch = new ColumnBatch(SCHEMAS[kind].staged, 8192)
  }

  get rows(): number {
    return this.batch.rows
  }

  push(records: readonly HistoryRecord[]): void {
    const b = this.batch
    for (const r of records) {
      const i = b.next()
      // Line numbers only order rows of one source; the running count keeps them unique across pages
      b.line[i] = ++this.line
      const c = b.cols
      switch (r.type) {
        case 'bar': {
          const x = r as Bar
          c.open_time[i] = x.timestamp
          c.close_time[i] = x.closeTime
          c.open[i] = x.open
          c.high[i] = x.high
          c.low[i] = x.low
          c.close[i] = x.close
          c.volume[i] = x.volume
          c.quote_volume[i] = num(x.quoteVolume)
          c.trades[i] = num(x.trades)
          c.taker_buy_volume[i] = num(x.takerBuyVolume)
          c.taker_buy_quote_volume[i] = num(x.takerBuyQuoteVolume)
          c.local_timestamp[i] = x.localTimestamp
          break
        }
        case 'trade': {
          const x = r as Trade
          c.id[i] = x.id
          c.timestamp[i] = x.timestamp
          c.local_timestamp[i] = x.localTimestamp
          c.price[i] = x.price
          c.amount[i] = x.amount
          c.side[i] = sideNum(x.side)
          break
        }
        case 'agg_trade': {
          const x = r as AggTrade
          c.id[i] = x.id
          c.first_trade_id[i] = x.firstTradeId
          c.last_trade_id[i] = x.lastTradeId
          c.timestamp[i] = x.timestamp
          c.local_timestamp[i] = x.localTimestamp
          c.price[i] = x.price
          c.amount[i] = x.amount
          c.side[i] = sideNum(x.side)
          break
        }
        case 'funding': {
          const x = r as Funding
          c.timestamp[i] = x.timestamp
          c.local_timestamp[i] = x.localTimestamp
          c.funding_rate[i] = x.fundingRate
          c.funding_time[i] = num(x.fundingTime)
          c.mark_price[i] = num(x.markPrice)
          c.index_price[i] = num(x.indexPrice)
          break
        }
        case 'open_interest': {
          const x = r as OpenInterest
          c.timestamp[i] = x.timestamp
          c.local_timestamp[i] = x.localTimestamp
          c.open_interest[i] = x.openInterest
          c.open_interest_value[i] = num(x.openInterestValue)
          break
        }
      }
    }
  }

  /** Hands the rows over for staging and starts empty. */
  take(source: number): StageBatch {
    return this.batch.take(source)
  }
}
