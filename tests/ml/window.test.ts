// src/lib/ml without Python: the feature transform, windows from stored rows and from a live book replayed from the
// real hftbacktest recording, the npy codec and the model card checks

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { createBookSync } from '../../src/lib/book/index.js'
import { mapBinanceMessage, parseBinanceDepthSnapshot } from '../../src/lib/exchanges/binance/stream.js'
import {
  encodeNpy,
  featureNames,
  loadModel,
  LobWindow,
  parseModelCard,
  parseNpy,
  rawColumns,
  rawRowFromBook,
  readNpy,
  rowWidth,
  softmax,
  transformRow,
  transformRows,
  windowsFromRaw,
  windowsFromSnapshots,
  type LobLevels,
  type WindowSpec,
} from '../../src/lib/ml/index.js'
import { readRecordingSync } from '../../src/lib/replay/recording.js'
import type { BookLevel } from '../../src/lib/types.js'
import { FIXTURES, tempDir } from '../helpers.js'

const DATA = join(FIXTURES, 'ml', 'btcusdt-spot-20240808', 'npy')
const RECORDING = join(FIXTURES, 'recordings', 'hftbacktest', 'spot-btcusdt_20240808.gz')
const LEVELS = 10
const WIDTH = rowWidth(LEVELS)
const INTERVAL_US = 100_000

/** Statistics of the first 1000 fixture rows: any normalisation serves, a realistic one catches scale bugs */
function specFrom(raw: Float32Array, window: number): WindowSpec {
  const rows = 1000
  const f = transformRows(raw, rows, LEVELS)
  const mean = new Array<number>(WIDTH).fill(0)
  const std = new Array<number>(WIDTH).fill(0)
  for (let r = 0; r < rows; r++) for (let j = 0; j < WIDTH; j++) mean[j] += f[r * WIDTH + j] / rows
  for (let r = 0; r < rows; r++) for (let j = 0; j < WIDTH; j++) std[j] += (f[r * WIDTH + j] - mean[j]) ** 2 / rows
  return { levels: LEVELS, window, normalization: { mean, std: std.map((v) => (v < 1e-16 ? 1 : Math.sqrt(v))) } }
}

interface Replay {
  /** The book at every 100 ms grid point (top 10), as `BookSnapshot`-like levels */
  readonly snapshots: LobLevels[]
  /** `LobWindow.features()` after every push once ready, keyed by row index */
  readonly pushed: Map<number, Float32Array>
  /** The same through `advance()` */
  readonly advanced: Map<number, Float32Array>
  readonly rawRows: Float32Array[]
}

/** Replays the recording's depth stream through the book sync, sampling on exchange time like the fixture script. */
function replay(spec: WindowSpec): Replay {
  const sync = createBookSync('binance', 'BTCUSDT')
  const byPush = new LobWindow(spec)
  const byAdvance = new LobWindow(spec)
  const out: Replay = { snapshots: [], pushed: new Map(), advanced: new Map(), rawRows: [] }
  let next: number | undefined
  let lastE: number | undefined
  let advancedRows = 0
  for (const frame of readRecordingSync(RECORDING)) {
    const msg = JSON.parse(frame.text) as unknown
    if (frame.src === 'rest') {
      const step = sync.onSnapshot(parseBinanceDepthSnapshot(msg, 'binance', 'BTCUSDT', frame.localTimestamp))
      for (const c of step.applied) if (!c.isSnapshot) lastE = c.timestamp
      continue
    }
    for (const r of mapBinanceMessage('binance', msg, frame.localTimestamp)) {
      if (r.type !== 'book_change') continue
      if (sync.state === 'synced') {
        if (next === undefined) {
          next = Math.ceil((lastE ?? r.timestamp) / INTERVAL_US) * INTERVAL_US
          // Starts its grid where the script's starts (a call appends rows only for grid points before its time)
          byAdvance.advance(sync.book, next, INTERVAL_US)
        }
        while (next < r.timestamp) {
          const top = sync.book.top(LEVELS)
          out.snapshots.push(top)
          const row = new Float32Array(WIDTH)
          rawRowFromBook(sync.book, LEVELS, row)
          out.rawRows.push(row)
          byPush.push(sync.book)
          if (byPush.ready) out.pushed.set(out.snapshots.length - 1, byPush.features())
          next += INTERVAL_US
        }
        // A call appends one row per grid point passed (two when a diff came late): key by the last row's index
        advancedRows += byAdvance.advance(sync.book, r.timestamp, INTERVAL_US)
        if (byAdvance.ready) out.advanced.set(advancedRows - 1, byAdvance.features())
      }
      const step = sync.onDiff(r)
      if (step.applied.length) lastE = r.timestamp
    }
  }
  return out
}

