// Namespaced logging to stderr; lib code logs through here, never console.log

export const LOG_LEVELS = ['silent', 'error', 'warn', 'info', 'debug'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

let threshold: number = LOG_LEVELS.indexOf((process.env.MERCURY_LOG_LEVEL as LogLevel) ?? 'warn')
if (threshold < 0) threshold = LOG_LEVELS.indexOf('warn')

export function setLogLevel(level: LogLevel): void {
  threshold = LOG_LEVELS.indexOf(level)
}

export function logLevelEnabled(level: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) <= threshold
}

export interface Logger {
  error(msg: string): void
  warn(msg: string): void
  info(msg: string): void
  debug(msg: string): void
}

/** Returns a logger whose lines start with its namespace, e.g. `mercury:lake`. */
export function logger(namespace: string): Logger {
  const emit = (level: LogLevel) => (msg: string) => {
    if (LOG_LEVELS.indexOf(level) <= threshold) process.stderr.write(`${namespace} ${level}: ${msg}\n`)
  }
  return { error: emit('error'), warn: emit('warn'), info: emit('info'), debug: emit('debug') }
}
