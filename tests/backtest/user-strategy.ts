// A user strategy file's text, as a user would write it (plain JavaScript, default export)
export const SMA_CROSS = `// A user strategy: long while the fast SMA is above the slow one
export default {
  name: 'sma-cross',
  description: 'fast SMA over slow SMA',
  params: [
    { name: 'fast', default: 10, min: 2, max: 50, step: 1, integer: true },
    { name: 'slow', default: 30, min: 5, max: 200, step: 5, integer: true },
  ],
  onStart(ctx) {
    ctx.state.fast = ctx.indicator('sma', { timePeriod: ctx.params.fast })
    ctx.state.slow = ctx.indicator('sma', { timePeriod: ctx.params.slow })
  },
  onBar(ctx) {
    const f = ctx.value(ctx.state.fast)
    const s = ctx.value(ctx.state.slow)
    if (!(f > 0 && s > 0)) return
    const pos = ctx.position()
    if (pos === 0 && f > s) ctx.order({ instrument: ctx.instruments[0], side: 'buy', type: 'market' })
    else if (pos > 0 && f < s) ctx.order({ instrument: ctx.instruments[0], side: 'sell', type: 'market', qty: pos, reduceOnly: true })
  },
}
`
