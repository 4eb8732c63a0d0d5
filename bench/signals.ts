// npm run bench, indicator section: every registered indicator over 1,000,000 real or real-derived rows (batch
// and streaming), compared in the same run with TA-Lib (its C functions called directly on double arrays, and
// the talib npm binding), technicalindicators and trading-signals for the indicators they share.
//
// TA-Lib is built from the talib npm tarball by scripts/talib/build.sh into a cache folder; when that fails
// (offline, no compiler) its columns are left empty and the section says why.

import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { gunzipSync } from 'node:zlib'
import * as TS from 'trading-signals'
import { NumericCsvScanner } from '../src/lib/archive/csv.js'
import { openArchive } from '../src/lib/archive/source.js'
import { KlineParser, TradeParser, type ArchiveRowParser } from '../src/lib/exchanges/binance/archive.js'
import { BatchArena, openStream, resolveParams, runBatch } from '../src/lib/signals/engine.js'
import { INDICATORS } from '../src/lib/signals/registry.js'
import type { Columns, IndicatorDef, Source } from '../src/lib/signals/types.js'
import { withArena } from '../src/lib/signals/util.js'

const ROOT = resolve(import.meta.dirname, '..', '..')
const SHARED = resolve(ROOT, '..', 'shared', 'data', 'real', 'jan-kluger-backtest')
const KLINES = join(ROOT, 'datasets', 'binance', 'spot', 'klines', 'BTCUSDT', '1m')
const TRADES = join(ROOT, 'datasets', 'binance', 'spot', 'trades', 'BTCUSDT')
const SIGNAL_FIXTURES = join(ROOT, 'tests', 'fixtures', 'signals')
const N = 1_000_000
/** Repetitions of a third-party call stop once they have taken this long together */
const THIRD_PARTY_BUDGET_MS = 3000

const log = (...a: unknown[]) => console.log(...a)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
/** Rounds of the batch comparison: a new process for each side in each round, the best of each side's rounds */
const ROUNDS = 5
const msFmt = (x: number | undefined) => (x === undefined ? '-' : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0))
const intFmt = (x: number) => Math.round(x).toLocaleString('en-US')

/** Median wall time of `reps` calls in ms; stops early once `budgetMs` is spent (then fewer runs count) */
function timeIt(fn: () => unknown, reps = 3, budgetMs = Infinity): { ms: number; runs: number } {
  const times: number[] = []
  let spent = 0
  let sink = 0
  for (let r = 0; r < reps; r++) {
    const t = performance.now()
    const out = fn()
    const dt = performance.now() - t
    times.push(dt)
    spent += dt
    // Keep the result observable so no call can be optimised away
    if (out !== undefined) sink++
    if (spent > budgetMs) break
  }
  if (sink < 0) log(sink)
  return { ms: median(times), runs: times.length }
}

// --- Data -------------------------------------------------------------------------------------------------

async function parseArchives(files: string[], make: () => ArchiveRowParser): Promise<Record<string, Float64Array>> {
  const p = make()
  for (const f of files) {
    for await (const e of openArchive(f).entries()) {
      const s = new NumericCsvScanner(12, (v, n, l, t) => p.row(v, n, l, t))
      for await (const c of e.stream) s.push(c)
      s.end()
    }
  }
  const n = p.batch.rows
  return Object.fromEntries(Object.entries(p.batch.cols).map(([k, v]) => [k, v.slice(0, n)]))
}

/** Reads a gzip CSV with a header row (tests/fixtures/signals) into columns */
function readCsvGz(path: string): Record<string, Float64Array> {
  const lines = gunzipSync(readFileSync(path)).toString('utf8').split('\n').filter((l) => l.length > 0)
  const header = lines[0].split(',')
  const cols = header.map(() => new Float64Array(lines.length - 1))
  for (let i = 1; i < lines.length; i++) {
    const cells = lines[i].split(',')
    for (let k = 0; k < header.length; k++) cols[k][i - 1] = Number(cells[k])
  }
  return Object.fromEntries(header.map((h, k) => [h, cols[k]]))
}

/**
 * Repeats a real series to `n` rows. Each copy's time columns continue after the previous copy and its price
 * columns are scaled so that its first price meets the previous copy's last one: no gap in time, no jump in
 * price, the real bar-to-bar moves preserved (real-derived data)
 */
function repeatTo(
  src: Record<string, Float64Array>,
  n: number,
  opts: { time: string[]; step: number; prices: string[]; first: string; last: string },
): Record<string, Float64Array> {
  const len = Object.values(src)[0].length
  const t0 = src[opts.time[0]]
  const span = t0.length ? t0[len - 1] - t0[0] + opts.step : 0
  const ratio = opts.prices.length ? src[opts.last][len - 1] / src[opts.first][0] : 1
  const out: Record<string, Float64Array> = {}
  for (const [name, col] of Object.entries(src)) {
    const dst = new Float64Array(n)
    const isTime = opts.time.includes(name)
    const isPrice = opts.prices.includes(name)
    for (let start = 0, k = 0; start < n; start += len, k++) {
      const m = Math.min(len, n - start)
      if (k === 0 || (!isTime && !isPrice)) dst.set(col.subarray(0, m), start)
      else if (isTime) for (let i = 0; i < m; i++) dst[start + i] = col[i] + k * span
      else {
        const f = ratio ** k
        for (let i = 0; i < m; i++) dst[start + i] = col[i] * f
      }
    }
    out[name] = dst
  }
  return out
}

