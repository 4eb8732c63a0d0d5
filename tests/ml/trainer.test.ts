// kaggle/train_mamba.py end to end on CPU: the scans agree, 30 steps on the real BTCUSDT book lower the loss, and the
// exported ONNX model, scored by src/lib/ml through onnxruntime-node on windows mercury builds itself, reproduces
// PyTorch's logits; the Python and TypeScript feature transforms agree on the same rows

import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { loadModel, readModelCard, readNpy, rowWidth, transformRows, windowsFromRaw, writeNpy, type LobModel, type ModelCard } from '../../src/lib/ml/index.js'
import { cli, FIXTURES, tempDir } from '../helpers.js'
import { torchPython, trainer } from './python.js'

const DATA = join(FIXTURES, 'ml', 'btcusdt-spot-20240808')
const PYTHON = torchPython()

/** Small enough for 2 shared CPU cores: one torch thread (spinning OpenMP threads on a busy machine cost 3x) */
const TRAIN_ARGS = [
  '--window', '32', '--horizon', '10', '--threshold-bps', '0.5', '--d-model', '32', '--d-state', '8', '--layers', '2',
  '--steps', '30', '--batch', '32', '--lr', '3e-3', '--seed', '0', '--device', 'cpu', '--npy', '--eval-every', '15',
  '--eval-batch', '128', '--threads', '1',
]

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}

interface MetricRow {
  step: number
  train_loss: number
  val_loss: number | null
  val_acc: number | null
  lr: number
  seconds: number
}

