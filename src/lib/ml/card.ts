// The model card (`model.json`) that kaggle/train_mamba.py writes next to `model.onnx`: the fixed input contract a
// scorer must honour (feature order, window, normalisation, label mapping) plus where the model came from

import { DataError } from '../errors.js'
import { FEATURE_TRANSFORM, featureNames, rowWidth, type Normalization } from './features.js'

export const MODEL_CARD_FORMAT = 'mercury-lob-model'
export const LABELS = ['down', 'flat', 'up'] as const
export type Label = (typeof LABELS)[number]

export interface TensorSpec {
  readonly name: string
  /** `"batch"` for the free first dimension */
  readonly shape: readonly (number | string)[]
  readonly dtype: 'float32'
}

export interface SplitInfo {
  readonly windows: number
  readonly first_us: number
  readonly last_us: number
}

/** `model.json`, as written by the trainer. Fields the scorer relies on are checked by `parseModelCard`. */
export interface ModelCard {
  readonly format: typeof MODEL_CARD_FORMAT
  readonly version: 1
  readonly created: string
  /** Name of the feature transform (`mercury-lob-v1`) */
  readonly transform: string
  /** Book levels per side in the raw rows */
  readonly levels: number
  /** Rows per model input window */
  readonly window: number
  /** Raw input columns (convert-lob wide layout) and feature names, in order */
  readonly raw_columns: readonly string[]
  readonly features: readonly string[]
  readonly normalization: Normalization
  /** Class index to label: {"0": "down", "1": "flat", "2": "up"} */
  readonly labels: Readonly<Record<string, Label>>
  /** Label horizon in rows, and the mid move (bps) beyond which it is up or down */
  readonly horizon: number
  readonly threshold_bps: number
  /** Median spacing of the training rows, µs: push rows to a `LobWindow` at this interval */
  readonly sample_interval_us: number | null
  readonly input: TensorSpec
  readonly output: TensorSpec
  readonly model: Readonly<Record<string, unknown>>
  readonly onnx: { readonly file: string; readonly opset: number; readonly scan: 'parallel' | 'sequential'; readonly sha256: string }
  readonly data: Readonly<Record<string, unknown>> & {
    readonly manifest_sha256: string
    readonly time_range: { readonly first_us: number; readonly last_us: number }
    readonly splits: Readonly<Record<'train' | 'val' | 'test', SplitInfo>>
  }
  readonly metrics: Readonly<Record<string, number | null>>
  /** Windows and PyTorch logits saved for parity checks (file names next to the card) */
  readonly reference?: { readonly input: string; readonly logits: string; readonly ends: string } | undefined
}

function fail(file: string, reason: string): never {
  throw new DataError(`${file}: ${reason}`, file, [{ file, line: 1, reason }])
}

const posInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0

/** Validates a parsed `model.json` against the contract this version of mercury scores. */
export function parseModelCard(json: unknown, file = 'model.json'): ModelCard {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(file, 'not a JSON object')
  const c = json as Partial<ModelCard>
  if (c.format !== MODEL_CARD_FORMAT) fail(file, `format is ${JSON.stringify(c.format)}, expected "${MODEL_CARD_FORMAT}"`)
  if (c.version !== 1) fail(file, `version is ${JSON.stringify(c.version)}, expected 1`)
  if (c.transform !== FEATURE_TRANSFORM) fail(file, `transform is ${JSON.stringify(c.transform)}, expected "${FEATURE_TRANSFORM}"`)
  if (!posInt(c.levels)) fail(file, `levels is ${JSON.stringify(c.levels)}, expected a positive integer`)
  if (!posInt(c.window)) fail(file, `window is ${JSON.stringify(c.window)}, expected a positive integer`)
  const names = featureNames(c.levels)
  if (JSON.stringify(c.features) !== JSON.stringify(names)) fail(file, `features do not match ${FEATURE_TRANSFORM} with ${c.levels} levels`)
  const w = rowWidth(c.levels)
  const norm = c.normalization
  for (const key of ['mean', 'std'] as const) {
    const v = norm?.[key]
    if (!Array.isArray(v) || v.length !== w || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
      fail(file, `normalization.${key} must be ${w} finite numbers`)
    }
  }
  if ((norm as Normalization).std.some((x) => x <= 0)) fail(file, 'normalization.std must be positive')
  if (JSON.stringify(c.labels) !== JSON.stringify({ 0: 'down', 1: 'flat', 2: 'up' })) fail(file, 'labels must be {"0": "down", "1": "flat", "2": "up"}')
  const input = c.input
  if (!input || typeof input.name !== 'string' || JSON.stringify(input.shape) !== JSON.stringify(['batch', c.window, w])) {
    fail(file, `input must be a named tensor of shape ["batch", ${c.window}, ${w}]`)
  }
  const output = c.output
  if (!output || typeof output.name !== 'string' || JSON.stringify(output.shape) !== JSON.stringify(['batch', 3])) {
    fail(file, 'output must be a named tensor of shape ["batch", 3]')
  }
  if (!c.onnx || typeof c.onnx.file !== 'string') fail(file, 'onnx.file is missing')
  return c as ModelCard
}