interface BenchData {
  columns: Partial<Record<Source, Columns>>
  /** What each source's rows are, for the notes */
  describe: string[]
}

async function loadData(): Promise<BenchData> {
  const describe: string[] = []
  const columns: Partial<Record<Source, Columns>> = {}
  const barPrices = ['open', 'high', 'low', 'close', 'quote_volume', 'taker_buy_quote_volume']
  const barTimes = ['open_time', 'close_time', 'local_timestamp']
  const year = Array.from({ length: 12 }, (_, i) => join(SHARED, `BTCUSDT-1m-2024-${String(i + 1).padStart(2, '0')}.csv.gz`))
  if (year.every((f) => existsSync(f))) {
    const bars = await parseArchives(year, () => new KlineParser('1m'))
    columns.bars = repeatTo(bars, N, { time: barTimes, step: 60e6, prices: barPrices, first: 'open', last: 'close' })
    describe.push(
      `bars: the real 2024 BTCUSDT 1m year (${intFmt(bars.close.length)} rows, ../shared/data/real) followed by its first ` +
        `${intFmt(N - bars.close.length)} rows again with prices scaled to continue from the year's last close`,
    )
  } else {
    const files = ['BTCUSDT-1m-2024-11.zip', 'BTCUSDT-1m-2024-12.zip', 'BTCUSDT-1m-2025-01-01.zip'].map((f) => join(KLINES, f))
    const bars = await parseArchives(files, () => new KlineParser('1m'))
    columns.bars = repeatTo(bars, N, { time: barTimes, step: 60e6, prices: barPrices, first: 'open', last: 'close' })
    describe.push(
      `bars: ../shared/data/real is absent, so the shipped datasets months (${intFmt(bars.close.length)} real BTCUSDT 1m ` +
        'rows, 2024-11 to 2025-01-01) repeated to 1,000,000 rows, each copy scaled to continue from the previous close',
    )
  }
  const tradeFiles = ['BTCUSDT-trades-2024-08-08.zip', 'BTCUSDT-trades-2024-08-09.zip'].map((f) => join(TRADES, f))
  const trades = await parseArchives(tradeFiles, () => new TradeParser())
  columns.trades = repeatTo(trades, N, { time: ['timestamp', 'local_timestamp'], step: 1000, prices: ['price'], first: 'price', last: 'price' })
  describe.push(`trades: ${intFmt(trades.price.length)} real BTCUSDT spot trades (datasets/) repeated to 1,000,000 rows`)
  const bookFile = join(SIGNAL_FIXTURES, 'btcusdt-spot-book20-1s-20240808.csv.gz')
  if (existsSync(bookFile)) {
    const book = readCsvGz(bookFile)
    columns.book = repeatTo(book, N, { time: ['timestamp'], step: 1e6, prices: [], first: '', last: '' })
    describe.push(`book: ${book.timestamp.length} real BTCUSDT top-20 snapshots (tests/fixtures/signals) repeated to 1,000,000 rows`)
  }
  const fundingFile = join(SIGNAL_FIXTURES, 'btcusdt-usdm-funding-1s-20230404.csv.gz')
  if (existsSync(fundingFile)) {
    const funding = readCsvGz(fundingFile)
    columns.funding = repeatTo(funding, N, { time: ['timestamp'], step: 1e6, prices: [], first: '', last: '' })
    describe.push(`funding: ${funding.timestamp.length} real BTCUSDT mark-price/funding events repeated to 1,000,000 rows`)
  }
  return { columns, describe }
}

// --- mercury ------------------------------------------------------------------------------------------------

/**
 * ns per openStream update over all rows of `input`, feeding each row through one reused input array; `raw`
 * uses the definition's own stream, without the engine's finite-input check
 */
function streamNs(def: IndicatorDef, input: Columns, raw = false): number {
  const cols = def.inputs.map((k) => input[k])
  const n = cols[0].length
  const s = raw ? def.stream(resolveParams(def)) : openStream(def)
  const x = new Float64Array(cols.length)
  let sink = 0
  const t = performance.now()
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < cols.length; k++) x[k] = cols[k][i]
    s.update(x)
  }
  const dt = performance.now() - t
  sink += s.out[0]
  if (sink === Infinity) log(sink)
  return (dt * 1e6) / n
}

// --- TA-Lib -------------------------------------------------------------------------------------------------

interface TalibBuild {
  paths?: Record<string, string>
  error?: string
}

