// The OpenAPI document against the real server (buildServer with the real store, auth and routes):
// every documented operation exists, every API route is documented, and each answers 401/403 for
// the role the document says, with the JSON error shape.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { openSqliteStore } from '../../src/adapters/store/sqlite/index.js';
import { systemClock } from '../../src/adapters/clock/system.js';
import { EventBus } from '../../src/engine/events.js';
import { ExperimentRegistry } from '../../src/engine/experiments.js';
import type { Store } from '../../src/ports.js';
import { buildServer } from '../../src/server/app.js';
import { createAuth, ROLES, type TokenEntry } from '../../src/server/auth.js';
import type { LineControl, Role } from '../../src/server/context.js';
import { operations, openApiDocument } from '../../src/server/openapi.js';

const TOKENS: TokenEntry[] = ROLES.map((role) => ({ name: `${role}-1`, role, token: `${role}-token-abc` }));
const tokenOf = (role: Role) => TOKENS.find((t) => t.role === role)!.token;

const fakeLine: LineControl = {
  status: async () => ({ pipeline: 'local', blocked: false, paused: false, live: null, inFlight: null, queue: [] }),
  deploy: async (sha) => ({ queued: sha }),
  block: async () => {},
  unblock: async () => {},
  pause: async () => {},
  resume: async () => {},
  abort: async () => {},
  promote: async () => {},
  override: async () => {},
  drop: async (sha) => ({ dropped: sha, note: 'dropped' }),
  retry: async (deploy) => ({ queued: [], deploy }),
  rollbackTo: async (to) => ({ release: to, sha: to, servers: 0 }),
  releases: async () => ({ servers: [] }),
};

/** Routes of a fastify instance as "METHOD /path", from printRoutes' tree. */
function routesOf(app: FastifyInstance): Set<string> {
  const out = new Set<string>();
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[└├]── (.*?)(?: \(([^)]*)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = stack.join('');
    for (const method of (m[3] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean))
      if (method !== 'HEAD') out.add(`${method} ${path}`);
  }
  return out;
}

const concrete = (path: string) => path.replace(/\{(\w+)\}/g, 'nope');
const fastifyPath = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');

