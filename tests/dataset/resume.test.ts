// Determinism, --resume, refusals and exit codes of convert-lob (the built CLI, spawned per command)

import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { cli, tempDir, treeHash } from '../helpers.js'
import { convert, manifestOf, readParquet, SPOT, USDM } from './helpers.js'

describe('convert-lob determinism and --resume', () => {
  it('gives byte-identical shards for the same input, keeps verified shards and rewrites a corrupted one', () => {
    const dir = tempDir()
    const args = ['--every', '100ms', '--shard-rows', '500']
    const a = convert([SPOT, '--out', join(dir, 'a'), ...args], dir)
    const b = convert([SPOT, '--out', join(dir, 'b'), ...args], dir)
    expect(a.shards.length).toBe(7)
    const ha = treeHash(a.out)
    expect(treeHash(b.out)).toEqual(ha)
    expect(a.shards.map((s) => s.rows)).toEqual([500, 500, 500, 500, 500, 500, 457])

    // Corrupt shard 3 in place (same size): 0..2 are verified and kept, 3.. are written again
    const p3 = join(a.out, 'part-00003.parquet')
    const bytes = readFileSync(p3)
    bytes[Math.floor(bytes.length / 2)] ^= 0xff
    writeFileSync(p3, bytes)
    const before = [0, 1, 2].map((i) => statSync(join(a.out, `part-0000${i}.parquet`)).mtimeMs)
    const r = convert([SPOT, '--out', a.out, ...args, '--resume'], dir)
    expect(r.keptShards).toBe(3)
    expect(r.writtenShards).toBe(4)
    expect([0, 1, 2].map((i) => statSync(join(a.out, `part-0000${i}.parquet`)).mtimeMs)).toEqual(before)
    expect(treeHash(a.out)).toEqual(ha)

    // A complete dataset resumes to itself without writing a shard
    const again = convert([SPOT, '--out', a.out, ...args, '--resume'], dir)
    expect(again.keptShards).toBe(7)
    expect(again.writtenShards).toBe(0)
    expect(treeHash(a.out)).toEqual(ha)
  })

  it('resumes an interrupted run from .progress.json (a missing tail and a stray temp file)', () => {
    const dir = tempDir()
    const args = ['--every', '100ms', '--shard-rows', '400', '--levels', '10']
    const full = convert([USDM, '--out', join(dir, 'full'), ...args], dir)
    expect(full.shards.length).toBe(3)
    // What a run killed while writing shard 1 leaves: shard 0, the progress file naming it, a temp file
    const cut = join(dir, 'cut')
    cpSync(full.out, cut, { recursive: true })
    const m = manifestOf(full.out)
    const progress = { format: 'mercury-lob-progress', version: 1, options: m.options, inputs: m.sources.map((s) => `usdm-btcusdt_20230404.dat.gz:${s.bytes}`), shards: m.shards.slice(0, 1) }
    writeFileSync(join(cut, '.progress.json'), JSON.stringify(progress))
    for (const f of ['manifest.json', 'README.md', 'part-00001.parquet', 'part-00002.parquet']) rmSync(join(cut, f))
    writeFileSync(join(cut, '.part-00001.parquet.0123456789ab.tmp'), 'partial')
    const r = convert([USDM, '--out', cut, ...args, '--resume'], dir)
    expect(r.keptShards).toBe(1)
    expect(r.writtenShards).toBe(2)
    expect(treeHash(cut)).toEqual(treeHash(full.out))
  })

  it('refuses an output folder holding a dataset without --resume or --force, and a resume with other options', () => {
    const dir = tempDir()
    const out = join(dir, 'o')
    convert([USDM, '--out', out, '--levels', '5'], dir)
    const again = cli(['convert-lob', USDM, '--out', out, '--levels', '5'], dir)
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/Invalid --out: '.*' already holds a dataset .*--resume.*--force/)
    const other = cli(['convert-lob', USDM, '--out', out, '--levels', '6', '--resume'], dir)
    expect(other.code).toBe(2)
    expect(other.stderr).toMatch(/Invalid --resume: .* other inputs or options/)
    const forced = convert([USDM, '--out', out, '--levels', '6', '--force'], dir)
    expect(forced.rows).toBeGreaterThan(900)
    expect(manifestOf(out).options.levels).toBe(6)
  })

  it('assembles a recording shard from several buffered pieces with the same rows', async () => {
    const dir = tempDir()
    const args = ['--every', '100ms', '--shard-rows', '3000', '--levels', '5']
    const whole = convert([SPOT, '--out', join(dir, 'whole'), ...args], dir)
    // 400 kB holds 2048 rows of 23 columns: every 3000-row shard is written as two pieces, then joined
    const small = { MERCURY_LOB_BUFFER_BYTES: '400000' }
    const pieces = convert([SPOT, '--out', join(dir, 'pieces'), ...args], dir, small)
    const again = convert([SPOT, '--out', join(dir, 'again'), ...args], dir, small)
    expect(pieces.shards.map((s) => s.rows)).toEqual(whole.shards.map((s) => s.rows))
    expect(pieces.shards.map((s) => s.sha256)).toEqual(again.shards.map((s) => s.sha256))
    const a = await readParquet(whole.shards.map((s) => join(whole.out, s.file)))
    const b = await readParquet(pieces.shards.map((s) => join(pieces.out, s.file)))
    expect(b.rows).toEqual(a.rows)
    expect(readdirSync(pieces.out).filter((f) => f.includes('piece'))).toEqual([])
  })

  it('--shards K splits into K time-ordered shards', () => {
    const dir = tempDir()
    const r = convert([SPOT, '--out', join(dir, 'o'), '--shards', '4', '--levels', '3'], dir)
    expect(r.shards.length).toBe(4)
    const sizes = r.shards.map((s) => s.rows)
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(Math.ceil(r.rows / 4))
    for (let i = 1; i < 4; i++) expect(r.shards[i].ts_min).toBeGreaterThan(r.shards[i - 1].ts_max)
  })
})

