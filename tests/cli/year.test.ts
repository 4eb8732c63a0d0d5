// Acceptance on the full real 2024 year (12 monthly files, 25 MB), read from ../shared/data/real: too large to
// ship in the repo. CI always has it (the test fails there if it is missing); a clone without ../shared says so.
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { SHARED_REAL, cli, cliJson, sharedAvailable, tempDir, treeHash, type LsRow } from '../helpers.js'

const months = Array.from({ length: 12 }, (_, i) => join(SHARED_REAL, 'jan-kluger-backtest', `BTCUSDT-1m-2024-${String(i + 1).padStart(2, '0')}.csv.gz`))

describe.runIf(sharedAvailable())('the 2024 BTCUSDT year from real archives', () => {
  it('imports 527,040 bars with no gap, re-imports as a no-op, and answers SQL', () => {
    const lake = tempDir()
    const r = cliJson<{ rowsWritten: number }>(['backfill', '--archive', ...months], lake)
    expect(r.rowsWritten).toBe(527_040)
    const ls = cliJson<LsRow[]>(['data', 'ls'], lake)
    expect(ls).toHaveLength(1)
    expect(ls[0]).toMatchObject({ kind: 'bars', instrument: 'binance:BTCUSDT', interval: '1m', rows: 527_040, first: '2024-01-01T00:00:00Z', last: '2024-12-31T23:59:00Z', gaps: 0, missing: 0 })
    const before = treeHash(lake)
    expect(cliJson<{ rowsWritten: number }>(['backfill', '--archive', join(SHARED_REAL, 'jan-kluger-backtest', 'BTCUSDT-1m-2024-*.csv.gz')], lake).rowsWritten).toBe(0)
    expect(treeHash(lake)).toEqual(before)
    // Every month is complete: days x 1440 bars
    const q = cliJson<{ m: string; n: number; hi: number }[]>(
      ['data', 'query', `SELECT strftime(time, '%Y-%m') m, count(*)::INT n, max(high) hi FROM bars GROUP BY 1 ORDER BY 1`],
      lake,
    )
    expect(q.map((x) => x.n)).toEqual([44640, 41760, 44640, 43200, 44640, 43200, 44640, 44640, 43200, 44640, 43200, 44640])
    expect(cli(['data', 'gaps', 'binance:BTCUSDT', '--interval', '1m'], lake).stdout).toMatch(/No gaps/)
  })
})
