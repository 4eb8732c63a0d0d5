// WebAssembly SIMD kernels over a BatchArena's memory, for batch loops that V8's optimising compiler cannot make
// as tight as C.
//
// Why: for `out[i] = x[i] - x[i - n]` (TA_MOM), TA-Lib's C loop is seven scalar instructions per row. V8 (Node 20)
// keeps a bounds check on every typed-array access, an overflow check on every index sum, and reloads each array's
// map and pointers on every iteration: nearly three times the instructions, 2.3-2.6x TA-Lib's time over 1,000,000
// rows whatever the shape of the JS loop (BENCHMARKS.md lists the variants measured). A WebAssembly loop has none
// of those checks (the engine guards the memory with unmapped pages) and handles two rows per instruction with
// SIMD, but it can only write to its own memory: copying the result out again would cost what it saves. So a
// BatchArena places its large arrays in slabs of WebAssembly memory, each with an instance of the kernels below,
// and a kernel whose output lies in a slab writes there directly. The input is copied, a chunk at a time, into a
// scratch region at the start of the slab, where it stays in the CPU's cache for the kernel to read.
//
// `trueRange` is TA_TRANGE's loop in the same way as mom's, over three inputs. The second kernel, `maxMinShift`,
// gives stoch, stochf, willr and donchian their windows' highest highs and lowest lows
// (WindowExtremes in util.ts). There the cost in JS is not checks but branches: TA-Lib's scan asks on every row
// whether the new value is a new extreme, which real prices answer at random, and V8 compiles Math.max to branches
// as well; f64x2.pmax and pmin are single branch-free instructions.
//
// Outputs anywhere else (the heap, when a batch runs without an arena) keep the JS loops, which compute the same
// values bit for bit: a subtraction is one IEEE operation in either, and a pseudo-maximum keeps the same row.

/** Rows per chunk the kernels see; a multiple of ROW_STEP */
export const CHUNK = 8192
/** 2-lane vectors per step of a kernel's loop, each with its own accumulator */
const VECTORS = 4
/** Rows per step of a kernel's loop: callers hand it a multiple of this and do the rest */
export const ROW_STEP = 2 * VECTORS
/** The largest lag the scratch region holds with a full chunk */
export const MAX_LAG = 8192
/** Rows at the start of every slab for the kernels' input: one chunk and MAX_LAG rows before it for mom's */
export const SCRATCH_ROWS = CHUNK + MAX_LAG
const SCRATCH_BYTES = SCRATCH_ROWS * 8
/** Bytes of a slab shared by many arrays; a larger array gets a slab of its own */
const SLAB_BYTES = 64 << 20
/** Arrays below this many rows stay on the heap: a kernel call's setup would cost more than it saves */
export const MIN_SLAB_ROWS = 4096
/** The largest slab: addresses are passed to the kernels as i32, kept non-negative */
const MAX_SLAB_BYTES = 2 ** 31 - 65536
const PAGE = 65536

/** The kernels of one slab and the scratch rows they read their input from */
export interface SlabKernels {
  /**
   * For p in [0, bytes) step 16: f64 pair at dst + p = pair at lag + p minus pair at p (scratch byte offsets);
   * returns the sum of d - d over every difference d, 0 when all are finite and NaN otherwise. `bytes` is a
   * multiple of ROW_STEP * 8
   */
  lagDiff(lagBytes: number, bytes: number, dst: number): number
  /**
   * One step of the sliding-window extremes (see windowExtremes): from p = bytes - 16 down to 0 step 16, the f64 pair
   * at h + p becomes pmax(pair at h + p, pair at h + p - shift) and the pair at l + p pmin of the same (ties keep
   * the later row); returns the sum of v - v over every pair read at h + p and l + p before the step, 0 when all
   * are finite. `bytes` is a multiple of 32; h - shift and l - shift are not negative
   */
  maxMinShift(h: number, l: number, bytes: number, shift: number): number
  /**
   * TA_TRANGE's rows: for p in [0, bytes) step 16, with H, L and C the f64 pairs at h + p, l + p and c + p (C the
   * previous rows' closes), the pair at dst + p becomes pmax(pmax(H - L, |C - H|), |C - L|); returns the sum of
   * s - s over every s = |C - H| + |C - L|, 0 when all are finite. `bytes` is a multiple of ROW_STEP * 8
   */
  trueRange(h: number, l: number, c: number, bytes: number, dst: number): number
  /** The scratch region, SCRATCH_BYTES long at the start of the slab */
  scratch: Float64Array
}

