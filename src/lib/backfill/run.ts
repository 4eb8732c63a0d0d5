// `backfill <instrument>...`: REST history into the lake. Per target: clamp the range to what the venue serves,
// skip what the checkpoint and the lake already cover, page the rest in key order, commit every `batchRows`
// rows and checkpoint after each commit (and record in the gap ledger what the exchange confirmed it has no
// row for, e.g. Coinbase minutes without trades). A target that fails (418 ban, rejected request, retries exhausted,
// bad data) keeps what it committed and stops; the others still run, and the report says which failed.

import { existsSync, readdirSync, rmSync } from 'node:fs'
import type { Exchange, Interval } from '../consts.js'
import { MercuryError, oneLine, UsageError } from '../errors.js'
import { formatInstrument } from '../instrument.js'
import { tmpRoot } from '../lake/duck.js'
import type { DatasetId } from '../lake/schema.js'
import { LakeWriter } from '../lake/writer.js'
import { logger } from '../log.js'
import { DEFAULT_BACKOFF, type BackoffOptions } from '../net/backoff.js'
import { RateBudget, WeightBudget, type RequestBudget } from '../net/budget.js'
import { RestClient } from '../net/client.js'
import { BannedError, RejectedError } from '../net/errors.js'
import { readManifest } from '../lake/manifest.js'
import { datasetDir } from '../lake/paths.js'
import { intervalUs, isoUs, US_PER_MS } from '../time.js'
import { datasetOf, knownCovered, writeCheckpoint } from './checkpoint.js'
import { recordExchangeGaps } from './ledger.js'
import { addCovered, uncovered, type Covered } from './ranges.js'
import { RecordBatch } from './stage.js'
import type { HistoryPage, HistoryRange, HistoryTarget, HistoryVenue, KeyRange } from './types.js'
import { historyVenue, restBaseUrl, venueKinds } from './venues.js'

const log = logger('mercury:backfill:rest')

/** Assumed round trip of one request, for the dry-run time estimate */
export const ASSUMED_LATENCY_MS = 250

export const BACKFILL_DEFAULTS = {
  timeoutMs: 10_000,
  retries: 5,
  concurrency: 4,
  batchRows: 50_000,
} as const

export interface BackfillOptions {
  readonly lakeDir: string
  readonly targets: readonly HistoryTarget[]
  /** µs, inclusive */
  readonly from: number
  /** µs, exclusive; default now */
  readonly to?: number | undefined
  readonly restUrl?: string | undefined
  readonly testnet?: boolean | undefined
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Weight per minute to stay under on weight-limited exchanges (Binance); capped at each one's published limit */
  readonly maxWeight?: number | undefined
  /** Requests per second to stay under on rate-limited exchanges (Coinbase); capped at each one's published limit */
  readonly maxRate?: number | undefined
  readonly timeoutMs?: number | undefined
  readonly retries?: number | undefined
  readonly concurrency?: number | undefined
  readonly batchRows?: number | undefined
  readonly backoff?: BackoffOptions | undefined
  /** Fetch the whole range even where the checkpoint or the lake say it is complete (re-checking holes) */
  readonly refetch?: boolean | undefined
  /** Id-paged kinds with `refetch`: fetch exactly these ids, both included (repairs of an id hole) */
  readonly ids?: { readonly from: number; readonly to: number } | undefined
  /** Rows per request below the venue's maximum (tests) */
  readonly pageSize?: number | undefined
  /** Clock, ms (tests) */
  readonly now?: (() => number) | undefined
  readonly onProgress?: ((p: BackfillProgress) => void) | undefined
  readonly onNotice?: ((message: string) => void) | undefined
}

export interface TargetPlan {
  readonly target: HistoryTarget
  readonly label: string
  readonly dataset: DatasetId
  readonly baseUrl: string
  readonly urlSource: string
  /** The range after clamping to what the venue serves, µs */
  readonly from: number
  readonly to: number
  readonly notice: string | undefined
  /** What still has to be fetched */
  readonly ranges: readonly HistoryRange[]
  /** Requests and weight when known in advance (time-paged kinds), at most this many */
  readonly requests: number | undefined
  readonly weight: number | undefined
  readonly pageRows: number
  readonly pageWeight: number
  readonly seconds: number | undefined
}

