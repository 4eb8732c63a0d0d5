// The HTML report, opened in a real headless browser (Debian `chromium`, driven over the Chrome DevTools Protocol),
// and the trades/equity writers. The report comes from a real run: the shipped BTCUSDT 1m sample imported into a
// temp lake by the built CLI, then `rsi-reversion` over it. Chromium is found through MERCURY_TEST_CHROMIUM
// (scripts/test.sh sets it) or on the PATH; in CI a missing browser fails these tests, elsewhere they skip and say so.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { runBacktest } from '../../src/lib/backtest/engine.js'
import { computeMetrics } from '../../src/lib/backtest/metrics.js'
import { downsampleMinMax, escapeHtml, renderHtmlReport, writeEquityFile, writeTradesFile } from '../../src/lib/backtest/report.js'
import type { BacktestResult } from '../../src/lib/backtest/types.js'
import { openDuck } from '../../src/lib/lake/duck.js'
import { cli, tempDir } from '../helpers.js'

// --- Chromium over the DevTools Protocol ------------------------------------------------------------------------

function findChromium(): string | undefined {
  const env = process.env.MERCURY_TEST_CHROMIUM
  if (env) return existsSync(env) ? env : undefined
  for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' })
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim()
  }
  return undefined
}

/** The browser to test with; throws in CI when there is none (never a silent skip), else says why it skips. */
function chromiumForTests(): string | undefined {
  const path = findChromium()
  if (path) return path
  const how =
    'The report tests open the HTML in a real headless browser. Run them through `npm test` (scripts/test.sh apt-installs ' +
    'chromium on Debian as root), or install Chromium and set MERCURY_TEST_CHROMIUM=/path/to/chromium.'
  const why = process.env.MERCURY_TEST_CHROMIUM ? `MERCURY_TEST_CHROMIUM=${process.env.MERCURY_TEST_CHROMIUM} does not exist` : 'no chromium on the PATH'
  if (process.env.CI) throw new Error(`${why} (CI). ${how}`)
  console.warn(`skipping the browser tests of the HTML report: ${why}. ${how}`)
  return undefined
}

interface CdpEvent {
  method: string
  params: Record<string, unknown>
  sessionId?: string
}

/** A minimal DevTools Protocol client: commands with ids, events collected in order. */
class Cdp {
  private id = 0
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
  readonly events: CdpEvent[] = []
  private waiters: { method: string; resolve(e: CdpEvent): void }[] = []

