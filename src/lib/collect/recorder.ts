// `collect --record`: every raw frame and REST body with its receipt time, as gzip JSON lines (the format
// `convert-lob`, `replay-server` and the tests read back). The gzip stream is sync-flushed every second, so a
// killed collector leaves a readable file that ends at most a second early.

import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs'
import { dirname } from 'node:path'
import { createGzip, constants, type Gzip } from 'node:zlib'
import { formatRecordLine, type FrameSource } from '../replay/recording.js'

export class Recorder {
  private readonly gz: Gzip
  private readonly out: WriteStream
  private readonly timer: NodeJS.Timeout
  private dirty = false
  frames = 0
  private error: Error | undefined

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true })
    this.out = createWriteStream(path, { flags: 'wx' })
    this.gz = createGzip({ level: 6 })
    this.gz.pipe(this.out)
    const fail = (err: Error) => {
      this.error ??= err
    }
    this.out.on('error', fail)
    this.gz.on('error', fail)
    this.timer = setInterval(() => {
      if (!this.dirty) return
      this.dirty = false
      this.gz.flush(constants.Z_SYNC_FLUSH)
    }, 1000)
    this.timer.unref()
  }

  /** The first write error (a full disk), if any. */
  get failure(): Error | undefined {
    return this.error
  }

  write(localTimestamp: number, src: FrameSource, url: string | undefined, text: string): void {
    if (this.error) return
    this.gz.write(formatRecordLine({ localTimestamp, src, url, text }) + '\n')
    this.frames++
    this.dirty = true
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    await new Promise<void>((resolve) => {
      this.out.once('close', resolve)
      this.out.once('error', () => resolve())
      this.gz.end()
    })
    if (this.error) throw this.error
  }
}
