import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FatalError, UsageError } from '../../src/lib/errors.js'
import { cleanNotebook, planKernelPush, pushKernel, slugify, waitForKernel } from '../../src/lib/kaggle/kernel.js'
import { ROOT } from '../helpers.js'
import { startKaggleServer, type KaggleServer } from '../servers/kaggle.js'
import { FAST, clientFor, kernelFolder } from './helpers.js'

describe('kernel-metadata.json and the SaveKernel request', () => {
  it('builds the SaveKernel body from the metadata, machine shape from the metadata', () => {
    const dir = kernelFolder()
    const plan = planKernelPush({ dir })
    expect(plan.request).toEqual({
      slug: 'alice/mercury-mamba-lob',
      newTitle: 'Mercury Mamba LOB',
      text: 'print("train")\n',
      language: 'python',
      kernelType: 'script',
      isPrivate: true,
      enableGpu: false,
      enableTpu: true,
      enableInternet: true,
      datasetDataSources: ['alice/btc-lob-l10'],
      competitionDataSources: [],
      kernelDataSources: [],
      modelDataSources: [],
      categoryIds: [],
      machineShape: 'TpuV6E8',
    })
    expect(plan).toMatchObject({ id: 'alice/mercury-mamba-lob', url: 'https://www.kaggle.com/code/alice/mercury-mamba-lob', machineShapeFrom: 'machine_shape' })
  })

  it('lets --accelerator override machine_shape and keeps enableTpu/enableGpu consistent with it', () => {
    const dir = kernelFolder()
    const tpu = planKernelPush({ dir, accelerator: 'TpuV5E8', sessionTimeoutSeconds: 3600 })
    expect(tpu.request).toMatchObject({ machineShape: 'TpuV5E8', enableTpu: true, enableGpu: false, sessionTimeoutSeconds: 3600 })
    expect(tpu.machineShapeFrom).toBe('--accelerator')
    const gpu = planKernelPush({ dir, accelerator: 'NvidiaTeslaT4' })
    expect(gpu.request).toMatchObject({ machineShape: 'NvidiaTeslaT4', enableTpu: false, enableGpu: true })
    expect(planKernelPush({ dir, accelerator: 'TpuV9Z' }).warnings[0]).toMatch(/not one of the ids documented/)
    const lower = planKernelPush({ dir, accelerator: 'tpuv5e8' })
    expect({ shape: lower.request.machineShape, tpu: lower.request.enableTpu, warnings: lower.warnings }).toEqual({ shape: 'TpuV5E8', tpu: true, warnings: [] })
    expect(() => planKernelPush({ dir, accelerator: 'Tpu V5' })).toThrow("Invalid --accelerator: 'Tpu V5'")
  })

  it('refuses a short title, a slug that is not the slugified title, a missing code file, a bad language or type', () => {
    const problems = (meta: Record<string, unknown>) => {
      try {
        planKernelPush({ dir: kernelFolder(meta) })
        return ''
      } catch (err) {
        expect(err).toBeInstanceOf(UsageError)
        return (err as Error).message
      }
    }
    expect(problems({})).toBe('')
    expect(problems({ title: 'Mamb' })).toMatch(/title is 'Mamb', expected at least 5 characters/)
    expect(problems({ title: 'Something Else' })).toMatch(/slug 'mercury-mamba-lob' is not the title slugified \('something-else'\)/)
    expect(problems({ code_file: 'nope.py' })).toMatch(/code_file 'nope.py' does not exist/)
    expect(problems({ language: 'julia' })).toMatch(/language is "julia", expected one of python, r, rmarkdown/)
    expect(problems({ kernel_type: 'pipeline' })).toMatch(/kernel_type is "pipeline", expected script or notebook/)
    expect(problems({ id: undefined })).toMatch(/neither id \(USER\/SLUG\) nor id_no is set/)
    expect(problems({ dataset_sources: ['just-a-slug'] })).toMatch(/Invalid dataset_sources .*'just-a-slug'. Expected USER\/SLUG/)
    expect(problems({ enable_internet: 'yes' })).toMatch(/Invalid enable_internet .*"yes". Expected true or false/)
    expect(() => planKernelPush({ dir: join(kernelFolder(), 'missing') })).toThrow(/has no kernel-metadata.json/)
  })

  it("slugifies titles as Kaggle does and strips notebook outputs", () => {
    expect(slugify('Mercury Mamba LOB')).toBe('mercury-mamba-lob')
    expect(slugify("  Café's  TPU -- Run #2 ")).toBe('cafes-tpu-run-2')
    const nb = JSON.stringify({
      cells: [
        { cell_type: 'code', source: ['import jax\n', 'print(1)'], outputs: [{ output_type: 'stream', text: 'huge' }], execution_count: 3 },
        { cell_type: 'markdown', source: ['# Title'] },
      ],
      nbformat: 4,
    })
    const cleaned = JSON.parse(cleanNotebook(nb, 'x.ipynb'))
    expect(cleaned.cells[0]).toMatchObject({ source: 'import jax\nprint(1)', outputs: [] })
    expect(cleaned.cells[1].source).toBe('# Title')
  })

  it("validates the repo's kaggle/ kernel", () => {
    const plan = planKernelPush({ dir: join(ROOT, 'kaggle'), accelerator: 'TpuV5E8' })
    expect(plan.request).toMatchObject({ machineShape: 'TpuV5E8', enableTpu: true, language: 'python' })
  })
})

