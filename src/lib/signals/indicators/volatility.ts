// Volatility indicators
import type { IndicatorDef } from '../types.js'

export const VOLATILITY: readonly IndicatorDef[] = []
