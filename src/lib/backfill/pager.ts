// Paging strategies shared by venues. Pages are always delivered in key order, each with how far the range is
// complete, so the runner can commit and checkpoint after any page

import { FatalError } from '../errors.js'
import type { KeyRange } from './types.js'

/** A page of rows and the µs time below which the range is complete. */
export interface PagerPage<R> {
  readonly rows: R[]
  readonly coveredTo: number
  readonly nextId?: number | undefined
}

export interface TimePagerOptions<R> {
  /** Half-open µs range */
  readonly from: number
  readonly to: number
  readonly limit: number
  /**
   * `probe`: each request starts after the last row of the previous one (row spacing unknown, e.g. funding).
   * `windows`: fixed windows of `windowUs`, each holding at most `limit` rows, fetched `concurrency` at a time.
   * `probe-windows`: a probe finds the first row (a listing date, a hole), windows continue from there, and an
   * empty window switches back to one probe, so neither empty years nor the end of the data cost a request each.
   */
  readonly mode: 'probe' | 'windows' | 'probe-windows'
  readonly windowUs?: number | undefined
  /** From the last row's key to the next possible key: a bar interval, or 1 ms for funding */
  readonly stepUs: number
  readonly concurrency: number
  /** Rows with keys in `[startUs, endUs)`, at most `limit`, oldest first */
  fetch(startUs: number, endUs: number, limit: number): Promise<R[]>
  keyOf(row: R): number
}

/** Pages a time-keyed endpoint over a range. */
export async function* timePages<R>(o: TimePagerOptions<R>): AsyncGenerator<PagerPage<R>> {
  if (o.mode !== 'probe' && !(o.windowUs !== undefined && o.windowUs > 0)) throw new Error(`${o.mode} paging needs windowUs`)
  let cursor = o.from
  let mode: 'probe' | 'windows' = o.mode === 'windows' ? 'windows' : 'probe'
  while (cursor < o.to) {
    if (mode === 'probe') {
      const rows = await o.fetch(cursor, o.to, o.limit)
      if (rows.length < o.limit) {
        // Fewer rows than asked: everything up to the end of the range has been returned
        yield { rows, coveredTo: o.to }
        return
      }
      const next = o.keyOf(rows[rows.length - 1]) + o.stepUs
      yield { rows, coveredTo: Math.min(next, o.to) }
      cursor = next
      if (o.mode === 'probe-windows') mode = 'windows'
      continue
    }
    const span = o.windowUs as number
    const queue: { start: number; end: number; rows: Promise<R[]> }[] = []
    let nextStart = cursor
    const fill = () => {
      while (queue.length < Math.max(1, o.concurrency) && nextStart < o.to) {
        const start = nextStart
        const end = Math.min(o.to, start + span)
        const rows = o.fetch(start, end, o.limit)
        // Pages abandoned after an empty window must not surface as unhandled rejections
        rows.catch(() => undefined)
        queue.push({ start, end, rows })
        nextStart = end
      }
    }
    fill()
    let probeNext = false
    while (queue.length > 0) {
      const w = queue.shift() as (typeof queue)[number]
      const rows = await w.rows
      yield { rows, coveredTo: w.end }
      cursor = w.end
      if (rows.length === 0 && o.mode === 'probe-windows') {
        // A hole or the end of the data: one probe jumps to the next row wherever it is; the windows in flight
        // are dropped (at most concurrency - 1 requests)
        probeNext = true
        break
      }
      fill()
    }
    if (!probeNext) return
    mode = 'probe'
  }
}

export interface IdPagerOptions<R> {
  /** Half-open µs range of trade times */
  readonly from: number
  readonly to: number
  /** Resume from this id instead of looking up the first id at `from` */
  readonly fromId?: number | undefined
  readonly limit: number
  readonly concurrency: number
  /** Trade times before this are final: reaching the end of the data there completes the range */
  readonly settledBefore: number
  /** The first `limit` rows at or after a time */
  fetchFrom(startUs: number, limit: number): Promise<R[]>
  /** The first `limit` rows with ids at or after `fromId` */
  fetchId(fromId: number, limit: number): Promise<R[]>
  idOf(row: R): number
  timeOf(row: R): number
}