export interface BackfillPlan {
  readonly targets: readonly TargetPlan[]
  /** Weight budget per exchange and minute (weight-limited exchanges) */
  readonly budgets: Readonly<Partial<Record<Exchange, number>>>
  /** Requests per second per exchange (rate-limited exchanges) */
  readonly rates: Readonly<Partial<Record<Exchange, number>>>
}

export interface BackfillProgress {
  readonly label: string
  readonly event: 'page' | 'commit'
  /** Target range and the time below which it is complete, µs */
  readonly from: number
  readonly to: number
  readonly coveredTo: number
  /** µs of the range that had to be fetched, and how many of them are done */
  readonly todoUs: number
  readonly doneUs: number
  readonly rowsFetched: number
  readonly rowsWritten: number
  readonly requests: number
  readonly elapsedMs: number
}

export interface TargetReport {
  readonly label: string
  readonly instrument: string
  readonly kind: string
  readonly interval: string | null
  readonly from: number
  readonly to: number
  readonly status: 'done' | 'failed'
  readonly error: string | undefined
  /** Where fetching started when earlier runs or the lake had covered the start */
  readonly resumedFrom: number | undefined
  /** The range is complete below this, µs */
  readonly coveredTo: number
  readonly requests: number
  readonly weight: number
  readonly rowsFetched: number
  readonly rowsWritten: number
  readonly commits: number
  readonly seconds: number
}

export interface BackfillReport {
  readonly targets: readonly TargetReport[]
  readonly failed: number
  readonly requests: number
  readonly weight: number
  readonly retries: number
  readonly rateLimited: number
  readonly pausedMs: number
  readonly budgetWaits: number
  readonly budgetWaitedMs: number
  /** Highest weight counted in one window, per exchange */
  readonly maxWindowWeight: Readonly<Partial<Record<Exchange, number>>>
  readonly rowsFetched: number
  readonly rowsWritten: number
  readonly seconds: number
}

function labelOf(t: HistoryTarget): string {
  const what = t.kind === 'open_interest' ? `open interest ${t.interval}` : t.kind === 'bars' ? `bars ${t.interval}` : t.kind
  return `${formatInstrument(t.instrument)} ${what}`
}

