// The snapshot-line parser: its byte-level fast path must agree with JSON.parse + Number() on every value, and
// hand everything it does not expect to the JSON.parse path

import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { LINE_BAD, LINE_OK, LINE_SKIP, SnapshotLineParser } from '../../src/lib/dataset/snapshot-line.js'
import { SPOT, USDM } from './helpers.js'

function parse(line: string, levels = 20) {
  const p = new SnapshotLineParser(levels)
  const b = Buffer.from(line)
  const st = p.parse(b, 0, b.length)
  return {
    st,
    ts: p.ts,
    reason: p.reason,
    bids: Array.from({ length: p.bids }, (_, i) => [p.bidPx[i], p.bidSz[i]]),
    asks: Array.from({ length: p.asks }, (_, i) => [p.askPx[i], p.askSz[i]]),
  }
}

describe('SnapshotLineParser', () => {
  it('reads the REST depth snapshots of the real recordings exactly as JSON.parse + Number() do', () => {
    for (const file of [SPOT, USDM]) {
      const lines = gunzipSync(readFileSync(file)).toString('utf8').split('\n').filter((l) => l.includes('"lastUpdateId"') && !l.includes('"stream"'))
      expect(lines.length).toBeGreaterThan(0)
      for (const l of lines) {
        const r = parse(l, 1000)
        expect(r.st).toBe(LINE_OK)
        const o = JSON.parse(l.slice(l.indexOf(' ') + 1)) as { bids: string[][]; asks: string[][] }
        const nz = (x: string[][]) => x.filter((q) => Number(q[1]) > 0).map((q) => [Number(q[0]), Number(q[1])])
        expect(r.bids).toEqual(nz(o.bids).slice(0, 1000))
        expect(r.asks).toEqual(nz(o.asks).slice(0, 1000))
        // hftbacktest receipt prefix, ns or µs
        expect(r.ts).toBe(Number(l.slice(0, 16)))
      }
    }
  })

  it('agrees with JSON.parse on numbers the fast path converts itself and on those it hands over', () => {
    const values = ['61837.63000000', '0.00000001', '123', '0.1', '.5', '5.', '00012.50', '1e-3', '1.5E2', '9007199254740993', '0.1234567890123456789', '12345678901234567890.5', '-0']
    for (const v of values) {
      const r = parse(`{"ts":1723161254000,"bids":[["${v}","1"]],"asks":[["1e9","${v}"]]}`)
      if (Number(v) > 0) {
        expect(r.st, v).toBe(LINE_OK)
        expect(r.bids[0][0], v).toBe(Number(v))
        expect(r.asks[0][1], v).toBe(Number(v))
      } else {
        expect(r.st, v).toBe(LINE_BAD)
      }
      // As JSON numbers (where JSON allows them)
      if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(v) && Number(v) > 0) {
        const n = parse(`{"ts":1723161254000,"bids":[[${v},1]],"asks":[[1e9,${v}]]}`)
        expect(n.st, v).toBe(LINE_OK)
        expect(n.bids[0][0], v).toBe(Number(v))
        expect(n.asks[0][1], v).toBe(Number(v))
      }
    }
  })

  it('reads times in s, ms, µs, ns and ISO-8601, preferring the receipt prefix, then ts, then E, then T', () => {
    const book = '"bids":[["2","1"]],"asks":[["3","1"]]'
    expect(parse(`{"ts":1723161254,${book}}`).ts).toBe(1723161254_000000)
    expect(parse(`{"ts":1723161254.5,${book}}`).ts).toBe(1723161254_500000)
    expect(parse(`{"ts":1723161254206,${book}}`).ts).toBe(1723161254_206000)
    expect(parse(`{"ts":1723161254206652,${book}}`).ts).toBe(1723161254_206652)
    expect(parse(`{"ts":1723161254206652067,${book}}`).ts).toBe(1723161254_206652)
    expect(parse(`{"ts":"2024-08-08T23:54:14.206652Z",${book}}`).ts).toBe(1723161254_206652)
    expect(parse(`{"ts":"1723161254206",${book}}`).ts).toBe(1723161254_206000)
    expect(parse(`1723161254999999 {"ts":1723161254206,${book}}`).ts).toBe(1723161254_999999)
    expect(parse(`{"E":1680652700590,"T":1680652700580,${book}}`).ts).toBe(1680652700_590000)
    expect(parse(`{"T":1680652700580,${book}}`).ts).toBe(1680652700_580000)
    expect(parse(`{"stream":"btcusdt@depth5","ts":1723161254000,"data":{"ts":1,${book}}}`).ts).toBe(1723161254_000000)
  })

  it('reads USD-M partial depth (b/a inside depthUpdate, in the wrapper) and skips lines that are not snapshots', () => {
    const fut = parse('{"stream":"btcusdt@depth5@100ms","data":{"e":"depthUpdate","E":1680652700594,"T":1680652700586,"s":"BTCUSDT","U":1,"u":2,"pu":0,"b":[["28145.10","3.8"]],"a":[["28145.20","6.9"]]}}')
    expect(fut.st).toBe(LINE_OK)
    expect(fut.bids).toEqual([[28145.1, 3.8]])
    expect(fut.asks).toEqual([[28145.2, 6.9]])
    expect(fut.ts).toBe(1680652700_594000)
    const skips = [
      '{"result":null,"id":1}',
      '{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"1.0","B":"2","a":"1.1","A":"3"}}',
      '1723161254087896568 {"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":true}}',
    ]
    for (const l of skips) expect(parse(l).st, l).toBe(LINE_SKIP)
  })

  it('gives a reason for every bad line', () => {
    const cases: [string, RegExp][] = [
      ['{"ts":1723161254000,"bids":[["1","1"]],"asks":[["2","1"]]', /not JSON/],
      ['{"bids":[["1","1"]],"asks":[["2","1"]]}', /no timestamp/],
      ['{"ts":1723161254000,"bids":[["2","1"],["3","1"]],"asks":[]}', /bids are not sorted best first at level 1/],
      ['{"ts":1723161254000,"bids":[],"asks":[["3","1"],["2","1"]]}', /asks are not sorted best first/],
      ['{"ts":1723161254000,"bids":[["1","-1"]],"asks":[]}', /bids\[0\] size -1 is negative/],
      ['{"ts":1723161254000,"bids":[["NaN","1"]],"asks":[]}', /bids\[0\] price 'NaN' is not a decimal/],
      ['{"ts":1723161254000,"bids":[["1"]],"asks":[]}', /is not a \[price, size\] pair/],
      ['{"ts":1723161254000,"bids":"x","asks":[]}', /"bids" is not an array/],
      ['{"ts":"yesterday","bids":[],"asks":[]}', /time 'yesterday' is not epoch digits or an ISO-8601/],
      ['{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}}', /a depth diff/],
      ['[1,2,3]', /not a JSON object/],
    ]
    for (const [l, re] of cases) {
      const r = parse(l)
      expect(r.st, l).toBe(LINE_BAD)
      expect(r.reason, l).toMatch(re)
    }
  })

  it('keeps N levels, skips zero sizes and ignores extra fields in a level', () => {
    const r = parse('{"ts":1723161254000,"bids":[["5","0"],["4","1",3],["3","2","x"],["2","3"]],"asks":[["6","1"],["7","0"],["8","2"],["9","9"]]}', 2)
    expect(r.bids).toEqual([
      [4, 1],
      [3, 2],
    ])
    expect(r.asks).toEqual([
      [6, 1],
      [8, 2],
    ])
  })
})
