// An optimiser worker thread: gets the market data once (shared columns, or its own load from the lake), loads the
// strategy by name or path, then runs `simulate` for each parameter set it is sent and replies with the metrics.

import { parentPort, workerData } from 'node:worker_threads'
import { loadMarketData, type MarketData } from './data.js'
import { Evaluator, fromShared, type ReplyMsg, type TaskMsg, type WorkerData } from './opt-eval.js'
import { loadStrategy } from './strategy.js'

async function main(): Promise<void> {
  const port = parentPort
  if (!port) throw new Error('worker.ts runs as a worker thread of the optimiser')
  const init = workerData as WorkerData
  const t0 = performance.now()
  let data: MarketData
  if (init.mode === 'shared') data = fromShared(init.data)
  else {
    const l = init.load
    data = await loadMarketData(l.lakeDir, l.instruments, l.interval, l.from, l.to, {
      market: l.market,
      warmupBars: l.warmupBars,
      intrabar: l.intrabar,
      book: l.book,
    })
  }
  const strategy = await loadStrategy(init.strategy)
  const ev = new Evaluator(data, strategy, init.sim)
  const post = (m: ReplyMsg) => port.postMessage(m)
  port.on('message', (task: TaskMsg) => {
    const t = performance.now()
    try {
      if (task.kind === 'score') post({ type: 'result', id: task.id, metrics: ev.score(task.window, task.params), ms: performance.now() - t })
      else post({ type: 'result', id: task.id, summary: ev.summary(task.window, task.params), ms: performance.now() - t })
    } catch (err) {
      const e = err as Error
      post({ type: 'error', id: task.id, name: e?.name ?? 'Error', message: e?.message ?? String(err) })
    }
  })
  post({ type: 'ready', loadMs: performance.now() - t0, rows: data.time.length })
}

main().catch((err: Error) => {
  parentPort?.postMessage({ type: 'error', id: -1, name: err?.name ?? 'Error', message: err?.message ?? String(err) } satisfies ReplyMsg)
})
