// The Unleash client API served by `immune serve`, so any Unleash SDK (unleash-client in our
// src/sdk) reads experiments and flags from us: features with ETag/304, register, metrics.
// Every call needs one of the configured client tokens in Authorization (401 without).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ServerContext } from './context.js';
import type { FeaturesDocument } from '../core/experiments/features.js';
import { validate } from './errors.js';
import { etagOf, type ExperimentRegistry } from '../engine/experiments.js';
import { clientTokenCheck, clientTokenHook, serveRegistry } from './experiments.js';

// SDKs add fields over time; we check what we use and let the rest through.
const registerBody = z.looseObject({
  appName: z.string().min(1).max(200),
  instanceId: z.string().min(1).max(200),
  sdkVersion: z.string().max(200).optional(),
});
const count = z.number().int().min(0);
const metricsBody = z.looseObject({
  appName: z.string().min(1).max(200),
  instanceId: z.string().min(1).max(200),
  bucket: z.looseObject({
    stop: z.string().max(100).optional(),
    toggles: z
      .record(z.string(), z.looseObject({ yes: count.default(0), no: count.default(0), variants: z.record(z.string(), count).default({}) }))
      .default({}),
  }),
});

function filtered(body: string, prefix: string): { body: string; etag: string } {
  const doc = JSON.parse(body) as FeaturesDocument;
  const out = JSON.stringify({ ...doc, features: doc.features.filter((f) => f.name.startsWith(prefix)), query: { namePrefix: prefix } });
  return { body: out, etag: etagOf(out) };
}

export function registerUnleash(app: FastifyInstance, ctx: ServerContext): void {
  const registry = serveRegistry(app, ctx);
  const checkToken = clientTokenCheck(ctx);
  const clientAuth = clientTokenHook(ctx);

  // The hot path (every SDK polls it): the token is checked inline rather than in a hook.
  const send = (
    req: FastifyRequest<{ Querystring: { namePrefix?: string } }>,
    reply: FastifyReply,
    snap: { body: string; etag: string },
  ): FastifyReply => {
    // SDKs configured with a namePrefix get only those features (rare: built per request).
    const prefix = req.query.namePrefix;
    const view = typeof prefix === 'string' && prefix !== '' ? filtered(snap.body, prefix) : snap;
    reply.header('etag', view.etag).header('cache-control', 'no-cache');
    if (req.headers['if-none-match'] === view.etag) return reply.code(304).send();
    return reply.type('application/json; charset=utf-8').send(view.body);
  };
  // A plain (not async) handler once features are loaded: this is what every SDK polls.
  app.get<{ Querystring: { namePrefix?: string } }>('/api/client/features', (req, reply) => {
    checkToken(req);
    const loaded = registry.loaded;
    if (loaded) return send(req, reply, loaded);
    registry.current().then(
      (snap) => send(req, reply, snap),
      (err: unknown) => reply.send(err),
    );
    return reply;
  });

  app.post('/api/client/register', { preHandler: clientAuth }, async (req, reply) => {
    recordRegistration(registry, req.body);
    return reply.code(202).send();
  });

  app.post('/api/client/metrics', { preHandler: clientAuth }, async (req, reply) => {
    await recordMetrics(registry, req.body);
    return reply.code(202).send();
  });
}

/** An SDK's register call (client or frontend API): remembered by appName and instanceId. */
export function recordRegistration(registry: ExperimentRegistry, raw: unknown): void {
  const body = validate(registerBody, raw ?? {}, 'body');
  const key = `${body.appName}/${body.instanceId}`;
  if (!registry.clients.has(key) && registry.clients.size >= 10_000) registry.clients.delete(registry.clients.keys().next().value!);
  registry.clients.set(key, {
    appName: body.appName,
    instanceId: body.instanceId,
    ...(body.sdkVersion ? { sdkVersion: body.sdkVersion } : {}),
    lastSeen: registry.now(),
  });
}

/** An SDK's metrics post (client or frontend API): evaluations per feature and variant. */
export async function recordMetrics(registry: ExperimentRegistry, raw: unknown, source?: string): Promise<void> {
  const body = validate(metricsBody, raw ?? {}, 'body');
  await registry.recordMetrics(`${body.appName}/${body.instanceId}`, body.bucket, source);
}
