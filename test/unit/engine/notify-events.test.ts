// What the engine tells the notifier, on the simulated fleet in virtual time: stable ids (deploy,
// kind, step), a failed rollback told once, servers left on an unknown build, the recovery, the
// block with its evidence and link, the unblock with the block's id.
import assert from 'node:assert/strict';
import pino from 'pino';
import { openSqliteStore } from '../../../src/adapters/store/sqlite/index.js';
import { parsePipeline } from '../../../src/core/config/index.js';
import { DeployError } from '../../../src/core/errors.js';
import { inProcessJudge } from '../../../src/adapters/judge/in-process.js';
import { Engine } from '../../../src/engine/engine.js';
import { EventBus } from '../../../src/engine/events.js';
import type { Artifact, Notification, Server, Store } from '../../../src/ports.js';
import { VirtualClock } from '../../../src/sim/clock.js';
import { SimFleet } from '../../../src/sim/fleet.js';
import { MemoryRepo } from '../../helpers/memory-repo.js';

const PIPELINE = `name: sim
repo: { url: sim://shop, poll_interval: 1s }
fleet: { type: local, servers: 4 }
metrics:
  definitions:
    - { name: checkout_error_rate, kind: ratio, numerator: 'c{code=~"5.."}', denominator: c, bad: increase, critical: true }
rollout:
  interval: 2s
  min_bake: 30s
  max_bake: 90s
  steps: [{ servers: 1 }, { percent: 100% }]
watch: { duration: 10s, window: 30s }
`;

/** A fleet whose rollback fails once, then reports one server on a build it does not run, once. */
class FaultyFleet extends SimFleet {
  failGood = 0;
  lieOnce = false;
  good = '';
  override async activate(server: Server, artifact: Artifact, signal: AbortSignal): Promise<void> {
    if (artifact.id === this.good && this.failGood > 0) {
      this.failGood--;
      throw new DeployError(`health check failed on ${server.id}`, { server: server.id });
    }
    await super.activate(server, artifact, signal);
    if (artifact.id === this.good && this.lieOnce) this.lying = server.id;
  }
  lying: string | undefined;
  override async release(server: Server): Promise<string | undefined> {
    if (this.lying === server.id && this.lieOnce) {
      this.lieOnce = false;
      return 'r-unknown';
    }
    return super.release(server);
  }
}

describe('engine notifications (virtual time)', function () {
  this.timeout(30_000);
  let store: Store;
  let engine: Engine | undefined;
  after(async () => {
    await engine?.stop();
    await store?.close();
  });

  it('tells a failed rollback once, servers on an unknown build, the recovery, the block and the unblock, with stable ids', async () => {
    const clock = new VirtualClock(Date.UTC(2026, 0, 1));
    const fleet = new FaultyFleet(clock, {
      servers: 4,
      rps: 50,
      errorRate: 0,
      checkoutShare: 0.15,
      outlierProbability: 0,
      seed: 5,
      activateMs: 500,
    });
    const repo = new MemoryRepo();
    const good = 'a'.repeat(40);
    const bad = 'b'.repeat(40);
    repo.push(good, 'good change');
    fleet.inject(bad, { checkoutFailure: 0.4 });
    fleet.good = `r-${good.slice(0, 8)}`;
    store = openSqliteStore(':memory:');
    const got: Notification[] = [];
    engine = new Engine({
      config: parsePipeline(PIPELINE, 'sim.yaml'),
      repo,
      builder: { build: async (co) => ({ id: `r-${co.sha.slice(0, 8)}`, sha: co.sha, path: '/nonexistent.tar.gz', bytes: 1 }) },
      fleet,
      metrics: fleet,
      store,
      notifier: { notify: async (n) => void got.push(n) },
      clock,
      events: new EventBus(),
      log: pino({ level: 'silent' }),
      judge: inProcessJudge,
      publicUrl: 'http://immune.test',
    });
    await engine.start();
    await clock.sleep(2000);
    await engine.idle(600_000);
    fleet.failGood = 1;
    fleet.lieOnce = true;
    repo.push(bad, 'bad change');
    await clock.sleep(2000);
    await engine.idle(600_000);
    assert.equal((await engine.status()).blocked, true);
    const [d] = await store.line.listDeploys('sim', { limit: 1 });
    const mine = got.filter((n) => n.deploy === d!.id);
    const kinds = mine.map((n) => n.kind);
    // The failed rollback is told each time it fails, always with one id: the queue delivers it once.
    assert.deepEqual([...new Set(kinds)], ['rollback_failed', 'unknown_build', 'recovered', 'rolled_back', 'blocked'], kinds.join());
    assert.deepEqual(new Set(mine.filter((n) => n.kind === 'rollback_failed').map((n) => n.id)), new Set([`${d!.id}:rollback_failed:0`]));
    const unknown = mine.find((n) => n.kind === 'unknown_build')!;
    assert.match(unknown.body, /^not on r-aaaaaaaa: sim-0\d$/);
    const blocked = mine.find((n) => n.kind === 'blocked')!;
    assert.equal(blocked.id, `${d!.id}:blocked:0`);
    assert.equal(blocked.link, `http://immune.test/#/deploys/${d!.id}`);
    assert.equal(blocked.evidence?.metrics[0]?.name, 'checkout_error_rate');
    assert.equal(blocked.evidence?.metrics[0]?.verdict, 'fail');
    assert.deepEqual(blocked.to, ['dev@example.com']);
    assert.equal(blocked.revertSha, repo.commits.at(-1)!.sha);
    const line = await store.line.getLine('sim');
    await engine.unblock('fixed', 'token:captain');
    const unblocked = got.at(-1)!;
    assert.equal(unblocked.kind, 'unblocked');
    assert.equal(unblocked.id, `sim:unblocked:${line.blockedAt}`);
    // The first deploy's live notification too, with its own id.
    assert.ok(got.some((n) => n.kind === 'deploy_live' && /^d-.*:deploy_live:\d+$/.test(n.id!)));
  });
});
