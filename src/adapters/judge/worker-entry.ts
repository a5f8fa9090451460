// The judge's worker thread (see worker.ts): builds the series from the ticks it holds and judges,
// one request at a time, in the order they came.
import { parentPort } from 'node:worker_threads';
import { judgeGateLook, judgeWatchLook } from '../../core/rollout/look.js';
import type { Tick } from '../../core/rollout/samples.js';
import type { JudgeMessage, JudgeReply } from './protocol.js';

const held = new Map<number, Tick>();
const port = parentPort;
if (!port) throw new Error('worker-entry.ts runs as a worker thread (adapters/judge/worker.ts starts it)');

port.on('message', (m: JudgeMessage) => {
  for (const [id, t] of m.add) held.set(id, t);
  if (m.kind === 'hold') return;
  const ticks = m.ticks.map((id) => {
    const t = held.get(id);
    // The two sides no longer agree on what this thread holds: end it (uncaught), the engine's side starts a new one.
    if (!t) throw new Error(`judge worker: tick ${id} was never sent`);
    return t;
  });
  const keep = new Set(m.ticks);
  for (const id of held.keys()) if (!keep.has(id)) held.delete(id);
  let reply: JudgeReply;
  try {
    const result =
      m.kind === 'gate'
        ? judgeGateLook({ ...m.look, samples: { ...m.look.samples, ticks } })
        : judgeWatchLook({ ...m.look, samples: { ...m.look.samples, ticks } });
    reply = { id: m.id, ok: true, result };
  } catch (err) {
    reply = { id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