function buildTalib(binding: boolean): TalibBuild {
  const script = join(ROOT, 'scripts', 'talib', 'build.sh')
  const r = spawnSync('bash', [script, ...(binding ? ['--binding'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').filter((l) => !/npm warn/i.test(l)).slice(-3).join(' / ')
    return { error: `scripts/talib/build.sh${binding ? ' --binding' : ''} failed: ${why}` }
  }
  const paths = Object.fromEntries(
    r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  )
  return { paths }
}

/** Writes the bars' OHLCV as scripts/talib/bench.c reads them (five float64 columns) into `file` */
function writeTalibBars(file: string, bars: Columns): void {
  const all = new Float64Array(5 * N)
  ;['open', 'high', 'low', 'close', 'volume'].forEach((k, j) => all.set(bars[k].subarray(0, N), j * N))
  writeFileSync(file, new Uint8Array(all.buffer))
}

/**
 * Runs scripts/talib/bench.c over the bars in `file` for the TA-Lib functions `names`: TA name -> median ms of 5,
 * into warm and into fresh outputs
 */
function benchTalibC(bin: string, file: string, names: string[]): { ms: Record<string, number>; msFresh: Record<string, number> } {
  const r = spawnSync(bin, [file, '5', ...names], { encoding: 'utf8', maxBuffer: 1 << 20 })
  if (r.status !== 0) throw new Error(`${bin} failed: ${r.stderr}`)
  const parsed = JSON.parse(r.stdout) as { rows: number; ms: Record<string, number>; msFresh: Record<string, number> }
  if (parsed.rows !== N) throw new Error(`${bin} read ${parsed.rows} rows`)
  return parsed
}

interface TalibBinding {
  version: string
  explain(name: string): {
    inputs: { name: string; type: string; flags?: Record<string, string> }[]
    optInputs: { name: string; defaultValue: number }[]
  }
  execute(p: Record<string, unknown>): { begIndex: number; nbElement: number; result: Record<string, number[]> } | { error: string }
}

/** Times the talib npm binding (plain JS arrays in and out, as it takes them) at TA-Lib's defaults */
function benchTalibBinding(talib: TalibBinding, names: string[], arrays: Record<string, number[]>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const name of names) {
    const info = talib.explain(name)
    const p: Record<string, unknown> = { name, startIdx: 0, endIdx: N - 1 }
    for (const inp of info.inputs) {
      if (inp.type === 'price') for (const f of Object.values(inp.flags ?? {})) p[f] = arrays[f]
      else p[inp.name] = arrays.close
    }
    for (const o of info.optInputs) p[o.name] = o.defaultValue
    const first = talib.execute(p)
    if ('error' in first) throw new Error(`talib.execute(${name}): ${first.error}`)
    out[name] = timeIt(() => talib.execute(p), 3).ms
  }
  return out
}

// --- JavaScript libraries -----------------------------------------------------------------------------------

type TiCalc = { calculate(input: Record<string, unknown>): unknown[] }
type Candle = { open: number; high: number; low: number; close: number; volume: number }
interface Updatable {
  update(input: never, replace: boolean): unknown
}

interface Peer {
  /** technicalindicators call and what it computes when it differs from ours */
  ti?: () => unknown[]
  tiNote?: string
  /** trading-signals: a fresh instance, fed every close (`close`) or every candle (`candle`) */
  ts?: () => Updatable
  tsInput?: 'close' | 'candle'
  tsNote?: string
}

function peers(arrays: Record<string, number[]>): Record<string, Peer> {
  const ti = createRequire(import.meta.url)('technicalindicators') as Record<string, TiCalc>
  const { open, high, low, close, volume } = arrays
  const values = close
  const c = 'close' as const
  const k = 'candle' as const
  return {
    sma: { ti: () => ti.SMA.calculate({ period: 30, values }), ts: () => new TS.SMA(30), tsInput: c },
    ema: { ti: () => ti.EMA.calculate({ period: 30, values }), ts: () => new TS.EMA(30), tsInput: c },
    wma: { ti: () => ti.WMA.calculate({ period: 30, values }), ts: () => new TS.WMA(30), tsInput: c },
    dema: { ts: () => new TS.DEMA(30), tsInput: c },
    tema: { ts: () => new TS.TEMA(30), tsInput: c },
    trima: { ts: () => new TS.TRIMA(30), tsInput: c },
    kama: { ts: () => new TS.KAMA(30), tsInput: c },
    t3: { ts: () => new TS.T3(5, 0.7), tsInput: c },
    sar: {
      ti: () => ti.PSAR.calculate({ high, low, step: 0.02, max: 0.2 }),
      ts: () => new TS.PSAR({ accelerationStep: 0.02, accelerationMax: 0.2 }),
      tsInput: k,
    },
    adx: { ti: () => ti.ADX.calculate({ high, low, close, period: 14 }), ts: () => new TS.ADX(14), tsInput: k },
    adxr: { ts: () => new TS.ADXR(14), tsInput: k },
    dx: { ts: () => new TS.DX(14), tsInput: k },
    aroon: { ts: () => new TS.Aroon(14), tsInput: k },
    linearreg: { ts: () => new TS.LinearRegression(14), tsInput: c, tsNote: 'LinearRegression (slope, intercept and prediction at once)' },
    rsi: { ti: () => ti.RSI.calculate({ period: 14, values }), ts: () => new TS.RSI(14), tsInput: c },
    macd: {
      ti: () => ti.MACD.calculate({ values, fastPeriod: 12, slowPeriod: 26, signalPeriod: 9, SimpleMAOscillator: false, SimpleMASignal: false }),
      ts: () => new TS.MACD(new TS.EMA(12), new TS.EMA(26), new TS.EMA(9)),
      tsInput: c,
    },
    stoch: { ts: () => new TS.StochasticOscillator({ kPeriod: 5, kSlowingPeriod: 3, dPeriod: 3 }), tsInput: k },
    stochf: { ti: () => ti.Stochastic.calculate({ high, low, close, period: 5, signalPeriod: 3 }), tiNote: 'Stochastic (fast %K, SMA %D)' },
    stochrsi: {
      ti: () => ti.StochasticRSI.calculate({ values, rsiPeriod: 14, stochasticPeriod: 5, kPeriod: 1, dPeriod: 3 }),
      ts: () => new TS.StochasticRSI(14),
      tsInput: c,
      tsNote: 'StochasticRSI(14): one period for RSI and stochastic, %K and %D smoothed by SMA 3',
    },
    cci: { ti: () => ti.CCI.calculate({ high, low, close, period: 14 }), ts: () => new TS.CCI(14), tsInput: k },
    roc: { ti: () => ti.ROC.calculate({ period: 10, values }), ts: () => new TS.ROC(10), tsInput: c },
    willr: { ti: () => ti.WilliamsR.calculate({ high, low, close, period: 14 }), ts: () => new TS.WilliamsR(14), tsInput: k },
    ppo: { ts: () => new TS.PPO({ fastPeriod: 12, slowPeriod: 26 }), tsInput: c, tsNote: 'PPO on EMAs (TA-Lib default: SMAs)' },
    apo: { ts: () => new TS.APO({ fastPeriod: 12, slowPeriod: 26 }), tsInput: c, tsNote: 'APO on EMAs (TA-Lib default: SMAs)' },
    trix: { ti: () => ti.TRIX.calculate({ period: 30, values }), ts: () => new TS.TRIX(30), tsInput: c },
    cmo: { ts: () => new TS.CMO(14), tsInput: c },
    mfi: { ti: () => ti.MFI.calculate({ high, low, close, volume, period: 14 }), ts: () => new TS.MFI(14), tsInput: k },
    mom: { ts: () => new TS.MOM(10), tsInput: c },
    ultosc: { ts: () => new TS.UltimateOscillator({ shortPeriod: 7, mediumPeriod: 14, longPeriod: 28 }), tsInput: k },
    bop: { ts: () => new TS.BOP(), tsInput: k },
    atr: { ti: () => ti.ATR.calculate({ high, low, close, period: 14 }), ts: () => new TS.ATR(14), tsInput: k },
    natr: { ts: () => new TS.NATR(14), tsInput: k },
    trange: { ti: () => ti.TrueRange.calculate({ high, low, close }), ts: () => new TS.TR(), tsInput: k },
    bbands: { ti: () => ti.BollingerBands.calculate({ period: 5, values, stdDev: 2 }), ts: () => new TS.BollingerBands(5, 2), tsInput: c },
    bbands_width: { ts: () => new TS.BollingerBandsWidth(new TS.BollingerBands(5, 2)), tsInput: c },
    bbands_pctb: { ts: () => new TS.PercentB({ interval: 5, deviationMultiplier: 2 }), tsInput: c },
    stddev: { ti: () => ti.SD.calculate({ period: 5, values }) },
    obv: { ti: () => ti.OBV.calculate({ close, volume }), ts: () => new TS.OBV(2), tsInput: k },
    ad: { ti: () => ti.ADL.calculate({ high, low, close, volume }), ts: () => new TS.AD(), tsInput: k },
    adosc: { ts: () => new TS.ADOSC({ fastPeriod: 3, slowPeriod: 10 }), tsInput: k },
    tsi: { ts: () => new TS.TSI({ longPeriod: 25, shortPeriod: 13 }), tsInput: c, tsNote: 'TSI without the signal line' },
    ao: { ti: () => ti.AwesomeOscillator.calculate({ high, low, fastPeriod: 5, slowPeriod: 34 }), ts: () => new TS.AO(5, 34), tsInput: k },
    hma: { ts: () => new TS.HMA(9), tsInput: c },
    supertrend: { ts: () => new TS.SuperTrend({ interval: 10, multiplier: 3 }), tsInput: k },
    ichimoku: {
      ti: () => ti.IchimokuCloud.calculate({ high, low, conversionPeriod: 9, basePeriod: 26, spanPeriod: 52, displacement: 26 }),
      ts: () => new TS.IchimokuCloud({ conversionInterval: 9, baseInterval: 26, spanBInterval: 52 }),
      tsInput: k,
    },
    keltner: {
      ti: () => ti.KeltnerChannels.calculate({ high, low, close, maPeriod: 20, atrPeriod: 10, useSMA: false, multiplier: 2 }),
      ts: () => new TS.KeltnerChannels({ atrInterval: 10, emaInterval: 20, multiplier: 2 }),
      tsInput: k,
    },
    donchian: { ts: () => new TS.DonchianChannels(20), tsInput: k },
    cmf: { ts: () => new TS.CMF(20), tsInput: k },
    vwma: { ts: () => new TS.VWMA(20), tsInput: k },
    pvt: { ts: () => new TS.PVT(), tsInput: k },
    force_index: {
      ti: () => ti.ForceIndex.calculate({ open, high, low, close, volume, period: 13 }),
      ts: () => new TS.ForceIndex(13),
      tsInput: k,
    },
  }
}

/** Feeds every row to a fresh trading-signals instance (its API is incremental only) */
function runTradingSignals(make: () => Updatable, input: 'close' | 'candle', close: Float64Array, candles: Candle[]): number {
  const ind = make() as { update(x: unknown, replace: boolean): unknown }
  let got = 0
  if (input === 'close') {
    for (let i = 0; i < close.length; i++) if (ind.update(close[i], false) !== null) got++
  } else {
    for (let i = 0; i < candles.length; i++) if (ind.update(candles[i], false) !== null) got++
  }
  return got
}

// --- The section ----------------------------------------------------------------------------------------------

interface Row {
  def: IndicatorDef
  rows: number
  /** runBatch returning new output arrays */
  batchMs?: number
  /** runBatch with a BatchArena whose arrays a previous run has already touched */
  arenaMs?: number
  /** def.batch alone with the same arena, without runBatch's parameter and finite-input checks */
  rawMs?: number
  streamNs?: number
  skipped?: string
}

const taName = (talib: string) => talib.toUpperCase().replace(/^TA_/, '')

/**
 * A def with one output named after itself whose id is not the TA-Lib name (bbands_pctb from TA_BBANDS) derives
 * its value from TA-Lib's outputs, so it is not timed against TA-Lib
 */
const derivedFromTalib = (d: IndicatorDef) =>
  d.talib !== undefined && d.outputs.length === 1 && d.outputs[0] === d.id && d.id !== taName(d.talib).toLowerCase()

export async function runSignalsBench(): Promise<string> {
  const t0 = performance.now()
  const loadStart = loadavg()[0]
  log('\nindicators: loading 1,000,000 rows per source')
  const data = await loadData()
  const bars = data.columns.bars as Columns
  const notes: string[] = []

  // 1. Streaming targets first, while the engine's stream wrapper has seen only these indicators (its call
  //    site becomes polymorphic once every indicator has streamed through it, as in an app using many)
  const targetStream: Record<string, number> = {}
  const rawStream: Record<string, number> = {}
  for (const id of ['ema', 'rsi', 'sma']) {
    const def = INDICATORS.find((d) => d.id === id)
    if (!def) continue
    targetStream[id] = median([0, 1, 2].map(() => streamNs(def, bars)))
    rawStream[id] = median([0, 1, 2].map(() => streamNs(def, bars, true)))
    log(`stream ${id}: ${targetStream[id].toFixed(1)} ns/update (${rawStream[id].toFixed(1)} ns without openStream)`)
  }

  // What one padded output array costs, to read the batch ratios against TA-Lib C by
  const allocMs = timeIt(() => new Float64Array(N).fill(NaN), 5).ms

  // TA-Lib C is built first, so that each shared indicator's TA-Lib function runs right after mercury's runs of it:
  // on a machine other processes share, the two are then timed under the same load
  const claimed = INDICATORS.filter((d) => d.talib && !derivedFromTalib(d))
  const talibNames = [...new Set(claimed.map((d) => taName(d.talib as string)))]
  const talibC: Record<string, number> = {}
  const talibFresh: Record<string, number> = {}
  let binding: Record<string, number> = {}
  log('TA-Lib: scripts/talib/build.sh')
  const built = buildTalib(false)
  const talibDir = mkdtempSync(join(tmpdir(), 'mercury-talib-'))
  const talibFile = join(talibDir, 'bars.f64')
  let talibError = built.paths ? undefined : built.error
  if (built.paths) writeTalibBars(talibFile, bars)

  // 2. Every indicator: runBatch with new outputs (median of 3), runBatch and def.batch with an arena touched by a
  //    first run (median of 5 each), then one streaming pass. One arena serves every indicator, reset before each
  //    run: a caller computing everything and keeping only what it stores needs no more
  const arena = new BatchArena()
  const rows: Row[] = []
  for (const def of INDICATORS) {
    const input = data.columns[def.source]
    if (!input) {
      rows.push({ def, rows: 0, skipped: `no real ${def.source} data to derive 1,000,000 rows from` })
      continue
    }
    const batchMs = timeIt(() => runBatch(def, input), 3).ms
    const withArenaRun = () => {
      arena.reset()
      return runBatch(def, input, {}, { arena })
    }
    withArenaRun()
    const p = resolveParams(def)
    const rawMs = timeIt(() => {
      arena.reset()
      return withArena(arena, () => def.batch(input, p))
    }, 5).ms
    const arenaMs = timeIt(withArenaRun, 5).ms
    const ns = targetStream[def.id] ?? streamNs(def, input)
    rows.push({ def, rows: N, batchMs, arenaMs, rawMs, streamNs: ns })
    log(`${def.id}: batch ${msFmt(batchMs)} ms new outputs, ${msFmt(arenaMs)} ms arena, stream ${ns.toFixed(1)} ns/update`)
  }
  // Every indicator in one pass, as a caller computing all of them would: with the arena (reset before each) and
  // with new outputs; median of 3 passes each
  const timed = rows.filter((r) => r.batchMs !== undefined)
  const pass = (useArena: boolean) => () => {
    for (const r of timed) {
      const input = data.columns[r.def.source] as Columns
      if (useArena) {
        arena.reset()
        runBatch(r.def, input, {}, { arena })
      } else runBatch(r.def, input)
    }
  }
  const passArenaMs = timeIt(pass(true), 3).ms
  const passFreshMs = timeIt(pass(false), 3).ms
  log(`all indicators in one pass: ${msFmt(passArenaMs)} ms with one arena, ${msFmt(passFreshMs)} ms with new outputs`)

  // The batch comparison with TA-Lib C: ROUNDS rounds, each a new mercury process timing every shared indicator
  // (bench/signals-child.ts), then a new TA-Lib C process timing every TA-Lib function, both reading the same bars
  // file; each side keeps its best round. This VM runs some processes 1.6-2x slower than others throughout, at
  // random, TA-Lib C's as well as Node's (BENCHMARKS.md), so one process per side would compare placements as often
  // as code. Not pinned to one CPU: V8 compiles on background threads, which a pinned process starves (sar took
  // 21-28 ms pinned with taskset against 10 ms unpinned)
  const sharedDefs = claimed.filter((d) => d.source === 'bars' && d.inputs.every((k) => ['open', 'high', 'low', 'close', 'volume'].includes(k)))
  const ours: Record<string, { ms: number[]; msFresh: number[] }> = Object.fromEntries(sharedDefs.map((d) => [d.id, { ms: [], msFresh: [] }]))
  const theirs: Record<string, { ms: number[]; msFresh: number[] }> = Object.fromEntries(talibNames.map((t) => [t, { ms: [], msFresh: [] }]))
  const bin = built.paths?.BENCH_BIN
  const child = join(import.meta.dirname, 'signals-child.js')
  for (let round = 0; round < ROUNDS && bin !== undefined && !talibError; round++) {
    log(`round ${round + 1} of ${ROUNDS}: mercury, then TA-Lib C, each in a new process`)
    try {
      const r = spawnSync(process.execPath, [child, talibFile, ...sharedDefs.map((d) => d.id)], { encoding: 'utf8', maxBuffer: 1 << 20 })
      if (r.status !== 0) throw new Error(`bench/signals-child failed: ${r.stderr}`)
      const got = JSON.parse(r.stdout) as { ms: Record<string, number>; msFresh: Record<string, number> }
      for (const d of sharedDefs) {
        ours[d.id].ms.push(got.ms[d.id])
        ours[d.id].msFresh.push(got.msFresh[d.id])
      }
      const c = benchTalibC(bin, talibFile, talibNames)
      for (const t of talibNames) {
        theirs[t].ms.push(c.ms[t])
        theirs[t].msFresh.push(c.msFresh[t])
      }
    } catch (err) {
      talibError = (err as Error).message
    }
  }
  const best = (xs: number[]) => (xs.length ? Math.min(...xs) : undefined)
  const oursBest: Record<string, { ms?: number; msFresh?: number }> = Object.fromEntries(
    sharedDefs.map((d) => [d.id, { ms: best(ours[d.id].ms), msFresh: best(ours[d.id].msFresh) }]),
  )
  for (const t of talibNames) {
    const ms = best(theirs[t].ms)
    const msFresh = best(theirs[t].msFresh)
    if (ms !== undefined && msFresh !== undefined) {
      talibC[t] = ms
      talibFresh[t] = msFresh
    }
  }
  const sum = (rs: Row[], k: 'batchMs' | 'arenaMs') => rs.reduce((s, r) => s + (r[k] as number), 0)
  const totalMs = sum(timed, 'batchMs')
  const totalArenaMs = sum(timed, 'arenaMs')
  const barRows = timed.filter((r) => r.def.source === 'bars')
  const barTotalMs = sum(barRows, 'batchMs')
  const barTotalArenaMs = sum(barRows, 'arenaMs')
  const arenaMb = arena.bytes / 1e6

  // 3. TA-Lib C (timed above, beside mercury) and the binding
  rmSync(talibDir, { recursive: true, force: true })
  if (talibError) notes.push(`TA-Lib C columns are empty or partial: ${talibError}`)
  else log(`TA-Lib C: ${Object.keys(talibC).length} functions timed`)
  const arrays: Record<string, number[]> = Object.fromEntries(['open', 'high', 'low', 'close', 'volume'].map((k) => [k, Array.from(bars[k])]))
  const withBinding = built.paths ? buildTalib(true) : built
  let bindingVersion = ''
  if (withBinding.paths?.TALIB_BINDING) {
    try {
      const talib = createRequire(import.meta.url)(withBinding.paths.TALIB_BINDING) as TalibBinding
      bindingVersion = talib.version
      binding = benchTalibBinding(talib, talibNames.filter((n) => n in talibC || !Object.keys(talibC).length), arrays)
      log(`talib binding: ${Object.keys(binding).length} functions timed`)
    } catch (err) {
      notes.push(`talib binding column is empty: ${(err as Error).message}`)
    }
  } else {
    notes.push(`talib binding column is empty: ${withBinding.error}`)
  }

  // 4. technicalindicators and trading-signals
  const candles: Candle[] = Array.from({ length: N }, (_, i) => ({
    open: bars.open[i],
    high: bars.high[i],
    low: bars.low[i],
    close: bars.close[i],
    volume: bars.volume[i],
  }))
  const peerMap = peers(arrays)
  const tiMs: Record<string, { ms: number; runs: number }> = {}
  const tsMs: Record<string, { ms: number; runs: number }> = {}
  const peerNotes: string[] = []
  for (const [id, p] of Object.entries(peerMap)) {
    if (!INDICATORS.some((d) => d.id === id)) continue
    try {
      if (p.ti) tiMs[id] = timeIt(p.ti, 3, THIRD_PARTY_BUDGET_MS)
      if (p.ts) tsMs[id] = timeIt(() => runTradingSignals(p.ts as () => Updatable, p.tsInput ?? 'close', bars.close, candles), 3, THIRD_PARTY_BUDGET_MS)
    } catch (err) {
      peerNotes.push(`${id}: ${(err as Error).message}`)
    }
    if (p.tiNote) peerNotes.push(`${id}: technicalindicators ${p.tiNote}`)
    if (p.tsNote) peerNotes.push(`${id}: trading-signals ${p.tsNote}`)
    log(`${id}: technicalindicators ${msFmt(tiMs[id]?.ms)} ms, trading-signals ${msFmt(tsMs[id]?.ms)} ms`)
  }

  // 5. Tables
  const rowOf = (id: string) => rows.find((r) => r.def.id === id)
  const sharedIds = [...new Set([...claimed.map((d) => d.id), ...Object.keys(peerMap)])].filter((id) => INDICATORS.some((d) => d.id === id))
  const sharedRows: string[][] = []
  /** arena: mercury with an arena vs TA-Lib C into warm arrays; fresh: both into new pages; mixed: mercury new vs TA-Lib warm */
  const ratios: { id: string; arena: number; fresh?: number; mixed: number }[] = []
  for (const id of sharedIds) {
    const def = INDICATORS.find((d) => d.id === id) as IndicatorDef
    const ta = def.talib && !derivedFromTalib(def) ? taName(def.talib) : undefined
    const ours = oursBest[id]?.msFresh ?? rowOf(id)?.batchMs
    const oursArena = oursBest[id]?.ms ?? rowOf(id)?.arenaMs
    const c = ta ? talibC[ta] : undefined
    const cf = ta ? talibFresh[ta] : undefined
    const ratioArena = oursArena !== undefined && c !== undefined ? oursArena / c : undefined
    const ratioFresh = ours !== undefined && cf !== undefined ? ours / cf : undefined
    if (ratioArena !== undefined && ours !== undefined && c !== undefined) {
      ratios.push({ id, arena: ratioArena, fresh: ratioFresh, mixed: ours / c })
    }
    const runs = (x?: { ms: number; runs: number }) => (x ? `${msFmt(x.ms)}${x.runs < 3 ? ` (${x.runs} run${x.runs > 1 ? 's' : ''})` : ''}` : '-')
    sharedRows.push([
      ta ? `${id} (${ta})` : id,
      msFmt(oursArena),
      msFmt(c),
      ratioArena === undefined ? '-' : `${ratioArena.toFixed(2)}x`,
      msFmt(ours),
      msFmt(cf),
      ratioFresh === undefined ? '-' : `${ratioFresh.toFixed(2)}x`,
      msFmt(ta ? binding[ta] : undefined),
      runs(tiMs[id]),
      runs(tsMs[id]),
    ])
  }
  const within = (k: 'arena' | 'fresh' | 'mixed') => ratios.filter((r) => r[k] !== undefined && (r[k] as number) <= 2).length
  const over2 = ratios.filter((r) => r.arena > 2).sort((a, b) => b.arena - a.arena)

  const target: string[][] = []
  if (ratios.length) {
    target.push([
      'batch vs TA-Lib C, shared indicators, outputs touched beforehand on both sides',
      `${within('arena')} of ${ratios.length} within 2x (median ratio ${median(ratios.map((r) => r.arena)).toFixed(2)}x)`,
      'each within 2x',
      'mercury: `runBatch` with a BatchArena a previous run has touched; TA-Lib C: output arrays allocated and touched ' +
        `beforehand; ${ROUNDS} rounds, each side in a new process per round, best round each. ` +
        (over2.length ? `Over 2x: ${over2.map((r) => `${r.id} ${r.arena.toFixed(1)}x`).join(', ')}` : 'All within 2x') +
        `. Both writing into new output pages: ${within('fresh')} of ${ratios.length} within 2x. mercury with new ` +
        `outputs against TA-Lib C into touched ones (unlike for unlike): ${within('mixed')} of ${ratios.length}`,
    ])
  } else {
    target.push(['batch vs TA-Lib C, shared indicators', 'not measured', 'each within 2x', 'TA-Lib could not be built (see notes)'])
  }
  const untimed = rows.length > timed.length ? `; ${rows.length - timed.length} not timed (no real data for their source)` : ''
  target.push([
    'all indicators, batch, 1,000,000 rows each, one arena',
    `${(passArenaMs / 1000).toFixed(2)} s for ${timed.length} indicators`,
    '< 2 s',
    `one pass computing every indicator in turn through one BatchArena, reset before each (the arena then holds ` +
      `${arenaMb.toFixed(0)} MB), median of ${ROUNDS} passes; sum of the per-indicator medians ${(totalArenaMs / 1000).toFixed(2)} s, ` +
      `the ${barRows.length} bar indicators ${(barTotalArenaMs / 1000).toFixed(2)} s${untimed}`,
  ])
  target.push([
    'all indicators, batch, 1,000,000 rows each, new outputs',
    `${(passFreshMs / 1000).toFixed(2)} s for ${timed.length} indicators`,
    '< 2 s',
    `the same pass with \`runBatch\` returning new arrays, median of ${ROUNDS} passes; sum of the per-indicator medians ` +
      `${(totalMs / 1000).toFixed(2)} s, the ${barRows.length} bar indicators ${(barTotalMs / 1000).toFixed(2)} s`,
  ])
  for (const id of ['ema', 'rsi']) {
    if (targetStream[id] !== undefined) {
      target.push([
        `streaming ${id} (openStream, per update)`,
        `${targetStream[id].toFixed(1)} ns`,
        '< 50 ns',
        `median of 3 passes over 1,000,000 bars; the definition's own stream without openStream's checks: ${rawStream[id].toFixed(1)} ns`,
      ])
    }
  }

  const table = (head: string[], body: string[][]) =>
    [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n')
  const everyRows = rows.map((r) =>
    r.skipped
      ? [r.def.id, r.def.source, '-', '-', '-', '-', '-', r.skipped]
      : [
          r.def.id,
          r.def.source,
          msFmt(r.arenaMs),
          msFmt(r.batchMs),
          msFmt(r.rawMs),
          ((N / (r.arenaMs as number)) * 1e3 / 1e6).toFixed(0),
          (r.streamNs as number).toFixed(1),
          '',
        ],
  )
  const tiVersion = (createRequire(import.meta.url)('technicalindicators/package.json') as { version: string }).version
  const tsVersion = (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'trading-signals', 'package.json'), 'utf8')) as { version: string }).version
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu}, ${cpus().length} cores, Node ${process.version}; ` +
      `TA-Lib C ${Object.keys(talibC).length ? '0.6 from talib' + (bindingVersion ? ` ${bindingVersion}` : '') + ' (gcc -O2, its own makefiles)' : 'not built'}, ` +
      `technicalindicators ${tiVersion}, trading-signals ${tsVersion}. ` +
      `The batch comparison with TA-Lib C: ${ROUNDS} rounds, each side in a new process per round, best round each. ` +
      `Section run time ${((performance.now() - t0) / 1000).toFixed(0)} s; ` +
      `1-minute load average ${loadStart.toFixed(2)} at the start and ${loadavg()[0].toFixed(2)} at the end (other ` +
      'processes share the cores: timings on a busy machine run slower and vary more).',
    '',
    'Data, 1,000,000 rows per source:',
    ...data.describe.map((d) => `- ${d}`),
    '',
    table(['benchmark', 'result', 'target', 'notes'], target),
    '',
    '### Shared indicators, 1,000,000 bars (ms)',
    '',
    'Same data and TA-Lib default parameters everywhere; every mercury time is the public `runBatch`, which includes ' +
      'its parameter checks and its check of the inputs for non-finite values (TA-Lib has neither): a scan of every ' +
      'input column before the computation or, for definitions whose computation costs about as much as that scan ' +
      `(${INDICATORS.filter((d) => d.batchIfFinite).map((d) => d.id).join(', ')}: \`batchIfFinite\`), a check summed ` +
      'in the computation\'s own loop. Two ways of ' +
      'measuring, each like for like:',
    '',
    '- **outputs touched beforehand**: mercury `runBatch(def, input, {}, { arena })` with one BatchArena that a ' +
      'previous run has already filled, reset before each run; TA-Lib C called directly on double arrays, writing ' +
      'into output arrays allocated and touched beforehand (scripts/talib/bench.c). The two take turns, ' +
      `${ROUNDS} rounds, each side in a new process per round (mercury: bench/signals-child.ts, every shared ` +
      'indicator, median of 5 runs each; TA-Lib C: every function, median of 5), both reading the same bars ' +
      'file; each side shows its best round. This VM runs some processes 1.6-2x slower than others ' +
      'throughout, at random and TA-Lib C\'s as well as Node\'s, so the best of several processes on each side ' +
      'compares the code rather than where a process landed. This is the cost of the computation itself.',
    '- **new outputs**: mercury `runBatch(def, input)` returning new arrays, median of 3; TA-Lib C with its output ' +
      'pages newly mapped for each call, median of 5; the best of the same rounds on each side. This adds what first touching new memory costs: on this VM ' +
      `first-touch page faults are slow, ${msFmt(allocMs)} ms for one NaN-filled 1,000,000-row Float64Array, more than ` +
      'most indicators cost to compute. V8 reuses buffers freed by a GC, so a mercury output pays that only some of ' +
      'the time.',
    '',
    'talib binding: `talib.execute` with plain JS arrays, conversion in and out included, median of 3. ' +
      'technicalindicators: `calculate` on plain arrays. trading-signals: one `update` per bar (it has no batch API), ' +
      'prebuilt candle objects. The JS libraries get a median of 3 runs, fewer when the runs passed ' +
      `${THIRD_PARTY_BUDGET_MS / 1000} s together (shown).`,
    '',
    table(
      [
        'indicator',
        'mercury, arena',
        'TA-Lib C',
        'ratio, touched outputs',
        'mercury, new outputs',
        'TA-Lib C, new outputs',
        'ratio, new outputs',
        'talib binding',
        'technicalindicators',
        'trading-signals',
      ],
      sharedRows,
    ),
    '',
    ...(peerNotes.length ? ['Where a library computes something slightly different:', ...peerNotes.map((n) => `- ${n}`), ''] : []),
    ...(notes.length ? ['Not measured:', ...notes.map((n) => `- ${n}`), ''] : []),
    '### Every indicator, 1,000,000 rows',
    '',
    'runBatch, arena: the public batch call with one BatchArena touched by a previous run (median of 5, in this ' +
      'process: the table above takes the shared indicators\' times from the rounds\' processes); runBatch, ' +
      'new outputs: the same returning new arrays (median of 3); def.batch: the definition\'s own batch function ' +
      'with the arena, without the engine\'s parameter and finite-input checks (median of 5; for a definition with ' +
      '`batchIfFinite` its check is part of runBatch\'s time and not of this one); M rows/s from runBatch ' +
      'with the arena. Stream: `openStream(def).update(row)` per row through one reused input array, one pass (ema, ' +
      'rsi and sma: median of 3, measured first).',
    '',
    table(['indicator', 'source', 'runBatch ms, arena', 'runBatch ms, new outputs', 'def.batch ms', 'M rows/s', 'stream ns/update', 'notes'], everyRows),
  ]
  return lines.join('\n')
}
