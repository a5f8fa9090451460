// GET /metrics: the orchestrator's own Prometheus metrics (prom-client, its own registry). Counters
// and the step-duration histogram are fed from the engine's events; the line gauges read the store
// at scrape time, so they are right after a restart too.
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { OUTCOMES } from '../core/line/types.js';
import type { LineEvent } from '../engine/events.js';
import type { ServerContext } from './context.js';
import { ownMetrics } from '../telemetry.js';

const FINISHED = new Set(['live', 'failed', 'aborted']);

export interface OrchestratorMetrics {
  registry: Registry;
  /** Stop listening to events. */
  close(): void;
}

export function createOrchestratorMetrics(ctx: Pick<ServerContext, 'events' | 'store' | 'pipelineName' | 'log'>): OrchestratorMetrics {
  const m = ownMetrics();
  const pipeline = ctx.pipelineName;
  const deploys = m.counter('immune_deploys_total', 'Deploys finished, by outcome', { outcome: OUTCOMES });
  const stepDuration = m.histogram(
    'immune_step_duration_seconds',
    'Time a deploy spent in each stage and rollout step (label status: testing, building, rolling_out, baking, watching, rolling_back, reverting)',
    ['status'],
    [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
  );
  const verdicts = m.counter('immune_gate_verdicts_total', 'Gate looks by decision (pass, fail, inconclusive, continue)', {
    decision: ['pass', 'fail', 'inconclusive', 'continue'],
  });
  // The line gauges read the store at scrape time.
  m.gauge('immune_line_blocked', '1 when the line is blocked, else 0', async () =>
    pipeline ? ((await ctx.store.line.getLine(pipeline)).blocked ? 1 : 0) : undefined,
  );
  m.gauge('immune_queue_length', 'Commits waiting in the line', async () =>
    pipeline ? (await ctx.store.line.getLine(pipeline)).queue.length : undefined,
  );

  // Per deploy in flight: the stage it is in and since when.
  const phase = new Map<string, { key: string; status: string; since: number }>();
  const counted = new Set<string>();

  const onDeploy = async (e: Extract<LineEvent, { type: 'deploy' }> & { time: number; outcome?: string }) => {
    const key = `${e.status}:${e.step ?? -1}`;
    const prev = phase.get(e.deploy);
    if (prev && prev.key !== key) stepDuration.observe({ status: prev.status }, Math.max(0, e.time - prev.since) / 1000);
    if (!prev || prev.key !== key) phase.set(e.deploy, { key, status: e.status, since: e.time });
    if (!FINISHED.has(e.status)) return;
    phase.delete(e.deploy);
    if (counted.has(e.deploy)) return;
    counted.add(e.deploy);
    if (counted.size > 10_000) counted.delete(counted.values().next().value!);
    let outcome = e.outcome;
    if (!outcome) outcome = (await ctx.store.line.getDeploy(e.deploy))?.outcome;
    deploys.inc({ outcome: outcome ?? (e.status === 'live' ? 'live' : e.status === 'aborted' ? 'aborted' : 'failed') });
  };

  const off = ctx.events.on((e) => {
    if (e.type === 'gate') verdicts.inc({ decision: e.decision });
    else if (e.type === 'deploy') onDeploy(e).catch((err: unknown) => ctx.log.warn({ err }, 'metrics: cannot read deploy outcome'));
  });
  return { registry: m.registry, close: off };
}

export async function registerMetrics(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const m = createOrchestratorMetrics(ctx);
  app.addHook('onClose', async () => m.close());
  app.get('/metrics', { preHandler: ctx.auth.require('viewer') }, async (_req, reply) => {
    const text = (await m.registry.metrics()) + (ctx.notifications ? await ctx.notifications.registry.metrics() : '');
    return reply.type(m.registry.contentType).send(text);
  });
}
