import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { NumericCsvScanner } from '../../src/lib/archive/csv.js'
import { AggTradeParser, KlineParser, TradeParser, type ArchiveRowParser } from '../../src/lib/exchanges/binance/archive.js'
import { inferArchive } from '../../src/lib/archive/infer.js'
import { OUTAGE, XRPETH_AGG } from '../helpers.js'

function feed(p: ArchiveRowParser, text: string): ArchiveRowParser {
  const s = new NumericCsvScanner(12, (v, n, line, t) => p.row(v, n, line, t))
  s.push(Buffer.from(text))
  s.end()
  return p
}

const outageLines = gunzipSync(readFileSync(OUTAGE)).toString('utf8').trimEnd().split('\n')
// A real row: 2023-03-01 00:00 UTC
const ROW = outageLines[0]

function mutate(row: string, col: number, value: string): string {
  const f = row.split(',')
  f[col] = value
  return f.join(',')
}

describe('KlineParser', () => {
  it('accepts the whole real outage month, including the truncated bar before the gap', () => {
    const p = feed(new KlineParser('1m'), outageLines.join('\n') + '\n') as KlineParser
    expect(p.badRows).toBe(0)
    expect(p.goodRows).toBe(44_560)
    const c = p.batch.cols
    const i = Array.from(c.open_time.subarray(0, p.batch.rows)).indexOf(1679661540000 * 1000)
    expect(i).toBeGreaterThan(0)
    // close_time 1679661581646 ms is kept (truncated bar), as µs covering the whole last ms
    expect(c.close_time[i]).toBe(1679661581646999)
    expect(c.volume[i]).toBe(0)
    expect(c.open_time[i + 1]).toBe(1679666400000 * 1000)
  })

  it('converts ms and µs files to the same µs values', () => {
    const ms = feed(new KlineParser('1m'), ROW + '\n') as KlineParser
    const f = ROW.split(',')
    const us = feed(new KlineParser('1m'), [Number(f[0]) * 1000, ...f.slice(1, 6), Number(f[6]) * 1000 + 999, ...f.slice(7)].join(',') + '\n') as KlineParser
    for (const k of Object.keys(ms.batch.cols)) expect(us.batch.cols[k][0]).toBe(ms.batch.cols[k][0])
    expect(ms.batch.cols.open_time[0]).toBe(Number(f[0]) * 1000)
    expect(ms.batch.cols.close_time[0]).toBe(Number(f[0]) * 1000 + 59_999_999)
    expect(ms.batch.cols.local_timestamp[0]).toBe(ms.batch.cols.close_time[0])
  })

  const cases: [string, string, RegExp][] = [
    ['high below close', mutate(ROW, 2, '1.0'), /inconsistent OHLC/],
    ['low above open', mutate(ROW, 3, '9999999'), /inconsistent OHLC/],
    ['negative volume', mutate(ROW, 5, '-1'), /negative volume/],
    ['zero price', mutate(ROW, 1, '0'), /non-positive price/],
    ['text in a number column', mutate(ROW, 4, 'abc'), /column 5 is not a number/],
    ['off-grid open time', mutate(ROW, 0, String(Number(ROW.split(',')[0]) + 1)), /not on the 1m grid/],
    ['close time past the bar', mutate(ROW, 6, String(Number(ROW.split(',')[0]) + 60_000)), /close time outside/],
    ['off-grid µs open time (1 µs late)', mutate(mutate(ROW, 0, String(Number(ROW.split(',')[0]) * 1000 + 1)), 6, String(Number(ROW.split(',')[0]) * 1000 + 59_999_999)), /not on the 1m grid/],
    ['µs close time one µs past the bar', mutate(mutate(ROW, 0, String(Number(ROW.split(',')[0]) * 1000)), 6, String(Number(ROW.split(',')[0]) * 1000 + 60_000_000)), /close time outside/],
    ['too few columns', ROW.split(',').slice(0, 7).join(','), /expected 12 columns, found 7/],
    ['taker buy above volume', mutate(ROW, 9, '1e9'), /taker buy volume exceeds/],
  ]
  for (const [name, bad, reason] of cases) {
    it(`rejects ${name} with its line number`, () => {
      const p = feed(new KlineParser('1m'), [outageLines[0], bad.replace(/^\d+/, outageLines[1].split(',')[0]), outageLines[2]].join('\n'))
      if (/open time|past the bar/.test(name)) {
        // These mutate the open time itself, so feed them alone
        const q = feed(new KlineParser('1m'), bad)
        expect(q.problems[0].reason).toMatch(reason)
        expect(q.problems[0].line).toBe(1)
        return
      }
      expect(p.badRows).toBe(1)
      expect(p.problems[0].line).toBe(2)
      expect(p.problems[0].reason).toMatch(reason)
      expect(p.goodRows).toBe(2)
    })
  }

  it('rejects duplicate and backwards open times', () => {
    const p = feed(new KlineParser('1m'), [outageLines[0], outageLines[1], outageLines[1], outageLines[0]].join('\n'))
    expect(p.problems.map((x) => [x.line, x.reason])).toEqual([
      [3, 'duplicate open time'],
      [4, 'open time goes backwards'],
    ])
  })

  it('skips the USD-M header row and marks the file as futures', () => {
    const header = 'open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore'
    const p = feed(new KlineParser('1m'), [header, ...outageLines.slice(0, 3)].join('\n'))
    expect(p.goodRows).toBe(3)
    expect(p.badRows).toBe(0)
    expect(p.impliedExchange).toBe('binance-futures')
  })

  it('reports a header it does not recognise', () => {
    const p = feed(new KlineParser('1m'), ['a,b,c', outageLines[0]].join('\n'))
    expect(p.problems[0]).toMatchObject({ line: 1 })
    expect(p.problems[0].reason).toMatch(/unrecognised header/)
  })
})

