// Scoring order-book models trained by kaggle/train_mamba.py: the shared feature transform, the model card, input
// windows (stored rows or a live book) and the ONNX Runtime session

export { FEATURE_TRANSFORM, featureNames, normalizeInto, rawColumns, rawRowFromBook, rawRowFromLevels, rowWidth, transformRow, transformRows } from './features.js'
export type { LobLevels, Normalization } from './features.js'
export { LABELS, MODEL_CARD_FORMAT, parseModelCard, type Label, type ModelCard, type SplitInfo, type TensorSpec } from './card.js'
export { LobWindow, windowsFromRaw, windowsFromSnapshots, type WindowSpec, type Windows } from './window.js'
export { CLASSES, loadModel, readModelCard, softmax, type LoadModelOptions, type LobModel } from './model.js'
export { encodeNpy, parseNpy, readNpy, writeNpy, NPY_DTYPES, type NpyArray, type NpyData, type NpyDtype } from './npy.js'
