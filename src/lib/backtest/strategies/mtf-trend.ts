// mtf-trend: trend following on the registry's confluence score, on the run's bars and on a higher timeframe built
// from them with closed buckets only (src/lib/signals/mtf.ts), so no decision sees a bucket before it closed
import { strategyParam, type Strategy, type StrategyContext } from '../strategy.js'

interface State {
  base: number[]
  htf: number[]
}

/** Long while the confluence of both timeframes agrees up (short on perpetuals when `short` is 1). */
export const mtfTrend: Strategy = {
  name: 'mtf-trend',
  description:
    'Enter long when the confluence score is at least `entry` on the bars and on the higher timeframe (htfMultiple × the bars); ' +
    'exit when the higher timeframe falls to `exit` or the bars turn to -entry. short=1 mirrors it on perpetuals',
  params: [
    strategyParam('htfMultiple', 4, 2, 24, 'higher timeframe as a multiple of the bars (4 on 1h = 4h)'),
    strategyParam('entry', 0.5, 0.125, 1, 'confluence score to enter at, on both timeframes', { step: 0.125 }),
    strategyParam('exit', 0, -0.5, 0.5, 'higher-timeframe confluence score to exit at', { step: 0.125 }),
    strategyParam('short', 0, 0, 1, '1: also trade the mirror image short (perpetuals only)'),
  ],
  // The confluence needs 50 bars on the higher timeframe
  warmup: (p) => (49 + 5) * p.htfMultiple + 50,
  onStart(ctx: StrategyContext) {
    const st = ctx.state as unknown as State
    st.base = ctx.instruments.map((_, k) => ctx.indicator('confluence', {}, { instrument: k }))
    st.htf = ctx.instruments.map((_, k) => ctx.indicator('confluence', {}, { instrument: k, timeframe: ctx.params.htfMultiple }))
  },
  onBar(ctx: StrategyContext) {
    const st = ctx.state as unknown as State
    const { entry, exit } = ctx.params
    for (let k = 0; k < st.base.length; k++) {
      const c0 = ctx.value(st.base[k])
      const c1 = ctx.value(st.htf[k])
      if (c0 !== c0 || c1 !== c1) continue
      const inst = ctx.instruments[k]
      const pos = ctx.position(k)
      const short = ctx.params.short === 1 && ctx.market(k) === 'perp'
      if (pos > 0) {
        if (c1 <= exit || c0 <= -entry) ctx.order({ instrument: inst, side: 'sell', type: 'market', qty: pos, reduceOnly: true, tag: 'trend exit' })
      } else if (pos < 0) {
        if (c1 >= -exit || c0 >= entry) ctx.order({ instrument: inst, side: 'buy', type: 'market', qty: -pos, reduceOnly: true, tag: 'trend exit' })
      } else if (c0 >= entry && c1 >= entry) {
        ctx.order({ instrument: inst, side: 'buy', type: 'market', tag: 'trend up' })
      } else if (short && c0 <= -entry && c1 <= -entry) {
        ctx.order({ instrument: inst, side: 'sell', type: 'market', tag: 'trend down' })
      }
    }
  },
}
