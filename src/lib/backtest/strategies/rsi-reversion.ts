// rsi-reversion: a signal-threshold strategy on the registry's RSI (TA-Lib's Wilder RSI)
import { strategyParam, type Strategy, type StrategyContext } from '../strategy.js'

interface State {
  rsi: number[]
}

/** Buys when RSI closes below `lower`, sells the whole position when it closes above `upper`; long only. */
export const rsiReversion: Strategy = {
  name: 'rsi-reversion',
  description: 'Buy when RSI(period) closes below lower, sell the position when it closes above upper (long only)',
  params: [
    strategyParam('period', 14, 2, 100, 'RSI period (Wilder smoothing)'),
    strategyParam('lower', 30, 5, 50, 'buy when RSI closes below this'),
    strategyParam('upper', 70, 50, 95, 'sell when RSI closes above this'),
  ],
  // Wilder smoothing forgets its seed slowly: ten periods make the first decision independent of where data starts
  warmup: (p) => p.period * 10,
  onStart(ctx: StrategyContext) {
    const st = ctx.state as unknown as State
    st.rsi = ctx.instruments.map((_, k) => ctx.indicator('rsi', { timePeriod: ctx.params.period }, { instrument: k }))
  },
  onBar(ctx: StrategyContext) {
    const st = ctx.state as unknown as State
    const lower = ctx.params.lower
    const upper = ctx.params.upper
    for (let k = 0; k < st.rsi.length; k++) {
      const r = ctx.value(st.rsi[k])
      if (r !== r) continue
      const pos = ctx.position(k)
      if (pos === 0 && r < lower) {
        // Sized by the risk gate (default: an equal share of the buying power)
        ctx.order({ instrument: ctx.instruments[k], side: 'buy', type: 'market', tag: 'rsi low' })
      } else if (pos > 0 && r > upper) {
        ctx.cancelAll(k)
        ctx.order({ instrument: ctx.instruments[k], side: 'sell', type: 'market', qty: pos, reduceOnly: true, tag: 'rsi high' })
      }
    }
  },
}
