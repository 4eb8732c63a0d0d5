import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { NumericCsvScanner } from '../../src/lib/archive/csv.js'
import { AggTradeParser, KlineParser } from '../../src/lib/exchanges/binance/archive.js'
import {
  BinanceParseError,
  parseBinanceAggTrades,
  parseBinanceFundingRates,
  parseBinanceKlines,
  parseBinanceOpenInterestHist,
} from '../../src/lib/exchanges/binance/parse.js'
import { OUTAGE, XRPETH_AGG } from '../helpers.js'
import { loadAggTrades, loadKlines } from '../servers/binance-rest.js'

// Payloads from Binance's API docs (spot rest-api.md, USD-M market-data pages), as quoted in the protocol reference
const DOC_KLINES = [[1499040000000, '0.01634790', '0.80000000', '0.01575800', '0.01577100', '148976.11427815', 1499644799999, '2434.19055334', 308, '1756.87402397', '28.46694368', '0']]
const DOC_AGG = [{ a: 26129, p: '0.01633102', q: '4.70443515', f: 27781, l: 27781, T: 1498793709153, m: true, M: true }]
const DOC_FUNDING = [{ symbol: 'BTCUSDT', fundingRate: '-0.03750000', fundingTime: 1570608000000, markPrice: '34287.54619963' }]
const DOC_OI = [{ symbol: 'BTCUSDT', sumOpenInterest: '20403.63700000', sumOpenInterestValue: '150570784.07809979', timestamp: '1583127900000' }]

const spot = { exchange: 'binance' as const, symbol: 'BTCUSDT' }
const fut = { exchange: 'binance-futures' as const, symbol: 'BTCUSDT' }

