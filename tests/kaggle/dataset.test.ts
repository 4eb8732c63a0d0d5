import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { UsageError } from '../../src/lib/errors.js'
import { KaggleAuthError } from '../../src/lib/kaggle/client.js'
import { planDatasetUpload, uploadDataset } from '../../src/lib/kaggle/dataset.js'
import { buildDatasetMetadata, frictionlessType, kaggleColumns, validateDatasetMetadata } from '../../src/lib/kaggle/metadata.js'
import { STATE_FILE } from '../../src/lib/kaggle/state.js'
import { startKaggleServer, type KaggleServer } from '../servers/kaggle.js'
import { FAST, KIB, bytes, clientFor, lobFolder, sha } from './helpers.js'

/** Entry name -> sha256 of its bytes, in archive order. */
async function unzip(data: Buffer): Promise<Record<string, string>> {
  const yauzl = await import('yauzl')
  const zip = await new Promise<import('yauzl').ZipFile>((res, rej) => yauzl.fromBuffer(data, { lazyEntries: true }, (e, z) => (e ? rej(e) : res(z))))
  const out: Record<string, string> = {}
  await new Promise<void>((res, rej) => {
    zip.on('entry', (entry: import('yauzl').Entry) => {
      zip.openReadStream(entry, (err, stream) => {
        if (err) return rej(err)
        const parts: Buffer[] = []
        stream.on('data', (c: Buffer) => parts.push(c))
        stream.on('end', () => {
          out[entry.fileName] = sha(Buffer.concat(parts))
          zip.readEntry()
        })
      })
    })
    zip.on('end', () => res())
    zip.on('error', rej)
    zip.readEntry()
  })
  return out
}

const UPLOAD = { chunkBytes: 256 * KIB, backoff: FAST, retries: 3 }
const REF = 'alice/btc-lob-sample'

