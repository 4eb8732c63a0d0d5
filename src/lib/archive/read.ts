// Reading one archive: its entries, their rows parsed and validated into column batches, the bad rows found, and
// progress, as a stream of events the import stages in order. (Reading several files at once on worker threads was
// tried and measured slower on two cores: the workers' start-up and the extra thread cost more CPU than they saved.)

import type { Exchange } from '../consts.js'
import { MAX_ARCHIVE_FIELDS, parserFor, type RowProblem } from '../exchanges/binance/archive.js'
import type { StageBatch } from '../lake/writer.js'
import { NumericCsvScanner } from './csv.js'
import type { ArchiveSpec } from './infer.js'
import { openArchive, preloadArchive } from './source.js'

export type ReadEvent =
  | { readonly type: 'entry'; readonly name: string }
  /** Rows of the current entry (`source` is set by the importer); `implied` is the exchange the file's shape names */
  | { readonly type: 'batch'; readonly batch: StageBatch; readonly implied: Exchange | undefined }
  | { readonly type: 'entryEnd'; readonly problems: readonly RowProblem[] }
  | { readonly type: 'progress'; readonly bytesDone: number; readonly bytesTotal: number; readonly rows: number }
  | { readonly type: 'end'; readonly badRows: number; readonly size: number }

const PROGRESS_MS = 100

/** Reads an archive in this thread; `next`, if given, is decompressed ahead meanwhile (see preloadArchive). */
export async function* readArchive(spec: ArchiveSpec, next?: string): AsyncGenerator<ReadEvent> {
  // A small .gz is decompressed whole on a libuv thread: this file's too, if nothing started it earlier
  preloadArchive(spec.path)
  const archive = openArchive(spec.path)
  if (next !== undefined) preloadArchive(next)
  const parser = parserFor(spec.kind, spec.interval)
  let rows = 0
  let last = 0
  const take = (): ReadEvent => {
    rows += parser.batch.rows
    return { type: 'batch', batch: parser.batch.take(-1), implied: parser.impliedExchange }
  }
  for await (const entry of archive.entries()) {
    yield { type: 'entry', name: entry.name }
    const scanner = new NumericCsvScanner(MAX_ARCHIVE_FIELDS, (v, n, line, text) => parser.row(v, n, line, text))
    const before = parser.problems.length
    for await (const chunk of entry.stream) {
      scanner.push(chunk)
      if (parser.batch.full || parser.batch.rows > 0.75 * parser.batch.capacity) yield take()
      const now = performance.now()
      if (now - last > PROGRESS_MS) {
        last = now
        yield { type: 'progress', bytesDone: archive.bytesRead(), bytesTotal: archive.size, rows: rows + parser.batch.rows }
      }
    }
    scanner.end()
    if (parser.batch.rows > 0) yield take()
    yield { type: 'entryEnd', problems: parser.problems.slice(before) }
  }
  yield { type: 'end', badRows: parser.badRows, size: archive.size }
}
