// A local Kaggle API server for tests: the RPC calls `mercury kaggle-upload` makes (POST /v1/{service}/{Method},
// camelCase JSON) and a Google-Cloud-Storage-like resumable upload endpoint for the createUrl it hands out.
//
// RPC: checks the Authorization header against the configured token (Bearer) or legacy key (Basic), rejects
// snake_case fields and requests missing what kagglesdk sends, and keeps datasets, versions and kernels in memory.
// Uploads: `PUT /upload/<id>` with `Content-Range: bytes a-b/size` stores bytes at their offset; `bytes */size`
// asks what is held (308 with `Range: bytes=0-K`, no Range when nothing, 200 when complete). Faults per file name:
// drop the connection once N bytes are held, hold the request open at N bytes (a test kills the client then),
// answer 503 once, or expire the session (404 from then on). A Kaggle Authorization header on a PUT is an error.
// Every request is logged, and the stored bytes can be hashed.

import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export interface KaggleServerOptions {
  /** Accepted access token (Bearer) */
  token?: string
  /** User IntrospectToken names for the token */
  tokenUser?: string
  /** Accepted legacy key (HTTP Basic username:key) */
  username?: string
  key?: string
  /** Datasets that exist before the test, `owner/slug` */
  datasets?: string[]
  /** Successive GetKernelSessionStatus answers; the last one repeats */
  kernelStatuses?: string[]
  /** Tags Kaggle knows; others come back in invalidTags */
  knownTags?: string[]
}

export interface UploadFault {
  /** StartBlobUpload name of the file it applies to */
  name: string
  /** Drop the connection once the server holds this many bytes of the file */
  dropAtBytes?: number
  /** Stop reading at this many bytes and keep the request open; `onStall` is called (tests kill the client) */
  stallAtBytes?: number
  /** Answer the next data PUT with 503, storing nothing */
  fail503?: boolean
  /** Once the session holds at least this many bytes, expire it: 404 to every PUT from then on */
  expireAtBytes?: number
  /** Set when the fault has fired (each fires once) */
  fired?: boolean
}

export interface Upload {
  readonly id: string
  readonly name: string
  readonly size: number
  readonly token: string
  readonly lastModifiedEpochSeconds: number
  readonly data: Buffer
  /** Contiguous bytes held from offset 0 */
  committed: number
  complete: boolean
  expired: boolean
  /** Consumed by a CreateDataset/CreateDatasetVersion */
  used: boolean
}

export interface RpcLogEntry {
  readonly service: string
  readonly method: string
  readonly body: unknown
  readonly auth: 'bearer' | 'basic' | 'none'
  status: number
}

export interface PutLogEntry {
  readonly uploadId: string
  readonly name: string
  readonly contentRange: string | undefined
  readonly authorization: boolean
  /** First byte offset of a data PUT; undefined for a status query */
  start: number | undefined
  /** Body bytes the server read from this request */
  bodyBytes: number
  status: number | 'dropped' | 'aborted'
}

export interface StoredFile {
  readonly name: string
  readonly size: number
  readonly sha256: string
  /** The bytes as stored */
  readonly data: Buffer
  readonly description?: string
  readonly columns?: unknown
}

export interface DatasetVersion {
  readonly number: number
  readonly notes: string | null
  readonly files: StoredFile[]
  readonly request: Record<string, unknown>
}

export interface StoredDataset {
  readonly ref: string
  title: string
  isPrivate: boolean
  licenseName: string
  readonly versions: DatasetVersion[]
}

class Reply extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(JSON.stringify(body))
  }
}

const bad = (message: string) => new Reply(400, { code: 400, message })

function snakeKeys(v: unknown, path = ''): string[] {
  if (Array.isArray(v)) return v.flatMap((x, i) => snakeKeys(x, `${path}[${i}]`))
  if (!v || typeof v !== 'object') return []
  const out: string[] = []
  for (const [k, x] of Object.entries(v)) {
    if (k.includes('_')) out.push(`${path}${path ? '.' : ''}${k}`)
    out.push(...snakeKeys(x, `${path}${path ? '.' : ''}${k}`))
  }
  return out
}

const isStr = (v: unknown): v is string => typeof v === 'string' && v !== ''
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v)

