// Small building blocks shared by indicator implementations (batch and streaming)
import { SCRATCH_ROWS, Slabs, slabKernels, type SlabKernels } from './simd.js'

/**
 * Reusable memory for batch runs: `runBatch(def, input, params, { arena })` takes every output and every array the
 * definition allocates through `output`, `nans` or `scratch` from the arena instead of from the heap. Arrays it
 * hands out stay the arena's: they are valid until `reset()`, after which the next run with this arena reuses and
 * overwrites them. Reset once the outputs are no longer needed (stored, copied, or dropped); without a reset the
 * arena grows by one run's arrays per run, as fresh allocation would, and keeps them alive.
 *
 * What this saves is the kernel's first touch of fresh pages: on some machines filling a newly allocated
 * 1,000,000-row Float64Array costs more in page faults than most indicators cost to compute. A caller computing
 * many indicators over the same rows and keeping only what it stores (or one indicator over many symbols) can run
 * them all through one arena, resetting it between runs, and touch each page once. The arena grows to what the
 * largest run takes: a definition may use more scratch when it has one (`inArena`; confluence then computes its
 * eleven components with their batch forms, 16 more row-length arrays, rather than their streams).
 *
 * Arrays of 4,096 rows and more live in slabs of WebAssembly memory, where the few kernels that have a WebAssembly
 * SIMD form (simd.ts) write their outputs directly; the values are the same bit for bit either way.
 */
export class BatchArena {
  private readonly free = new Map<number, Float64Array[]>()
  private readonly freeBytes = new Map<number, Uint8Array[]>()
  private readonly used: Float64Array[] = []
  private readonly usedBytes: Uint8Array[] = []
  private readonly slabs = new Slabs()
  private held = 0

  /** An array of `n` values from the arena, its contents left from an earlier run (zero when newly allocated) */
  take(n: number): Float64Array {
    const a = this.free.get(n)?.pop() ?? this.grow(n)
    this.used.push(a)
    return a
  }

  /** A byte array of `n` entries from the arena, its contents unspecified */
  takeBytes(n: number): Uint8Array {
    let a = this.freeBytes.get(n)?.pop()
    if (a === undefined) {
      a = new Uint8Array(n)
      this.held += n
    }
    this.usedBytes.push(a)
    return a
  }

  /** Makes every array handed out since the last reset available again: they must no longer be read */
  reset(): void {
    for (const a of this.used) pushTo(this.free, a)
    for (const a of this.usedBytes) pushTo(this.freeBytes, a)
    this.used.length = 0
    this.usedBytes.length = 0
  }

  /** Bytes of the arrays held by the arena, in use or free (its slabs reserve some more: see simd.ts) */
  get bytes(): number {
    return this.held
  }

  private grow(n: number): Float64Array {
    this.held += n * 8
    return this.slabs.take(n) ?? new Float64Array(n)
  }
}

function pushTo<T extends { length: number }>(pool: Map<number, T[]>, a: T): void {
  const list = pool.get(a.length)
  if (list) list.push(a)
  else pool.set(a.length, [a])
}

/** The arena of the batch run in progress, if it has one; set only by `withArena` */
let current: BatchArena | undefined

/**
 * Runs `fn` with `arena` (or, when undefined, the heap) behind `output`, `nans` and `scratch`, and restores the
 * previous one after: batch runs are synchronous, so a nested run without an arena allocates fresh arrays again
 */
export function withArena<T>(arena: BatchArena | undefined, fn: () => T): T {
  const prev = current
  current = arena
  try {
    return fn()
  } finally {
    current = prev
  }
}

/** `n` NaNs: from the arena while a batch runs with one, else a new array */
export function nans(n: number): Float64Array {
  return (current === undefined ? new Float64Array(n) : current.take(n)).fill(NaN)
}

/**
 * A batch output of `n` rows whose first `lead` rows are NaN. The rest is left to the caller, who writes every row
 * once: filling the whole array with NaN first would be a second pass over memory that is often fresh from the
 * kernel, where every first touch of a page costs a fault. From the arena while a batch runs with one, so the rows
 * past `lead` may hold an earlier run's values until written
 */
export function output(n: number, lead: number): Float64Array {
  const out = current === undefined ? new Float64Array(n) : current.take(n)
  if (lead > 0) out.fill(NaN, 0, Math.min(lead, n))
  return out
}

/**
 * A batch scratch array of `n` values that the caller writes before it reads any of them: from the arena while a
 * batch runs with one (holding an earlier run's values), else a new zero-filled array
 */
