// The GitHub CodeHost (octokit) against a local stand-in for the GitHub API that records every call.
import assert from 'node:assert/strict';
import pino from 'pino';
import { githubConfig } from '../../src/core/config/codehost.js';
import { createGithubCodeHost, githubToken } from '../../src/adapters/github/code-host.js';
import { ImmuneError } from '../../src/core/errors.js';
import { startGithubStandin, type GithubStandin } from '../helpers/github-standin.js';

const TOKEN = 'ghp_standin_token_0123456789';
const SHA = 'a'.repeat(39) + 'b';

describe('GitHub code host (octokit against a local API stand-in)', function () {
  this.timeout(20_000);
  let gh: GithubStandin;
  const logged: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void logged.push(s) });

  before(async function () {
    gh = await startGithubStandin({ token: TOKEN, owner: 'acme', repo: 'shop' });
  });
  after(async function () {
    await gh?.close();
  });
  beforeEach(function () {
    gh.calls.length = 0;
  });

  const config = (over: Record<string, unknown> = {}) =>
    githubConfig.parse({ owner: 'acme', repo: 'shop', api_url: gh.url, dashboard_url: 'http://127.0.0.1:7070/', ...over });

  it('sets a commit status per stage with the dashboard link and a short description', async function () {
    const host = createGithubCodeHost(config(), { token: TOKEN, log, throttle: false });
    await host.setStatus(SHA, { context: 'tests', state: 'pending', description: 'running 120 tests on 4 shards' });
    await host.setStatus(SHA, {
      context: 'canary',
      state: 'failure',
      description: 'x'.repeat(300),
      url: 'http://127.0.0.1:7070/deploys/d1',
    });
    await host.setStatus(SHA, { context: 'immune/deploy', state: 'success', description: 'live on 8 servers' });
    assert.equal(gh.calls.length, 3);
    const [tests, canary, deploy] = gh.calls;
    assert.equal(tests!.method, 'POST');
    assert.equal(tests!.path, `/repos/acme/shop/statuses/${SHA}`);
    assert.equal(tests!.headers.authorization, `token ${TOKEN}`);
    assert.deepEqual(tests!.body, {
      state: 'pending',
      context: 'immune/tests',
      description: 'running 120 tests on 4 shards',
      target_url: 'http://127.0.0.1:7070/',
    });
    const c = canary!.body as { description: string; target_url: string; context: string };
    assert.equal(c.context, 'immune/canary');
    assert.equal(c.description.length, 140);
    assert.equal(c.target_url, 'http://127.0.0.1:7070/deploys/d1');
    assert.deepEqual(deploy!.body, {
      state: 'success',
      context: 'immune/deploy',
      description: 'live on 8 servers',
      target_url: 'http://127.0.0.1:7070/',
    });
  });

  it('comments on the reverted commit with the evidence and a dashboard link', async function () {
    const host = createGithubCodeHost(config(), { token: TOKEN, log, throttle: false });
    const evidence = 'Reverted by immune: checkout_error_rate x61 (CI +250%..+600%), p=0.0018 at step 1 (1 server).';
    await host.comment(SHA, evidence);
    assert.equal(gh.calls.length, 1);
    assert.equal(gh.calls[0]!.path, `/repos/acme/shop/commits/${SHA}/comments`);
    const body = (gh.calls[0]!.body as { body: string }).body;
    assert.ok(body.startsWith(evidence));
    assert.match(body, /\[Open the immune dashboard\]\(http:\/\/127\.0\.0\.1:7070\/\)$/);
  });

  it('reports GitHub errors with what was being done and the status, never the token', async function () {
    const host = createGithubCodeHost(config(), { token: 'wrong-token', log, retries: 0, throttle: false });
    await assert.rejects(host.setStatus(SHA, { context: 'tests', state: 'success', description: 'ok' }), (err: unknown) => {
      assert.ok(err instanceof ImmuneError);
      assert.equal(err.code, 'IMMUNE_EXTERNAL');
      assert.match(err.message, /^github acme\/shop: setting status immune\/tests=success on aaaaaaaa failed: HTTP 401 Bad credentials$/);
      assert.ok(!err.message.includes('wrong-token'));
      return true;
    });
    assert.ok(!logged.some((l) => l.includes(TOKEN) || l.includes('wrong-token')));
  });

  it('retries a server error and succeeds', async function () {
    const host = createGithubCodeHost(config(), { token: TOKEN, log, retries: 2, retryBaseMs: 10, throttle: false });
    gh.failNext(502, 1, 'Bad Gateway');
    await host.comment(SHA, 'reverted');
    assert.equal(gh.calls.length, 2);
    assert.deepEqual(
      gh.calls.map((c) => c.path),
      [`/repos/acme/shop/commits/${SHA}/comments`, `/repos/acme/shop/commits/${SHA}/comments`],
    );
  });

  it('refuses short shas and reads the token from the configured environment variable', async function () {
    const host = createGithubCodeHost(config(), { token: TOKEN, log, throttle: false });
    await assert.rejects(host.comment('abc123', 'x'), /sha: "abc123" is not a full commit sha/);
    assert.equal(gh.calls.length, 0);
    assert.equal(githubToken(config({ token_env: 'IMMUNE_TEST_TOKEN' }), { IMMUNE_TEST_TOKEN: 't0k' }), 't0k');
    assert.throws(
      () => githubToken(config({ token_env: 'IMMUNE_TEST_TOKEN' }), {}),
      /github\.token_env: environment variable IMMUNE_TEST_TOKEN is not set/,
    );
  });
});
