// Why a server could not listen, in words that name the flags: a bare "listen EADDRINUSE" or "getaddrinfo
// ENOTFOUND" says neither which option to change nor what to change it to

import { FatalError, oneLine, UsageError, type MercuryError } from '../errors.js'

export interface ListenFlags {
  /** What was being served, e.g. "metrics" or "the replay" */
  readonly what: string
  readonly host: string
  readonly port: number
  readonly hostFlag: string
  readonly portFlag: string
}

/**
 * A host that does not resolve or is not this machine's is a bad value (exit 2); a port that is taken or needs
 * privileges is the machine's state (exit 1), with what to do about it.
 */
export function listenError(err: unknown, f: ListenFlags): MercuryError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  const cause = { cause: err }
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new UsageError(`Invalid ${f.hostFlag}: '${f.host}' does not resolve to an address. Expected an address of this machine, e.g. 127.0.0.1 or 0.0.0.0`, cause)
    case 'EADDRNOTAVAIL':
      return new UsageError(`Invalid ${f.hostFlag}: '${f.host}' is not an address of this machine. Expected one of its addresses, e.g. 127.0.0.1 or 0.0.0.0`, cause)
    case 'EADDRINUSE':
      return new FatalError(`Cannot serve ${f.what}: ${f.portFlag} ${f.port} is already in use on ${f.host}. Choose another ${f.portFlag} (0 picks a free one)`, cause)
    case 'EACCES':
      return new FatalError(`Cannot serve ${f.what}: ${f.portFlag} ${f.port} on ${f.host} needs privileges. Choose a ${f.portFlag} above 1023`, cause)
    default:
      return new FatalError(`Cannot serve ${f.what} on ${f.host}:${f.port} (${f.hostFlag}, ${f.portFlag}): ${oneLine(err)}`, cause)
  }
}