// The module, in WebAssembly's binary format: three functions over an imported memory.
//
//   (func $lagDiff (param $lag i32) (param $n i32) (param $dst i32) (result f64)
//     (local $p i32) (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128) (local $d v128)
//     (block (loop
//       (br_if 1 (i32.ge_u (local.get $p) (local.get $n)))
//       ;; for each vector k = 0..3 of a step, offset o = 16k:
//       (v128.store offset=o (i32.add (local.get $dst) (local.get $p))
//         (local.tee $d (f64x2.sub (v128.load offset=o (i32.add (local.get $p) (local.get $lag)))
//                                  (v128.load offset=o (local.get $p)))))
//       (local.set $acc{k} (f64x2.add (local.get $acc{k}) (f64x2.sub (local.get $d) (local.get $d))))
//       (local.set $p (i32.add (local.get $p) (i32.const 64)))
//       (br 0)))
//     (local.set $d (f64x2.add (f64x2.add (f64x2.add $acc0 $acc1) $acc2) $acc3))
//     (f64.add (f64x2.extract_lane 0 (local.get $d)) (f64x2.extract_lane 1 (local.get $d))))
//
//   (func $maxMinShift (param $h i32) (param $l i32) (param $n i32) (param $s i32) (result f64)
//     (local $hp i32) (local $lp i32) (local $acc0 v128) ... (local $acc3 v128) (local $t v128)
//     (loop
//       (local.set $n (i32.sub (local.get $n) (i32.const 32)))
//       (local.set $hp (i32.add (local.get $h) (local.get $n)))
//       (local.set $lp (i32.add (local.get $l) (local.get $n)))
//       ;; the upper pair of the 4 rows first, so that no pair reads a row this step has already replaced:
//       ;; for (base, op, k) in ($hp, pmax, 0), ($hp, pmax, 1), ($lp, pmin, 2), ($lp, pmin, 3), o = 16 - 16 (k % 2):
//       (v128.store offset=o (local.get base)
//         (op (local.tee $t (v128.load offset=o (local.get base)))
//             (v128.load offset=o (i32.sub (local.get base) (local.get $s)))))
//       (local.set $acc{k} (f64x2.add (local.get $acc{k}) (f64x2.sub (local.get $t) (local.get $t))))
//       (br_if 0 (local.get $n)))
//     ;; then the accumulators' sum, as in $lagDiff
//   )
//
//   (func $trueRange (param $h i32) (param $l i32) (param $c i32) (param $n i32) (param $dst i32) (result f64)
//     (local $p i32) (local $acc0 v128) ... (local $acc3 v128) (local $hi v128) (local $lo v128) (local $a v128)
//     (local $b v128)
//     (block (loop
//       (br_if 1 (i32.ge_u (local.get $p) (local.get $n)))
//       ;; for each vector k = 0..3 of a step, offset o = 16k:
//       (local.set $hi (v128.load offset=o (i32.add (local.get $h) (local.get $p))))
//       (local.set $lo (v128.load offset=o (i32.add (local.get $l) (local.get $p))))
//       (local.set $b (v128.load offset=o (i32.add (local.get $c) (local.get $p))))
//       (local.set $a (f64x2.abs (f64x2.sub (local.get $b) (local.get $hi))))
//       (local.set $b (f64x2.abs (f64x2.sub (local.get $b) (local.get $lo))))
//       (v128.store offset=o (i32.add (local.get $dst) (local.get $p))
//         (f64x2.pmax (f64x2.pmax (f64x2.sub (local.get $hi) (local.get $lo)) (local.get $a)) (local.get $b)))
//       (local.set $acc{k} (f64x2.add (local.get $acc{k})
//         (f64x2.sub (local.tee $a (f64x2.add (local.get $a) (local.get $b))) (local.get $a))))
//       (local.set $p (i32.add (local.get $p) (i32.const 64)))
//       (br 0)))
//     ;; then the accumulators' sum, as in $lagDiff
//   )
//
// f64x2.pmax(a, b) is `a < b ? b : a` and pmin(a, b) `b < a ? b : a`: one instruction each (maxpd, minpd), no
// branch, and with a the later row, a tie keeps it, as TA-Lib's scans do (`>=` / `<=` take the newest extreme).
const OP = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Const: 0x41,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  f64Add: 0xa0,
  void: 0x40,
  i32: 0x7f,
  f64: 0x7c,
  v128: 0x7b,
  simd: 0xfd,
}
/** SIMD opcodes (after the 0xfd prefix), LEB128-encoded */
const SIMD = {
  load: [0x00],
  store: [0x0b],
  f64x2ExtractLane: [0x21],
  f64x2Add: [0xf0, 0x01],
  f64x2Abs: [0xec, 0x01],
  f64x2Sub: [0xf1, 0x01],
  f64x2Pmin: [0xf6, 0x01],
  f64x2Pmax: [0xf7, 0x01],
}

