// Scores order-book windows with a model trained by kaggle/train_mamba.py: `model.onnx` run by onnxruntime-node
// (imported on first use, so the rest of mercury never loads the native runtime), `model.json` as the contract

import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { InferenceSession } from 'onnxruntime-node'
import { DataError, FatalError, UsageError } from '../errors.js'
import { logger } from '../log.js'
import { parseModelCard, type ModelCard } from './card.js'
import { rowWidth } from './features.js'

const log = logger('mercury:ml')

export const CLASSES = 3

/** A loaded model: the card and an ONNX Runtime session. */
export interface LobModel {
  readonly dir: string
  readonly card: ModelCard
  /** Values per window: `window * features` */
  readonly windowSize: number
  /** Logits `[batch, 3]` (down, flat, up) for `batch` normalised windows laid end to end. */
  predict(windows: Float32Array, batch: number): Promise<Float32Array>
  /** Class probabilities `[batch, 3]`: `softmax(predict(...))`. */
  probabilities(windows: Float32Array, batch: number): Promise<Float32Array>
  /** Releases the native session. */
  close(): Promise<void>
}

export interface LoadModelOptions {
  /** Threads for one inference (default: ONNX Runtime's choice) */
  readonly threads?: number
}

/** Softmax over each row of `classes` logits, computed in float64. */
export function softmax(logits: Float32Array, classes = CLASSES): Float32Array {
  const out = new Float32Array(logits.length)
  for (let r = 0; r < logits.length; r += classes) {
    let max = -Infinity
    for (let j = 0; j < classes; j++) max = Math.max(max, logits[r + j])
    let sum = 0
    for (let j = 0; j < classes; j++) sum += Math.exp(logits[r + j] - max)
    for (let j = 0; j < classes; j++) out[r + j] = Math.exp(logits[r + j] - max) / sum
  }
  return out
}

/** Reads and validates `<dir>/model.json`. */
export function readModelCard(dir: string): ModelCard {
  const file = join(dir, 'model.json')
  if (!existsSync(file)) throw new UsageError(`Invalid model dir '${dir}': no model.json. Expected the output folder of kaggle/train_mamba.py`)
  let json: unknown
  try {
    json = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new DataError(`${file}: not JSON (${(err as Error).message})`, file)
  }
  return parseModelCard(json, file)
}

/** Loads `model.onnx` and `model.json` from a training output folder. */
export async function loadModel(dir: string, opts: LoadModelOptions = {}): Promise<LobModel> {
  const card = readModelCard(dir)
  const onnxFile = join(dir, card.onnx.file)
  if (!existsSync(onnxFile)) throw new UsageError(`Invalid model dir '${dir}': no ${card.onnx.file}. Expected it next to model.json`)
  let ort: typeof import('onnxruntime-node')
  try {
    ort = await import('onnxruntime-node')
  } catch (err) {
    throw new FatalError(`onnxruntime-node could not be loaded (${(err as Error).message}). Reinstall it with npm ci`, { cause: err })
  }
  const options: InferenceSession.SessionOptions = { graphOptimizationLevel: 'all' }
  if (opts.threads !== undefined) options.intraOpNumThreads = opts.threads
  const session = await ort.InferenceSession.create(onnxFile, options)
  const inputName = card.input.name
  const outputName = card.output.name
  if (!session.inputNames.includes(inputName) || !session.outputNames.includes(outputName)) {
    await session.release()
    throw new DataError(
      `${onnxFile}: the graph's inputs (${session.inputNames.join(', ')}) and outputs (${session.outputNames.join(', ')}) do not include the card's ` +
        `'${inputName}' and '${outputName}'`,
      onnxFile,
    )
  }
  const width = rowWidth(card.levels)
  const windowSize = card.window * width
  log.debug(`loaded ${onnxFile}: window ${card.window}, ${width} features, horizon ${card.horizon}`)

  const predict = async (windows: Float32Array, batch: number): Promise<Float32Array> => {
    if (!Number.isSafeInteger(batch) || batch <= 0) throw new UsageError(`Invalid batch: ${batch}. Expected a positive integer`)
    if (windows.length !== batch * windowSize) {
      throw new UsageError(`Windows hold ${windows.length} values, expected ${batch} x ${card.window} x ${width} = ${batch * windowSize}`)
    }
    const input = new ort.Tensor('float32', windows, [batch, card.window, width])
    const result = await session.run({ [inputName]: input })
    const out = result[outputName]
    if (out.type !== 'float32' || out.data.length !== batch * CLASSES) {
      throw new FatalError(`${onnxFile}: output '${outputName}' is ${out.type} [${out.dims.join(', ')}], expected float32 [${batch}, ${CLASSES}]`)
    }
    return out.data as Float32Array
  }
  return {
    dir,
    card,
    windowSize,
    predict,
    probabilities: async (windows, batch) => softmax(await predict(windows, batch)),
    close: () => session.release(),
  }
}
