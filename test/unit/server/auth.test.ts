import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { ConfigError, InputError } from '../../../src/core/errors.js';
import {
  createAuth,
  isLoopbackHost,
  loadFrontendTokens,
  loadTokens,
  logRedact,
  parseTokensEnv,
  roleAtLeast,
  rolesFrom,
  type TokenEntry,
} from '../../../src/server/auth.js';

const TOKENS: TokenEntry[] = [
  { name: 'vera', role: 'viewer', token: 'viewer-secret-1' },
  { name: 'erin', role: 'engineer', token: 'engineer-secret-2' },
  { name: 'cora', role: 'captain', token: 'captain-secret-3' },
  { name: 'adam', role: 'admin', token: 'admin-secret-4' },
];

function appWith(openRead: boolean, tokens = TOKENS): FastifyInstance {
  const auth = createAuth({ tokens, openRead });
  const app = Fastify({ logger: false });
  app.get('/api/line', { preHandler: auth.require('viewer') }, async (req) => ({ actor: auth.actor(req) }));
  app.post('/api/line/unblock', { preHandler: auth.require('captain') }, async (req) => ({ ok: true, actor: auth.actor(req) }));
  app.post('/api/deploys', { preHandler: auth.require('engineer') }, async (req) => ({ ok: true, actor: auth.actor(req) }));
  return app;
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('server/auth', () => {
  describe('roles', () => {
    it('orders viewer < engineer < captain < admin', () => {
      assert.equal(roleAtLeast('admin', 'captain'), true);
      assert.equal(roleAtLeast('captain', 'captain'), true);
      assert.equal(roleAtLeast('engineer', 'captain'), false);
      assert.equal(roleAtLeast('viewer', 'engineer'), false);
      assert.equal(rolesFrom('captain'), 'captain or admin');
      assert.equal(rolesFrom('engineer'), 'engineer, captain or admin');
      assert.equal(rolesFrom('admin'), 'admin');
    });

    it('knows loopback hosts', () => {
      for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) assert.equal(isLoopbackHost(h), true, h);
      for (const h of ['0.0.0.0', '10.0.0.1', '::', 'example.com', '128.0.0.1']) assert.equal(isLoopbackHost(h), false, h);
    });
  });

  describe('require()', () => {
    let open: FastifyInstance;
    let closed: FastifyInstance;
    before(() => {
      open = appWith(true);
      closed = appWith(false);
    });
    after(async () => {
      await open.close();
      await closed.close();
    });

    it('lets anyone read when reads are open, and names the actor', async () => {
      const anon = await open.inject({ method: 'GET', url: '/api/line' });
      assert.equal(anon.statusCode, 200);
      assert.equal(anon.json().actor, 'anonymous');
      const vera = await open.inject({ method: 'GET', url: '/api/line', headers: bearer('viewer-secret-1') });
      assert.equal(vera.json().actor, 'token:vera');
    });

    it('needs a token to read when reads are closed', async () => {
      const r = await closed.inject({ method: 'GET', url: '/api/line' });
      assert.equal(r.statusCode, 401);
      assert.equal(r.json().error.code, 'IMMUNE_UNAUTHORIZED');
      assert.match(r.json().error.message, /GET \/api\/line needs a token with role viewer, engineer, captain or admin/);
      const ok = await closed.inject({ method: 'GET', url: '/api/line', headers: bearer('viewer-secret-1') });
      assert.equal(ok.statusCode, 200);
    });

    it('answers 401 with the role needed when a mutation has no token, even with open reads', async () => {
      const r = await open.inject({ method: 'POST', url: '/api/line/unblock', payload: { reason: 'x' } });
      assert.equal(r.statusCode, 401);
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="immune"');
      const e = r.json().error;
      assert.equal(e.code, 'IMMUNE_UNAUTHORIZED');
      assert.match(e.message, /POST \/api\/line\/unblock needs a token with role captain or admin/);
      assert.equal(e.details.required, 'captain');
    });

    it('answers 401 for an unknown token without echoing it', async () => {
      const r = await open.inject({
        method: 'POST',
        url: '/api/line/unblock',
        headers: bearer('not-a-real-token-zz'),
        payload: { reason: 'x' },
      });
      assert.equal(r.statusCode, 401);
      assert.match(r.json().error.message, /unknown API token.*needs role captain or admin/);
      assert.doesNotMatch(r.body, /not-a-real-token-zz/);
      // An unknown token is refused on reads too: a stale token should be noticed, not ignored.
      const read = await open.inject({ method: 'GET', url: '/api/line', headers: bearer('not-a-real-token-zz') });
      assert.equal(read.statusCode, 401);
    });

    it('answers 401 for a malformed Authorization header', async () => {
      const r = await open.inject({
        method: 'POST',
        url: '/api/deploys',
        headers: { authorization: 'Basic dXNlcjpwYXNz' },
        payload: { sha: 'abc' },
      });
      assert.equal(r.statusCode, 401);
      assert.match(r.json().error.message, /Authorization header must be "Bearer <token>"/);
    });

    it('answers 403 naming the role needed and the role held', async () => {
      const r = await open.inject({
        method: 'POST',
        url: '/api/line/unblock',
        headers: bearer('viewer-secret-1'),
        payload: { reason: 'x' },
      });
      assert.equal(r.statusCode, 403);
      const e = r.json().error;
      assert.equal(e.code, 'IMMUNE_FORBIDDEN');
      assert.equal(e.message, 'POST /api/line/unblock needs role captain or admin; token:vera has role viewer');
      assert.deepEqual({ required: e.details.required, role: e.details.role }, { required: 'captain', role: 'viewer' });
      const eng = await open.inject({
        method: 'POST',
        url: '/api/line/unblock',
        headers: bearer('engineer-secret-2'),
        payload: { reason: 'x' },
      });
      assert.equal(eng.statusCode, 403);
    });

    it('lets a role at or above the one needed through', async () => {
      for (const [token, actor] of [
        ['captain-secret-3', 'token:cora'],
        ['admin-secret-4', 'token:adam'],
      ]) {
        const r = await open.inject({ method: 'POST', url: '/api/line/unblock', headers: bearer(token!), payload: { reason: 'x' } });
        assert.equal(r.statusCode, 200, token);
        assert.equal(r.json().actor, actor);
      }
      const eng = await open.inject({
        method: 'POST',
        url: '/api/deploys',
        headers: { authorization: 'bearer engineer-secret-2' },
        payload: { sha: 'abc' },
      });
      assert.equal(eng.statusCode, 200);
    });

    it('says so when the server has no tokens at all', async () => {
      const none = appWith(true, []);
      const r = await none.inject({ method: 'POST', url: '/api/line/unblock', payload: { reason: 'x' } });
      assert.equal(r.statusCode, 401);
      assert.match(r.json().error.message, /no API tokens are configured/);
      await none.close();
    });
  });

  describe('logging', () => {
    it('keeps the token out of logs with the redact option, even when headers are serialized', async () => {
      const lines: string[] = [];
      const sink = new Writable({
        write(chunk, _enc, cb) {
          lines.push(String(chunk));
          cb();
        },
      });
      const logger = pino(
        {
          redact: logRedact,
          serializers: {
            req: (r: { method: string; url: string; headers: unknown }) => ({ method: r.method, url: r.url, headers: r.headers }),
          },
        },
        sink,
      );
      const auth = createAuth({ tokens: TOKENS, openRead: true });
      const app = Fastify({ loggerInstance: logger });
      app.post('/api/line/block', { preHandler: auth.require('captain') }, async (req) => {
        req.log.info({ req }, 'handled');
        return { ok: true };
      });
      const r = await app.inject({ method: 'POST', url: '/api/line/block', headers: bearer('captain-secret-3'), payload: { reason: 'x' } });
      assert.equal(r.statusCode, 200);
      await app.close();
      const text = lines.join('');
      assert.ok(lines.length > 0);
      assert.doesNotMatch(text, /captain-secret-3/);
      assert.match(text, /\[redacted\]/);
    });
  });

  describe('loadTokens', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'immune-tokens-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('reads a YAML file and IMMUNE_TOKENS together', () => {
      const file = join(dir, 'tokens.yaml');
      writeFileSync(file, 'tokens:\n  - name: cora\n    role: captain\n    token: captain-secret-3\n');
      const tokens = loadTokens(file, { IMMUNE_TOKENS: 'vera:viewer:viewer-secret-1, ci:engineer:abc:def:ghi' });
      assert.deepEqual(tokens, [
        { name: 'cora', role: 'captain', token: 'captain-secret-3' },
        { name: 'vera', role: 'viewer', token: 'viewer-secret-1' },
        { name: 'ci', role: 'engineer', token: 'abc:def:ghi' },
      ]);
    });

    it('reads a JSON file', () => {
      const file = join(dir, 'tokens.json');
      writeFileSync(file, JSON.stringify({ tokens: [{ name: 'adam', role: 'admin', token: 'admin-secret-4' }] }));
      assert.deepEqual(loadTokens(file, {}), [{ name: 'adam', role: 'admin', token: 'admin-secret-4' }]);
    });

    it('names file:line:col for a bad role or an unknown key', () => {
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, 'tokens:\n  - name: cora\n    role: boss\n    token: captain-secret-3\n    expires: never\n');
      assert.throws(
        () => loadTokens(file, {}),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError);
          assert.match(
            e.message,
            new RegExp(
              `${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:11 tokens.0.role: role must be one of viewer, engineer, captain, admin`,
            ),
          );
          assert.match(e.message, /:5:5 tokens\.0\.expires: unknown key "expires"/);
          return true;
        },
      );
    });

    it('refuses duplicates, short tokens and missing files with clear messages', () => {
      assert.throws(
        () => loadTokens(undefined, { IMMUNE_TOKENS: 'a:viewer:same-token-1,b:captain:same-token-1' }),
        /token "b" has the same value as another token/,
      );
      assert.throws(
        () => loadTokens(undefined, { IMMUNE_TOKENS: 'a:viewer:token-one-1,a:captain:token-two-2' }),
        /duplicate token name "a"/,
      );
      assert.throws(() => loadTokens(join(dir, 'missing.yaml'), {}), /cannot read tokens file .*missing\.yaml: ENOENT/);
      assert.throws(
        () => parseTokensEnv('a:viewer:long-enough-1,b:captain:short'),
        (e: unknown) => e instanceof InputError && /^IMMUNE_TOKENS\[1\]: token: token must be at least 8 characters$/.test(e.message),
      );
      assert.throws(
        () => parseTokensEnv('justonetoken'),
        (e: unknown) =>
          e instanceof InputError &&
          /IMMUNE_TOKENS\[0\]: expected "name:role:token"/.test(e.message) &&
          !e.message.includes('justonetoken'),
      );
      assert.throws(() => parseTokensEnv('a:root:long-enough-1'), /IMMUNE_TOKENS\[0\]: role: role must be one of/);
    });

    it('is empty with neither a file nor the variable', () => {
      assert.deepEqual(loadTokens(undefined, {}), []);
    });
  });

  describe('loadFrontendTokens', () => {
    const file = (text: string): string => {
      const dir = mkdtempSync(join(tmpdir(), 'immune-frontend-tokens-'));
      const f = join(dir, 'tokens.yaml');
      writeFileSync(f, text);
      return f;
    };
    it('reads frontend: entries beside the API tokens, with defaults', () => {
      const f = file(
        'tokens:\n  - { name: a, role: viewer, token: viewer-token-1 }\nfrontend:\n  - { name: web, token: frontend-token-1, app: shop, origins: [https://shop.example] }\n',
      );
      assert.deepEqual(loadFrontendTokens(f), [
        { name: 'web', token: 'frontend-token-1', app: 'shop', environment: 'default', origins: ['https://shop.example'] },
      ]);
      assert.equal(loadTokens(f, {}).length, 1);
      assert.deepEqual(loadFrontendTokens(undefined), []);
    });
    it('names the file, line and field of a bad entry, and refuses a value shared with an API token', () => {
      const bad = file('frontend:\n  - { name: web, token: frontend-token-1, app: shop, origins: [https://shop.example/path] }\n');
      assert.throws(
        () => loadFrontendTokens(bad),
        (e: unknown) => e instanceof ConfigError && /tokens\.yaml:2:\d+ .*frontend\.0\.origins\.0/.test(e.message),
      );
      const shared = file(
        'tokens:\n  - { name: a, role: viewer, token: same-token-1 }\nfrontend:\n  - { name: web, token: same-token-1, app: shop }\n',
      );
      assert.throws(
        () => loadFrontendTokens(shared),
        (e: unknown) => e instanceof InputError && /same value/.test(e.message),
      );
    });
  });
});
