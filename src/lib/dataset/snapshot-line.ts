// Parses one line of a depth-snapshot file into the top N levels per side, without building JSON objects.
//
// Accepted lines (plain JSON, optionally after a `<local_ts> ` prefix as hftbacktest writes it):
//   {"ts":1723161254206,"bids":[["61837.63","3.788"],...],"asks":[...]}         ts in s, ms, µs, ns or ISO-8601
//   {"lastUpdateId":50093239218,"bids":[...],"asks":[...]}                       Binance spot `@depth<N>` payload
//   {"stream":"btcusdt@depth20@100ms","data":{...}}                                the combined-stream wrapper
//   {"e":"depthUpdate","E":..,"T":..,"s":"BTCUSDT","U":..,"u":..,"pu":..,"b":[...],"a":[...]}   USD-M `@depth<N>`
//
// Time, in order of preference: the line's receipt-time prefix, then `ts`/`time`/`timestamp` (outer object first),
// then the event time `E`, then the transaction time `T`. Levels are `[price, size, ...]` with decimal strings or
// JSON numbers, best first; a size of 0 is not a level and is skipped. Lines that are valid JSON but not a depth
// snapshot (a trade, a bookTicker, a subscription answer) are skipped, not bad.
//
// The fast path reads bytes and converts decimals itself: a decimal with at most 15 significant digits and at most
// 22 decimals is `m / 10^k` with both operands exact, so the one correctly rounded division equals `Number(text)`.
// Anything the fast path does not expect (escapes, exponents, odd layouts) goes to `JSON.parse`, which gives the
// same values or the final verdict on a bad line.

import { isoToUs } from '../exchanges/coinbase/parse.js'

export const LINE_OK = 0
export const LINE_SKIP = 1
export const LINE_BAD = 2
export type LineStatus = typeof LINE_OK | typeof LINE_SKIP | typeof LINE_BAD

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22]
const DECIMAL = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/

/** Thrown inside the fast path: hand the line to JSON.parse */
const FALLBACK = { fallback: true }
/** Thrown inside either path: the line is bad, `reason` says why */
const BAD = { bad: true }
/** Thrown when the line is well-formed but not a snapshot */
const SKIP = { skip: true }

/** Converts an epoch time of unknown unit to µs: by magnitude for numbers, by digit count for integer text. */
export function epochToUs(x: number): number {
  const a = Math.abs(x)
  if (a >= 1e17) return Math.floor(x / 1000)
  if (a >= 1e14) return Math.round(x)
  if (a >= 1e11) return Math.round(x * 1000)
  return Math.round(x * 1e6)
}

/** Integer epoch digits to µs exactly (19-digit ns would lose precision as a double). */
function digitsToUs(text: string): number {
  const n = text.length
  if (n >= 17) return Number(text.slice(0, n - 3))
  return epochToUs(Number(text))
}

export class SnapshotLineParser {
  /** Levels stored per side on the last OK line, best first */
  readonly bidPx: Float64Array
  readonly bidSz: Float64Array
  readonly askPx: Float64Array
  readonly askSz: Float64Array
  bids = 0
  asks = 0
  /** Sample time, µs */
  ts = 0
  /** Why the last line was bad (or skipped) */
  reason = ''

  private b: Uint8Array = new Uint8Array(0)
  private p = 0
  private e = 0
  private localTs = -1
  private outerTs = -1
  private innerTs = -1
  private eventTs = -1
  private txTs = -1
  private hasBids = false
  private hasAsks = false
  /** 0 none, 1 partial depth (`@depth<N>`), 2 diff stream, 3 another stream */
  private streamKind = 0
  private eventKind = 0
  private depth = 0

  constructor(readonly levels: number) {
    this.bidPx = new Float64Array(levels)
    this.bidSz = new Float64Array(levels)
    this.askPx = new Float64Array(levels)
    this.askSz = new Float64Array(levels)
  }

