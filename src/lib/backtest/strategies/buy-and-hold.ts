// buy-and-hold: the benchmark as a strategy, paying the run's costs
import type { Strategy, StrategyContext } from '../strategy.js'

/** Buys every instrument at the first bar it has a price (an equal share each) and holds to the end. */
export const buyAndHold: Strategy = {
  name: 'buy-and-hold',
  description: 'Buy every instrument once, at the first open after the first bar, with an equal share of the capital; hold',
  params: [],
  onBar(ctx: StrategyContext) {
    if (ctx.state.done) return
    let all = true
    for (let k = 0; k < ctx.instruments.length; k++) {
      if (ctx.close(k) * 0 !== 0) {
        all = false
        continue
      }
      if (ctx.position(k) === 0 && !(ctx.state[`sent${k}`] as boolean)) {
        ctx.order({ instrument: ctx.instruments[k], side: 'buy', type: 'market', tag: 'hold' })
        ctx.state[`sent${k}`] = true
      }
    }
    if (all) ctx.state.done = true
  },
}
