// Validation of stored history: bars rebuilt from trades must match the stored bars, and suspicious bars
// (outlier returns, runs of zero volume) are flagged, never changed

import type { Interval } from '../consts.js'
import { UsageError } from '../errors.js'
import type { Instrument } from '../instrument.js'
import { intervalUs } from '../time.js'
import { LakeReader, listDatasets } from './reader.js'
import { sqlString } from './schema.js'

export interface BarMismatch {
  readonly openTime: number
  /** Fields that differ, with the stored and the rebuilt value */
  readonly fields: Readonly<Record<string, { stored: number; rebuilt: number }>>
}

export interface OutlierBar {
  readonly openTime: number
  readonly logReturn: number
  /** Robust z-score: |return| over 1.4826 x the median absolute return of the window before it */
  readonly z: number
}

export interface ZeroVolumeRun {
  readonly from: number
  readonly to: number
  readonly bars: number
}

export interface ValidationReport {
  readonly instrument: Instrument
  readonly interval: Interval
  readonly bars: number
  /** Source of the rebuilt bars (`trades` or `agg_trades`), if the lake holds any for the instrument */
  readonly tradeSource: 'trades' | 'agg_trades' | undefined
  /** Bars whose whole interval is covered by contiguous trade ids, and were compared */
  readonly compared: number
  readonly mismatches: readonly BarMismatch[]
  readonly outliers: readonly OutlierBar[]
  readonly zeroVolumeRuns: readonly ZeroVolumeRun[]
}

export interface ValidateOptions {
  readonly lakeDir: string
  readonly instrument: Instrument
  readonly interval: Interval
  readonly from?: number | undefined
  readonly to?: number | undefined
  /** Robust z-score above which a bar's return is an outlier */
  readonly outlierZ?: number
  /** Bars of history the outlier test looks back over */
  readonly outlierWindow?: number
  /** Shortest run of zero-volume bars reported */
  readonly zeroRun?: number
}

const FIELDS = ['open', 'high', 'low', 'close', 'volume', 'trades', 'taker_buy_volume'] as const
/** Summing float64 amounts differs from the exchange's decimal sums in the last bits */
const REL_TOL = 1e-9