function uleb(n: number): number[] {
  const out: number[] = []
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n !== 0) b |= 0x80
    out.push(b)
  } while (n !== 0)
  return out
}

/** Signed LEB128, for i32.const */
function sleb(n: number): number[] {
  const out: number[] = []
  for (;;) {
    const b = n & 0x7f
    n >>= 7
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b]
    out.push(b | 0x80)
  }
}

function section(id: number, bytes: number[]): number[] {
  return [id, ...uleb(bytes.length), ...bytes]
}

function name(s: string): number[] {
  return [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))]
}

const get = (i: number) => [OP.localGet, i]
const simd = (op: number[]) => [OP.simd, ...op]
/** memarg: alignment hint 2^3 (f64 pairs are 8-byte aligned), then the offset */
const mem = (offset: number) => [3, ...uleb(offset)]

/** The f64 sum of the lanes of the v128 accumulators `acc`, into local `d` on the way: a function's result */
function accumulatorSum(acc: number[], d: number): number[] {
  return [
    ...get(acc[0]),
    ...acc.slice(1).flatMap((a) => [...get(a), ...simd(SIMD.f64x2Add)]),
    OP.localTee, d,
    ...simd(SIMD.f64x2ExtractLane), 0, ...get(d), ...simd(SIMD.f64x2ExtractLane), 1, OP.f64Add,
  ]
}

function lagDiffBody(): number[] {
  // Locals: the three parameters, the byte position, one accumulator per vector of a step (independent chains: one
  // chain would wait out an addition's latency every vector), and the difference
  const [lag, n, dst, p] = [0, 1, 2, 3]
  const vectors = Array.from({ length: VECTORS }, (_, k) => k)
  const acc = vectors.map((k) => 4 + k)
  const d = 4 + VECTORS
  const vector = (k: number) => [
    ...get(dst), ...get(p), OP.i32Add,
    ...get(p), ...get(lag), OP.i32Add, ...simd(SIMD.load), ...mem(16 * k),
    ...get(p), ...simd(SIMD.load), ...mem(16 * k),
    ...simd(SIMD.f64x2Sub), OP.localTee, d,
    ...simd(SIMD.store), ...mem(16 * k),
    ...get(acc[k]), ...get(d), ...get(d), ...simd(SIMD.f64x2Sub), ...simd(SIMD.f64x2Add), OP.localSet, acc[k],
  ]
  return [
    ...[2, 1, OP.i32, VECTORS + 1, OP.v128], // locals: one i32, then the accumulators and d (v128)
    OP.block, OP.void, OP.loop, OP.void,
    ...get(p), ...get(n), OP.i32GeU, OP.brIf, 1,
    ...vectors.flatMap(vector),
    ...get(p), OP.i32Const, ...sleb(ROW_STEP * 8), OP.i32Add, OP.localSet, p,
    OP.br, 0, OP.end, OP.end,
    ...accumulatorSum(acc, d),
    OP.end,
  ]
}