export function scratch(n: number): Float64Array {
  return current === undefined ? new Float64Array(n) : current.take(n)
}

/** A byte scratch array of `n` entries, written before it is read; from the arena while a batch runs with one */
export function scratchBytes(n: number): Uint8Array {
  return current === undefined ? new Uint8Array(n) : current.takeBytes(n)
}

/** Smallest power of two at or above `n` (at least 1), so that ring positions wrap with a mask */
export function pow2(n: number): number {
  let cap = 1
  while (cap < n) cap *= 2
  return cap
}

/** Fixed-size ring buffer of the last `size` values. */
export class Ring {
  private readonly buf: Float64Array
  private head = 0
  count = 0
  constructor(readonly size: number) {
    this.buf = new Float64Array(Math.max(1, size))
  }
  /** Adds a value; returns the value that fell out (NaN while not full). */
  push(v: number): number {
    const head = this.head
    let old = NaN
    if (this.count === this.size) old = this.buf[head]
    else this.count++
    this.buf[head] = v
    this.head = head + 1 === this.size ? 0 : head + 1
    return old
  }
  get full(): boolean {
    return this.count === this.size
  }
}

/**
 * Streaming maximum of the last `size` values, as TA-Lib's window scans find it: the extreme and its row are kept,
 * and the window is rescanned only when that row falls out of it. Ties go to the most recent row, as in TA_AROON,
 * which also keeps the extreme in the window as long as possible. Rows wrap in a power-of-two ring with a mask.
 * O(1) for most rows; a rescan costs O(size) and is needed only when the extreme leaves the window
 */
export class RollingMax {
  private readonly buf: Float64Array
  private readonly mask: number
  private n = 0
  /** Row (0 = first pushed) of the maximum */
  index = 0
  value = -Infinity
  constructor(readonly size: number) {
    const cap = pow2(size)
    this.buf = new Float64Array(cap)
    this.mask = cap - 1
  }
  push(v: number): number {
    const t = this.n++
    const buf = this.buf
    const mask = this.mask
    buf[t & mask] = v
    const start = t - this.size + 1
    if (this.index < start) {
      let best = buf[start & mask]
      let at = start
      for (let i = start + 1; i <= t; i++) {
        const w = buf[i & mask]
        if (w >= best) {
          best = w
          at = i
        }
      }
      this.value = best
      this.index = at
    } else if (v >= this.value) {
      this.value = v
      this.index = t
    }
    return this.value
  }
}

/** Streaming minimum of the last `size` values; RollingMax's mirror (ties to the most recent row) */
export class RollingMin {
  private readonly buf: Float64Array
  private readonly mask: number
  private n = 0
  /** Row (0 = first pushed) of the minimum */
  index = 0
  value = Infinity
  constructor(readonly size: number) {
    const cap = pow2(size)
    this.buf = new Float64Array(cap)
    this.mask = cap - 1
  }
  push(v: number): number {
    const t = this.n++
    const buf = this.buf
    const mask = this.mask
    buf[t & mask] = v
    const start = t - this.size + 1
    if (this.index < start) {
      let best = buf[start & mask]
      let at = start
      for (let i = start + 1; i <= t; i++) {
        const w = buf[i & mask]
        if (w <= best) {
          best = w
          at = i
        }
      }
      this.value = best
      this.index = at
    } else if (v <= this.value) {
      this.value = v
      this.index = t
    }
    return this.value
  }
}

/**
 * TA-Lib's scan for the extremes of a sliding window, which the batch kernels (stoch, willr, aroon, donchian,
 * ichimoku, ...) run with the extreme and its row in local variables: for row i, with the window i-size+1..i, when
 * the extreme's row has left the window it is rescanned (argMax / argMin), else a new value at least as large (as
 * small) takes its place, so ties go to the latest row. RollingMax and RollingMin do the same over a ring.
 *
 * Row of the largest of a[from..to], the latest on ties: the rescan of a window whose extreme left it
 */
export function argMax(a: Float64Array, from: number, to: number): number {
  let at = from
  let best = a[from]
  for (let i = from + 1; i <= to; i++) {
    if (a[i] >= best) {
      best = a[i]
      at = i
    }
  }
  return at
}

/** Row of the smallest of a[from..to], the latest on ties */
export function argMin(a: Float64Array, from: number, to: number): number {
  let at = from
  let best = a[from]
  for (let i = from + 1; i <= to; i++) {
    if (a[i] <= best) {
      best = a[i]
      at = i
    }
  }
  return at
}

