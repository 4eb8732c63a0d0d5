// Order-book datasets: convert-lob's library (see docs/DATASETS.md)

export { convertLob, mercuryVersion, DEFAULT_EVERY_US, DEFAULT_LEVELS, DEFAULT_MAX_GAP_US, DEFAULT_SHARD_ROWS } from './convert.js'
export type { ConvertLobOptions, ConvertLobResult, ConvertProgress } from './convert.js'
export { inspectInput, INPUT_KINDS, type InputInfo, type InputKind } from './detect.js'
export { lobLayout, MAX_LEVELS, type LobColumn, type LobLayout } from './layout.js'
export { readManifest, shardName, MANIFEST_FILE, type Manifest, type ShardInfo, type SourceInfo, type DatasetOptions } from './manifest.js'
export { npyHeader, readNpy, type NpyArray } from './npy.js'
export { COMPRESSIONS, type Compression } from './parquet.js'
export { BookSampler, replayRecordings, type RowSink } from './replay.js'
export { reportIssues, type GapInfo, type ValidationReport } from './report.js'
export { SnapshotLineParser, LINE_BAD, LINE_OK, LINE_SKIP, epochToUs } from './snapshot-line.js'