function maxMinShiftBody(): number[] {
  const [h, l, n, s, hp, lp] = [0, 1, 2, 3, 4, 5]
  const acc = [6, 7, 8, 9]
  const t = 10
  // Four pairs per step, the upper pair of each array first (see the WAT above); each with its own accumulator
  const pairs: [number, number[], number][] = [
    [hp, SIMD.f64x2Pmax, 16],
    [hp, SIMD.f64x2Pmax, 0],
    [lp, SIMD.f64x2Pmin, 16],
    [lp, SIMD.f64x2Pmin, 0],
  ]
  const pair = ([base, op, o]: [number, number[], number], k: number) => [
    ...get(base),
    ...get(base), ...simd(SIMD.load), ...mem(o), OP.localTee, t,
    ...get(base), ...get(s), OP.i32Sub, ...simd(SIMD.load), ...mem(o),
    ...simd(op),
    ...simd(SIMD.store), ...mem(o),
    ...get(acc[k]), ...get(t), ...get(t), ...simd(SIMD.f64x2Sub), ...simd(SIMD.f64x2Add), OP.localSet, acc[k],
  ]
  return [
    ...[2, 2, OP.i32, acc.length + 1, OP.v128], // locals: $hp and $lp, then the accumulators and $t
    OP.loop, OP.void,
    ...get(n), OP.i32Const, ...sleb(32), OP.i32Sub, OP.localSet, n,
    ...get(h), ...get(n), OP.i32Add, OP.localSet, hp,
    ...get(l), ...get(n), OP.i32Add, OP.localSet, lp,
    ...pairs.flatMap(pair),
    ...get(n), OP.brIf, 0,
    OP.end,
    ...accumulatorSum(acc, t),
    OP.end,
  ]
}

function trueRangeBody(): number[] {
  const [h, l, c, n, dst, p] = [0, 1, 2, 3, 4, 5]
  const vectors = Array.from({ length: VECTORS }, (_, k) => k)
  const acc = vectors.map((k) => 6 + k)
  const [hi, lo, a, b] = [6 + VECTORS, 7 + VECTORS, 8 + VECTORS, 9 + VECTORS]
  const load = (base: number, o: number) => [...get(base), ...get(p), OP.i32Add, ...simd(SIMD.load), ...mem(o)]
  const vector = (k: number) => {
    const o = 16 * k
    return [
      ...load(h, o), OP.localSet, hi,
      ...load(l, o), OP.localSet, lo,
      ...load(c, o), OP.localSet, b,
      ...get(b), ...get(hi), ...simd(SIMD.f64x2Sub), ...simd(SIMD.f64x2Abs), OP.localSet, a,
      ...get(b), ...get(lo), ...simd(SIMD.f64x2Sub), ...simd(SIMD.f64x2Abs), OP.localSet, b,
      ...get(dst), ...get(p), OP.i32Add,
      ...get(hi), ...get(lo), ...simd(SIMD.f64x2Sub), ...get(a), ...simd(SIMD.f64x2Pmax), ...get(b), ...simd(SIMD.f64x2Pmax),
      ...simd(SIMD.store), ...mem(o),
      ...get(acc[k]),
      ...get(a), ...get(b), ...simd(SIMD.f64x2Add), OP.localTee, a, ...get(a), ...simd(SIMD.f64x2Sub),
      ...simd(SIMD.f64x2Add), OP.localSet, acc[k],
    ]
  }
  return [
    ...[2, 1, OP.i32, VECTORS + 4, OP.v128], // locals: $p, then the accumulators, $hi, $lo, $a and $b (v128)
    OP.block, OP.void, OP.loop, OP.void,
    ...get(p), ...get(n), OP.i32GeU, OP.brIf, 1,
    ...vectors.flatMap(vector),
    ...get(p), OP.i32Const, ...sleb(ROW_STEP * 8), OP.i32Add, OP.localSet, p,
    OP.br, 0, OP.end, OP.end,
    ...accumulatorSum(acc, a),
    OP.end,
  ]
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const bodies = [lagDiffBody(), maxMinShiftBody(), trueRangeBody()]
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    // three types: i32 parameters, three to five of them, and an f64 result
    ...section(1, [3, ...[3, 4, 5].flatMap((k) => [0x60, k, ...Array<number>(k).fill(OP.i32), 1, OP.f64])]),
    ...section(2, [1, ...name('m'), ...name('mem'), 0x02, 0x00, 1]), // import m.mem: a memory of at least 1 page
    ...section(3, [3, 0, 1, 2]), // three functions, one of each type
    ...section(7, [3, ...name('lagDiff'), 0x00, 0, ...name('maxMinShift'), 0x00, 1, ...name('trueRange'), 0x00, 2]), // export them
    ...section(10, [bodies.length, ...bodies.flatMap((b) => [...uleb(b.length), ...b])]),
  ])
}

