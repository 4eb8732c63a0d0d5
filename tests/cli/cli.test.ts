import { spawnSync } from 'node:child_process'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { expandGlob } from '../../src/lib/util/glob.js'
import { BIN, DATASETS, KLINES, OUTAGE, ROOT, XRPETH_AGG, cli, cliJson, tempDir, treeHash, type LsRow } from '../helpers.js'

const DATASET_GLOB = join(DATASETS, '**', '*.zip')
/** Error lines on stderr (progress lines of a non-terminal run are informational) */
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('mercury:'))

describe('mercury CLI', () => {
  it('--help lists only the commands that work, with examples', () => {
    const r = cli(['--help'], tempDir())
    expect(r.code).toBe(0)
    const commands = r.stdout.split('Commands:')[1].split('Examples:')[0]
    const names = [...commands.matchAll(/^\s{2}(\S+)/gm)].map((m) => m[1])
    expect(names).toEqual(['backfill', 'backtest', 'collect', 'convert-lob', 'data', 'export', 'kaggle-upload', 'replay-server', 'signals', 'help'])
    expect(r.stdout).toMatch(/Examples:/)
    for (const sub of [['backfill'], ['data'], ['data', 'ls'], ['data', 'gaps'], ['data', 'query'], ['signals'], ['export'], ['export', 'timescale']]) {
      const h = cli([...sub, '--help'], tempDir())
      expect(h.code).toBe(0)
      expect(h.stdout).toMatch(/Examples:\n\s+\$ mercury /)
    }
    expect(cli(['--version'], tempDir()).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/)
    // Examples that name the shipped sample data name files that exist
    const shipped = [r.stdout, cli(['backfill', '--help'], tempDir()).stdout].flatMap((t) => [...t.matchAll(/--archive '?(datasets\/[^' ]+)/g)].map((m) => m[1]))
    expect(shipped.length).toBeGreaterThan(0)
    for (const pattern of shipped) expect(expandGlob(join(ROOT, pattern)).length, pattern).toBeGreaterThan(0)
  })

  it('answers bad input with one line and exit code 2', () => {
    const lake = tempDir()
    const cases: [string[], RegExp][] = [
      [['backfill', '--archive', join(lake, 'none-*.zip')], /Invalid --archive: '.*none-\*\.zip' matches no file/],
      [['backfill', '--archive', OUTAGE, '--interval', '7m'], /Invalid --interval: '7m'/],
      [['backfill', '--archive', OUTAGE, '--kind', 'candles'], /Invalid --kind: 'candles'/],
      [['backfill', '--archive', OUTAGE, '--instrument', 'BTCUSDT'], /Invalid --instrument: 'BTCUSDT'\. Expected exchange:SYMBOL/],
      [['backfill', '--archive', XRPETH_AGG], /Cannot infer what/],
      [['data', 'gaps', 'kraken:XBTUSD'], /unknown exchange 'kraken'/],
      [['data', 'gaps', 'binance:BTCUSDT', '--interval', '1m', '--from', 'soon'], /Invalid --from: 'soon'/],
      // Date.parse alone would roll it over to March 1st
      [['data', 'gaps', 'binance:BTCUSDT', '--interval', '1m', '--from', '2024-02-30'], /Invalid --from: '2024-02-30'/],
      [['data', 'gaps', 'binance:BTCUSDT', '--interval', '1m'], /No bars 1m for binance:BTCUSDT in the lake/],
      [['data', 'query', 'SELEC 1'], /Query failed: Parser Error/],
      [['data', 'ls', '--bogus'], /^mercury: unknown option '--bogus' \(see mercury data ls --help\)/],
      [['frobnicate'], /^mercury: unknown command 'frobnicate' \(see mercury --help\)/],
      // Not the top-level help with exit 0
      [['frobnicate', '--help'], /^mercury: unknown command 'frobnicate'/],
      [['data', 'bogus', '--help'], /^mercury: unknown command 'bogus' \(see mercury data --help\)/],
      [['backfil', '--archive', OUTAGE], /^mercury: unknown command 'backfil' \(Did you mean backfill\?\) \(see mercury --help\)/],
      [['signals', 'binance:BTCUSDT', '--interval', '1h', '--category', 'momentum'], /Invalid --category: it filters `signals list`; pick the indicators of a run with --only/],
      // collect checks what each venue accepts before it connects anywhere
      [['collect', 'binance:BTCUSDT', '--channels', 'trades,candles'], /Invalid --channels: 'candles'/],
      [['collect', 'binance:BTCUSDT', '--depth-speed', '7ms'], /Invalid --depth-speed: '7ms'\. binance diff depth comes at 100ms, 1000ms/],
      [['collect', 'binance-futures:BTCUSDT', '--depth-speed', '1000ms'], /Invalid --depth-speed: '1000ms'\. binance-futures diff depth comes at 0ms, 100ms, 250ms, 500ms/],
      [['collect', 'binance-futures:BTCUSDT', '--snapshot-limit', '5000'], /Invalid --snapshot-limit: '5000'\. binance-futures depth snapshots take one of 5, 10, 20, 50, 100, 500, 1000/],
      [['collect', 'binance:BTCUSDT', '--snapshot-limit', '5001'], /Invalid --snapshot-limit: '5001'/],
      // A lake folder that is a file, or inside one
      [['--data-dir', join(ROOT, 'README.md'), 'data', 'ls'], /Invalid --data-dir: '.*README\.md' is a file, not a folder/],
      [['--data-dir', join(ROOT, 'README.md', 'lake'), 'backfill', '--archive', OUTAGE], /Invalid --data-dir: '.*README\.md\/lake' is inside a file/],
    ]
    for (const [args, message] of cases) {
      const r = cli(args, lake)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr).toMatch(message)
      expect(r.stderr.trim().split('\n')[0]).toMatch(message)
      // One line: the error, not a usage dump after it
      expect(errorLines(r.stderr), args.join(' ')).toHaveLength(1)
    }
  })

  it('stops quietly when the reader of its output closes the pipe early', () => {
    // A catalogue far longer than a pipe buffer, read by something that takes one line and closes
    const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${BIN}" signals list | head -c 10 > /dev/null`], {
      cwd: ROOT,
      env: { ...process.env, MERCURY_DATA_DIR: tempDir() },
      encoding: 'utf8',
    })
    expect(r.stderr).not.toMatch(/EPIPE|Error/)
    expect(r.status).toBe(0)
  })

  it('imports the shipped real sample (zips, across the 2025 µs switch) with no gaps, and again changes nothing', () => {
    const lake = tempDir()
    const first = cliJson<{ rowsRead: number; rowsWritten: number }>(['backfill', '--archive', DATASET_GLOB], lake)
    expect(first).toMatchObject({ rowsRead: 89_280 + 19_904, rowsWritten: 89_280 + 19_904 })
    const ls = cliJson<LsRow[]>(['data', 'ls'], lake)
    expect(ls).toEqual([
      expect.objectContaining({ kind: 'bars', instrument: 'binance:BTCUSDT', interval: '1m', rows: 89_280, first: '2024-11-01T00:00:00Z', last: '2025-01-01T23:59:00Z', gaps: 0, missing: 0 }),
      expect.objectContaining({ kind: 'trades', instrument: 'binance:BTCUSDT', interval: null, rows: 19_904, firstKey: 3735683259, lastKey: 3735703162, gaps: 0 }),
    ])
    const before = treeHash(lake)
    const again = cliJson<{ rowsWritten: number }>(['backfill', '--archive', DATASET_GLOB], lake)
    expect(again.rowsWritten).toBe(0)
    expect(treeHash(lake)).toEqual(before)

    // The 2025-01-01 bars are stored in µs like the ms ones: 00:00 follows 2024-12-31 23:59 with no gap
    const q = cliJson<{ t: string; open_time: number; close_time: number }[]>(
      ['data', 'query', `SELECT time::VARCHAR t, open_time, close_time FROM bars WHERE time BETWEEN '2024-12-31 23:59' AND '2025-01-01 00:00' ORDER BY time`],
      lake,
    )
    expect(q).toEqual([
      { t: '2024-12-31 23:59:00', open_time: 1735689540000000, close_time: 1735689599999999 },
      { t: '2025-01-01 00:00:00', open_time: 1735689600000000, close_time: 1735689659999999 },
    ])
    const csv = cli(['data', 'query', 'SELECT symbol, count(*) AS n FROM trades GROUP BY symbol', '--csv'], lake)
    expect(csv.stdout).toBe('symbol,n\nBTCUSDT,19904\n')
  })

  it('finds the real 2023-03-24 Binance outage as a gap', () => {
    const lake = tempDir()
    expect(cli(['backfill', '--archive', OUTAGE], lake).code).toBe(0)
    const g = cliJson<{ gaps: { from: string; to: string; missing: number }[]; count: number }>(
      ['data', 'gaps', 'binance:BTCUSDT', '--kind', 'bars', '--interval', '1m'],
      lake,
    )
    expect(g.count).toBe(1)
    expect(g.gaps[0]).toMatchObject({ from: '2023-03-24T12:40:00Z', to: '2023-03-24T13:59:00Z', missing: 80 })
    const ls = cliJson<LsRow[]>(['data', 'ls'], lake)
    expect(ls[0]).toMatchObject({ rows: 44_560, gaps: 1, missing: 80 })
    const table = cli(['data', 'gaps', 'binance:BTCUSDT'], lake)
    expect(table.stdout).toMatch(/2023-03-24T12:40:00Z.*2023-03-24T13:59:00Z.*80/)
  })

  it('imports aggTrades with overrides and reports no id gaps in the contiguous real file', () => {
    const lake = tempDir()
    const r = cliJson<{ rowsWritten: number }>(['backfill', '--archive', XRPETH_AGG, '--instrument', 'binance:XRPETH', '--kind', 'agg_trades'], lake)
    expect(r.rowsWritten).toBe(12_477)
    const g = cliJson<{ count: number }>(['data', 'gaps', 'binance:XRPETH', '--kind', 'agg_trades'], lake)
    expect(g.count).toBe(0)
    const q = cliJson<{ a: number; b: number }[]>(['data', 'query', 'SELECT min(id) a, max(id) b FROM agg_trades'], lake)
    expect(q).toEqual([{ a: 13519807, b: 13532283 }])
  })

  describe('corrupt input leaves the lake byte-for-byte unchanged', () => {
    const prepared = () => {
      const lake = tempDir()
      expect(cli(['backfill', '--archive', join(KLINES, 'BTCUSDT-1m-2025-01-01.zip')], lake).code).toBe(0)
      return { lake, before: treeHash(lake), work: tempDir() }
    }

    it('a truncated .csv.gz, streamed (first file) or decompressed ahead while another is read (second file)', () => {
      const { lake, before, work } = prepared()
      const src = readFileSync(OUTAGE)
      const bad = join(work, 'BTCUSDT-1m-2023-03.csv.gz')
      writeFileSync(bad, src.subarray(0, Math.floor(src.length / 2)))
      const good = join(KLINES, 'BTCUSDT-1m-2024-12.zip')
      for (const files of [[good, bad], [bad, good]]) {
        const r = cli(['backfill', '--archive', ...files], lake)
        expect(r.code).toBe(1)
        expect(errorLines(r.stderr)).toHaveLength(1)
        expect(r.stderr).toMatch(/Corrupt or truncated archive .*BTCUSDT-1m-2023-03\.csv\.gz: unexpected end of file/)
        expect(treeHash(lake)).toEqual(before)
      }
    })

    it('a zip with a damaged payload, and a truncated zip', () => {
      const { lake, before, work } = prepared()
      const src = readFileSync(join(KLINES, 'BTCUSDT-1m-2024-12.zip'))
      const flipped = Buffer.from(src)
      for (let i = 0; i < 64; i++) flipped[Math.floor(src.length / 2) + i] ^= 0x5a
      const bad1 = join(work, 'BTCUSDT-1m-2024-12.zip')
      writeFileSync(bad1, flipped)
      const r1 = cli(['backfill', '--archive', bad1], lake)
      expect(r1.code).toBe(1)
      expect(r1.stderr).toMatch(/^mercury: (Corrupt or truncated archive .*BTCUSDT-1m-2024-12\.zip|.*BTCUSDT-1m-2024-12\.(zip|csv).*)/)
      expect(errorLines(r1.stderr)).toHaveLength(1)
      const bad2 = join(work, 'BTCUSDT-1m-2024-11.zip')
      writeFileSync(bad2, src.subarray(0, src.length - 100))
      const r2 = cli(['backfill', '--archive', bad2], lake)
      expect(r2.code).toBe(1)
      expect(r2.stderr).toMatch(/Corrupt or truncated archive .*BTCUSDT-1m-2024-11\.zip/)
      expect(treeHash(lake)).toEqual(before)
    })

    it('a bad row: rejected with file and line, or skipped with --skip-bad-rows', () => {
      const { lake, before, work } = prepared()
      const lines = gunzipSync(readFileSync(OUTAGE)).toString('utf8').split('\n')
      const f = lines[99].split(',')
      f[2] = String(Number(f[1]) - 100) // high below open
      lines[99] = f.join(',')
      const bad = join(work, 'BTCUSDT-1m-2023-03.csv.gz')
      writeFileSync(bad, gzipSync(lines.join('\n')))
      const r = cli(['backfill', '--archive', bad], lake)
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/BTCUSDT-1m-2023-03\.csv\.gz:100: inconsistent OHLC/)
      expect(r.stderr).toMatch(/nothing was imported/)
      expect(treeHash(lake)).toEqual(before)
      const ok = cliJson<{ rowsWritten: number; badRows: number; problems: { line: number }[] }>(
        ['backfill', '--archive', bad, '--skip-bad-rows'],
        lake,
      )
      expect(ok).toMatchObject({ rowsWritten: 44_559, badRows: 1 })
      expect(ok.problems[0].line).toBe(100)
    })

    it('duplicate trade ids inside one file', () => {
      const { lake, before, work } = prepared()
      const text = gunzipSync(readFileSync(XRPETH_AGG)).toString('utf8').split('\n')
      text.splice(10, 0, text[5])
      const bad = join(work, 'XRPETH-aggTrades-2019-10-11.csv')
      writeFileSync(bad, text.join('\n'))
      const r = cli(['backfill', '--archive', bad, '--instrument', 'binance:XRPETH'], lake)
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/XRPETH-aggTrades-2019-10-11\.csv:11: duplicate key \(id\) of line 6/)
      expect(treeHash(lake)).toEqual(before)
    })
  })

  it('reads USD-M files with a header row as binance-futures', () => {
    const lake = tempDir()
    const work = tempDir()
    const header = 'open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n'
    const body = gunzipSync(readFileSync(OUTAGE)).toString('utf8').split('\n').slice(0, 1440).join('\n')
    const file = join(work, 'BTCUSDT-1m-2023-03-01.csv')
    writeFileSync(file, header + body + '\n')
    expect(cli(['backfill', '--archive', file], lake).code).toBe(0)
    const ls = cliJson<LsRow[]>(['data', 'ls'], lake)
    expect(ls[0]).toMatchObject({ instrument: 'binance-futures:BTCUSDT', rows: 1440, gaps: 0 })
    copyFileSync(file, join(work, 'copy.csv'))
    expect(cli(['backfill', '--archive', join(work, 'copy.csv'), '--instrument', 'binance:BTCUSDT', '--kind', 'klines', '--interval', '1m'], lake).code).toBe(0)
    expect(cliJson<LsRow[]>(['data', 'ls'], lake).map((r) => r.instrument)).toEqual(['binance:BTCUSDT', 'binance-futures:BTCUSDT'])
  })
})
