// Reads the real recordings under tests/fixtures/recordings for the collect tests (kept independent of the
// replay reader in src/lib/replay so these tests pin the parsers and the book engine only)

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { FIXTURES } from '../helpers.js'

export const RECORDINGS = join(FIXTURES, 'recordings')

export interface Frame {
  /** Receipt time, µs */
  readonly local: number
  readonly msg: unknown
  /** REST url for a REST body (cryptofeed captures), undefined for a WebSocket frame */
  readonly url?: string
}

function lines(path: string): string[] {
  return gunzipSync(readFileSync(path)).toString('utf8').split('\n').filter((l) => l.length > 0)
}

/** hftbacktest collector format: `<local ns or µs> <json>` per line. */
export function readHftbacktest(name: string): Frame[] {
  return lines(join(RECORDINGS, 'hftbacktest', name)).map((l) => {
    const sp = l.indexOf(' ')
    const t = Number(l.slice(0, sp))
    // 19 digits are ns (2024 files), 16 digits µs (2023 files)
    return { local: t > 1e17 ? Math.floor(t / 1000) : t, msg: JSON.parse(l.slice(sp + 1)) }
  })
}

/** cryptofeed capture: `ts: json` received frames and `https://… -> ts: body` REST bodies; opens and sends skipped. */
export function readCryptofeed(name: string): Frame[] {
  const out: Frame[] = []
  for (const l of lines(join(RECORDINGS, 'cryptofeed', name))) {
    if (l.startsWith('wss://')) continue
    let url: string | undefined
    let rest = l
    if (l.startsWith('http')) {
      const arrow = l.indexOf(' -> ')
      url = l.slice(0, arrow)
      rest = l.slice(arrow + 4)
    }
    const colon = rest.indexOf(': ')
    out.push({ local: Math.round(Number(rest.slice(0, colon)) * 1e6), msg: JSON.parse(rest.slice(colon + 2)), url })
  }
  return out
}

/** Merges frames from several captures by receipt time (stable for equal times). */
export function merge(...sources: Frame[][]): Frame[] {
  return sources.flat().map((f, i) => ({ f, i })).sort((a, b) => a.f.local - b.f.local || a.i - b.i).map((x) => x.f)
}

export interface FixtureFrame {
  readonly source: string
  readonly exchange: string
  readonly frame: unknown
  /** Why the frame must map to no record */
  readonly emitsNothing?: string
  /** The FeedControl event it must map to */
  readonly control?: string
  /** Why the frame must throw */
  readonly throws?: string
  /** Symbol for REST bodies that do not name it */
  readonly symbol?: string
}

/** Real frames stored under tests/fixtures/<venue>/ws_<channel>.json. */
export function fixture(venue: 'binance' | 'coinbase', name: string): FixtureFrame[] {
  return (JSON.parse(readFileSync(join(FIXTURES, venue, name), 'utf8')) as { frames: FixtureFrame[] }).frames
}
