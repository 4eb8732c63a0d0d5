// Pushing a Kaggle kernel (notebook or script) from a folder holding kernel-metadata.json, as `kaggle kernels push`
// does (Kaggle/kaggle-api kaggle_api_extended.py kernels_push; docs/kernels_metadata.md): validate the metadata,
// build the SaveKernel request (machineShape from --accelerator, else the metadata's machine_shape), send it, and
// optionally poll GetKernelSessionStatus until the run completes or fails.

import { createHash } from 'node:crypto'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { FatalError, UsageError } from '../errors.js'
import { backoffMs, sleep, type BackoffOptions } from '../net/backoff.js'
import { KaggleApiError, SERVICES, type KaggleClient } from './client.js'
import { describeCredentials } from './credentials.js'
import { KAGGLE_WEB, verifyCredentials } from './dataset.js'

export const KERNEL_METADATA_FILE = 'kernel-metadata.json'

/** Accelerator ids documented in Feb 2026 (docs/kernels.md); others are passed on with a warning */
export const ACCELERATORS = [
  'NvidiaTeslaP100', 'NvidiaTeslaT4', 'NvidiaTeslaT4Highmem', 'NvidiaTeslaA100', 'NvidiaL4', 'NvidiaL4X1', 'NvidiaH100',
  'NvidiaRtxPro6000', 'TpuV38', 'Tpu1VmV38', 'TpuV5E8', 'TpuV6E8',
] as const

const LANGUAGES = ['python', 'r', 'rmarkdown'] as const
const KERNEL_TYPES = ['script', 'notebook'] as const

/** kernel-metadata.json as the Kaggle client reads it (snake_case; booleans may be strings). */
export interface KernelMetadataFile {
  readonly id?: string
  readonly id_no?: number | string
  readonly title?: string
  readonly code_file?: string
  readonly language?: string
  readonly kernel_type?: string
  readonly is_private?: boolean | string
  readonly enable_gpu?: boolean | string
  readonly enable_tpu?: boolean | string
  readonly enable_internet?: boolean | string
  readonly dataset_sources?: readonly string[]
  readonly competition_sources?: readonly string[]
  readonly kernel_sources?: readonly string[]
  readonly model_sources?: readonly string[]
  readonly keywords?: readonly string[]
  readonly docker_image_pinning_type?: string
  readonly docker_image?: string
  readonly machine_shape?: string
}

/** The SaveKernel request body (camelCase, as kagglesdk serializes ApiSaveKernelRequest). */
export interface SaveKernelRequest {
  readonly id?: number
  readonly slug?: string
  readonly newTitle: string
  readonly text: string
  readonly language: string
  readonly kernelType: string
  readonly isPrivate: boolean
  readonly enableGpu: boolean
  readonly enableTpu: boolean
  readonly enableInternet: boolean
  readonly datasetDataSources: readonly string[]
  readonly competitionDataSources: readonly string[]
  readonly kernelDataSources: readonly string[]
  readonly modelDataSources: readonly string[]
  readonly categoryIds: readonly string[]
  readonly dockerImagePinningType?: string
  readonly dockerImage?: string
  readonly machineShape?: string
  readonly sessionTimeoutSeconds?: number
}

