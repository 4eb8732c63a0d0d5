// Backtest outputs: the trade list and equity curve as CSV or Parquet, and a self-contained HTML report.
//
// The report opens offline: no script, style, font or image comes from outside the file, and a
// Content-Security-Policy of `default-src 'none'` makes the browser refuse any request should one slip in. Charts
// are SVG rendered here (so they show with scripts off); a small inline script adds a hover read-out. Every text
// that comes from the run (strategy name, parameters, tags, reasons) is HTML-escaped. Curves are downsampled to at
// most 2,000 points per series keeping each bucket's minimum and maximum, so a year of 1m bars stays small and no
// peak or trough disappears.

import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { dirname, extname } from 'node:path'
import { UsageError } from '../errors.js'
import { openDuck } from '../lake/duck.js'
import { sqlString } from '../lake/schema.js'
import { isoUs, US_PER_DAY, US_PER_MS } from '../time.js'
import { fsyncDir, randomId, writeFileAtomic } from '../util/fs.js'
import { drawdowns, monthlyReturns } from './metrics.js'
import type { BacktestResult, Metrics } from './types.js'

// --- Trades and equity files --------------------------------------------------------------------------------

type Cell = number | string | boolean | undefined
interface Table {
  readonly columns: readonly { readonly name: string; readonly type: 'DOUBLE' | 'VARCHAR' | 'TIMESTAMP' | 'BIGINT' | 'BOOLEAN' }[]
  readonly rows: number
  cell(row: number, col: number): Cell
}

function tradesTable(r: BacktestResult): Table {
  const t = r.trades
  const cols = [
    ['instrument', 'VARCHAR', (i: number) => t[i].instrument],
    ['direction', 'VARCHAR', (i: number) => t[i].direction],
    ['entry_time', 'TIMESTAMP', (i: number) => t[i].entryTime],
    ['exit_time', 'TIMESTAMP', (i: number) => t[i].exitTime],
    ['entry_price', 'DOUBLE', (i: number) => t[i].entryPrice],
    ['exit_price', 'DOUBLE', (i: number) => t[i].exitPrice],
    ['qty', 'DOUBLE', (i: number) => t[i].qty],
    ['pnl', 'DOUBLE', (i: number) => t[i].pnl],
    ['fees', 'DOUBLE', (i: number) => t[i].fees],
    ['funding', 'DOUBLE', (i: number) => t[i].funding],
    ['return_pct', 'DOUBLE', (i: number) => t[i].returnPct],
    ['bars', 'BIGINT', (i: number) => t[i].bars],
  ] as const
  return {
    columns: cols.map(([name, type]) => ({ name, type })),
    rows: t.length,
    cell: (row, col) => cols[col][2](row),
  }
}

function equityTable(r: BacktestResult): Table {
  const e = r.equity
  const b = r.benchmark
  // The benchmark shares the clock; a benchmark of another length is joined by index only where times agree
  const bench = (i: number) => (b.time[i] === e.time[i] ? b.equity[i] : undefined)
  const dd = drawdowns(e.time, e.equity, r.startCapital, e.time.length ? e.time[0] : 0).series
  const cols = [
    ['time', 'TIMESTAMP', (i: number) => e.time[i]],
    ['equity', 'DOUBLE', (i: number) => e.equity[i]],
    ['cash', 'DOUBLE', (i: number) => e.cash[i]],
    ['exposure', 'DOUBLE', (i: number) => e.exposure[i]],
    ['drawdown', 'DOUBLE', (i: number) => dd[i]],
    ['benchmark', 'DOUBLE', bench],
  ] as const
  return {
    columns: cols.map(([name, type]) => ({ name, type })),
    rows: e.time.length,
    cell: (row, col) => cols[col][2](row),
  }
}

function csvCell(v: Cell, type: Table['columns'][number]['type']): string {
  if (v === undefined || (typeof v === 'number' && Number.isNaN(v))) return ''
  if (type === 'TIMESTAMP') return isoUs(v as number)
  if (typeof v === 'string') return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v
  return String(v)
}

