// The indicator catalog: every family module contributes its definitions here
import { UsageError } from '../errors.js'
import { COMPOSITE } from './indicators/composite.js'
import { MICROSTRUCTURE } from './indicators/microstructure.js'
import { MOMENTUM } from './indicators/momentum.js'
import { RESEARCH } from './indicators/research.js'
import { TREND } from './indicators/trend.js'
import { VOLATILITY } from './indicators/volatility.js'
import { VOLUME } from './indicators/volume.js'
import type { IndicatorDef } from './types.js'

export const INDICATORS: readonly IndicatorDef[] = [
  ...MOMENTUM,
  ...TREND,
  ...VOLATILITY,
  ...VOLUME,
  ...MICROSTRUCTURE,
  ...RESEARCH,
  ...COMPOSITE,
]

const BY_ID = new Map(INDICATORS.map((d) => [d.id, d]))
if (BY_ID.size !== INDICATORS.length) {
  const seen = new Set<string>()
  const dup = INDICATORS.find((d) => (seen.has(d.id) ? true : (seen.add(d.id), false)))
  throw new Error(`duplicate indicator id in the registry: ${dup?.id}`)
}

/** Looks up an indicator by id or throws a usage error naming close matches. */
export function indicator(id: string): IndicatorDef {
  const d = BY_ID.get(id.toLowerCase())
  if (!d) {
    const near = INDICATORS.map((x) => x.id).filter((x) => x.includes(id.toLowerCase().slice(0, 3)))
    throw new UsageError(`Unknown indicator '${id}'.${near.length ? ` Did you mean ${near.join(', ')}?` : ''} See: mercury signals list`)
  }
  return d
}