/** Checks one instrument's bars against its trades and for suspicious values. */
export async function validateBars(o: ValidateOptions): Promise<ValidationReport> {
  const step = intervalUs(o.interval)
  if (step === undefined) throw new UsageError('Invalid --interval: calendar-month bars cannot be rebuilt from trades')
  const held = listDatasets(o.lakeDir).filter((d) => d.ds.exchange === o.instrument.exchange && d.ds.symbol === o.instrument.symbol)
  if (!held.some((d) => d.ds.kind === 'bars' && d.ds.interval === o.interval)) {
    const intervals = held.filter((d) => d.ds.kind === 'bars').map((d) => d.ds.interval)
    const has = intervals.length > 0 ? `; it holds ${intervals.join(', ')} bars (stored bars are checked, not resampled)` : ''
    throw new UsageError(`No ${o.interval} bars for ${o.instrument.exchange}:${o.instrument.symbol} in the lake at ${o.lakeDir}${has}`)
  }
  const tradeSource = held.some((d) => d.ds.kind === 'trades') ? 'trades' : held.some((d) => d.ds.kind === 'agg_trades') ? 'agg_trades' : undefined
  // Conditions on the bars view, optionally qualified with a table alias
  const barsCond = (a = '') =>
    [
      `${a}exchange = ${sqlString(o.instrument.exchange)}`,
      `${a}symbol = ${sqlString(o.instrument.symbol)}`,
      `${a}interval = ${sqlString(o.interval)}`,
      ...(o.from !== undefined ? [`${a}open_time >= ${o.from}`] : []),
      ...(o.to !== undefined ? [`${a}open_time < ${o.to}`] : []),
    ].join(' AND ')
  const barsWhere = barsCond()
  const reader = await LakeReader.open(o.lakeDir)
  try {
    const count = Number((await reader.query(`SELECT count(*) FROM bars WHERE ${barsWhere}`)).rows[0][0])
    let compared = 0
    const mismatches: BarMismatch[] = []
    if (tradeSource) {
      // Trade ids: aggTrades carry the range of trade ids they aggregate, trades their own id
      const first = tradeSource === 'trades' ? 'id' : 'first_trade_id'
      const last = tradeSource === 'trades' ? 'id' : 'last_trade_id'
      const count1 = tradeSource === 'trades' ? 'count(*)' : `sum(last_trade_id - first_trade_id + 1)`
      const rebuilt = await reader.query(`
        WITH t AS (
          SELECT * FROM ${tradeSource} WHERE exchange = ${sqlString(o.instrument.exchange)} AND symbol = ${sqlString(o.instrument.symbol)}
        ), r AS (
          SELECT (timestamp // ${step}) * ${step} AS open_time,
                 arg_min(price, id) AS open, max(price) AS high, min(price) AS low, arg_max(price, id) AS close,
                 sum(amount) AS volume, ${count1} AS trades,
                 coalesce(sum(amount) FILTER (WHERE side = 'buy'), 0) AS taker_buy_volume,
                 min(${first}) AS min_id, max(${last}) AS max_id
          FROM t GROUP BY 1
        ), c AS (
          -- A bucket counts only if its ids are contiguous, continue the previous bucket's and lead into the next
          SELECT *, lag(max_id) OVER w AS prev_max, lead(min_id) OVER w AS next_min FROM r WINDOW w AS (ORDER BY open_time)
        )
        SELECT c.open_time, ${FIELDS.map((f) => `b.${f}, c.${f}`).join(', ')}
        FROM c JOIN bars b ON b.open_time = c.open_time
        WHERE ${barsCond('b.')}
          AND c.prev_max = c.min_id - 1 AND c.next_min = c.max_id + 1 AND c.max_id - c.min_id + 1 = c.trades
        ORDER BY c.open_time`)
      for (const row of rebuilt.rows) {
        compared++
        const fields: Record<string, { stored: number; rebuilt: number }> = {}
        FIELDS.forEach((f, k) => {
          const stored = Number(row[1 + 2 * k])
          const again = Number(row[2 + 2 * k])
          if (Math.abs(stored - again) > REL_TOL * Math.max(1, Math.abs(stored))) fields[f] = { stored, rebuilt: again }
        })
        if (Object.keys(fields).length) mismatches.push({ openTime: Number(row[0]), fields })
      }
    }
    const window = o.outlierWindow ?? 1440
    const z = o.outlierZ ?? 25
    const out = await reader.query(`
      WITH b AS (
        -- Returns between adjacent bars only: a move across a hole in the data (data gaps lists those) is no outlier
        SELECT open_time,
               CASE WHEN lag(open_time) OVER w = open_time - ${step} THEN ln(close / lag(close) OVER w) END AS r
        FROM bars WHERE ${barsWhere} WINDOW w AS (ORDER BY open_time)
      ), m AS (
        SELECT open_time, r, median(abs(r)) OVER (ORDER BY open_time ROWS BETWEEN ${window} PRECEDING AND 1 PRECEDING) AS mad,
               count(r) OVER (ORDER BY open_time ROWS BETWEEN ${window} PRECEDING AND 1 PRECEDING) AS n
        FROM b
      )
      SELECT open_time, r, abs(r) / (1.4826 * mad) AS z FROM m
      WHERE n >= ${Math.min(window, 60)} AND mad > 0 AND abs(r) / (1.4826 * mad) > ${z} ORDER BY open_time`)
    const outliers = out.rows.map((r) => ({ openTime: Number(r[0]), logReturn: Number(r[1]), z: Number(r[2]) }))
    const minRun = o.zeroRun ?? 3
    const runs = await reader.query(`
      WITH b AS (
        SELECT open_time, volume = 0 AS zero,
               row_number() OVER (ORDER BY open_time) - row_number() OVER (PARTITION BY volume = 0 ORDER BY open_time) AS grp
        FROM bars WHERE ${barsWhere}
      )
      SELECT min(open_time), max(open_time), count(*) FROM b WHERE zero GROUP BY grp HAVING count(*) >= ${minRun} ORDER BY 1`)
    const zeroVolumeRuns = runs.rows.map((r) => ({ from: Number(r[0]), to: Number(r[1]), bars: Number(r[2]) }))
    return { instrument: o.instrument, interval: o.interval, bars: count, tradeSource, compared, mismatches, outliers, zeroVolumeRuns }
  } finally {
    reader.close()
  }
}
