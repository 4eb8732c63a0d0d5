// Snapshot-line input: a JSONL file made from real book states (the spot recording replayed through the book
// engine, its top 20 written out in the line formats convert-lob reads) must come back value for value

import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { createBookSync } from '../../src/lib/book/index.js'
import { mapBinanceMessage, parseBinanceDepthSnapshot } from '../../src/lib/exchanges/binance/stream.js'
import { readRecordingSync } from '../../src/lib/replay/recording.js'
import { isoUs } from '../../src/lib/time.js'
import { cli, tempDir } from '../helpers.js'
import { convert, readParquet, SPOT } from './helpers.js'

interface State {
  /** Receipt time, µs */
  readonly local: number
  readonly u: number
  readonly bids: [number, number][]
  readonly asks: [number, number][]
}

/** Book states of the spot recording after every 5th applied diff, top 20. */
function bookStates(limit = Infinity): State[] {
  const sync = createBookSync('binance', 'BTCUSDT')
  const out: State[] = []
  let n = 0
  for (const f of readRecordingSync(SPOT)) {
    if (out.length >= limit) break
    if (f.src === 'rest') {
      sync.onSnapshot(parseBinanceDepthSnapshot(JSON.parse(f.text), 'binance', 'BTCUSDT', f.localTimestamp))
      continue
    }
    if (!f.text.includes('@depth@')) continue
    for (const r of mapBinanceMessage('binance', JSON.parse(f.text), f.localTimestamp)) {
      if (r.type !== 'book_change') continue
      const step = sync.onDiff(r)
      if (sync.state !== 'synced' || step.applied.length === 0 || ++n % 5 !== 0) continue
      const top = sync.book.top(20)
      out.push({ local: f.localTimestamp, u: sync.lastUpdateId as number, bids: top.bids.map((l) => [l.price, l.amount]), asks: top.asks.map((l) => [l.price, l.amount]) })
    }
  }
  return out
}

const pairs = (ls: [number, number][], fmt: (x: number) => string, quote: boolean) =>
  '[' + ls.map(([p, q]) => (quote ? `["${fmt(p)}","${fmt(q)}"]` : `[${fmt(p)},${fmt(q)}]`)).join(',') + ']'

/**
 * One line per state, cycling through the accepted forms. Returns the line text and the time convert-lob must
 * read from it (ms loses the µs digits).
 */
function line(s: State, k: number): { text: string; ts: number } {
  switch (k % 4) {
    case 0: {
      const ms = Math.floor(s.local / 1000)
      return { text: `{"ts":${ms},"bids":${pairs(s.bids, (x) => x.toFixed(8), true)},"asks":${pairs(s.asks, (x) => x.toFixed(8), true)}}`, ts: ms * 1000 }
    }
    case 1:
      // hftbacktest-style receipt prefix in ns, Binance @depth20 payload in the combined-stream wrapper
      return {
        text: `${s.local}123 {"stream":"btcusdt@depth20@100ms","data":{"lastUpdateId":${s.u},"bids":${pairs(s.bids, String, true)},"asks":${pairs(s.asks, String, true)}}}`,
        ts: s.local,
      }
    case 2:
      return { text: `{"ts":"${isoUs(s.local).replace(/(\.\d{3})Z$/, '$1000Z')}","bids":${pairs(s.bids, String, false)},"asks":${pairs(s.asks, String, false)}}`, ts: s.local }
    default:
      // Python json.dumps spacing, µs
      return { text: `{"ts": ${s.local}, "bids": ${pairs(s.bids, String, true).replace(/,/g, ', ')}, "asks": ${pairs(s.asks, String, true).replace(/,/g, ', ')}}`, ts: s.local }
  }
}