let compiled: WebAssembly.Module | null | undefined

/** The compiled module, or null where this engine has no WebAssembly SIMD (then arenas stay on the heap) */
function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(moduleBytes())
    } catch {
      compiled = null
    }
  }
  return compiled
}

const kernelsOf = new WeakMap<ArrayBufferLike, SlabKernels>()

/** The kernels of the slab `a` lies in, if it lies in one */
export function slabKernels(a: Float64Array): SlabKernels | undefined {
  return kernelsOf.get(a.buffer)
}

/**
 * Memory for a BatchArena's large arrays: slabs of WebAssembly memory that never grow (growing would detach every
 * view handed out), each carved from the front, 64-byte aligned, after its scratch region. Arrays are never given
 * back to a slab: the arena pools them by length and hands them out again after a reset
 */
export class Slabs {
  private buffer: ArrayBuffer | undefined
  private next = 0
  /** Set when the engine refused a slab (no SIMD, or no address space left): the heap serves from then on */
  private refused = false

  /** A zero-filled array of `n` rows in a slab, or undefined where it should come from the heap */
  take(n: number): Float64Array | undefined {
    if (n < MIN_SLAB_ROWS || this.refused) return undefined
    const bytes = n * 8
    if (this.buffer === undefined || this.next + bytes > this.buffer.byteLength) {
      const buffer = this.open(Math.max(SLAB_BYTES, SCRATCH_BYTES + bytes))
      if (buffer === undefined) return undefined
      // A slab sized for this one array leaves the shared one, if there is one, to fill on
      if (SCRATCH_BYTES + bytes > SLAB_BYTES && this.buffer !== undefined) return new Float64Array(buffer, SCRATCH_BYTES, n)
      this.buffer = buffer
      this.next = SCRATCH_BYTES
    }
    const a = new Float64Array(this.buffer, this.next, n)
    this.next += Math.ceil(bytes / 64) * 64
    return a
  }

  private open(bytes: number): ArrayBuffer | undefined {
    const module = bytes <= MAX_SLAB_BYTES ? kernelModule() : null
    if (module === null) {
      if (bytes <= MAX_SLAB_BYTES) this.refused = true
      return undefined
    }
    try {
      const pages = Math.ceil(bytes / PAGE)
      const memory = new WebAssembly.Memory({ initial: pages, maximum: pages })
      const { exports } = new WebAssembly.Instance(module, { m: { mem: memory } })
      const buffer = memory.buffer
      kernelsOf.set(buffer, {
        lagDiff: exports.lagDiff as SlabKernels['lagDiff'],
        maxMinShift: exports.maxMinShift as SlabKernels['maxMinShift'],
        trueRange: exports.trueRange as SlabKernels['trueRange'],
        scratch: new Float64Array(buffer, 0, SCRATCH_BYTES / 8),
      })
      return buffer
    } catch {
      // The engine could not reserve the memory (each one reserves address space for its guard pages)
      this.refused = true
      return undefined
    }
  }
}
