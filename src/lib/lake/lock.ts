// One writer per lake: an exclusive lock file holding the writer's pid. A lock left by a dead process
// (kill -9) is taken over; readers never look at it.

import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { hostname } from 'node:os'
import { FatalError } from '../errors.js'

export interface LakeLock {
  release(): void
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** A lock file without a complete pid line older than this was left by a writer that died taking it */
const STALE_PARTIAL_MS = 5000

/** Takes the lake's writer lock or throws naming the process that holds it. */
export function acquireWriterLock(lakeDir: string): LakeLock {
  mkdirSync(lakeDir, { recursive: true })
  const path = join(lakeDir, '.writer.lock')
  const me = `${process.pid} ${hostname()}\n`
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644)
      try {
        if (writeSync(fd, me) !== Buffer.byteLength(me)) throw new Error(`short write of ${path}`)
      } catch (err) {
        // A full disk can create the file but not fill it: leave no empty lock behind
        closeSync(fd)
        try {
          unlinkSync(path)
        } catch {
          // Gone already
        }
        throw err
      }
      closeSync(fd)
      let released = false
      return {
        release() {
          if (released) return
          released = true
          try {
            if (readFileSync(path, 'utf8') === me) unlinkSync(path)
          } catch {
            // Already gone: nothing to release
          }
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      let holder = ''
      try {
        holder = readFileSync(path, 'utf8')
      } catch {
        continue
      }
      const [pidText, host] = holder.trim().split(' ')
      const pid = Number(pidText)
      if (!holder.endsWith('\n') || !Number.isInteger(pid) || !host) {
        // Written only in part: a writer between open and write, or one that died there. Taken over once it is
        // older than any such moment can last
        let age = 0
        try {
          age = Date.now() - statSync(path).mtimeMs
        } catch {
          continue
        }
        if (age > STALE_PARTIAL_MS) {
          try {
            unlinkSync(path)
          } catch {
            // Another process took it over first
          }
          continue
        }
        throw new FatalError(`The lake at ${lakeDir} is being locked by another writer right now; try again (lock file ${path})`)
      }
      if (host === hostname() && Number.isInteger(pid) && !alive(pid)) {
        // Stale lock from a killed writer
        try {
          unlinkSync(path)
        } catch {
          // Another process took it over first
        }
        continue
      }
      throw new FatalError(
        `The lake at ${lakeDir} is being written by process ${pidText} on ${host ?? 'unknown host'}; wait for it to finish (lock file ${path})`,
      )
    }
  }
  throw new FatalError(`Could not take the writer lock ${path}`)
}
