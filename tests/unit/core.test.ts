import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseInstrument } from '../../src/lib/instrument.js'
import { barsBetween, isoUs, nextOpen, parseInterval, parseTime } from '../../src/lib/time.js'
import { UsageError } from '../../src/lib/errors.js'
import { expandGlob } from '../../src/lib/util/glob.js'
import { tempDir } from '../helpers.js'

describe('instruments', () => {
  it('parses exchange:SYMBOL and rejects other forms with a usage error', () => {
    expect(parseInstrument('binance:btcusdt')).toEqual({ exchange: 'binance', symbol: 'BTCUSDT' })
    expect(parseInstrument('coinbase:BTC-USD')).toEqual({ exchange: 'coinbase', symbol: 'BTC-USD' })
    expect(() => parseInstrument('BTCUSDT')).toThrow(UsageError)
    expect(() => parseInstrument('kraken:XBTUSD')).toThrow(/unknown exchange 'kraken'/)
    expect(() => parseInstrument('binance:BTC USDT')).toThrow(/not a symbol/)
  })
})

describe('time', () => {
  it('steps intervals, including calendar months', () => {
    const jan31 = Date.UTC(2024, 0, 1) * 1000
    expect(nextOpen('1M', jan31)).toBe(Date.UTC(2024, 1, 1) * 1000)
    expect(barsBetween('1M', Date.UTC(2024, 0, 1) * 1000, Date.UTC(2024, 3, 1) * 1000)).toBe(2)
    expect(barsBetween('1m', 0, 60e6 * 81)).toBe(80)
    expect(parseInterval('1mo')).toBe('1M')
    expect(() => parseInterval('7m')).toThrow(/Invalid --interval: '7m'/)
  })

  it('parses and formats UTC times in µs', () => {
    expect(parseTime('2024-01-01', '--from')).toBe(1704067200000000)
    expect(parseTime('2024-01-01T00:01', '--from')).toBe(1704067260000000)
    expect(parseTime('1704067200000', '--from')).toBe(1704067200000000)
    expect(() => parseTime('yesterday', '--from')).toThrow(/Invalid --from: 'yesterday'/)
    expect(isoUs(1704067200000000)).toBe('2024-01-01T00:00:00Z')
    expect(isoUs(1735689600010866)).toBe('2025-01-01T00:00:00.010866Z')
  })
})

describe('expandGlob', () => {
  it('expands *, ? and ** to sorted files', () => {
    const d = tempDir()
    mkdirSync(join(d, 'a', 'b'), { recursive: true })
    for (const f of ['a/X-1m-2024-01.zip', 'a/b/X-1m-2024-02.zip', 'a/b/notes.txt']) writeFileSync(join(d, f), '')
    expect(expandGlob(join(d, '**', '*.zip'))).toEqual([join(d, 'a/X-1m-2024-01.zip'), join(d, 'a/b/X-1m-2024-02.zip')])
    expect(expandGlob(join(d, 'a', 'X-1m-2024-0?.zip'))).toEqual([join(d, 'a/X-1m-2024-01.zip')])
    expect(expandGlob(join(d, 'none', '*.zip'))).toEqual([])
  })
})
