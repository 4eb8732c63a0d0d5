import { join } from 'node:path'
import type { DatasetId, Granularity } from './schema.js'
import { datasetPath } from './schema.js'

export function datasetDir(lakeDir: string, ds: DatasetId): string {
  return join(lakeDir, datasetPath(ds))
}

/** Folder of one partition inside its dataset, e.g. `month=2024-01`. */
export function partitionDirName(g: Granularity, value: string): string {
  return `${g}=${value}`
}
