// Recording readers against the real captures in tests/fixtures/recordings (see ../shared/data/real/SOURCES.md)

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { DataError } from '../../src/lib/errors.js'
import {
  detectFileFormat,
  detectFormat,
  formatRecordLine,
  readRecording,
  readRecordingSync,
  secondsToMicros,
  snapshotSymbol,
  streamName,
  type RecordedFrame,
} from '../../src/lib/replay/recording.js'

const REC = 'tests/fixtures/recordings'
const SPOT = `${REC}/hftbacktest/spot-btcusdt_20240808.gz`
const USDM = `${REC}/hftbacktest/usdm-btcusdt_20230404.dat.gz`
const CF = (name: string) => `${REC}/cryptofeed/${name}.txt.gz`

function countBy(frames: readonly RecordedFrame[], key: (f: RecordedFrame) => string | undefined): Record<string, number> {
  const out: Record<string, number> = {}
  for (const f of frames) {
    const k = key(f) ?? '-'
    out[k] = (out[k] ?? 0) + 1
  }
  return out
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'mercury-rec-'))
}

describe('hftbacktest', () => {
  it('reads the 2024 spot file: ns timestamps, 41,249 lines, one REST snapshot', async () => {
    expect(detectFileFormat(SPOT)).toBe('hftbacktest')
    const frames = readRecordingSync(SPOT)
    expect(frames).toHaveLength(41_249)
    expect(frames[frames.length - 1].line).toBe(41_249)
    expect(countBy(frames, (f) => f.src)).toEqual({ ws: 41_248, rest: 1 })
    expect(countBy(frames, (f) => (f.src === 'ws' ? streamName(f.text) : 'rest'))).toEqual({
      'btcusdt@depth@100ms': 3451,
      'btcusdt@trade': 9757,
      'btcusdt@bookTicker': 28_040,
      rest: 1,
    })
    // 1723161253937085768 ns, truncated to µs
    expect(frames[0].localTimestamp).toBe(1_723_161_253_937_085)
    expect(frames[0].url).toBeUndefined()
    const i = frames.findIndex((f) => f.src === 'rest')
    const snap = JSON.parse(frames[i].text) as { lastUpdateId: number; bids: unknown[]; asks: unknown[] }
    expect(snap.lastUpdateId).toBe(50_093_239_218)
    expect(snap.bids).toHaveLength(1000)
    expect(frames[i].url).toBeUndefined()
    expect(snapshotSymbol(frames, i)).toBe('BTCUSDT')
    // The async reader yields the same frames
    let n = 0
    let lastTs = 0
    for await (const f of readRecording(SPOT)) {
      expect(f.line).toBe(frames[n].line)
      lastTs = f.localTimestamp
      n++
    }
    expect(n).toBe(41_249)
    expect(lastTs).toBe(frames[frames.length - 1].localTimestamp)
  })

  it('reads the 2023 usdm file: µs timestamps and a Python-style snapshot', () => {
    const frames = readRecordingSync(USDM)
    expect(frames).toHaveLength(13_384)
    expect(frames[0].localTimestamp).toBe(1_680_652_700_423_575)
    const rest = frames.filter((f) => f.src === 'rest')
    expect(rest).toHaveLength(1)
    expect(rest[0].text.startsWith('{"lastUpdateId": 2710246765483, "E": 1680652700590')).toBe(true)
    expect(countBy(frames, (f) => (f.src === 'ws' ? streamName(f.text) : undefined))['btcusdt@markPrice@1s']).toBe(99)
  })
})

