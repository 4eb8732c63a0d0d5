// Volume indicators
import type { IndicatorDef } from '../types.js'

export const VOLUME: readonly IndicatorDef[] = []
