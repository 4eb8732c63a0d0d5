// `backfill --archive`: archives -> validated rows -> staged -> one commit per dataset. Nothing reaches the lake
// until every file has been read and validated, so a rejected import leaves the lake as it was.

import { existsSync, readdirSync, rmSync } from 'node:fs'
import { DataError, UsageError, type DataProblem } from '../errors.js'
import { LakeWriter, type CommitResult } from '../lake/writer.js'
import { datasetLabel, type DatasetId } from '../lake/schema.js'
import { tmpRoot } from '../lake/duck.js'
import { logger } from '../log.js'
import { expandGlob } from '../util/glob.js'
import { inferArchive, type ArchiveOverrides, type ArchiveSpec } from './infer.js'
import { readArchive } from './read.js'
import { forgetPreloaded } from './source.js'

const log = logger('mercury:backfill:archive')

/**
 * Memory an import may hold rows in, all datasets together (MERCURY_IMPORT_HOLD_MB, default 1024; 0 turns holding off): rows with keys in order
 * for partitions new to the lake are written straight to Parquet from there; beyond it, or for anything else
 * (re-imports, overlaps, files out of order), rows go through DuckDB's staging table, which spills to disk.
 */
const IMPORT_HOLD_BYTES = Number(process.env.MERCURY_IMPORT_HOLD_MB ?? 1024) * 2 ** 20

export interface ImportProgress {
  readonly file: string
  readonly fileIndex: number
  readonly files: number
  readonly bytesDone: number
  readonly bytesTotal: number
  readonly rows: number
  /** Set on the last report of a file */
  readonly fileDone: boolean
}

export interface ImportOptions extends ArchiveOverrides {
  readonly lakeDir: string
  readonly patterns: readonly string[]
  readonly skipBadRows?: boolean
  /** Memory to hold rows in, all datasets together (default MERCURY_IMPORT_HOLD_MB); 0 stages every row in DuckDB */
  readonly holdBytes?: number
  readonly onProgress?: (p: ImportProgress) => void
}

export interface FileReport {
  readonly file: string
  readonly dataset: DatasetId
  readonly rows: number
  readonly badRows: number
  readonly bytes: number
  readonly seconds: number
}

export interface ImportReport {
  readonly files: readonly FileReport[]
  readonly commits: readonly CommitResult[]
  readonly rowsRead: number
  readonly rowsWritten: number
  readonly badRows: number
  /** First bad rows (skipped with --skip-bad-rows) */
  readonly problems: readonly DataProblem[]
  readonly seconds: number
}

/** Expands patterns into archive paths, failing on patterns that match nothing. */
export function resolveArchives(patterns: readonly string[]): string[] {
  const out: string[] = []
  for (const p of patterns) {
    const matches = expandGlob(p)
    if (matches.length === 0 || (matches.length === 1 && matches[0] === p && !existsSync(p))) {
      throw new UsageError(`Invalid --archive: '${p}' matches no file`)
    }
    out.push(...matches)
  }
  return [...new Set(out)]
}

function describe(p: DataProblem): string {
  return `${p.file}:${p.line}: ${p.reason}`
}

/** Imports data.binance.vision archives into the lake. */
export async function importArchives(opts: ImportOptions): Promise<ImportReport> {
  const started = performance.now()
  const paths = resolveArchives(opts.patterns)
  const specs: ArchiveSpec[] = paths.map((p) => inferArchive(p, opts))
  const sources: string[] = []
  const files: FileReport[] = []
  const problems: DataProblem[] = []
  let badRows = 0
  let rowsRead = 0
  const lakeExisted = existsSync(opts.lakeDir)
  const writer = await LakeWriter.open(opts.lakeDir, { holdBytes: opts.holdBytes ?? IMPORT_HOLD_BYTES })
  try {
    for (let fi = 0; fi < specs.length; fi++) {
      const spec = specs[fi]
      const t0 = performance.now()
      const events = readArchive(spec, specs[fi + 1]?.path)
      let ds: DatasetId | undefined
      let fileRows = 0
      let fileBad = 0
      let size = 0
      let source = -1
      for await (const ev of events) {
        if (ev.type === 'batch') {
          ds ??= {
            kind: spec.kind,
            exchange: spec.exchange ?? ev.implied ?? 'binance',
            symbol: spec.symbol,
            ...(spec.interval ? { interval: spec.interval } : {}),
          }
          fileRows += ev.batch.rows
          await writer.stage(ds, { ...ev.batch, source })
        } else if (ev.type === 'entry') {
          source = sources.length
          sources.push(ev.name)
        } else if (ev.type === 'entryEnd') {
          for (const p of ev.problems) problems.push({ file: sources[source], line: p.line, reason: `${p.reason}: ${p.text}` })
        } else if (ev.type === 'progress') {
          opts.onProgress?.({
            file: spec.path,
            fileIndex: fi,
            files: specs.length,
            bytesDone: ev.bytesDone,
            bytesTotal: ev.bytesTotal,
            rows: rowsRead + ev.rows,
            fileDone: false,
          })
        } else {
          fileBad = ev.badRows
          size = ev.size
        }
      }
      badRows += fileBad
      rowsRead += fileRows
      if (!ds) {
        if (fileBad === 0) log.warn(`${spec.path} holds no rows`)
        ds = { kind: spec.kind, exchange: spec.exchange ?? 'binance', symbol: spec.symbol, interval: spec.interval }
      }
      files.push({
        file: spec.path,
        dataset: ds,
        rows: fileRows,
        badRows: fileBad,
        bytes: size,
        seconds: (performance.now() - t0) / 1000,
      })
      opts.onProgress?.({
        file: spec.path,
        fileIndex: fi,
        files: specs.length,
        bytesDone: size,
        bytesTotal: size,
        rows: rowsRead,
        fileDone: true,
      })
    }
    // Checks that need a whole file: duplicate keys, time going backwards in id order
    for (const ds of writer.datasets()) {
      const found = await writer.problems(ds, sources)
      if (found.length === 0) continue
      badRows += found.length
      problems.push(...found)
      if (opts.skipBadRows) {
        await writer.dropRows(
          ds,
          found.map((p) => ({ source: sources.indexOf(p.file), line: p.line })),
        )
      }
    }
    if (badRows > 0 && !opts.skipBadRows) {
      const first = problems[0]
      const byFile = new Set(problems.map((p) => p.file))
      throw new DataError(
        `${describe(first)}` +
          (badRows > 1 ? ` (${badRows} bad rows in ${byFile.size} file${byFile.size > 1 ? 's' : ''})` : '') +
          `; nothing was imported. Fix the file or pass --skip-bad-rows to import the valid rows`,
        first.file,
        problems,
      )
    }
    const commits: CommitResult[] = []
    for (const ds of writer.datasets()) {
      log.info(`committing ${datasetLabel(ds)}`)
      commits.push(await writer.commit(ds))
    }
    return {
      files,
      commits,
      rowsRead,
      rowsWritten: commits.reduce((a, c) => a + c.rowsWritten, 0),
      badRows,
      problems: problems.slice(0, 100),
      seconds: (performance.now() - started) / 1000,
    }
  } finally {
    forgetPreloaded()
    await writer.settle()
    writer.close()
    // A failed first import must not leave an empty lake skeleton behind
    const tmp = tmpRoot(opts.lakeDir)
    rmSync(tmp, { recursive: true, force: true })
    if (!lakeExisted && existsSync(opts.lakeDir) && readdirSync(opts.lakeDir).length === 0) {
      rmSync(opts.lakeDir, { recursive: true, force: true })
    }
  }
}
