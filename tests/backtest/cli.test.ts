// `mercury backtest` spawned from the built bin (npm run build first) on lakes imported from the shipped sample
// and the real 2023-03 outage fixture
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATASETS, OUTAGE, cli, cliJson, tempDir } from '../helpers.js'
import { SMA_CROSS } from './user-strategy.js'

const METRIC_KEYS = [
  'totalReturn', 'cagr', 'volatility', 'sharpe', 'sortino', 'calmar', 'maxDrawdown', 'maxDrawdownDurationMs', 'winRate', 'profitFactor',
  'expectancy', 'exposure', 'turnover', 'fees', 'funding', 'trades', 'benchmark',
]

interface Json {
  strategy: string
  params: Record<string, number>
  instruments: string[]
  interval: string
  from: string
  to: string
  bars: number
  startCapital: number
  finalEquity: number
  benchmarkFinalEquity: number
  metrics: Record<string, unknown>
  trades: number
  openPositions: { instrument: string; direction: string; entryTime: string; entryPrice: number; markPrice: number; qty: number; pnl: number; unrealised: number; fees: number }[]
  fills: number
  orders: number
  fees: number
  funding: number
  slippage: number
  turnover: number
  gaps: { instrument: string; from: string; to: string; missing: number }[]
  riskEvents: { time: string; action: string; reason: string }[]
  warnings: string[]
  settings: Record<string, unknown>
  files: Record<string, string>
}