function tableCsv(t: Table, times: 'iso' | 'us'): string {
  const parts: string[] = [t.columns.map((c) => (times === 'us' && c.type === 'TIMESTAMP' ? `${c.name}_us` : c.name)).join(',')]
  for (let i = 0; i < t.rows; i++) {
    const line: string[] = []
    for (let j = 0; j < t.columns.length; j++) {
      const c = t.columns[j]
      const v = t.cell(i, j)
      line.push(times === 'us' && c.type === 'TIMESTAMP' ? (v === undefined ? '' : String(v)) : csvCell(v, c.type))
    }
    parts.push(line.join(','))
  }
  return parts.join('\n') + '\n'
}

/** Writes a table to `path` as CSV or Parquet (by extension), atomically: temp file in the same folder, then rename. */
async function writeTable(path: string, t: Table, flag: string): Promise<void> {
  const ext = extname(path).toLowerCase()
  if (ext !== '.csv' && ext !== '.parquet') {
    throw new UsageError(`Invalid ${flag}: '${path}'. Expected a file name ending in .csv or .parquet`)
  }
  mkdirSync(dirname(path), { recursive: true })
  if (ext === '.csv') {
    writeFileAtomic(path, tableCsv(t, 'iso'))
    return
  }
  // Parquet: DuckDB reads a CSV with the times as integer µs and writes typed columns (TIMESTAMP is UTC µs)
  const stem = `${path}.${process.pid}.${randomId()}`
  const csv = `${stem}.csv.tmp`
  const tmp = `${stem}.tmp`
  const duck = await openDuck({ threads: 1 })
  try {
    writeFileAtomic(csv, tableCsv(t, 'us'))
    const types = t.columns.map((c) => `${sqlString(c.type === 'TIMESTAMP' ? `${c.name}_us` : c.name)}: ${sqlString(c.type === 'TIMESTAMP' ? 'BIGINT' : c.type)}`)
    const select = t.columns.map((c) => (c.type === 'TIMESTAMP' ? `make_timestamp("${c.name}_us") AS "${c.name}"` : `"${c.name}"`))
    await duck.conn.run(
      `COPY (SELECT ${select.join(', ')} FROM read_csv(${sqlString(csv)}, header = true, delim = ',', quote = '"', columns = {${types.join(', ')}}))
       TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd)`,
    )
    renameSync(tmp, path)
    fsyncDir(dirname(path))
  } finally {
    duck.close()
    rmSync(csv, { force: true })
    if (existsSync(tmp)) rmSync(tmp, { force: true })
  }
}

/** Writes the closed trades to a .csv or .parquet file, atomically. */
export async function writeTradesFile(path: string, r: BacktestResult): Promise<void> {
  await writeTable(path, tradesTable(r), '--trades')
}

/** Writes the equity curve (with cash, exposure, drawdown and the buy-and-hold benchmark) to a .csv or .parquet file, atomically. */
export async function writeEquityFile(path: string, r: BacktestResult): Promise<void> {
  await writeTable(path, equityTable(r), '--equity')
}

// --- Downsampling -------------------------------------------------------------------------------------------

/**
 * Reduces a series to at most `maxPoints` points: the range is cut into `maxPoints / 2` buckets of equal count, and
 * each keeps its minimum and maximum in time order (the first and last points are kept too). A series already
 * short enough comes back unchanged. Non-finite values are dropped.
 */
export function downsampleMinMax(time: ArrayLike<number>, values: ArrayLike<number>, maxPoints = 2000): { time: number[]; values: number[] } {
  const n = values.length
  const keepT: number[] = []
  const keepV: number[] = []
  const push = (i: number) => {
    if (Number.isFinite(values[i])) {
      keepT.push(time[i])
      keepV.push(values[i])
    }
  }
  if (n <= maxPoints) {
    for (let i = 0; i < n; i++) push(i)
    return { time: keepT, values: keepV }
  }
  const buckets = Math.max(1, Math.floor((maxPoints - 2) / 2))
  push(0)
  for (let b = 0; b < buckets; b++) {
    const lo = 1 + Math.floor((b * (n - 2)) / buckets)
    const hi = 1 + Math.floor(((b + 1) * (n - 2)) / buckets)
    let iMin = -1
    let iMax = -1
    for (let i = lo; i < hi; i++) {
      const v = values[i]
      if (!Number.isFinite(v)) continue
      if (iMin < 0 || v < values[iMin]) iMin = i
      if (iMax < 0 || v > values[iMax]) iMax = i
    }
    if (iMin < 0) continue
    if (iMin === iMax) push(iMin)
    else if (iMin < iMax) {
      push(iMin)
      push(iMax)
    } else {
      push(iMax)
      push(iMin)
    }
  }
  push(n - 1)
  return { time: keepT, values: keepV }
}

