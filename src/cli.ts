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
    .showHelpAfterError('(run with --help for usage)')
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
  for (const c of program.commands) {
    c.exitOverride()
    for (const s of c.commands) s.exitOverride()
  }
  return program
}

/** Runs the CLI; errors propagate to bin/ which maps them to exit codes. */
export async function run(argv: readonly string[]): Promise<void> {
  await buildProgram().parseAsync(argv as string[])
}
