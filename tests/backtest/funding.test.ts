// Perpetual funding from the lake, on the real USD-M BTCUSDT funding history (tests/fixtures/binance, 2024) and the
// shipped BTCUSDT 1m bars imported as binance-futures (spot bars stand in for the perpetual's: the funding
// arithmetic is what is checked, against the fixture's own rates)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importArchives } from '../../src/lib/archive/import.js'
import { loadMarketData, simulate, type MarketData } from '../../src/lib/backtest/engine.js'
import { buyAndHold } from '../../src/lib/backtest/strategies/index.js'
import { LakeWriter } from '../../src/lib/lake/writer.js'
import { FIXTURES, KLINES } from '../helpers.js'
import { script } from './synthetic.js'

const FUNDING = join(FIXTURES, 'binance', 'BTC_USDT_USDT-8h-funding_rate.csv.gz')
const PERP = { exchange: 'binance-futures' as const, symbol: 'BTCUSDT' }
const FROM = Date.UTC(2024, 10, 1) * 1000
const TO = Date.UTC(2024, 11, 4, 12) * 1000

describe('funding on perpetuals (real funding history)', () => {
  let dir: string
  let data: MarketData
  let events: { t: number; rate: number }[]
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mercury-bt-fund-'))
    const lake = join(dir, 'lake')
    await importArchives({ lakeDir: lake, patterns: [join(KLINES, 'BTCUSDT-1m-2024-1*.zip')], instrument: PERP })
    events = gunzipSync(readFileSync(FUNDING))
      .toString('utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','))
      .map(([t, r]) => ({ t: Number(t) * 1000, rate: Number(r) }))
    const n = events.length
    const w = await LakeWriter.open(lake)
    try {
      const ds = { kind: 'funding', ...PERP } as const
      await w.stage(ds, {
        rows: n,
        source: 0,
        line: Float64Array.from(events, (_, i) => i + 2),
        f64: {
          timestamp: Float64Array.from(events, (e) => e.t),
          local_timestamp: Float64Array.from(events, (e) => e.t),
          funding_rate: Float64Array.from(events, (e) => e.rate),
          funding_time: Float64Array.from(events, (e) => e.t),
          mark_price: new Float64Array(n).fill(NaN),
          index_price: new Float64Array(n).fill(NaN),
        },
      })
      await w.commit(ds)
    } finally {
      w.close()
    }
    data = await loadMarketData(lake, [PERP], '1h', FROM, TO)
  }, 60_000)
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('charges every funding event in the run on the position, at the open of the bar holding it', () => {
    expect(data.instruments[0].market).toBe('perp')
    expect(data.warnings).toEqual([])
    const zero = { fees: { maker: 0, taker: 0 }, slippage: { kind: 'bps', bps: 0 } as const, checkInvariant: true }
    for (const side of ['buy', 'sell'] as const) {
      const strategy =
        side === 'buy' ? buyAndHold : script({ 0: (c) => c.order({ instrument: c.instruments[0], side: 'sell', type: 'market', qty: 0.2 }) })
      const r = simulate(data, strategy, { ...zero, leverage: 2 })
      const entry = r.fills[0]
      const pos = (side === 'buy' ? 1 : -1) * entry.qty
      // By hand: every event from the entry on, charged at the open of the 1h bar it falls in
      let expected = 0
      let count = 0
      const open = data.instruments[0].open
      for (const e of events) {
        if (e.t < entry.time || e.t >= TO) continue
        const bar = data.time.indexOf(Math.floor(e.t / data.step) * data.step)
        expected += pos * open[bar] * e.rate
        count++
      }
      // From 2024-11-01 01:00: 2 that day, 3 a day to 2024-12-03, and the fixture's last, 2024-12-04 00:00
      expect(count).toBe(2 + 32 * 3 + 1)
      expect(r.funding).toBeCloseTo(expected, 9)
      // 2024 rates were mostly positive: longs pay, shorts earn
      expect(Math.sign(r.funding)).toBe(side === 'buy' ? 1 : -1)
      // Held to the end: no trade closed; equity = cash + unrealised, less what funding took
      const last = data.instruments[0].close.at(-1)!
      expect(r.equity.equity.at(-1)!).toBeCloseTo(10_000 + pos * (last - entry.price) - expected, 6)
    }
  })

  it('warns when a perpetual has no funding data, and treats spot as spot', async () => {
    const bare = join(dir, 'bare')
    await importArchives({ lakeDir: bare, patterns: [join(KLINES, 'BTCUSDT-1m-2025-01-01.zip')], instrument: PERP })
    const none = await loadMarketData(bare, [PERP], '1h')
    expect(none.warnings).toEqual([
      'no funding data for binance-futures:BTCUSDT in the lake: funding payments are not simulated (mercury backfill binance-futures:BTCUSDT --kind funding)',
    ])
    expect(simulate(none, buyAndHold, {}).warnings).toEqual(none.warnings)
    const spot = await loadMarketData(join(dir, 'lake'), [PERP], '1h', FROM, TO, { market: 'spot' })
    expect(spot.instruments[0].funding).toBeUndefined()
    expect(simulate(spot, buyAndHold, {}).funding).toBe(0)
  })
})