describe('AggTradeParser and TradeParser', () => {
  it('reads the real XRPETH aggTrades with the aggressor side from is_buyer_maker', () => {
    const text = gunzipSync(readFileSync(XRPETH_AGG)).toString('utf8')
    const p = feed(new AggTradeParser(), text)
    expect(p.badRows).toBe(0)
    expect(p.goodRows).toBe(12_477)
    const first = text.split('\n')[0].split(',')
    const c = p.batch.cols
    expect(c.id[0]).toBe(Number(first[0]))
    expect(c.price[0]).toBe(Number(first[1]))
    expect(c.first_trade_id[0]).toBe(Number(first[3]))
    expect(c.timestamp[0]).toBe(Number(first[5]) * 1000)
    expect(c.side[0]).toBe(first[6] === 'True' ? -1 : 1)
    expect(p.impliedExchange).toBeUndefined()
  })

  it('treats 7-column aggTrades and 6-column trades as USD-M', () => {
    const a = feed(new AggTradeParser(), '1,0.5,2,10,11,1570752011620,False\n')
    expect(a.impliedExchange).toBe('binance-futures')
    expect(a.batch.cols.side[0]).toBe(1)
    const t = feed(new TradeParser(), '5,61215.99,0.00012,7.3459188,1723161253407,True\n')
    expect(t.impliedExchange).toBe('binance-futures')
    expect(t.batch.cols.side[0]).toBe(-1)
  })

  it('rejects a bad boolean, a zero quantity and inverted trade ids', () => {
    const a = feed(new AggTradeParser(), ['1,0.5,2,10,11,1570752011620,Maybe,True', '2,0.5,0,12,12,1570752011621,True,True', '3,0.5,1,14,13,1570752011622,True,True'].join('\n'))
    expect(a.problems.map((p) => p.line)).toEqual([1, 2, 3])
    expect(a.problems[0].reason).toMatch(/not a number or boolean|True\/False/)
    expect(a.problems[1].reason).toMatch(/non-positive quantity/)
    expect(a.problems[2].reason).toMatch(/first_trade_id is above/)
  })
})

describe('inferArchive', () => {
  it('reads kind, symbol and interval from data.binance.vision names', () => {
    expect(inferArchive('/x/BTCUSDT-1m-2024-01.zip')).toMatchObject({ kind: 'bars', symbol: 'BTCUSDT', interval: '1m', exchange: undefined })
    expect(inferArchive('/x/BTCUSDT-1mo-2024-01.zip')).toMatchObject({ interval: '1M' })
    expect(inferArchive('/d/futures/um/monthly/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-01.zip')).toMatchObject({ kind: 'agg_trades', symbol: 'ETHUSDT', exchange: 'binance-futures' })
    expect(inferArchive('/d/spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-01-02.csv.gz')).toMatchObject({ kind: 'trades', exchange: 'binance' })
  })

  it('lets overrides win and explains what it cannot infer', () => {
    expect(inferArchive('odd.csv', { instrument: { exchange: 'binance-futures', symbol: 'ETHUSDT' }, kind: 'bars', interval: '1h' })).toMatchObject({ symbol: 'ETHUSDT', exchange: 'binance-futures', interval: '1h' })
    expect(() => inferArchive('odd.csv')).toThrow(/Cannot infer what 'odd.csv' holds/)
    expect(() => inferArchive('odd.csv', { instrument: { exchange: 'binance', symbol: 'X' }, kind: 'bars' })).toThrow(/Missing --interval/)
    expect(() => inferArchive('/d/futures/cm/BTCUSD_PERP-1m-2024-01.zip')).toThrow(/Cannot infer|COIN-M/)
  })
})
