// The local upload state `<dir>/.kaggle-upload.json`: for each file, the resumable session (createUrl and blob
// token) it is being uploaded into and whether it completed. A run that dies keeps it, so the next run resumes
// the same sessions instead of sending everything again; a successful CreateDataset/CreateDatasetVersion
// removes it. It is written atomically and private (0600): a session URL lets anyone holding it write the blob.

import { existsSync, readFileSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { logger } from '../log.js'
import { fsyncDir, writeFileAtomic } from '../util/fs.js'

const log = logger('mercury:kaggle')

export const STATE_FILE = '.kaggle-upload.json'
const FORMAT = 'mercury-kaggle-upload'

export interface FileUploadState {
  /** Size and mtime when the session was started: a file that changed since starts over */
  readonly size: number
  readonly mtimeMs: number
  readonly token: string
  readonly createUrl: string
  /** The upload server answered 200/201 for the last byte */
  readonly done: boolean
}

export interface UploadState {
  readonly format: typeof FORMAT
  readonly version: 1
  /** `owner/slug` the sessions were started for */
  readonly dataset: string
  readonly files: Record<string, FileUploadState>
}

export function statePath(dir: string): string {
  return join(dir, STATE_FILE)
}

export function emptyState(dataset: string): UploadState {
  return { format: FORMAT, version: 1, dataset, files: {} }
}

/** Reads the state of `dir` for `dataset`; an absent, unreadable or other-dataset state reads as empty. */
export function readState(dir: string, dataset: string): UploadState {
  const p = statePath(dir)
  if (!existsSync(p)) return emptyState(dataset)
  try {
    const s = JSON.parse(readFileSync(p, 'utf8')) as Partial<UploadState>
    if (s.format !== FORMAT || s.version !== 1 || typeof s.files !== 'object' || s.files === null) {
      log.warn(`${p} is not a state file this version understands; starting the uploads afresh`)
      return emptyState(dataset)
    }
    if (s.dataset !== dataset) {
      log.warn(`${p} belongs to ${s.dataset}, not ${dataset}; starting the uploads afresh`)
      return emptyState(dataset)
    }
    const files: Record<string, FileUploadState> = {}
    for (const [name, f] of Object.entries(s.files)) {
      if (f && typeof f.token === 'string' && typeof f.createUrl === 'string' && typeof f.size === 'number' && typeof f.mtimeMs === 'number') {
        files[name] = { size: f.size, mtimeMs: f.mtimeMs, token: f.token, createUrl: f.createUrl, done: f.done === true }
      }
    }
    return { format: FORMAT, version: 1, dataset, files }
  } catch {
    log.warn(`${p} is not valid JSON; starting the uploads afresh`)
    return emptyState(dataset)
  }
}

/** Writes the state atomically (temp file, fsync, rename) with mode 0600: the upload URLs let anyone write. */
export function writeState(dir: string, state: UploadState): void {
  writeFileAtomic(statePath(dir), JSON.stringify(state, null, 2) + '\n', 0o600)
}

/** Removes the state once the dataset (version) was created. */
export function removeState(dir: string): void {
  try {
    unlinkSync(statePath(dir))
    fsyncDir(dir)
  } catch {
    // Already gone
  }
}
