// Experiments in `immune serve`: the REST routes (event ingestion from SDKs, the list, a readout,
// closing with a decision) over the engine's ExperimentRegistry, and the client token check.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ExperimentRegistry, LoadedExperiment } from '../engine/experiments.js';
import { ImmuneError } from '../core/errors.js';
import type { ExperimentState } from '../core/experiments/types.js';
import type { ServerContext } from './context.js';
import { validate } from './errors.js';

/** Start the registry's directory poll with the app and stop it on close; a failed first load does not stop the server. */
export function serveRegistry(app: FastifyInstance, ctx: ServerContext): ExperimentRegistry {
  const reg = ctx.experiments;
  app.addHook('onReady', async () => {
    reg.start();
    // A broken directory must not stop the server: requests retry the load and answer the error.
    await reg.refresh().catch((err: unknown) => ctx.log.error({ err }, `experiments: cannot load ${reg.dir}`));
  });
  app.addHook('onClose', async () => reg.stop());
  return reg;
}

/**
 * Checks the Unleash client token (raw, as SDKs send it, or as Bearer); throws 401 without. Every
 * configured token is compared with timingSafeEqual, so timing tells nothing but the token length.
 */
export function clientTokenCheck(ctx: ServerContext): (req: FastifyRequest) => void {
  const known = ctx.clientTokens.map((t) => Buffer.from(t, 'utf8'));
  return (req) => {
    const raw = req.headers.authorization ?? '';
    const token = Buffer.from(raw.startsWith('Bearer ') ? raw.slice(7) : raw, 'utf8');
    let found = false;
    for (const k of known) if (k.length === token.length && timingSafeEqual(k, token)) found = true;
    if (found && token.length > 0) return;
    throw unauthorized(req.url, token.length > 0);
  };
}

function unauthorized(url: string, hadToken: boolean): ImmuneError {
  const path = url.split('?')[0];
  return new ImmuneError(
    'IMMUNE_UNAUTHORIZED',
    hadToken ? `${path}: unknown client token` : `${path}: a client token is required in the Authorization header`,
  );
}

/** The token check as a route preHandler. */
export function clientTokenHook(ctx: ServerContext): (req: FastifyRequest) => Promise<void> {
  const check = clientTokenCheck(ctx);
  return async (req) => check(req);
}

// ---- routes ------------------------------------------------------------------------------------

const id = z.string().min(1).max(200);
const eventTime = z.number().int().positive().optional();
const exposureBody = z
  .object({
    type: z.literal('exposure'),
    experiment: id,
    groupId: z.string().min(1).max(300).optional(),
    branch: id,
    userId: z.string().min(1).max(500),
    time: eventTime,
    id: z.string().max(100).optional(),
  })
  .strict();
const conversionBody = z
  .object({
    type: z.literal('conversion'),
    userId: z.string().min(1).max(500),
    goal: id,
    value: z.number().finite().optional(),
    time: eventTime,
    id: z.string().min(1).max(100).optional(),
  })
  .strict();
/** At most this many events per POST /api/events (the SDK sends up to 500). */
export const MAX_EVENTS_PER_POST = 10_000;
/** Who sent the events, counted per source in the readout: immune-sdk, openfeature, or any short name. */
export const source = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'lower-case letters, digits, ".", "_" and "-", e.g. "openfeature"')
  .max(50);
const eventsBody = z
  .object({
    source: source.optional(),
    events: z.array(z.discriminatedUnion('type', [exposureBody, conversionBody])).max(MAX_EVENTS_PER_POST),
  })
  .strict();
const impressionEvent = z.looseObject({
  eventType: z.string().min(1).max(50),
  featureName: z.string().min(1).max(200),
  enabled: z.boolean(),
  variant: z.string().max(200).optional(),
  context: z.record(z.string(), z.unknown()).default({}),
});
export const impressionsBody = z.object({ source: source.optional(), events: z.array(impressionEvent).max(MAX_EVENTS_PER_POST) }).strict();
const closeBody = z.object({ branch: id, reason: z.string().trim().min(1, 'say why').max(2000) }).strict();

function summary(x: LoadedExperiment): Record<string, unknown> {
  return {
    name: x.config.name,
    file: x.file,
    description: x.config.description ?? null,
    state: (x.closing ? 'closed' : x.config.initial_rollout > 0 ? 'running' : 'off') satisfies ExperimentState,
    initialRollout: x.config.initial_rollout,
    branches: x.phase.weights.map((w) => ({ name: w.name, weight: w.weight / 1000, control: w.name === x.config.control })),
    goals: x.config.goals.map((g) => g.name),
    guardrails: x.config.guardrails.map((g) => g.name),
    phase: x.phase.phase,
    groupId: x.phase.groupId,
    startedAt: x.phase.startedAt,
    closing: x.closing ?? null,
  };
}

export function registerExperiments(app: FastifyInstance, ctx: ServerContext): void {
  routes(app, ctx, serveRegistry(app, ctx), clientTokenHook(ctx));
}

function routes(
  app: FastifyInstance,
  ctx: ServerContext,
  registry: ExperimentRegistry,
  clientAuth: ReturnType<typeof clientTokenHook>,
): void {
  app.post('/api/events', { preHandler: clientAuth, bodyLimit: 8 * 1024 * 1024 }, async (req, reply) => {
    const { events, source } = validate(eventsBody, req.body ?? {}, 'body');
    return reply.code(202).send(await registry.record(events, source));
  });

  // Impression events of standard Unleash SDKs, forwarded as they are emitted (see docs/experiments.md).
  app.post('/api/client/impressions', { preHandler: clientAuth, bodyLimit: 8 * 1024 * 1024 }, async (req, reply) => {
    const { events, source } = validate(impressionsBody, req.body ?? {}, 'body');
    return reply.code(202).send(await registry.recordImpressions(events, source));
  });

  app.get('/api/experiments', { preHandler: ctx.auth.require('viewer') }, async (_req, reply) => {
    const snap = await registry.current();
    return reply.send({
      experiments: [...snap.experiments.values()].map(summary),
      flags: snap.flags.map((f) => ({ name: f.config.name, file: f.file, enabled: f.config.enabled, rollout: f.config.rollout ?? null })),
      errors: snap.errors,
      clients: [...registry.clients.values()],
      usage: Object.fromEntries(registry.usage),
    });
  });

  app.get<{ Params: { name: string }; Querystring: { phase?: string } }>(
    '/api/experiments/:name/results',
    { preHandler: ctx.auth.require('viewer') },
    async (req, reply) => {
      const { x, readout } = await registry.readout(req.params.name, req.query.phase);
      return reply.send({ ...readout, state: summary(x).state, closing: x.closing ?? null, phases: x.phases.length });
    },
  );

  app.post<{ Params: { name: string } }>(
    '/api/experiments/:name/close',
    { preHandler: ctx.auth.require('engineer') },
    async (req, reply) => {
      const body = validate(closeBody, req.body ?? {}, 'body');
      return reply.send(summary(await registry.close(req.params.name, body.branch, body.reason, ctx.auth.actor(req))));
    },
  );
}
