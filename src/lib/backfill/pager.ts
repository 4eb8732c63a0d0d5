// Paging strategies shared by venues. Pages are always delivered in key order, each with how far the range is
// complete, so the runner can commit and checkpoint after any page

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
