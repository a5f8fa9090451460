// OFREP (the OpenFeature Remote Evaluation Protocol) on `immune serve`: POST
// /ofrep/v1/evaluate/flags/{key} and the bulk POST /ofrep/v1/evaluate/flags (ETag/If-None-Match),
// with the spec's error shapes. Flags and experiments are evaluated by unleash-client's evaluator
// over the served features document, so OFREP answers what Unleash SDKs compute. Client tokens
// (servers) and frontend tokens (browsers, scoped and CORS-checked) are accepted.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { unleashContext, type Resolution, type UnleashContext } from '../core/experiments/resolution.js';
import { ImmuneError } from '../core/errors.js';
import type { ServerContext } from './context.js';
import { errorBody, httpStatus } from './errors.js';
import { etagOf } from '../engine/experiments.js';
import { evaluatorFor } from './flag-evaluator.js';
import { allowOrigin, frontendAuth, registerPreflight, scopeContext, type Caller } from './frontend-auth.js';

const PREFIX = '/ofrep/v1';

/** An OFREP evaluation failure with its HTTP status. */
class OfrepError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.errorDetails ?? body.errorCode));
  }
}

/** The request's context as an Unleash context, scoped to a frontend token; 400 INVALID_CONTEXT when it is not an object. */
function contextOf(req: FastifyRequest, caller: Caller, key?: string): UnleashContext {
  const body = req.body;
  if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
    throw new OfrepError(400, {
      ...(key ? { key } : {}),
      errorCode: 'PARSE_ERROR',
      errorDetails: 'body must be a JSON object {"context": {...}}',
    });
  }
  const parsed = unleashContext((body as { context?: unknown } | undefined)?.context);
  if (!parsed.ok) throw new OfrepError(400, { ...(key ? { key } : {}), errorCode: 'INVALID_CONTEXT', errorDetails: parsed.errorDetails });
  const c = parsed.context;
  if (!c.remoteAddress) c.remoteAddress = req.ip;
  return scopeContext(caller, c, req.url.split('?')[0]!);
}

/** One evaluation as OFREP's success or failure object. */
function ofrepResult(r: Resolution): Record<string, unknown> {
  if (!r.ok) return { key: r.key, errorCode: r.errorCode, errorDetails: r.errorDetails };
  return {
    key: r.key,
    ...(r.value === undefined ? {} : { value: r.value }),
    reason: r.reason,
    ...(r.variant ? { variant: r.variant } : {}),
    metadata: r.metadata,
  };
}

const STATUS: Record<string, number> = {
  FLAG_NOT_FOUND: 404,
  TARGETING_KEY_MISSING: 400,
  INVALID_CONTEXT: 400,
  PARSE_ERROR: 400,
  TYPE_MISMATCH: 400,
  GENERAL: 500,
};

export async function registerOfrep(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const registry = ctx.experiments;
  const auth = frontendAuth(ctx);
  await app.register(async (scope) => {
    // OFREP's own error shapes inside this scope: { key?, errorCode, errorDetails }.
    scope.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
      if (err instanceof OfrepError) return reply.code(err.status).send(err.body);
      // 401/403 have no body in the spec: they say it as every immune endpoint does.
      if (err instanceof ImmuneError && (err.code === 'IMMUNE_UNAUTHORIZED' || err.code === 'IMMUNE_FORBIDDEN')) {
        if (err.code === 'IMMUNE_UNAUTHORIZED') void reply.header('www-authenticate', 'Bearer realm="immune"');
        return reply.code(httpStatus(err)).send(errorBody(err.code, err.message, err.details));
      }
      const fe = err as Partial<FastifyError>;
      if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
        const key = (req.params as { key?: string } | undefined)?.key;
        return reply
          .code(400)
          .send({ ...(key ? { key } : {}), errorCode: 'PARSE_ERROR', errorDetails: `body: ${fe.message ?? 'not valid JSON'}` });
      }
      req.log.error({ err }, 'ofrep: evaluation failed');
      return reply.code(500).send({ errorDetails: 'internal error: the server log has the details' });
    });
    registerPreflight(scope, auth, [PREFIX]);

    scope.post<{ Params: { key: string } }>(`${PREFIX}/evaluate/flags/:key`, async (req, reply) => {
      const caller = auth.identify(req, { clientTokens: true });
      allowOrigin(req, reply, caller);
      const key = req.params.key;
      const c = contextOf(req, caller, key);
      const snap = registry.loaded ?? (await registry.current());
      const r = evaluatorFor(snap).resolve(key, c);
      if (!r.ok) return reply.code(STATUS[r.errorCode] ?? 400).send(ofrepResult(r));
      // A single evaluation of an experiment is the app using it: the user's exposure.
      const groupId = r.metadata.groupId;
      if (typeof groupId === 'string' && c.userId && r.variant) {
        registry
          .record([{ type: 'exposure', experiment: key, groupId, branch: r.variant, userId: c.userId }], 'ofrep')
          .catch((err: unknown) => req.log.warn({ err }, 'ofrep: exposure not recorded'));
      }
      return reply.send(ofrepResult(r));
    });

    scope.post(`${PREFIX}/evaluate/flags`, async (req, reply) => {
      const caller = auth.identify(req, { clientTokens: true });
      allowOrigin(req, reply, caller);
      const c = contextOf(req, caller);
      const snap = registry.loaded ?? (await registry.current());
      const ev = evaluatorFor(snap);
      const body = JSON.stringify({ flags: ev.names.map((n) => ofrepResult(ev.resolve(n, c))) });
      const etag = etagOf(body);
      void reply.header('etag', etag).header('cache-control', 'no-cache');
      if (req.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.type('application/json; charset=utf-8').send(body);
    });
  });
}
