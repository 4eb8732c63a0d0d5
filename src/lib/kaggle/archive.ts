// Sub-folders of a dataset folder go up as one zip each, as the official client's `--dir-mode zip` does
// (kaggle-api `upload_files`: shutil.make_archive(folder, 'zip', folder), so entries are relative to the folder and
// Kaggle unpacks the archive into a folder of its name). convert-lob's `npy/` is such a folder.
//
// The archive is built with yazl and is deterministic: entries in name order, each with its file's mtime, so the
// same folder always gives the same bytes. That is what lets an interrupted upload resume the same blob session
// on the next run (the state file matches a file by size and mtime).

import { createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { STATE_FILE } from './state.js'

export const DIR_MODES = ['zip', 'skip'] as const
export type DirMode = (typeof DIR_MODES)[number]

/** Hidden folder inside the dataset folder where archives are built (never uploaded itself) */
export const ARCHIVE_CACHE = `${STATE_FILE}.archives`

export interface FolderEntry {
  /** Path inside the archive, `/`-separated */
  readonly name: string
  readonly path: string
  readonly bytes: number
  readonly mtimeMs: number
}

/** Every regular file under `dir` (hidden ones left out), in name order. */
export function folderEntries(dir: string): FolderEntry[] {
  const out: FolderEntry[] = []
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith('.')) continue
      const p = join(d, name)
      const st = statSync(p)
      if (st.isDirectory()) walk(p)
      else if (st.isFile()) out.push({ name: relative(dir, p).split(sep).join('/'), path: p, bytes: st.size, mtimeMs: st.mtimeMs })
    }
  }
  walk(dir)
  return out
}

/**
 * Writes `<cacheDir>/<name>.zip` of `entries` (deflated; zip64 where sizes need it), atomically; returns its path,
 * size and mtime (the newest entry's, set on the file).
 */
export async function buildFolderArchive(cacheDir: string, name: string, entries: readonly FolderEntry[]): Promise<{ path: string; bytes: number; mtimeMs: number }> {
  const { default: yazl } = await import('yazl')
  mkdirSync(cacheDir, { recursive: true })
  const path = join(cacheDir, `${name}.zip`)
  const mtimeMs = Math.floor(Math.max(0, ...entries.map((e) => e.mtimeMs)))
  const tmp = `${path}.${process.pid}.tmp`
  const zip = new yazl.ZipFile()
  for (const e of entries) zip.addFile(e.path, e.name, { mtime: new Date(e.mtimeMs), mode: 0o100644, compress: true })
  zip.end()
  try {
    await pipeline(zip.outputStream, createWriteStream(tmp))
    utimesSync(tmp, mtimeMs / 1000, mtimeMs / 1000)
    renameSync(tmp, path)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw err
  }
  return { path, bytes: statSync(path).size, mtimeMs }
}

/** Removes the archives built for an upload. */
export function removeArchives(dir: string): void {
  const cache = join(dir, ARCHIVE_CACHE)
  if (existsSync(cache)) rmSync(cache, { recursive: true, force: true })
}
