// Small building blocks shared by indicator implementations (batch and streaming)

export function nans(n: number): Float64Array {
  return new Float64Array(n).fill(NaN)
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
    const old = this.count === this.size ? this.buf[this.head] : NaN
    this.buf[this.head] = v
    this.head = (this.head + 1) % this.size
    if (this.count < this.size) this.count++
    return old
  }
  get full(): boolean {
    return this.count === this.size
  }
  /** k-th most recent value, 0 = newest */
  ago(k: number): number {
    return this.buf[(this.head - 1 - k + this.size * 2) % this.size]
  }
  /** Oldest value held */
  oldest(): number {
    return this.count === this.size ? this.buf[this.head] : this.buf[0]
  }
}

/** Streaming max or min over the last `size` rows (monotonic deque, O(1) amortised). */
export class RollingExtreme {
  private readonly vals: Float64Array
  private readonly idx: Float64Array
  private head = 0
  private tail = 0
  private n = 0
  constructor(
    readonly size: number,
    readonly kind: 'max' | 'min',
  ) {
    this.vals = new Float64Array(size + 1)
    this.idx = new Float64Array(size + 1)
  }
  push(v: number): number {
    const cap = this.size + 1
    const max = this.kind === 'max'
    while (this.tail !== this.head) {
      const last = (this.tail - 1 + cap) % cap
      const old = this.vals[last]
      if (max ? v >= old : v <= old) this.tail = last
      else break
    }
    this.vals[this.tail] = v
    this.idx[this.tail] = this.n
    this.tail = (this.tail + 1) % cap
    if (this.idx[this.head] <= this.n - this.size) this.head = (this.head + 1) % cap
    this.n++
    return this.vals[this.head]
  }
  get value(): number {
    return this.vals[this.head]
  }
}