  constructor(private readonly ws: WebSocket) {
    ws.on('message', (buf) => {
      const msg = JSON.parse(String(buf)) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown>; sessionId?: string }
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id)
        this.pending.delete(msg.id)
        if (msg.error) p?.reject(new Error(msg.error.message))
        else p?.resolve(msg.result)
      } else if (msg.method) {
        const e = { method: msg.method, params: msg.params ?? {}, sessionId: msg.sessionId }
        this.events.push(e)
        this.waiters = this.waiters.filter((w) => (w.method === e.method ? (w.resolve(e), false) : true))
      }
    })
  }

  static async connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res())
      ws.once('error', rej)
    })
    return new Cdp(ws)
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> {
    const id = ++this.id
    this.ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }))
    return new Promise<T>((resolve, reject) => this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject }))
  }

  waitFor(method: string, timeoutMs = 20_000): Promise<CdpEvent> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${method}`)), timeoutMs)
      this.waiters.push({ method, resolve: (e) => (clearTimeout(t), resolve(e)) })
    })
  }

  close(): void {
    this.ws.close()
  }
}

/** Starts headless Chromium with a DevTools port of its choosing; resolves the browser's WebSocket URL from stderr. */
function launchChromium(path: string, profile: string): Promise<{ proc: ChildProcess; wsUrl: string }> {
  const proc = spawn(path, ['--headless=new', '--remote-debugging-port=0', `--user-data-dir=${profile}`, '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check', 'about:blank'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    // Its own process group, so the test can end the browser and every helper it started together
    detached: true,
  })
  return new Promise((resolve, reject) => {
    let err = ''
    const t = setTimeout(() => reject(new Error(`chromium printed no DevTools URL in 30 s:\n${err}`)), 30_000)
    proc.stderr?.on('data', (d: Buffer) => {
      err += d.toString()
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err)
      if (m) {
        clearTimeout(t)
        resolve({ proc, wsUrl: m[1] })
      }
    })
    proc.once('exit', (code) => {
      clearTimeout(t)
      reject(new Error(`chromium exited with code ${code} before its DevTools URL:\n${err}`))
    })
  })
}

interface PageCheck {
  charts: { id: string; width: number; height: number; paths: number; points: number; emptyPaths: number }[]
  title: string
  h1: string
  ready: string | null
  images: number
  scripts: number
  monthCells: number
  tradeRows: number
  readout: string
  externalRefs: string[]
}

/** Opens a file in a fresh offline tab; returns what the page shows, its requests and every error it logged. */
async function openOffline(cdp: Cdp, file: string): Promise<{ check: PageCheck; requests: string[]; errors: string[] }> {
  const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' })
  const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true })
  const s = (method: string, params: Record<string, unknown> = {}) => cdp.send(method, params, sessionId)
  await s('Page.enable')
  await s('Runtime.enable')
  await s('Log.enable')
  await s('Network.enable')
  await s('Network.emulateNetworkConditions', { offline: true, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
  const from = cdp.events.length
  const loaded = cdp.waitFor('Page.loadEventFired')
  await s('Page.navigate', { url: pathToFileURL(file).href })
  await loaded
  // Move the pointer across the equity chart: the inline script's read-out must answer without errors
  const box = (await s('Runtime.evaluate', {
    expression: 'document.getElementById("equity").scrollIntoView(); JSON.stringify(document.getElementById("equity").getBoundingClientRect())',
    returnByValue: true,
  })) as { result: { value: string } }
  const r = JSON.parse(box.result.value) as { x: number; y: number; width: number; height: number }
  await s('Input.dispatchMouseEvent', { type: 'mouseMoved', x: r.x + r.width * 0.5, y: r.y + r.height * 0.5 })
  const res = (await s('Runtime.evaluate', {
    expression: `JSON.stringify({
      charts: [...document.querySelectorAll('svg')].map((svg) => {
        const b = svg.getBoundingClientRect()
        const paths = [...svg.querySelectorAll('path')]
        return { id: svg.id, width: b.width, height: b.height, paths: paths.length,
          points: paths.reduce((a, p) => a + (p.getAttribute('d') || '').split(/[ML]/).length - 1, 0),
          emptyPaths: paths.filter((p) => !(p.getAttribute('d') || '').trim() || p.getBBox().width === 0).length }
      }),
      title: document.title,
      h1: document.querySelector('h1').textContent,
      ready: document.documentElement.getAttribute('data-ready'),
      images: document.images.length,
      scripts: document.querySelectorAll('script:not([type="application/json"])').length,
      monthCells: document.querySelectorAll('table.months td').length,
      tradeRows: document.querySelectorAll('table.list')[0] ? document.querySelectorAll('table.list')[0].querySelectorAll('tbody tr').length : 0,
      readout: document.getElementById('equity-readout').textContent,
      externalRefs: [...document.querySelectorAll('[src],[href]')].map((e) => e.getAttribute('src') || e.getAttribute('href')),
    })`,
    returnByValue: true,
  })) as { result: { value: string } }
  const events = cdp.events.slice(from).filter((e) => e.sessionId === sessionId)
  const requests = events
    .filter((e) => e.method === 'Network.requestWillBeSent')
    .map((e) => (e.params.request as { url: string }).url)
    .filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))
  const errors = events.flatMap((e) => {
    if (e.method === 'Runtime.exceptionThrown') return [`exception: ${JSON.stringify(e.params.exceptionDetails)}`]
    if (e.method === 'Runtime.consoleAPICalled' && ['error', 'warning', 'assert'].includes(String(e.params.type))) return [`console.${e.params.type}: ${JSON.stringify(e.params.args)}`]
    if (e.method === 'Log.entryAdded' && ['error', 'warning'].includes(String((e.params.entry as { level: string }).level))) return [`log: ${JSON.stringify(e.params.entry)}`]
    if (e.method === 'Network.loadingFailed') return [`request failed: ${JSON.stringify(e.params)}`]
    return []
  })
  await cdp.send('Target.closeTarget', { targetId })
  return { check: JSON.parse(res.result.value) as PageCheck, requests, errors }
}

// --- A real run ---------------------------------------------------------------------------------------------

let lake = ''
let run: BacktestResult

beforeAll(async () => {
  lake = tempDir('mercury-report-lake-')
  const imp = cli(['backfill', '--archive', 'datasets/**/*.zip'], lake)
  if (imp.code !== 0) throw new Error(`backfill --archive failed (${imp.code}): ${imp.stderr}`)
  run = await runBacktest({ lakeDir: lake, instruments: [{ exchange: 'binance', symbol: 'BTCUSDT' }], interval: '1m', strategy: 'rsi-reversion' })
}, 180_000)

describe('downsampling', () => {
  it('keeps at most maxPoints, the first and last points, and every bucket extreme', () => {
    const n = 100_000
    const t = Float64Array.from({ length: n }, (_, i) => i)
    const v = Float64Array.from({ length: n }, (_, i) => Math.sin(i / 50) + (i === 54_321 ? 10 : 0) - (i === 77_777 ? 10 : 0))
    const d = downsampleMinMax(t, v, 2000)
    expect(d.time.length).toBeLessThanOrEqual(2000)
    expect(d.time[0]).toBe(0)
    expect(d.time[d.time.length - 1]).toBe(n - 1)
    expect(Math.max(...d.values)).toBe(v[54_321])
    expect(Math.min(...d.values)).toBe(v[77_777])
    for (let i = 1; i < d.time.length; i++) expect(d.time[i]).toBeGreaterThan(d.time[i - 1])
    // Short series come back whole
    expect(downsampleMinMax([1, 2, 3], [5, 6, 7]).values).toEqual([5, 6, 7])
  })
})

describe('report HTML', () => {
  it('escapes text', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;')
  })

  it('is self-contained and small for a run of 89,280 bars', () => {
    const html = renderHtmlReport(run, computeMetrics(run))
    expect(run.bars).toBe(89_280)
    // No URL to fetch: no http(s) reference, no src attribute, no url() in the CSS
    expect(html).not.toMatch(/https?:\/\//)
    expect(html).not.toMatch(/\ssrc=/)
    expect(html).not.toMatch(/url\(/)
    expect(html).toContain("default-src 'none'")
    expect(html.length).toBeLessThan(2_000_000)
  })

  it('renders a run without trades, risk events or gaps, and one without bars', () => {
    const flat: BacktestResult = { ...run, trades: [], fills: [], orders: [], riskEvents: [], gaps: [], warnings: [] }
    const html = renderHtmlReport(flat, computeMetrics(flat))
    expect(html).toContain('No trades.')
    expect(html).toContain('No risk events.')
    expect(html).toContain('No gaps.')
    // Win rate and profit factor of no trades
    expect(html).toMatch(/<th>Win rate<\/th><td>n\/a<\/td>/)
    const empty: BacktestResult = {
      ...flat,
      bars: 0,
      equity: { time: new Float64Array(0), equity: new Float64Array(0), cash: new Float64Array(0), exposure: new Float64Array(0) },
      benchmark: { time: new Float64Array(0), equity: new Float64Array(0) },
    }
    expect(renderHtmlReport(empty, computeMetrics(empty))).toContain('No data.')
  })

  it('caps the trade list at 1,000 rows with a note', () => {
    const many = { ...run, trades: Array.from({ length: 1500 }, (_, i) => ({ ...run.trades[i % run.trades.length] })) }
    const html = renderHtmlReport(many, computeMetrics(many))
    expect(html).toContain('Showing the first 1,000 of 1,500 trades')
  })
})

describe('report in a real browser (offline)', () => {
  const chromium = chromiumForTests()
  let proc: ChildProcess | undefined
  let cdp: Cdp | undefined
  // Not tempDir(): that one is removed after each test, and the browser keeps its profile for the whole suite
  const profile = mkdtempSync(join(tmpdir(), 'mercury-chromium-'))

  beforeAll(async () => {
    if (!chromium) return
    const launched = await launchChromium(chromium, profile)
    proc = launched.proc
    cdp = await Cdp.connect(launched.wsUrl)
  }, 60_000)

  afterAll(async () => {
    const p = proc
    if (p && p.exitCode === null) {
      const exited = new Promise((r) => p.once('exit', r))
      // Browser.close lets Chromium end its helper processes itself; a signal to its group is the fallback
      await Promise.race([cdp?.send('Browser.close').catch(() => undefined), new Promise((r) => setTimeout(r, 5000))])
      const timer = setTimeout(() => {
        if (p.exitCode === null && p.pid) process.kill(-p.pid, 'SIGKILL')
      }, 5000)
      await exited
      clearTimeout(timer)
    }
    cdp?.close()
    // Helpers may still be flushing the profile for a moment after the browser exits
    rmSync(profile, { recursive: true, force: true, maxRetries: 20, retryDelay: 250 })
  })

  it.skipIf(!chromium)('loads with the network off, draws both charts, logs no error', async () => {
    const dir = tempDir('mercury-report-')
    const file = join(dir, 'report.html')
    writeFileSync(file, renderHtmlReport(run, computeMetrics(run)))
    const { check, requests, errors } = await openOffline(cdp as Cdp, file)
    expect(errors).toEqual([])
    expect(requests).toEqual([])
    expect(check.externalRefs).toEqual([])
    expect(check.ready).toBe('1')
    const byId = Object.fromEntries(check.charts.map((c) => [c.id, c]))
    for (const id of ['equity', 'drawdown']) {
      const c = byId[id]
      expect(c, id).toBeDefined()
      expect(c.width).toBeGreaterThan(100)
      expect(c.height).toBeGreaterThan(100)
      expect(c.paths).toBeGreaterThan(0)
      expect(c.emptyPaths).toBe(0)
    }
    // Strategy and buy-and-hold, each downsampled to at most 2,000 points
    expect(byId.equity.paths).toBe(2)
    expect(byId.equity.points).toBeGreaterThan(1000)
    expect(byId.equity.points).toBeLessThanOrEqual(4000)
    // Nov, Dec 2024 and Jan 2025: two rows of 12 months plus a year column
    expect(check.monthCells).toBe(26)
    expect(check.tradeRows).toBe(Math.min(1000, run.trades.length))
    expect(check.h1).toBe('rsi-reversion')
    // The hover read-out ran
    expect(check.readout).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d .*Strategy: /)
  })

  it.skipIf(!chromium)('the harness sees outside requests and script errors (a page that has both)', async () => {
    const dir = tempDir('mercury-report-')
    const file = join(dir, 'bad.html')
    writeFileSync(
      file,
      '<!doctype html><title>bad</title><h1>bad</h1><svg id="equity" width="200" height="200"><path d="M0,0L10,10"/></svg>' +
        '<div id="equity-readout"></div><img src="http://198.51.100.1/x.png"><script>notDefined()</script>',
    )
    const { requests, errors } = await openOffline(cdp as Cdp, file)
    expect(requests).toEqual(['http://198.51.100.1/x.png'])
    expect(errors.some((e) => e.startsWith('exception:') && e.includes('notDefined'))).toBe(true)
    expect(errors.some((e) => e.startsWith('request failed:'))).toBe(true)
  })

  it.skipIf(!chromium)('shows hostile names and tags as text', async () => {
    const evil = `<img src=x onerror="document.title='pwned'"><script>document.title='pwned'</script>`
    const r: BacktestResult = {
      ...run,
      strategy: evil,
      params: { [evil]: evil, period: 14 },
      orders: (run.orders ?? []).slice(0, 5).map((o) => ({ ...o, tag: `"><svg onload=alert(1)>${evil}` })),
      riskEvents: [{ time: run.from, instrument: evil, action: 'rejected', reason: evil }],
      warnings: [evil],
    }
    const dir = tempDir('mercury-report-')
    const file = join(dir, 'evil.html')
    writeFileSync(file, renderHtmlReport(r, computeMetrics(r)))
    const { check, requests, errors } = await openOffline(cdp as Cdp, file)
    expect(errors).toEqual([])
    expect(requests).toEqual([])
    expect(check.images).toBe(0)
    // The report's own inline script only
    expect(check.scripts).toBe(1)
    expect(check.h1).toBe(evil)
    expect(check.title.startsWith(evil)).toBe(true)
    expect(check.charts.map((c) => c.id).sort()).toEqual(['drawdown', 'equity'])
  })
})

