// Covered ranges: sorted, disjoint half-open µs ranges of a dataset known to be complete in the lake. A backfill
// fetches only what they do not cover and extends them as it commits.

/** `[from, to)` complete in the lake; `nextId` is the first id after it for id-paged kinds. */
export interface Covered {
  readonly from: number
  readonly to: number
  readonly nextId?: number | undefined
}

/** Adds a range, merging overlapping and touching ones; the merged range keeps the `nextId` of its end. */
export function addCovered(list: readonly Covered[], r: Covered): Covered[] {
  if (!(r.to > r.from)) return [...list]
  const out: Covered[] = []
  let cur: Covered = r
  for (const c of list) {
    if (c.to < cur.from || c.from > cur.to) {
      out.push(c)
      continue
    }
    const end = c.to > cur.to ? c : c.to < cur.to ? cur : cur.nextId !== undefined ? cur : c
    cur = { from: Math.min(c.from, cur.from), to: end.to, ...(end.nextId !== undefined ? { nextId: end.nextId } : {}) }
  }
  out.push(cur)
  return out.sort((a, b) => a.from - b.from)
}

/** The parts of `[from, to)` not covered, in order; each starting where a covered range ends carries its `nextId`. */
export function uncovered(from: number, to: number, list: readonly Covered[]): { from: number; to: number; fromId?: number | undefined }[] {
  const out: { from: number; to: number; fromId?: number | undefined }[] = []
  let cursor = from
  let fromId: number | undefined
  for (const c of [...list].sort((a, b) => a.from - b.from)) {
    if (c.to <= cursor) {
      if (c.to === cursor && c.nextId !== undefined) fromId = c.nextId
      continue
    }
    if (c.from >= to) break
    if (c.from > cursor) out.push({ from: cursor, to: Math.min(c.from, to), ...(fromId !== undefined ? { fromId } : {}) })
    cursor = c.to
    fromId = c.nextId
    if (cursor >= to) break
  }
  if (cursor < to) out.push({ from: cursor, to, ...(fromId !== undefined ? { fromId } : {}) })
  return out
}
