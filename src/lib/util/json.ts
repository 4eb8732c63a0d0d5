// JSON for `--json` output that keeps what plain JSON.stringify loses: non-finite numbers become the strings
// "NaN", "Infinity" and "-Infinity" (JSON.stringify writes null for all three, so a profit factor with no losing
// trade and one with no trade at all would read the same), and typed arrays become arrays.

/** A JSON.stringify replacer with those rules. */
export function jsonReplacer(_key: string, v: unknown): unknown {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>, (x) => (Number.isFinite(x) ? x : String(x)))
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v)
  return v
}

/** The value as plain JSON data under those rules. */
export function toJsonData(value: unknown): unknown {
  const text = JSON.stringify(value, jsonReplacer)
  return text === undefined ? undefined : JSON.parse(text)
}