/** TA_INT_EMA from the first row: seeded with the simple mean of the first `period` values, then smoothed by k */
export class SeededEma {
  private sum = 0
  private n = 0
  value = NaN
  constructor(
    readonly period: number,
    readonly k: number = 2 / (period + 1),
  ) {}
  /** Feeds one value; returns the EMA, NaN for the first period-1 values */
  push(v: number): number {
    if (this.n < this.period) {
      this.sum += v
      if (++this.n === this.period) this.value = this.sum / this.period
      return this.value
    }
    this.value = (v - this.value) * this.k + this.value
    return this.value
  }
}

/** Rows per call of a batch kernel's `run`; see `inChunks` */
export const CHUNK = 4096

/** A batch loop whose state lives in fields between calls: `run(from, to)` computes rows [from, to) */
export interface ChunkedKernel {
  run(from: number, to: number): void
}

/**
 * Runs `k` over rows [from, n) in chunks of CHUNK rows. V8 compiles a loop that is hot on its first call while it
 * runs (on-stack replacement), and later calls may keep entering that code, which can be several times slower
 * than the function compiled from its entry; a kernel called once per chunk is compiled from its entry after a
 * few chunks, with the feedback of whole calls, and runs at that speed on every batch. Each call loads its state
 * from fields into local variables and stores it back at the end
 */
export function inChunks(k: ChunkedKernel, from: number, n: number): void {
  for (let i = from; i < n; i += CHUNK) k.run(i, Math.min(n, i + CHUNK))
}

/** The longest window WindowExtremes hands to its kernel: rows back past a chunk's first row, plus one */
const EXT_MAX_BACK = 508
/** Rows of each of WindowExtremes' buffers: a chunk, its window's rows before it, rounding to 4 rows */
const EXT_CAP = CHUNK + EXT_MAX_BACK + 4
/** Scratch rows before the highs' buffer, so that the kernel's shifted reads stay inside the slab */
const EXT_GUARD = EXT_MAX_BACK + 4
if (EXT_GUARD + 2 * EXT_CAP > SCRATCH_ROWS) throw new Error('WindowExtremes: the scratch region is too small')

/**
 * The highest high and the lowest low of the `per` rows ending at each row, one chunk of rows at a time (`fill`), as
 * TA-Lib's window scans find them (see argMax): for stoch, stochf, willr and donchian, which need the extremes'
 * values and not their rows.
 *
 * When the output lies in a slab of a BatchArena, the slab's `maxMinShift` kernel computes them without a branch:
 * both chunks are copied into the scratch region, and ceil(log2(per)) passes replace each row by the larger (smaller)
 * of itself and the row `shift` back, for shifts 1, 2, 4, ... and a last one of per minus the largest power of two
 * not above per, so that every row ends with the extreme of its whole window. A scan's branches on whether a new
 * row is a new extreme are taken at random on real prices, and V8 compiles Math.max and the comparisons to branches
 * too: the scan costs about 13 ns a row, the kernel about 2. Ties keep the later row in both, so the values are the
 * same bit for bit (also for -0 against 0). The kernel also sums v - v over its input; a chunk with a non-finite
 * value is done again by the scan, which takes over from there (starting with a rescan of the window, which on
 * finite rows before it gives what the scan would have held), so NaN and infinities meet TA-Lib's comparisons as
 * before. Anywhere else the scan runs in JS, over the same buffers
 */
export class WindowExtremes {
  /** The highest high of row i of the last fill at hh[i - base], for rows with a whole window */
  readonly hh: Float64Array
  /** The lowest low likewise */
  readonly ll: Float64Array
  /** Row whose values sit at index 0 of hh and ll: the last fill's end minus their length */
  base = 0
  private kernels: SlabKernels | undefined
  // The scan's extremes and their rows (TA-Lib's)
  private hv = -Infinity
  private hAt = 0
  private lv = Infinity
  private lAt = 0
  constructor(
    private readonly high: Float64Array,
    private readonly low: Float64Array,
    private readonly per: number,
    out: Float64Array,
  ) {
    this.kernels = per - 1 <= EXT_MAX_BACK ? slabKernels(out) : undefined
    if (this.kernels !== undefined) {
      const s = this.kernels.scratch
      this.hh = s.subarray(EXT_GUARD, EXT_GUARD + EXT_CAP)
      this.ll = s.subarray(EXT_GUARD + EXT_CAP, EXT_GUARD + 2 * EXT_CAP)
    } else {
      this.hh = new Float64Array(CHUNK)
      this.ll = new Float64Array(CHUNK)
    }
  }