describe('trades and equity files', () => {
  it('writes CSV and Parquet atomically with the same rows', async () => {
    const dir = tempDir('mercury-report-files-')
    await writeTradesFile(join(dir, 'trades.csv'), run)
    await writeTradesFile(join(dir, 'trades.parquet'), run)
    await writeEquityFile(join(dir, 'equity.csv'), run)
    await writeEquityFile(join(dir, 'out', 'equity.parquet'), run)
    // No temp file left behind
    expect(readdirSync(dir).sort()).toEqual(['equity.csv', 'out', 'trades.csv', 'trades.parquet'])
    expect(readdirSync(join(dir, 'out'))).toEqual(['equity.parquet'])

    const csv = readFileSync(join(dir, 'trades.csv'), 'utf8').trim().split('\n')
    expect(csv[0]).toBe('instrument,direction,entry_time,exit_time,entry_price,exit_price,qty,pnl,fees,funding,return_pct,bars')
    expect(csv.length).toBe(run.trades.length + 1)
    const first = csv[1].split(',')
    expect(first[2]).toBe(new Date(run.trades[0].entryTime / 1000).toISOString().replace('.000Z', 'Z'))
    expect(Number(first[7])).toBe(run.trades[0].pnl)
    const eqCsv = readFileSync(join(dir, 'equity.csv'), 'utf8').trim().split('\n')
    expect(eqCsv[0]).toBe('time,equity,cash,exposure,drawdown,benchmark')
    expect(eqCsv.length).toBe(run.bars + 1)

    const duck = await openDuck({ threads: 1 })
    try {
      const q = async (sql: string) => (await duck.conn.runAndReadAll(sql)).getRowObjectsJson()
      const t = await q(`SELECT count(*) AS n, sum(pnl) AS pnl, min(epoch_us(entry_time)) AS first FROM '${join(dir, 'trades.parquet')}'`)
      expect(Number(t[0].n)).toBe(run.trades.length)
      expect(Number(t[0].pnl)).toBeCloseTo(run.trades.reduce((a, x) => a + x.pnl, 0), 6)
      expect(Number(t[0].first)).toBe(run.trades[0].entryTime)
      const e = await q(`SELECT count(*) AS n, max(equity) AS hi, min(drawdown) AS dd, last(benchmark ORDER BY time) AS b FROM '${join(dir, 'out', 'equity.parquet')}'`)
      expect(Number(e[0].n)).toBe(run.bars)
      expect(Number(e[0].hi)).toBe(Math.max(...run.equity.equity))
      expect(Number(e[0].dd)).toBeCloseTo(computeMetrics(run).maxDrawdown, 12)
      expect(Number(e[0].b)).toBe(run.benchmark.equity[run.bars - 1])
      const types = await q(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '${join(dir, 'trades.parquet')}') WHERE column_name IN ('entry_time', 'pnl', 'bars')`)
      expect(Object.fromEntries(types.map((r) => [r.column_name, r.column_type]))).toEqual({ entry_time: 'TIMESTAMP', pnl: 'DOUBLE', bars: 'BIGINT' })
    } finally {
      duck.close()
    }
  })

  it('refuses other extensions', async () => {
    await expect(writeTradesFile(join(tempDir(), 'trades.json'), run)).rejects.toThrow(/Invalid --trades: .*\.csv or \.parquet/)
  })
})
