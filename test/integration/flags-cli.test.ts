// Guarded flags over the API and the CLI as people use them: where a flag stands, a flag turned
// off shown with its reason and served off, unblock refused without an engineer token and
// audited with one, and bad flag files refused with file:line:col.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { execa } from 'execa';
import { SqliteAuditStore } from '../../src/adapters/store/sqlite/audit.js';
import type { FeaturesDocument } from '../../src/core/experiments/features.js';
import { CLIENT_TOKEN, ENGINEER_TOKEN, removeDir, startServer, tempDir, writeFiles, type TestServer } from './experiments-fixture.js';

const cli = (...args: string[]) =>
  execa('node', ['bin/immune.js', ...args], { reject: false, timeout: 30_000, env: { IMMUNE_URL: '', IMMUNE_TOKEN: '' } });

const FLAGS = `flags:
  - name: new-checkout
    owner: alice@example.com
    guarded:
      steps: [5%, 25%, 100%]
      guardrails: [error]
`;

describe('guarded flags (API and CLI)', function () {
  // Each CLI run starts node and loads the CLI: seconds apiece on a loaded 2-core machine.
  this.timeout(180_000);
  let dir: string;
  let server: TestServer;
  before(async () => {
    dir = tempDir();
    writeFiles(dir, { 'flags.yaml': FLAGS });
    server = await startServer(dir);
  });
  after(async () => {
    await server.close();
    removeDir(dir);
  });

  const served = async (): Promise<string> => {
    const doc = (await (
      await fetch(`${server.url}/api/client/features`, { headers: { authorization: CLIENT_TOKEN } })
    ).json()) as FeaturesDocument;
    return doc.features.find((f) => f.name === 'new-checkout')!.strategies[0]!.parameters.rollout!;
  };

  it('starts at the first step, serves it with impression data, and lists it', async () => {
    assert.equal(await served(), '5');
    const list = await cli('flags', 'list', '--url', server.url);
    assert.equal(list.exitCode, 0, list.stderr);
    assert.match(list.stdout, /^new-checkout\s+step 1\/3 at 5%\s+5% > 25% > 100%\s+alice@example.com/m);
    // Exposures of a guarded flag: on/off, with or without the groupId; anything else is ignored with the reason.
    const res = await fetch(`${server.url}/api/events`, {
      method: 'POST',
      headers: { authorization: CLIENT_TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({
        source: 'my-app',
        events: [
          { type: 'exposure', experiment: 'new-checkout', branch: 'on', userId: 'u1' },
          { type: 'exposure', experiment: 'new-checkout', groupId: 'new-checkout', branch: 'off', userId: 'u2' },
          { type: 'exposure', experiment: 'new-checkout', branch: 'maybe', userId: 'u3' },
        ],
      }),
    });
    const body = (await res.json()) as { exposures: number; ignored: { index: number; reason: string }[] };
    assert.equal(body.exposures, 2);
    assert.deepEqual(body.ignored, [{ index: 2, reason: 'no branch "maybe" (a guarded flag has "on" and "off")' }]);
  });

  it('shows a flag turned off with its reason, serves it off, and unblocks it only for an engineer, audited', async () => {
    const gf = (await server.ctx.experiments.current()).guarded.get('new-checkout')!;
    await server.ctx.experiments.applyRollout({ ...gf.rollout, status: 'off', reason: 'regression after 300s: error +106%' });
    assert.equal(await served(), '0');
    const show = await cli('flags', 'show', 'new-checkout', '--url', server.url);
    assert.equal(show.exitCode, 0, show.stderr);
    assert.match(show.stdout, /^status\s+OFF, blocked$/m);
    assert.match(show.stdout, /^why\s+regression after 300s: error \+106%$/m);

    const refused = await cli('flags', 'unblock', 'new-checkout', '--reason', 'fixed', '--url', server.url);
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, /needs engineer/);
    const noReason = await cli('flags', 'unblock', 'new-checkout', '--reason', ' ', '--url', server.url, '--token', ENGINEER_TOKEN);
    assert.equal(noReason.exitCode, 2);
    assert.match(noReason.stderr, /--reason: must not be empty/);

    const ok = await cli(
      'flags',
      'unblock',
      'new-checkout',
      '--reason',
      'fixed the null check',
      '--url',
      server.url,
      '--token',
      ENGINEER_TOKEN,
    );
    assert.equal(ok.exitCode, 0, ok.stderr);
    assert.match(ok.stdout, /new-checkout unblocked: step 1\/3 at 5%/);
    assert.equal(await served(), '5');
    const audit = await new SqliteAuditStore(server.db).list({ target: 'new-checkout' });
    assert.ok(
      audit.some((a) => a.action === 'flag.unblock' && a.actor === 'token:alice' && a.reason === 'fixed the null check'),
      JSON.stringify(audit),
    );

    const again = await fetch(`${server.url}/api/flags/new-checkout/unblock`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ENGINEER_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'again' }),
    });
    assert.equal(again.status, 409);
    assert.match(((await again.json()) as { error: { message: string } }).error.message, /is running: nothing to unblock/);
    const unknown = await fetch(`${server.url}/api/flags/nope`);
    assert.equal(unknown.status, 404);
  });

  it('refuses bad guarded settings with file:line:col', async () => {
    const root = tempDir();
    const bad = `${root}/experiments`;
    mkdirSync(bad);
    writeFiles(bad, {
      'flags.yaml':
        'flags:\n  - name: f\n    rollout: 10%\n    guarded:\n      steps: [10%, 5%]\n      guardrails: []\n      max_bake: 1m\n      min_bake: 5m\n',
    });
    const r = await cli('validate', `${bad}/flags.yaml`);
    removeDir(root);
    assert.notEqual(r.exitCode, 0);
    const out = r.stdout + r.stderr;
    assert.match(out, /flags\.yaml:\d+:\d+ flags\.0\.guarded\.guardrails: at least one guardrail/);
    assert.match(out, /flags\.yaml:\d+:\d+ flags\.0\.rollout: a guarded flag takes its rollout from guarded\.steps/);
  });
});
