// Serves the release captain's page (src/dashboard, static ES modules, no build step) at /, with
// the evidence's words it shares with core (src/core/format/words.js) at /core/format/words.js,
// the API documentation at /api/docs, and GET /api/whoami for the page's token field.
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { fileURLToPath } from 'node:url';
import type { ServerContext } from './context.js';
import type { TokenAuth } from './auth.js';
import { ImmuneError } from '../core/errors.js';
import { httpStatus } from './errors.js';
import { registerApiDocs } from './openapi.js';

export const dashboardDir = fileURLToPath(new URL('../dashboard/', import.meta.url));
/** Core's plain-JavaScript words; the page imports them as '../core/format/words.js', which from / is this URL. */
const sharedWordsDir = fileURLToPath(new URL('../core/format/', import.meta.url));

// The page loads only its own files and talks only to its own origin.
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const STATIC = {
  // One route per file (found at start), so unknown /api/* paths still get the API's JSON 404.
  wildcard: false,
  decorateReply: false,
  cacheControl: true,
  maxAge: 0,
  setHeaders(res: { setHeader(name: string, value: string): unknown }) {
    res.setHeader('content-security-policy', CSP);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
  },
} as const;

export async function registerDashboard(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  await app.register(fastifyStatic, { ...STATIC, root: dashboardDir, prefix: '/', index: 'index.html' });
  // The JavaScript only: its type declarations (words.d.ts) are not for the browser.
  await app.register(fastifyStatic, { ...STATIC, root: sharedWordsDir, prefix: '/core/format/', index: false, globIgnore: ['**/*.ts'] });

  app.get('/api/whoami', async (req, reply) => {
    const auth = ctx.auth as Partial<TokenAuth>;
    if (typeof auth.identify !== 'function') return { actor: ctx.auth.actor(req), role: null, openRead: null };
    try {
      const id = auth.identify(req);
      return { actor: id.actor, role: id.role, openRead: auth.openRead ?? null };
    } catch (err) {
      const e = err as ImmuneError;
      return reply
        .code(err instanceof ImmuneError ? httpStatus(err) : 401)
        .send({ error: { code: e.code ?? 'IMMUNE_UNAUTHORIZED', message: e.message, details: e.details ?? {} } });
    }
  });

  await registerApiDocs(app, ctx);
}