describe.runIf(PYTHON)('kaggle/train_mamba.py (python3-torch, CPU)', () => {
  const python = PYTHON as string

  it('--self-test: the Hillis-Steele scan equals the sequential scan within 1e-5 and both export to ONNX', () => {
    const r = trainer(python, ['--self-test'])
    expect(r.code, r.stderr).toBe(0)
    const report = JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<string, number | boolean>
    expect(report.ok).toBe(true)
    expect(report.scan_max_abs_diff as number).toBeLessThan(1e-5)
    expect(report.model_max_abs_diff as number).toBeLessThan(1e-5)
    expect(report.onnx_parallel_bytes as number).toBeGreaterThan(0)
    expect(report.onnx_sequential_bytes as number).toBeGreaterThan(0)
  })

  it('the feature transform agrees with src/lib/ml to 1e-6, missing levels included', () => {
    // The real rows, with levels knocked out the way a shallow book or the lake's NaN padding shows them
    const dir = tempDir()
    mkdirSync(join(dir, 'npy'))
    const fx = readNpy(join(DATA, 'npy', 'features.npy'))
    const raw = Float32Array.from(fx.data as Float32Array)
    const levels = 10
    const w = rowWidth(levels)
    const rows = fx.shape[0]
    for (let r = 0; r < rows; r++) {
      const at = r * w
      if (r % 7 === 0) raw[at + 9] = raw[at + levels + 9] = NaN // deepest bid level missing
      if (r % 11 === 0) for (let k = 5; k < levels; k++) raw[at + 2 * levels + k] = raw[at + 3 * levels + k] = NaN
      if (r % 13 === 0) raw[at + 3 * levels + 3] = NaN // a size without a price change
      if (r % 17 === 0) raw[at + levels + 2] = 0
    }
    writeNpy(join(dir, 'npy', 'features.npy'), raw, fx.shape)
    copyFileSync(join(DATA, 'npy', 'ts.npy'), join(dir, 'npy', 'ts.npy'))
    copyFileSync(join(DATA, 'npy', 'columns.json'), join(dir, 'npy', 'columns.json'))
    const out = join(dir, 'features.npy')
    const r = trainer(python, ['--data', dir, '--npy', '--features-out', out])
    expect(r.code, r.stderr).toBe(0)
    const py = readNpy(out)
    expect(py.dtype).toBe('<f8')
    expect(py.shape).toEqual([rows, w])
    const ts = transformRows(raw, rows, levels)
    expect(maxAbsDiff(ts, py.data as Float64Array)).toBeLessThan(1e-6)
    // The knocked-out levels really took the missing-level path
    expect(ts[9]).toBe(ts[8])
    expect(ts[levels + 9]).toBe(0)
  })

  describe('30 steps on the replayed BTCUSDT book, then ONNX', () => {
    let out: string
    let card: ModelCard
    let metrics: MetricRow[]
    let model: LobModel
    let seconds: number

    beforeAll(async () => {
      // Not tempDir(): that one is removed after each test, and these tests share one training run
      out = mkdtempSync(join(tmpdir(), 'mercury-ml-'))
      const t0 = Date.now()
      const r = trainer(python, ['--data', DATA, '--out', out, ...TRAIN_ARGS])
      seconds = (Date.now() - t0) / 1000
      if (r.code !== 0) throw new Error(`train_mamba.py exited ${r.code}: ${r.stderr}`)
      card = readModelCard(out)
      metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as MetricRow)
      model = await loadModel(out, { threads: 1 })
      return async () => {
        await model.close()
        rmSync(out, { recursive: true, force: true })
      }
    }, 180_000)

    it('lowers the training loss (mean of the first 5 steps against the last 5)', () => {
      expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
      for (const m of metrics) expect(Object.keys(m).sort()).toEqual(['lr', 'seconds', 'step', 'train_loss', 'val_acc', 'val_loss'])
      const mean = (xs: MetricRow[]) => xs.reduce((s, m) => s + m.train_loss, 0) / xs.length
      const first = mean(metrics.slice(0, 5))
      const last = mean(metrics.slice(-5))
      expect(last).toBeLessThan(first)
      expect(card.metrics.train_loss_first5).toBeCloseTo(first, 6)
      expect(metrics.filter((m) => m.val_loss !== null).map((m) => m.step)).toEqual([15, 30])
      console.info(`train_mamba: 30 steps + export in ${seconds.toFixed(1)} s; loss ${first.toFixed(3)} -> ${last.toFixed(3)}`)
    })

    it('writes a card with the fixed input contract', () => {
      expect(card.window).toBe(32)
      expect(card.levels).toBe(10)
      expect(card.input).toEqual({ name: 'features', shape: ['batch', 32, 42], dtype: 'float32' })
      expect(card.output).toEqual({ name: 'logits', shape: ['batch', 3], dtype: 'float32' })
      expect(card.labels).toEqual({ 0: 'down', 1: 'flat', 2: 'up' })
      expect([card.horizon, card.threshold_bps, card.sample_interval_us]).toEqual([10, 0.5, 100_000])
      expect(card.onnx.opset).toBeLessThanOrEqual(17)
      expect(card.onnx.scan).toBe('parallel')
      expect(card.data.manifest_sha256).toMatch(/^[0-9a-f]{64}$/)
      expect(card.data.time_range).toMatchObject({ first_us: 1723161255500000, last_us: 1723161601100000 })
      for (const k of ['val_loss', 'val_acc', 'test_loss', 'test_acc']) expect(typeof card.metrics[k]).toBe('number')
    })

    it('splits by time with a gap of horizon + window rows, and normalises with train statistics only', () => {
      const { train, val, test } = card.data.splits
      const step = card.sample_interval_us as number
      const gapUs = (card.window + card.horizon) * step
      // A split's span runs from its first window's first row to its last label's row: no row is shared
      expect(val.first_us - train.last_us).toBeGreaterThan(0)
      expect(test.first_us - val.last_us).toBeGreaterThan(0)
      // Window ends are horizon + window rows apart across a boundary, so spans are at least one row apart
      expect(val.first_us - train.last_us).toBeGreaterThanOrEqual(step)
      expect(val.first_us + (card.window - 1) * step - (train.last_us - card.horizon * step)).toBeGreaterThanOrEqual(gapUs)
      // Recompute the statistics from the train rows in TypeScript
      const fx = readNpy(join(DATA, 'npy', 'features.npy'))
      const w = rowWidth(card.levels)
      const rows = (train.last_us - card.horizon * step - card.data.time_range.first_us) / step + 1
      const feats = transformRows(fx.data as Float32Array, rows, card.levels)
      for (const j of [0, 10, 20, 40, 41]) {
        let s = 0
        for (let r = 0; r < rows; r++) s += feats[r * w + j]
        expect(card.normalization.mean[j]).toBeCloseTo(s / rows, 9)
      }
    })

    it('mercury builds the same windows as PyTorch saw (1e-6) and onnxruntime-node reproduces its logits (1e-4)', async () => {
      const ref = card.reference as NonNullable<ModelCard['reference']>
      const refIn = readNpy(join(out, ref.input))
      const refLogits = readNpy(join(out, ref.logits))
      const ends = Array.from(readNpy(join(out, ref.ends)).data as BigInt64Array, Number)
      expect(refIn.shape).toEqual([ends.length, 32, 42])
      expect(ends.length).toBe(16)
      const fx = readNpy(join(DATA, 'npy', 'features.npy'))
      const built = windowsFromRaw(fx.data as Float32Array, fx.shape[0], card, ends)
      expect(maxAbsDiff(built.windows, refIn.data as Float32Array)).toBeLessThan(1e-6)
      const logits = await model.predict(built.windows, built.count)
      expect(maxAbsDiff(logits, refLogits.data as Float32Array)).toBeLessThan(1e-4)
      const direct = await model.predict(refIn.data as Float32Array, ends.length)
      expect(maxAbsDiff(direct, refLogits.data as Float32Array)).toBeLessThan(1e-4)
      const p = await model.probabilities(built.windows, built.count)
      for (let i = 0; i < built.count; i++) expect(p[3 * i] + p[3 * i + 1] + p[3 * i + 2]).toBeCloseTo(1, 6)
    })

    it('scores a batch of one and a batch of many with the same result per window', async () => {
      const fx = readNpy(join(DATA, 'npy', 'features.npy'))
      const ends = [31, 500, 1000, 3456]
      const built = windowsFromRaw(fx.data as Float32Array, fx.shape[0], card, ends)
      const all = await model.predict(built.windows, 4)
      for (let i = 0; i < 4; i++) {
        const one = await model.predict(built.windows.slice(i * model.windowSize, (i + 1) * model.windowSize), 1)
        expect(maxAbsDiff(one, all.slice(3 * i, 3 * i + 3))).toBeLessThan(1e-5)
      }
      await expect(model.predict(built.windows, 3)).rejects.toThrow(/expected 3 x 32 x 42/)
    })
  })

  it('trains on what convert-lob makes of the real recording: 30 steps lower the loss and the model exports', () => {
    const dir = tempDir()
    const lob = join(dir, 'lob')
    const conv = cli(['convert-lob', join(FIXTURES, 'recordings', 'hftbacktest', 'spot-btcusdt_20240808.gz'), '--out', lob,
      '--levels', '10', '--every', '100ms', '--npy', '--json'], dir)
    expect(conv.code, conv.stderr).toBe(0)
    const out = join(dir, 'model')
    const r = trainer(python, ['--data', lob, '--out', out, ...TRAIN_ARGS], 180_000)
    expect(r.code, r.stderr).toBe(0)
    const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as MetricRow)
    expect(steps).toHaveLength(30)
    const mean = (xs: MetricRow[]) => xs.reduce((a, m) => a + m.train_loss, 0) / xs.length
    expect(mean(steps.slice(-5))).toBeLessThan(mean(steps.slice(0, 5)))
    expect(existsSync(join(out, 'model.onnx'))).toBe(true)
    // The card names the dataset it was trained on: convert-lob's manifest
    expect(readModelCard(out).data.manifest_sha256).toMatch(/^[0-9a-f]{64}$/)
  }, 240_000)

  it('refuses data too short for its splits with exit 2 and the flags named', () => {
    const out = tempDir()
    const r = trainer(python, ['--data', DATA, '--out', out, '--npy', '--max-rows', '100', '--window', '64', '--steps', '1'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/split is empty: 100 rows are too few for --window 64 and --horizon 10/)
    expect(existsSync(join(out, 'model.onnx'))).toBe(false)
  })
})