describe('dataset-metadata.json', () => {
  it('describes every file, takes the README as description and its heading as title, and manifest columns for Parquet', () => {
    const { dir } = lobFolder()
    mkdirSync(join(dir, 'npy'))
    writeFileSync(join(dir, '.DS_Store'), 'x')
    writeFileSync(join(dir, 'datapackage.json'), '{}')
    const b = buildDatasetMetadata({ dir, dataset: REF })
    expect(b.titleFrom).toBe('README.md')
    expect(b.metadata).toMatchObject({
      title: 'BTC order book L2 sample',
      id: REF,
      licenses: [{ name: 'CC0-1.0' }],
      keywords: [],
      description: expect.stringContaining('Ten levels per side'),
    })
    expect(b.metadata.resources.map((r) => r.path)).toEqual(['README.md', 'manifest.json', 'part-0000.parquet', 'part-0001.parquet'])
    expect(b.metadata.resources[2].schema?.fields).toEqual([
      { name: 'time', type: 'datetime', description: 'Exchange event time' },
      { name: 'bid_px_0', type: 'number' },
      { name: 'bid_sz_0', type: 'number' },
      { name: 'ask_px_0', type: 'number' },
      { name: 'ask_sz_0', type: 'number' },
      { name: 'update_id', type: 'integer' },
      { name: 'symbol', type: 'string' },
    ])
    expect(b.metadata.resources[0].schema).toBeUndefined()
    expect(b.schemaFromManifest).toEqual(['part-0000.parquet', 'part-0001.parquet'])
    expect(b.skipped).toEqual([
      { name: '.DS_Store', reason: 'hidden file' },
      { name: 'datapackage.json', reason: 'metadata file the Kaggle client never uploads' },
      { name: 'npy/', reason: 'sub-folder without files' },
    ])
  })

  it('uploads a sub-folder as one deterministic zip Kaggle unpacks (--dir-mode zip), or leaves it out (skip)', async () => {
    const server = await startKaggleServer()
    try {
      await zipFolderCase(server)
    } finally {
      await server.close()
    }
  })

  it('keeps hand edits of an existing dataset-metadata.json; flags win over it', () => {
    const { dir } = lobFolder()
    writeFileSync(
      join(dir, 'dataset-metadata.json'),
      JSON.stringify({
        id: REF, title: 'Edited by hand title', keywords: ['finance'], licenses: [{ name: 'CC-BY-4.0' }],
        resources: [{ path: 'README.md', description: 'The dataset card' }],
      }),
    )
    const kept = buildDatasetMetadata({ dir })
    expect(kept.metadata).toMatchObject({ id: REF, title: 'Edited by hand title', keywords: ['finance'], licenses: [{ name: 'CC-BY-4.0' }] })
    expect(kept.metadata.resources[0]).toEqual({ path: 'README.md', description: 'The dataset card' })
    const flagged = buildDatasetMetadata({ dir, dataset: 'alice/other-slug', title: 'Flag title wins', license: 'ODbL-1.0', keywords: ['investing'] })
    expect(flagged.metadata).toMatchObject({ id: 'alice/other-slug', title: 'Flag title wins', licenses: [{ name: 'ODbL-1.0' }], keywords: ['investing'] })
  })

  it("validates as the official client does: slug and title 6-50, subtitle 20-80, one licence, no placeholders", () => {
    const { dir } = lobFolder()
    const base = buildDatasetMetadata({ dir, dataset: REF }).metadata
    const bad = (m: object) => {
      try {
        validateDatasetMetadata({ ...base, ...m })
        return ''
      } catch (err) {
        expect(err).toBeInstanceOf(UsageError)
        return (err as Error).message
      }
    }
    expect(bad({})).toBe('')
    expect(bad({ id: 'alice/short' })).toBe("Invalid --dataset slug: 'short'. Expected 6 to 50 characters, was 5")
    expect(bad({ title: 'x'.repeat(51) })).toMatch(/^Invalid --title: 'x+'. Expected 6 to 50 characters, was 51$/)
    expect(bad({ subtitle: 'too short' })).toBe("Invalid --subtitle: 'too short'. Expected 20 to 80 characters, was 9")
    expect(bad({ licenses: [{ name: 'CC0-1.0' }, { name: 'CC-BY-4.0' }] })).toMatch(/Expected exactly one/)
    expect(bad({ licenses: [] })).toMatch(/Invalid licenses: 0 given/)
    expect(bad({ licenses: [{ name: 'nope' }] })).toMatch(/^Invalid --license: 'nope'\. Expected one of Kaggle's licence names: CC0-1\.0, CC-BY-SA-3\.0, /)
    // Any case is taken, and sent in Kaggle's spelling
    expect(buildDatasetMetadata({ dir, dataset: REF, license: 'cc-by-4.0' }).metadata.licenses).toEqual([{ name: 'CC-BY-4.0' }])
    // Also from a hand-edited dataset-metadata.json
    writeFileSync(join(dir, 'dataset-metadata.json'), JSON.stringify({ id: REF, title: 'Edited by hand title', licenses: [{ name: 'odbl-1.0' }] }))
    expect(buildDatasetMetadata({ dir, dataset: REF }).metadata.licenses).toEqual([{ name: 'ODbL-1.0' }])
    expect(bad({ title: 'INSERT_TITLE_HERE', id: 'alice/INSERT_SLUG_HERE' })).toMatch(/slug is the placeholder.*title is the placeholder/)
    expect(() => planDatasetUpload({ dir, dataset: 'no-slash' })).toThrow("Invalid --dataset: 'no-slash'. Expected OWNER/SLUG")
  })

  it('maps column types as kagglesdk does', () => {
    expect(['VARCHAR', 'BIGINT', 'DOUBLE', 'BOOLEAN', 'TIMESTAMP WITH TIME ZONE', 'DATE', 'float32', 'int64', 'weird'].map(frictionlessType)).toEqual([
      'string', 'integer', 'number', 'boolean', 'datetime', 'date', 'number', 'integer', 'string',
    ])
    expect(
      kaggleColumns([
        { name: 'a', type: 'number' }, { name: 'b', type: 'date' }, { name: 'c', type: 'datetime' }, { name: 'd', type: 'integer', description: 'n' },
      ]),
    ).toEqual([
      { order: 0, name: 'a', type: 'numeric', originalType: 'number', description: '' },
      { order: 1, name: 'b', type: 'string', originalType: 'date', description: '' },
      { order: 2, name: 'c', type: 'datetime', originalType: 'datetime', description: '' },
      { order: 3, name: 'd', type: 'integer', originalType: 'integer', description: 'n' },
    ])
  })
})

describe('uploading a dataset to a local Kaggle server', () => {
  let server: KaggleServer
  beforeEach(async () => {
    server = await startKaggleServer()
  })
  afterEach(async () => {
    await server.close()
  })

  it('creates a new dataset, then a new version with notes; the stored bytes are the files', async () => {
    const { dir, files } = lobFolder()
    const plan = planDatasetUpload({ dir, dataset: REF, subtitle: 'Binance BTCUSDT book, ten levels', keywords: ['finance', 'bogus-tag'] })
    expect(plan.files.map((f) => f.state)).toEqual(['new', 'new', 'new', 'new'])
    const first = await uploadDataset(plan, clientFor(server), UPLOAD)
    expect(first).toMatchObject({
      action: 'create', ref: REF, url: `https://www.kaggle.com/datasets/${REF}`, isPrivate: true, invalidTags: ['bogus-tag'],
      credentials: { kind: 'token', source: 'KAGGLE_API_TOKEN' },
    })
    expect(server.rpc.map((e) => e.method)).toEqual([
      'IntrospectToken', 'GetDatasetStatus', 'StartBlobUpload', 'StartBlobUpload', 'StartBlobUpload', 'StartBlobUpload', 'CreateDataset',
    ])
    expect(server.calls('GetDatasetStatus')[0].body).toEqual({ ownerSlug: 'alice', datasetSlug: 'btc-lob-sample' })
    const start = server.calls('StartBlobUpload')[2].body as Record<string, unknown>
    expect(start).toEqual({
      type: 'DATASET', name: 'part-0000.parquet', contentLength: 700 * KIB,
      lastModifiedEpochSeconds: Math.floor(statSync(join(dir, 'part-0000.parquet')).mtimeMs / 1000),
    })
    const create = server.calls('CreateDataset')[0].body as Record<string, unknown>
    expect(create).toMatchObject({
      ownerSlug: 'alice', slug: 'btc-lob-sample', title: 'BTC order book L2 sample', subtitle: 'Binance BTCUSDT book, ten levels',
      licenseName: 'CC0-1.0', isPrivate: true, categoryIds: ['finance', 'bogus-tag'],
      description: expect.stringContaining('Ten levels per side'),
    })
    const sent = create.files as { token: string; columns?: { name: string; type: string }[] }[]
    expect(sent).toHaveLength(4)
    expect(sent[2].columns?.map((c) => `${c.name}:${c.type}`)).toEqual([
      'time:datetime', 'bid_px_0:numeric', 'bid_sz_0:numeric', 'ask_px_0:numeric', 'ask_sz_0:numeric', 'update_id:integer', 'symbol:string',
    ])
    expect(sent[0].columns).toBeUndefined()
    for (const [name, b] of Object.entries(files)) expect(server.fileSha(REF, 1, name), name).toBe(sha(b))
    // Nothing but the storage PUTs went to the upload URL, and none carried the Kaggle credentials
    expect(server.puts.every((p) => !p.authorization)).toBe(true)
    expect(existsSync(join(dir, STATE_FILE))).toBe(false)
    const meta = JSON.parse(readFileSync(join(dir, 'dataset-metadata.json'), 'utf8'))
    expect(meta).toMatchObject({ id: REF, title: 'BTC order book L2 sample', licenses: [{ name: 'CC0-1.0' }] })
    expect(first.bytesSent).toBe(first.totalBytes)

    // Second run: the dataset exists, so a new version with the notes; dataset-metadata.json is not uploaded
    writeFileSync(join(dir, 'part-0002.parquet'), Buffer.from('more data'))
    const second = await uploadDataset(planDatasetUpload({ dir, dataset: REF, notes: 'March data' }), clientFor(server), UPLOAD)
    expect(second.action).toBe('version')
    const version = server.calls('CreateDatasetVersion')[0].body as { ownerSlug: string; datasetSlug: string; body: Record<string, unknown> }
    expect(version).toMatchObject({ ownerSlug: 'alice', datasetSlug: 'btc-lob-sample', body: { versionNotes: 'March data', deleteOldVersions: false } })
    expect((version.body.files as unknown[]).length).toBe(5)
    expect(server.datasets.get(REF)?.versions.map((v) => v.notes)).toEqual([null, 'March data'])
    expect(server.fileSha(REF, 2, 'part-0002.parquet')).toBe(sha('more data'))
    expect(server.calls('StartBlobUpload').some((c) => (c.body as { name: string }).name === 'dataset-metadata.json')).toBe(false)
  })

  it('resumes a file whose connection dropped mid-upload: only the missing bytes are sent again', async () => {
    const { dir, files } = lobFolder()
    const cut = 400 * KIB + 123
    server.fault({ name: 'part-0000.parquet', dropAtBytes: cut })
    const r = await uploadDataset(planDatasetUpload({ dir, dataset: REF }), clientFor(server), UPLOAD)
    const puts = server.dataPuts('part-0000.parquet')
    expect(puts.map((p) => p.status)).toEqual([308, 'dropped', 308, 200])
    expect(puts.map((p) => p.start)).toEqual([0, 256 * KIB, cut, cut + 256 * KIB])
    // The server read every byte once: the resumed chunk started at the first byte it lacked
    expect(puts.reduce((a, p) => a + p.bodyBytes, 0)).toBe(700 * KIB)
    expect(server.puts.some((p) => p.name === 'part-0000.parquet' && p.contentRange === `bytes */${700 * KIB}`)).toBe(true)
    expect(server.sessions('part-0000.parquet')).toHaveLength(1)
    expect(server.fileSha(REF, 1, 'part-0000.parquet')).toBe(sha(files['part-0000.parquet']))
    expect(r.files.find((f) => f.name === 'part-0000.parquet')?.restarts).toBe(0)
  })

  it('retries a 503 after asking what the server holds', async () => {
    const { dir, files } = lobFolder()
    server.fault({ name: 'part-0001.parquet', fail503: true })
    await uploadDataset(planDatasetUpload({ dir, dataset: REF }), clientFor(server), UPLOAD)
    expect(server.dataPuts('part-0001.parquet').map((p) => p.status)).toEqual([503, 308, 200])
    expect(server.fileSha(REF, 1, 'part-0001.parquet')).toBe(sha(files['part-0001.parquet']))
  })

  it('starts a file over in a new session when its session expired (404)', async () => {
    const { dir, files } = lobFolder()
    server.fault({ name: 'part-0000.parquet', expireAtBytes: 256 * KIB })
    const r = await uploadDataset(planDatasetUpload({ dir, dataset: REF }), clientFor(server), UPLOAD)
    const sessions = server.sessions('part-0000.parquet')
    expect(sessions).toHaveLength(2)
    expect(sessions[0].expired).toBe(true)
    expect(server.dataPuts('part-0000.parquet').map((p) => p.status)).toEqual([308, 404, 308, 308, 200])
    expect(r.files.find((f) => f.name === 'part-0000.parquet')).toMatchObject({ restarts: 1, resumedFrom: 0 })
    const create = server.calls('CreateDataset')[0].body as { files: { token: string }[] }
    expect(create.files.map((f) => f.token)).toContain(sessions[1].token)
    expect(create.files.map((f) => f.token)).not.toContain(sessions[0].token)
    expect(server.fileSha(REF, 1, 'part-0000.parquet')).toBe(sha(files['part-0000.parquet']))
  })

  it('a run that gives up keeps its sessions; the next run resumes them and sends only the rest', async () => {
    const { dir, files } = lobFolder()
    const cut = 300 * KIB
    server.fault({ name: 'part-0000.parquet', dropAtBytes: cut })
    await expect(uploadDataset(planDatasetUpload({ dir, dataset: REF }), clientFor(server), { ...UPLOAD, retries: 0 })).rejects.toThrow(
      /Run again to resume where it stopped/,
    )
    const state = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8'))
    expect(state.files['part-0000.parquet']).toMatchObject({ done: false, token: server.sessions('part-0000.parquet')[0].token })
    expect(statSync(join(dir, STATE_FILE)).mode & 0o777).toBe(0o600)
    expect(planDatasetUpload({ dir, dataset: REF }).files.find((f) => f.name === 'part-0000.parquet')?.state).toBe('resume')
    const putsBefore = server.dataPuts('part-0000.parquet').length

    const r = await uploadDataset(planDatasetUpload({ dir, dataset: REF }), clientFor(server), UPLOAD)
    expect(server.sessions('part-0000.parquet')).toHaveLength(1)
    const again = server.dataPuts('part-0000.parquet').slice(putsBefore)
    expect(again[0].start).toBe(cut)
    expect(again.reduce((a, p) => a + p.bodyBytes, 0)).toBe(700 * KIB - cut)
    expect(r.files.find((f) => f.name === 'part-0000.parquet')).toMatchObject({ resumedFrom: cut, bytesSent: 700 * KIB - cut })
    expect(server.fileSha(REF, 1, 'part-0000.parquet')).toBe(sha(files['part-0000.parquet']))
    expect(existsSync(join(dir, STATE_FILE))).toBe(false)
  })

  it('stops at bad credentials before any upload, for a token and for a legacy key, and never shows the secret', async () => {
    const { dir } = lobFolder()
    const plan = planDatasetUpload({ dir, dataset: REF })
    const wrongToken = { kind: 'token', token: 'KGAT_wrong_secret_token', source: 'KAGGLE_API_TOKEN' } as const
    const e1 = await uploadDataset(plan, clientFor(server, wrongToken), UPLOAD).then(() => new Error('resolved'), (e: unknown) => e as Error)
    expect(e1).toBeInstanceOf(KaggleAuthError)
    expect(e1.message).toMatch(/^Kaggle rejected the credentials \(KAGGLE_API_TOKEN\): HTTP 401 from IntrospectToken/)
    const wrongKey = { kind: 'key', username: 'alice', key: 'wrong-key-secret', source: '/home/a/.kaggle/kaggle.json' } as const
    const e2 = await uploadDataset(plan, clientFor(server, wrongKey), UPLOAD).then(() => new Error('resolved'), (e: unknown) => e as Error)
    expect(e2).toBeInstanceOf(KaggleAuthError)
    expect(e2.message).toMatch(/^Kaggle rejected the credentials \(\/home\/a\/.kaggle\/kaggle.json\): HTTP 401 from GetDatasetStatus/)
    for (const e of [e1, e2]) expect(e.message).not.toMatch(/wrong_secret|wrong-key-secret/)
    expect(server.calls('StartBlobUpload')).toHaveLength(0)
    expect(server.puts).toHaveLength(0)
    expect(existsSync(join(dir, 'dataset-metadata.json'))).toBe(false)
  })

  it('uploads with a legacy key over HTTP Basic', async () => {
    const { dir } = lobFolder({ 'empty.parquet': 0 })
    const key = { kind: 'key', username: server.username, key: server.key, source: 'KAGGLE_USERNAME and KAGGLE_KEY' } as const
    const r = await uploadDataset(planDatasetUpload({ dir, dataset: REF, isPublic: true }), clientFor(server, key), UPLOAD)
    expect(r.action).toBe('create')
    expect(server.rpc.every((e) => e.auth === 'basic')).toBe(true)
    expect(server.rpc.map((e) => e.method)).not.toContain('IntrospectToken')
    expect(server.datasets.get(REF)?.isPrivate).toBe(false)
    expect(server.fileSha(REF, 1, 'empty.parquet')).toBe(sha(''))
  })
})

async function zipFolderCase(server: KaggleServer): Promise<void> {
  const { dir } = lobFolder()
  mkdirSync(join(dir, 'npy', 'deep'), { recursive: true })
  const inside: Record<string, Buffer> = { 'features.npy': bytes(300 * KIB, 'f'), 'ts.npy': bytes(40 * KIB, 't'), 'deep/x.bin': bytes(5, 'x') }
  for (const [n, b] of Object.entries(inside)) writeFileSync(join(dir, 'npy', n), b)
  writeFileSync(join(dir, 'npy', '.hidden'), 'no')

  const skip = planDatasetUpload({ dir, dataset: REF, dirMode: 'skip' })
  expect(skip.files.map((f) => f.name)).toEqual(['README.md', 'manifest.json', 'part-0000.parquet', 'part-0001.parquet'])
  expect(skip.skipped).toContainEqual({ name: 'npy/', reason: 'sub-folder, left out by --dir-mode skip' })

  const plan = planDatasetUpload({ dir, dataset: REF })
  const zipped = plan.files.find((f) => f.name === 'npy.zip')
  expect(zipped).toMatchObject({ state: 'new', archive: { folder: 'npy', files: 3 }, bytes: 340 * KIB + 5 })
  const result = await uploadDataset(plan, clientFor(server), UPLOAD)
  expect(result.files.map((f) => f.name)).toContain('npy.zip')
  const data = server.fileData(REF, 1, 'npy.zip')
  expect(data).toBeDefined()
  expect(await unzip(data as Buffer)).toEqual(Object.fromEntries(Object.entries(inside).sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, b]) => [n, sha(b)])))
  // Built in a hidden cache that is never uploaded, and removed once the dataset is created
  expect(existsSync(join(dir, `${STATE_FILE}.archives`))).toBe(false)
  expect(server.calls('StartBlobUpload').map((c) => (c.body as { name: string }).name)).not.toContain(`${STATE_FILE}.archives`)

  // The same folder zips to the same bytes (what lets an interrupted upload resume its session)
  const again = await uploadDataset(planDatasetUpload({ dir, dataset: REF, notes: 'same npy' }), clientFor(server), UPLOAD)
  expect(again.action).toBe('version')
  expect(server.fileSha(REF, 2, 'npy.zip')).toBe(sha(data as Buffer))

  // A file already named like the archive would be overwritten on Kaggle: refused before anything is sent
  writeFileSync(join(dir, 'npy.zip'), 'x')
  expect(() => planDatasetUpload({ dir, dataset: REF })).toThrow(/Cannot upload .*npy\/ as npy\.zip: the folder already has a file of that name/)
}
