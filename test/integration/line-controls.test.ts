// The captains' queue controls on the real line (real git, the shop on real processes, scrape,
// SQLite, the HTTP API with token auth, the real CLI): releases per server, rollback to a kept
// release, retry of an aborted deploy, drop of a queued commit; a viewer token is refused each.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { goodChange, shopTemplateFiles } from '../../src/demo/shop-changes.js';
import { startTraffic, type Traffic } from '../../src/demo/traffic.js';
import type { DeployRecord } from '../../src/ports.js';
import { createOrigin, type TestOrigin } from '../helpers/git.js';
import { immune } from '../helpers/immune-cli.js';
import { freePortRange, localPipelineYaml, waitFor, deployOf as waitForDeploy } from '../helpers/line.js';

const CAPTAIN = 'captain-token-controls';
const VIEWER = 'viewer-token-controls';

describe('queue controls on the real line (API, CLI, roles)', function () {
  this.timeout(300_000);
  let origin: TestOrigin;
  let dir: string;
  let rt: Runtime;
  let traffic: Traffic;
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

  const deployOf = (sha: string, except?: string) => waitForDeploy(rt.store.line, sha, 150_000, except);
  const post = (path: string, body: unknown, token: string) =>
    fetch(`${rt.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
  const releases = async () => Promise.all((await rt.fleet.servers()).map((s) => rt.fleet.release(s)));

  before(async () => {
    origin = await createOrigin(shopTemplateFiles());
    dir = await mkdtemp(join(tmpdir(), 'immune-controls-'));
    const [basePort, apiPort] = [await freePortRange(3), await freePortRange(1)];
    const file = join(dir, 'pipeline.yaml');
    await writeFile(
      file,
      localPipelineYaml({ repo: origin.url, dir, basePort, servers: 3, minBake: '20s', maxBake: '60s', onInconclusive: 'pass' }),
    );
    const tokens = join(dir, 'tokens.yaml');
    await writeFile(
      tokens,
      `tokens:\n  - { name: captain, role: captain, token: ${CAPTAIN} }\n  - { name: viewer, role: viewer, token: ${VIEWER} }\n`,
    );
    rt = await createRuntime({
      pipelineFile: file,
      dataDir: join(dir, 'state'),
      log,
      http: { port: apiPort, host: '127.0.0.1', tokensFile: tokens },
    });
    await rt.start();
    traffic = startTraffic({ targets: () => rt.fleet.servers(), rpsPerServer: 40, checkoutRate: 0.5, durationMs: 900_000, log, seed: 21 });
  });

  after(async () => {
    await traffic?.stop();
    await rt?.close({ stopFleet: true });
    await origin?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  let first: DeployRecord;
  let good: string;

  it('status exits 0 when open, 3 while a deploy is in flight; an aborted deploy is retried by a captain, never by a viewer', async () => {
    first = await deployOf((await origin.dev.revparse(['HEAD'])).trim());
    assert.equal(first.outcome, 'live');
    const open = await immune(['status', '--url', rt.url!]);
    assert.equal(open.code, 0, open.stdout + open.stderr);
    const c = goodChange(1);
    good = await origin.commit(c.message, c.files);
    await waitFor(async () => (await rt.engine.status()).inFlight?.status === 'baking', 60_000, 'the deploy to bake');
    const flying = await immune(['status', '--url', rt.url!]);
    assert.equal(flying.code, 3, flying.stdout + flying.stderr);
    assert.equal((await post('/api/line/abort', { reason: 'wrong moment' }, CAPTAIN)).status, 200);
    const aborted = await deployOf(good);
    assert.equal(aborted.outcome, 'aborted');
    assert.deepEqual(await releases(), [first.artifact!.id, first.artifact!.id, first.artifact!.id]);

    const viewer = await post(`/api/deploys/${aborted.id}/retry`, { reason: 'x' }, VIEWER);
    assert.equal(viewer.status, 403);
    const viewerCli = await immune(['retry', aborted.id, '-r', 'x', '--url', rt.url!, '--token', VIEWER]);
    assert.equal(viewerCli.code, 1);
    const cli = await immune(['retry', aborted.id, '-r', 'the moment is right now', '--url', rt.url!, '--token', CAPTAIN]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`^queued ${good.slice(0, 8)} again \\(deploy ${aborted.id}\\)$`, 'm'));
    const again = await deployOf(good, aborted.id);
    assert.equal(again.outcome, 'live', again.reason);
    assert.notEqual(again.id, aborted.id);
    const audit = await rt.store.audit.list({ limit: 50 });
    assert.ok(
      audit.some(
        (a) => a.action === 'retry' && a.target === aborted.id && a.actor === 'token:captain' && a.reason === 'the moment is right now',
      ),
    );
    // A live deploy cannot be retried.
    const live = await post(`/api/deploys/${again.id}/retry`, { reason: 'x' }, CAPTAIN);
    assert.equal(live.status, 409);
  });

  it('lists the releases each server keeps and rolls the fleet back to a chosen one (captain only); the line blocks', async () => {
    const api = (await (await fetch(`${rt.url}/api/fleet/releases`)).json()) as {
      servers: { server: string; current: string; releases: { id: string; sha?: string }[] }[];
    };
    const live = (await rt.engine.status()).live!;
    assert.equal(api.servers.length, 3);
    for (const s of api.servers) {
      assert.equal(s.current, live.artifact.id);
      assert.ok(
        s.releases.some((r) => r.id === first.artifact!.id && r.sha === first.artifact!.sha),
        `${s.server} keeps the first release`,
      );
    }
    const list = await immune(['releases', '--url', rt.url!]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^\\s+${first.artifact!.id}\\s+${first.shas.at(-1)!.slice(0, 8)}\\s+${first.id}`, 'm'));

    assert.equal((await post('/api/line/rollback', { to: first.artifact!.id, reason: 'x' }, VIEWER)).status, 403);
    const viewerCli = await immune(['rollback', '--to', first.artifact!.id, '-r', 'x', '--url', rt.url!, '--token', VIEWER]);
    assert.equal(viewerCli.code, 1);
    assert.deepEqual(await releases(), [live.artifact.id, live.artifact.id, live.artifact.id], 'a viewer changed nothing');
    const missing = await post('/api/line/rollback', { to: 'deadbeefdead', reason: 'x' }, CAPTAIN);
    assert.equal(missing.status, 404);
    // By commit sha, through the CLI.
    const cli = await immune([
      'rollback',
      '--to',
      first.shas.at(-1)!.slice(0, 10),
      '-r',
      'the banner confuses people',
      '--url',
      rt.url!,
      '--token',
      CAPTAIN,
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(
      cli.stdout,
      new RegExp(
        `^rolled back to ${first.artifact!.id} \\(${first.shas.at(-1)!.slice(0, 8)}\\): 3 server\\(s\\) switched; the line is blocked`,
        'm',
      ),
    );
    assert.deepEqual(await releases(), [first.artifact!.id, first.artifact!.id, first.artifact!.id]);
    const s = await rt.engine.status();
    assert.equal(s.live?.artifact.id, first.artifact!.id);
    assert.equal(s.blocked, true);
    assert.match(s.blockReason ?? '', /rolled back to .* by token:captain: the banner confuses people/);
    const blocked = await immune(['status', '--url', rt.url!]);
    assert.equal(blocked.code, 5);
    const audit = await rt.store.audit.list({ limit: 50 });
    assert.ok(audit.some((a) => a.action === 'rollback' && a.target === first.artifact!.id && a.actor === 'token:captain'));
  });

  it('drops a queued commit (captain only): it stays in git, the line skips it and says so', async () => {
    await origin.dev.pull('origin', 'main', ['--rebase']);
    const c = goodChange(2);
    const sha = await origin.commit(c.message, c.files);
    await waitFor(async () => (await rt.engine.status()).queue.some((q) => q.sha === sha), 20_000, 'the commit to be queued');
    assert.equal((await post('/api/line/drop', { sha, reason: 'x' }, VIEWER)).status, 403);
    const viewerCli = await immune(['drop', sha.slice(0, 8), '-r', 'x', '--url', rt.url!, '--token', VIEWER]);
    assert.equal(viewerCli.code, 1);
    assert.ok(
      (await rt.engine.status()).queue.some((q) => q.sha === sha),
      'still queued after the viewer tried',
    );
    const r = await post('/api/line/drop', { sha: sha.slice(0, 10), reason: 'ships with the next release instead' }, CAPTAIN);
    assert.equal(r.status, 200);
    const body = (await r.json()) as { dropped: string; note: string };
    assert.equal(body.dropped, sha);
    const s = await rt.engine.status();
    assert.equal(s.queue.length, 0);
    assert.deepEqual(
      s.dropped?.map((d) => [d.sha, d.actor, d.reason]),
      [[sha, 'token:captain', 'ships with the next release instead']],
    );
    const shown = await immune(['status', '--url', rt.url!]);
    assert.match(
      shown.stdout,
      new RegExp(
        `^dropped\\s+${sha.slice(0, 8)} by token:captain .*: ships with the next release instead \\(skipped by the line, still in git\\)`,
        'm',
      ),
    );
    await rt.engine.unblock('after the drop', 'captain:test');
    await new Promise((res) => setTimeout(res, 3000));
    assert.equal(
      (await rt.store.line.listDeploys('shop', { limit: 50 })).filter((d) => d.shas.includes(sha)).length,
      0,
      'the dropped commit never deploys',
    );
    await origin.dev.fetch('origin');
    assert.equal((await origin.dev.revparse(['origin/main'])).trim(), sha, 'and it is still on main');
    assert.equal((await post('/api/line/drop', { sha, reason: 'again' }, CAPTAIN)).status, 404);
  });
});
