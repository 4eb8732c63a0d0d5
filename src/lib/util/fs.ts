import { closeSync, fsyncSync, openSync, renameSync, writeSync, unlinkSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { dirname } from 'node:path'
import { randomBytes } from 'node:crypto'

/**
 * Writes a file atomically: temp file in the same folder, fsync, rename over the target, fsync the folder.
 * `mode` 0o600 keeps secrets (upload URLs, tokens) private from the first byte.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const fd = openSync(tmp, 'w', mode)
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data)
    fsyncSync(fd)
  } catch (err) {
    closeSync(fd)
    try {
      unlinkSync(tmp)
    } catch {
      // The temp file may not exist; the original error matters
    }
    throw err
  }
  closeSync(fd)
  renameSync(tmp, path)
  fsyncDir(dirname(path))
}

/** Flushes a folder's entries (renames) to disk. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined
  try {
    fd = openSync(dir, 'r')
    fsyncSync(fd)
  } catch {
    // Some filesystems refuse fsync on folders; the rename is still atomic there
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** `fsyncDir` for many folders at once: the flushes overlap on the I/O threads instead of waiting in turn. */
export async function fsyncDirs(dirs: readonly string[]): Promise<void> {
  // As in fsyncDir: some filesystems refuse fsync on folders
  await Promise.all([...new Set(dirs)].map((dir) => fsyncFiles([dir]).catch(() => undefined)))
}

/**
 * Flushes files' data to disk, several at once on the I/O threads. For files another library wrote (DuckDB's COPY
 * does not fsync): a manifest or a rename may only name data that is on disk, or a power cut could leave it naming
 * an empty file. An error is real (an I/O failure) and is thrown.
 */
export async function fsyncFiles(paths: readonly string[]): Promise<void> {
  await Promise.all(
    paths.map(async (path) => {
      const fh = await open(path, 'r')
      try {
        await fh.sync()
      } finally {
        await fh.close()
      }
    }),
  )
}

/** Short random id for file names. */
export function randomId(): string {
  return randomBytes(6).toString('hex')
}

/** Small seeded PRNG (mulberry32), uniform in [0, 1): deterministic fault plans, generated inputs, tests. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
