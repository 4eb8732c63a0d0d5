// Small building blocks shared by indicator implementations (batch and streaming)

export function nans(n: number): Float64Array {
  return new Float64Array(n).fill(NaN)
}

/**
 * A batch output of `n` rows whose first `lead` rows are NaN. The rest is left to the caller, who writes every row
 * once: filling the whole array with NaN first would be a second pass over memory that is often fresh from the
 * kernel, where every first touch of a page costs a fault
 */
export function output(n: number, lead: number): Float64Array {
  const out = new Float64Array(n)
  if (lead > 0) out.fill(NaN, 0, Math.min(lead, n))
  return out
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

/** Row of the largest of a[from..to], the latest on ties: TA-Lib's rescan of a window whose extreme left it */
function argMax(a: Float64Array, from: number, to: number): number {
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
function argMin(a: Float64Array, from: number, to: number): number {
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

/**
 * TA-Lib's scan for the maximum of a sliding window in batch loops, reading the window straight from the input:
 * `at(i)`, called for i = 0, 1, 2, ... in turn, is the largest of a[i-size+1..i] (of the rows so far at the start),
 * and `index` its row, the latest on ties as RollingMax. The window is rescanned only when that row leaves it
 */
export class ScanMax {
  value = -Infinity
  index = 0
  constructor(
    private readonly a: Float64Array,
    private readonly size: number,
  ) {}
  at(i: number): number {
    const a = this.a
    const start = i - this.size + 1
    if (this.index < start) {
      this.index = argMax(a, start, i)
      this.value = a[this.index]
    } else if (a[i] >= this.value) {
      this.value = a[i]
      this.index = i
    }
    return this.value
  }
}

/** ScanMax's mirror: the smallest of a[i-size+1..i], the latest on ties */
export class ScanMin {
  value = Infinity
  index = 0
  constructor(
    private readonly a: Float64Array,
    private readonly size: number,
  ) {}
  at(i: number): number {
    const a = this.a
    const start = i - this.size + 1
    if (this.index < start) {
      this.index = argMin(a, start, i)
      this.value = a[this.index]
    } else if (a[i] <= this.value) {
      this.value = a[i]
      this.index = i
    }
    return this.value
  }
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