describe('convert-lob on depth-snapshot lines', () => {
  const states = bookStates()

  it('reads every line format back to the same values (raw: one row per snapshot)', async () => {
    const dir = tempDir()
    const expected: { ts: number; s: State }[] = []
    const text: string[] = []
    states.forEach((s, k) => {
      const l = line(s, k)
      text.push(l.text)
      expected.push({ ts: l.ts, s })
      // Lines that are not snapshots are skipped, blank lines ignored
      if (k === 10) text.push('', '{"result":null,"id":1}', `${s.local}000 {"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1.0","q":"1.0","T":1,"m":true}}`)
    })
    const file = join(dir, 'book.jsonl.gz')
    writeFileSync(file, gzipSync(text.join('\n') + '\n'))
    const r = convert([file, '--out', join(dir, 'out'), '--instrument', 'binance:BTCUSDT'], dir)
    expect(r.validation.badLines).toBe(0)
    expect(r.validation.skippedLines).toBe(2)
    expect(r.rows).toBe(states.length)
    const t = await readParquet(r.shards.map((s) => join(r.out, s.file)))
    expect(t.rows.length).toBe(expected.length)
    for (let i = 0; i < expected.length; i++) {
      const row = t.rows[i]
      const { ts, s } = expected[i]
      expect(row[0]).toBe(ts)
      for (let k = 0; k < 20; k++) {
        expect([row[1 + k], row[21 + k], row[41 + k], row[61 + k]]).toEqual([s.bids[k][0], s.bids[k][1], s.asks[k][0], s.asks[k][1]])
      }
      expect(row[81]).toBe((s.bids[0][0] + s.asks[0][0]) / 2)
      expect(row[82]).toBe(s.asks[0][0] - s.bids[0][0])
    }
  })

  it('resamples with --every to the newest snapshot at or before each instant, and writes NULL for missing levels', async () => {
    const dir = tempDir()
    const some = states.slice(0, 400)
    const text = some.map((s) => `{"ts":${s.local},"bids":${pairs(s.bids.slice(0, 3), String, true)},"asks":${pairs(s.asks, String, true)}}`)
    const file = join(dir, 'book.jsonl')
    writeFileSync(file, text.join('\n') + '\n')
    const r = convert([file, '--out', join(dir, 'out'), '--every', '1s', '--levels', '5'], dir)
    const t = await readParquet(r.shards.map((s) => join(r.out, s.file)))
    const first = Math.ceil(some[0].local / 1e6) * 1e6
    const last = Math.floor(some[some.length - 1].local / 1e6) * 1e6
    expect(t.rows.length).toBe((last - first) / 1e6 + 1)
    for (const row of t.rows) {
      const T = row[0] as number
      expect(T % 1_000_000).toBe(0)
      const s = [...some].reverse().find((x) => x.local <= T) as State
      expect(row.slice(1, 6)).toEqual([s.bids[0][0], s.bids[1][0], s.bids[2][0], null, null])
      expect(row.slice(11, 16)).toEqual(s.asks.slice(0, 5).map((l) => l[0]))
    }
  })

  it('reports a bad line with file:line, and --strict fails on it with exit 1 and writes nothing', async () => {
    const dir = tempDir()
    const text = states.slice(0, 300).map((s, k) => line(s, k).text)
    text[149] = text[149].slice(0, 200) // line 150: cut short
    text[209] = text[209].replace(/"bids":\[\["[0-9.]+"/, '"bids":[["6l837.63"') // line 210: not a number
    const file = join(dir, 'bad.jsonl')
    writeFileSync(file, text.join('\n') + '\n')
    // Small chunks: the lines are numbered across many chunks dealt to two parsers
    const small = { MERCURY_LOB_CHUNK_BYTES: '20000' }
    const r = convert([file, '--out', join(dir, 'out'), '--threads', '2'], dir, small)
    expect(r.rows).toBe(298)
    expect(r.validation.badLines).toBe(2)
    expect(r.validation.problems.map((p) => [p.file, p.line])).toEqual([
      [file, 150],
      [file, 210],
    ])
    expect(r.validation.problems[1].reason).toMatch(/bids\[0\] price '6l837.63' is not a decimal/)

    const strictOut = join(dir, 'strict')
    const s = cli(['convert-lob', file, '--out', strictOut, '--strict', '--threads', '2'], dir, small)
    expect(s.code).toBe(1)
    expect(s.stderr.trim().split('\n')).toHaveLength(1)
    expect(s.stderr).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:150: not JSON`))
    expect(existsSync(strictOut)).toBe(false)
  })

  it('fails with exit 1 and writes nothing when the input gives no rows at all', () => {
    const dir = tempDir()
    const notes = join(dir, 'notes.md')
    writeFileSync(notes, '# notes\n\nnot a book\n')
    const empty = join(dir, 'empty.jsonl')
    writeFileSync(empty, '')
    // A recording cut before its REST snapshot: diffs only, so the book never syncs
    const diffs = join(dir, 'diffs.txt')
    const head = readRecordingSync(SPOT).filter((f) => f.src !== 'rest').slice(0, 50)
    writeFileSync(diffs, head.map((f) => `${f.localTimestamp * 1000} ${f.text}`).join('\n') + '\n')
    for (const [file, msg] of [
      [notes, /No rows to write: 2 of 3 line\(s\) are not depth snapshots, first .*notes\.md:1: not JSON/],
      [empty, /No rows to write: the input has no lines/],
      [diffs, /No rows to write: the book never synced: the 50 frame\(s\) hold no depth snapshot/],
    ] as const) {
      const out = join(dir, 'out')
      const r = cli(['convert-lob', file, '--out', out], dir)
      expect({ code: r.code, stderr: r.stderr.trim() }).toEqual({ code: 1, stderr: expect.stringMatching(msg) })
      expect(existsSync(out)).toBe(false)
    }
  })

  it('drops crossed books and out-of-order or duplicate times, and counts empty sides', async () => {
    const dir = tempDir()
    const s = states.slice(0, 20)
    const text = s.map((x) => `{"ts":${x.local},"bids":${pairs(x.bids, String, true)},"asks":${pairs(x.asks, String, true)}}`)
    text[5] = `{"ts":${s[5].local},"bids":${pairs(s[5].bids, String, true)},"asks":[["${s[5].bids[0][0]}","1"]]}` // crossed
    text[8] = text[7] // duplicate time
    text[12] = `{"ts":${s[2].local},"bids":[],"asks":[]}` // back in time
    text[15] = `{"ts":${s[15].local},"bids":[],"asks":${pairs(s[15].asks, String, true)}}` // no bids
    const file = join(dir, 'mixed.jsonl')
    writeFileSync(file, text.join('\n') + '\n')
    const r = convert([file, '--out', join(dir, 'out'), '--threads', '1'], dir)
    // About one line per chunk: every drop happens across a chunk boundary, on the consuming side
    const tiny = convert([file, '--out', join(dir, 'tiny'), '--threads', '2'], dir, { MERCURY_LOB_CHUNK_BYTES: '1000' })
    for (const x of [r, tiny]) {
      expect(x.rows).toBe(17)
      expect(x.validation.crossedBooks).toBe(1)
      expect(x.validation.duplicateTimestamps).toBe(1)
      expect(x.validation.outOfOrder).toBe(1)
      expect(x.validation.emptyBidRows).toBe(1)
      expect(x.validation.dropped.map((p) => p.line)).toEqual([6, 9, 13])
    }
    expect(tiny.shards[0].sha256).toBe(r.shards[0].sha256)
    const t = await readParquet(r.shards.map((x) => join(r.out, x.file)))
    const noBids = t.rows.find((row) => row[0] === s[15].local) as (number | null)[]
    expect(noBids[1]).toBeNull()
    expect(noBids[81]).toBeNull()
  })
})
