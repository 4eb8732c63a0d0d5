// One writer per lake: an exclusive lock file holding the writer's pid. A lock left by a dead process
// (kill -9) is taken over; readers never look at it.

import { closeSync, openSync, readFileSync, unlinkSync, writeSync, mkdirSync } from 'node:fs'
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

/** Takes the lake's writer lock or throws naming the process that holds it. */
export function acquireWriterLock(lakeDir: string): LakeLock {
  mkdirSync(lakeDir, { recursive: true })
  const path = join(lakeDir, '.writer.lock')
  const me = `${process.pid} ${hostname()}\n`
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644)
      writeSync(fd, me)
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
