import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DATASETS, OUTAGE, cli, cliJson, cliSpawn, tempDir, type LsRow } from '../helpers.js'

const ARGS = ['backfill', '--archive', join(DATASETS, '**', '*.zip'), OUTAGE]

function killAfter(lake: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const p = cliSpawn(ARGS, lake)
    const t = setTimeout(() => p.kill('SIGKILL'), ms)
    p.on('exit', () => {
      clearTimeout(t)
      resolve()
    })
  })
}

describe('kill -9 during an import', () => {
  it('leaves a readable, consistent lake at every moment, and re-running completes it', async () => {
    const reference = tempDir()
    expect(cli(ARGS, reference).code).toBe(0)
    const expected = cliJson<LsRow[]>(['data', 'ls'], reference)
    const total = expected.reduce((a, r) => a + r.rows, 0)
    const lake = tempDir()
    let partial = 0
    for (const ms of [150, 400, 700, 1000, 1300, 1600, 2000]) {
      await killAfter(lake, ms)
      const ls = cli(['data', 'ls', '--json'], lake)
      expect(ls.code, ls.stderr).toBe(0)
      const rows = JSON.parse(ls.stdout) as LsRow[]
      if (rows.reduce((a, r) => a + r.rows, 0) < total) partial++
      for (const row of rows) {
        // What the manifest promises is exactly what the files hold
        const q = cliJson<{ n: number }[]>(
          ['data', 'query', `SELECT count(*)::INT n FROM ${row.kind} WHERE symbol = '${row.instrument.split(':')[1]}'`],
          lake,
        )
        expect(q[0].n).toBe(row.rows)
      }
    }
    // The kills must have interrupted real work, not only finished runs
    expect(partial).toBeGreaterThan(0)
    expect(cli(ARGS, lake).code).toBe(0)
    const strip = (rows: LsRow[]) => rows.map(({ ...r }) => ({ ...r, bytes: undefined, files: undefined }))
    expect(strip(cliJson<LsRow[]>(['data', 'ls'], lake))).toEqual(strip(expected))
  })
})