/** Works out what a backfill will fetch, without sending anything or taking the lake's lock. */
export function planBackfill(o: BackfillOptions, venues = new Map<Exchange, HistoryVenue>()): BackfillPlan {
  const nowUs = (o.now ?? Date.now)() * US_PER_MS
  const to = o.to ?? nowUs
  if (!(to > o.from)) throw new UsageError(`Invalid --to: '${isoUs(to)}'. Expected a time after --from ${isoUs(o.from)}`)
  const exchanges = [...new Set(o.targets.map((t) => t.instrument.exchange))]
  if (o.restUrl !== undefined && exchanges.length > 1) {
    throw new UsageError(`Invalid --rest-url: one URL cannot serve ${exchanges.join(' and ')}. Backfill one exchange per run, or set ${exchanges.map((e) => venueOf(e, venues).urlEnv).join(' and ')}`)
  }
  const budgets: Partial<Record<Exchange, number>> = {}
  const rates: Partial<Record<Exchange, number>> = {}
  for (const e of exchanges) {
    const v = venueOf(e, venues)
    if (v.requestRate) rates[e] = Math.min(o.maxRate ?? Infinity, v.requestRate.perSecond)
    else budgets[e] = Math.min(o.maxWeight ?? Infinity, v.weightLimit)
  }
  const byRate = exchanges.filter((e) => rates[e] !== undefined)
  const byWeight = exchanges.filter((e) => budgets[e] !== undefined)
  if (o.maxWeight !== undefined && byWeight.length === 0) {
    throw new UsageError(`Invalid --max-weight: ${byRate.join(' and ')} limit requests per second, not weight. Use --max-rate`)
  }
  if (o.maxRate !== undefined && byRate.length === 0) {
    throw new UsageError(`Invalid --max-rate: ${byWeight.join(' and ')} limit request weight per minute. Use --max-weight`)
  }
  const targets = o.targets.map((t): TargetPlan => {
    const v = venueOf(t.instrument.exchange, venues)
    // The venue's own check names what it serves best; the list of kinds backs it up
    v.check(t)
    if (!venueKinds(v).includes(t.kind)) {
      throw new UsageError(`Invalid --kind: '${t.kind}' for ${formatInstrument(t.instrument)}. Expected one of ${venueKinds(v).join(', ')}`)
    }
    const { url, source } = restBaseUrl(v, o)
    const cost = v.pageCost(t, o.pageSize)
    const rate = rates[t.instrument.exchange]
    const budget = rate !== undefined ? rate * 60 : (budgets[t.instrument.exchange] as number)
    if (rate === undefined && cost.weight > budget) {
      throw new UsageError(
        `Invalid --max-weight: '${o.maxWeight}'. One ${labelOf(t)} request weighs ${cost.weight}; expected at least ${cost.weight}`,
      )
    }
    const c = v.clamp(t, o.from, to, nowUs)
    const ranges = c.to > c.from ? uncovered(c.from, c.to, o.refetch ? [] : knownCovered(o.lakeDir, t)) : []
    let requests: number | undefined = 0
    for (const r of ranges) {
      const n = v.estimateRequests(t, r, o.pageSize)
      requests = n === undefined || requests === undefined ? undefined : requests + n
    }
    const weight = requests === undefined ? undefined : requests * cost.weight
    const concurrency = t.kind === 'funding' ? 1 : o.concurrency ?? BACKFILL_DEFAULTS.concurrency
    // Weight: whole minutes once the first minute's budget is spent; rate: the requests past the first burst
    const wait = (w: number) =>
      rate !== undefined ? Math.max(0, w - burstOf(v, rate)) / rate : Math.floor(Math.max(0, w - 1) / budget) * 60
    const seconds =
      requests === undefined || weight === undefined ? undefined : Math.max((requests * ASSUMED_LATENCY_MS) / 1000 / concurrency, wait(weight))
    return {
      target: t,
      label: labelOf(t),
      dataset: datasetOf(t),
      baseUrl: url,
      urlSource: source,
      from: c.from,
      to: c.to,
      notice: c.notice,
      ranges,
      requests,
      weight,
      pageRows: cost.rows,
      pageWeight: cost.weight,
      seconds,
    }
  })
  return { targets, budgets, rates }
}

/** Requests a rate-limited venue sends at once, at a rate of `rate` per second. */
function burstOf(v: HistoryVenue, rate: number): number {
  return Math.max(1, Math.min(v.requestRate?.burst ?? 1, Math.floor(rate)))
}

function venueOf(e: Exchange, cache: Map<Exchange, HistoryVenue>): HistoryVenue {
  let v = cache.get(e)
  if (!v) {
    v = historyVenue(e)
    cache.set(e, v)
  }
  return v
}

