import { closeSync, fsyncSync, openSync, renameSync, writeSync, unlinkSync } from 'node:fs'
import { dirname } from 'node:path'
import { randomBytes } from 'node:crypto'

/** Writes a file atomically: temp file in the same folder, fsync, rename over the target, fsync the folder. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const fd = openSync(tmp, 'w', 0o644)
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

/** Short random id for file names. */
export function randomId(): string {
  return randomBytes(6).toString('hex')
}
