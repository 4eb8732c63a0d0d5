// Keeping secrets out of what is printed: connection URLs with passwords (PostgreSQL, Redis), parsed or not

/** What a secret is shown as */
export const MASK = '***'

/** Masks the password part of anything that looks like a URL with credentials, parsed or not. */
export function redactLoose(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^@\s]*@/gi, `$1${MASK}@`)
}

/** Masks what follows the first colon of the user part of a text that did not parse as a URL. */
export function maskUserinfo(raw: string): string {
  const at = raw.lastIndexOf('@')
  if (at < 0) return raw
  const slashes = raw.indexOf('//')
  const start = slashes >= 0 && slashes < at ? slashes + 2 : 0
  const colon = raw.indexOf(':', start)
  if (colon < 0 || colon > at) return raw
  return `${raw.slice(0, colon)}:${MASK}${raw.slice(at)}`
}

/** decodeURIComponent, or the text as it is when it is not valid percent-encoding. */
export function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}
