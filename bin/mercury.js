#!/usr/bin/env node
// The only place that turns errors into exit codes: 0 ok, 1 runtime failure, 2 usage error.
import { run } from '../dist/src/cli.js'
import { MercuryError, oneLine } from '../dist/src/lib/errors.js'

// A reader that stops early (`mercury signals list | head`) closes the pipe: stop quietly, as Unix tools do
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err && err.code === 'EPIPE') process.exit(0)
    throw err
  })
}

try {
  await run(process.argv)
} catch (err) {
  if (err && typeof err === 'object' && 'code' in err && String(err.code).startsWith('commander.')) {
    // commander has printed its message (or the help/version) already
    const ok = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code)
    process.exitCode = ok ? 0 : 2
  } else if (err instanceof MercuryError) {
    process.stderr.write(`mercury: ${oneLine(err)}\n`)
    process.exitCode = err.exitCode
  } else {
    process.stderr.write(`mercury: ${oneLine(err)}\n`)
    if (process.env.MERCURY_DEBUG) console.error(err)
    process.exitCode = 1
  }
}