  /** Parses bytes [start, end) of `b` (one line without its newline). */
  parse(b: Uint8Array, start: number, end: number): LineStatus {
    while (end > start && (b[end - 1] === 13 || b[end - 1] === 32 || b[end - 1] === 9)) end--
    this.b = b
    this.p = start
    this.e = end
    this.reset()
    // `<local_ts> <json>`: receipt time first
    let q = start
    while (q < end && b[q] >= 48 && b[q] <= 57) q++
    let jsonStart = start
    if (q > start && q < end && b[q] === 32) {
      if (q - start < 10 || q - start > 19) return this.bad(`receipt-time prefix of ${q - start} digits, expected 10 to 19`)
      this.localTs = digitsToUs(latin1(b, start, q))
      jsonStart = q + 1
      this.p = jsonStart
    }
    try {
      this.ws()
      if (this.p >= this.e || this.b[this.p] !== 123) throw FALLBACK
      this.object()
      this.ws()
      if (this.p !== this.e) throw FALLBACK
      return this.finish()
    } catch (x) {
      if (x === BAD) return LINE_BAD
      if (x === SKIP) return LINE_SKIP
      if (x !== FALLBACK) throw x
    }
    return this.slow(latin1Or8(b, jsonStart, end))
  }

  private reset(): void {
    this.localTs = -1
    this.outerTs = -1
    this.innerTs = -1
    this.eventTs = -1
    this.txTs = -1
    this.hasBids = false
    this.hasAsks = false
    this.bids = 0
    this.asks = 0
    this.streamKind = 0
    this.eventKind = 0
    this.depth = 0
    this.reason = ''
  }

  private bad(reason: string): LineStatus {
    this.reason = reason
    return LINE_BAD
  }

  private fail(reason: string): never {
    this.reason = reason
    throw BAD
  }

  private finish(): LineStatus {
    if (this.streamKind === 3 || this.eventKind === 3) {
      this.reason = 'not a depth snapshot'
      return LINE_SKIP
    }
    if (this.streamKind === 2) return this.bad('a depth diff (`@depth` stream) in a snapshot input: convert the recording it came from instead')
    if (!this.hasBids || !this.hasAsks) {
      this.reason = 'not a depth snapshot'
      return LINE_SKIP
    }
    const t = this.localTs >= 0 ? this.localTs : this.outerTs >= 0 ? this.outerTs : this.innerTs >= 0 ? this.innerTs : this.eventTs >= 0 ? this.eventTs : this.txTs
    if (t < 0) return this.bad('no timestamp: expected a `<local_ts> ` prefix or a "ts", "E" or "T" field')
    if (!Number.isSafeInteger(t) || t < 1e14) return this.bad(`timestamp ${t} µs is not a time after 1973`)
    this.ts = t
    return LINE_OK
  }

  // ---- fast path ----

  private ws(): void {
    const b = this.b
    let p = this.p
    const e = this.e
    while (p < e) {
      const c = b[p]
      if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break
      p++
    }
    this.p = p
  }

  /** Position just past the closing quote of a string starting at `p` (on the quote); FALLBACK on escapes. */
  private stringEnd(escapesOk: boolean): number {
    const b = this.b
    const e = this.e
    let p = this.p + 1
    while (p < e) {
      const c = b[p]
      if (c === 34) return p + 1
      if (c === 92) {
        if (!escapesOk) throw FALLBACK
        p += 2
        continue
      }
      if (c < 32) throw FALLBACK
      p++
    }
    throw FALLBACK
  }

