import { INTERVALS, isInterval, type Interval } from './consts.js'
import { UsageError } from './errors.js'

export const US_PER_MS = 1_000
export const US_PER_SECOND = 1_000_000
export const US_PER_MINUTE = 60 * US_PER_SECOND
export const US_PER_HOUR = 60 * US_PER_MINUTE
export const US_PER_DAY = 24 * US_PER_HOUR

const FIXED: Record<Exclude<Interval, '1M'>, number> = {
  '1s': US_PER_SECOND,
  '1m': US_PER_MINUTE,
  '3m': 3 * US_PER_MINUTE,
  '5m': 5 * US_PER_MINUTE,
  '15m': 15 * US_PER_MINUTE,
  '30m': 30 * US_PER_MINUTE,
  '1h': US_PER_HOUR,
  '2h': 2 * US_PER_HOUR,
  '4h': 4 * US_PER_HOUR,
  '6h': 6 * US_PER_HOUR,
  '8h': 8 * US_PER_HOUR,
  '12h': 12 * US_PER_HOUR,
  '1d': US_PER_DAY,
  '3d': 3 * US_PER_DAY,
  '1w': 7 * US_PER_DAY,
}

/** Parses a bar interval; accepts Binance's archive spelling `1mo` for the calendar month. */
export function parseInterval(text: string, flag = '--interval'): Interval {
  const t = text === '1mo' ? '1M' : text
  if (!isInterval(t)) {
    throw new UsageError(`Invalid ${flag}: '${text}'. Expected one of ${INTERVALS.join(', ')}`)
  }
  return t
}

/** Weekly bars open on Monday 00:00 UTC, as Binance's 1w klines do: 1970-01-05 is four days after the epoch */
const WEEK_ANCHOR_US = 4 * US_PER_DAY

/**
 * Open time (µs) of the bar of `step` µs that holds time `t`: whole steps from the epoch, except weeks, which run
 * from Monday (bucketing from the epoch would start them on Thursday).
 */
export function barOpen(t: number, step: number): number {
  const anchor = step === 7 * US_PER_DAY ? WEEK_ANCHOR_US : 0
  return Math.floor((t - anchor) / step) * step + anchor
}

/** µs in a 365-day year */
export const US_PER_YEAR = 365 * US_PER_DAY

/** Bars per 365-day year at an interval (525,600 for 1m, 8,760 for 1h); the calendar month counts 12. */
export function periodsPerYear(interval: Interval): number {
  const us = intervalUs(interval)
  return us === undefined ? 12 : US_PER_YEAR / us
}

/** Length of a fixed interval in µs; undefined for the calendar month. */
export function intervalUs(interval: Interval): number | undefined {
  return interval === '1M' ? undefined : FIXED[interval]
}

/** Open time of the bar after the one opening at `openUs`. */
export function nextOpen(interval: Interval, openUs: number): number {
  const fixed = intervalUs(interval)
  if (fixed !== undefined) return openUs + fixed
  const d = new Date(Math.floor(openUs / US_PER_MS))
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) * US_PER_MS
}

/** Number of bar opens strictly between `a` and `b` (the missing bars when a and b are consecutive rows). */
export function barsBetween(interval: Interval, a: number, b: number): number {
  const fixed = intervalUs(interval)
  if (fixed !== undefined) return Math.max(0, Math.round((b - a) / fixed) - 1)
  let n = 0
  for (let t = nextOpen(interval, a); t < b; t = nextOpen(interval, t)) n++
  return n
}

/** Converts a Binance timestamp of unknown unit to µs: values above 1e14 are already µs. */
export function binanceTimeToUs(t: number): number {
  return t > 1e14 ? t : t * US_PER_MS
}

/** Formats µs as ISO-8601 UTC; whole seconds drop the fraction. */
export function isoUs(us: number): string {
  const ms = Math.floor(us / US_PER_MS)
  const iso = new Date(ms).toISOString()
  const subMs = us - ms * US_PER_MS
  if (subMs !== 0) return iso.replace('Z', String(subMs).padStart(3, '0') + 'Z')
  return iso.endsWith('.000Z') ? iso.replace('.000Z', 'Z') : iso
}

/** Parses an ISO date or date-time (UTC unless an offset is given) or epoch ms/µs digits into µs. */
export function parseTime(text: string, flag: string): number {
  const t = text.trim()
  if (/^\d{10,16}$/.test(t)) {
    const n = Number(t)
    return n > 1e14 ? n : n < 1e11 ? n * US_PER_SECOND : n * US_PER_MS
  }
  const withZone = /[zZ]|[+-]\d\d:?\d\d$/.test(t) || !/T|\s\d/.test(t) ? t : `${t}Z`
  const ms = Date.parse(/^\d{4}-\d\d-\d\d$/.test(withZone) ? `${withZone}T00:00:00Z` : withZone)
  // Date.parse rolls an impossible day over (2024-02-30 is March 1st): a date must exist as written
  const ymd = /^(\d{4})-(\d\d)-(\d\d)/.exec(t)
  const dayExists = !ymd || (Number(ymd[3]) >= 1 && Number(ymd[3]) <= new Date(Date.UTC(Number(ymd[1]), Number(ymd[2]), 0)).getUTCDate())
  if (!Number.isFinite(ms) || !dayExists) {
    throw new UsageError(`Invalid ${flag}: '${text}'. Expected an ISO date such as 2024-01-31 or 2024-01-31T12:00`)
  }
  return ms * US_PER_MS
}

/** UTC calendar date `YYYY-MM-DD` of a µs time. */
export function utcDate(us: number): string {
  return new Date(Math.floor(us / US_PER_MS)).toISOString().slice(0, 10)
}

/** Parses a duration such as `90m`, `1.5h`, `30s`, `500ms`, `2d` (or plain seconds) into ms. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim())
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
  const ms = m ? Number(m[1]) * unit[m[2] ?? 's'] : NaN
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new UsageError(`Invalid ${flag}: '${text}'. Expected a duration such as 500ms, 30s, 90m, 2h or 1d`)
  }
  return Math.round(ms)
}

/** Wall-clock now in µs, from the monotonic high-resolution clock (receipt times of live frames). */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000)
}
