// Composite indicators
import type { IndicatorDef } from '../types.js'

export const COMPOSITE: readonly IndicatorDef[] = []
