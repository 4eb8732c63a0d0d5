// The catalog as Markdown (docs/SIGNALS.md is generated from it and a test keeps the two equal)
import { INDICATORS } from './registry.js'
import { CATEGORIES } from './types.js'

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')

/** Renders every indicator with its parameters, outputs, TA-Lib equivalent and notes. */
export function catalogMarkdown(): string {
  const lines = [
    '# Signals catalog',
    '',
    'Generated from the indicator definitions (`npm run docs:signals`); `mercury signals list` shows the same.',
    'Outputs keep the input length; the first `warm-up` values are NaN. Where a TA-Lib function is named, values',
    'follow TA-Lib exactly (tested against TA-Lib C on real data); deviations are in the notes.',
    '',
    `${INDICATORS.length} indicators.`,
  ]
  for (const cat of CATEGORIES) {
    const defs = INDICATORS.filter((d) => d.category === cat)
    if (defs.length === 0) continue
    lines.push('', `## ${cat} (${defs.length})`, '', '| id | name | source | parameters: default [min, max] | outputs | warm-up | TA-Lib | notes |', '|---|---|---|---|---|---|---|---|')
    for (const d of defs) {
      const defaults = Object.fromEntries(d.params.map((p) => [p.name, p.default]))
      lines.push(
        `| \`${d.id}\` | ${esc(d.name)} | ${d.source} | ${d.params.map((p) => `${p.name} ${p.default} [${p.min}, ${p.max}]`).join('<br>') || '-'} | ${d.outputs.join(', ')} | ${d.lookback(defaults)} | ${d.talib ?? '-'} | ${esc(d.notes)} |`,
      )
    }
  }
  return lines.join('\n') + '\n'
}