// --- HTML ---------------------------------------------------------------------------------------------------

/** Escapes text for HTML content and double- or single-quoted attributes. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string)
}

const esc = escapeHtml

/** JSON for an inline `<script type="application/json">`: `<` is escaped so no text can close the element. */
function scriptJson(x: unknown): string {
  return JSON.stringify(x).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')
}

function pct(x: number, digits = 2): string {
  if (Number.isNaN(x)) return 'n/a'
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '-∞'
  const s = (x * 100).toFixed(digits)
  // No "-0.00%" for tiny negatives
  return `${/^-0\.?0*$/.test(s) ? s.slice(1) : s}%`
}

function num(x: number, digits = 2): string {
  if (Number.isNaN(x)) return 'n/a'
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '-∞'
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** A price or quantity with enough significant digits */
function sig(x: number): string {
  if (!Number.isFinite(x)) return num(x)
  return Number(x.toPrecision(8)).toString()
}

function duration(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a'
  const d = ms / (US_PER_DAY / US_PER_MS)
  if (d >= 1) return `${d.toFixed(1)} days`
  const h = ms / 3_600_000
  if (h >= 1) return `${h.toFixed(1)} h`
  return `${Math.round(ms / 60_000)} min`
}

function isoShort(us: number): string {
  return isoUs(us).replace('T', ' ').replace(/(:00)?Z$/, '').replace(/\.\d+$/, '')
}

interface Series {
  readonly name: string
  readonly color: string
  readonly time: readonly number[]
  readonly values: readonly number[]
  readonly fill?: boolean
}

const W = 960
const H = 300
const PAD = { l: 72, r: 16, t: 14, b: 28 }

function niceTicks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo)) return [lo]
  const raw = (hi - lo) / count
  const mag = Math.pow(10, Math.floor(Math.log10(raw)))
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? 10 * mag
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