/** Runs a REST backfill into the lake and reports per target. */
export async function runBackfill(o: BackfillOptions): Promise<BackfillReport> {
  const started = performance.now()
  const venues = new Map<Exchange, HistoryVenue>()
  const plan = planBackfill(o, venues)
  const now = o.now ?? Date.now
  const clients = new Map<Exchange, RestClient>()
  for (const tp of plan.targets) {
    const e = tp.target.instrument.exchange
    if (clients.has(e)) continue
    const v = venues.get(e) as HistoryVenue
    const rate = plan.rates[e]
    const budget: RequestBudget = rate !== undefined ? new RateBudget(rate, burstOf(v, rate)) : new WeightBudget(plan.budgets[e] as number, 60_000)
    clients.set(
      e,
      new RestClient({
        baseUrl: tp.baseUrl,
        name: e,
        budget,
        timeoutMs: o.timeoutMs ?? BACKFILL_DEFAULTS.timeoutMs,
        retries: o.retries ?? BACKFILL_DEFAULTS.retries,
        backoff: o.backoff ?? DEFAULT_BACKOFF,
        unnamed429PauseMs: v.requestRate?.unnamed429PauseMs,
      }),
    )
  }
  for (const tp of plan.targets) if (tp.notice) o.onNotice?.(tp.notice)
  const lakeExisted = existsSync(o.lakeDir)
  const writer = await LakeWriter.open(o.lakeDir)
  const reports: TargetReport[] = []
  try {
    for (const tp of plan.targets) {
      const e = tp.target.instrument.exchange
      reports.push(await runTarget(o, tp, venues.get(e) as HistoryVenue, clients.get(e) as RestClient, writer, now))
    }
  } finally {
    writer.close()
    rmSync(tmpRoot(o.lakeDir), { recursive: true, force: true })
    // A first run that wrote nothing must not leave an empty lake skeleton behind
    if (!lakeExisted && existsSync(o.lakeDir) && readdirSync(o.lakeDir).length === 0) {
      rmSync(o.lakeDir, { recursive: true, force: true })
    }
  }
  const stats = [...clients.values()].map((c) => c.snapshot())
  const sum = (f: (s: (typeof stats)[number]) => number) => stats.reduce((a, s) => a + f(s), 0)
  const maxWindowWeight: Partial<Record<Exchange, number>> = {}
  for (const [e, c] of clients) maxWindowWeight[e] = c.snapshot().maxWindowWeight
  return {
    targets: reports,
    failed: reports.filter((r) => r.status === 'failed').length,
    requests: sum((s) => s.requests),
    weight: sum((s) => s.weight),
    retries: sum((s) => s.retries),
    rateLimited: sum((s) => s.rateLimited),
    pausedMs: sum((s) => s.pausedMs),
    budgetWaits: sum((s) => s.waits),
    budgetWaitedMs: sum((s) => s.waitedMs),
    maxWindowWeight,
    rowsFetched: reports.reduce((a, r) => a + r.rowsFetched, 0),
    rowsWritten: reports.reduce((a, r) => a + r.rowsWritten, 0),
    seconds: (performance.now() - started) / 1000,
  }
}