describe('windows from the replayed BTCUSDT book (hftbacktest 2024-08-08)', () => {
  let fixture: Float32Array
  let rows: number
  let spec: WindowSpec
  let run: Replay

  beforeAll(() => {
    const fx = readNpy(join(DATA, 'features.npy'))
    fixture = fx.data as Float32Array
    rows = fx.shape[0]
    spec = specFrom(fixture, 16)
    run = replay(spec)
  })

  it('reproduces the fixture: every sampled row equals features.npy bit for bit', () => {
    expect(readFileSync(join(DATA, 'columns.json'), 'utf8')).toContain(JSON.stringify(rawColumns(LEVELS)[0]))
    expect(run.rawRows.length).toBe(rows)
    const bad = run.rawRows.filter((row, r) => row.some((v, j) => !Object.is(v, fixture[r * WIDTH + j])))
    expect(bad).toEqual([])
  })

  it('a LobWindow fed the live book equals windows built from the same snapshots', () => {
    expect(run.pushed.size).toBe(rows - spec.window + 1)
    const ends = [spec.window - 1, 100, 1234, rows - 1]
    const built = windowsFromSnapshots(run.snapshots, spec, ends)
    const size = spec.window * WIDTH
    ends.forEach((end, i) => expect(run.pushed.get(end)).toEqual(built.windows.slice(i * size, (i + 1) * size)))
  })

  it('advance() samples the same grid as the fixture script', () => {
    expect(Math.max(...run.advanced.keys())).toBe(rows - 1)
    expect(run.advanced.size).toBeGreaterThan(0.9 * run.pushed.size)
    // Compared by hand: a deep equal over 3000 windows takes seconds
    const bad: number[] = []
    for (const [end, features] of run.advanced) {
      const want = run.pushed.get(end) as Float32Array
      if (want === undefined || features.some((v, i) => !Object.is(v, want[i]))) bad.push(end)
    }
    expect(bad).toEqual([])
  })

  it('windows from the float32 npy rows stay within float32 rounding of the float64 book', () => {
    const ends = [500, 2000]
    const a = windowsFromRaw(fixture, rows, spec, ends)
    const b = windowsFromSnapshots(run.snapshots, spec, ends)
    // Sizes and the spread lose ~1e-7 relative in float32; prices lose ~0.004 USD at 60k, which the small std of
    // the price and mid-return features magnifies: those are why the npy export is for tests, the shards for training
    let exactish = 0
    let prices = 0
    for (let i = 0; i < a.windows.length; i++) {
      const j = i % WIDTH
      const d = Math.abs(a.windows[i] - b.windows[i])
      if ((j >= LEVELS && j < 2 * LEVELS) || (j >= 3 * LEVELS && j <= 4 * LEVELS)) exactish = Math.max(exactish, d)
      else prices = Math.max(prices, d)
    }
    expect(exactish).toBeLessThan(1e-4)
    expect(prices).toBeLessThan(0.5)
  })

  it('counts rows, is ready only when full, and starts afresh after reset', () => {
    const w = new LobWindow(spec)
    expect(w.ready).toBe(false)
    expect(() => w.features()).toThrow(/holds 0 of 16 rows/)
    for (let i = 0; i < 15; i++) w.push(run.snapshots[i])
    expect([w.size, w.ready]).toEqual([15, false])
    w.push(run.snapshots[15])
    expect([w.size, w.ready]).toEqual([16, true])
    expect(w.features()).toEqual(windowsFromSnapshots(run.snapshots.slice(0, 16), spec).windows)
    expect(w.push({ bids: [], asks: run.snapshots[0].asks })).toBe(false)
    expect(w.size).toBe(16)
    w.reset()
    expect([w.size, w.ready]).toEqual([0, false])
  })
})