  private object(): void {
    const b = this.b
    this.depth++
    this.p++ // {
    this.ws()
    if (this.p < this.e && b[this.p] === 125) {
      this.p++
      this.depth--
      return
    }
    for (;;) {
      if (this.p >= this.e || b[this.p] !== 34) throw FALLBACK
      const ks = this.p + 1
      const kend = this.stringEnd(false)
      const klen = kend - 1 - ks
      this.p = kend
      this.ws()
      if (this.p >= this.e || b[this.p] !== 58) throw FALLBACK
      this.p++
      this.ws()
      if (this.p >= this.e) throw FALLBACK
      this.field(ks, klen)
      this.ws()
      if (this.p >= this.e) throw FALLBACK
      const c = b[this.p]
      if (c === 44) {
        this.p++
        this.ws()
        continue
      }
      if (c === 125) {
        this.p++
        this.depth--
        return
      }
      throw FALLBACK
    }
  }

  private field(ks: number, klen: number): void {
    const b = this.b
    const c0 = b[ks]
    const v = b[this.p]
    switch (klen) {
      case 1:
        if (c0 === 98 || c0 === 97) {
          // "b" / "a": levels when an array (USD-M partial depth), a price in a bookTicker
          if (v === 91) return this.levelsOf(c0 === 98)
          break
        }
        if (c0 === 69 || c0 === 84) {
          // "E" / "T"
          if (v === 45 || (v >= 48 && v <= 57)) {
            const t = this.timeNumber()
            if (c0 === 69) this.eventTs = t
            else this.txTs = t
            return
          }
          break
        }
        if (c0 === 101 && v === 34) {
          // "e": event type
          const s = this.p + 1
          const end = this.stringEnd(true)
          this.p = end
          this.eventKind = bytesEq(b, s, end - 1 - s, 'depthUpdate') ? 1 : 3
          return
        }
        break
      case 2:
        if (c0 === 116 && b[ks + 1] === 115) return this.timeField() // ts
        break
      case 4:
        if (c0 === 98 && bytesEq(b, ks, 4, 'bids')) {
          if (v === 91) return this.levelsOf(true)
          this.fail('"bids" is not an array of levels')
        }
        if (c0 === 97 && bytesEq(b, ks, 4, 'asks')) {
          if (v === 91) return this.levelsOf(false)
          this.fail('"asks" is not an array of levels')
        }
        if (c0 === 100 && bytesEq(b, ks, 4, 'data') && v === 123) {
          if (this.depth > 1) throw FALLBACK
          return this.object()
        }
        if (c0 === 116 && bytesEq(b, ks, 4, 'time')) return this.timeField()
        break
      case 6:
        if (c0 === 115 && bytesEq(b, ks, 6, 'stream') && v === 34) {
          const s = this.p + 1
          const end = this.stringEnd(false)
          this.p = end
          this.streamKind = streamKindOf(b, s, end - 1)
          return
        }
        break
      case 9:
        if (c0 === 116 && bytesEq(b, ks, 9, 'timestamp')) return this.timeField()
        break
    }
    this.skipValue()
  }

  private timeField(): void {
    const v = this.b[this.p]
    let t: number
    if (v === 34) {
      const s = this.p + 1
      const end = this.stringEnd(false)
      this.p = end
      const text = latin1(this.b, s, end - 1)
      const iso = isoToUs(text)
      if (iso !== undefined) t = iso
      else if (/^\d{10,19}$/.test(text)) t = digitsToUs(text)
      else this.fail(`time '${text.slice(0, 40)}' is not epoch digits or an ISO-8601 UTC time`)
    } else if (v === 45 || (v >= 48 && v <= 57)) {
      t = this.timeNumber()
    } else {
      this.fail('"ts" is not a number or a string')
    }
    if (this.depth <= 1) this.outerTs = t
    else this.innerTs = t
  }

  /** A JSON number used as a time; integers by digit count, fractions by magnitude. */
  private timeNumber(): number {
    const b = this.b
    const s = this.p
    let p = s
    const e = this.e
    let int = true
    while (p < e) {
      const c = b[p]
      if (c >= 48 && c <= 57) p++
      else if (c === 46 || c === 101 || c === 69 || c === 45 || c === 43) {
        int = false
        p++
      } else break
    }
    this.p = p
    const text = latin1(b, s, p)
    if (int && text.length > 0) return digitsToUs(text)
    if (!DECIMAL.test(text)) throw FALLBACK
    const x = Number(text)
    if (!(x > 0)) this.fail(`time ${text} is not positive`)
    return epochToUs(x)
  }

