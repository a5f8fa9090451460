// The Unleash frontend API on `immune serve`, for browser and mobile SDKs (unleash-proxy-client and
// the other Unleash frontend SDKs): GET/POST /api/frontend (enabled toggles for a context) and
// /api/frontend/all (every toggle), with ETag/304, plus the SDKs' metrics and register calls.
// Callers need a frontend token: one app, one environment, and the web origins it may be used from.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { unleashContext, type UnleashContext } from '../core/experiments/resolution.js';
import { InputError } from '../core/errors.js';
import type { ServerContext } from './context.js';
import { etagOf } from '../engine/experiments.js';
import { evaluatorFor } from './flag-evaluator.js';
import { allowOrigin, frontendAuth, registerPreflight, scopeContext } from './frontend-auth.js';
import { validate } from './errors.js';
import { impressionsBody } from './experiments.js';
import { recordMetrics, recordRegistration } from './unleash.js';

const PREFIX = '/api/frontend';

/** GET's context from the query string: appName, userId, ... and properties[name]=value (as unleash-proxy-client sends it). */
function queryContext(query: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const properties: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(query)) {
    const value = Array.isArray(v) ? v[v.length - 1] : v;
    const m = /^properties\[(.+)\]$/.exec(k);
    if (m) properties[m[1]!] = value;
    else out[k] = value;
  }
  return { ...out, properties };
}

export async function registerFrontend(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const registry = ctx.experiments;
  const auth = frontendAuth(ctx);
  registerPreflight(app, auth, [PREFIX]);

  const context = (req: FastifyRequest, raw: unknown, path: string, caller: ReturnType<typeof auth.identify>): UnleashContext => {
    const parsed = unleashContext(raw);
    if (!parsed.ok) throw new InputError('context', parsed.errorDetails);
    const c = parsed.context;
    if (!c.remoteAddress) c.remoteAddress = req.ip;
    return scopeContext(caller, c, path);
  };

  const toggles = async (req: FastifyRequest, reply: FastifyReply, raw: unknown, all: boolean): Promise<FastifyReply> => {
    const path = req.url.split('?')[0]!;
    const caller = auth.identify(req, { clientTokens: false });
    allowOrigin(req, reply, caller);
    const c = context(req, raw, path, caller);
    const ev = evaluatorFor(registry.loaded ?? (await registry.current()));
    const list = [];
    for (const name of ev.names) {
      const e = ev.evaluate(name, c);
      if (!e.enabled && !all) continue;
      list.push({ name, enabled: e.enabled, variant: e.variant, impressionData: e.impressionData });
    }
    const body = JSON.stringify({ toggles: list });
    const etag = etagOf(body);
    void reply.header('etag', etag).header('cache-control', 'no-cache');
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('application/json; charset=utf-8').send(body);
  };

  const bodyContext = (req: FastifyRequest): unknown => {
    const b = req.body;
    if (b === undefined || b === null) return {};
    if (typeof b !== 'object' || Array.isArray(b)) throw new InputError('body', 'must be a JSON object {"context": {...}}');
    return (b as { context?: unknown }).context ?? {};
  };

  app.get(PREFIX, (req, reply) => toggles(req, reply, queryContext(req.query as Record<string, unknown>), false));
  app.get(`${PREFIX}/all`, (req, reply) => toggles(req, reply, queryContext(req.query as Record<string, unknown>), true));
  app.post(PREFIX, (req, reply) => toggles(req, reply, bodyContext(req), false));
  app.post(`${PREFIX}/all`, (req, reply) => toggles(req, reply, bodyContext(req), true));

  // Impression events as the browser SDK emits them (forwarded by the page): exposures of the users in
  // their contexts, each context within the token's app and environment.
  app.post(`${PREFIX}/client/impressions`, { bodyLimit: 1024 * 1024 }, async (req, reply) => {
    const caller = auth.identify(req, { clientTokens: false });
    allowOrigin(req, reply, caller);
    const { events } = validate(impressionsBody, req.body ?? {}, 'body');
    const path = req.url.split('?')[0]!;
    const scoped = events.map((e) => {
      const c = e.context as { appName?: unknown; environment?: unknown };
      const scope = scopeContext(
        caller,
        {
          appName: typeof c.appName === 'string' ? c.appName : undefined,
          environment: typeof c.environment === 'string' ? c.environment : undefined,
        },
        path,
      );
      return { ...e, context: { ...e.context, ...scope } };
    });
    return reply.code(202).send(await registry.recordImpressions(scoped, 'unleash-frontend-impressions'));
  });

  // The SDKs' own reports, as on the client API, from a caller within the token's app.
  for (const [path, record] of [
    ['metrics', (r: typeof registry, body: unknown) => recordMetrics(r, body, 'unleash-frontend-metrics')],
    ['register', recordRegistration],
  ] as const) {
    app.post(`${PREFIX}/client/${path}`, async (req, reply) => {
      const caller = auth.identify(req, { clientTokens: false });
      allowOrigin(req, reply, caller);
      const body = (req.body ?? {}) as { appName?: unknown };
      scopeContext(caller, { appName: typeof body.appName === 'string' ? body.appName : undefined }, req.url);
      await record(registry, req.body);
      return reply.code(202).send();
    });
  }
}
