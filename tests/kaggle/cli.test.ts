// The built CLI (`npm run build` first) against the local Kaggle server: exit codes, --json, dry runs that send
// nothing, and a kill -9 in the middle of a file followed by a run that resumes it.

import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { STATE_FILE } from '../../src/lib/kaggle/state.js'
import { treeHash } from '../helpers.js'
import { startKaggleServer, type KaggleServer } from '../servers/kaggle.js'
import { MIB, home, kernelFolder, lobFolder, runCli, sha, spawnCli } from './helpers.js'

const REF = 'alice/btc-lob-sample'
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('mercury:'))

describe('mercury kaggle-upload', () => {
  let server: KaggleServer
  let env: Record<string, string>
  beforeEach(async () => {
    server = await startKaggleServer()
    env = { MERCURY_KAGGLE_API_URL: server.url, KAGGLE_API_TOKEN: server.token }
  })
  afterEach(async () => {
    await server.close()
  })

  it('without --yes prints the plan and sends nothing, writes nothing', async () => {
    const { dir, files } = lobFolder()
    const before = treeHash(dir)
    const text = await runCli(['kaggle-upload', dir, '--dataset', REF], env)
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/^Dry run: nothing was sent and nothing written/)
    expect(text.stdout).toContain(`Dataset: ${REF} -> https://www.kaggle.com/datasets/${REF} (private if new)`)
    expect(text.stdout).toContain('create or new version, decided at upload time')
    expect(text.stdout).toMatch(/part-0000\.parquet\s*│\s*716,800\s*│\s*new/)
    expect(text.stdout).toContain('Credentials: KAGGLE_API_TOKEN (token)')
    const json = await runCli(['kaggle-upload', dir, '--dataset', REF, '--json'], env)
    expect(json.code, json.stderr).toBe(0)
    const plan = JSON.parse(json.stdout)
    expect(plan).toMatchObject({
      dryRun: true, kind: 'dataset', action: null, dataset: REF, totalBytes: Object.values(files).reduce((a, b) => a + b.length, 0),
      credentials: { kind: 'token', source: 'KAGGLE_API_TOKEN' }, credentialsProblem: null,
    })
    expect(plan.files.map((f: { name: string }) => f.name)).toEqual(['README.md', 'manifest.json', 'part-0000.parquet', 'part-0001.parquet'])
    expect(json.stdout).not.toContain(server.token)
    expect(server.requests).toEqual([])
    expect(treeHash(dir)).toEqual(before)
  })

  it('--check adds only the read-only requests to a dry run', async () => {
    const { dir } = lobFolder()
    const r = await runCli(['kaggle-upload', dir, '--dataset', REF, '--check', '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ dryRun: true, action: 'create' })
    expect(server.rpc.map((e) => e.method)).toEqual(['IntrospectToken', 'GetDatasetStatus'])
    expect(server.puts).toEqual([])
  })

  it('creates the dataset with --yes, then a new version with the notes on the second run', async () => {
    const { dir, files } = lobFolder()
    const first = await runCli(['kaggle-upload', dir, '--dataset', REF, '--yes', '--json'], env)
    expect(first.code, first.stderr).toBe(0)
    const r1 = JSON.parse(first.stdout)
    expect(r1).toMatchObject({ dryRun: false, kind: 'dataset', action: 'create', url: `https://www.kaggle.com/datasets/${REF}`, bytesSent: r1.totalBytes })
    expect(first.stdout + first.stderr).not.toContain(server.token)
    for (const [name, b] of Object.entries(files)) expect(server.fileSha(REF, 1, name)).toBe(sha(b))
    expect(existsSync(join(dir, 'dataset-metadata.json'))).toBe(true)
    expect(existsSync(join(dir, STATE_FILE))).toBe(false)

    const second = await runCli(['kaggle-upload', dir, '--dataset', REF, '--notes', 'March data', '--yes'], env)
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout).toMatch(new RegExp(`^New version of ${REF}: https://www.kaggle.com/datasets/${REF}\\n`))
    expect(second.stdout).toMatch(/Uploaded 4 files/)
    expect(server.calls('CreateDatasetVersion')).toHaveLength(1)
    expect(server.datasets.get(REF)?.versions.map((v) => v.notes)).toEqual([null, 'March data'])
  })

  it('resumes after kill -9 in the middle of a file: the same session, only the remaining bytes', async () => {
    const size = 3 * MIB
    const { dir, files } = lobFolder({ 'big.parquet': size })
    const cut = Math.floor(1.5 * MIB) + 4321
    server.fault({ name: 'big.parquet', stallAtBytes: cut })
    const child = spawnCli(['kaggle-upload', dir, '--dataset', REF, '--yes', '--chunk-mib', '1'], env)
    server.onStall = () => child.kill('SIGKILL')
    const exit = await new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)))
    expect(exit).toBe('SIGKILL')
    expect(server.calls('CreateDataset')).toHaveLength(0)
    const state = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8'))
    expect(state.files['big.parquet']).toMatchObject({ done: false, size })
    expect(statSync(join(dir, STATE_FILE)).mode & 0o777).toBe(0o600)
    // The killed PUT's socket closes on the server side once the child is gone
    await new Promise((r) => setTimeout(r, 100))
    expect(server.sessions('big.parquet')[0].committed).toBe(cut)
    const putsBefore = server.dataPuts('big.parquet').length

    const plan = await runCli(['kaggle-upload', dir, '--dataset', REF, '--json'], env)
    expect(JSON.parse(plan.stdout).files.find((f: { name: string }) => f.name === 'big.parquet').state).toBe('resume')

    const again = await runCli(['kaggle-upload', dir, '--dataset', REF, '--yes', '--json', '--chunk-mib', '1'], env)
    expect(again.code, again.stderr).toBe(0)
    const result = JSON.parse(again.stdout)
    expect(result.files.find((f: { name: string }) => f.name === 'big.parquet')).toMatchObject({ resumedFrom: cut, bytesSent: size - cut, restarts: 0 })
    expect(server.sessions('big.parquet')).toHaveLength(1)
    const resumed = server.dataPuts('big.parquet').slice(putsBefore)
    expect(resumed[0].start).toBe(cut)
    expect(resumed.reduce((a, p) => a + p.bodyBytes, 0)).toBe(size - cut)
    expect(server.fileSha(REF, 1, 'big.parquet')).toBe(sha(files['big.parquet']))
    expect(existsSync(join(dir, STATE_FILE))).toBe(false)
  })

  it('starts a file over when the session from the state file has expired', async () => {
    const size = 2 * MIB
    const { dir, files } = lobFolder({ 'big.parquet': size })
    server.fault({ name: 'big.parquet', stallAtBytes: MIB + 5 })
    const child = spawnCli(['kaggle-upload', dir, '--dataset', REF, '--yes', '--chunk-mib', '1'], env)
    server.onStall = () => child.kill('SIGKILL')
    await new Promise((resolve) => child.on('close', resolve))
    server.expire('big.parquet')
    const again = await runCli(['kaggle-upload', dir, '--dataset', REF, '--yes', '--json'], env)
    expect(again.code, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout).files.find((f: { name: string }) => f.name === 'big.parquet')).toMatchObject({ restarts: 1, bytesSent: size })
    expect(server.sessions('big.parquet')).toHaveLength(2)
    expect(server.fileSha(REF, 1, 'big.parquet')).toBe(sha(files['big.parquet']))
  })

  it('bad credentials: one line, exit 1, no secret shown, nothing uploaded', async () => {
    const { dir } = lobFolder()
    const secret = 'KGAT_this_is_a_wrong_secret'
    const r = await runCli(['kaggle-upload', dir, '--dataset', REF, '--yes'], { ...env, KAGGLE_API_TOKEN: secret })
    expect(r.code).toBe(1)
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(/^mercury: Kaggle rejected the credentials \(KAGGLE_API_TOKEN\): HTTP 401 from IntrospectToken/)])
    expect(r.stdout + r.stderr).not.toContain(secret)
    expect(server.calls('StartBlobUpload')).toHaveLength(0)
    expect(server.puts).toHaveLength(0)
    const basic = await runCli(['kaggle-upload', dir, '--dataset', REF, '--yes'], {
      MERCURY_KAGGLE_API_URL: server.url, KAGGLE_USERNAME: 'alice', KAGGLE_KEY: 'wrong-key-secret',
    })
    expect(basic.code).toBe(1)
    expect(errorLines(basic.stderr)[0]).toMatch(/Kaggle rejected the credentials \(KAGGLE_USERNAME and KAGGLE_KEY\): HTTP 401 from GetDatasetStatus/)
    expect(basic.stderr).not.toContain('wrong-key-secret')
    expect(server.calls('StartBlobUpload')).toHaveLength(0)
    expect(server.puts).toHaveLength(0)
  })

  it.skipIf(process.platform === 'win32')('refuses a group-readable kaggle.json with chmod 600 and sends nothing; a private one works', async () => {
    const { dir } = lobFolder()
    const h = home({ username: server.username, key: server.key, mode: 0o644 })
    const path = join(h, '.kaggle', 'kaggle.json')
    const r = await runCli(['kaggle-upload', dir, '--dataset', REF, '--yes'], { MERCURY_KAGGLE_API_URL: server.url, HOME: h })
    expect(r.code).toBe(1)
    expect(errorLines(r.stderr)).toEqual([`mercury: Refusing Kaggle credentials in ${path}: group or others have access to it (mode 644). Run: chmod 600 ${path}`])
    expect(server.requests).toEqual([])
    const ok = await runCli(['kaggle-upload', dir, '--dataset', REF, '--yes', '--json'], {
      MERCURY_KAGGLE_API_URL: server.url, HOME: home({ username: server.username, key: server.key, mode: 0o600 }),
    })
    expect(ok.code, ok.stderr).toBe(0)
    expect(JSON.parse(ok.stdout).credentials).toEqual({ kind: 'key', source: expect.stringMatching(/kaggle\.json$/), username: 'alice' })
  })

  it('answers bad input with one line and exit code 2, before sending anything', async () => {
    const { dir } = lobFolder()
    const cases: [string[], RegExp][] = [
      [['kaggle-upload'], /Missing <dir>: pass a dataset folder, or --kernel <dir>/],
      [['kaggle-upload', dir], /Missing --dataset: pass OWNER\/SLUG/],
      [['kaggle-upload', dir, '--dataset', 'btc'], /Invalid --dataset: 'btc'. Expected OWNER\/SLUG/],
      [['kaggle-upload', dir, '--dataset', REF, '--title', 'BTC'], /Invalid --title: 'BTC'. Expected 6 to 50 characters, was 3/],
      [['kaggle-upload', dir, '--dataset', REF, '--subtitle', 'short'], /Invalid --subtitle: 'short'/],
      [['kaggle-upload', join(dir, 'nope'), '--dataset', REF], /Invalid <dir>: '.*nope' is not a folder/],
      [['kaggle-upload', dir, '--kernel', dir], /Invalid <dir>: .* Expected no dataset folder with --kernel/],
      [['kaggle-upload', dir, '--dataset', REF, '--accelerator', 'TpuV5E8'], /Invalid --accelerator without --kernel/],
      [['kaggle-upload', dir, '--dataset', REF, '--api-url', 'ftp://x'], /Invalid --api-url: 'ftp:\/\/x'. Expected an http\(s\) URL/],
      [['kaggle-upload', '--kernel', dir], /has no kernel-metadata.json/],
      [['kaggle-upload', dir, '--dataset', REF, '--dir-mode', 'tar'], /Invalid --dir-mode: 'tar'. Expected zip or skip/],
    ]
    for (const [args, message] of cases) {
      const r = await runCli(args, env)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2)
      expect(errorLines(r.stderr)[0]).toMatch(message)
    }
    expect(server.requests).toEqual([])
  })

  it('pushes a kernel: dry run sends nothing; --yes sends SaveKernel with the TPU shape; --wait polls to COMPLETE', async () => {
    await server.close()
    server = await startKaggleServer({ kernelStatuses: ['RUNNING', 'COMPLETE'] })
    env = { MERCURY_KAGGLE_API_URL: server.url, KAGGLE_API_TOKEN: server.token }
    const dir = kernelFolder()
    const dry = await runCli(['kaggle-upload', '--kernel', dir, '--accelerator', 'TpuV5E8'], env)
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stdout).toMatch(/^Dry run: nothing was sent/)
    expect(dry.stdout).toContain('Kernel: alice/mercury-mamba-lob -> https://www.kaggle.com/code/alice/mercury-mamba-lob (private)')
    expect(dry.stdout).toContain('Machine: TpuV5E8 (from --accelerator); enableTpu true, enableGpu false, internet on')
    expect(server.requests).toEqual([])

    const r = await runCli(['kaggle-upload', '--kernel', dir, '--accelerator', 'TpuV5E8', '--session-timeout', '7200', '--yes', '--wait', '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({
      dryRun: false, kind: 'kernel', url: 'https://www.kaggle.com/code/alice/mercury-mamba-lob', versionNumber: 1, status: 'COMPLETE', machineShape: 'TpuV5E8',
    })
    expect(out.request.text).toBeUndefined()
    expect(server.kernels[0].request).toEqual({
      slug: 'alice/mercury-mamba-lob', newTitle: 'Mercury Mamba LOB', text: 'print("train")\n', language: 'python', kernelType: 'script',
      isPrivate: true, enableGpu: false, enableTpu: true, enableInternet: true, datasetDataSources: ['alice/btc-lob-l10'],
      competitionDataSources: [], kernelDataSources: [], modelDataSources: [], categoryIds: [], machineShape: 'TpuV5E8', sessionTimeoutSeconds: 7200,
    })
    expect(server.rpc.map((e) => e.method)).toEqual(['IntrospectToken', 'SaveKernel', 'GetKernelSessionStatus', 'GetKernelSessionStatus'])
  }, 60_000)
})
