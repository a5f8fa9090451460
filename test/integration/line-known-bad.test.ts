// The line never puts known-bad code back (real git, the shop on real processes, scrape, SQLite):
// a batch [immune's revert + a new bad commit] reverts only the new commit, main's tree never
// returns to the bad tree through immune, and a change whose tree is known-bad is held until a
// captain overrides it (audited).
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { badChange, goodChange, shopTemplateFiles } from '../../src/demo/shop-changes.js';
import { startTraffic, type Traffic } from '../../src/demo/traffic.js';
import type { LineStatus } from '../../src/engine/summary.js';
import type { DeployRecord } from '../../src/ports.js';
import { createOrigin, type TestOrigin } from '../helpers/git.js';
import { immune } from '../helpers/immune-cli.js';
import { freePortRange, localPipelineYaml, waitFor, deployOf as waitForDeploy } from '../helpers/line.js';

const CAPTAIN = 'captain-token-known-bad';

describe('known-bad code never comes back (real git, processes, scrape)', function () {
  this.timeout(300_000);
  let origin: TestOrigin;
  let dir: string;
  let rt: Runtime;
  let traffic: Traffic;
  let treesLog: string;
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

  const deployOf = (sha: string) => waitForDeploy(rt.store.line, sha, 150_000);
  const tree = async (sha: string) => {
    await origin.dev.fetch('origin');
    return (await origin.dev.raw(['rev-parse', `${sha}^{tree}`])).trim();
  };
  /** Every tree main had, one per push, oldest first (from the origin's post-receive hook). */
  const pushedTrees = async () => (await readFile(treesLog, 'utf8')).trim().split('\n');
  const releases = async () => Promise.all((await rt.fleet.servers()).map((s) => rt.fleet.release(s)));

  before(async () => {
    origin = await createOrigin(shopTemplateFiles());
    dir = await mkdtemp(join(tmpdir(), 'immune-known-bad-'));
    treesLog = join(dir, 'trees.log');
    const hook = join(origin.url, 'hooks', 'post-receive');
    await writeFile(
      hook,
      `#!/bin/sh\nwhile read old new ref; do\n  [ "$ref" = refs/heads/main ] && git rev-parse "$new^{tree}" >> ${JSON.stringify(treesLog)}\ndone\nexit 0\n`,
    );
    await chmod(hook, 0o755);
    await writeFile(treesLog, '');
    const [basePort, apiPort] = [await freePortRange(3), await freePortRange(1)];
    const file = join(dir, 'pipeline.yaml');
    // No own history: a canary that served the first bad build minutes ago would be compared with that
    // past (issue 12's contaminated history), and the second bad build would look like its own normal.
    await writeFile(
      file,
      localPipelineYaml({ repo: origin.url, dir, basePort, servers: 3, minBake: '10s', maxBake: '60s' }).replace(
        'rollout:\n',
        'rollout:\n  history: 0s\n',
      ),
    );
    const tokens = join(dir, 'tokens.yaml');
    await writeFile(
      tokens,
      `tokens:\n  - { name: captain, role: captain, token: ${CAPTAIN} }\n  - { name: viewer, role: viewer, token: viewer-token-known-bad }\n`,
    );
    rt = await createRuntime({
      pipelineFile: file,
      dataDir: join(dir, 'state'),
      log,
      http: { port: apiPort, host: '127.0.0.1', tokensFile: tokens },
    });
    await rt.start();
    traffic = startTraffic({ targets: () => rt.fleet.servers(), rpsPerServer: 60, checkoutRate: 0.5, durationMs: 900_000, log, seed: 13 });
  });

  after(async () => {
    await traffic?.stop();
    await rt?.close({ stopFleet: true });
    await origin?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  let good: DeployRecord;
  let bad1: string;
  let badTree: string;
  let revert1: string;
  let pushesBeforeBad: number;

  it('deploys a good build, then reverts a bad commit and blocks', async () => {
    const c = goodChange(1);
    const g = await origin.commit(c.message, c.files);
    good = await deployOf(g);
    assert.equal(good.outcome, 'live', good.reason);
    pushesBeforeBad = (await pushedTrees()).length;
    const b = badChange();
    bad1 = await origin.commit(b.message, b.files, 'Bad Actor <bad@example.test>');
    badTree = await tree(bad1);
    const d = await deployOf(bad1);
    const looks = (await rt.store.line.gateLooks(d.id)).map((l) => `${l.step} ${l.elapsedMs} ${l.decision}: ${l.explanation}`).join('\n');
    assert.equal(d.outcome, 'reverted', `${d.reason}\n${looks}`);
    revert1 = d.revertSha!;
    assert.equal(await tree(revert1), await tree(good.shas.at(-1)!), 'the revert restores the good tree');
    const line = await rt.store.line.getLine('shop');
    assert.equal(line.blocked, true);
    assert.deepEqual(
      line.knownBad?.map((k) => [k.tree, k.sha, k.deploy]),
      [[badTree, bad1, d.id]],
      'the failed tree is remembered with its deploy',
    );
    assert.ok(line.knownBad![0]!.metrics.length > 0, 'with the metrics that failed');
  });

  it('a batch [its revert + a new bad commit] fails: only the new commit is reverted, the revert stays', async () => {
    await origin.dev.pull('origin', 'main', ['--rebase']);
    const b = badChange();
    const bad2 = await origin.commit(
      'Checkout: loyalty discount again',
      { 'lib/checkout.js': `${b.files['lib/checkout.js']}\n// second try\n` },
      'Bad Actor <bad@example.test>',
    );
    await waitFor(async () => (await rt.engine.status()).queue.some((q) => q.sha === bad2), 20_000, 'the second bad commit to be queued');
    await rt.engine.unblock('trying the second version', 'captain:test');
    const d = await deployOf(bad2);
    assert.deepEqual(d.shas, [revert1, bad2], 'the revert and the new commit deploy together');
    const looks = async () =>
      (await rt.store.line.gateLooks(d.id)).map((l) => `${l.step} ${l.elapsedMs} ${l.decision}: ${l.explanation}`).join('\n');
    assert.equal(d.outcome, 'reverted', `${d.reason}\n${await looks()}`);
    const revert2 = d.revertSha!;
    await origin.dev.fetch('origin');
    const message = await origin.dev.raw(['log', '-1', '--format=%B', revert2]);
    assert.match(message, /^Revert "Checkout: loyalty discount again"/);
    assert.doesNotMatch(message, new RegExp(revert1.slice(0, 12)), "immune's own revert is not reverted");
    assert.equal(await tree(revert2), await tree(revert1), 'main is back on the good tree, not on the first bad one');
    const trees = (await pushedTrees()).slice(pushesBeforeBad + 1);
    assert.ok(trees.length >= 3, `pushes after the bad commit: ${trees.length}`);
    assert.ok(!trees.includes(badTree), 'after the bad commit, no push put its tree back on main');
  });

  let reland: string;

  it('holds a change whose tree is known-bad: never on a server, the reason on the line and in the CLI (exit 4)', async () => {
    await origin.dev.pull('origin', 'main', ['--rebase']);
    // Someone re-lands the bad code exactly: same tree as the first bad commit.
    reland = (await origin.dev.raw(['commit-tree', badTree, '-p', 'HEAD', '-m', 'Re-land the loyalty discount'])).trim();
    await origin.dev.raw(['reset', '--hard', reland]);
    await origin.dev.push('origin', 'main');
    await waitFor(async () => (await rt.engine.status()).queue.some((q) => q.sha === reland), 20_000, 'the re-land to be queued');
    await rt.engine.unblock('the re-land has a fix, they say', 'captain:test');
    const status = (await waitFor(
      async () => {
        const s = await rt.engine.status();
        return s.held ? s : undefined;
      },
      20_000,
      'the line to hold the change',
    )) as LineStatus;
    assert.equal(status.held!.shas.at(-1), reland);
    assert.match(
      status.held!.reason,
      new RegExp(`^this tree is identical to ${bad1.slice(0, 8)}, which failed at step 1 on (checkout_)?error_rate`),
    );
    const cli = await immune(['status', '--url', rt.url!]);
    assert.equal(cli.code, 4, cli.stderr);
    assert.match(cli.stdout, new RegExp(`^HELD\\s+.*${reland.slice(0, 8)}: this tree is identical to ${bad1.slice(0, 8)}`, 'm'));
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(
      (await rt.store.line.listDeploys('shop', { limit: 50 })).filter((d) => d.shas.includes(reland)).length,
      0,
      'no deploy of the held change',
    );
    assert.deepEqual(await releases(), [good.artifact!.id, good.artifact!.id, good.artifact!.id], 'every server stays on the good build');
  });

  it("a captain's override with a reason deploys it (audited); caught again, only the re-land is reverted", async () => {
    const viewer = await immune(['override', '-r', 'x', '--url', rt.url!, '--token', 'viewer-token-known-bad']);
    assert.equal(viewer.code, 1);
    const cli = await immune(['override', '-r', 'the flag guards it now', '--url', rt.url!, '--token', CAPTAIN]);
    assert.equal(cli.code, 0, cli.stderr);
    const d = await deployOf(reland);
    assert.ok((d.state as { step: number }).step >= 0, 'it reached the servers');
    assert.equal(d.outcome, 'reverted', d.reason);
    const audit = await rt.store.audit.list({ limit: 50 });
    const o = audit.find((a) => a.action === 'override');
    assert.ok(o, 'the override is in the audit log');
    assert.equal(o.actor, 'token:captain');
    assert.equal(o.reason, 'the flag guards it now');
    assert.equal(o.target, reland);
    await origin.dev.fetch('origin');
    const message = await origin.dev.raw(['log', '-1', '--format=%B', d.revertSha!]);
    assert.match(message, /^Revert "Re-land the loyalty discount"/);
    for (const sha of d.shas.filter((s) => s !== reland))
      assert.doesNotMatch(message, new RegExp(sha.slice(0, 12)), 'only the re-land is reverted');
    assert.equal(await tree(d.revertSha!), await tree(good.shas.at(-1)!));
  });
});
