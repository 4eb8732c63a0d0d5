import { existsSync, readdirSync, statSync } from 'node:fs'
import { join, sep } from 'node:path'

const MAGIC = /[*?[]/

function segmentRegex(seg: string): RegExp {
  let re = ''
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]
    if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else if (c === '[') {
      const j = seg.indexOf(']', i)
      if (j < 0) re += '\\['
      else {
        re += seg.slice(i, j + 1)
        i = j
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

/** Expands a path with `*`, `?`, `[...]` and `**` into existing files, sorted; a plain path returns itself. */
export function expandGlob(pattern: string): string[] {
  if (!MAGIC.test(pattern)) return [pattern]
  const parts = pattern.split(/[\\/]/)
  const absolute = pattern.startsWith('/')
  const out: string[] = []
  const walk = (dir: string, idx: number) => {
    if (idx === parts.length) {
      if (existsSync(dir) && statSync(dir).isFile()) out.push(dir)
      return
    }
    const seg = parts[idx]
    if (seg === '') return walk(dir, idx + 1)
    if (!MAGIC.test(seg)) return walk(dir === '' ? seg : join(dir, seg), idx + 1)
    const base = dir === '' ? '.' : dir
    if (!existsSync(base) || !statSync(base).isDirectory()) return
    if (seg === '**') {
      walk(dir, idx + 1)
      for (const e of readdirSync(base, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(base, e.name), idx)
      }
      return
    }
    const re = segmentRegex(seg)
    for (const e of readdirSync(base)) {
      if (re.test(e)) walk(dir === '' ? e : join(dir, e), idx + 1)
    }
  }
  walk(absolute ? sep : '', 0)
  return [...new Set(out)].sort()
}
