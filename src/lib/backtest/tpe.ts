// Tree-structured Parzen Estimator (Bergstra, Bardenet, Bengio, Kégl, "Algorithms for Hyper-Parameter
// Optimization", NeurIPS 2011), for maximising a score over a discrete space:
//
// 1. The first `startup` points are uniformly random.
// 2. Then the trials so far are split by score: the best ceil(gamma * n) are "good", the rest "bad".
// 3. Per parameter, a Parzen estimator (a mixture of Gaussians, one per observation plus a wide prior) is fitted to
//    the good values, l(x), and one to the bad values, g(x). Bandwidths follow hyperopt's adaptive Parzen rule: each
//    component's sigma is the larger gap to its sorted neighbours, clipped to [range / min(100, n + 1), range];
//    the prior sits mid-range with sigma = range.
// 4. Candidates are drawn from l (every parameter independently), and the one with the highest l(x) / g(x) (the
//    product over parameters, in logs) is proposed: maximising that ratio maximises expected improvement.
//
// Parameters are quantised to their step, so each density is the probability mass of the step-wide bin around a
// value, of Gaussians truncated to the axis (widened by half a step). Everything draws from one seeded Rng: the
// same seed, batch size and scores give the same proposals.

import { gridPoint, paramsKey, randomPoint, type ParamAxis, type ParamSet, type ParamSpace, type Rng } from './opt-space.js'

export interface TpeOptions {
  /** Share of trials counted good (default 0.25) */
  readonly gamma?: number | undefined
  /** Candidates drawn from l(x) per proposal (default 24, as hyperopt) */
  readonly candidates?: number | undefined
  /** Random trials before the model is used (default 10) */
  readonly startup?: number | undefined
}

/** Complementary error function; Numerical Recipes `erfcc` (Chebyshev fit, relative error below 1.2e-7). */
export function erfc(x: number): number {
  const z = Math.abs(x)
  const t = 1 / (1 + 0.5 * z)
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886187 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    )
  return x >= 0 ? r : 2 - r
}

/** P(a < Z < b) for a standard normal Z, computed on the side that keeps precision in the tails. */
export function normalMass(a: number, b: number): number {
  if (b <= a) return 0
  if (a >= 0) return 0.5 * (erfc(a / Math.SQRT2) - erfc(b / Math.SQRT2))
  if (b <= 0) return 0.5 * (erfc(-b / Math.SQRT2) - erfc(-a / Math.SQRT2))
  return 1 - 0.5 * erfc(-a / Math.SQRT2) - 0.5 * erfc(b / Math.SQRT2)
}

/** A 1-D Parzen estimator over one axis: Gaussians truncated to [lo, hi], evaluated as bin masses. */
export class Parzen {
  readonly mus: Float64Array
  readonly sigmas: Float64Array
  readonly weights: Float64Array
  /** Mass of each component inside [lo, hi], to renormalise the truncation */
  private readonly z: Float64Array
  private readonly lo: number
  private readonly hi: number
  private readonly half: number

  constructor(
    private readonly axis: ParamAxis,
    observed: readonly number[],
  ) {
    this.half = axis.step / 2
    this.lo = axis.min - this.half
    this.hi = axis.max + this.half
    const range = this.hi - this.lo
    const priorMu = (this.lo + this.hi) / 2
    const mus = [...observed, priorMu].sort((a, b) => a - b)
    const n = mus.length
    const sigmas = new Float64Array(n)
    const minSigma = range / Math.min(100, observed.length + 1)
    for (let i = 0; i < n; i++) {
      const left = i > 0 ? mus[i] - mus[i - 1] : mus[i] - this.lo
      const right = i < n - 1 ? mus[i + 1] - mus[i] : this.hi - mus[i]
      sigmas[i] = Math.min(range, Math.max(minSigma, left, right))
    }
    // The prior keeps its full width (hyperopt's rule)
    const pi = mus.indexOf(priorMu)
    sigmas[pi] = range
    this.mus = Float64Array.from(mus)
    this.sigmas = sigmas
    this.weights = new Float64Array(n).fill(1 / n)
    this.z = new Float64Array(n)
    for (let i = 0; i < n; i++) this.z[i] = normalMass((this.lo - mus[i]) / sigmas[i], (this.hi - mus[i]) / sigmas[i])
  }

  /** Probability mass of the step-wide bin around axis value x */
  mass(x: number): number {
    const a = Math.max(this.lo, x - this.half)
    const b = Math.min(this.hi, x + this.half)
    let p = 0
    for (let i = 0; i < this.mus.length; i++) {
      const z = this.z[i]
      if (z <= 0) continue
      const za = (a - this.mus[i]) / this.sigmas[i]
      const zb = (b - this.mus[i]) / this.sigmas[i]
      // Beyond 9 sigmas a component adds under 1e-18; the prior's share (at least bin / range) dwarfs that
      if (za > 9 || zb < -9) continue
      p += (this.weights[i] * normalMass(za, zb)) / z
    }
    return p
  }

