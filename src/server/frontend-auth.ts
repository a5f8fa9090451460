// Who may call the evaluation protocols (the Unleash frontend API, OFREP) and from which web
// origins: frontend tokens are scoped to one app and environment and list the origins browsers may
// call from; client tokens (servers) are accepted where the protocol serves servers too.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ImmuneError } from '../core/errors.js';
import type { FrontendToken, ServerContext } from './context.js';

export type Caller = { kind: 'client' } | { kind: 'frontend'; token: FrontendToken };

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** The token a request carries: Authorization (raw, as Unleash SDKs send it, or Bearer) or X-API-Key (OFREP's ApiKeyAuth). */
function tokenOf(req: FastifyRequest): string {
  const raw = req.headers.authorization ?? '';
  if (raw !== '') return /^Bearer\s+/i.test(raw) ? raw.replace(/^Bearer\s+/i, '').trim() : raw.trim();
  const key = req.headers['x-api-key'];
  return typeof key === 'string' ? key.trim() : '';
}

export function originAllowed(token: FrontendToken, origin: string): boolean {
  return token.origins.includes('*') || token.origins.includes(origin);
}

export interface FrontendAuth {
  /** The caller, or an ImmuneError: 401 without a known token, 403 for a client token where only frontend tokens go, or an Origin the token does not list. */
  identify(req: FastifyRequest, opts: { clientTokens: boolean }): Caller;
  /** Any frontend token lists this origin (for preflights, which carry no token). */
  anyAllows(origin: string): boolean;
}

export function frontendAuth(ctx: ServerContext): FrontendAuth {
  // Every token is compared (digests of equal length), so timing tells nothing about which matched.
  const clients = ctx.clientTokens.map((t) => digest(t));
  const frontends = (ctx.frontendTokens ?? []).map((t) => ({ t, hash: digest(t.token) }));
  return {
    identify(req, opts) {
      const path = req.url.split('?')[0];
      const token = tokenOf(req);
      if (token === '') throw new ImmuneError('IMMUNE_UNAUTHORIZED', `${path}: a token is required in the Authorization header`);
      const h = digest(token);
      let client = false;
      let frontend: FrontendToken | undefined;
      for (const c of clients) if (timingSafeEqual(c, h)) client = true;
      for (const f of frontends) if (timingSafeEqual(f.hash, h) && !frontend) frontend = f.t;
      if (frontend) {
        const origin = req.headers.origin;
        if (typeof origin === 'string' && !originAllowed(frontend, origin)) {
          throw new ImmuneError(
            'IMMUNE_FORBIDDEN',
            `${path}: origin ${origin} is not allowed for frontend token "${frontend.name}" (origins: ${frontend.origins.join(', ') || 'none'})`,
            {
              details: { origin, token: frontend.name },
            },
          );
        }
        return { kind: 'frontend', token: frontend };
      }
      if (client) {
        if (opts.clientTokens) return { kind: 'client' };
        throw new ImmuneError(
          'IMMUNE_FORBIDDEN',
          `${path}: client tokens are for servers; browsers and mobile apps use a frontend token (tokens file "frontend:")`,
        );
      }
      throw new ImmuneError('IMMUNE_UNAUTHORIZED', `${path}: unknown token`);
    },
    anyAllows(origin) {
      return frontends.some((f) => originAllowed(f.t, origin));
    },
  };
}

/** CORS response headers for a request whose Origin a frontend token allows. */
export function corsHeaders(reply: FastifyReply, origin: string): void {
  void reply
    .header('access-control-allow-origin', origin)
    .header('vary', 'Origin')
    .header('access-control-expose-headers', 'ETag')
    .header('access-control-allow-credentials', 'false');
}

/**
 * Preflights for `prefixes`: 204 with the CORS headers when some frontend token allows the Origin,
 * 403 without them otherwise (the browser then refuses the real request).
 */
export function registerPreflight(app: FastifyInstance, auth: FrontendAuth, prefixes: string[]): void {
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const origin = req.headers.origin;
    if (typeof origin !== 'string' || !auth.anyAllows(origin)) {
      return reply.code(403).send({
        error: {
          code: 'IMMUNE_FORBIDDEN',
          message: `origin ${String(origin ?? '(none)')} is not allowed by any frontend token`,
          details: {},
        },
      });
    }
    corsHeaders(reply, origin);
    return reply
      .code(204)
      .header('access-control-allow-methods', 'GET, POST, OPTIONS')
      .header(
        'access-control-allow-headers',
        'authorization, content-type, if-none-match, x-api-key, unleash-appname, unleash-connection-id, unleash-sdk',
      )
      .header('access-control-max-age', '600')
      .send();
  };
  for (const p of prefixes) {
    app.options(p, handler);
    app.options(`${p}/*`, handler);
  }
}

/** After identify(): CORS headers on the real response when the caller is a browser with an allowed Origin. */
export function allowOrigin(req: FastifyRequest, reply: FastifyReply, caller: Caller): void {
  const origin = req.headers.origin;
  if (caller.kind === 'frontend' && typeof origin === 'string') corsHeaders(reply, origin);
}

/**
 * A frontend caller's context, scoped to its token: appName and environment come from the token;
 * a context naming another app or environment is refused (403), so a token for one app cannot
 * read as another. ("default" is what SDKs send when not told an environment: it means none.)
 */
export function scopeContext<C extends { appName?: string; environment?: string }>(caller: Caller, c: C, path: string): C {
  if (caller.kind !== 'frontend') return c;
  const t = caller.token;
  if (t.app !== '*' && c.appName !== undefined && c.appName !== t.app) {
    throw new ImmuneError('IMMUNE_FORBIDDEN', `${path}: frontend token "${t.name}" is for app "${t.app}", not "${c.appName}"`, {
      details: { token: t.name, app: t.app },
    });
  }
  if (c.environment !== undefined && c.environment !== 'default' && c.environment !== t.environment) {
    throw new ImmuneError(
      'IMMUNE_FORBIDDEN',
      `${path}: frontend token "${t.name}" is for environment "${t.environment}", not "${c.environment}"`,
      { details: { token: t.name, environment: t.environment } },
    );
  }
  return { ...c, ...(t.app !== '*' ? { appName: t.app } : {}), environment: t.environment };
}
