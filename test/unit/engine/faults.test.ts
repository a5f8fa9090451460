// Faults on the engine's ports (simulated fleet, virtual time): a failed write holds the line
// loudly, a crash at any port call ends consistent after a restart, and each defect of issue 18
// that lives in the engine has its own case. The full matrix: npm run test:faults.
import assert from 'node:assert/strict';
import { openSqliteStore } from '../../../src/adapters/store/sqlite/index.js';
import { ConflictError } from '../../../src/core/errors.js';
import { Engine } from '../../../src/engine/engine.js';
import type { DeployEventRecord, LineStore, Store } from '../../../src/ports.js';
import { BAD, BASE, GOOD, points, runScenario, world, type World } from '../../helpers/fault-sim.js';

async function until(w: World, cond: () => boolean | Promise<boolean>, ms = 30 * 60_000): Promise<void> {
  const end = w.clock.now() + ms;
  while (!(await cond())) {
    if (w.clock.now() > end) throw new Error('timed out (virtual time)');
    await w.clock.sleep(500);
  }
}

async function bootstrap(w: World, e: Engine): Promise<void> {
  await e.start();
  await until(w, async () => (await e.status()).live?.sha === BASE && !e.inFlight);
  await w.clock.sleep(40_000);
}

describe('engine under faults (simulated fleet)', function () {
  this.timeout(120_000);

  it('ends consistent after a crash at every port call of a good and a bad change (quick subset of the matrix)', async () => {
    const broken: string[] = [];
    let runs = 0;
    for (const change of ['good', 'bad'] as const) {
      for (const p of await points(change)) {
        for (const mode of ['crash', 'crash_after'] as const) {
          if (mode === 'crash_after' && !p.call.startsWith('store.')) continue;
          const r = await runScenario(change, { call: p.call, n: p.n, mode });
          runs++;
          if (r.broken.length) broken.push(`${change} ${p.call}#${p.n} ${mode}: ${r.broken.join('; ')}`);
        }
      }
    }
    assert.ok(runs > 80, `${runs} runs`);
    assert.deepEqual(broken, []);
  });

  it('holds the line while state writes fail, says why, tells captains, and goes on when they work (item 1)', async () => {
    const w = world();
    let failing = false;
    const line = w.store.line;
    const flaky: LineStore = Object.assign(Object.create(line) as LineStore, {
      saveDeploy: (d: Parameters<LineStore['saveDeploy']>[0], ev: DeployEventRecord) =>
        failing ? Promise.reject(new Error('database is locked')) : line.saveDeploy(d, ev),
      saveLine: (r: Parameters<LineStore['saveLine']>[0]) => (failing ? Promise.reject(new Error('database is locked')) : line.saveLine(r)),
    });
    const store: Store = { ...w.store, line: flaky, close: () => w.store.close() };
    const e = new Engine({ ...w.deps, store });
    await bootstrap(w, e);
    w.repo.push(GOOD, 'good change');
    await until(w, () => e.inFlight?.status === 'baking');
    failing = true;
    await w.clock.sleep(15_000);
    const held = await e.status();
    assert.equal(held.blocked, true);
    assert.match(held.blockReason ?? '', /state store write failed .*database is locked/);
    assert.equal(held.fault?.kind, 'store');
    assert.ok(e.inFlight, 'the deploy is held, not abandoned');
    assert.ok(
      w.notes.some((n) => n.kind === 'blocked' && /state store write failed/.test(n.body)),
      'captains told',
    );
    // Another commit meanwhile: nothing new starts while held.
    w.repo.push(BAD, 'bad change');
    await w.clock.sleep(10_000);
    assert.equal((await w.store.line.listDeploys('sim', { limit: 10 })).filter((d) => d.shas.includes(BAD)).length, 0);
    failing = false;
    await until(w, async () => !e.inFlight && (await e.status()).blocked && (await e.status()).fault === undefined);
    await e.stop();
    // The good change went live once the store worked; the bad one after it was caught. A restart changes nothing.
    const e2 = new Engine({ ...w.deps });
    await e2.start();
    await w.clock.sleep(30_000);
    const s = await e2.status();
    assert.equal(s.live?.sha, GOOD);
    for (const srv of await w.fleet.servers()) assert.equal(await w.fleet.release(srv), `r-${GOOD.slice(0, 8)}`);
    const deploys = await w.store.line.listDeploys('sim', { limit: 10 });
    assert.deepEqual(
      deploys.map((d) => [d.shas[0]!.slice(0, 4), d.outcome]),
      [
        ['cccc', 'reverted'],
        ['bbbb', 'live'],
        ['aaaa', 'live'],
      ],
    );
    assert.equal(w.repo.reverts.length, 1);
    assert.equal(s.blocked, true);
    await e2.stop();
  });

  describe('a crash between a committed transition and its actions (item 13) or between creating and starting a deploy (item 8)', () => {
    const savedAs = (status: string) => (args: unknown[]) => (args[1] as DeployEventRecord).status === status;

    it('killed after live is committed but before mark_live: the line records the new build as live', async () => {
      const r = await runScenario(
        'good',
        { call: 'store.line.saveDeploy', n: 1, mode: 'crash_after', when: savedAs('live') },
        async (w, e) => {
          assert.equal((await e.status()).live?.sha, GOOD);
        },
      );
      assert.ok(r.fired && r.crashed);
      assert.deepEqual(r.broken, []);
    });

    it('killed after the regression is committed as failed but before block: the line is blocked', async () => {
      const r = await runScenario(
        'bad',
        { call: 'store.line.saveDeploy', n: 1, mode: 'crash_after', when: savedAs('failed') },
        async (w, e) => {
          const s = await e.status();
          assert.equal(s.blocked, true);
          assert.match(s.blockReason ?? '', /checkout_error_rate|error_rate/);
        },
      );
      assert.ok(r.fired && r.crashed);
      assert.deepEqual(r.broken, []);
    });

    it('killed after the queue is saved but before the start event: the commit is tested and deployed on its own', async () => {
      const r = await runScenario('good', { call: 'store.line.saveLine', n: 2, mode: 'crash_after' }, async (w) => {
        const mine = (await w.store.line.listDeploys('sim', { limit: 10 })).filter((d) => d.shas.includes(GOOD));
        assert.deepEqual(
          mine.map((d) => [d.shas, d.outcome]),
          [[[GOOD], 'live']],
        );
      });
      assert.ok(r.fired && r.crashed);
      assert.deepEqual(r.broken, []);
    });

    it('killed after the deploy row is inserted but before the queue is saved: one deploy, not two (item 8)', async () => {
      const r = await runScenario('bad', { call: 'store.line.createDeploy', n: 1, mode: 'crash_after' });
      assert.ok(r.fired && r.crashed);
      assert.deepEqual(r.broken, []);
    });
  });

  it('an empty store while the fleet runs releases holds the line until a captain adopts what runs (item 2)', async () => {
    const w = world();
    const e1 = new Engine(w.deps);
    await bootstrap(w, e1);
    await e1.stop();
    // The database is gone; a bad commit is waiting on the branch.
    w.repo.push(BAD, 'bad change');
    const fresh = openSqliteStore(':memory:');
    const e2 = new Engine({ ...w.deps, store: fresh });
    await e2.start();
    await w.clock.sleep(20_000);
    const s = await e2.status();
    assert.equal(s.blocked, true);
    assert.match(s.blockReason ?? '', /state store is empty but the fleet runs releases .*immune adopt/);
    assert.equal((await fresh.line.listDeploys('sim', { limit: 5 })).length, 0, 'nothing deployed');
    assert.ok(w.notes.some((n) => n.kind === 'blocked' && /store came up empty/.test(n.title)));
    await assert.rejects(e2.unblock('looks fine', 'cap'), ConflictError);
    // The captain says what runs: the base. The bad commit is then judged against it, and caught.
    assert.deepEqual(await e2.adopt(BASE, 'restored after disk loss', 'cap'), { live: BASE, artifact: `r-${BASE.slice(0, 8)}` });
    await until(w, async () => (await fresh.line.listDeploys('sim', { limit: 5 })).some((d) => d.outcome));
    await until(w, () => !e2.inFlight);
    const [d] = await fresh.line.listDeploys('sim', { limit: 1 });
    assert.equal(d!.outcome, 'reverted');
    for (const srv of await w.fleet.servers()) assert.equal(await w.fleet.release(srv), `r-${BASE.slice(0, 8)}`);
    await e2.stop();
  });

  it('a store whose files vanish while running holds the line (item 2)', async () => {
    const w = world();
    const lost: { why?: string } = {};
    const e = new Engine({ ...w.deps, store: { ...w.store, check: async () => lost.why, close: () => w.store.close() } });
    await bootstrap(w, e);
    lost.why = 'the state database /x/immune.db was deleted';
    w.repo.push(GOOD, 'good change');
    await w.clock.sleep(20_000);
    const s = await e.status();
    assert.equal(s.fault?.kind, 'store_lost');
    assert.match(s.blockReason ?? '', /deleted/);
    assert.equal((await w.store.line.listDeploys('sim', { limit: 5 })).filter((d) => d.shas.includes(GOOD)).length, 0);
    await e.stop();
  });

  it('ignores a replayed webhook delivery and refuses a commit that would take production back without force (item 4)', async () => {
    const w = world();
    const e = new Engine(w.deps);
    await bootstrap(w, e);
    w.repo.push(GOOD, 'good change');
    assert.deepEqual(await e.deploy(GOOD, 'github:ada', { delivery: 'dlv-1' }), { queued: GOOD });
    await until(w, async () => (await e.status()).live?.sha === GOOD && !e.inFlight);
    assert.equal(
      (await e.deploy(BASE, 'github:ada', { delivery: 'dlv-0' }).catch((err: Error) => err)).constructor,
      ConflictError,
      'an older commit is refused',
    );
    assert.equal((await e.deploy(GOOD, 'github:ada', { delivery: 'dlv-1' })).duplicate, true, 'the same delivery again is ignored');
    await w.clock.sleep(20_000);
    assert.equal((await e.status()).live?.sha, GOOD);
    assert.equal(
      (await w.store.line.listDeploys('sim', { limit: 10 })).filter((d) => d.shas.includes(BASE)).length,
      1,
      'base deployed once (bootstrap)',
    );
    // A captain can take production back on purpose.
    await e.deploy(BASE, 'cap', { force: true });
    await until(w, async () => (await e.status()).live?.sha === BASE && !e.inFlight);
    await e.stop();
  });

  it('drops queue entries that are not commit shas, or that the repository lacks, and goes on (item 5)', async () => {
    const w = world();
    await w.store.line.saveLine({
      pipeline: 'sim',
      blocked: false,
      paused: false,
      queue: ['not-a-sha$(id)', 'd'.repeat(40), BASE],
      version: 1,
    });
    const e = new Engine(w.deps);
    await e.start();
    await until(w, async () => (await e.status()).live?.sha === BASE && !e.inFlight);
    const audit = await w.store.audit.list();
    assert.ok(audit.some((a) => a.action === 'drop' && /not commit shas/.test(a.reason)));
    assert.ok(audit.some((a) => a.action === 'drop' && a.target === 'd'.repeat(40)));
    await e.stop();
  });
});
