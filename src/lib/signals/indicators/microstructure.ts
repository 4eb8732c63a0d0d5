// Microstructure indicators
import type { IndicatorDef } from '../types.js'

export const MICROSTRUCTURE: readonly IndicatorDef[] = []