  private levelsOf(bid: boolean): void {
    const b = this.b
    const N = this.levels
    const px = bid ? this.bidPx : this.askPx
    const sz = bid ? this.bidSz : this.askSz
    let n = 0
    let prev = bid ? Infinity : 0
    this.p++ // [
    this.ws()
    if (this.p < this.e && b[this.p] === 93) {
      this.p++
    } else {
      for (let k = 0; ; k++) {
        if (this.p >= this.e || b[this.p] !== 91) this.fail(`${bid ? 'bids' : 'asks'}[${k}] is not a [price, size] pair`)
        if (n < N) {
          this.p++
          this.ws()
          const price = this.numValue(bid, k, 'price')
          this.ws()
          if (this.p >= this.e || b[this.p] !== 44) this.fail(`${bid ? 'bids' : 'asks'}[${k}] is not a [price, size] pair`)
          this.p++
          this.ws()
          const size = this.numValue(bid, k, 'size')
          this.ws()
          while (this.p < this.e && b[this.p] === 44) {
            this.p++
            this.ws()
            this.skipValue()
            this.ws()
          }
          if (this.p >= this.e || b[this.p] !== 93) throw FALLBACK
          this.p++
          if (!(price > 0)) this.fail(`${bid ? 'bids' : 'asks'}[${k}] price ${price} is not positive`)
          if (!(size >= 0)) this.fail(`${bid ? 'bids' : 'asks'}[${k}] size ${size} is negative`)
          if (size > 0) {
            if (bid ? price >= prev : price <= prev) this.fail(`${bid ? 'bids' : 'asks'} are not sorted best first at level ${k} (${price} after ${prev})`)
            px[n] = price
            sz[n] = size
            prev = price
            n++
          }
        } else {
          this.skipValue()
        }
        this.ws()
        if (this.p >= this.e) throw FALLBACK
        const c = b[this.p]
        if (c === 44) {
          this.p++
          this.ws()
          continue
        }
        if (c === 93) {
          this.p++
          break
        }
        throw FALLBACK
      }
    }
    if (bid) {
      this.bids = n
      this.hasBids = true
    } else {
      this.asks = n
      this.hasAsks = true
    }
  }

  /** A price or size: a decimal string or a JSON number. */
  private numValue(bid: boolean, k: number, what: string): number {
    const b = this.b
    const e = this.e
    const quoted = b[this.p] === 34
    const s = quoted ? this.p + 1 : this.p
    let p = s
    const neg = p < e && b[p] === 45
    if (neg) p++
    const ds = p
    // Digits accumulate into m: while m stays at most 2^53 every step was exact, so checking the end is enough
    let m = 0
    let c = 0
    while (p < e) {
      c = b[p]
      if (c < 48 || c > 57) break
      m = m * 10 + (c - 48)
      p++
    }
    const intDigits = p - ds
    let frac = 0
    if (p < e && c === 46) {
      p++
      const fs = p
      c = 0
      while (p < e) {
        c = b[p]
        if (c < 48 || c > 57) break
        m = m * 10 + (c - 48)
        p++
      }
      frac = p - fs
    }
    const end = p
    const closed = quoted ? end < e && b[end] === 34 : end >= e || (b[end] !== 101 && b[end] !== 69)
    if (!closed || intDigits + frac === 0 || m > 9007199254740992 || frac > 22) {
      // Exponents, long mantissas, odd text: the reference conversion decides
      let close = end
      if (quoted) {
        close = this.stringEnd(false)
        this.p = close
        return this.textNumber(latin1(b, s, close - 1), bid, k, what)
      }
      while (close < e) {
        const d = b[close]
        if ((d >= 48 && d <= 57) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45) close++
        else break
      }
      this.p = close
      throw FALLBACK
    }
    if (quoted) this.p = end + 1
    else {
      // JSON numbers have no leading zeros and no bare dots: JSON.parse decides on those
      if ((b[ds] === 48 && intDigits > 1) || intDigits === 0 || (frac === 0 && b[end - 1] === 46)) throw FALLBACK
      this.p = end
    }
    const x = frac === 0 ? m : m / POW10[frac]
    return neg ? -x : x
  }

