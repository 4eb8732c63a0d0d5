// The gap ledger: what the lake is missing, what was repaired, and what the exchange itself never had.
// Holes are always measured from the data; the ledger remembers what repairs learnt about them, so an
// exchange gap (the exchange answers with no rows for the range) is not retried forever.

import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { FatalError } from '../errors.js'
import type { Gap } from '../lake/reader.js'
import { datasetPath, type DatasetId } from '../lake/schema.js'
import { writeFileAtomic } from '../util/fs.js'
import type { KeyRange } from './types.js'

export const GAP_STATES = ['open', 'repaired', 'exchange_gap'] as const
export type GapState = (typeof GAP_STATES)[number]

export interface LedgerEntry {
  /** First and last missing key (bar open time in µs, or trade id) */
  readonly from: number
  readonly to: number
  readonly missing: number
  readonly state: GapState
  /** ISO times */
  readonly firstSeen: string
  readonly lastChecked: string | undefined
  readonly attempts: number
  readonly note: string | undefined
}

export interface Ledger {
  readonly version: 1
  readonly entries: readonly LedgerEntry[]
}

const EMPTY: Ledger = { version: 1, entries: [] }

export function ledgerPath(lakeDir: string, ds: DatasetId): string {
  return join(lakeDir, '_state', 'gaps', `${datasetPath(ds)}.json`)
}

export function readLedger(lakeDir: string, ds: DatasetId): Ledger {
  const p = ledgerPath(lakeDir, ds)
  if (!existsSync(p)) return EMPTY
  try {
    const l = JSON.parse(readFileSync(p, 'utf8')) as Ledger
    if (l.version !== 1 || !Array.isArray(l.entries)) throw new Error('unknown format')
    return l
  } catch (err) {
    throw new FatalError(`Gap ledger ${p} is unreadable: ${(err as Error).message}`)
  }
}

/** Writes the ledger atomically (callers hold the lake's writer lock). */
export function writeLedger(lakeDir: string, ds: DatasetId, ledger: Ledger): void {
  const p = ledgerPath(lakeDir, ds)
  mkdirSync(dirname(p), { recursive: true })
  writeFileAtomic(p, JSON.stringify(ledger, null, 1) + '\n')
}

export interface GapView extends Gap {
  readonly state: GapState
  readonly note: string | undefined
  readonly lastChecked: string | undefined
}

const inside = (g: Gap, e: LedgerEntry) => g.from >= e.from && g.to <= e.to

/**
 * Current holes with what the ledger knows of them: a hole inside a confirmed exchange gap is `exchange_gap`,
 * any other hole is `open`; ledger entries that are no longer holes are listed as `repaired`.
 */
export function gapStates(current: readonly Gap[], ledger: Ledger): GapView[] {
  const out: GapView[] = current.map((g) => {
    const known = ledger.entries.find((e) => e.state === 'exchange_gap' && inside(g, e))
    return known
      ? { ...g, state: 'exchange_gap', note: known.note, lastChecked: known.lastChecked }
      : { ...g, state: 'open', note: undefined, lastChecked: ledger.entries.find((e) => inside(g, e))?.lastChecked }
  })
  for (const e of ledger.entries) {
    if (e.state === 'repaired') out.push({ from: e.from, to: e.to, missing: e.missing, state: 'repaired', note: e.note, lastChecked: e.lastChecked })
  }
  return out.sort((a, b) => a.from - b.from)
}

/**
 * The ledger after a repair attempt: holes that were open before and are gone are `repaired`; holes still there
 * that the exchange was asked for and returned nothing for become `exchange_gap`; the rest stay `open`.
 */
export function afterRepair(
  ledger: Ledger,
  before: readonly Gap[],
  after: readonly Gap[],
  askedEmpty: (g: Gap) => boolean,
  now = new Date().toISOString(),
): Ledger {
  const entries: LedgerEntry[] = ledger.entries.filter((e) => e.state !== 'open')
  const prior = (g: Gap) => ledger.entries.find((e) => inside(g, e))
  for (const g of before) {
    const stillThere = after.filter((a) => a.from >= g.from && a.to <= g.to)
    const p = prior(g)
    if (stillThere.length === 0) {
      entries.push({ ...g, state: 'repaired', firstSeen: p?.firstSeen ?? now, lastChecked: now, attempts: (p?.attempts ?? 0) + 1, note: undefined })
      continue
    }
    for (const a of stillThere) {
      const confirmed = askedEmpty(a)
      if (entries.some((e) => e.state === 'exchange_gap' && inside(a, e))) continue
      entries.push({
        ...a,
        state: confirmed ? 'exchange_gap' : 'open',
        firstSeen: p?.firstSeen ?? now,
        lastChecked: now,
        attempts: (p?.attempts ?? 0) + 1,
        note: confirmed ? 'the exchange returned no data for this range' : undefined,
      })
    }
  }
  return { version: 1, entries: entries.sort((a, b) => a.from - b.from) }
}

/**
 * The ledger with `ranges` recorded as exchange gaps: keys the exchange was asked for during a backfill and
 * answered without a row (Coinbase publishes no candle for an interval without trades). Ranges that overlap or
 * touch an exchange gap already recorded (`step` apart: a bar interval in µs, or 1 for ids) are merged with it, so
 * a hole spanning two pages or two runs is one entry and `gapStates` finds it inside.
 */
export function addExchangeGaps(ledger: Ledger, ranges: readonly KeyRange[], step: number, note: string, now = new Date().toISOString()): Ledger {
  const others = ledger.entries.filter((e) => e.state !== 'exchange_gap')
  let gaps: LedgerEntry[] = ledger.entries.filter((e) => e.state === 'exchange_gap')
  for (const r of [...ranges].sort((a, b) => a.from - b.from)) {
    if (r.to < r.from) continue
    let cur = { from: r.from, to: r.to, firstSeen: now, attempts: 1, note }
    const kept: LedgerEntry[] = []
    for (const e of gaps) {
      if (e.to + step < cur.from || e.from > cur.to + step) {
        kept.push(e)
        continue
      }
      cur = {
        from: Math.min(e.from, cur.from),
        to: Math.max(e.to, cur.to),
        firstSeen: e.firstSeen < cur.firstSeen ? e.firstSeen : cur.firstSeen,
        attempts: Math.max(e.attempts, cur.attempts),
        note: e.note ?? cur.note,
      }
    }
    kept.push({ ...cur, state: 'exchange_gap', missing: Math.round((cur.to - cur.from) / step) + 1, lastChecked: now })
    gaps = kept
  }
  return { version: 1, entries: [...others, ...gaps].sort((a, b) => a.from - b.from) }
}

/** Records confirmed-empty key ranges of a dataset as exchange gaps (callers hold the lake's writer lock). */
export function recordExchangeGaps(lakeDir: string, ds: DatasetId, ranges: readonly KeyRange[], step: number, note: string, now?: string): void {
  if (ranges.length === 0) return
  writeLedger(lakeDir, ds, addExchangeGaps(readLedger(lakeDir, ds), ranges, step, note, now))
}
