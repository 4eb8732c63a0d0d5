// Starts the worker threads of one conversion pass and exposes their rows as a BlockSource on the main thread.
// Snapshot input: one reader and W parsers (W = cores, so both cores parse while DuckDB encodes in between);
// recordings: one replay worker (the book is sequential), the main thread encodes.

import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MessageChannel, Worker } from 'node:worker_threads'
import type { Exchange } from '../consts.js'
import { DataError, FatalError, type DataProblem } from '../errors.js'
import type { LobLayout } from './layout.js'
import { emptyReport, MAX_LISTED, type ValidationReport } from './report.js'
import { createRing, RingConsumer } from './ring.js'
import { RingSource, SnapshotSource, type BlockSource } from './source.js'
import type { SerializedError, WorkerMessage, WorkerTask } from './worker.js'
import type { InputKind } from './detect.js'

export interface PassPlan {
  readonly kind: InputKind
  readonly files: readonly string[]
  readonly layout: LobLayout
  /** Sampling period; undefined keeps every snapshot (snapshot input only) */
  readonly everyUs: number | undefined
  readonly maxGapUs: number
  readonly strict: boolean
  /** Parser workers for snapshot input */
  readonly threads: number
  readonly exchange: Exchange | undefined
  readonly symbol: string | undefined
}

/** Parser workers by default: one per core (the reader and DuckDB take little) */
export function defaultThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism()))
}

/** The compiled worker module; under the TypeScript sources (tests) the build's copy. */
function workerPath(): string {
  const here = fileURLToPath(import.meta.url)
  if (here.endsWith('.js')) return join(dirname(here), 'worker.js')
  const built = resolve(dirname(here), '..', '..', '..', 'dist', 'src', 'lib', 'dataset', 'worker.js')
  if (!existsSync(built)) throw new FatalError(`convert-lob runs its workers from the build: run \`npm run build\` first (${built} is missing)`)
  return built
}

/** Turns a worker's serialized failure back into the typed error. */
export function deserializeError(e: SerializedError): Error {
  if (e.name === 'DataError') return new DataError(e.message, e.file ?? '', (e.problems as DataProblem[]) ?? [])
  if (e.name === 'FatalError') return new FatalError(e.message)
  return new FatalError(`convert-lob worker failed: ${e.message}`)
}

/** A failure that came through a ring is JSON of a SerializedError. */
export function ringError(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof DataError || err instanceof FatalError) return err
  try {
    const e = JSON.parse(err.message) as SerializedError
    if (typeof e?.name === 'string' && typeof e.message === 'string') return deserializeError(e)
  } catch {
    // Not one of ours
  }
  return err
}

export class Pass {
  readonly source: BlockSource
  private readonly workers: Worker[] = []
  private readonly consumers: RingConsumer[] = []
  private readonly progress = new Float64Array(new SharedArrayBuffer(64))
  private readonly messages: WorkerMessage[] = []
  private readonly done = new Set<number>()
  private expectDone = 0
  private failure: Error | undefined
  private waiter: (() => void) | undefined
  private readonly snapshot: SnapshotSource | undefined
  readonly report: ValidationReport = emptyReport()

