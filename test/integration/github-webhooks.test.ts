// POST /webhooks/github on a real fastify server on loopback: signed pushes to the pipeline's
// branch start a deploy; bad signatures are 401 and change nothing; other events are ignored.
import assert from 'node:assert/strict';
import { Webhooks } from '@octokit/webhooks';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import type { ServerContext } from '../../src/server/context.js';
import { registerErrorHandler } from '../../src/server/errors.js';
import { registerWebhooks, webhookOptionsFrom } from '../../src/server/webhooks.js';

const SECRET = "It's a Secret to Everybody";
const SHA = '0123456789abcdef0123456789abcdef01234567';

function pushPayload(over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    ref: 'refs/heads/main',
    before: 'f'.repeat(40),
    after: SHA,
    deleted: false,
    pusher: { name: 'ada', email: 'ada@example.org' },
    sender: { login: 'ada' },
    repository: { full_name: 'acme/shop' },
    ...over,
  });
}

describe('GitHub push webhook (POST /webhooks/github)', function () {
  this.timeout(20_000);
  let app: FastifyInstance;
  let base: string;
  const deploys: [string, string][] = [];
  const signer = new Webhooks({ secret: SECRET });

  async function post(body: string, headers: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${base}/webhooks/github`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-github-delivery': 'd-1', ...headers },
      signal: AbortSignal.timeout(5000),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }
  const signed = async (body: string, event = 'push') =>
    post(body, { 'x-github-event': event, 'x-hub-signature-256': await signer.sign(body) });

  before(async function () {
    const ctx = {
      log: pino({ level: 'silent' }),
      line: {
        async deploy(sha: string, actor: string) {
          deploys.push([sha, actor]);
          return { queued: [sha] };
        },
      },
    } as unknown as ServerContext;
    app = Fastify({ logger: false });
    registerErrorHandler(app);
    await registerWebhooks(
      app,
      ctx,
      webhookOptionsFrom(
        { repo: { branch: 'main' }, github: { webhook_secret_env: 'IMMUNE_TEST_HOOK_SECRET' } },
        { IMMUNE_TEST_HOOK_SECRET: SECRET },
      ),
    );
    // Other routes keep the normal JSON parser.
    app.post('/echo', async (req) => req.body);
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async function () {
    await app?.close();
  });
  beforeEach(function () {
    deploys.length = 0;
  });

  it('deploys the pushed sha on a signed push to the pipeline branch', async function () {
    const r = await signed(pushPayload());
    assert.equal(r.status, 202);
    assert.deepEqual(r.json, { accepted: true, sha: SHA, deploy: { queued: [SHA] } });
    assert.deepEqual(deploys, [[SHA, 'github:ada']]);
  });

  it('accepts the form-encoded delivery format too', async function () {
    const body = new URLSearchParams({ payload: pushPayload() }).toString();
    const res = await fetch(`${base}/webhooks/github`, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-github-event': 'push',
        'x-hub-signature-256': await signer.sign(body),
      },
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(res.status, 202);
    assert.deepEqual(deploys, [[SHA, 'github:ada']]);
  });

  it('answers 401 and changes nothing on a bad, foreign or missing signature', async function () {
    const body = pushPayload();
    const forged = await new Webhooks({ secret: 'not the secret' }).sign(body);
    const variants: Record<string, string>[] = [
      { 'x-hub-signature-256': forged },
      { 'x-hub-signature-256': 'sha256=00' },
      { 'x-hub-signature-256': await signer.sign(body + ' ') },
      {},
    ];
    for (const headers of variants) {
      const r = await post(body, { 'x-github-event': 'push', ...headers });
      assert.equal(r.status, 401);
      assert.equal((r.json.error as { code: string }).code, 'IMMUNE_UNAUTHORIZED');
    }
    assert.deepEqual(deploys, []);
  });

  it('ignores other branches, deleted branches and other events with 202; answers ping', async function () {
    const other = await signed(pushPayload({ ref: 'refs/heads/feature' }));
    assert.equal(other.status, 202);
    assert.match(String(other.json.ignored), /push to refs\/heads\/feature, the pipeline deploys refs\/heads\/main/);
    const deleted = await signed(pushPayload({ deleted: true, after: '0'.repeat(40) }));
    assert.equal(deleted.status, 202);
    const issue = await signed(JSON.stringify({ action: 'opened' }), 'issues');
    assert.deepEqual([issue.status, issue.json], [202, { ignored: 'event issues' }]);
    const ping = await signed(JSON.stringify({ zen: 'Keep it logically awesome.' }), 'ping');
    assert.equal(ping.status, 200);
    assert.deepEqual(deploys, []);
  });

  it('answers 400 with a clear message for malformed bodies and missing headers', async function () {
    const notJson = await signed('{"ref": ');
    assert.equal(notJson.status, 400);
    assert.match((notJson.json.error as { message: string }).message, /^body: not valid JSON/);
    const badSha = await signed(pushPayload({ after: 'nope' }));
    assert.equal(badSha.status, 400);
    assert.match((badSha.json.error as { message: string }).message, /body\.after: expected a 40-hex commit sha/);
    const noEvent = await post(pushPayload(), { 'x-hub-signature-256': await signer.sign(pushPayload()) });
    assert.equal(noEvent.status, 400);
    assert.match((noEvent.json.error as { message: string }).message, /x-github-event: missing/);
    assert.deepEqual(deploys, []);
    // The raw-body parser stays inside the webhook route.
    const echo = await fetch(`${base}/echo`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    assert.deepEqual(await echo.json(), { a: 1 });
  });

  it('refuses every delivery when no secret is configured', async function () {
    const bare = Fastify({ logger: false });
    registerErrorHandler(bare);
    await registerWebhooks(bare, { log: pino({ level: 'silent' }) } as unknown as ServerContext, { secretEnv: 'IMMUNE_TEST_UNSET_SECRET' });
    const body = pushPayload();
    // The branch and the secret's variable can come from the context too.
    process.env.IMMUNE_TEST_CTX_SECRET = SECRET;
    const fromCtx = Fastify({ logger: false });
    registerErrorHandler(fromCtx);
    const ctxDeploys: string[] = [];
    const ctx = {
      log: pino({ level: 'silent' }),
      webhooks: { branch: 'prod', secretEnv: 'IMMUNE_TEST_CTX_SECRET' },
      line: { deploy: async (sha: string) => (ctxDeploys.push(sha), { queued: sha }) },
    } as unknown as ServerContext;
    await registerWebhooks(fromCtx, ctx);
    delete process.env.IMMUNE_TEST_CTX_SECRET;
    for (const ref of ['refs/heads/main', 'refs/heads/prod']) {
      const b = pushPayload({ ref });
      const r = await fromCtx.inject({
        method: 'POST',
        url: '/webhooks/github',
        payload: b,
        headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': await signer.sign(b) },
      });
      assert.equal(r.statusCode, 202);
    }
    assert.deepEqual(ctxDeploys, [SHA]);
    await fromCtx.close();

    const res = await bare.inject({
      method: 'POST',
      url: '/webhooks/github',
      payload: body,
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': await signer.sign(body) },
    });
    assert.equal(res.statusCode, 401);
    assert.match(res.json().error.message, /webhooks are disabled: set the secret in \$IMMUNE_TEST_UNSET_SECRET/);
    await bare.close();
  });
});