describe('mercury backtest', () => {
  let dir: string
  let lake: string
  beforeAll(() => {
    // One lake for the file, imported the way the README's main job does it
    dir = mkdtempSync(join(tmpdir(), 'mercury-bt-cli-'))
    lake = join(dir, 'lake')
    const r = cli(['backfill', '--archive', join(DATASETS, '**', '*.zip')], lake)
    expect(r.code, r.stderr).toBe(0)
  }, 120_000)
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('runs the README\'s main job on the shipped sample and compares with buy-and-hold', () => {
    const r = cli(['backtest', 'binance:BTCUSDT', '--strategy', 'rsi-reversion', '--interval', '1h'], lake)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/^rsi-reversion on binance:BTCUSDT 1h, 2024-11-01T00:00:00Z to 2025-01-02T00:00:00Z \(1,488 bars\), capital 10,000\.00, period=14 lower=30 upper=70\n/)
    expect(r.stdout).toMatch(/│\s+│ rsi-reversion │ buy-and-hold │/)
    for (const row of ['total return', 'CAGR', 'Sharpe', 'max drawdown', 'final equity', 'trades \\(closed\\)', 'win rate', 'fees']) {
      expect(r.stdout).toMatch(new RegExp(`│ ${row}\\s+│`))
    }
    expect(r.stdout).toMatch(/\nrsi-reversion [+-]\d+\.\d\d% vs buy-and-hold \+\d+\.\d\d% \([+-]\d+\.\d\d points\); Sharpe -?\d+\.\d\d vs \d+\.\d\d; max drawdown -\d+\.\d\d% vs -\d+\.\d\d%\n/)
  })

  it('--json has the documented shape, and the output files are written atomically', () => {
    const out = join(dir, 'out')
    const j = cliJson<Json>(
      ['backtest', 'binance:BTCUSDT', '--strategy', 'mtf-trend', '--interval', '4h', '--from', '2024-12-01', '--slippage', '2', '--fees', 'maker=0.0002,taker=0.0005',
        '--report', join(out, 'r.html'), '--trades', join(out, 't.parquet'), '--equity', join(out, 'e.csv')],
      lake,
    )
    expect(j).toMatchObject({ strategy: 'mtf-trend', instruments: ['binance:BTCUSDT'], interval: '4h', from: '2024-12-01T00:00:00Z', to: '2025-01-02T00:00:00Z', startCapital: 10_000, gaps: [], warnings: [] })
    expect(j.params).toEqual({ htfMultiple: 4, entry: 0.5, exit: 0, short: 0 })
    expect(j.bars).toBe(32 * 6)
    expect(Object.keys(j.metrics).sort()).toEqual([...METRIC_KEYS].sort())
    expect(Object.keys(j.metrics.benchmark as object).sort()).toEqual(['cagr', 'maxDrawdown', 'sharpe', 'totalReturn'])
    for (const k of ['finalEquity', 'benchmarkFinalEquity', 'fees', 'slippage', 'turnover', 'funding', 'trades', 'fills', 'orders']) {
      expect(typeof (j as unknown as Record<string, unknown>)[k], k).toBe('number')
    }
    expect(j.fills).toBeGreaterThan(0)
    expect(j.settings).toEqual({
      market: ['spot'],
      fees: [{ maker: 0.0002, taker: 0.0005 }],
      slippage: '2bps',
      fillAt: 'next_open',
      intrabar: 'none',
      leverage: 1,
    })
    expect(j.files).toEqual({ report: join(out, 'r.html'), trades: join(out, 't.parquet'), equity: join(out, 'e.csv') })
    expect(readdirSync(out).sort()).toEqual(['e.csv', 'r.html', 't.parquet'])
    expect(readFileSync(join(out, 'r.html'), 'utf8')).toMatch(/^<!doctype html>/i)
    const eq = readFileSync(join(out, 'e.csv'), 'utf8').trim().split('\n')
    expect(eq[0]).toMatch(/^time,equity,cash,exposure/)
    expect(eq).toHaveLength(32 * 6 + 1)
    const q = cliJson<{ n: number }[]>(['data', 'query', `SELECT count(*)::INT n FROM read_parquet('${join(out, 't.parquet')}')`], lake)
    expect(q[0].n).toBe(j.trades)
  })

  it('runs a user strategy from an .mjs file with --param', () => {
    const file = join(dir, 'sma-cross.mjs')
    writeFileSync(file, SMA_CROSS)
    const j = cliJson<Json>(['backtest', 'binance:BTCUSDT', '--strategy', file, '--param', 'fast=5', '--param', 'slow=20', '--interval', '1h'], lake)
    expect(j.strategy).toBe('sma-cross')
    expect(j.params).toEqual({ fast: 5, slow: 20 })
    expect(j.trades).toBeGreaterThan(5)
  })

  it('trades spot and a perpetual in one account on one clock', () => {
    const two = tempDir()
    const dec = join(DATASETS, 'binance', 'spot', 'klines', 'BTCUSDT', '1m', 'BTCUSDT-1m-2024-12.zip')
    expect(cli(['backfill', '--archive', dec], two).code).toBe(0)
    expect(cli(['backfill', '--archive', dec, '--instrument', 'binance-futures:BTCUSDT'], two).code).toBe(0)
    const args = ['backtest', 'binance:BTCUSDT', 'binance-futures:BTCUSDT', '--strategy', 'buy-and-hold', '--leverage', '2', '--intrabar', '1m']
    const r = cli([...args, '--json'], two)
    expect(r.code, r.stderr).toBe(0)
    const table = cli(args, two)
    const funding = 'no funding data for binance-futures:BTCUSDT in the lake: funding payments are not simulated (mercury backfill binance-futures:BTCUSDT --kind funding)'
    expect(r.stderr).toBe(`warning: ${funding}\n`)
    const j = JSON.parse(r.stdout) as Json
    expect(j.instruments).toEqual(['binance:BTCUSDT', 'binance-futures:BTCUSDT'])
    expect(j.settings).toMatchObject({ market: ['spot', 'perp'], leverage: 2, intrabar: '1m', fees: [{ maker: 0.001, taker: 0.001 }, { maker: 0.0002, taker: 0.0005 }] })
    expect(j.warnings).toEqual([funding])
    expect(j.fills).toBe(2)
    expect(j.bars).toBe(31 * 24)
    // Both legs are still held at the end: listed, marked at the last close, and they account for the whole result
    expect(j.trades).toBe(0)
    // No closed trade: the trade statistics are NaN, written as "NaN" (plain JSON would write null), as --optimize does
    expect([j.metrics.winRate, j.metrics.profitFactor, j.metrics.expectancy]).toEqual(['NaN', 'NaN', 'NaN'])
    expect(j.openPositions.map((o) => [o.instrument, o.direction])).toEqual([['binance:BTCUSDT', 'long'], ['binance-futures:BTCUSDT', 'long']])
    for (const o of j.openPositions) {
      expect(o.markPrice).toBe(93576)
      expect(o.unrealised).toBeCloseTo(o.qty * (o.markPrice - o.entryPrice), 6)
      expect(o.pnl).toBeCloseTo(o.unrealised - o.fees, 6)
    }
    expect(j.openPositions.reduce((a, o) => a + o.pnl, 0)).toBeCloseTo(j.finalEquity - j.startCapital, 4)
    expect(table.stdout).toMatch(/open at the end: long [\d.]+ binance-futures:BTCUSDT since 2024-12-01T01:00:00/)
    expect(table.stdout).toMatch(/│ funding\s+│\s+0\.00 │/)
  })

  it('passes --optimize to the optimiser', () => {
    const r = cli(['backtest', 'binance:BTCUSDT', '--strategy', 'rsi-reversion', '--interval', '1h', '--optimize', 'grid', '--param', 'period=10:14:2', '--param', 'lower=30', '--param', 'upper=70', '--workers', '1'], lake)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/grid search of rsi-reversion on binance:BTCUSDT 1h: 3 runs/)
  })

  it('writes --report and --trades of an --optimize run for the best parameters over the whole range', () => {
    const report = join(dir, 'opt', 'best.html')
    const trades = join(dir, 'opt', 'best-trades.csv')
    const opt = ['backtest', 'binance:BTCUSDT', '--strategy', 'rsi-reversion', '--interval', '1h', '--optimize', 'grid', '--param', 'period=10:14:2', '--param', 'lower=30', '--param', 'upper=70', '--workers', '1']
    const j = cliJson<{ best: { params: Record<string, number> }; files: Record<string, string> }>([...opt, '--report', report, '--trades', trades], lake)
    expect(j.files).toEqual({ report, trades })
    // The same files as a plain run with the best parameters writes
    const plainTrades = join(dir, 'opt', 'plain-trades.csv')
    const params = Object.entries(j.best.params).flatMap(([k, v]) => ['--param', `${k}=${v}`])
    const plain = cli(['backtest', 'binance:BTCUSDT', '--strategy', 'rsi-reversion', '--interval', '1h', ...params, '--trades', plainTrades], lake)
    expect(plain.code, plain.stderr).toBe(0)
    expect(readFileSync(trades, 'utf8')).toBe(readFileSync(plainTrades, 'utf8'))
    expect(readFileSync(trades, 'utf8').split('\n').length).toBeGreaterThan(3)
    expect(readFileSync(report, 'utf8')).toMatch(/<html[\s\S]*rsi-reversion/)
  })

  it('answers bad input with one line and exit code 2', () => {
    const ts = join(dir, 'mine.ts')
    writeFileSync(ts, 'export default {}\n')
    const B = ['backtest', 'binance:BTCUSDT']
    const S = [...B, '--strategy', 'rsi-reversion']
    const cases: [string[], RegExp][] = [
      [B, /Missing --strategy/],
      [[...B, '--strategy', 'nonsense'], /Invalid --strategy: 'nonsense'\. Expected a built-in \(rsi-reversion, mtf-trend, buy-and-hold\)/],
      [[...S, '--interval', '7m'], /Invalid --interval: '7m'/],
      [[...S, '--interval', '1M'], /Invalid --interval: 1M bars have no fixed length/],
      [[...S, '--from', 'soon'], /Invalid --from: 'soon'/],
      [[...S, '--from', '2024-12-01', '--to', '2024-11-01'], /Invalid --to: it must be after --from/],
      [[...S, '--fees', 'maker=0.1%'], /Invalid --fees: 'maker=0\.1%'\. Expected maker=RATE,taker=RATE/],
      [[...S, '--fees', 'taker=5'], /Invalid --fees: 'taker=5'/],
      [[...S, '--slippage', 'lots'], /Invalid --slippage: 'lots'\. Expected basis points such as 2, or 'book'/],
      [[...S, '--param', 'period=1'], /Invalid rsi-reversion period: 1\. Expected an integer from 2 to 100/],
      [[...S, '--param', 'lenght=3'], /Unknown parameter 'lenght' for strategy rsi-reversion/],
      [[...S, '--param', 'period=5:20:1'], /Invalid --param: 'period=5:20:1'\. Expected name=value, e\.g\. period=21 \(ranges such as lo:hi:step need --optimize\)/],
      [[...S, '--leverage', '3'], /Invalid --leverage: 3\. Spot trades without leverage/],
      [[...S, '--leverage', '500'], /Invalid --leverage: '500'\. Expected a number from 1 to 125/],
      [[...S, '--capital', '-5'], /Invalid --capital: '-5'/],
      [[...S, '--market', 'margin'], /Invalid --market: 'margin'\. Expected spot or perp/],
      [[...S, '--participation', '150%'], /Invalid --participation: '150%'/],
      [[...S, '--sizing', 'half'], /Invalid --sizing: 'half'/],
      [[...S, '--report', 'out.pdf'], /Invalid --report: 'out\.pdf'\. Expected a file name ending in \.html or \.htm/],
      [[...S, '--trades', 'out.xlsx'], /Invalid --trades: 'out\.xlsx'/],
      [[...S, '--trials', '5'], /Invalid --trials: it applies to --optimize runs only/],
      [[...S, '--optimize', 'annealing'], /Invalid --optimize: 'annealing'\. Expected grid, random or tpe/],
      [['backtest', 'binance:ETHUSDT', '--strategy', 'rsi-reversion'], /No bars for binance:ETHUSDT at 1h or finer in the lake/],
      [['backtest', 'kraken:XBTUSD', '--strategy', 'rsi-reversion'], /unknown exchange 'kraken'/],
      [['backtest', 'binance:BTCUSDT', 'binance:BTCUSDT', '--strategy', 'rsi-reversion'], /Invalid <instrument>: binance:BTCUSDT is given twice/],
      [[...S, '--from', '2030-01-01'], /No 1h bars for binance:BTCUSDT in the requested range/],
      [[...S, '--intrabar', '5m'], /Invalid --intrabar: '5m'\. Expected 1m/],
      [[...B, '--strategy', join(dir, 'none.mjs')], /Invalid --strategy: '.*none\.mjs' is not a file/],
    ]
    cases.push([[...B, '--strategy', ts], /mine\.ts' has no onBar function/])
    for (const [args, message] of cases) {
      const r = cli(args, lake)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr).toMatch(message)
    }
  })

  it('reports gaps before the run, and --strict refuses to run over the real 2023-03-24 outage', () => {
    const outage = tempDir()
    expect(cli(['backfill', '--archive', OUTAGE], outage).code).toBe(0)
    const args = ['backtest', 'binance:BTCUSDT', '--strategy', 'rsi-reversion', '--interval', '1h']
    const strict = cli([...args, '--strict'], outage)
    expect(strict.code).toBe(1)
    expect(strict.stdout).toBe('')
    expect(strict.stderr).toBe(
      'mercury: Refusing to run over a gap (--strict): binance:BTCUSDT: 80 bars missing from 2023-03-24T12:40:00Z to 2023-03-24T13:59:00Z\n',
    )
    const loose = cli(args, outage)
    expect(loose.code, loose.stderr).toBe(0)
    expect(loose.stderr).toBe('warning: gap in the data: binance:BTCUSDT: 80 bars missing from 2023-03-24T12:40:00Z to 2023-03-24T13:59:00Z\n')
    expect(loose.stdout).toMatch(/note: the range has 1 data gap\(s\); --strict refuses to run over them/)
    const j = cliJson<Json>(args, outage)
    expect(j.gaps).toEqual([{ instrument: 'binance:BTCUSDT', from: '2023-03-24T12:40:00Z', to: '2023-03-24T13:59:00Z', missing: 80 }])
    // A range clear of the outage runs under --strict
    expect(cli([...args, '--strict', '--from', '2023-03-25'], outage).code).toBe(0)
    expect(existsSync(join(outage, 'bars'))).toBe(true)
  })
})