  constructor(readonly plan: PassPlan) {
    const path = workerPath()
    const cols = plan.layout.columns.length + 1
    const start = (task: WorkerTask, transfer: readonly (import('node:worker_threads').MessagePort)[] = []) => {
      const w = new Worker(path, { workerData: task, transferList: [...transfer] })
      const id = this.workers.length
      w.on('message', (m: WorkerMessage | { type: 'done' }) => {
        if (m.type === 'done') this.done.add(id)
        else if (m.type === 'error') this.failure ??= deserializeError(m.error)
        else this.messages.push(m)
        this.wake()
      })
      w.on('error', (err) => {
        this.failure ??= new FatalError(`convert-lob worker crashed: ${err.message}`)
        this.wake()
      })
      this.workers.push(w)
      return w
    }
    if (plan.kind === 'snapshots') {
      const W = Math.max(1, plan.threads)
      const ports = []
      for (let w = 0; w < W; w++) {
        const ring = createRing(cols, 4)
        this.consumers.push(new RingConsumer(ring))
        const ch = new MessageChannel()
        ports.push(ch.port1)
        start({ role: 'parser', ring, port: ch.port2, levels: plan.layout.levels, strict: plan.strict }, [ch.port2])
        this.expectDone++
      }
      // MERCURY_LOB_CHUNK_BYTES: chunk size handed to a parser (tests use small chunks to cross many boundaries)
      const chunkBytes = Number(process.env.MERCURY_LOB_CHUNK_BYTES) || undefined
      start({ role: 'reader', files: [...plan.files], ports, progress: this.progress.buffer as SharedArrayBuffer, chunkBytes }, ports)
      this.snapshot = new SnapshotSource({
        rings: this.consumers,
        files: plan.files,
        layout: plan.layout,
        report: this.report,
        everyUs: plan.everyUs,
        maxGapUs: plan.maxGapUs,
      })
      this.source = this.snapshot
    } else {
      const ring = createRing(cols, 8)
      const consumer = new RingConsumer(ring)
      this.consumers.push(consumer)
      start({
        role: 'replay',
        ring,
        files: [...plan.files],
        exchange: plan.exchange as Exchange,
        symbol: plan.symbol as string,
        levels: plan.layout.levels,
        withTrades: plan.layout.withTrades,
        everyUs: plan.everyUs as number,
        strict: plan.strict,
        progress: this.progress.buffer as SharedArrayBuffer,
      })
      this.snapshot = undefined
      this.source = new RingSource(consumer, plan.layout.columns.length)
    }
  }

  private wake(): void {
    const w = this.waiter
    this.waiter = undefined
    w?.()
  }

  /** On-disk bytes read so far (snapshot input), frames and frame characters (recordings). */
  get bytesRead(): number {
    return this.progress[0]
  }
  get frames(): number {
    return this.progress[1]
  }
  get chars(): number {
    return this.progress[2]
  }

  private async until(cond: () => boolean): Promise<void> {
    while (!cond()) {
      if (this.failure) throw this.failure
      await new Promise<void>((r) => (this.waiter = r))
    }
    if (this.failure) throw this.failure
  }

  /** After the source is exhausted: the input checksums and the full report. Stops the workers. */
  async finish(): Promise<{ report: ValidationReport; sha256: string[] }> {
    try {
      await this.until(() => this.messages.some((m) => m.type === 'hashes') && this.done.size >= this.expectDone && (this.plan.kind === 'snapshots' || this.messages.some((m) => m.type === 'report')))
      const sha = (this.messages.find((m) => m.type === 'hashes') as Extract<WorkerMessage, { type: 'hashes' }>).sha256
      let report = this.report
      if (this.snapshot) {
        // Parsers report problem lines per chunk; number them now that every chunk's first line is known
        const bad: DataProblem[] = []
        const dropped: DataProblem[] = [...report.dropped]
        const msgs = this.messages.filter((m): m is Extract<WorkerMessage, { type: 'problems' }> => m.type === 'problems').sort((a, b) => a.chunk - b.chunk)
        for (const m of msgs) {
          const n = this.snapshot.numberProblems(m.chunk, m.items)
          bad.push(...n.bad)
          dropped.push(...n.dropped)
        }
        const byLine = (a: DataProblem, b: DataProblem) => a.file.localeCompare(b.file) || a.line - b.line
        report.problems = bad.slice(0, MAX_LISTED)
        report.dropped = dropped.sort(byLine).slice(0, MAX_LISTED)
      } else {
        const r = (this.messages.find((m) => m.type === 'report') as Extract<WorkerMessage, { type: 'report' }>).report as ValidationReport
        report = r
      }
      return { report, sha256: sha }
    } finally {
      await this.stop()
    }
  }

  /** Stops everything (after an error, or once finished). */
  async stop(): Promise<void> {
    for (const c of this.consumers) c.abort()
    await Promise.all(this.workers.map((w) => w.terminate()))
  }
}