/**
 * Pages an id-keyed endpoint (Binance aggTrades) over a time range: the first id comes from a time lookup (or
 * the resume id), then windows of `limit` ids are fetched `concurrency` at a time. Ids are contiguous on
 * Binance; should they not be, windows overlap and the overlap is dropped, so nothing is skipped either way.
 */
export async function* idPages<R>(o: IdPagerOptions<R>): AsyncGenerator<PagerPage<R>> {
  let lastId = o.fromId !== undefined ? o.fromId - 1 : -Infinity
  let coveredTo = o.from
  /** Turns a fetched page into the rows to deliver; `done` when the range is complete */
  const settle = (rows: R[]): { page: PagerPage<R>; done: boolean } => {
    const fresh = rows.filter((r) => o.idOf(r) > lastId)
    const cut = fresh.findIndex((r) => o.timeOf(r) >= o.to)
    if (cut >= 0) {
      const kept = fresh.slice(0, cut)
      return { page: { rows: kept, coveredTo: o.to, nextId: o.idOf(fresh[cut]) }, done: true }
    }
    const last = fresh.at(-1)
    if (last !== undefined) {
      lastId = o.idOf(last)
      // Trades at the last time with higher ids may follow: the range is complete below that time only
      coveredTo = Math.max(coveredTo, o.timeOf(last))
    }
    const nextId = Number.isFinite(lastId) ? lastId + 1 : undefined
    if (rows.length < o.limit) {
      // The end of the data as of now: complete to `to` when that lies in the settled past
      return { page: { rows: fresh, coveredTo: o.to <= o.settledBefore ? o.to : coveredTo, nextId }, done: true }
    }
    return { page: { rows: fresh, coveredTo, nextId }, done: false }
  }
  const first = o.fromId !== undefined ? await o.fetchId(o.fromId, o.limit) : await o.fetchFrom(o.from, o.limit)
  const head = settle(first)
  yield head.page
  if (head.done) return
  let nextFrom = lastId + 1
  const queue: Promise<R[]>[] = []
  const fill = () => {
    while (queue.length < Math.max(1, o.concurrency)) {
      const rows = o.fetchId(nextFrom, o.limit)
      rows.catch(() => undefined)
      queue.push(rows)
      nextFrom += o.limit
    }
  }
  fill()
  for (;;) {
    const rows = await (queue.shift() as Promise<R[]>)
    const s = settle(rows)
    yield s.page
    if (s.done) return
    fill()
  }
}

/** A page of an id-keyed endpoint, with the ids the exchange answered for and has no row with. */
export interface CursorPage<R> extends PagerPage<R> {
  readonly empty: KeyRange[]
}

export interface CursorPagerOptions<R> {
  /** Half-open µs range of trade times */
  readonly from: number
  readonly to: number
  /** Resume from this id instead of looking up the first id at `from` */
  readonly fromId?: number | undefined
  /** Stop after this id, whatever the times (repairs of an id hole) */
  readonly toId?: number | undefined
  readonly limit: number
  readonly concurrency: number
  /** Trade times before this are final: reaching the end of the data there completes the range */
  readonly settledBefore: number
  /**
   * Up to `limit` rows with ids below `before`, newest first (Coinbase's `after` cursor: "older than this id");
   * the newest rows when `before` is undefined
   */
  fetchBelow(before: number | undefined, limit: number): Promise<R[]>
  idOf(row: R): number
  timeOf(row: R): number
}

type CursorFetch<R> = Pick<CursorPagerOptions<R>, 'limit' | 'fetchBelow' | 'idOf' | 'timeOf'>

function ascending<R>(rows: R[], idOf: (r: R) => number): R[] {
  return rows.sort((a, b) => idOf(a) - idOf(b))
}

/**
 * The rows with ids in `[lo, hi]` (at most `limit` of them), oldest first, from an endpoint that pages backwards.
 * One request answers the `limit` newest ids below `hi + 1`: all of `[lo, hi]` when the page reaches `lo` or holds
 * fewer rows than asked. Should it not (a server whose cursor includes its own id), the page's oldest id becomes
 * the next cursor, so nothing in the window is ever taken for missing.
 */
