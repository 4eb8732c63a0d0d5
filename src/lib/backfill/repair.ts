// `backfill --repair`: finds holes in the lake's bars, asks the exchange for each again, and records in the
// gap ledger what was filled (repaired) and what the exchange answered with no data for (exchange gap, not
// retried unless asked to re-check)

import { isExchange } from '../consts.js'
import type { Instrument } from '../instrument.js'
import { acquireWriterLock } from '../lake/lock.js'
import { LakeReader, listDatasets, type Gap } from '../lake/reader.js'
import type { DatasetId } from '../lake/schema.js'
import { intervalUs } from '../time.js'
import { afterRepair, readLedger, writeLedger, type GapState } from './ledger.js'
import { runBackfill, type BackfillOptions } from './run.js'

export interface RepairOptions extends Omit<BackfillOptions, 'targets' | 'from' | 'to' | 'refetch'> {
  /** Only these instruments; default every binance and binance-futures bar dataset in the lake */
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

/** Repairs bar gaps from the exchange's REST API and updates the gap ledger. */
export async function repairGaps(o: RepairOptions): Promise<RepairReport> {
  const want = (d: DatasetId) =>
    !o.instruments?.length || o.instruments.some((i) => i.exchange === d.exchange && i.symbol === d.symbol)
  const datasets = listDatasets(o.lakeDir)
    .map((d) => d.ds)
    .filter((d) => d.kind === 'bars' && isExchange(d.exchange) && d.exchange !== 'coinbase' && d.interval !== '1M' && want(d))
  const out: RepairDataset[] = []
  for (const ds of datasets) {
    const step = intervalUs(ds.interval!) as number
    const ledger = readLedger(o.lakeDir, ds)
    const before = await holes(o.lakeDir, ds)
    const known = (g: Gap) => ledger.entries.some((e) => e.state === 'exchange_gap' && g.from >= e.from && g.to <= e.to)
    const tried = before.filter((g) => o.recheck || !known(g))
    const results: { gap: Gap; ok: boolean; rows: number; error: string | undefined }[] = []
    for (const g of tried) {
      const report = await runBackfill({
        ...o,
        targets: [{ instrument: { exchange: ds.exchange, symbol: ds.symbol }, kind: 'bars', interval: ds.interval }],
        from: g.from,
        to: g.to + step,
        refetch: true,
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
