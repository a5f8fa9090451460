import assert from 'node:assert/strict';
import { readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createLocalFleet, type LocalFleet } from '../../src/adapters/fleet/local.js';
import { isAlive, readPidFile } from '../../src/adapters/fleet/process.js';
import { localFleet } from '../../src/core/config/fleet.js';
import { DeployError } from '../../src/core/errors.js';
import type { Artifact, Server } from '../../src/ports.js';
import { call, freePorts, log, ROOT, shopArtifacts, tempDir } from './fleet-fixture.js';

describe('adapters/fleet/local (real shop processes)', function () {
  this.timeout(40_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let fleet: LocalFleet;
  let servers: Server[];
  let v1: Artifact, v2: Artifact, v3: Artifact;
  let config: ReturnType<typeof localFleet.parse>;
  const pids = new Set<number>();
  const signal = () => AbortSignal.timeout(20_000);

  before(async () => {
    tmp = await tempDir('fleet');
    const build = shopArtifacts(tmp.dir);
    [v1, v2, v3] = [
      await build(),
      await build({ 'lib/banner.js': "module.exports = { banner: 'two' };\n" }),
      await build({ 'lib/banner.js': "module.exports = { banner: 'three' };\n" }),
    ];
    config = localFleet.parse({
      type: 'local',
      servers: 3,
      base_port: await freePorts(3),
      dir: join(tmp.dir, 'fleet'),
      keep_releases: 2,
      health_timeout: '8s',
      stop_timeout: '2s',
      labels: { region: ['eu', 'us'] },
    });
    fleet = createLocalFleet(config, { root: ROOT, log });
    servers = await fleet.servers();
  });

  after(async () => {
    await fleet?.close();
    for (const pid of pids) if (isAlive(pid)) process.kill(-pid, 'SIGKILL');
    await tmp?.cleanup();
  });

  async function pidOf(s: Server): Promise<number> {
    const pf = await readPidFile(join(fleet.dirOf(s), 'server.pid'));
    assert.ok(pf, `pidfile of ${s.id}`);
    pids.add(pf.pid);
    return pf.pid;
  }

  it('lists servers on consecutive ports with labels round-robin', () => {
    assert.deepEqual(
      servers.map((s) => [s.id, s.port - config.base_port, s.labels.region]),
      [
        ['s1', 0, 'eu'],
        ['s2', 1, 'us'],
        ['s3', 2, 'eu'],
      ],
    );
  });

  it('knows nothing of a server before its first release', async () => {
    assert.equal(await fleet.release(servers[0]), undefined);
    assert.equal(await fleet.health(servers[0]), false);
    assert.deepEqual(await fleet.installed(servers[0]), []);
  });

  it('an aborted activation rejects with a DeployError and changes nothing', async () => {
    const ac = new AbortController();
    ac.abort(new Error('deploy aborted by captain'));
    await assert.rejects(
      fleet.activate(servers[0], v1, ac.signal),
      (e: unknown) => e instanceof DeployError && e.server === 's1' && /aborted/.test(e.message),
    );
    assert.equal(await fleet.release(servers[0]), undefined);
  });

  it('activates a release on every server and reports what each really runs', async () => {
    await Promise.all(servers.map((s) => fleet.activate(s, v1, signal())));
    for (const s of servers) {
      assert.equal(await fleet.release(s), v1.id);
      assert.equal(await fleet.health(s), true);
      const h = await call(s.port, '/healthz');
      assert.deepEqual(h.body, { ok: true, server: s.id, release: v1.id, sha: v1.sha });
      assert.equal(await readlink(join(fleet.dirOf(s), 'current')), join('releases', v1.id));
      await pidOf(s);
    }
  });

  it('switches one server to a new release and rolls it back in well under seconds', async () => {
    const [s1, s2] = servers;
    const before = await pidOf(s1);
    await fleet.activate(s1, v2, signal());
    assert.equal(await fleet.release(s1), v2.id);
    assert.equal(await fleet.release(s2), v1.id, 'other servers untouched');
    assert.equal(isAlive(before), false, 'old process stopped');
    assert.match(String((await call(s1.port, '/')).body), /two/);
    const t0 = Date.now();
    await fleet.activate(s1, v1, signal());
    console.log(`      rollback (installed release, restart, health): ${Date.now() - t0} ms`);
    assert.equal(await fleet.release(s1), v1.id);
    assert.match(String((await call(s1.port, '/')).body), /Welcome to the tea shop/);
  });

  it('keeps keep_releases releases, never dropping the current one', async () => {
    const s1 = servers[0];
    await fleet.activate(s1, v3, signal());
    await fleet.activate(s1, v2, signal());
    const installed = await fleet.installed(s1);
    assert.deepEqual(installed, [v2.id, v3.id]);
    assert.equal(await fleet.release(s1), v2.id);
  });

  it('a new fleet object over the same dir adopts running servers instead of starting duplicates', async () => {
    const before = await Promise.all(servers.map(pidOf));
    const again = createLocalFleet(config, { root: ROOT, log });
    await again.start(signal());
    assert.deepEqual(await Promise.all(servers.map(pidOf)), before, 'same processes');
    // Activating what a server already runs is a no-op, too.
    await again.activate(servers[1], v1, signal());
    assert.equal(await pidOf(servers[1]), before[1]);
    assert.equal(await again.release(servers[1]), v1.id);
    // With `restart` (a fresh baseline) it is a new process on the same release.
    await again.activate(servers[1], v1, signal(), { restart: true });
    assert.notEqual(await pidOf(servers[1]), before[1]);
    assert.equal(isAlive(before[1]!), false, 'the old process stopped');
    assert.equal(await again.release(servers[1]), v1.id);
    assert.equal((await call(servers[1].port, '/healthz')).status, 200);
  });

  it('start() brings back a stopped server on its current release', async () => {
    const s3 = servers[2];
    const old = await pidOf(s3);
    await fleet.stop(s3);
    assert.equal(isAlive(old), false);
    assert.equal(await fleet.health(s3), false);
    assert.equal(await fleet.release(s3), v1.id, 'falls back to the current symlink');
    await fleet.start(signal());
    assert.notEqual(await pidOf(s3), old);
    assert.equal((await call(s3.port, '/healthz')).status, 200);
  });

  it('a release that does not come up healthy rejects with a DeployError naming the server and cause', async () => {
    const broken = await shopArtifacts(tmp.dir)({ 'server.js': "console.error('boom: missing config'); process.exit(4);\n" });
    const s2 = servers[1];
    await assert.rejects(
      fleet.activate(s2, broken, signal()),
      (e: unknown) =>
        e instanceof DeployError &&
        e.server === 's2' &&
        /server s2/.test(e.message) &&
        /exit code 4/.test(e.message) &&
        /boom: missing config/.test(e.message),
    );
    // An orchestrator starting over this state does not fail for it; the server stays down until a known release.
    await fleet.start(signal());
    assert.equal(await fleet.health(s2), false);
    // Rolling back to the previous release works.
    await fleet.activate(s2, v1, signal());
    assert.equal(await fleet.release(s2), v1.id);
  });

  it('a server answering for another release times out with a DeployError', async () => {
    const liar = await shopArtifacts(tmp.dir)({
      'server.js':
        "require('node:http').createServer((q, r) => r.end(JSON.stringify({ ok: true, release: 'other' }))).listen(Number(process.env.PORT), process.env.HOST);\n",
    });
    const quick = createLocalFleet({ ...config, health_timeout: 1500 }, { root: ROOT, log });
    const s3 = servers[2];
    await assert.rejects(
      quick.activate(s3, liar, signal()),
      (e: unknown) => e instanceof DeployError && /not healthy within 1500ms/.test(e.message) && /shows release other/.test(e.message),
    );
    await quick.activate(s3, v1, signal());
    assert.equal(await fleet.release(s3), v1.id);
  });

  it("an orphan on a server's port with no pidfile (a kill before the pidfile was written) is found and stopped", async () => {
    const s1 = servers[0];
    const orphan = await pidOf(s1);
    await rm(join(fleet.dirOf(s1), 'server.pid'));
    assert.equal((await call(s1.port, '/healthz')).status, 200, 'the orphan answers health checks');
    await fleet.activate(s1, v3, signal());
    assert.equal(isAlive(orphan), false, 'the orphan is gone');
    assert.equal(await fleet.release(s1), v3.id);
    assert.notEqual(await pidOf(s1), orphan);
  });

  it('close() stops every server it manages', async () => {
    const running = await Promise.all(servers.map(pidOf));
    await fleet.close();
    for (const pid of running) assert.equal(isAlive(pid), false);
    for (const s of servers) assert.equal(await fleet.health(s), false);
  });
});
