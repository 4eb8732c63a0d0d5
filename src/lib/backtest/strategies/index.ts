// Built-in strategies, by name
import type { Strategy } from '../strategy.js'
import { buyAndHold } from './buy-and-hold.js'
import { mtfTrend } from './mtf-trend.js'
import { rsiReversion } from './rsi-reversion.js'

export const STRATEGIES: readonly Strategy[] = [rsiReversion, mtfTrend, buyAndHold]
export { buyAndHold, mtfTrend, rsiReversion }
