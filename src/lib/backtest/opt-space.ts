// The optimiser's search space: one discrete axis per strategy parameter (min..max by step), from the strategy's
// params metadata or `--param k=lo:hi:step` overrides, and the seedable random numbers every search draws from.

import { UsageError } from '../errors.js'
import type { StrategyParamSpec } from './strategy.js'

/** One searchable parameter: the values min, min + step, … up to max. */
export interface ParamAxis {
  readonly name: string
  readonly min: number
  readonly max: number
  readonly step: number
  readonly integer: boolean
  /** Every value of the axis, ascending */
  readonly values: readonly number[]
}

export type ParamSet = Readonly<Record<string, number>>

/** The axes searched and the parameters held fixed. */
export interface ParamSpace {
  readonly axes: readonly ParamAxis[]
  readonly fixed: ParamSet
  /** Number of distinct points (product of the axis lengths) */
  readonly size: number
}

/** A `--param` override: a range `k=lo:hi[:step]` or a fixed value `k=v`. */
export interface ParamOverride {
  readonly name: string
  readonly min: number
  readonly max: number
  /** Undefined: the strategy's step */
  readonly step?: number | undefined
}

/** Axes longer than this are refused (a step too fine for the range is a typo) */
const MAX_AXIS_VALUES = 100_000

/** Rounds away binary noise from `min + i * step` so values print and compare cleanly */
function clean(x: number): number {
  return Number(x.toPrecision(12))
}

function axisValues(min: number, max: number, step: number): number[] {
  const n = Math.floor((max - min) / step + 1e-9) + 1
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push(clean(min + i * step))
  return out
}

/** Parses one `--param` value: `fast=5:50:5`, `fast=5:50` (the strategy's step) or `fast=10` (fixed). */
export function parseParamOverride(text: string): ParamOverride {
  const bad = () =>
    new UsageError(`Invalid --param: '${text}'. Expected NAME=LO:HI:STEP (a range), NAME=LO:HI (the strategy's step) or NAME=VALUE (fixed), e.g. fast=5:50:5`)
  const m = /^([A-Za-z_][\w-]*)=([^:]+)(?::([^:]+))?(?::([^:]+))?$/.exec(text.trim())
  if (!m) throw bad()
  const nums = [m[2], m[3], m[4]].map((s) => (s === undefined ? undefined : Number(s)))
  if (nums.some((x) => x !== undefined && !Number.isFinite(x))) throw bad()
  const [lo, hi, step] = nums as [number, number | undefined, number | undefined]
  if (hi === undefined) return { name: m[1], min: lo, max: lo, step: undefined }
  if (hi < lo || (step !== undefined && !(step > 0))) throw bad()
  return { name: m[1], min: lo, max: hi, step }
}

/**
 * Builds the search space from the strategy's parameter specs and the overrides: every parameter is searched over
 * its declared range unless an override narrows it or fixes it (a range of one value is fixed). Overrides must stay
 * inside the declared range, and integer parameters take integer bounds and steps.
 */
export function buildSpace(specs: readonly StrategyParamSpec[], overrides: readonly ParamOverride[] = [], strategyName = 'the strategy'): ParamSpace {
  const byName = new Map(specs.map((s) => [s.name, s]))
  const seen = new Set<string>()
  for (const o of overrides) {
    if (!byName.has(o.name)) {
      throw new UsageError(`Invalid --param: '${o.name}' is not a parameter of ${strategyName}. Expected one of ${specs.map((s) => s.name).join(', ') || '(none)'}`)
    }
    if (seen.has(o.name)) throw new UsageError(`Invalid --param: '${o.name}' is given twice`)
    seen.add(o.name)
  }
  const axes: ParamAxis[] = []
  const fixed: Record<string, number> = {}
  for (const s of specs) {
    const o = overrides.find((x) => x.name === s.name)
    const min = o?.min ?? s.min
    const max = o?.max ?? s.max
    const step = o?.step ?? s.step
    const form = o ? `--param ${s.name}=${o.min}${o.max !== o.min ? `:${o.max}` : ''}${o.step !== undefined ? `:${o.step}` : ''}` : `${s.name}`
    if (min < s.min || max > s.max) {
      throw new UsageError(`Invalid ${form}: ${strategyName} accepts ${s.name} from ${s.min} to ${s.max}`)
    }
    if (s.integer && (!Number.isInteger(min) || !Number.isInteger(max) || !Number.isInteger(step))) {
      throw new UsageError(`Invalid ${form}: ${s.name} is an integer parameter; expected integer bounds and step`)
    }
    if (min === max) {
      fixed[s.name] = min
      continue
    }
    if (!(step > 0)) throw new UsageError(`Invalid ${form}: the step must be positive, was ${step}`)
    const count = Math.floor((max - min) / step + 1e-9) + 1
    if (count > MAX_AXIS_VALUES) {
      throw new UsageError(`Invalid ${form}: ${count.toLocaleString('en-US')} values from ${min} to ${max} by ${step}; expected at most ${MAX_AXIS_VALUES.toLocaleString('en-US')} (a coarser step)`)
    }
    axes.push({ name: s.name, min, max, step, integer: s.integer, values: axisValues(min, max, step) })
  }
  if (axes.length === 0) {
    throw new UsageError(`Nothing to optimise: ${strategyName} has no parameter with a range${specs.length ? ' (every one is fixed by --param)' : ''}`)
  }
  const size = axes.reduce((a, x) => a * x.values.length, 1)
  return { axes, fixed, size }
}

/** Stable key of a parameter set (axis order), for de-duplication. */
export function paramsKey(space: ParamSpace, p: ParamSet): string {
  return space.axes.map((a) => p[a.name]).join(',')
}

/** The nearest axis value to x (clamped to the axis). */
export function snap(axis: ParamAxis, x: number): number {
  const i = Math.round((x - axis.min) / axis.step)
  return axis.values[Math.min(axis.values.length - 1, Math.max(0, i))]
}

/** The point at a flat index of the grid (the last axis varies fastest), with the fixed parameters. */
export function gridPoint(space: ParamSpace, index: number): ParamSet {
  const out: Record<string, number> = { ...space.fixed }
  let rest = index
  for (let a = space.axes.length - 1; a >= 0; a--) {
    const ax = space.axes[a]
    out[ax.name] = ax.values[rest % ax.values.length]
    rest = Math.floor(rest / ax.values.length)
  }
  return out
}

// --- Random numbers -----------------------------------------------------------------------------------------

/** A seedable uniform generator on [0, 1): sfc32 seeded through splitmix32, so nearby seeds give unrelated streams. */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number
  private spare: number | undefined

  constructor(seed: number) {
    let s = seed >>> 0
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = next()
    this.b = next()
    this.c = next()
    this.d = next()
    for (let i = 0; i < 12; i++) this.uniform()
  }

  /** Uniform on [0, 1) */
  uniform(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return (t >>> 0) / 4294967296
  }

  /** Integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.uniform() * n)
  }

  /** Standard normal (Box-Muller) */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare
      this.spare = undefined
      return s
    }
    let u = 0
    while (u === 0) u = this.uniform()
    const v = this.uniform()
    const r = Math.sqrt(-2 * Math.log(u))
    this.spare = r * Math.sin(2 * Math.PI * v)
    return r * Math.cos(2 * Math.PI * v)
  }
}

/** A uniformly random point of the space. */
export function randomPoint(space: ParamSpace, rng: Rng): ParamSet {
  const out: Record<string, number> = { ...space.fixed }
  for (const a of space.axes) out[a.name] = a.values[rng.int(a.values.length)]
  return out
}
