// Research indicators
import type { IndicatorDef } from '../types.js'

export const RESEARCH: readonly IndicatorDef[] = []