export async function idWindow<R>(o: CursorFetch<R>, lo: number, hi: number): Promise<R[]> {
  const byId = new Map<number, R>()
  let before = hi + 1
  for (;;) {
    const page = await o.fetchBelow(before, o.limit)
    let oldest = Infinity
    for (const r of page) {
      const id = o.idOf(r)
      if (id < oldest) oldest = id
      if (id >= lo && id <= hi) byId.set(id, r)
    }
    if (page.length < o.limit || oldest <= lo) break
    if (!(oldest < before)) throw new FatalError(`A page below id ${before} starts at id ${oldest}: the cursor does not move back`)
    before = oldest
  }
  return ascending([...byId.values()], o.idOf)
}

/** Runs of the ids in `[lo, hi]` that `ids` (ascending) lacks. */
export function missingRuns(ids: readonly number[], lo: number, hi: number): KeyRange[] {
  const out: KeyRange[] = []
  let next = lo
  for (const id of ids) {
    if (id < lo || id > hi) continue
    if (id > next) out.push({ from: next, to: id - 1 })
    next = Math.max(next, id + 1)
  }
  if (next <= hi) out.push({ from: next, to: hi })
  return out
}

/**
 * The first id with a time at or after `from` (the id after the newest when there is none), on an endpoint that
 * only pages backwards by id: a search over ids, each probe a page of `limit` ids whose times say on which side
 * `from` lies. Until a probe lands before `from`, probes step back from the newest trades by the distance the
 * latest trade rate predicts, doubled after each miss; then they interpolate between the two closest pages, and
 * bisect whenever a guess failed to halve the range. A lookup takes a handful of requests, and never more than
 * about twice log2(distance / limit).
 */
export async function findFirstId<R>(o: CursorFetch<R>, from: number, newest: readonly R[]): Promise<{ id: number; probes: number }> {
  const L = o.limit
  const rowsUp = ascending([...newest], o.idOf)
  const firstAtOrAfter = (rows: readonly R[]) => rows.findIndex((r) => o.timeOf(r) >= from)
  if (rowsUp.length === 0) return { id: 0, probes: 0 }
  const top = rowsUp[rowsUp.length - 1]
  if (o.timeOf(top) < from) return { id: o.idOf(top) + 1, probes: 0 }
  const k0 = firstAtOrAfter(rowsUp)
  if (k0 > 0 || rowsUp.length < L) return { id: o.idOf(rowsUp[k0]), probes: 0 }
  /** Ids per µs over a page, where its times spread */
  const rateOf = (rows: readonly R[]) => {
    const span = o.timeOf(rows[rows.length - 1]) - o.timeOf(rows[0])
    return rows.length > 1 && span > 0 ? (o.idOf(rows[rows.length - 1]) - o.idOf(rows[0])) / span : undefined
  }
  // Every id up to lo.id is before `from` (none known yet: -1); hi.id is at or after it; the answer is in (lo.id, hi.id]
  let lo: { id: number; t: number | undefined } = { id: -1, t: undefined }
  let hi = { id: o.idOf(rowsUp[0]), t: o.timeOf(rowsUp[0]) }
  let idsPerUs = rateOf(rowsUp)
  let probes = 0
  let misses = 0
  let bisect = false
  while (hi.id - lo.id - 1 > L) {
    const width = hi.id - lo.id
    let guess = (lo.id + hi.id) / 2
    let interpolated = false
    if (lo.id < 0 && idsPerUs !== undefined) {
      // Nothing known before `from` yet: step back as far as the trade rate says, further after each miss
      guess = hi.id - Math.max(L, (hi.t - from) * idsPerUs) * 2 ** misses
      misses++
    } else if (!bisect && lo.t !== undefined && hi.t > lo.t) {
      guess = lo.id + ((from - lo.t) / (hi.t - lo.t)) * (hi.id - lo.id)
      interpolated = true
    }
    // The probe answers ids (m - L, m]: centred on the guess, inside (lo.id, hi.id)
    const m = Math.min(hi.id - 1, Math.max(lo.id + L, Math.round(guess) + Math.floor(L / 2)))
    const rows = ascending(await o.fetchBelow(m + 1, L), o.idOf)
    probes++
    if (rows.length === 0) {
      lo = { id: m, t: undefined }
    } else {
      const k = firstAtOrAfter(rows)
      if (k < 0) lo = { id: m, t: o.timeOf(rows[rows.length - 1]) }
      else if (k > 0 || rows.length < L) return { id: o.idOf(rows[k]), probes }
      else hi = { id: o.idOf(rows[0]), t: o.timeOf(rows[0]) }
      idsPerUs = rateOf(rows) ?? idsPerUs
    }
    bisect = interpolated && hi.id - lo.id > width / 2
  }
  if (hi.id - lo.id <= 1) return { id: hi.id, probes }
  const rows = await idWindow(o, lo.id + 1, hi.id - 1)
  probes++
  const k = firstAtOrAfter(rows)
  return { id: k >= 0 ? o.idOf(rows[k]) : hi.id, probes }
}

