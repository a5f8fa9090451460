import assert from 'node:assert/strict';
import type { Artifact } from '../../../src/ports.js';
import { SimFleet } from '../../../src/sim/fleet.js';
import { VirtualClock } from '../../../src/sim/clock.js';

const artifact = (id: string, sha: string): Artifact => ({ id, sha, path: `/nowhere/${id}.tar.gz`, bytes: 1 });

describe('sim/fleet', () => {
  it('activates releases in virtual time and reports them', async () => {
    const clock = new VirtualClock();
    const fleet = new SimFleet(clock, { servers: 4, rps: 50, seed: 9 });
    const [s1] = await fleet.servers();
    assert.equal(await fleet.release(s1), undefined);
    await fleet.activate(s1, artifact('r1', 'aaa'), new AbortController().signal);
    assert.equal(await fleet.release(s1), 'r1');
    assert.equal(clock.now(), 1000);
    assert.equal(await fleet.health(s1), true);
  });

  it('samples every metric per server after a priming call, and stops answering when hung', async () => {
    const clock = new VirtualClock();
    const fleet = new SimFleet(clock, { servers: 3, rps: 100, seed: 2, outlierProbability: 0 });
    const servers = await fleet.servers();
    fleet.inject('badsha', { hangAfterMs: 10_000 });
    const first = await fleet.sample(servers, 5000);
    assert.ok(first.every((s) => s.ok && Object.values(s.values).every((v) => v === null)));
    await clock.sleep(5000);
    const second = await fleet.sample(servers, 5000);
    const v = second[0].values;
    assert.ok(Array.isArray(v.error_rate) && (v.error_rate as number[])[1] > 300, JSON.stringify(v.error_rate));
    assert.equal(typeof v.latency_p99, 'number');
    assert.equal(typeof v.checkouts, 'number');
    await fleet.activate(servers[1], artifact('r2', 'badsha'), new AbortController().signal);
    await clock.sleep(10_000);
    assert.equal(await fleet.health(servers[1]), false);
    const third = await fleet.sample(servers, 5000);
    assert.equal(third[1].ok, false);
    assert.equal(third[0].ok, true);
  });

  it('rejects an unknown server with a DeployError', async () => {
    const fleet = new SimFleet(new VirtualClock(), { servers: 1, rps: 1 });
    await assert.rejects(fleet.release({ id: 'nope', host: 'x', port: 0, labels: {} }), /unknown simulated server nope/);
  });
});
