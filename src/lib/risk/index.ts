// The risk gate shared by `backtest` and the live executor
export { RiskEngine } from './engine.js'
export type { Decision, RiskAccount, RiskEvent, RiskFill, RiskLimits, RiskMarket, RiskOrder, RiskState, Sizing } from './types.js'