describe('the feature transform', () => {
  const lv = (pairs: [number, number][]): BookLevel[] => pairs.map(([price, amount]) => ({ price, amount }))

  it('names 4N + 2 features in raw column order', () => {
    expect(featureNames(2)).toEqual([
      'bid_px_rel_bps_0', 'bid_px_rel_bps_1', 'bid_sz_log_0', 'bid_sz_log_1',
      'ask_px_rel_bps_0', 'ask_px_rel_bps_1', 'ask_sz_log_0', 'ask_sz_log_1', 'spread_bps', 'mid_ret_bps',
    ])
    expect(rawColumns(1)).toEqual(['bid_px_0', 'bid_sz_0', 'ask_px_0', 'ask_sz_0', 'mid', 'spread'])
  })

  it('computes log-returns to mid, log sizes, spread and mid return in bps, filling missing levels', () => {
    // Two real top-of-book states from the fixture, the second with its book cut to one bid level
    const fx = readNpy(join(DATA, 'features.npy'))
    const row = (r: number) => Array.from((fx.data as Float32Array).subarray(r * WIDTH, (r + 1) * WIDTH))
    const a = row(0)
    const b = row(1)
    const snapA = { bids: lv([[a[0], a[10]], [a[1], a[11]]]), asks: lv([[a[20], a[30]], [a[21], a[31]]]) }
    const snapB = { bids: lv([[b[0], b[10]]]), asks: lv([[b[20], b[30]], [b[21], b[31]]]) }
    const w = windowsFromSnapshots([snapA, snapB], { levels: 2, window: 2, normalization: { mean: new Array(10).fill(0), std: new Array(10).fill(1) } })
    const f = Array.from(w.windows)
    const midA = (a[0] + a[20]) / 2
    const midB = (b[0] + b[20]) / 2
    const expected = [
      Math.log(a[0] / midA) * 1e4, Math.log(a[1] / midA) * 1e4, Math.log1p(a[10]), Math.log1p(a[11]),
      Math.log(a[20] / midA) * 1e4, Math.log(a[21] / midA) * 1e4, Math.log1p(a[30]), Math.log1p(a[31]),
      ((a[20] - a[0]) / midA) * 1e4, 0,
      // Bid level 1 is missing: its price feature repeats level 0, its size feature is 0
      Math.log(b[0] / midB) * 1e4, Math.log(b[0] / midB) * 1e4, Math.log1p(b[10]), 0,
      Math.log(b[20] / midB) * 1e4, Math.log(b[21] / midB) * 1e4, Math.log1p(b[30]), Math.log1p(b[31]),
      ((b[20] - b[0]) / midB) * 1e4, Math.log(midB / midA) * 1e4,
    ]
    expect(f.map((v, i) => Math.abs(v - expected[i])).every((d) => d < 1e-5)).toBe(true)
  })

  it('refuses a row without a positive mid, naming the row', () => {
    const raw = new Float64Array(2 * rowWidth(1)).fill(1)
    raw[rowWidth(1) + 4] = NaN
    expect(() => transformRows(raw, 2, 1)).toThrow(/Book row 1: Bad book row: mid is NaN/)
    expect(() => transformRow([1, 1, 2, 1, 0, 1], 0, 1, undefined, new Float64Array(6), 0)).toThrow(/mid is 0/)
    expect(() => windowsFromSnapshots([{ bids: [], asks: [] }], { levels: 1, window: 1, normalization: { mean: [0, 0, 0, 0, 0, 0], std: [1, 1, 1, 1, 1, 1] } })).toThrow(/empty side/)
  })

  it('leaves out rows with an empty side as the trainer does: no window holds one, the next mid return skips it', () => {
    const fx = readNpy(join(DATA, 'features.npy'))
    const all = fx.data as Float32Array
    const rowsN = 40
    const spec2 = { levels: LEVELS, window: 4, normalization: { mean: new Array(WIDTH).fill(0), std: new Array(WIDTH).fill(1) } }
    const raw = Float64Array.from(all.subarray(0, rowsN * WIDTH))
    // Row 10 lost its bids: mid and spread are NULL in the shards, NaN here
    const bad = 10
    raw[bad * WIDTH + 4 * LEVELS] = NaN
    raw[bad * WIDTH + 4 * LEVELS + 1] = NaN
    const w = windowsFromRaw(raw, rowsN, spec2)
    const ends = Array.from(w.ends)
    expect(ends.filter((e) => e >= bad && e < bad + 4)).toEqual([])
    expect(ends).toHaveLength(rowsN - 3 - 4)
    // The same as building from the rows without row 10 (the trainer's raw[keep])
    const kept = new Float64Array((rowsN - 1) * WIDTH)
    kept.set(raw.subarray(0, bad * WIDTH))
    kept.set(raw.subarray((bad + 1) * WIDTH), bad * WIDTH)
    const k = windowsFromRaw(kept, rowsN - 1, spec2)
    const size = 4 * WIDTH
    ends.forEach((e, i) => {
      const j = Array.from(k.ends).indexOf(e > bad ? e - 1 : e)
      expect(w.windows.slice(i * size, (i + 1) * size), `window ending at ${e}`).toEqual(k.windows.slice(j * size, (j + 1) * size))
    })
    expect(() => windowsFromRaw(raw, rowsN, spec2, [12])).toThrow(/Window ending at row 12 holds row 10, which has no positive mid/)
    expect(() => windowsFromRaw(raw, rowsN, spec2, [10])).toThrow(/Window ending at row 10 holds row 10/)
    expect(windowsFromRaw(raw, rowsN, spec2, [9, 14]).count).toBe(2)
  })

  it('softmax rows sum to 1 and keep the order of the logits', () => {
    const p = softmax(new Float32Array([0, 0, 0, 1000, 0, -1000, -1, 2, 0.5]))
    expect(Array.from(p.slice(0, 3)).map((v) => v.toFixed(4))).toEqual(['0.3333', '0.3333', '0.3333'])
    expect(Array.from(p.slice(3, 6))).toEqual([1, 0, 0])
    expect(p[7]).toBeGreaterThan(p[8])
    expect(p[8]).toBeGreaterThan(p[6])
  })
})

