// The SSH fleet against real OpenSSH servers on 127.0.1.x, each "server" with its own directory
// running the demo shop: a full rollout, a rollback, a server that is down, wrong and unknown host keys.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { execa } from 'execa';
import pino from 'pino';
import { sshFleet, type SshFleetConfig } from '../../src/core/config/fleet.js';
import { createSshFleet } from '../../src/adapters/fleet/ssh.js';
import { DeployError } from '../../src/core/errors.js';
import type { Artifact } from '../../src/ports.js';
import {
  freePort,
  generateKey,
  killShops,
  knownHostsLine,
  shopRestartScript,
  SSHD,
  startSshd,
  type KeyPair,
  type Sshd,
} from '../helpers/sshd-server.js';

const SHOP = resolve('src/demo/shop');

describe('SSH fleet (real sshd on 127.0.1.x)', function () {
  this.timeout(60_000);
  let tmp: string;
  let client: KeyPair;
  const sshds: Sshd[] = [];
  const hosts = ['127.0.1.11', '127.0.1.12', '127.0.1.13'];
  const appPorts: number[] = [];
  let artifacts: Record<string, Artifact>;
  let logs: string[];
  let log: pino.Logger;

  async function makeArtifact(id: string, banner: string): Promise<Artifact> {
    const src = join(tmp, `src-${id}`);
    await execa('cp', ['-r', SHOP, src]);
    writeFileSync(join(src, 'lib', 'banner.js'), `'use strict';\nmodule.exports = { banner: ${JSON.stringify(banner)} };\n`);
    const path = join(tmp, `${id}.tar.gz`);
    await execa('tar', ['-czf', path, '-C', src, '.']);
    return { id, sha: id.padEnd(40, '0'), path, bytes: readFileSync(path).length };
  }

  function config(over: Partial<Record<string, unknown>> = {}): SshFleetConfig {
    return sshFleet.parse({
      type: 'ssh',
      key: client.privateKey,
      user: sshds[0]!.user,
      known_hosts: join(tmp, 'known_hosts'),
      restart: ['sh', join(tmp, 'restart.sh')],
      health_timeout: '10s',
      connect_timeout: '3s',
      timeout: '40s',
      keep_releases: 2,
      concurrency: 4,
      servers: hosts.slice(0, 2).map((h, i) => ({
        id: `s${i + 1}`,
        host: h,
        port: sshds[i]!.port,
        app_port: appPorts[i],
        dir: join(tmp, `srv${i + 1}`),
        labels: { zone: `z${i + 1}` },
      })),
      ...over,
    });
  }

  async function healthz(port: number, host: string): Promise<{ release: string; server: string }> {
    const res = await fetch(`http://${host}:${port}/healthz`, { signal: AbortSignal.timeout(3000) });
    return (await res.json()) as { release: string; server: string };
  }

  before(async function () {
    if (!SSHD) throw new Error('sshd is not installed (openssh-server)');
    tmp = mkdtempSync(join(tmpdir(), 'immune-ssh-'));
    client = await generateKey(join(tmp, 'client_ed25519'));
    for (const [i, host] of hosts.entries()) {
      sshds.push(await startSshd({ dir: join(tmp, `sshd${i + 1}`), host, authorizedKeys: [client.publicLine] }));
      appPorts.push(await freePort(host));
    }
    const wrong = await generateKey(join(tmp, 'wrong_hostkey'));
    // s1 and s2 are known; s3 is listed with somebody else's key.
    writeFileSync(
      join(tmp, 'known_hosts'),
      [
        '# test known_hosts',
        knownHostsLine(hosts[0]!, sshds[0]!.port, sshds[0]!.hostKey.publicLine),
        knownHostsLine(hosts[1]!, sshds[1]!.port, sshds[1]!.hostKey.publicLine),
        knownHostsLine(hosts[2]!, sshds[2]!.port, wrong.publicLine),
      ].join('\n') + '\n',
    );
    writeFileSync(join(tmp, 'restart.sh'), shopRestartScript(resolve('node_modules')));
    artifacts = { a: await makeArtifact('rel-a', 'A'), b: await makeArtifact('rel-b', 'B'), c: await makeArtifact('rel-c', 'C') };
    logs = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(chunk.toString());
        cb();
      },
    });
    log = pino({ level: 'info' }, sink);
    if (process.env.SSH_TEST_DEBUG) log = pino({ level: 'info' });
  });

  after(async function () {
    if (tmp) killShops([1, 2, 3].map((i) => join(tmp, `srv${i}`)));
    await Promise.all(sshds.map((s) => s.stop()));
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('lists servers from the pipeline and from a servers_file, re-read at each call', async function () {
    const file = join(tmp, 'servers.yaml');
    writeFileSync(file, `servers:\n  - id: extra\n    host: 127.0.1.99\n    app_port: 9999\n    labels: {zone: z9}\n`);
    const fleet = createSshFleet(config({ servers_file: file }), { log });
    const ids = (await fleet.servers()).map((s) => s.id);
    assert.deepEqual(ids, ['s1', 's2', 'extra']);
    writeFileSync(file, `[{"id": "other", "host": "127.0.1.98"}]`);
    const again = await fleet.servers();
    assert.deepEqual(
      again.map((s) => [s.id, s.port]),
      [
        ['s1', appPorts[0]],
        ['s2', appPorts[1]],
        ['other', 8080],
      ],
    );
    writeFileSync(file, `servers:\n  - id: bad\n    hots: x\n`);
    await assert.rejects(fleet.servers(), (err: Error) => /servers\.yaml:3:\d+ servers\.0\.hots: unknown key "hots"/.test(err.message));
  });

  it('rolls a release out to every server, then another, keeping older releases installed', async function () {
    const fleet = createSshFleet(config(), { log });
    const servers = await fleet.servers();
    await Promise.all(servers.map((s) => fleet.activate(s, artifacts.a!, AbortSignal.timeout(40_000))));
    for (const [i, s] of servers.entries()) {
      assert.equal(await fleet.release(s), 'rel-a');
      assert.deepEqual(await healthz(appPorts[i]!, hosts[i]!), { ok: true, server: s.id, release: 'rel-a' });
      assert.equal(await fleet.health(s), true);
    }
    await Promise.all(servers.map((s) => fleet.activate(s, artifacts.b!, AbortSignal.timeout(40_000))));
    for (const [i, s] of servers.entries()) {
      assert.equal(await fleet.release(s), 'rel-b');
      assert.equal((await healthz(appPorts[i]!, hosts[i]!)).release, 'rel-b');
      assert.equal(readlinkSync(join(tmp, `srv${i + 1}`, 'current')), 'releases/rel-b');
      assert.deepEqual(readdirSync(join(tmp, `srv${i + 1}`, 'releases')).sort(), ['rel-a', 'rel-b']);
      assert.deepEqual((await fleet.installed!(s)).sort(), ['rel-a', 'rel-b'], 'what immune releases and rollback --to see');
    }
    // The shop serves the new banner from the new release directory.
    const home = await (await fetch(`http://${hosts[0]}:${appPorts[0]}/`, { signal: AbortSignal.timeout(3000) })).text();
    assert.match(home, /\bB\b/);
  });

  it('rolls back by switching to the installed release, without uploading it again', async function () {
    const fleet = createSshFleet(config(), { log });
    const [s1] = await fleet.servers();
    logs.length = 0;
    await fleet.activate(s1!, artifacts.a!, AbortSignal.timeout(40_000));
    assert.equal(await fleet.release(s1!), 'rel-a');
    assert.equal((await healthz(appPorts[0]!, hosts[0]!)).release, 'rel-a');
    const entries = logs.map((l) => JSON.parse(l) as { msg: string; installed?: boolean });
    assert.ok(!entries.some((e) => e.msg === 'uploading release'), 'no upload on rollback');
    assert.ok(entries.some((e) => e.msg === 'switched, restarting' && e.installed === true));
    // A third release prunes the least recently activated one (keep_releases: 2), never the current.
    await fleet.activate(s1!, artifacts.c!, AbortSignal.timeout(40_000));
    assert.deepEqual(readdirSync(join(tmp, 'srv1', 'releases')).sort(), ['rel-a', 'rel-c']);
  });

  it('restarts a server on the release it already runs (a fresh baseline): a new process, nothing uploaded', async function () {
    const fleet = createSshFleet(config(), { log });
    const [s1] = await fleet.servers();
    const pidOf = () => Number(readFileSync(join(tmp, 'srv1', 'app.pid'), 'utf8').trim());
    const running = await fleet.release(s1!);
    const artifact = Object.values(artifacts).find((a) => a.id === running)!;
    const before = pidOf();
    logs.length = 0;
    await fleet.activate(s1!, artifact, AbortSignal.timeout(40_000), { restart: true });
    assert.notEqual(pidOf(), before, 'a new process');
    assert.throws(() => process.kill(before, 0), 'the old process is gone');
    assert.equal(await fleet.release(s1!), running);
    assert.equal((await healthz(appPorts[0]!, hosts[0]!)).release, running);
    const entries = logs.map((l) => JSON.parse(l) as { msg: string });
    assert.ok(!entries.some((e) => e.msg === 'uploading release'), 'no upload for a restart');
  });

  it('reports a server that is down as a DeployError naming it', async function () {
    const port = await freePort('127.0.1.14');
    const fleet = createSshFleet(config({ servers: [{ id: 'down1', host: '127.0.1.14', port, app_port: 9, dir: join(tmp, 'down') }] }), {
      log,
    });
    const [down] = await fleet.servers();
    await assert.rejects(fleet.activate(down!, artifacts.a!, AbortSignal.timeout(20_000)), (err: unknown) => {
      assert.ok(err instanceof DeployError);
      assert.equal(err.server, 'down1');
      assert.match(err.message, /^down1: cannot connect over SSH to .*127\.0\.1\.14/);
      return true;
    });
    assert.equal(await fleet.health(down!), false);
  });

  it('refuses a server whose host key does not match known_hosts, and one not in it', async function () {
    const fleet = createSshFleet(
      config({ servers: [{ id: 'mitm', host: hosts[2], port: sshds[2]!.port, app_port: 9, dir: join(tmp, 'srv3') }] }),
      { log },
    );
    const [mitm] = await fleet.servers();
    await assert.rejects(
      fleet.activate(mitm!, artifacts.a!, AbortSignal.timeout(20_000)),
      /^DeployError: mitm: host key of \[127\.0\.1\.13\]:\d+ does not match .*known_hosts/,
    );
    assert.equal(existsSync(join(tmp, 'srv3')), false, 'nothing was done on the server');

    writeFileSync(join(tmp, 'known_hosts_empty'), '');
    const stranger = createSshFleet(config({ known_hosts: join(tmp, 'known_hosts_empty') }), { log });
    const [s1] = await stranger.servers();
    await assert.rejects(stranger.release(s1!), /s1: \[127\.0\.1\.11\]:\d+ is not in .*known_hosts_empty/);

    // An aborted deploy stops before doing anything, naming the server.
    const fleet2 = createSshFleet(config(), { log });
    const [first] = await fleet2.servers();
    await assert.rejects(fleet2.activate(first!, artifacts.c!, AbortSignal.abort()), /^DeployError: s1: activating rel-c aborted/);
  });

  it('fails the activation when the release never becomes healthy, naming server and URL', async function () {
    const bad = join(tmp, 'restart-noop.sh');
    // Stops the running shop (and waits until it is gone) but starts nothing.
    writeFileSync(
      bad,
      '#!/bin/sh\npid=$(cat "$IMMUNE_DIR/app.pid")\nkill "$pid" 2>/dev/null || true\nwhile kill -0 "$pid" 2>/dev/null; do sleep 0.05; done\nexit 0\n',
    );
    const fleet = createSshFleet(config({ restart: ['sh', bad], health_timeout: '1s' }), { log });
    const [, s2] = await fleet.servers();
    await assert.rejects(fleet.activate(s2!, artifacts.a!, AbortSignal.timeout(20_000)), (err: unknown) => {
      assert.ok(err instanceof DeployError);
      assert.match(err.message, /^s2: no healthy answer from http:\/\/127\.0\.1\.12:\d+\/healthz within 1s/);
      return true;
    });
  });

  it('bounds a whole activation by fleet.timeout', async function () {
    const slow = join(tmp, 'restart-slow.sh');
    writeFileSync(slow, '#!/bin/sh\nsleep 10\n');
    const fleet = createSshFleet(config({ restart: ['sh', slow], timeout: '2s' }), { log });
    const [, s2] = await fleet.servers();
    // The caller's own signal would say "aborted" (at 20s); the fleet's bound says "timed out".
    await assert.rejects(
      fleet.activate(s2!, artifacts.b!, AbortSignal.timeout(20_000)),
      /^DeployError: s2: activating rel-b timed out after 2s/,
    );
  });

  it('never logs the private key', function () {
    const key = readFileSync(client.privateKey, 'utf8');
    const body = key.split('\n')[1]!;
    assert.ok(logs.length > 0);
    assert.ok(!logs.some((l) => l.includes(body)));
  });
});