describe('pushing a kernel to a local Kaggle server', () => {
  let server: KaggleServer
  beforeEach(async () => {
    server = await startKaggleServer({ kernelStatuses: ['QUEUED', 'RUNNING', 'RUNNING', 'COMPLETE'] })
  })
  afterEach(async () => {
    await server.close()
  })

  it('sends the SaveKernel body, prints where it lives, and waits for COMPLETE', async () => {
    const dir = kernelFolder()
    writeFileSync(join(dir, 'train_mamba.py'), 'import jax\nprint(jax.devices())\n')
    const plan = planKernelPush({ dir, accelerator: 'TpuV5E8' })
    const client = clientFor(server)
    const r = await pushKernel(plan, client)
    expect(server.rpc.map((e) => e.method)).toEqual(['IntrospectToken', 'SaveKernel'])
    expect(server.kernels[0].request).toEqual({ ...plan.request, text: 'import jax\nprint(jax.devices())\n' })
    expect(r).toMatchObject({
      ref: '/code/alice/mercury-mamba-lob', url: 'https://www.kaggle.com/code/alice/mercury-mamba-lob', versionNumber: 1,
      userName: 'alice', slug: 'mercury-mamba-lob', machineShape: 'TpuV5E8',
    })
    const seen: string[] = []
    const done = await waitForKernel(client, 'alice', 'mercury-mamba-lob', { backoff: FAST, onStatus: (s) => seen.push(s) })
    expect(done.status).toBe('COMPLETE')
    expect(seen).toEqual(['QUEUED', 'RUNNING', 'COMPLETE'])
    expect(server.calls('GetKernelSessionStatus')[0].body).toEqual({ userName: 'alice', kernelSlug: 'mercury-mamba-lob' })
    expect((await pushKernel(plan, client)).versionNumber).toBe(2)
  })

  it('reports a failed run with its message', async () => {
    await server.close()
    server = await startKaggleServer({ kernelStatuses: ['RUNNING', 'ERROR'] })
    const err = await waitForKernel(clientFor(server), 'alice', 'mercury-mamba-lob', { backoff: FAST }).then(() => new Error('resolved'), (e: unknown) => e as Error)
    expect(err).toBeInstanceOf(FatalError)
    expect(err.message).toBe('Kernel alice/mercury-mamba-lob failed: Your notebook tried to allocate more memory than is available.')
  })
})
