import { describe, expect, it } from 'vitest'
import { afterRepair, gapStates, readLedger, writeLedger, type Ledger } from '../../src/lib/backfill/ledger.js'
import type { DatasetId } from '../../src/lib/lake/schema.js'
import { tempDir } from '../helpers.js'

const M = 60e6
const ds: DatasetId = { kind: 'bars', exchange: 'binance', symbol: 'BTCUSDT', interval: '1m' }
const gap = (a: number, b: number) => ({ from: a * M, to: b * M, missing: b - a + 1 })
const NOW = '2026-01-01T00:00:00.000Z'

describe('gap ledger', () => {
  it('marks filled holes repaired, empty answers exchange gaps, and the rest open', () => {
    const before = [gap(10, 19), gap(40, 49), gap(70, 79)]
    // 10-19 filled; 40-49 still missing and the exchange returned nothing; 70-79 half filled, half unknown
    const after = [gap(40, 49), gap(75, 79)]
    const l = afterRepair({ version: 1, entries: [] }, before, after, (g) => g.from === 40 * M, NOW)
    expect(l.entries.map((e) => [e.from / M, e.to / M, e.state])).toEqual([
      [10, 19, 'repaired'],
      [40, 49, 'exchange_gap'],
      [75, 79, 'open'],
    ])
    expect(l.entries.every((e) => e.attempts === 1 && e.lastChecked === NOW)).toBe(true)
    // Reading back: a current hole inside an exchange gap keeps that state; repaired ones are listed as history
    const view = gapStates(after, l)
    expect(view.map((v) => [v.from / M, v.state])).toEqual([
      [10, 'repaired'],
      [40, 'exchange_gap'],
      [75, 'open'],
    ])
    // A second attempt counts attempts and does not duplicate the exchange gap
    const again = afterRepair(l, after, after, () => false, NOW)
    expect(again.entries.filter((e) => e.state === 'exchange_gap')).toHaveLength(1)
    expect(again.entries.find((e) => e.state === 'open')?.attempts).toBe(2)
  })

  it('persists atomically next to the lake', () => {
    const lake = tempDir()
    expect(readLedger(lake, ds).entries).toEqual([])
    const l: Ledger = afterRepair({ version: 1, entries: [] }, [gap(1, 2)], [], () => false, NOW)
    writeLedger(lake, ds, l)
    expect(readLedger(lake, ds)).toEqual(l)
  })
})