  private textNumber(text: string, bid: boolean, k: number, what: string): number {
    if (!DECIMAL.test(text)) this.fail(`${bid ? 'bids' : 'asks'}[${k}] ${what} '${text.slice(0, 40)}' is not a decimal`)
    const x = Number(text)
    if (!Number.isFinite(x)) this.fail(`${bid ? 'bids' : 'asks'}[${k}] ${what} '${text.slice(0, 40)}' is not finite`)
    return x
  }

  private skipValue(): void {
    const b = this.b
    if (this.p >= this.e) throw FALLBACK
    const c = b[this.p]
    if (c === 34) {
      this.p = this.stringEnd(true)
      return
    }
    if (c === 123 || c === 91) {
      const close = c === 123 ? 125 : 93
      this.p++
      this.ws()
      if (this.p < this.e && b[this.p] === close) {
        this.p++
        return
      }
      for (;;) {
        if (c === 123) {
          if (this.p >= this.e || b[this.p] !== 34) throw FALLBACK
          this.p = this.stringEnd(true)
          this.ws()
          if (this.p >= this.e || b[this.p] !== 58) throw FALLBACK
          this.p++
          this.ws()
        }
        this.skipValue()
        this.ws()
        if (this.p >= this.e) throw FALLBACK
        const d = b[this.p]
        if (d === 44) {
          this.p++
          this.ws()
          continue
        }
        if (d === close) {
          this.p++
          return
        }
        throw FALLBACK
      }
    }
    if (c === 45 || (c >= 48 && c <= 57)) {
      let p = this.p + 1
      while (p < this.e) {
        const d = b[p]
        if ((d >= 48 && d <= 57) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45) p++
        else break
      }
      this.p = p
      return
    }
    if (c === 116 && bytesEq(b, this.p, 4, 'true')) {
      this.p += 4
      return
    }
    if (c === 102 && bytesEq(b, this.p, 5, 'false')) {
      this.p += 5
      return
    }
    if (c === 110 && bytesEq(b, this.p, 4, 'null')) {
      this.p += 4
      return
    }
    throw FALLBACK
  }

  // ---- slow path: JSON.parse and the same rules on the object ----

  private slow(text: string): LineStatus {
    const localTs = this.localTs
    this.reset()
    this.localTs = localTs
    let o: unknown
    try {
      o = JSON.parse(text)
    } catch (err) {
      return this.bad(`not JSON (${err instanceof Error ? err.message.slice(0, 80) : 'parse error'})`)
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) return this.bad('not a JSON object')
    try {
      const outer = o as Record<string, unknown>
      let payload = outer
      if (typeof outer.stream === 'string') this.streamKind = streamKindOfText(outer.stream)
      if (outer.data !== null && typeof outer.data === 'object' && !Array.isArray(outer.data)) payload = outer.data as Record<string, unknown>
      this.outerTs = this.slowTime(outer)
      if (payload !== outer) this.innerTs = this.slowTime(payload)
      for (const r of payload === outer ? [outer] : [outer, payload]) {
        if (typeof r.E === 'number') this.eventTs = epochToUs(r.E)
        if (typeof r.T === 'number') this.txTs = epochToUs(r.T)
        if (typeof r.e === 'string') this.eventKind = r.e === 'depthUpdate' ? 1 : 3
      }
      for (const [key, alt, bid] of [['bids', 'b', true], ['asks', 'a', false]] as const) {
        let v = payload[key]
        if (v === undefined && Array.isArray(payload[alt])) v = payload[alt]
        if (v === undefined) continue
        if (!Array.isArray(v)) this.fail(`"${key}" is not an array of levels`)
        this.slowLevels(v, bid)
      }
    } catch (x) {
      if (x === BAD) return LINE_BAD
      throw x
    }
    return this.finish()
  }