describe('Binance REST parsers', () => {
  it('parses the documented kline (a weekly bar) with µs times and the close stamped as local time', () => {
    expect(parseBinanceKlines(DOC_KLINES, undefined, { ...spot, interval: '1w' })).toEqual([
      {
        type: 'bar', exchange: 'binance', symbol: 'BTCUSDT', interval: '1w',
        timestamp: 1499040000000000, localTimestamp: 1499644799999999, closeTime: 1499644799999999,
        open: 0.0163479, high: 0.8, low: 0.015758, close: 0.015771, volume: 148976.11427815,
        quoteVolume: 2434.19055334, trades: 308, takerBuyVolume: 1756.87402397, takerBuyQuoteVolume: 28.46694368,
      },
    ])
    // A receipt time, when given, is kept as is
    expect(parseBinanceKlines(DOC_KLINES, 42, { ...spot, interval: '1w' })[0].localTimestamp).toBe(42)
  })

  it('parses the documented aggTrade: buyer is maker, so the seller was the aggressor', () => {
    expect(parseBinanceAggTrades(DOC_AGG, undefined, spot)).toEqual([
      {
        type: 'agg_trade', exchange: 'binance', symbol: 'BTCUSDT', timestamp: 1498793709153000, localTimestamp: 1498793709153000,
        id: 26129, firstTradeId: 27781, lastTradeId: 27781, price: 0.01633102, amount: 4.70443515, side: 'sell',
      },
    ])
    // USD-M omits M
    const { M: _omitted, ...futuresRow } = DOC_AGG[0]
    expect(parseBinanceAggTrades([{ ...futuresRow, m: false }], undefined, fut)[0].side).toBe('buy')
  })

  it('parses the documented funding rate and open interest rows (string timestamps too)', () => {
    expect(parseBinanceFundingRates(DOC_FUNDING, undefined, fut)).toEqual([
      {
        type: 'funding', exchange: 'binance-futures', symbol: 'BTCUSDT', timestamp: 1570608000000000, localTimestamp: 1570608000000000,
        fundingRate: -0.0375, fundingTime: 1570608000000000, markPrice: 34287.54619963, indexPrice: undefined,
      },
    ])
    // Old records carry an empty mark price (or none): undefined, never 0
    expect(parseBinanceFundingRates([{ ...DOC_FUNDING[0], markPrice: '' }], undefined, fut)[0].markPrice).toBeUndefined()
    expect(parseBinanceOpenInterestHist(DOC_OI, undefined, fut)).toEqual([
      {
        type: 'open_interest', exchange: 'binance-futures', symbol: 'BTCUSDT', timestamp: 1583127900000000, localTimestamp: 1583127900000000,
        openInterest: 20403.637, openInterestValue: 150570784.07809979,
      },
    ])
  })

  it('emits nothing for an empty page (the answer past the end of the data)', () => {
    expect(parseBinanceKlines([], undefined, { ...spot, interval: '1m' })).toEqual([])
    expect(parseBinanceAggTrades([], undefined, spot)).toEqual([])
    expect(parseBinanceFundingRates([], undefined, fut)).toEqual([])
    expect(parseBinanceOpenInterestHist([], undefined, fut)).toEqual([])
  })

  it('fails fast on bad data, with the row attached', () => {
    const k = DOC_KLINES[0]
    const cases: [() => unknown, RegExp][] = [
      [() => parseBinanceKlines({ code: -1121, msg: 'Invalid symbol.' }, undefined, { ...spot, interval: '1m' }), /expected an array of klines/],
      [() => parseBinanceKlines([[...k.slice(0, 1), 'NaN', ...k.slice(2)]], undefined, { ...spot, interval: '1w' }), /open is not a decimal string.*"NaN"/],
      [() => parseBinanceKlines([[...k.slice(0, 1), 0.0163479, ...k.slice(2)]], undefined, { ...spot, interval: '1w' }), /open is not a decimal string/],
      [() => parseBinanceKlines([[...k.slice(0, 2), '0.001', ...k.slice(3)]], undefined, { ...spot, interval: '1w' }), /inconsistent OHLC/],
      [() => parseBinanceKlines([k, k], undefined, { ...spot, interval: '1w' }), /open times do not increase/],
      [() => parseBinanceKlines(DOC_KLINES, undefined, { ...spot, interval: '1m' }), /close time outside the 1m bar/],
      [() => parseBinanceKlines([k.slice(0, 6)], undefined, { ...spot, interval: '1w' }), /not an array of 12 fields/],
      [() => parseBinanceAggTrades([{ ...DOC_AGG[0], q: '1e5' }], undefined, spot), /q \(quantity\) is not a decimal string/],
      [() => parseBinanceAggTrades([{ ...DOC_AGG[0], m: 'true' }], undefined, spot), /m \(buyer is maker\) is not a boolean/],
      [() => parseBinanceAggTrades([{ ...DOC_AGG[0], T: -5 }], undefined, spot), /T \(time\) is not a non-negative integer/],
      [() => parseBinanceFundingRates([{ ...DOC_FUNDING[0], fundingRate: 'Infinity' }], undefined, fut), /fundingRate is not a decimal string/],
      [() => parseBinanceOpenInterestHist([{ ...DOC_OI[0], sumOpenInterest: '' }], undefined, fut), /sumOpenInterest is not a decimal string/],
    ]
    for (const [f, msg] of cases) {
      expect(f).toThrow(BinanceParseError)
      expect(f).toThrow(msg)
    }
  })

  it('gives the same doubles as the archive importer for every row of a real month (klines) and a real aggTrades file', async () => {
    // Archive side: the CSV scanner and row validator the importer uses
    const archive = new KlineParser('1m')
    const s = new NumericCsvScanner(12, (v, n, l, t) => archive.row(v, n, l, t))
    s.push(gunzipSync(readFileSync(OUTAGE)))
    s.end()
    // REST side: the same rows as Binance's JSON (decimal strings), through the REST parser
    const rows = await loadKlines([OUTAGE])
    const bars = parseBinanceKlines(JSON.parse(JSON.stringify(rows)), undefined, { ...spot, interval: '1m' })
    expect(bars).toHaveLength(archive.batch.rows)
    const c = archive.batch.cols
    const cols = {
      open_time: bars.map((b) => b.timestamp), close_time: bars.map((b) => b.closeTime), open: bars.map((b) => b.open),
      high: bars.map((b) => b.high), low: bars.map((b) => b.low), close: bars.map((b) => b.close), volume: bars.map((b) => b.volume),
      quote_volume: bars.map((b) => b.quoteVolume), trades: bars.map((b) => b.trades), taker_buy_volume: bars.map((b) => b.takerBuyVolume),
      taker_buy_quote_volume: bars.map((b) => b.takerBuyQuoteVolume), local_timestamp: bars.map((b) => b.localTimestamp),
    }
    for (const [name, values] of Object.entries(cols)) expect(values, name).toEqual([...c[name].subarray(0, bars.length)])

    const aggArchive = new AggTradeParser()
    const s2 = new NumericCsvScanner(12, (v, n, l, t) => aggArchive.row(v, n, l, t))
    s2.push(gunzipSync(readFileSync(XRPETH_AGG)))
    s2.end()
    const trades = parseBinanceAggTrades(JSON.parse(JSON.stringify(loadAggTrades(XRPETH_AGG))), undefined, spot)
    expect(trades).toHaveLength(12_477)
    const a = aggArchive.batch.cols
    expect(trades.map((t) => t.price)).toEqual([...a.price.subarray(0, trades.length)])
    expect(trades.map((t) => t.amount)).toEqual([...a.amount.subarray(0, trades.length)])
    expect(trades.map((t) => (t.side === 'buy' ? 1 : -1))).toEqual([...a.side.subarray(0, trades.length)])
    expect(trades.map((t) => t.timestamp)).toEqual([...a.timestamp.subarray(0, trades.length)])
  })
})