describe('cryptofeed', () => {
  it('converts float seconds to µs exactly, rounding past the 6th decimal', () => {
    expect(secondsToMicros('1633998512.0633569')).toBe(1_633_998_512_063_357)
    expect(secondsToMicros('1626992741.06217')).toBe(1_626_992_741_062_170)
    expect(secondsToMicros('1618677816.8434298')).toBe(1_618_677_816_843_430)
    expect(secondsToMicros('1633998512.86375')).toBe(1_633_998_512_863_750)
    expect(secondsToMicros('1633998512.0000004')).toBe(1_633_998_512_000_000)
    expect(secondsToMicros('1633998512')).toBe(1_633_998_512_000_000)
    // Float multiplication gets some of these wrong; the string arithmetic must not
    for (const s of ['1626992741.06217', '1633998511.159679', '1626992741.3105128']) {
      const [a, b] = s.split('.')
      const digits = (b + '0000000').slice(0, 7)
      const expected = Number(a) * 1e6 + Number(digits.slice(0, 6)) + (Number(digits[6]) >= 5 ? 1 : 0)
      expect(secondsToMicros(s)).toBe(expected)
    }
  })

  it('reads a ws capture: open event, received frames on the opened URL', () => {
    const f = CF('BINANCE.ws.1.0')
    expect(detectFileFormat(f)).toBe('cryptofeed')
    const frames = readRecordingSync(f)
    expect(frames[0].src).toBe('open')
    expect(frames[0].url).toMatch(/^wss:\/\/stream\.binance\.com:9443\/stream\?streams=nknusdt@depth@100ms\//)
    expect(frames[0].localTimestamp).toBe(1_633_998_511_159_679)
    expect(frames[1]).toMatchObject({ src: 'ws', url: frames[0].url, localTimestamp: 1_633_998_512_063_357, line: 2 })
    expect(frames[1].text.startsWith('{"stream":"nknusdt@depth@100ms","data":{"e":"depthUpdate","E":1633998512068')).toBe(true)
    const streams = countBy(frames, (f) => (f.src === 'ws' ? streamName(f.text)?.replace(/^[a-z]+@/, '') : f.src))
    expect(streams['depth@100ms']).toBe(177)
    expect(streams['bookTicker']).toBe(84)
    expect(streams['kline_1m']).toBe(2)
    expect(streams['aggTrade']).toBe(2)
  })

  it('reads an http capture: REST bodies with their request URLs', () => {
    const frames = readRecordingSync(CF('BINANCE.http.0.0'))
    expect(frames.every((f) => f.src === 'rest')).toBe(true)
    expect(frames[0].url).toBe('https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000')
    expect(frames[0].localTimestamp).toBe(1_633_998_512_320_639)
    expect((JSON.parse(frames[0].text) as { lastUpdateId: number }).lastUpdateId).toBe(499_869_752)
    expect(snapshotSymbol(frames, 0)).toBe('NKNUSDT')
  })

  it('reads the Coinbase capture: open, 3 sent subscriptions, then 9,946 received frames', () => {
    const frames = readRecordingSync(CF('COINBASE.ws.28.0'))
    // 9,952 lines; the last two are empty
    expect(frames).toHaveLength(9950)
    expect(frames[frames.length - 1].line).toBe(9950)
    expect(countBy(frames, (f) => f.src)).toEqual({ open: 1, sent: 3, ws: 9946 })
    expect(frames[1].text).toContain('"channels":["level2"]')
    const types = countBy(
      frames.filter((f) => f.src === 'ws'),
      (f) => (JSON.parse(f.text) as { type: string }).type,
    )
    expect(types).toEqual({ subscriptions: 3, snapshot: 10, l2update: 9719, ticker: 107, match: 97, last_match: 10 })
    expect(frames.every((f) => f.src === 'open' || f.url === 'wss://ws-feed.pro.coinbase.com')).toBe(true)
  })

  it('skips the configuration header of the old single-file format', () => {
    const dir = tmp()
    const f = join(dir, 'old.0')
    writeFileSync(
      f,
      [
        'configuration: {"l2_book":["ZIL-USDT"]}',
        'wss://stream.binance.com:9443/stream?streams=zilusdt@bookTicker <-> 1617647603.2',
        '1617647603.4249449: {"stream":"zilusdt@bookTicker","data":{"u":499822861,"s":"ZILUSDT","b":"0.21437000","B":"2800.00000000","a":"0.21449000","A":"11400.00000000"}}',
        'https://www.binance.com/api/v1/depth?symbol=ZILUSDT&limit=1000 -> 1617647603.8164911: {"lastUpdateId":499822895,"bids":[],"asks":[]}',
        '',
      ].join('\n'),
    )
    expect(detectFileFormat(f)).toBe('cryptofeed')
    const frames = readRecordingSync(f)
    expect(frames.map((x) => [x.src, x.line, x.localTimestamp])).toEqual([
      ['open', 2, 1_617_647_603_200_000],
      ['ws', 3, 1_617_647_603_424_945],
      ['rest', 4, 1_617_647_603_816_491],
    ])
  })
})

describe('mercury --record lines', () => {
  it('round-trips formatRecordLine, plain and gzip', async () => {
    const frames = readRecordingSync(CF('BINANCE_FUTURES.ws.1.0')).slice(0, 50)
    const text = frames.map((f) => formatRecordLine(f)).join('\n') + '\n'
    expect(formatRecordLine(frames[1])).toBe(
      JSON.stringify({ ts: frames[1].localTimestamp, src: 'ws', url: frames[1].url, frame: frames[1].text }),
    )
    const dir = tmp()
    writeFileSync(join(dir, 'a.jsonl'), text)
    writeFileSync(join(dir, 'a.jsonl.gz'), gzipSync(text))
    for (const name of ['a.jsonl', 'a.jsonl.gz']) {
      expect(detectFileFormat(join(dir, name))).toBe('mercury')
      const back = readRecordingSync(join(dir, name))
      expect(back.map(({ localTimestamp, src, url, text }) => ({ localTimestamp, src, url, text }))).toEqual(
        frames.map(({ localTimestamp, src, url, text }) => ({ localTimestamp, src, url, text })),
      )
      const streamed: RecordedFrame[] = []
      for await (const f of readRecording(join(dir, name))) streamed.push(f)
      expect(streamed).toEqual(back)
    }
    expect(formatRecordLine({ localTimestamp: 5, src: 'close', url: undefined, text: '' })).toBe('{"ts":5,"src":"close","frame":""}')
  })

  it('detects formats from a first line', () => {
    expect(detectFormat('{"ts":1,"src":"ws","frame":"x"}')).toBe('mercury')
    expect(detectFormat('1680652700423575 {"stream":"a","data":{}}')).toBe('hftbacktest')
    expect(detectFormat('1618677817.061845: {"type":"subscriptions"}')).toBe('cryptofeed')
    expect(detectFormat('hello')).toBeUndefined()
  })
})

describe('bad lines', () => {
  it('throws naming file and line; --lenient skips and counts', async () => {
    const dir = tmp()
    const f = join(dir, 'bad.jsonl')
    writeFileSync(
      f,
      [
        formatRecordLine({ localTimestamp: 1, src: 'ws', url: 'wss://x', text: '{}' }),
        '{"ts":2,"src":"wat","frame":"x"}',
        formatRecordLine({ localTimestamp: 3, src: 'ws', url: 'wss://x', text: '{}' }),
        '{"ts":4,',
      ].join('\n'),
    )
    expect(() => readRecordingSync(f)).toThrow(DataError)
    expect(() => readRecordingSync(f)).toThrow(`${f}:2: bad "src"`)
    await expect(async () => {
      for await (const _ of readRecording(f)) void _
    }).rejects.toThrow(`${f}:2:`)
    const bad: number[] = []
    const frames = readRecordingSync(f, { lenient: true, onBadLine: (p) => bad.push(p.line) })
    expect(frames.map((x) => x.localTimestamp)).toEqual([1, 3])
    expect(bad).toEqual([2, 4])

    const h = join(dir, 'bad.hft')
    writeFileSync(h, '1680652700423575 {"stream":"a","data":{}}\n1680652700423576 {"stream":"a","da\n')
    expect(() => readRecordingSync(h)).toThrow(`${h}:2: truncated`)
    const u = join(dir, 'unknown.txt')
    writeFileSync(u, 'hello\n')
    expect(() => readRecordingSync(u)).toThrow(`${u}:1: unknown recording format`)
  })
})