/**
 * Pages an id-keyed endpoint that only pages backwards (Coinbase trades: newest first, `after` = older than an id)
 * forwards in time, so the runner can commit and checkpoint after any page exactly as for Binance: one request
 * for the newest rows (the last id as of now), the first id at `from` by `findFirstId` (or the resume id), then
 * windows of `limit` ids, each asked for with the cursor just past its end, `concurrency` at a time and delivered
 * oldest first. Ids inside a window the exchange answered for and did not return are reported in `empty`.
 */
export async function* cursorIdPages<R>(o: CursorPagerOptions<R>): AsyncGenerator<CursorPage<R>> {
  const settled = o.to <= o.settledBefore
  const newest = ascending(await o.fetchBelow(undefined, o.limit), o.idOf)
  if (newest.length === 0) {
    // No trade at all: the range is complete once it lies in the settled past
    yield { rows: [], coveredTo: settled ? o.to : o.from, empty: [] }
    return
  }
  const lastId = o.idOf(newest[newest.length - 1])
  const start = o.fromId ?? (await findFirstId(o, o.from, newest)).id
  const end = Math.min(lastId, o.toId ?? Infinity)
  if (start > end) {
    yield { rows: [], coveredTo: o.toId !== undefined || settled ? o.to : o.from, nextId: start, empty: [] }
    return
  }
  let coveredTo = o.from
  let nextStart = start
  const queue: { lo: number; hi: number; rows: Promise<R[]> }[] = []
  const fill = () => {
    while (queue.length < Math.max(1, o.concurrency) && nextStart <= end) {
      const lo = nextStart
      const hi = Math.min(end, lo + o.limit - 1)
      const rows = idWindow(o, lo, hi)
      // Windows abandoned after the end time must not surface as unhandled rejections
      rows.catch(() => undefined)
      queue.push({ lo, hi, rows })
      nextStart = hi + 1
    }
  }
  fill()
  while (queue.length > 0) {
    const w = queue.shift() as (typeof queue)[number]
    const rows = await w.rows
    const empty = missingRuns(rows.map(o.idOf), w.lo, w.hi)
    if (o.toId === undefined) {
      const cut = rows.findIndex((r) => o.timeOf(r) >= o.to)
      if (cut >= 0) {
        const nextId = o.idOf(rows[cut])
        yield { rows: rows.slice(0, cut), coveredTo: o.to, nextId, empty: empty.filter((e) => e.from < nextId).map((e) => ({ from: e.from, to: Math.min(e.to, nextId - 1) })) }
        return
      }
    }
    const last = rows[rows.length - 1]
    // Trades at the last time with higher ids may follow: the range is complete below that time only
    if (last !== undefined) coveredTo = Math.max(coveredTo, o.timeOf(last))
    if (w.hi >= end) {
      // The last id asked for: a repair's end, or the end of the data as of the first request
      yield { rows, coveredTo: o.toId !== undefined || settled ? o.to : coveredTo, nextId: w.hi + 1, empty }
      return
    }
    yield { rows, coveredTo, nextId: w.hi + 1, empty }
    fill()
  }
}
