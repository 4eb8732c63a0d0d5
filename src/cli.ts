// Builds the commander program. Command modules are light; each loads its heavy libraries inside its action.

import { Command, Option } from 'commander'
import { readFileSync } from 'node:fs'
import { LOG_LEVELS } from './lib/log.js'
import { registerBackfill } from './commands/backfill.js'
import { registerBacktest } from './commands/backtest.js'
import { registerCollect } from './commands/collect.js'
import { registerConvertLob } from './commands/convert-lob.js'
import { registerData } from './commands/data.js'
import { registerExport } from './commands/export.js'
import { registerKaggleUpload } from './commands/kaggle-upload.js'
import { registerReplayServer } from './commands/replay-server.js'
import { registerSignals } from './commands/signals.js'

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

export function buildProgram(): Command {
  const program = new Command('mercury')
  program
    .description('Market-intelligence toolkit for crypto markets: a gap-aware Parquet lake of exchange data')
    .version(version(), '-V, --version')
    .option('--data-dir <dir>', 'lake folder (env MERCURY_DATA_DIR, default ~/.mercury/data)')
    .option('--json', 'machine-readable output on stdout')
    .addOption(new Option('--log-level <level>', 'stderr logging (env MERCURY_LOG_LEVEL)').choices([...LOG_LEVELS]))
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  $ mercury backfill --archive 'datasets/binance/**/*.zip'
  $ mercury data ls
  $ mercury data gaps binance:BTCUSDT --interval 1m
  $ mercury data query "SELECT count(*) FROM bars"
  $ mercury signals binance:BTCUSDT --interval 1h --mtf 4h,1d`,
    )
  registerBackfill(program)
  registerBacktest(program)
  registerCollect(program)
  registerConvertLob(program)
  registerData(program)
  registerExport(program)
  registerKaggleUpload(program)
  registerReplayServer(program)
  registerSignals(program)
  oneLineErrors(program, 'mercury')
  for (const c of program.commands) {
    c.exitOverride()
    oneLineErrors(c, `mercury ${c.name()}`)
    for (const s of c.commands) {
      s.exitOverride()
      oneLineErrors(s, `mercury ${c.name()} ${s.name()}`)
    }
  }
  return program
}

/**
 * Commander's parse errors in mercury's one-line form: `mercury: unknown option '--bogus' (see mercury data ls
 * --help)` rather than `error: ...` with its suggestion and hint on further lines.
 */
function oneLineErrors(cmd: Command, path: string): void {
  cmd.configureOutput({
    outputError: (str, write) => write(`mercury: ${str.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')} (see ${path} --help)\n`),
  })
}

/** Global options that take a value (their value is not a command name) */
const VALUE_OPTIONS = new Set(['--data-dir', '--log-level'])

/**
 * Whether the command words of argv name a command: `frobnicate` or `data bogus` do not. Only the leading words
 * are looked at (global options and their values skipped), down the levels that have subcommands.
 */
function namesKnownCommand(program: Command, args: readonly string[]): boolean {
  let cmd = program
  for (let i = 0; i < args.length && cmd.commands.length > 0; i++) {
    const a = args[i]
    if (a === '--') break
    if (a.startsWith('-')) {
      if (cmd === program && VALUE_OPTIONS.has(a)) i++
      continue
    }
    if (a === 'help') return true
    const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a))
    if (!sub) return false
    cmd = sub
  }
  return true
}

/** Runs the CLI; errors propagate to bin/ which maps them to exit codes. */
export async function run(argv: readonly string[]): Promise<void> {
  const program = buildProgram()
  const args = argv.slice(2)
  // `mercury frobnicate --help` would print the parent's help and exit 0: without --help, commander reports the
  // unknown command (with its suggestion) and exits 2
  const parsed = namesKnownCommand(program, args) ? [...argv] : [...argv.slice(0, 2), ...args.filter((a) => a !== '--help' && a !== '-h')]
  await program.parseAsync(parsed)
}
