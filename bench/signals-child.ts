// One round of mercury's side of the batch comparison with TA-Lib C, in a process of its own (bench/signals.ts
// starts one per round, as it does TA-Lib C's scripts/talib/bench.c): reads the bars bench.c reads (five float64
// columns, open, high, low, close and volume, of equal length), times each indicator named on the command line and
// prints { "ms": { id: median }, "msFresh": { id: median } } as JSON.
//
//   node dist/bench/signals-child.js BARS_FILE ID...
//
// ms: runBatch with one BatchArena touched by a previous run, reset before each run, median of 5; msFresh: runBatch
// returning new arrays, median of 3 (after one untimed run of each, as the in-process benchmark does)
import { readFileSync } from 'node:fs'
import { BatchArena, runBatch } from '../src/lib/signals/engine.js'
import { INDICATORS } from '../src/lib/signals/registry.js'
import type { Columns } from '../src/lib/signals/types.js'

const COLUMNS = ['open', 'high', 'low', 'close', 'volume'] as const

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
}

function timed(fn: () => unknown, reps: number): number {
  const times: number[] = []
  for (let r = 0; r < reps; r++) {
    const t = performance.now()
    fn()
    times.push(performance.now() - t)
  }
  return median(times)
}

function main(): void {
  const [file, ...ids] = process.argv.slice(2)
  if (!file || ids.length === 0) throw new Error('usage: signals-child BARS_FILE ID...')
  const bytes = readFileSync(file)
  const n = bytes.byteLength / 8 / COLUMNS.length
  if (!Number.isInteger(n)) throw new Error(`${file}: not five float64 columns of equal length`)
  const all = new Float64Array(bytes.buffer, bytes.byteOffset, n * COLUMNS.length)
  // Each column in an array of its own, as the in-process benchmark's are
  const input: Columns = Object.fromEntries(COLUMNS.map((k, j) => [k, all.slice(j * n, (j + 1) * n)]))
  const arena = new BatchArena()
  const ms: Record<string, number> = {}
  const msFresh: Record<string, number> = {}
  for (const id of ids) {
    const def = INDICATORS.find((d) => d.id === id)
    if (!def) throw new Error(`unknown indicator ${id}`)
    const fresh = () => runBatch(def, input)
    const withArena = () => {
      arena.reset()
      return runBatch(def, input, {}, { arena })
    }
    fresh()
    msFresh[id] = timed(fresh, 3)
    withArena()
    ms[id] = timed(withArena, 5)
  }
  process.stdout.write(JSON.stringify({ rows: n, ms, msFresh }))
}

main()
