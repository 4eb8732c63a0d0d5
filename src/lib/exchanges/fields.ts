// Field readers shared by the venues' pure parsers: each checks one field of a raw frame and throws through the
// venue's own `fail` (its error class carries the frame), so no NaN, Infinity or wrong type leaves a parser

/** Characters of a frame kept in errors and logs. */
export const FRAME_CHARS = 500

/** The frame as text for an error message, truncated. */
export function frameText(raw: unknown): string {
  let s: string | undefined
  try {
    s = typeof raw === 'string' ? raw : JSON.stringify(raw)
  } catch {
    s = undefined
  }
  return (s ?? String(raw)).slice(0, FRAME_CHARS)
}

export type Fail = (what: string, raw: unknown) => never

/** Readers bound to a venue's `fail`. */
export function fieldReaders(fail: Fail) {
  const obj = (x: unknown, what: string, raw: unknown): Record<string, unknown> => {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) fail(`${what} is not an object`, raw)
    return x as Record<string, unknown>
  }
  const arr = (x: unknown, what: string, raw: unknown): readonly unknown[] => {
    if (!Array.isArray(x)) fail(`${what} is not an array`, raw)
    return x
  }
  const str = (x: unknown, what: string, raw: unknown): string => {
    if (typeof x !== 'string' || x.length === 0) fail(`${what} is not a non-empty string`, raw)
    return x
  }
  /** A decimal string as exchanges send it; Number() gives the nearest double, the same as the archive importer. */
  const num = (s: unknown, what: string, raw: unknown): number => {
    if (typeof s === 'string' && s.length > 0) {
      const c = s.charCodeAt(0)
      // A leading digit, sign or dot rules out '', whitespace, 'NaN', 'Infinity' and hex before Number() runs
      if ((c >= 48 && c <= 57) || c === 45 || c === 46 || c === 43) {
        const n = Number(s)
        if (Number.isFinite(n)) return n
      }
    }
    return fail(`${what} is not a decimal string`, raw)
  }
  const positive = (s: unknown, what: string, raw: unknown): number => {
    const n = num(s, what, raw)
    if (!(n > 0)) fail(`${what} is not positive`, raw)
    return n
  }
  const nonNegative = (s: unknown, what: string, raw: unknown): number => {
    const n = num(s, what, raw)
    if (n < 0) fail(`${what} is negative`, raw)
    return n
  }
  const uint = (x: unknown, what: string, raw: unknown): number => {
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) fail(`${what} is not a non-negative integer`, raw)
    return x
  }
  return { obj, arr, str, num, positive, nonNegative, uint }
}