describe('dashboard: API docs match the real server', function () {
  this.timeout(20_000);
  let dir: string;
  let store: Store;
  let app: FastifyInstance;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'immune-docs-'));
    store = openSqliteStore(join(dir, 'state.db'));
    app = await buildServer(
      {
        store,
        log: pino({ level: 'silent' }),
        events: new EventBus(),
        auth: createAuth({ tokens: TOKENS, openRead: false }),
        line: fakeLine,
        pipelineName: 'local',
        experiments: new ExperimentRegistry({ dir, store, events: new EventBus(), log: pino({ level: 'silent' }), clock: systemClock }),
        clientTokens: ['client-token-xyz'],
        publicUrl: 'http://127.0.0.1:7070',
      },
      { logger: false, heartbeatMs: 50 },
    );
    await app.ready();
  });
  after(async () => {
    await app?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('documents every API route the server has, and nothing it lacks', () => {
    // CORS preflights (OPTIONS) of the browser protocols are CORS mechanics, described in docs/flags.md.
    const real = [...routesOf(app)].filter((r) => / \/(api|metrics|ofrep)(\/|$)/.test(r) && !r.startsWith('OPTIONS '));
    const documented = operations.map((o) => `${o.method.toUpperCase()} ${fastifyPath(o.path)}`);
    // The docs routes describe themselves; webhooks (if any) are documented by their provider.
    const undocumented = real.filter((r) => !documented.includes(r) && !/\/api\/docs\.html$|\/api\/webhooks\//.test(r));
    assert.deepEqual(undocumented, [], 'routes missing from the OpenAPI document');
    const missing = documented.filter((d) => !real.includes(d));
    assert.deepEqual(missing, [], 'documented routes the server does not have');
  });

  it('answers 401 without a token, 403 for the role below, and lets the documented role through', async () => {
    for (const op of operations) {
      if (op.path === '/api/docs' || op.path === '/api/whoami') continue;
      const url = concrete(op.path);
      const method = op.method.toUpperCase() as 'GET' | 'POST';
      const what = `${method} ${op.path}`;
      const payload = method === 'POST' ? {} : undefined;
      const none = await app.inject({ method, url, payload });
      assert.equal(none.statusCode, 401, `${what} without a token`);
      assert.match(none.json().error.code, /^IMMUNE_UNAUTHORIZED$/, what);
      assert.equal(typeof none.json().error.message, 'string', what);
      if (op.role === 'frontend') {
        // No frontend tokens on this server: a client token is refused as one.
        const refused = await app.inject({ method, url, payload, headers: { authorization: 'client-token-xyz' } });
        assert.equal(refused.statusCode, 403, `${what} with a client token`);
        continue;
      }
      if (op.role === 'client' || op.role === 'ofrep') {
        const ok = await app.inject({ method, url, payload, headers: { authorization: 'client-token-xyz' } });
        assert.notEqual(ok.statusCode, 401, `${what} with a client token`);
        continue;
      }
      const i = ROLES.indexOf(op.role);
      if (i > 0) {
        const below = ROLES[i - 1]!;
        const r = await app.inject({ method, url, payload, headers: { authorization: `Bearer ${tokenOf(below)}` } });
        assert.equal(r.statusCode, 403, `${what} with role ${below}`);
        assert.equal(r.json().error.code, 'IMMUNE_FORBIDDEN');
        assert.match(r.json().error.message, new RegExp(`needs role ${op.role}`));
      }
      if (op.media === 'text/event-stream') continue; // a stream never ends: checked for 401/403 only
      const ok = await app.inject({ method, url, payload, headers: { authorization: `Bearer ${tokenOf(op.role)}` } });
      assert.ok(![401, 403].includes(ok.statusCode), `${what} with role ${op.role}: ${ok.statusCode} ${ok.body}`);
    }
  });

  it('serves the document and the page, and answers whoami', async () => {
    const doc = await app.inject({ method: 'GET', url: '/api/docs' });
    assert.equal(doc.statusCode, 200);
    assert.deepEqual(doc.json(), JSON.parse(JSON.stringify(openApiDocument({ publicUrl: 'http://127.0.0.1:7070', openRead: false }))));
    assert.match(doc.json().info.description, /Reads need a viewer token on this server/);
    const page = await app.inject({ method: 'GET', url: '/api/docs.html' });
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.match(page.body, /<code>\/api\/line\/unblock<\/code> <span class="pill role-captain">captain<\/span>/);
    const me = await app.inject({ method: 'GET', url: '/api/whoami', headers: { authorization: `Bearer ${tokenOf('captain')}` } });
    assert.deepEqual(me.json(), { actor: 'token:captain-1', role: 'captain', openRead: false });
    const bad = await app.inject({ method: 'GET', url: '/api/whoami', headers: { authorization: 'Bearer wrong-token-123' } });
    assert.equal(bad.statusCode, 401);
    assert.match(bad.json().error.message, /unknown API token/);
  });

  it("serves the page at / (and core's words it imports) with a strict CSP, and leaves unknown /api paths to the JSON 404", async () => {
    const index = await app.inject({ method: 'GET', url: '/' });
    assert.equal(index.statusCode, 200);
    assert.match(index.body, /<script type="module" src="\/app.js"><\/script>/);
    assert.match(String(index.headers['content-security-policy']), /default-src 'self'; script-src 'self'/);
    const js = await app.inject({ method: 'GET', url: '/views/deploy.js' });
    assert.match(String(js.headers['content-type']), /javascript/);
    // The evidence's words the page shares with core: the JavaScript, with the page's headers; not its declarations.
    const words = await app.inject({ method: 'GET', url: '/core/format/words.js' });
    assert.equal(words.statusCode, 200);
    assert.match(String(words.headers['content-type']), /javascript/);
    assert.match(String(words.headers['content-security-policy']), /default-src 'self'/);
    assert.equal((await app.inject({ method: 'GET', url: '/core/format/words.d.ts' })).statusCode, 404);
    const nope = await app.inject({ method: 'GET', url: '/api/nope' });
    assert.equal(nope.statusCode, 404);
    assert.equal(nope.json().error.code, 'IMMUNE_NOT_FOUND');
  });
});