describe('npy codec', () => {
  it('round-trips float32, float64, int64 and int32 and reads the fixture written by the script', () => {
    const f32 = new Float32Array([1.5, NaN, -3])
    expect(parseNpy(encodeNpy(f32, [3]))).toEqual({ dtype: '<f4', shape: [3], data: f32 })
    const f64 = new Float64Array([1, 2, 3, 4, 5, 6])
    expect(parseNpy(encodeNpy(f64, [2, 3]))).toEqual({ dtype: '<f8', shape: [2, 3], data: f64 })
    const i64 = new BigInt64Array([1723161255500000n, -1n])
    expect(parseNpy(encodeNpy(i64, [2])).data).toEqual(i64)
    expect(parseNpy(encodeNpy(new Int32Array([7]), [1, 1])).shape).toEqual([1, 1])
    // numpy aligns data to 64 bytes
    expect(encodeNpy(f32, [3]).length % 64).toBe(3 * 4)
    const ts = readNpy(join(DATA, 'ts.npy'))
    expect(ts.dtype).toBe('<i8')
    expect(Number((ts.data as BigInt64Array)[1] - (ts.data as BigInt64Array)[0])).toBe(INTERVAL_US)
  })

  it('rejects what it cannot read, naming the file', () => {
    const dir = tempDir()
    expect(() => parseNpy(Buffer.from('not numpy at all'), join(dir, 'x.npy'))).toThrow(/x\.npy: not a \.npy file/)
    const u8 = Buffer.from(encodeNpy(new Float32Array([1]), [1]).toString('latin1').replace("'<f4'", "'|u1'"), 'latin1')
    expect(() => parseNpy(u8, 'u8.npy')).toThrow(/unsupported dtype '\|u1'/)
    const cut = encodeNpy(new Float64Array(4), [4]).subarray(0, 80)
    expect(() => parseNpy(cut, 'cut.npy')).toThrow(/truncated/)
  })
})

describe('model card', () => {
  const card = () => ({
    format: 'mercury-lob-model', version: 1, transform: 'mercury-lob-v1', levels: 1, window: 4,
    raw_columns: rawColumns(1), features: featureNames(1),
    normalization: { mean: [0, 0, 0, 0, 0, 0], std: [1, 1, 1, 1, 1, 1] },
    labels: { 0: 'down', 1: 'flat', 2: 'up' },
    input: { name: 'features', shape: ['batch', 4, 6], dtype: 'float32' },
    output: { name: 'logits', shape: ['batch', 3], dtype: 'float32' },
    onnx: { file: 'model.onnx', opset: 17, scan: 'parallel', sha256: '' },
  })

  it('loadModel names the folder that lacks model.json', async () => {
    const dir = tempDir()
    await expect(loadModel(dir)).rejects.toThrow(`Invalid model dir '${dir}': no model.json`)
  })

  it('accepts the contract and names what breaks it', () => {
    expect(parseModelCard(card()).window).toBe(4)
    expect(() => parseModelCard({ ...card(), transform: 'other' }, 'm.json')).toThrow(/m\.json: transform is "other", expected "mercury-lob-v1"/)
    expect(() => parseModelCard({ ...card(), normalization: { mean: [0], std: [1] } })).toThrow(/normalization.mean must be 6 finite numbers/)
    expect(() => parseModelCard({ ...card(), input: { name: 'x', shape: ['batch', 5, 6] } })).toThrow(/input must be a named tensor of shape \["batch", 4, 6\]/)
    expect(() => parseModelCard({ ...card(), labels: { 0: 'up', 1: 'flat', 2: 'down' } })).toThrow(/labels must be/)
    expect(() => parseModelCard({ ...card(), normalization: { mean: [0, 0, 0, 0, 0, 0], std: [1, 1, 0, 1, 1, 1] } })).toThrow(/std must be positive/)
  })
})
