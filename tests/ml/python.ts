// The Python that runs kaggle/train_mamba.py in the tests: MERCURY_PYTHON, else the first of python3 and
// /usr/bin/python3 that imports torch, onnx and numpy (a pyenv python3 on PATH often lacks Debian's python3-torch)

import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { ROOT } from '../helpers.js'

export const TRAINER = join(ROOT, 'kaggle', 'train_mamba.py')

let found: string | null | undefined

function imports(python: string): boolean {
  const r = spawnSync(python, ['-c', 'import torch, onnx, numpy'], { encoding: 'utf8', timeout: 60_000 })
  return r.status === 0
}

/**
 * A python3 with torch, onnx and numpy. In CI a missing one throws (the tests fail, never skip); elsewhere it
 * says why and the tests skip.
 */
export function torchPython(): string | undefined {
  if (found === undefined) {
    const candidates = process.env.MERCURY_PYTHON ? [process.env.MERCURY_PYTHON] : ['python3', '/usr/bin/python3']
    found = candidates.find(imports) ?? null
    if (found === null) {
      const how =
        'The kaggle/ trainer tests need torch, onnx and numpy. Run them through `npm test` (scripts/test.sh apt-installs ' +
        'python3-torch python3-onnx python3-numpy on Debian as root), or set MERCURY_PYTHON to a python that has them.'
      const why = `none of ${candidates.join(', ')} imports torch, onnx and numpy`
      if (process.env.CI) throw new Error(`${why} (CI). ${how}`)
      console.warn(`skipping the kaggle/ trainer tests: ${why}. ${how}`)
    }
  }
  return found ?? undefined
}

export interface PyResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the trainer with `args`; W&B stays off whatever the caller's environment holds. */
export function trainer(python: string, args: string[], timeoutMs = 120_000): PyResult {
  // One OpenMP thread: the models are tiny, and spinning threads on a shared 2-core machine cost more than they give
  const env: Record<string, string | undefined> = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1' }
  delete env.WANDB_API_KEY
  delete env.KAGGLE_KERNEL_RUN_TYPE
  const r = spawnSync(python, [TRAINER, ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: timeoutMs })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}
