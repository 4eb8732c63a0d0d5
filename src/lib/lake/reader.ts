// Reading the lake: datasets from their manifests, ranges as typed arrays, SQL through views named after kinds.
// Readers take no lock and open no database file, so any number run beside the writer.

import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { KINDS, hasInterval, isExchange, type Kind } from '../consts.js'
import { UsageError } from '../errors.js'
import { barsBetween, parseInterval } from '../time.js'
import { openDuck, type Duck } from './duck.js'
import { readManifest, sortedPartitions, type Manifest } from './manifest.js'
import { datasetDir } from './paths.js'
import { SCHEMAS, sqlString, type DatasetId } from './schema.js'

/** Every dataset in the lake with its manifest. */
export function listDatasets(lakeDir: string): { ds: DatasetId; manifest: Manifest }[] {
  const out: { ds: DatasetId; manifest: Manifest }[] = []
  const sub = (dir: string, prefix: string) =>
    existsSync(dir)
      ? readdirSync(dir, { withFileTypes: true })
          .filter((e) => e.isDirectory() && e.name.startsWith(prefix))
          .map((e) => e.name.slice(prefix.length))
          .sort()
      : []
  for (const kind of KINDS) {
    const kdir = join(lakeDir, kind)
    for (const exchange of sub(kdir, 'exchange=')) {
      if (!isExchange(exchange)) continue
      for (const symbol of sub(join(kdir, `exchange=${exchange}`), 'symbol=')) {
        const sdir = join(kdir, `exchange=${exchange}`, `symbol=${symbol}`)
        const dirs = hasInterval(kind) ? sub(sdir, 'interval=').map((i) => join(sdir, `interval=${i}`)) : [sdir]
        for (const d of dirs) {
          const manifest = readManifest(d)
          if (!manifest) continue
          out.push({
            ds: { kind, exchange, symbol, ...(manifest.interval ? { interval: manifest.interval } : {}) },
            manifest,
          })
        }
      }
    }
  }
  return out
}

export interface Coverage {
  readonly dataset: DatasetId
  readonly rows: number
  readonly first: number | undefined
  readonly last: number | undefined
  readonly firstKey: number | undefined
  readonly lastKey: number | undefined
  readonly gaps: number
  readonly missing: number
  readonly files: number
  readonly bytes: number
}

/** Coverage of a dataset from its manifest alone (no data read). */
export function coverageOf(ds: DatasetId, m: Manifest): Coverage {
  const parts = sortedPartitions(m).map((p) => m.partitions[p])
  let rows = 0
  let gaps = 0
  let missing = 0
  let files = 0
  let bytes = 0
  const gapBy = SCHEMAS[ds.kind].gapBy
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]
    rows += p.rows
    gaps += p.gaps
    missing += p.missing
    files += p.files.length
    bytes += p.bytes
    if (i > 0) {
      const prev = parts[i - 1]
      let between = 0
      if (gapBy === 'interval' && ds.interval) between = barsBetween(ds.interval, prev.maxKey, p.minKey)
      else if (gapBy === 'id') between = Math.max(0, p.minKey - prev.maxKey - 1)
      if (between > 0) {
        gaps++
        missing += between
      }
    }
  }
  return {
    dataset: ds,
    rows,
    first: parts[0]?.minTime,
    last: parts.at(-1)?.maxTime,
    firstKey: parts[0]?.minKey,
    lastKey: parts.at(-1)?.maxKey,
    gaps,
    missing,
    files,
    bytes,
  }
}

export interface Range {
  /** Inclusive start, µs */
  readonly from?: number | undefined
  /** Exclusive end, µs */
  readonly to?: number | undefined
}

export interface Gap {
  /** First and last missing key: bar open times (µs) or trade ids */
  readonly from: number
  readonly to: number
  readonly missing: number
}

export class LakeReader {
  private constructor(
    readonly lakeDir: string,
    private readonly duck: Duck,
  ) {}