/** Kaggle's slug of a title: lower case, accents dropped, apostrophes removed, other runs of non-alphanumerics as `-`. */
export function slugify(title: string): string {
  return title
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/['’]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
}

function bool(v: unknown, field: string, def: boolean, file: string): boolean {
  if (v === undefined || v === null || v === '') return def
  if (typeof v === 'boolean') return v
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true'
  throw new UsageError(`Invalid ${field} in ${file}: ${JSON.stringify(v)}. Expected true or false`)
}

function strings(v: unknown, field: string, file: string, pattern?: { re: RegExp; form: string }): string[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new UsageError(`Invalid ${field} in ${file}: expected a list of strings`)
  for (const s of v as string[]) {
    if (pattern && !pattern.re.test(s)) throw new UsageError(`Invalid ${field} in ${file}: '${s}'. Expected ${pattern.form}`)
  }
  return [...(v as string[])]
}

/** Strips a notebook's outputs and joins list-form cell sources, as the official client does before a push. */
export function cleanNotebook(text: string, file: string): string {
  let nb: { cells?: unknown }
  try {
    nb = JSON.parse(text) as { cells?: unknown }
  } catch {
    throw new UsageError(`Invalid notebook ${file}: not JSON`)
  }
  if (Array.isArray(nb.cells)) {
    for (const cell of nb.cells as Record<string, unknown>[]) {
      if (cell && cell.cell_type === 'code' && 'outputs' in cell) cell.outputs = []
      if (cell && Array.isArray(cell.source)) cell.source = (cell.source as unknown[]).join('')
    }
  }
  return JSON.stringify(nb)
}

export interface KernelPushInput {
  /** Folder holding kernel-metadata.json */
  readonly dir: string
  /** Overrides machine_shape (and so enable_gpu/enable_tpu) */
  readonly accelerator?: string | undefined
  readonly sessionTimeoutSeconds?: number | undefined
}

export interface KernelPlan {
  readonly dir: string
  readonly metadataPath: string
  readonly codePath: string
  /** `user/slug`, when the metadata has an id */
  readonly id: string | null
  readonly idNo: number | null
  readonly userName: string | null
  readonly slug: string | null
  readonly url: string | null
  readonly request: SaveKernelRequest
  readonly textBytes: number
  readonly textSha256: string
  /** Where machineShape came from: `--accelerator`, `machine_shape` or null (none) */
  readonly machineShapeFrom: string | null
  readonly warnings: readonly string[]
}

/** Reads and validates kernel-metadata.json and builds the SaveKernel request (sends nothing). */
export function planKernelPush(input: KernelPushInput): KernelPlan {
  const dir = resolve(input.dir)
  const metadataPath = join(dir, KERNEL_METADATA_FILE)
  if (!existsSync(metadataPath)) {
    throw new UsageError(`Invalid --kernel: '${input.dir}' has no ${KERNEL_METADATA_FILE}. Expected a folder holding one`)
  }
  let m: KernelMetadataFile
  try {
    m = JSON.parse(readFileSync(metadataPath, 'utf8')) as KernelMetadataFile
  } catch (err) {
    throw new UsageError(`Invalid ${metadataPath}: ${(err as Error).message.split('\n')[0]}. Expected JSON`)
  }
  const f = metadataPath
  const warnings: string[] = []
  const problems: string[] = []

  let idNo: number | null = null
  if (m.id_no !== undefined && m.id_no !== null && m.id_no !== '') {
    idNo = Number(m.id_no)
    if (!Number.isSafeInteger(idNo) || idNo <= 0) problems.push(`id_no is ${JSON.stringify(m.id_no)}, expected a positive integer`)
  }
  let userName: string | null = null
  let slug: string | null = null
  if (typeof m.id === 'string' && m.id.trim()) {
    const parts = /^([^/\s]+)\/([^/\s]+)$/.exec(m.id.trim())
    if (!parts) problems.push(`id is '${m.id}', expected USER/SLUG`)
    else [userName, slug] = [parts[1], parts[2]]
    if (slug === 'INSERT_KERNEL_SLUG_HERE') problems.push('id is the placeholder INSERT_KERNEL_SLUG_HERE')
  } else if (idNo === null) problems.push('neither id (USER/SLUG) nor id_no is set')

  const title = typeof m.title === 'string' ? m.title.trim() : ''
  if (title.length < 5) problems.push(`title is '${title}', expected at least 5 characters`)
  else if (title === 'INSERT_TITLE_HERE') problems.push('title is the placeholder INSERT_TITLE_HERE')
  else if (slug !== null && slugify(title) !== slug) {
    problems.push(`the id's slug '${slug}' is not the title slugified ('${slugify(title)}'); Kaggle would rename the kernel. Make them agree`)
  }

  const language = typeof m.language === 'string' ? m.language.toLowerCase() : ''
  if (!(LANGUAGES as readonly string[]).includes(language)) problems.push(`language is ${JSON.stringify(m.language)}, expected one of ${LANGUAGES.join(', ')}`)
  const kernelType = typeof m.kernel_type === 'string' ? m.kernel_type.toLowerCase() : ''
  if (!(KERNEL_TYPES as readonly string[]).includes(kernelType)) problems.push(`kernel_type is ${JSON.stringify(m.kernel_type)}, expected script or notebook`)

  let codePath = ''
  if (typeof m.code_file !== 'string' || !m.code_file.trim()) problems.push('code_file is not set')
  else {
    codePath = resolve(dir, m.code_file)
    if (!existsSync(codePath) || !statSync(codePath).isFile()) problems.push(`code_file '${m.code_file}' does not exist (looked for ${codePath})`)
  }
  if (m.docker_image_pinning_type !== undefined && !['original', 'latest'].includes(m.docker_image_pinning_type)) {
    problems.push(`docker_image_pinning_type is '${m.docker_image_pinning_type}', expected original or latest`)
  }
  if (problems.length) throw new UsageError(`Invalid ${f}: ${problems.join('; ')}`)

  const userSlug = { re: /^[^/\s]+\/[^/\s]+$/, form: 'USER/SLUG' }
  const datasetSources = strings(m.dataset_sources, 'dataset_sources', f, userSlug)
  const kernelSources = strings(m.kernel_sources, 'kernel_sources', f, userSlug)
  const competitionSources = strings(m.competition_sources, 'competition_sources', f)
  const modelSources = strings(m.model_sources, 'model_sources', f, {
    re: /^[^/\s]+\/[^/\s]+\/[^/\s]+\/[^/\s]+\/[^/\s]+$/,
    form: 'USER/MODEL/FRAMEWORK/VARIATION/VERSION',
  })
  const keywords = strings(m.keywords, 'keywords', f)

  let machineShape: string | undefined
  let machineShapeFrom: string | null = null
  if (input.accelerator !== undefined) [machineShape, machineShapeFrom] = [input.accelerator, '--accelerator']
  else if (typeof m.machine_shape === 'string' && m.machine_shape.trim()) [machineShape, machineShapeFrom] = [m.machine_shape.trim(), 'machine_shape']
  if (machineShape !== undefined && !/^[A-Za-z0-9]+$/.test(machineShape)) {
    throw new UsageError(`Invalid ${machineShapeFrom}: '${machineShape}'. Expected an accelerator id such as TpuV5E8 (${ACCELERATORS.join(', ')})`)
  }
  // A documented id in another case (tpuv5e8) is taken in Kaggle's spelling
  if (machineShape !== undefined) machineShape = ACCELERATORS.find((a) => a.toLowerCase() === machineShape?.toLowerCase()) ?? machineShape
  if (machineShape !== undefined && !(ACCELERATORS as readonly string[]).includes(machineShape)) {
    warnings.push(`accelerator '${machineShape}' is not one of the ids documented in Feb 2026 (${ACCELERATORS.join(', ')}); sending it as given`)
  }
  let enableGpu = bool(m.enable_gpu, 'enable_gpu', false, f)
  let enableTpu = bool(m.enable_tpu, 'enable_tpu', false, f)
  if (machineShape !== undefined) {
    // machineShape overrides the booleans on Kaggle's side; sending them consistent avoids a confusing request
    enableTpu = /^Tpu/i.test(machineShape)
    enableGpu = /^Nvidia/i.test(machineShape)
  }

  const raw = readFileSync(codePath, 'utf8')
  const text = kernelType === 'notebook' ? cleanNotebook(raw, codePath) : raw
  if (input.sessionTimeoutSeconds !== undefined && (!Number.isInteger(input.sessionTimeoutSeconds) || input.sessionTimeoutSeconds <= 0)) {
    throw new UsageError(`Invalid --session-timeout: '${input.sessionTimeoutSeconds}'. Expected a positive number of seconds`)
  }
  const request: SaveKernelRequest = {
    ...(idNo !== null ? { id: idNo } : {}),
    ...(userName !== null && slug !== null ? { slug: `${userName}/${slug}` } : {}),
    newTitle: title,
    text,
    language,
    kernelType,
    isPrivate: bool(m.is_private, 'is_private', true, f),
    enableGpu,
    enableTpu,
    enableInternet: bool(m.enable_internet, 'enable_internet', true, f),
    datasetDataSources: datasetSources,
    competitionDataSources: competitionSources,
    kernelDataSources: kernelSources,
    modelDataSources: modelSources,
    categoryIds: keywords,
    ...(m.docker_image_pinning_type !== undefined ? { dockerImagePinningType: m.docker_image_pinning_type } : {}),
    ...(typeof m.docker_image === 'string' && m.docker_image ? { dockerImage: m.docker_image } : {}),
    ...(machineShape !== undefined ? { machineShape } : {}),
    ...(input.sessionTimeoutSeconds !== undefined ? { sessionTimeoutSeconds: input.sessionTimeoutSeconds } : {}),
  }
  return {
    dir,
    metadataPath,
    codePath,
    id: userName !== null && slug !== null ? `${userName}/${slug}` : null,
    idNo,
    userName,
    slug,
    url: userName !== null && slug !== null ? `${KAGGLE_WEB}/code/${userName}/${slug}` : null,
    request,
    textBytes: Buffer.byteLength(text),
    textSha256: createHash('sha256').update(text).digest('hex'),
    machineShapeFrom,
    warnings,
  }
}

interface SaveKernelResponse {
  readonly ref?: string
  readonly url?: string
  readonly versionNumber?: number
  readonly error?: string
  readonly kernelId?: number
  readonly invalidTags?: string[]
  readonly invalidDatasetSources?: string[]
  readonly invalidCompetitionSources?: string[]
  readonly invalidKernelSources?: string[]
  readonly invalidModelSources?: string[]
}

export interface KernelPushResult {
  readonly ref: string | null
  readonly url: string | null
  readonly versionNumber: number | null
  readonly kernelId: number | null
  readonly userName: string | null
  readonly slug: string | null
  readonly machineShape: string | null
  readonly warnings: readonly string[]
  readonly credentials: ReturnType<typeof describeCredentials>
}

/** `/code/alice/tpu-train`, `alice/tpu-train` or a kaggle.com URL -> user and slug. */
function refParts(ref: string | undefined): { userName: string; slug: string } | undefined {
  if (!ref) return undefined
  const m = /(?:^|\/)([^/\s]+)\/([^/\s]+)\/?$/.exec(ref.replace(/^https?:\/\/[^/]+/, '').replace(/^\/?code\//, ''))
  return m ? { userName: m[1], slug: m[2] } : undefined
}

/** Sends SaveKernel (a new kernel or a new version of it); returns where it lives and its version. */
export async function pushKernel(plan: KernelPlan, client: KaggleClient): Promise<KernelPushResult> {
  await verifyCredentials(client)
  const r = await client.call<SaveKernelResponse>(SERVICES.kernels, 'SaveKernel', plan.request, { kind: 'create' })
  if (r.error) throw new KaggleApiError(`Kaggle refused SaveKernel: ${r.error}`, 200, r.error)
  const warnings = [...plan.warnings]
  const lists: [string, string[] | undefined][] = [
    ['keywords', r.invalidTags],
    ['dataset sources', r.invalidDatasetSources],
    ['competition sources', r.invalidCompetitionSources],
    ['kernel sources', r.invalidKernelSources],
    ['model sources', r.invalidModelSources],
  ]
  for (const [what, list] of lists) if (list?.length) warnings.push(`Kaggle ignored invalid ${what}: ${list.join(', ')}`)
  const parts = refParts(r.ref) ?? (plan.userName !== null && plan.slug !== null ? { userName: plan.userName, slug: plan.slug } : undefined)
  return {
    ref: r.ref || plan.id,
    url: r.url || plan.url,
    versionNumber: typeof r.versionNumber === 'number' ? r.versionNumber : null,
    kernelId: typeof r.kernelId === 'number' ? r.kernelId : null,
    userName: parts?.userName ?? null,
    slug: parts?.slug ?? null,
    machineShape: plan.request.machineShape ?? null,
    warnings,
    credentials: describeCredentials(client.credentials),
  }
}

export const KERNEL_TERMINAL = ['COMPLETE', 'ERROR', 'CANCEL_REQUESTED', 'CANCEL_ACKNOWLEDGED'] as const

export interface WaitOptions {
  /** Poll spacing: base doubling to the cap (default 5 s to 60 s) */
  readonly backoff?: BackoffOptions
  /** Give up after this long (default: never) */
  readonly timeoutMs?: number
  readonly onStatus?: (status: string, elapsedMs: number) => void
}

/** Polls GetKernelSessionStatus until COMPLETE (returned) or ERROR/cancelled (thrown as FatalError). */
export async function waitForKernel(client: KaggleClient, userName: string, kernelSlug: string, o: WaitOptions = {}): Promise<{ status: string; elapsedMs: number }> {
  const backoff = o.backoff ?? { baseMs: 5000, capMs: 60_000 }
  const t0 = Date.now()
  let last = ''
  for (let attempt = 1; ; attempt++) {
    const r = await client.call<{ status?: string; failureMessage?: string }>(SERVICES.kernels, 'GetKernelSessionStatus', { userName, kernelSlug })
    const status = String(r.status ?? '').toUpperCase().replace(/^KERNEL_WORKER_STATUS_/, '')
    const elapsedMs = Date.now() - t0
    if (status !== last) o.onStatus?.(status, elapsedMs)
    last = status
    if (status === 'COMPLETE') return { status, elapsedMs }
    if (status === 'ERROR') throw new FatalError(`Kernel ${userName}/${kernelSlug} failed${r.failureMessage ? `: ${r.failureMessage}` : ''}`)
    if (status.startsWith('CANCEL')) throw new FatalError(`Kernel ${userName}/${kernelSlug} was cancelled (${status})`)
    if (o.timeoutMs !== undefined && elapsedMs >= o.timeoutMs) {
      throw new FatalError(`Kernel ${userName}/${kernelSlug} is still ${status || 'unknown'} after ${Math.round(elapsedMs / 1000)} s; stopped waiting (it keeps running)`)
    }
    // Steady runs are polled less and less often, up to the cap
    await sleep(backoffMs(attempt, backoff))
  }
}
