// The line end to end on real parts: a real git repository, the shop on real processes on
// loopback, metrics scraped from them, real tarball builds, SQLite state.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { badChange, goodChange, shopTemplateFiles, fixChange } from '../../src/demo/shop-changes.js';
import { startTraffic, type Traffic } from '../../src/demo/traffic.js';
import { createOrigin, type TestOrigin } from '../helpers/git.js';
import { freePortRange, localPipelineYaml, waitFor, deployOf as waitForDeploy } from '../helpers/line.js';
import type { DeployRecord } from '../../src/ports.js';

describe('the line on a local fleet (real git, processes, scrape)', function () {
  this.timeout(240_000);
  let origin: TestOrigin;
  let dir: string;
  let rt: Runtime;
  let traffic: Traffic;
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

  const deployOf = (sha: string) => waitForDeploy(rt.store.line, sha, 120_000);

  before(async () => {
    origin = await createOrigin(shopTemplateFiles());
    dir = await mkdtemp(join(tmpdir(), 'immune-line-'));
    const basePort = await freePortRange(3);
    const file = join(dir, 'pipeline.yaml');
    await writeFile(file, localPipelineYaml({ repo: origin.url, dir, basePort, servers: 3, minBake: '10s' }));
    rt = await createRuntime({ pipelineFile: file, dataDir: join(dir, 'state'), log });
    await rt.start();
    traffic = startTraffic({ targets: () => rt.fleet.servers(), rpsPerServer: 60, checkoutRate: 0.5, durationMs: 230_000, log, seed: 7 });
  });

  after(async () => {
    await traffic?.stop();
    await rt?.close({ stopFleet: true });
    await origin?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  let live: DeployRecord;

  it('deploys the first build to every server', async () => {
    const tip = (await origin.dev.revparse(['HEAD'])).trim();
    live = await deployOf(tip);
    assert.equal(live.outcome, 'live');
    const releases = await Promise.all((await rt.fleet.servers()).map((s) => rt.fleet.release(s)));
    assert.deepEqual(releases, [live.artifact!.id, live.artifact!.id, live.artifact!.id]);
  });

  it('takes a good commit live on every server, through the canary step and the watch', async () => {
    // Let the fleet run the first build for a while: the watch compares every server with its window before the rollout.
    await new Promise((r) => setTimeout(r, 8000));
    const c = goodChange(1);
    const sha = await origin.commit(c.message, c.files);
    const d = await deployOf(sha);
    assert.equal(d.outcome, 'live', d.reason);
    const events = await rt.store.line.events(d.id);
    const statuses = events.map((e) => e.status);
    for (const s of ['testing', 'building', 'rolling_out', 'baking', 'watching', 'live'])
      assert.ok(statuses.includes(s), `went through ${s}: ${statuses.join(' ')}`);
    const releases = await Promise.all((await rt.fleet.servers()).map((s) => rt.fleet.release(s)));
    assert.ok(releases.every((r) => r === d.artifact!.id));
    live = d;
  });

  let badSha: string;
  let revertSha: string;

  it('rolls back a bad commit, reverts exactly it in git and blocks the line', async () => {
    const c = badChange();
    badSha = await origin.commit(c.message, c.files, 'Bad Actor <bad@example.test>');
    const d = await deployOf(badSha);
    assert.equal(d.outcome, 'reverted', d.reason);
    assert.ok(d.revertSha);
    revertSha = d.revertSha!;
    assert.match(d.reason ?? '', /error_rate|checkout/);
    // Every server is back on the build that was live.
    const releases = await Promise.all((await rt.fleet.servers()).map((s) => rt.fleet.release(s)));
    assert.ok(
      releases.every((r) => r === live.artifact!.id),
      releases.join(','),
    );
    // The revert is on main and undoes exactly the bad change.
    await origin.dev.fetch('origin');
    const mainTip = (await origin.dev.revparse(['origin/main'])).trim();
    assert.equal(mainTip, revertSha);
    assert.equal((await origin.dev.raw(['diff', `${badSha}^`, revertSha])).trim(), '');
    const message = await origin.dev.raw(['log', '-1', '--format=%B', revertSha]);
    assert.match(message, /Revert "Checkout: loyalty discount/);
    assert.match(message, /Immune-Deploy: /);
    const line = await rt.store.line.getLine('shop');
    assert.equal(line.blocked, true);
    assert.equal(line.blockedDeploy, d.id);
  });

  it('keeps a commit pushed while blocked waiting, and lets it through after unblock', async () => {
    await origin.dev.pull('origin', 'main', ['--rebase']);
    const c = fixChange();
    const fix = await origin.commit(c.message, c.files);
    await waitFor(async () => (await rt.engine.status()).queue.some((q) => q.sha === fix) || undefined, 10_000, 'the fix to be queued');
    await new Promise((r) => setTimeout(r, 1500));
    const status = await rt.engine.status();
    assert.equal(status.blocked, true);
    assert.equal(status.inFlight, null, 'nothing deploys while blocked');
    await assert.rejects(rt.engine.resume('x', 'tester'), /not paused/);
    await rt.engine.unblock('fixed in the next commit', 'captain:test');
    const d = await deployOf(fix);
    assert.equal(d.outcome, 'live', d.reason);
    assert.ok(d.shas.includes(revertSha), 'the revert rides along with the fix');
    const audit = await rt.store.audit.list({ limit: 10 });
    assert.ok(audit.some((a) => a.action === 'unblock' && a.actor === 'captain:test' && a.reason === 'fixed in the next commit'));
  });
});