  /** Draws an axis value: a component by weight, then its truncated Gaussian, snapped to the step */
  sample(rng: Rng): number {
    let u = rng.uniform()
    let k = 0
    while (k < this.weights.length - 1 && u >= this.weights[k]) {
      u -= this.weights[k]
      k++
    }
    let x = NaN
    for (let tries = 0; tries < 64; tries++) {
      const v = this.mus[k] + this.sigmas[k] * rng.normal()
      if (v >= this.lo && v <= this.hi) {
        x = v
        break
      }
    }
    // A component far outside the axis: fall back to a uniform draw
    if (Number.isNaN(x)) x = this.lo + rng.uniform() * (this.hi - this.lo)
    const i = Math.round((x - this.axis.min) / this.axis.step)
    return this.axis.values[Math.min(this.axis.values.length - 1, Math.max(0, i))]
  }
}

/** One finished trial as TPE sees it; a NaN score counts as the worst. */
export interface Observation {
  readonly params: ParamSet
  readonly score: number
}

const MIN_MASS = 1e-300

/** Proposes parameter sets to evaluate from the observations so far. */
export class TpeSampler {
  readonly gamma: number
  readonly candidates: number
  readonly startup: number

  constructor(
    private readonly space: ParamSpace,
    private readonly rng: Rng,
    opts: TpeOptions = {},
  ) {
    this.gamma = opts.gamma ?? 0.25
    this.candidates = opts.candidates ?? 24
    this.startup = opts.startup ?? 10
    if (!(this.gamma > 0 && this.gamma < 1)) throw new RangeError(`TPE gamma must be in (0, 1), was ${this.gamma}`)
  }

  /**
   * Proposes `count` new points not in `seen` (keys from paramsKey), from the observations: random while there are
   * fewer than `startup`, else by l(x) / g(x). Returns fewer when the space runs out.
   */
  propose(observations: readonly Observation[], count: number, seen: Set<string>): ParamSet[] {
    const out: ParamSet[] = []
    const taken = new Set(seen)
    const remaining = () => this.space.size - taken.size
    const add = (p: ParamSet) => {
      taken.add(paramsKey(this.space, p))
      out.push(p)
    }
    if (observations.length < this.startup) {
      while (out.length < count && remaining() > 0) add(this.randomUnseen(taken))
      return out
    }
    const sorted = [...observations].sort((a, b) => score(b) - score(a))
    const nGood = Math.max(1, Math.ceil(this.gamma * sorted.length))
    const good = sorted.slice(0, nGood)
    const bad = sorted.slice(nGood)
    const l = this.space.axes.map((a) => new Parzen(a, good.map((o) => o.params[a.name])))
    const g = this.space.axes.map((a) => new Parzen(a, bad.map((o) => o.params[a.name])))
    while (out.length < count && remaining() > 0) {
      let best: ParamSet | undefined
      let bestScore = -Infinity
      for (let c = 0; c < this.candidates; c++) {
        const p: Record<string, number> = { ...this.space.fixed }
        let s = 0
        for (let j = 0; j < this.space.axes.length; j++) {
          const x = l[j].sample(this.rng)
          p[this.space.axes[j].name] = x
          s += Math.log(Math.max(MIN_MASS, l[j].mass(x))) - Math.log(Math.max(MIN_MASS, g[j].mass(x)))
        }
        if (taken.has(paramsKey(this.space, p))) continue
        if (s > bestScore) {
          bestScore = s
          best = p
        }
      }
      // Every candidate was evaluated already (the good region is exhausted): explore at random
      add(best ?? this.randomUnseen(taken))
    }
    return out
  }

  private randomUnseen(taken: Set<string>): ParamSet {
    for (let tries = 0; tries < 1000; tries++) {
      const p = randomPoint(this.space, this.rng)
      if (!taken.has(paramsKey(this.space, p))) return p
    }
    // A nearly exhausted space: scan for a free point from a random start
    const start = this.rng.int(this.space.size)
    for (let k = 0; k < this.space.size; k++) {
      const p = gridPoint(this.space, (start + k) % this.space.size)
      if (!taken.has(paramsKey(this.space, p))) return p
    }
    throw new Error('TpeSampler: the space is exhausted')
  }
}

function score(o: Observation): number {
  return Number.isNaN(o.score) ? -Infinity : o.score
}