async function runTarget(
  o: BackfillOptions,
  tp: TargetPlan,
  venue: HistoryVenue,
  client: RestClient,
  writer: LakeWriter,
  now: () => number,
): Promise<TargetReport> {
  const t0 = performance.now()
  const before = client.snapshot()
  const t = tp.target
  const batchRows = o.batchRows ?? BACKFILL_DEFAULTS.batchRows
  // Re-read under the writer lock: another run may have moved on since the plan was made
  let covered: Covered[] = knownCovered(o.lakeDir, t)
  const found: HistoryRange[] = tp.to > tp.from ? uncovered(tp.from, tp.to, o.refetch ? [] : covered) : []
  const ids = o.ids
  const segments = ids && o.refetch ? found.map((s) => ({ ...s, fromId: ids.from, toId: ids.to })) : found
  const todoUs = segments.reduce((a, s) => a + (s.to - s.from), 0)
  const resumedFrom = segments.length > 0 && segments[0].from > tp.from ? segments[0].from : undefined
  const batch = new RecordBatch(t.kind)
  let pending: Covered[] = []
  /** Keys the exchange confirmed it has no row for, recorded in the gap ledger with the next commit */
  let pendingEmpty: KeyRange[] = []
  const keyStep = t.kind === 'bars' ? (intervalUs(t.interval as Interval) as number) : 1
  let written = covered
  let rowsFetched = 0
  let rowsWritten = 0
  let commits = 0
  let doneUs = 0
  let coveredTo = segments.length > 0 ? segments[0].from : tp.to
  let failure: unknown

  const progress = (event: BackfillProgress['event']) =>
    o.onProgress?.({
      label: tp.label,
      event,
      from: tp.from,
      to: tp.to,
      coveredTo,
      todoUs,
      doneUs,
      rowsFetched,
      rowsWritten,
      requests: client.snapshot().requests - before.requests,
      elapsedMs: performance.now() - t0,
    })

  /**
   * Commits the rows collected so far, then records the ranges they complete: never the other way round. The
   * commit runs in DuckDB's threads while the next pages are fetched; the next flush waits for it first.
   */
  let committing: Promise<void> | undefined
  const flush = async (wait: boolean) => {
    if (committing) await committing
    committing = undefined
    const rows = batch.rows > 0 ? batch.take(0) : undefined
    const completes = pending
    pending = []
    const empties = pendingEmpty
    pendingEmpty = []
    const job = (async () => {
      if (rows) {
        await writer.stage(tp.dataset, rows)
        const res = await writer.commit(tp.dataset)
        rowsWritten += res.rowsWritten
        commits++
      }
      for (const p of completes) covered = addCovered(covered, p)
      if (JSON.stringify(covered) !== JSON.stringify(written)) {
        writeCheckpoint(o.lakeDir, t, covered, now())
        written = covered
      }
      // Holes are measured between stored rows: with no row stored there is no hole to explain yet
      if (empties.length > 0 && readManifest(datasetDir(o.lakeDir, tp.dataset))) {
        recordExchangeGaps(o.lakeDir, tp.dataset, empties, keyStep, venue.emptyNote?.(t) ?? 'the exchange returned no data for this range', new Date(now()).toISOString())
      }
      progress('commit')
    })()
    // Awaited by the next flush; a failure must not surface earlier as an unhandled rejection
    job.catch(() => undefined)
    committing = job
    if (wait) {
      committing = undefined
      await job
    }
  }

  outer: for (const seg of segments) {
    const it = venue.pages(client, t, seg, {
      concurrency: t.kind === 'funding' ? 1 : o.concurrency ?? BACKFILL_DEFAULTS.concurrency,
      pageSize: o.pageSize,
      settledBefore: now() * US_PER_MS,
    })[Symbol.asyncIterator]()
    let segDone = 0
    // Everything before this segment is complete (earlier segments, or covered already)
    coveredTo = Math.max(coveredTo, seg.from)
    for (;;) {
      let r: IteratorResult<HistoryPage>
      try {
        r = await it.next()
      } catch (err) {
        // Errors of ours (HTTP, bans, bad data) stop this target; anything else is a bug and stops the run
        if (!(err instanceof MercuryError)) throw err
        failure = err
        break outer
      }
      if (r.done) break
      const page = r.value
      batch.push(page.records)
      if (page.confirmedEmpty?.length) pendingEmpty.push(...page.confirmedEmpty)
      rowsFetched += page.records.length
      coveredTo = Math.max(coveredTo, page.coveredTo)
      const last = pending.at(-1)
      const cov: Covered = { from: seg.from, to: page.coveredTo, ...(page.nextId !== undefined ? { nextId: page.nextId } : {}) }
      if (last && last.from === seg.from) pending[pending.length - 1] = cov
      else pending.push(cov)
      doneUs += page.coveredTo - seg.from - segDone
      segDone = page.coveredTo - seg.from
      if (batch.rows >= batchRows) await flush(false)
      else progress('page')
    }
  }
  await flush(true)
  const requests = client.snapshot().requests - before.requests
  let error: string | undefined
  if (failure !== undefined) {
    const at = `complete up to ${isoUs(coveredTo)}`
    if (failure instanceof BannedError) {
      const wait = failure.retryAfterMs
      const until = wait !== undefined ? ` until ${isoUs(Math.ceil((now() + wait) / 1000) * 1000 * US_PER_MS)}` : ''
      error =
        `${tp.label}: ${t.instrument.exchange} banned this IP (HTTP 418)${wait !== undefined ? ` for ${Math.ceil(wait / 1000)} s` : ''}; ` +
        `stopped this instrument, ${at}. Run the same command again after the ban${until} to resume`
    } else if (failure instanceof RejectedError) {
      // Repeating a rejected request gives the same answer: no promise of resuming
      error = `${tp.label}: stopped: ${oneLine(failure)}; ${at}`
    } else {
      error = `${tp.label}: stopped: ${oneLine(failure)}; ${at}, the same command resumes from there`
    }
    log.info(error)
  }
  return {
    label: tp.label,
    instrument: formatInstrument(t.instrument),
    kind: t.kind,
    interval: t.interval ?? null,
    from: tp.from,
    to: tp.to,
    status: failure === undefined ? 'done' : 'failed',
    error,
    resumedFrom,
    coveredTo: failure === undefined ? tp.to : coveredTo,
    requests,
    weight: client.snapshot().weight - before.weight,
    rowsFetched,
    rowsWritten,
    commits,
    seconds: (performance.now() - t0) / 1000,
  }
}