  static async open(lakeDir: string): Promise<LakeReader> {
    return new LakeReader(lakeDir, await openDuck())
  }

  /** The manifest of one dataset, or a usage error naming what the lake does hold. */
  manifest(ds: DatasetId): Manifest {
    const m = readManifest(datasetDir(this.lakeDir, ds))
    if (!m) {
      const held = listDatasets(this.lakeDir)
        .filter((d) => d.ds.kind === ds.kind)
        .map((d) => `${d.ds.exchange}:${d.ds.symbol}${d.ds.interval ? ' ' + d.ds.interval : ''}`)
      throw new UsageError(
        `No ${ds.kind}${ds.interval ? ' ' + ds.interval : ''} for ${ds.exchange}:${ds.symbol} in the lake at ${this.lakeDir}` +
          (held.length ? `; it holds ${ds.kind} for ${held.join(', ')}` : ''),
      )
    }
    return m
  }

  /** Live files of a dataset overlapping a time range, in time order. */
  files(ds: DatasetId, range: Range = {}): string[] {
    const m = this.manifest(ds)
    const dir = datasetDir(this.lakeDir, ds)
    return sortedPartitions(m)
      .map((p) => m.partitions[p])
      .filter((p) => (range.from === undefined || p.maxTime >= range.from) && (range.to === undefined || p.minTime < range.to))
      .flatMap((p) => p.files.map((f) => join(dir, f)))
  }

  /** Reads numeric columns of a dataset over a range into Float64Arrays, in key order. */
  async readColumns<C extends string>(
    ds: DatasetId,
    columns: readonly C[],
    range: Range = {},
  ): Promise<{ length: number; columns: Record<C, Float64Array> }> {
    const schema = SCHEMAS[ds.kind]
    const known = new Set(schema.columns.map((c) => c.name))
    for (const c of columns) {
      if (!known.has(c)) throw new UsageError(`Unknown ${ds.kind} column '${c}'. Expected one of ${[...known].join(', ')}`)
    }
    const m = this.manifest(ds)
    const dir = datasetDir(this.lakeDir, ds)
    const parts = sortedPartitions(m)
      .map((p) => m.partitions[p])
      .filter((p) => (range.from === undefined || p.maxTime >= range.from) && (range.to === undefined || p.minTime < range.to))
    const files = parts.flatMap((p) => p.files.map((f) => join(dir, f)))
    const out = {} as Record<C, Float64Array>
    if (files.length === 0) {
      for (const c of columns) out[c] = new Float64Array(0)
      return { length: 0, columns: out }
    }
    // Filter rows only when a partition reaches outside the range; whole partitions need no predicate
    const where: string[] = []
    if (range.from !== undefined && parts[0].minTime < range.from) where.push(`"${schema.time}" >= ${Math.floor(range.from)}`)
    if (range.to !== undefined && (parts.at(-1)?.maxTime ?? 0) >= range.to) where.push(`"${schema.time}" < ${Math.floor(range.to)}`)
    const src = `read_parquet([${files.map(sqlString).join(', ')}])`
    const whereSql = where.length ? `WHERE ${where.join(' AND ')}` : ''
    // Nulls become NaN in SQL so each column of a chunk is one memcpy
    const select = columns.map((c) => `coalesce(CAST("${c}" AS DOUBLE), 'NaN'::DOUBLE)`).join(', ')
    // A parallel scan of several files does not keep file order, so sort explicitly
    const order = schema.key.map((k) => `"${k}"`).join(', ')
    const res = await this.duck.conn.run(`SELECT ${select} FROM ${src} ${whereSql} ORDER BY ${order}`)
    const pieces: Float64Array[][] = columns.map(() => [])
    let off = 0
    for await (const chunk of res) {
      const rows = chunk.rowCount
      for (let j = 0; j < columns.length; j++) {
        const v = chunk.getColumnVector(j) as unknown as { items?: Float64Array; getItem(i: number): number | null }
        pieces[j].push(
          v.items instanceof Float64Array && v.items.length >= rows
            ? v.items.slice(0, rows)
            : Float64Array.from({ length: rows }, (_, i) => v.getItem(i) ?? NaN),
        )
      }
      off += rows
    }
    columns.forEach((c, j) => {
      const dst = new Float64Array(off)
      let at = 0
      for (const p of pieces[j]) {
        dst.set(p, at)
        at += p.length
      }
      out[c] = dst
    })
    return { length: off, columns: out }
  }