  private slowTime(r: Record<string, unknown>): number {
    const v = r.ts ?? r.time ?? r.timestamp
    if (v === undefined) return -1
    if (typeof v === 'number') {
      if (!(v > 0)) this.fail(`time ${v} is not positive`)
      return Number.isInteger(v) ? digitsToUs(String(v)) : epochToUs(v)
    }
    if (typeof v === 'string') {
      const iso = isoToUs(v)
      if (iso !== undefined) return iso
      if (/^\d{10,19}$/.test(v)) return digitsToUs(v)
      this.fail(`time '${v.slice(0, 40)}' is not epoch digits or an ISO-8601 UTC time`)
    }
    this.fail('"ts" is not a number or a string')
  }

  private slowLevels(v: unknown[], bid: boolean): void {
    const px = bid ? this.bidPx : this.askPx
    const sz = bid ? this.bidSz : this.askSz
    let n = 0
    let prev = bid ? Infinity : 0
    const side = bid ? 'bids' : 'asks'
    for (let k = 0; k < v.length && n < this.levels; k++) {
      const l = v[k]
      if (!Array.isArray(l) || l.length < 2) this.fail(`${side}[${k}] is not a [price, size] pair`)
      const price = this.slowNumber(l[0], bid, k, 'price')
      const size = this.slowNumber(l[1], bid, k, 'size')
      if (!(price > 0)) this.fail(`${side}[${k}] price ${price} is not positive`)
      if (!(size >= 0)) this.fail(`${side}[${k}] size ${size} is negative`)
      if (size === 0) continue
      if (bid ? price >= prev : price <= prev) this.fail(`${side} are not sorted best first at level ${k} (${price} after ${prev})`)
      px[n] = price
      sz[n] = size
      prev = price
      n++
    }
    // Levels past N are not read, but they must still be pairs for the line to be the same as on the fast path
    if (bid) {
      this.bids = n
      this.hasBids = true
    } else {
      this.asks = n
      this.hasAsks = true
    }
  }

  private slowNumber(x: unknown, bid: boolean, k: number, what: string): number {
    if (typeof x === 'number') return x
    if (typeof x === 'string') return this.textNumber(x, bid, k, what)
    this.fail(`${bid ? 'bids' : 'asks'}[${k}] ${what} is not a number or a decimal string`)
  }
}

function bytesEq(b: Uint8Array, at: number, len: number, s: string): boolean {
  if (s.length !== len) return false
  for (let i = 0; i < len; i++) if (b[at + i] !== s.charCodeAt(i)) return false
  return true
}

/** Bytes as text when they are ASCII (the usual case), else decoded as UTF-8. */
function latin1(b: Uint8Array, s: number, e: number): string {
  let out = ''
  for (let i = s; i < e; i++) out += String.fromCharCode(b[i])
  return out
}

function latin1Or8(b: Uint8Array, s: number, e: number): string {
  return Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('utf8')
}

/** `@depth<digit>` is a partial (top-N) stream, `@depth` alone or `@depth@100ms` the diff stream. */
function streamKindOf(b: Uint8Array, s: number, e: number): number {
  for (let i = s; i + 6 <= e; i++) {
    if (b[i] === 64 && bytesEq(b, i + 1, 5, 'depth')) {
      const c = b[i + 6]
      return i + 6 < e && c >= 48 && c <= 57 ? 1 : 2
    }
  }
  return 3
}

function streamKindOfText(s: string): number {
  const i = s.indexOf('@depth')
  if (i < 0) return 3
  const c = s.charCodeAt(i + 6)
  return c >= 48 && c <= 57 ? 1 : 2
}
