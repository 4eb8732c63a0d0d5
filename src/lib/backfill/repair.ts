// `backfill --repair`: finds holes in the lake's bars (missing opens) and, where the venue serves trades by id
// (Coinbase), in its trades (missing ids), asks the exchange for each again, and records in the gap ledger what
// was filled (repaired) and what the exchange answered with no data for (exchange gap, not retried unless asked
// to re-check)

import { isExchange, type Interval } from '../consts.js'
import type { Instrument } from '../instrument.js'
import { acquireWriterLock } from '../lake/lock.js'
import { LakeReader, listDatasets, type Gap } from '../lake/reader.js'
import type { DatasetId } from '../lake/schema.js'
import { intervalUs } from '../time.js'
import { afterRepair, readLedger, writeLedger, type GapState } from './ledger.js'
import { runBackfill, type BackfillOptions } from './run.js'
import type { HistoryTarget } from './types.js'
import { historyVenue, REST_EXCHANGES, venueKinds } from './venues.js'

export interface RepairOptions extends Omit<BackfillOptions, 'targets' | 'from' | 'to' | 'refetch' | 'ids'> {
  /** Only these instruments; default every bar dataset (and trade dataset where trades are served by id) in the lake */
  readonly instruments?: readonly Instrument[]
  /** Ask the exchange again for ranges already recorded as exchange gaps */
  readonly recheck?: boolean
}

export interface RepairedGap extends Gap {
  readonly state: GapState
  readonly rowsFetched: number
  readonly error: string | undefined
}

export interface RepairDataset {
  readonly dataset: DatasetId
  readonly gaps: readonly RepairedGap[]
}

export interface RepairReport {
  readonly datasets: readonly RepairDataset[]
  readonly repaired: number
  readonly exchangeGaps: number
  readonly open: number
}

async function holes(lakeDir: string, ds: DatasetId): Promise<Gap[]> {
  const reader = await LakeReader.open(lakeDir)
  try {
    return await reader.gaps(ds)
  } finally {
    reader.close()
  }
}

/** The target that refills a dataset, when its venue serves that kind and interval over REST. */
function repairTarget(ds: DatasetId): HistoryTarget | undefined {
  if (!isExchange(ds.exchange) || !REST_EXCHANGES.includes(ds.exchange)) return undefined
  const kind = ds.kind
  if (kind !== 'bars' && kind !== 'trades') return undefined
  if (kind === 'bars' && (ds.interval === undefined || ds.interval === '1M')) return undefined
  const target: HistoryTarget = { instrument: { exchange: ds.exchange, symbol: ds.symbol }, kind, interval: ds.interval as Interval | undefined }
  const venue = historyVenue(ds.exchange)
  if (!venueKinds(venue).includes(target.kind)) return undefined
  try {
    venue.check(target)
  } catch {
    // An interval the venue does not serve (a 3m dataset built from trades, say): nothing to ask for
    return undefined
  }
  return target
}

/** Trade times of the lake rows around each id hole: from the last id before it to the first id after it. */
async function holeTimes(lakeDir: string, ds: DatasetId, gaps: readonly Gap[]): Promise<Map<Gap, { from: number; to: number }>> {
  const out = new Map<Gap, { from: number; to: number }>()
  if (gaps.length === 0) return out
  const reader = await LakeReader.open(lakeDir)
  try {
    const { columns, length } = await reader.readColumns(ds, ['id', 'timestamp'])
    const ids = columns.id
    const times = columns.timestamp
    for (const g of gaps) {
      // First row with an id above the hole; the row before it is the last one below
      let lo = 0
      let hi = length
      while (lo < hi) {
        const mid = (lo + hi) >> 1
        if (ids[mid] <= g.to) lo = mid + 1
        else hi = mid
      }
      if (lo === 0 || lo >= length) continue
      const from = times[lo - 1]
      out.set(g, { from, to: Math.max(times[lo], from + 1) })
    }
  } finally {
    reader.close()
  }
  return out
}

/** Repairs bar and trade gaps from the exchange's REST API and updates the gap ledger. */
export async function repairGaps(o: RepairOptions): Promise<RepairReport> {
  const want = (d: DatasetId) =>
    !o.instruments?.length || o.instruments.some((i) => i.exchange === d.exchange && i.symbol === d.symbol)
  const datasets = listDatasets(o.lakeDir)
    .map((d) => ({ ds: d.ds, target: want(d.ds) ? repairTarget(d.ds) : undefined }))
    .filter((d): d is { ds: DatasetId; target: HistoryTarget } => d.target !== undefined)
  const out: RepairDataset[] = []
  for (const { ds, target } of datasets) {
    const ledger = readLedger(o.lakeDir, ds)
    const before = await holes(o.lakeDir, ds)
    const known = (g: Gap) => ledger.entries.some((e) => e.state === 'exchange_gap' && g.from >= e.from && g.to <= e.to)
    const tried = before.filter((g) => o.recheck || !known(g))
    // Bars are asked for by time; trades by their ids, between the times of the rows around the hole
    const step = target.kind === 'bars' ? (intervalUs(target.interval as Interval) as number) : 0
    const around = target.kind === 'bars' ? undefined : await holeTimes(o.lakeDir, ds, tried)
    const results: { gap: Gap; ok: boolean; rows: number; error: string | undefined }[] = []
    for (const g of tried) {
      const span = around ? around.get(g) : { from: g.from, to: g.to + step }
      if (!span) continue
      const report = await runBackfill({
        ...o,
        targets: [target],
        from: span.from,
        to: span.to,
        refetch: true,
        ...(around ? { ids: { from: g.from, to: g.to } } : {}),
      })
      const t = report.targets[0]
      results.push({ gap: g, ok: t?.status === 'done', rows: t?.rowsFetched ?? 0, error: t?.error })
    }
    const after = await holes(o.lakeDir, ds)
    // A hole still there inside a range the exchange answered in full is one it has no data for
    const askedEmpty = (g: Gap) => results.some((r) => r.ok && g.from >= r.gap.from && g.to <= r.gap.to)
    const lock = acquireWriterLock(o.lakeDir)
    try {
      const next = afterRepair(readLedger(o.lakeDir, ds), tried, after, askedEmpty)
      writeLedger(o.lakeDir, ds, next)
    } finally {
      lock.release()
    }
    const state = (g: Gap): GapState => {
      const left = after.filter((a) => a.from >= g.from && a.to <= g.to)
      if (left.length === 0) return 'repaired'
      return left.every(askedEmpty) ? 'exchange_gap' : 'open'
    }
    out.push({
      dataset: ds,
      gaps: [
        ...results.map((r) => ({ ...r.gap, state: state(r.gap), rowsFetched: r.rows, error: r.error })),
        ...before.filter((g) => !tried.includes(g)).map((g) => ({ ...g, state: 'exchange_gap' as const, rowsFetched: 0, error: undefined })),
      ].sort((a, b) => a.from - b.from),
    })
  }
  const all = out.flatMap((d) => d.gaps)
  return {
    datasets: out,
    repaired: all.filter((g) => g.state === 'repaired').length,
    exchangeGaps: all.filter((g) => g.state === 'exchange_gap').length,
    open: all.filter((g) => g.state === 'open').length,
  }
}