  /** Missing bars (by interval) or missing ids (trades) inside the range. */
  async gaps(ds: DatasetId, range: Range = {}): Promise<Gap[]> {
    const schema = SCHEMAS[ds.kind]
    if (schema.gapBy === 'none') throw new UsageError(`Gaps are not defined for ${ds.kind}`)
    const key = schema.key[0]
    const { columns, length } = await this.readColumns(ds, [key], range)
    const keys = columns[key]
    const out: Gap[] = []
    for (let i = 1; i < length; i++) {
      const a = keys[i - 1]
      const b = keys[i]
      if (schema.gapBy === 'id') {
        if (b - a > 1) out.push({ from: a + 1, to: b - 1, missing: b - a - 1 })
      } else if (ds.interval) {
        const missing = barsBetween(ds.interval, a, b)
        if (missing > 0) {
          const step = (b - a) / (missing + 1)
          // Month bars are not evenly spaced; their first/last missing opens are computed by calendar
          const first = ds.interval === '1M' ? nextMonth(a, 1) : a + step
          const last = ds.interval === '1M' ? nextMonth(b, -1) : b - step
          out.push({ from: first, to: last, missing })
        }
      }
    }
    return out
  }

  /** Runs SQL over views named after the kinds (`bars`, `trades`, ...), each spanning every dataset. */
  async query(sql: string): Promise<{ columns: string[]; types: string[]; rows: unknown[][] }> {
    await this.createViews()
    let res
    try {
      res = await this.duck.conn.runAndReadAll(sql)
    } catch (err) {
      throw new UsageError(`Query failed: ${(err as Error).message.split('\n')[0]}`)
    }
    return {
      columns: res.columnNames(),
      types: res.columnTypes().map((t) => t.toString()),
      rows: res.getRowsJS() as unknown[][],
    }
  }

  private viewsReady = false

  private async createViews(): Promise<void> {
    if (this.viewsReady) return
    const all = listDatasets(this.lakeDir)
    for (const kind of KINDS) {
      const schema = SCHEMAS[kind]
      const files = all
        .filter((d) => d.ds.kind === kind)
        .flatMap((d) => this.files(d.ds))
      const ident = ['exchange VARCHAR', 'symbol VARCHAR', ...(hasInterval(kind) ? ['interval VARCHAR'] : [])]
      const cols = [...ident, ...schema.columns.map((c) => `"${c.name}" ${c.type}`)]
      const table = `_empty_${kind}`
      await this.duck.conn.run(`CREATE OR REPLACE TEMP TABLE ${table} (${cols.join(', ')})`)
      const src = files.length ? `read_parquet([${files.map(sqlString).join(', ')}])` : table
      await this.duck.conn.run(
        `CREATE OR REPLACE TEMP VIEW ${kind} AS SELECT make_timestamp("${schema.time}") AS time, * FROM ${src}`,
      )
    }
    this.viewsReady = true
  }

  close(): void {
    this.duck.close()
  }
}

function nextMonth(us: number, delta: number): number {
  const d = new Date(Math.floor(us / 1000))
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + delta, 1) * 1000
}

/** Builds a dataset id from user input (`binance:BTCUSDT`, kind, interval). */
export function datasetId(kind: Kind, instrument: { exchange: DatasetId['exchange']; symbol: string }, interval?: string): DatasetId {
  if (hasInterval(kind)) {
    if (!interval) throw new UsageError(`Missing --interval: ${kind} need one, e.g. --interval 1m`)
    return { kind, ...instrument, interval: parseInterval(interval) }
  }
  return { kind, ...instrument }
}
