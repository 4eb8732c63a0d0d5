// DuckDB instances for mercury: in-memory, reading and writing Parquet only, so no database file lock exists
// and any number of reader processes can run beside one writer

import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'

export interface Duck {
  readonly instance: DuckDBInstance
  readonly conn: DuckDBConnection
  close(): void
}

/** Opens an in-memory DuckDB; `spillDir` lets large imports spill to disk instead of failing. */
export async function openDuck(opts: { spillDir?: string; threads?: number } = {}): Promise<Duck> {
  const { DuckDBInstance } = await import('@duckdb/node-api')
  const config: Record<string, string> = {
    threads: String(opts.threads ?? Number(process.env.MERCURY_THREADS ?? 0) ?? 0),
    memory_limit: process.env.MERCURY_DUCKDB_MEMORY ?? '4GB',
    // The lake is plain Parquet: no extension downloads, ever (the machine may be offline)
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  }
  if (config.threads === '0') delete config.threads
  if (opts.spillDir) {
    mkdirSync(opts.spillDir, { recursive: true })
    config.temp_directory = opts.spillDir
  }
  const instance = await DuckDBInstance.create(':memory:', config)
  const conn = await instance.connect()
  return {
    instance,
    conn,
    close() {
      conn.closeSync()
      instance.closeSync()
    },
  }
}

/** Directory under the lake for temp files, on the same filesystem so renames are atomic. */
export function tmpRoot(lakeDir: string): string {
  return join(lakeDir, '.tmp')
}
