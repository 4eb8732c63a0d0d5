// Opens archive files as streams of decompressed CSV text: .zip (data.binance.vision), .csv.gz/.gz and .csv.
// Corruption is detected, not skipped: zip CRC32 and sizes are checked, gzip errors surface, and every
// failure names the file.

import { createReadStream, readFileSync, statSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { basename } from 'node:path'
import { promisify } from 'node:util'
import { createGunzip, crc32, gunzip } from 'node:zlib'
import type { Readable } from 'node:stream'
import { FatalError, UsageError } from '../errors.js'

export interface ArchiveEntry {
  /** Display name: the file, or `file.zip!entry.csv` */
  readonly name: string
  /** Decompressed CSV bytes */
  readonly stream: AsyncIterable<Buffer>
}

export interface OpenedArchive {
  readonly path: string
  /** Compressed bytes in the file, and how many were read so far (for progress) */
  readonly size: number
  bytesRead(): number
  entries(): AsyncIterable<ArchiveEntry>
}

export function corrupt(path: string, err: unknown): FatalError {
  const msg = err instanceof Error ? err.message : String(err)
  return new FatalError(`Corrupt or truncated archive ${path}: ${msg.split('\n')[0]}`, { cause: err })
}

/** Wraps a stream so that its errors become one corrupt-archive error naming the file. */
async function* guarded(path: string, s: AsyncIterable<Buffer>, check?: () => void): AsyncIterable<Buffer> {
  try {
    for await (const chunk of s) yield chunk
    check?.()
  } catch (err) {
    if (err instanceof FatalError) throw err
    throw corrupt(path, err)
  }
}

/** Gzip files up to this size are decompressed whole, ahead of time (see `preloadArchive`) */
const PRELOAD_MAX_BYTES = 64 << 20

const preloaded = new Map<string, Promise<Buffer>>()

/**
 * Starts decompressing a small .gz archive on a libuv thread, so that it is ready when `openArchive` reaches it:
 * an import calls this for the next file while it parses the current one (12 monthly kline files then decompress
 * on the other core instead of in turn). Larger files, zips and plain CSV stream as usual.
 */
export function preloadArchive(path: string): void {
  if (preloaded.has(path) || !path.toLowerCase().endsWith('.gz')) return
  let size: number
  try {
    size = statSync(path).size
  } catch {
    return
  }
  if (size > PRELOAD_MAX_BYTES) return
  // The compressed bytes are read here, at once: an asynchronous read goes on in steps that each wait for a turn
  // of the main thread, which a parse of the current file does not give, so the decompression started late
  // (measured). Large output chunks: with zlib's default 16 KB ones, the callbacks and the final concatenation on
  // the main thread cost more than the decompression saved
  let compressed: Buffer
  try {
    compressed = readFileSync(path)
  } catch {
    return
  }
  const p = promisify(gunzip)(compressed, { chunkSize: 8 << 20 })
  // Failures surface, naming the file, when the archive is opened; never as an unhandled rejection
  p.catch(() => undefined)
  preloaded.set(path, p)
}

/** Drops a preloaded archive that will not be opened (an import stopped early). */
export function forgetPreloaded(path?: string): void {
  if (path === undefined) preloaded.clear()
  else preloaded.delete(path)
}

export function openArchive(path: string): OpenedArchive {
  let size: number
  try {
    const st = statSync(path)
    if (!st.isFile()) throw new UsageError(`Invalid --archive: '${path}' is not a file`)
    size = st.size
  } catch (err) {
    if (err instanceof UsageError) throw err
    throw new UsageError(`Invalid --archive: '${path}' does not exist or cannot be read`)
  }
  let raw: Readable | undefined
  const lower = path.toLowerCase()
  const fileStream = () => {
    raw = createReadStream(path, { highWaterMark: 1 << 20 })
    return raw
  }
  const bytesRead = () => (raw as unknown as { bytesRead?: number } | undefined)?.bytesRead ?? 0
  if (lower.endsWith('.zip')) {
    let zipBytes = 0
    return { path, size, bytesRead: () => zipBytes, entries: () => zipEntries(path, (n) => (zipBytes = n)) }
  }
  const ready = preloaded.get(path)
  if (ready && lower.endsWith('.gz')) {
    preloaded.delete(path)
    let done = 0
    return {
      path,
      size,
      bytesRead: () => done,
      async *entries() {
        yield {
          name: basename(path),
          stream: guarded(
            path,
            (async function* () {
              const text = await ready
              done = size
              // Chunks of 1 MB, as the streaming path gives, so that progress and batching behave the same
              for (let at = 0; at < text.length; at += 1 << 20) yield text.subarray(at, at + (1 << 20))
            })(),
          ),
        }
      },
    }
  }
  if (lower.endsWith('.gz')) {
    return {
      path,
      size,
      bytesRead,
      async *entries() {
        yield { name: basename(path), stream: guarded(path, fileStream().pipe(createGunzip({ chunkSize: 1 << 20 }))) }
      },
    }
  }
  if (lower.endsWith('.csv')) {
    let done = 0
    return {
      path,
      size,
      bytesRead: () => done,
      async *entries() {
        yield { name: basename(path), stream: guarded(path, readReused(path, (n) => (done += n))) }
      },
    }
  }
  throw new UsageError(`Invalid --archive: '${path}'. Expected a .zip, .csv.gz, .gz or .csv file`)
}

/** Bytes per read of a plain file */
const READ_CHUNK = 1 << 20

/**
 * A plain file's bytes in chunks read into two buffers used in turn, the next read in flight while the consumer
 * handles the current chunk. Each chunk is valid only until the consumer asks for the next one (the CSV scanner
 * keeps nothing of it). A stream would read into a new buffer per chunk, and first touching new memory costs
 * about as much as reading the file from the page cache (measured on the 2-core VM of BENCHMARKS.md).
 */
async function* readReused(path: string, counted: (n: number) => void): AsyncIterable<Buffer> {
  const fh = await open(path, 'r')
  const bufs = [Buffer.allocUnsafeSlow(READ_CHUNK), Buffer.allocUnsafeSlow(READ_CHUNK)]
  let k = 0
  let pending: Promise<{ bytesRead: number }> | undefined = fh.read(bufs[0], 0, READ_CHUNK, null)
  try {
    for (;;) {
      const { bytesRead } = await pending
      pending = undefined
      if (bytesRead === 0) return
      counted(bytesRead)
      const cur = bufs[k]
      k ^= 1
      pending = fh.read(bufs[k], 0, READ_CHUNK, null)
      yield cur.subarray(0, bytesRead)
    }
  } finally {
    // A consumer that stops early must not close the file under a read still in flight
    if (pending) await pending.catch(() => undefined)
    await fh.close()
  }
}

async function* zipEntries(path: string, progress: (compressedBytes: number) => void): AsyncIterable<ArchiveEntry> {
  const yauzl = await import('yauzl')
  let zip: import('yauzl').ZipFile
  try {
    zip = await new Promise((resolve, reject) =>
      yauzl.open(path, { lazyEntries: true, autoClose: false, validateEntrySizes: true }, (err, z) =>
        err || !z ? reject(err ?? new Error('no zip')) : resolve(z),
      ),
    )
  } catch (err) {
    throw corrupt(path, err)
  }
  try {
    const entries: import('yauzl').Entry[] = []
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (e: import('yauzl').Entry) => {
        entries.push(e)
        zip.readEntry()
      })
      zip.on('end', () => resolve())
      zip.on('error', reject)
      zip.readEntry()
    }).catch((err) => {
      throw corrupt(path, err)
    })
    const csvs = entries.filter((e) => /\.csv$/i.test(e.fileName))
    if (csvs.length === 0) throw corrupt(path, new Error('no .csv entry inside'))
    let done = 0
    for (const e of csvs) {
      const stream = await new Promise<Readable>((resolve, reject) =>
        zip.openReadStream(e, (err, s) => (err || !s ? reject(err ?? new Error('no stream')) : resolve(s))),
      ).catch((err) => {
        throw corrupt(path, err)
      })
      let crc = 0
      let seen = 0
      const counted = async function* () {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          crc = crc32(chunk, crc)
          seen += chunk.length
          progress(done + Math.round((e.compressedSize * seen) / Math.max(1, e.uncompressedSize)))
          yield chunk
        }
      }
      yield {
        name: `${basename(path)}!${e.fileName}`,
        stream: guarded(path, counted(), () => {
          if ((crc >>> 0) !== (e.crc32 >>> 0)) throw corrupt(path, new Error(`CRC32 mismatch in ${e.fileName}`))
        }),
      }
      done += e.compressedSize
    }
  } finally {
    zip.close()
  }
}
