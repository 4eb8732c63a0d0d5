import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { NumericCsvScanner, digits4 } from '../../src/lib/archive/csv.js'
import { mulberry32 } from '../../src/lib/util/fs.js'
import { OUTAGE, XRPETH_AGG } from '../helpers.js'

function scanAll(text: string | Buffer, chunkSizes: number[] = [1 << 20], maxFields = 12) {
  const rows: { vals: number[]; line: number; text: string }[] = []
  const s = new NumericCsvScanner(maxFields, (v, n, line, t) => rows.push({ vals: Array.from(v.subarray(0, Math.min(n, maxFields))), line, text: t() }))
  const buf = Buffer.isBuffer(text) ? text : Buffer.from(text)
  let i = 0
  let k = 0
  while (i < buf.length) {
    const n = chunkSizes[k++ % chunkSizes.length]
    s.push(buf.subarray(i, i + n))
    i += n
  }
  s.end()
  return rows
}

describe('NumericCsvScanner', () => {
  it('parses every field of a real kline month exactly as Number() does', () => {
    const text = gunzipSync(readFileSync(OUTAGE))
    const rows = scanAll(text)
    const lines = text.toString('utf8').trimEnd().split('\n')
    expect(rows.length).toBe(44_560)
    expect(rows.length).toBe(lines.length)
    for (let r = 0; r < rows.length; r += 1) {
      const expected = lines[r].split(',').map(Number)
      if (rows[r].vals.some((v, j) => !Object.is(v, expected[j]))) {
        throw new Error(`line ${r + 1}: ${rows[r].vals} != ${expected}`)
      }
    }
  })

  it('reads True/False and long numbers in the real aggTrades file', () => {
    const text = gunzipSync(readFileSync(XRPETH_AGG))
    const rows = scanAll(text)
    expect(rows.length).toBe(12_477)
    const first = text.toString('utf8').split('\n')[0].split(',')
    expect(rows[0].vals.slice(0, 6)).toEqual(first.slice(0, 6).map(Number))
    expect(rows[0].vals[6]).toBe(first[6] === 'True' ? 1 : 0)
    expect(rows[0].vals[7]).toBe(1)
  })

  it('gives the same rows whatever the chunk boundaries', () => {
    const text = '1,2.5,-3.25,True\r\n4,5,6,false\n\n7,8.125,9e3,x\n10,0.000000001,12345678901234567,False'
    const whole = scanAll(text)
    for (const size of [1, 2, 3, 5, 7, 11]) expect(scanAll(text, [size])).toEqual(whole)
    expect(whole.map((r) => r.line)).toEqual([1, 2, 4, 5])
    expect(whole[0].vals).toEqual([1, 2.5, -3.25, 1])
    expect(whole[1].vals).toEqual([4, 5, 6, 0])
    expect(whole[2].vals.slice(0, 3)).toEqual([7, 8.125, 9000])
    expect(whole[2].vals[3]).toBeNaN()
    expect(whole[3].vals).toEqual([10, 1e-9, 12345678901234567, 0])
    expect(whole[3].text).toBe('10,0.000000001,12345678901234567,False')
  })

  it('reads the boolean words slowValue takes, and no others', () => {
    const words = ['true', 'True', 'TRUE', 'false', 'False', 'FALSE', 'tRUE', 'fALSE', 'truex', 'fals', ' true', 'TRUe']
    const text = words.map((w, i) => `${i},${w}`).join('\n') + '\n'
    const whole = scanAll(text)
    for (const size of [1, 3, 4, 6]) expect(scanAll(text, [size])).toEqual(whole)
    expect(whole.map((r) => r.vals[1])).toEqual([1, 1, 1, 0, 0, 0, NaN, NaN, NaN, NaN, 1, NaN])
  })

  it('skips a UTF-8 byte-order mark and keeps empty fields as NaN', () => {
    const rows = scanAll(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('open_time,open\n1,,3\n')]))
    expect(rows[0].vals[0]).toBeNaN()
    expect(rows[0].text).toBe('open_time,open')
    expect(rows[1].vals[0]).toBe(1)
    expect(rows[1].vals[1]).toBeNaN()
    expect(rows[1].vals[2]).toBe(3)
  })

  it('matches Number() on awkward decimals', () => {
    const samples = ['0.1', '0.2', '0.3', '42283.58000000', '148976.11427815', '0.00000001', '999999999999999', '1.7976931348623157', '123456.789012345678']
    const rows = scanAll(samples.join(',') + '\n', [4], 16)
    expect(rows[0].vals).toEqual(samples.map(Number))
  })

  it('takes four digits at a time only where all four are digits', () => {
    const word = (s: string) => Buffer.from(s, 'latin1').readUInt32LE(0)
    expect(digits4(word('0000'))).toBe(0)
    expect(digits4(word('1234'))).toBe(1234)
    expect(digits4(word('9999'))).toBe(9999)
    expect(digits4(word('0907'))).toBe(907)
    // Every byte that is not a digit, in every position (',' '.' '/' ':' pass a one-sided nibble test)
    for (let b = 0; b < 256; b++) {
      if (b >= 48 && b <= 57) continue
      for (let pos = 0; pos < 4; pos++) {
        const bytes = Buffer.from('5555', 'latin1')
        bytes[pos] = b
        expect(digits4(bytes.readUInt32LE(0))).toBe(-1)
      }
    }
  })

  it('parses random fields exactly as Number() does, whatever the chunk boundaries', () => {
    const rnd = mulberry32(20261125)
    const pick = <T,>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]
    const digits = (n: number) => Array.from({ length: n }, () => String(Math.floor(rnd() * 10))).join('')
    const field = (): string => {
      const r = rnd()
      if (r < 0.6) {
        const sign = rnd() < 0.2 ? '-' : ''
        const int = digits(Math.floor(rnd() * 14))
        return rnd() < 0.6 ? `${sign}${int}.${digits(Math.floor(rnd() * 12))}` : `${sign}${int}`
      }
      if (r < 0.7) return digits(14 + Math.floor(rnd() * 8)) // past 15 significant digits
      return pick(['', '-', '.', '-.', '+5', ' 7', '8 ', '1e3', '2.5E-3', '12a4', '1.2.3', 'True', 'false', 'x', '0x10', '١٢', '2024:01:01', '1234=5678', '99?9'])
    }
    // The scanner's rule: a field of digits with at most one point is a number when it has a digit; anything
    // else is trimmed and read as a boolean word or a plain decimal number
    const expected = (f: string): number => {
      if (/^-?\d*(\.\d*)?$/.test(f)) return /\d/.test(f) ? Number(f) : NaN
      const t = f.trim()
      if (t === 'True' || t === 'true' || t === 'TRUE') return 1
      if (t === 'False' || t === 'false' || t === 'FALSE') return 0
      return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) ? Number(t) : NaN
    }
    const lines = Array.from({ length: 3000 }, () => Array.from({ length: 1 + Math.floor(rnd() * 12) }, field))
    const text = lines.map((l) => l.join(',') + (rnd() < 0.1 ? '\r\n' : '\n')).join('')
    const whole = scanAll(text, [1 << 20], 16)
    expect(whole.length).toBe(lines.filter((l) => l.length > 1 || l[0] !== '').length)
    let k = 0
    for (const l of lines) {
      if (l.length === 1 && l[0] === '') continue
      const got = whole[k++].vals
      l.forEach((f, j) => {
        if (!Object.is(got[j], expected(f))) throw new Error(`field '${f}': ${got[j]} != ${expected(f)}`)
      })
    }
    for (const sizes of [[1], [3], [4, 5, 7], [8191], [65_537, 13]]) expect(scanAll(text, sizes, 16)).toEqual(whole)
  })
})