export class KaggleServer {
  url = ''
  /** Every request, in arrival order */
  readonly requests: { method: string; path: string }[] = []
  readonly rpc: RpcLogEntry[] = []
  readonly puts: PutLogEntry[] = []
  readonly uploads = new Map<string, Upload>()
  readonly datasets = new Map<string, StoredDataset>()
  readonly kernels: { request: Record<string, unknown>; versionNumber: number }[] = []
  readonly faults: UploadFault[] = []
  /** Called when a `stallAtBytes` fault holds a request open */
  onStall: ((upload: Upload) => void) | undefined
  private kernelPolls = 0
  private nextId = 1
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  readonly token: string
  readonly tokenUser: string
  readonly username: string
  readonly key: string

  constructor(readonly o: KaggleServerOptions = {}) {
    this.token = o.token ?? 'KGAT_0123456789abcdef0123456789abcdef'
    this.tokenUser = o.tokenUser ?? 'alice'
    this.username = o.username ?? 'alice'
    this.key = o.key ?? '0123456789abcdef0123456789abcdef'
    for (const ref of o.datasets ?? []) {
      this.datasets.set(ref, { ref, title: ref, isPrivate: true, licenseName: 'CC0-1.0', versions: [{ number: 1, notes: null, files: [], request: {} }] })
    }
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res))
    this.server.on('connection', (s) => {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
    })
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return this.url
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }

  fault(f: UploadFault): UploadFault {
    this.faults.push(f)
    return f
  }

  /** RPC calls of one method. */
  calls(method: string): RpcLogEntry[] {
    return this.rpc.filter((e) => e.method === method)
  }

  /** Upload sessions of a file name, oldest first. */
  sessions(name: string): Upload[] {
    return [...this.uploads.values()].filter((u) => u.name === name)
  }

  /** Data PUTs of a file name. */
  dataPuts(name: string): PutLogEntry[] {
    return this.puts.filter((p) => p.name === name && p.start !== undefined)
  }

  /** Expires every open session of a file name (404 from now on). */
  expire(name: string): void {
    for (const u of this.sessions(name)) if (!u.complete) u.expired = true
  }

  private authOf(req: IncomingMessage): 'bearer' | 'basic' | 'none' | 'bad' {
    const h = req.headers.authorization
    if (!h) return 'none'
    if (h === `Bearer ${this.token}`) return 'bearer'
    if (h === `Basic ${Buffer.from(`${this.username}:${this.key}`).toString('base64')}`) return 'basic'
    return 'bad'
  }

  private user(auth: 'bearer' | 'basic'): string {
    return auth === 'bearer' ? this.tokenUser : this.username
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://local').pathname
    this.requests.push({ method: req.method ?? '', path })
    if (req.method === 'PUT' && path.startsWith('/upload/')) {
      this.put(path.slice('/upload/'.length), req, res)
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const m = /^\/v1\/([A-Za-z.]+)\/([A-Za-z]+)$/.exec(path)
      let status = 200
      let body: unknown
      const auth = this.authOf(req)
      let parsed: unknown
      try {
        parsed = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null')
      } catch {
        parsed = undefined
      }
      const entry: RpcLogEntry = { service: m?.[1] ?? '', method: m?.[2] ?? path, body: parsed, auth: auth === 'bad' ? 'none' : auth, status: 0 }
      this.rpc.push(entry)
      try {
        if (req.method !== 'POST' || !m) throw new Reply(404, { code: 404, message: `no route ${req.method} ${path}` })
        if (auth === 'none' || auth === 'bad') throw new Reply(401, { code: 401, message: 'Unauthenticated' })
        if (req.headers['content-type'] !== 'application/json') throw bad(`content-type is ${req.headers['content-type']}, expected application/json`)
        if (parsed === undefined || parsed === null || typeof parsed !== 'object') throw bad('body is not a JSON object')
        const snake = snakeKeys(parsed)
        if (snake.length) throw bad(`snake_case fields: ${snake.join(', ')}`)
        body = this.route(m[1], m[2], parsed as Record<string, unknown>, auth)
      } catch (err) {
        if (!(err instanceof Reply)) throw err
        status = err.status
        body = err.body
      }
      entry.status = status
      const text = JSON.stringify(body)
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) })
      res.end(text)
    })
  }

  private route(service: string, method: string, b: Record<string, unknown>, auth: 'bearer' | 'basic'): unknown {
    const expect = (svc: string) => {
      if (service !== svc) throw new Reply(404, { code: 404, message: `${method} is not in ${service}` })
    }
    switch (method) {
      case 'IntrospectToken': {
        expect('security.OAuthService')
        if (auth !== 'bearer') throw new Reply(401, { code: 401, message: 'IntrospectToken needs a bearer token' })
        if (b.token !== this.token) return { active: false }
        return { active: true, username: this.tokenUser }
      }
      case 'GetDatasetStatus': {
        expect('datasets.DatasetApiService')
        if (!isStr(b.ownerSlug) || !isStr(b.datasetSlug)) throw bad('ownerSlug and datasetSlug are required')
        if (!this.datasets.has(`${b.ownerSlug}/${b.datasetSlug}`)) throw new Reply(404, { code: 404, message: 'Dataset not found' })
        return { status: 'ready' }
      }
      case 'StartBlobUpload': {
        expect('blobs.BlobApiService')
        if (b.type !== 'DATASET') throw bad(`type is ${JSON.stringify(b.type)}, expected "DATASET"`)
        if (!isStr(b.name)) throw bad('name is required')
        if (!isInt(b.contentLength) || b.contentLength < 0) throw bad('contentLength must be a non-negative integer')
        if (!isInt(b.lastModifiedEpochSeconds)) throw bad('lastModifiedEpochSeconds must be an integer')
        const id = `u${this.nextId++}`
        const u: Upload = {
          id, name: b.name, size: b.contentLength, token: `blob-token-${id}`, lastModifiedEpochSeconds: b.lastModifiedEpochSeconds,
          data: Buffer.alloc(b.contentLength), committed: 0, complete: false, expired: false, used: false,
        }
        this.uploads.set(id, u)
        return { token: u.token, createUrl: `${this.url}/upload/${id}?upload_id=${id}-secret` }
      }
      case 'CreateDataset': {
        expect('datasets.DatasetApiService')
        for (const k of ['ownerSlug', 'slug', 'title', 'licenseName']) if (!isStr(b[k])) throw bad(`${k} is required (a string)`)
        if (typeof b.isPrivate !== 'boolean') throw bad('isPrivate must be a boolean')
        if (b.ownerSlug !== this.user(auth)) throw new Reply(403, { code: 403, message: `cannot create datasets for ${String(b.ownerSlug)}` })
        const title = b.title as string
        if (title.length < 6 || title.length > 50) throw bad('title must be 6 to 50 characters')
        const ref = `${b.ownerSlug}/${b.slug}`
        if (this.datasets.has(ref)) throw bad(`The dataset ${ref} already exists`)
        const files = this.takeFiles(b.files)
        const invalidTags = this.invalidTags(b.categoryIds)
        this.datasets.set(ref, {
          ref, title, isPrivate: b.isPrivate, licenseName: b.licenseName as string, versions: [{ number: 1, notes: null, files, request: b }],
        })
        return { ref, url: `https://www.kaggle.com/datasets/${ref}`, status: 'ok', error: '', invalidTags }
      }
      case 'CreateDatasetVersion': {
        expect('datasets.DatasetApiService')
        if (!isStr(b.ownerSlug) || !isStr(b.datasetSlug)) throw bad('ownerSlug and datasetSlug are required')
        const ref = `${b.ownerSlug}/${b.datasetSlug}`
        const ds = this.datasets.get(ref)
        if (!ds) throw new Reply(404, { code: 404, message: 'Dataset not found' })
        const body = b.body as Record<string, unknown> | undefined
        if (!body || typeof body !== 'object') throw bad('body is required')
        if (!isStr(body.versionNotes)) throw bad('body.versionNotes is required')
        if (typeof body.deleteOldVersions !== 'boolean') throw bad('body.deleteOldVersions must be a boolean')
        const files = this.takeFiles(body.files)
        const invalidTags = this.invalidTags(body.categoryIds)
        const number = ds.versions.length + 1
        ds.versions.push({ number, notes: body.versionNotes, files, request: b })
        return { ref, url: `https://www.kaggle.com/datasets/${ref}`, status: 'ok', error: '', invalidTags }
      }
      case 'SaveKernel': {
        expect('kernels.KernelsApiService')
        for (const k of ['newTitle', 'text', 'language', 'kernelType']) if (!isStr(b[k])) throw bad(`${k} is required (a string)`)
        for (const k of ['isPrivate', 'enableGpu', 'enableTpu', 'enableInternet']) if (typeof b[k] !== 'boolean') throw bad(`${k} must be a boolean`)
        for (const k of ['datasetDataSources', 'competitionDataSources', 'kernelDataSources', 'modelDataSources', 'categoryIds']) {
          if (!Array.isArray(b[k])) throw bad(`${k} must be a list`)
        }
        if (!isStr(b.slug) && !isInt(b.id)) throw bad('slug or id is required')
        const slug = isStr(b.slug) ? b.slug : `${this.user(auth)}/kernel-${String(b.id)}`
        const versionNumber = this.kernels.filter((k) => k.request.slug === b.slug).length + 1
        this.kernels.push({ request: b, versionNumber })
        return {
          ref: `/code/${slug}`, url: `https://www.kaggle.com/code/${slug}`, versionNumber, error: '', kernelId: 4242,
          invalidTags: [], invalidDatasetSources: [], invalidCompetitionSources: [], invalidKernelSources: [], invalidModelSources: [],
        }
      }
      case 'GetKernelSessionStatus': {
        expect('kernels.KernelsApiService')
        if (!isStr(b.userName) || !isStr(b.kernelSlug)) throw bad('userName and kernelSlug are required')
        const seq = this.o.kernelStatuses ?? ['COMPLETE']
        const status = seq[Math.min(this.kernelPolls++, seq.length - 1)]
        return { status, failureMessage: status === 'ERROR' ? 'Your notebook tried to allocate more memory than is available.' : '' }
      }
    }
    throw new Reply(404, { code: 404, message: `unknown method ${method}` })
  }

  private invalidTags(tags: unknown): string[] {
    if (tags === undefined) return []
    if (!Array.isArray(tags)) throw bad('categoryIds must be a list')
    const known = this.o.knownTags ?? ['finance', 'cryptocurrency', 'time series', 'investing']
    return tags.filter((t) => !known.includes(String(t))).map(String)
  }

  private takeFiles(files: unknown): StoredFile[] {
    if (!Array.isArray(files) || files.length === 0) throw bad('files must be a non-empty list')
    const out: StoredFile[] = []
    const uploads = files.map((f: Record<string, unknown>) => {
      if (!f || !isStr(f.token)) throw bad('every file needs a token')
      const u = [...this.uploads.values()].find((x) => x.token === f.token)
      if (!u) throw bad(`unknown blob token ${f.token}`)
      if (!u.complete) throw bad(`the upload of ${u.name} is not complete`)
      if (u.used) throw bad(`blob token ${f.token} was used already`)
      if (f.columns !== undefined) {
        if (!Array.isArray(f.columns)) throw bad('columns must be a list')
        for (const c of f.columns as Record<string, unknown>[]) {
          if (!isInt(c.order) || !isStr(c.name) || !isStr(c.type)) throw bad('every column needs order, name and type')
        }
      }
      out.push({
        name: u.name, size: u.size, sha256: createHash('sha256').update(u.data).digest('hex'), data: u.data,
        ...(isStr(f.description) ? { description: f.description } : {}), ...(f.columns !== undefined ? { columns: f.columns } : {}),
      })
      return u
    })
    for (const u of uploads) u.used = true
    return out
  }

  private put(id: string, req: IncomingMessage, res: ServerResponse): void {
    const u = this.uploads.get(id)
    const range = req.headers['content-range']
    const entry: PutLogEntry = {
      uploadId: id, name: u?.name ?? '?', contentRange: range, authorization: req.headers.authorization !== undefined, start: undefined, bodyBytes: 0, status: 0,
    }
    this.puts.push(entry)
    const answer = (status: number, headers: Record<string, string> = {}, body = '') => {
      entry.status = status
      res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) })
      res.end(body)
    }
    const drainThen = (fn: () => void) => {
      req.on('data', (c: Buffer) => (entry.bodyBytes += c.length))
      req.on('end', fn)
    }
    if (!u) return drainThen(() => answer(404, {}, 'Not Found'))
    // GCS would ignore it; the client must not send Kaggle credentials to the storage host
    if (entry.authorization) return drainThen(() => answer(400, {}, 'Authorization header sent to the upload URL'))
    const held = () => (u.complete ? answer(200, { 'content-type': 'application/json' }, JSON.stringify({ name: u.name, size: String(u.size) })) : answer(308, u.committed > 0 ? { range: `bytes=0-${u.committed - 1}` } : {}))
    const query = typeof range === 'string' ? /^bytes \*\/(\d+)$/.exec(range) : null
    const m = typeof range === 'string' ? /^bytes (\d+)-(\d+)\/(\d+)$/.exec(range) : null
    if (m) entry.start = Number(m[1])
    const expireFault = this.faults.find((f) => f.name === u.name && !f.fired && f.expireAtBytes !== undefined && u.committed >= f.expireAtBytes)
    if (expireFault) {
      expireFault.fired = true
      u.expired = true
    }
    if (u.expired) return drainThen(() => answer(404, {}, 'Not Found'))
    if (query) {
      if (Number(query[1]) !== u.size) return drainThen(() => answer(400, {}, `size ${query[1]} is not the declared ${u.size}`))
      // A zero-byte object is finalized by the query itself, as GCS does
      if (u.size === 0) u.complete = true
      return drainThen(held)
    }
    if (!m) return drainThen(() => answer(400, {}, `bad Content-Range ${String(range)}`))
    const [a, b, size] = [Number(m[1]), Number(m[2]), Number(m[3])]
    if (size !== u.size || b < a || b >= size) return drainThen(() => answer(400, {}, `Content-Range ${range} does not fit ${u.size} bytes`))
    if (a > u.committed) return drainThen(() => answer(400, {}, `chunk starts at ${a}, but only ${u.committed} bytes are held`))
    const f503 = this.faults.find((f) => f.name === u.name && !f.fired && f.fail503)
    if (f503) {
      f503.fired = true
      return drainThen(() => answer(503, {}, 'Service Unavailable'))
    }
    const drop = this.faults.find((f) => f.name === u.name && !f.fired && f.dropAtBytes !== undefined)
    const stall = this.faults.find((f) => f.name === u.name && !f.fired && f.stallAtBytes !== undefined)
    let pos = a
    let stopped = false
    req.on('data', (c: Buffer) => {
      if (stopped) return
      let chunk = c
      const limit = drop?.dropAtBytes ?? stall?.stallAtBytes
      const cut = limit !== undefined && pos + chunk.length >= limit
      if (cut && limit !== undefined) chunk = chunk.subarray(0, Math.max(0, limit - pos))
      chunk.copy(u.data, pos)
      pos += chunk.length
      entry.bodyBytes += chunk.length
      if (pos > u.committed) u.committed = pos
      if (cut && drop) {
        stopped = true
        drop.fired = true
        entry.status = 'dropped'
        req.socket.destroy()
      } else if (cut && stall) {
        stopped = true
        stall.fired = true
        req.pause()
        entry.status = 'aborted'
        this.onStall?.(u)
      }
    })
    req.on('end', () => {
      if (stopped) return
      if (pos !== b + 1) return answer(400, {}, `body has ${pos - a} bytes, Content-Range says ${b - a + 1}`)
      if (u.committed === u.size) u.complete = true
      held()
    })
  }

  /** The bytes a dataset version holds for a file. */
  fileData(ref: string, version: number, name: string): Buffer | undefined {
    return this.datasets.get(ref)?.versions.find((v) => v.number === version)?.files.find((f) => f.name === name)?.data
  }

  /** sha256 of the bytes a dataset version holds for a file. */
  fileSha(ref: string, version: number, name: string): string | undefined {
    return this.datasets.get(ref)?.versions.find((v) => v.number === version)?.files.find((f) => f.name === name)?.sha256
  }
}

export async function startKaggleServer(o: KaggleServerOptions = {}): Promise<KaggleServer> {
  const s = new KaggleServer(o)
  await s.start()
  return s
}