  /** Fills hh and ll for rows [from, to): consecutive calls, from 0, at most CHUNK rows each */
  fill(from: number, to: number): void {
    this.base = to - this.hh.length
    if (this.kernels !== undefined) {
      if (this.fillByKernel(this.kernels, from, to) === 0) return
      // The scan takes over. Its extremes' rows are still row 0's, so past the first chunk it starts by rescanning
      this.kernels = undefined
    }
    this.scan(from, to)
  }

  /** The kernel's passes over rows [from, to); returns their finite-input check */
  private fillByKernel(k: SlabKernels, from: number, to: number): number {
    const { high, low, per } = this
    const s = k.scratch
    // The chunk and the per - 1 rows before it, rounded up to 4 rows, ending at the buffers' ends
    const rows = (to - from + per - 1 + 3) & -4
    const first = to - rows
    const h = EXT_GUARD + EXT_CAP - rows
    const l = h + EXT_CAP
    if (first >= 0) {
      s.set(high.subarray(first, to), h)
      s.set(low.subarray(first, to), l)
    } else {
      // Rows before the series: windows nobody reads, but the check sums them
      s.fill(0, h, h - first)
      s.fill(0, l, l - first)
      s.set(high.subarray(0, to), h - first)
      s.set(low.subarray(0, to), l - first)
    }
    let check = 0
    let w = 1
    for (; 2 * w <= per; w *= 2) check += k.maxMinShift(h * 8, l * 8, rows * 8, w * 8)
    if (per > w || w === 1) check += k.maxMinShift(h * 8, l * 8, rows * 8, (per - w) * 8)
    return check
  }

  private scan(from: number, to: number): void {
    const { high, low, per, hh: H, ll: L, base } = this
    let { hv, hAt, lv, lAt } = this
    for (let i = from; i < to; i++) {
      const start = i - per + 1
      if (hAt < start) {
        hAt = argMax(high, start, i)
        hv = high[hAt]
      } else if (high[i] >= hv) {
        hv = high[i]
        hAt = i
      }
      if (lAt < start) {
        lAt = argMin(low, start, i)
        lv = low[lAt]
      } else if (low[i] <= lv) {
        lv = low[i]
        lAt = i
      }
      H[i - base] = hv
      L[i - base] = lv
    }
    this.hv = hv
    this.hAt = hAt
    this.lv = lv
    this.lAt = lAt
  }
}

/** Rows per call of `chunkSum` */
const SUM_CHUNK = 4096

/**
 * Sum of c[from..to), to - from a multiple of 8, over eight running sums so that the adds do not wait on each
 * other. A short loop called once per chunk rather than one loop over the whole column: V8 then optimises it as a
 * function with the feedback of whole calls, where a single long loop would be compiled mid-run (on-stack
 * replacement) and fall back to slower code on every call at the first statement after it
 */
function chunkSum(c: Float64Array, from: number, to: number): number {
  let s0 = 0
  let s1 = 0
  let s2 = 0
  let s3 = 0
  let s4 = 0
  let s5 = 0
  let s6 = 0
  let s7 = 0
  for (let i = from; i < to; i += 8) {
    s0 += c[i]
    s1 += c[i + 1]
    s2 += c[i + 2]
    s3 += c[i + 3]
    s4 += c[i + 4]
    s5 += c[i + 5]
    s6 += c[i + 6]
    s7 += c[i + 7]
  }
  return s0 + s1 + (s2 + s3) + (s4 + s5 + (s6 + s7))
}

/**
 * Sum of every value of `c` in no particular order, about one add per value: finite only if every value is (or
 * not, rarely, from overflow). runBatch's scan for non-finite inputs, and a `batchIfFinite` check of the columns
 * its kernel does not read
 */
export function columnSum(c: Float64Array): number {
  const n = c.length
  let s = 0
  let i = 0
  for (const head = n & 7; i < head; i++) s += c[i]
  for (; i < n; i += SUM_CHUNK) s += chunkSum(c, i, Math.min(n, i + SUM_CHUNK))
  return s
}

/**
 * `batchIfFinite`'s answer from a kernel's check value: a sum over every input value of x * 0 (or of terms that any
 * non-finite input makes non-finite), so it is finite, and `check - check` 0, exactly when every input was finite
 * (or, rarely, not finite only because a term overflowed: then runBatch takes the slower path, with the same values)
 */
export function ifFinite(outs: Float64Array[], check: number): Float64Array[] | undefined {
  return check - check === 0 ? outs : undefined
}

/** Whether a batch is running with an arena: definitions may then trade scratch memory for speed */
export function inArena(): boolean {
  return current !== undefined
}