describe('convert-lob errors (exit codes of the built CLI)', () => {
  it('names the bad flag with exit 2', () => {
    const dir = tempDir()
    const out = join(dir, 'o')
    const cases: [string[], RegExp][] = [
      [[SPOT, '--out', out, '--levels', '0'], /Invalid --levels: '0'/],
      [[SPOT, '--out', out, '--every', '7x'], /Invalid --every: '7x'/],
      [[SPOT, '--out', out, '--compression', 'zip'], /Invalid --compression: 'zip'/],
      [[SPOT, '--out', out, '--shards', '3', '--shard-rows', '10'], /Invalid --shards: give --shards or --shard-rows/],
      [[SPOT, '--out', out, '--instrument', 'BTCUSDT'], /Invalid --instrument: 'BTCUSDT'/],
      [[SPOT, '--out', out, '--input-kind', 'csv'], /Invalid --input-kind: 'csv'/],
      [[SPOT, '--out', out, '--every', 'raw'], /Invalid --every: 'raw' keeps every snapshot/],
      [[SPOT], /Missing --out/],
      [[join(dir, 'nope.gz'), '--out', out], /Invalid <input>: '.*nope\.gz' matches no file/],
      [[join(dir, '*.jsonl'), '--out', out], /Invalid <input>: '.*\*\.jsonl' matches no file/],
    ]
    for (const [args, re] of cases) {
      const r = cli(['convert-lob', ...args], dir)
      expect({ args, code: r.code }).toEqual({ args, code: 2 })
      expect(r.stderr).toMatch(re)
    }
  })

  it('fails a truncated gzip with exit 1 and one line', () => {
    const dir = tempDir()
    const bad = join(dir, 'cut.gz')
    const b = readFileSync(SPOT)
    writeFileSync(bad, b.subarray(0, Math.floor(b.length * 0.6)))
    const r = cli(['convert-lob', bad, '--out', join(dir, 'o')], dir)
    expect(r.code).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/Corrupt gzip input .*cut\.gz: unexpected end of file/)
  })
})