/** An SVG line chart (pre-rendered) with y ticks, date ticks and one path per series. */
function svgChart(id: string, title: string, series: readonly Series[], fmtY: (v: number) => string): string {
  let t0 = Infinity
  let t1 = -Infinity
  let y0 = Infinity
  let y1 = -Infinity
  for (const s of series) {
    for (let i = 0; i < s.time.length; i++) {
      t0 = Math.min(t0, s.time[i])
      t1 = Math.max(t1, s.time[i])
      y0 = Math.min(y0, s.values[i])
      y1 = Math.max(y1, s.values[i])
    }
    if (s.fill) y1 = Math.max(y1, 0)
  }
  if (!Number.isFinite(t0)) return `<section><h2>${esc(title)}</h2><p class="muted">No data.</p></section>`
  if (t1 === t0) t1 = t0 + 1
  if (y1 === y0) {
    y0 -= Math.abs(y0) * 0.01 || 1
    y1 += Math.abs(y1) * 0.01 || 1
  }
  const pw = W - PAD.l - PAD.r
  const ph = H - PAD.t - PAD.b
  const x = (t: number) => PAD.l + ((t - t0) / (t1 - t0)) * pw
  const y = (v: number) => PAD.t + (1 - (v - y0) / (y1 - y0)) * ph
  const f = (v: number) => v.toFixed(1)
  const grid: string[] = []
  for (const v of niceTicks(y0, y1, 5)) {
    grid.push(`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${f(y(v))}" y2="${f(y(v))}" class="grid"/>`)
    grid.push(`<text x="${PAD.l - 6}" y="${f(y(v) + 4)}" text-anchor="end">${esc(fmtY(v))}</text>`)
  }
  const days = (t1 - t0) / US_PER_DAY
  for (let k = 0; k <= 5; k++) {
    const t = t0 + ((t1 - t0) * k) / 5
    const label = days > 3 ? isoUs(t).slice(0, 10) : isoShort(t)
    grid.push(`<text x="${f(x(t))}" y="${H - 8}" text-anchor="${k === 0 ? 'start' : k === 5 ? 'end' : 'middle'}">${esc(label)}</text>`)
  }
  const paths = series.map((s, si) => {
    if (s.time.length === 0) return ''
    let d = `M${f(x(s.time[0]))},${f(y(s.values[0]))}`
    for (let i = 1; i < s.time.length; i++) d += `L${f(x(s.time[i]))},${f(y(s.values[i]))}`
    if (s.fill) {
      const base = f(y(Math.min(Math.max(0, y0), y1)))
      const area = `${d}L${f(x(s.time[s.time.length - 1]))},${base}L${f(x(s.time[0]))},${base}Z`
      return `<path d="${area}" fill="${s.color}" fill-opacity="0.25" stroke="none"/><path d="${d}" data-series="${si}" fill="none" stroke="${s.color}" stroke-width="1.2"/>`
    }
    return `<path d="${d}" data-series="${si}" fill="none" stroke="${s.color}" stroke-width="1.4"/>`
  })
  const legend = series.map((s) => `<span class="key"><i style="background:${s.color}"></i>${esc(s.name)}</span>`).join('')
  const data = { t0, t1, y0, y1, l: PAD.l, r: PAD.r, t: PAD.t, b: PAD.b, w: W, h: H, series: series.map((s) => ({ name: s.name, color: s.color, time: s.time, values: s.values })) }
  return (
    `<section class="chart"><h2>${esc(title)}</h2><div class="legend">${legend}</div>` +
    `<svg id="${id}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">` +
    `<rect x="${PAD.l}" y="${PAD.t}" width="${pw}" height="${ph}" class="plot"/>${grid.join('')}${paths.join('')}` +
    `<line class="cross" x1="0" x2="0" y1="${PAD.t}" y2="${H - PAD.b}" visibility="hidden"/></svg>` +
    `<div class="readout" id="${id}-readout">&nbsp;</div>` +
    `<script type="application/json" id="${id}-data">${scriptJson(data)}</script></section>`
  )
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

function monthlyTable(r: BacktestResult): string {
  const months = monthlyReturns(r.equity.time, r.equity.equity, r.startCapital)
  if (months.length === 0) return '<p class="muted">No data.</p>'
  const byYear = new Map<number, Map<number, number>>()
  let maxAbs = 0
  for (const m of months) {
    if (!byYear.has(m.year)) byYear.set(m.year, new Map())
    byYear.get(m.year)?.set(m.month, m.ret)
    if (Number.isFinite(m.ret)) maxAbs = Math.max(maxAbs, Math.abs(m.ret))
  }
  const color = (v: number) => {
    if (!Number.isFinite(v) || maxAbs === 0) return ''
    const a = (0.12 + 0.78 * Math.min(1, Math.abs(v) / maxAbs)).toFixed(2)
    return v >= 0 ? ` style="background:rgba(22,163,74,${a})"` : ` style="background:rgba(220,38,38,${a})"`
  }
  const rows = [...byYear.entries()].map(([year, ms]) => {
    let compound = 1
    for (const v of ms.values()) compound *= 1 + v
    const cells = MONTHS.map((_, i) => {
      const v = ms.get(i + 1)
      return v === undefined ? '<td></td>' : `<td${color(v)}>${pct(v, 1)}</td>`
    })
    return `<tr><th>${year}</th>${cells.join('')}<td class="year"${color(compound - 1)}>${pct(compound - 1, 1)}</td></tr>`
  })
  return `<table class="months"><thead><tr><th></th>${MONTHS.map((m) => `<th>${m}</th>`).join('')}<th>Year</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
}

function metricsTable(m: Metrics): string {
  const rows: [string, string, string][] = [
    ['Total return', pct(m.totalReturn), pct(m.benchmark.totalReturn)],
    ['CAGR', pct(m.cagr), pct(m.benchmark.cagr)],
    ['Volatility (annualised)', pct(m.volatility), ''],
    ['Sharpe', num(m.sharpe), num(m.benchmark.sharpe)],
    ['Sortino', num(m.sortino), ''],
    ['Calmar', num(m.calmar), ''],
    ['Max drawdown', pct(m.maxDrawdown), pct(m.benchmark.maxDrawdown)],
    ['Max drawdown duration', duration(m.maxDrawdownDurationMs), ''],
    ['Trades', String(m.trades), ''],
    ['Win rate', pct(m.winRate, 1), ''],
    ['Profit factor', num(m.profitFactor), ''],
    ['Expectancy (per trade)', num(m.expectancy), ''],
    ['Exposure (bars in market)', pct(m.exposure, 1), ''],
    ['Turnover (× average equity)', num(m.turnover), ''],
    ['Fees paid', num(m.fees), ''],
    ['Funding paid', num(m.funding), ''],
  ]
  return `<table class="metrics"><thead><tr><th>Metric</th><th>Strategy</th><th>Buy and hold</th></tr></thead><tbody>${rows
    .map(([a, b, c]) => `<tr><th>${esc(a)}</th><td>${esc(b)}</td><td>${esc(c)}</td></tr>`)
    .join('')}</tbody></table>`
}

/** At most this many rows per list; the rest are counted in a note */
const MAX_ROWS = 1000

function listTable(head: readonly string[], rows: readonly (readonly string[])[], total: number, what: string, file?: string): string {
  if (total === 0) return `<p class="muted">No ${esc(what)}.</p>`
  const note =
    total > rows.length
      ? `<p class="note">Showing the first ${rows.length.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} ${esc(what)}${file ? `; ${esc(file)}` : ''}.</p>`
      : ''
  return `${note}<div class="scroll"><table class="list"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table></div>`
}

function kvTable(entries: readonly (readonly [string, string])[]): string {
  if (entries.length === 0) return '<p class="muted">None.</p>'
  return `<table class="kv"><tbody>${entries.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</tbody></table>`
}

const STYLE = `
:root{color-scheme:light;--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#fff}
*{box-sizing:border-box}body{margin:0 auto;max-width:1000px;padding:20px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}.muted,.note{color:var(--muted)}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}th,td{padding:3px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{font-weight:600}table.kv th,table.metrics tbody th{text-align:left}.scroll{max-height:420px;overflow:auto;border:1px solid var(--line)}
table.list thead th{position:sticky;top:0;background:#f9fafb}table.months td{min-width:56px}table.months td.year{font-weight:600}
svg{display:block;max-width:100%;height:auto;font-size:11px;fill:var(--muted)}svg .plot{fill:#fcfcfd;stroke:var(--line)}svg .grid{stroke:var(--line)}
svg .cross{stroke:#9ca3af;stroke-dasharray:3 3}.legend{margin:0 0 4px}.key{margin-right:14px}.key i{display:inline-block;width:12px;height:3px;margin:0 5px 3px 0;vertical-align:middle}
.readout{color:var(--muted);min-height:1.4em;font-variant-numeric:tabular-nums}.grid2{display:grid;grid-template-columns:1fr 1fr;gap:0 24px}
@media (max-width:800px){.grid2{grid-template-columns:1fr}}
`

// Hover read-out: the nearest point of each series under the pointer. Runs only on this file's own data.
const SCRIPT = `
(function(){
  function fmtTime(us){return new Date(us/1000).toISOString().slice(0,16).replace('T',' ')}
  function nearest(ts,t){var lo=0,hi=ts.length-1;while(hi-lo>1){var m=(lo+hi)>>1;if(ts[m]<t)lo=m;else hi=m}return Math.abs(ts[lo]-t)<=Math.abs(ts[hi]-t)?lo:hi}
  var charts=document.querySelectorAll('svg[id]');
  for(var c=0;c<charts.length;c++){(function(svg){
    var el=document.getElementById(svg.id+'-data');var out=document.getElementById(svg.id+'-readout');if(!el||!out)return;
    var d=JSON.parse(el.textContent);var cross=svg.querySelector('.cross');var pct=svg.id==='drawdown';
    svg.addEventListener('mousemove',function(ev){
      var box=svg.getBoundingClientRect();var px=(ev.clientX-box.left)*d.w/box.width;
      if(px<d.l||px>d.w-d.r){return}
      var t=d.t0+(px-d.l)/(d.w-d.l-d.r)*(d.t1-d.t0);cross.setAttribute('x1',px);cross.setAttribute('x2',px);cross.setAttribute('visibility','visible');
      var parts=[fmtTime(t)];
      for(var i=0;i<d.series.length;i++){var s=d.series[i];if(!s.time.length)continue;var k=nearest(s.time,t);var v=s.values[k];
        parts.push(s.name+': '+(pct?(v*100).toFixed(2)+'%':v.toLocaleString('en-US',{maximumFractionDigits:2})))}
      out.textContent=parts.join('   ');
    });
    svg.addEventListener('mouseleave',function(){cross.setAttribute('visibility','hidden');out.textContent='\\u00a0'});
  })(charts[c])}
  document.documentElement.setAttribute('data-ready','1');
})();
`

function paramText(v: number | string | boolean): string {
  return typeof v === 'number' ? sig(v) : String(v)
}

/** Renders a self-contained HTML report of a result and its metrics (no external resource of any kind). */
export function renderHtmlReport(r: BacktestResult, m: Metrics): string {
  const instruments = r.instruments.map((i) => `${i.exchange}:${i.symbol}`).join(', ')
  const title = `${r.strategy} · ${instruments} · ${r.interval}`
  const eq = downsampleMinMax(r.equity.time, r.equity.equity)
  const bh = downsampleMinMax(r.benchmark.time, r.benchmark.equity)
  const ddAll = drawdowns(r.equity.time, r.equity.equity, r.startCapital, r.equity.time.length ? r.equity.time[0] : 0).series
  const dd = downsampleMinMax(r.equity.time, ddAll)
  const equityChart = svgChart(
    'equity',
    'Equity: strategy and buy-and-hold',
    [
      { name: 'Strategy', color: '#2563eb', time: eq.time, values: eq.values },
      { name: 'Buy and hold', color: '#9ca3af', time: bh.time, values: bh.values },
    ],
    (v) => v.toLocaleString('en-US', { maximumFractionDigits: Math.abs(v) >= 100 ? 0 : 2 }),
  )
  const ddChart = svgChart('drawdown', 'Drawdown', [{ name: 'Drawdown', color: '#dc2626', time: dd.time, values: dd.values, fill: true }], (v) => pct(v, 0))

  const trades = r.trades.slice(0, MAX_ROWS).map((t) => [
    t.instrument,
    t.direction,
    isoShort(t.entryTime),
    isoShort(t.exitTime),
    sig(t.entryPrice),
    sig(t.exitPrice),
    sig(t.qty),
    num(t.pnl),
    pct(t.returnPct),
    num(t.fees),
    num(t.funding),
    String(t.bars),
  ])
  const open = (r.openPositions ?? []).map((o) => [
    o.instrument,
    o.direction,
    isoShort(o.entryTime),
    sig(o.entryPrice),
    sig(o.markPrice),
    sig(o.qty),
    num(o.unrealised),
    num(o.pnl),
    num(o.fees),
    num(o.funding),
    String(o.bars),
  ])
  const orders = (r.orders ?? []).slice(0, MAX_ROWS).map((o) => [
    String(o.id),
    isoShort(o.time),
    o.instrument,
    o.side,
    o.type,
    Number.isNaN(o.qty) ? (o.notional !== undefined ? `${sig(o.notional)} quote` : 'n/a') : sig(o.qty),
    o.price === undefined ? '' : sig(o.price),
    o.stopPrice === undefined ? '' : sig(o.stopPrice),
    o.tag ?? '',
    o.status + (o.cancelReason ? ` (${o.cancelReason})` : ''),
  ])
  const risk = r.riskEvents.slice(0, MAX_ROWS).map((e) => [
    isoShort(e.time),
    e.instrument ?? '',
    e.action,
    e.reason,
    e.requestedQty === undefined ? '' : sig(e.requestedQty),
    e.allowedQty === undefined ? '' : sig(e.allowedQty),
  ])
  const gaps = r.gaps.slice(0, MAX_ROWS).map((g) => [g.instrument, isoShort(g.from), isoShort(g.to), g.missing.toLocaleString('en-US')])
  const s = r.settings
  const settings: [string, string][] = s
    ? [
        ['Market', s.market.join(', ')],
        ['Fees (maker / taker)', s.fees.map((f) => `${pct(f.maker, 3)} / ${pct(f.taker, 3)}`).join(', ')],
        ['Slippage', s.slippage],
        ['Fill at', s.fillAt],
        ['Intrabar', s.intrabar],
        ['Leverage', sig(s.leverage)],
        ['Max participation', s.maxParticipation === undefined ? 'none' : pct(s.maxParticipation, 1)],
      ]
    : []
  const run: [string, string][] = [
    ['Strategy', r.strategy],
    ['Instruments', instruments],
    ['Interval', r.interval],
    ['From', isoUs(r.from)],
    ['To', isoUs(r.to)],
    ['Bars', r.bars.toLocaleString('en-US')],
    ['Start capital', num(r.startCapital)],
    ['End equity', num(r.equity.equity.length ? r.equity.equity[r.equity.equity.length - 1] : r.startCapital)],
    ['Slippage paid', num(r.slippage)],
    ['Filled notional', num(r.turnover)],
    ...settings,
  ]
  const params = Object.entries(r.params).map(([k, v]) => [k, paramText(v)] as const)
  const warnings = r.warnings ?? []

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="mercury backtest">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body>
<header><h1>${esc(r.strategy)}</h1><p class="muted">${esc(instruments)} · ${esc(r.interval)} bars · ${esc(isoUs(r.from))} to ${esc(isoUs(r.to))}</p></header>
${warnings.length ? `<section><h2>Warnings</h2><ul>${warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul></section>` : ''}
<div class="grid2"><section><h2>Metrics</h2>${metricsTable(m)}</section>
<section><h2>Run</h2>${kvTable(run)}<h2>Parameters</h2>${kvTable(params)}</section></div>
${equityChart}
${ddChart}
<section><h2>Monthly returns</h2>${monthlyTable(r)}</section>
<section><h2>Trades</h2>${listTable(['Instrument', 'Side', 'Entry', 'Exit', 'Entry price', 'Exit price', 'Qty', 'PnL', 'Return', 'Fees', 'Funding', 'Bars'], trades, r.trades.length, 'trades', 'write them all with --trades FILE')}</section>
${open.length ? `<section><h2>Open at the end</h2><p class="note">Still held when the run ended, marked at the last close; not in the trade list or the trade statistics.</p>${listTable(['Instrument', 'Side', 'Entry', 'Entry price', 'Mark', 'Qty', 'Unrealised', 'PnL', 'Fees', 'Funding', 'Bars'], open, open.length, 'open positions')}</section>` : ''}
${r.orders ? `<section><h2>Orders</h2>${listTable(['Id', 'Time', 'Instrument', 'Side', 'Type', 'Qty', 'Price', 'Stop', 'Tag', 'Status'], orders, r.orders.length, 'orders')}</section>` : ''}
<section><h2>Risk events</h2>${listTable(['Time', 'Instrument', 'Action', 'Reason', 'Requested', 'Allowed'], risk, r.riskEvents.length, 'risk events')}</section>
<section><h2>Data gaps</h2>${listTable(['Instrument', 'From', 'To', 'Missing bars'], gaps, r.gaps.length, 'gaps')}</section>
<footer class="muted"><p>Ratios are annualised with 365-day years from the bar interval; Sharpe and Sortino use per-bar simple returns and a zero risk-free rate (empyrical conventions). Generated by mercury.</p></footer>
<script>${SCRIPT}</script>
</body></html>
`
}
