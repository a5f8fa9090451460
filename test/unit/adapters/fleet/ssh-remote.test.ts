import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { checkReleaseId, releasesToPrune, RemoteLayout, shellJoin, shellQuote } from '../../../../src/adapters/fleet/ssh-remote.js';
import { sshFleet } from '../../../../src/core/config/fleet.js';
import { loadSshServers } from '../../../../src/adapters/fleet/ssh-servers.js';
import { checkHostKey, hostKeyAlgorithms, keysFor, parseKnownHosts } from '../../../../src/adapters/fleet/ssh-known-hosts.js';

describe('ssh remote commands', function () {
  it('quotes every word so the remote shell sees it unchanged', function () {
    const words = ['plain', 'with space', "it's", '$(rm -rf /)', '`x`', 'a;b|c&d', '"dq"', '', '*', '~/x', 'new\nline'];
    const out = execFileSync('sh', ['-c', `printf '%s\\0' ${shellJoin(words)}`]).toString('utf8');
    assert.deepEqual(out.split('\0').slice(0, -1), words);
    assert.equal(shellQuote('/srv/app/releases'), '/srv/app/releases');
  });

  it('refuses release ids that are not plain names', function () {
    assert.equal(checkReleaseId('a1b2c3.d_e-f', 's1'), 'a1b2c3.d_e-f');
    for (const bad of ['../etc', '.hidden', 'a/b', 'a b', '', '-rf'])
      assert.throws(() => checkReleaseId(bad, 's1'), /s1: refusing release id/);
  });

  it('switches current through a renamed temporary link and runs restart inside it', function () {
    const l = new RemoteLayout('/srv/my app');
    assert.equal(
      l.activate('r1'),
      "touch -c '/srv/my app/releases/r1' && ln -sfn releases/r1 '/srv/my app/.current.tmp' && mv -T '/srv/my app/.current.tmp' '/srv/my app/current'",
    );
    assert.equal(
      l.restart(['systemctl', 'restart', 'shop'], { IMMUNE_RELEASE: 'r1', IMMUNE_SERVER: "o'k" }),
      "cd '/srv/my app/current' && env IMMUNE_RELEASE=r1 'IMMUNE_SERVER=o'\\''k' systemctl restart shop",
    );
    assert.equal(new RemoteLayout('~/app').current(), 'app/current');
  });

  it('prunes the least recently activated releases, never the current one', function () {
    assert.deepEqual(releasesToPrune(['r5', 'r4', 'r3', 'r2', 'r1', ''], 'r5', 3), ['r2', 'r1']);
    // The current release is kept even when it is not among the newest.
    assert.deepEqual(releasesToPrune(['r5', 'r4', 'r3', 'r1'], 'r1', 2), ['r4', 'r3']);
    assert.deepEqual(releasesToPrune(['.r9.tmp', 'r2', 'r1'], 'r2', 2), []);
  });
});

describe('known_hosts', function () {
  const keyA = Buffer.from('key-a');
  const keyB = Buffer.from('key-b');
  const b64 = (b: Buffer) => b.toString('base64');

  it('finds plain, bracketed, wildcard and hashed entries and checks the presented key', function () {
    const salt = Buffer.from('0123456789abcdef0123');
    const hashed = `|1|${b64(salt)}|${createHmac('sha1', salt).update('[10.0.0.5]:2222').digest('base64')}`;
    const lines = parseKnownHosts(
      [
        '# comment',
        `web1,10.0.0.1 ssh-ed25519 ${b64(keyA)}`,
        `[web2]:2222 ssh-rsa ${b64(keyB)} comment`,
        `*.example.org,!bad.example.org ssh-ed25519 ${b64(keyA)}`,
        `${hashed} ssh-ed25519 ${b64(keyB)}`,
        `@cert-authority * ssh-ed25519 ${b64(keyB)}`,
        `@revoked web3 ssh-ed25519 ${b64(keyA)}`,
        'garbage',
      ].join('\n'),
    );
    assert.equal(keysFor(lines, 'web1', 22).length, 1);
    assert.equal(keysFor(lines, '10.0.0.1', 22).length, 1);
    assert.equal(keysFor(lines, 'web1', 2222).length, 0);
    assert.equal(keysFor(lines, 'web2', 2222)[0]?.type, 'ssh-rsa');
    assert.equal(keysFor(lines, 'a.example.org', 22).length, 1);
    assert.equal(keysFor(lines, 'bad.example.org', 22).length, 0);
    assert.ok(keysFor(lines, '10.0.0.5', 2222)[0]?.blob.equals(keyB));

    assert.deepEqual(checkHostKey(keysFor(lines, 'web1', 22), keyA, 'web1', 22, 'kh'), { ok: true });
    assert.match(
      (checkHostKey(keysFor(lines, 'web1', 22), keyB, 'web1', 22, 'kh') as { reason: string }).reason,
      /host key of web1 does not match kh/,
    );
    assert.match((checkHostKey(keysFor(lines, 'nope', 22), keyA, 'nope', 22, 'kh') as { reason: string }).reason, /nope is not in kh/);
    assert.match((checkHostKey(keysFor(lines, 'web3', 22), keyA, 'web3', 22, 'kh') as { reason: string }).reason, /@revoked/);
    assert.deepEqual(hostKeyAlgorithms(keysFor(lines, 'web2', 2222)), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  });
});

describe('ssh servers', function () {
  it('names servers by id, else host (host:port off port 22), and refuses duplicates', async function () {
    const cfg = (servers: unknown[]) => sshFleet.parse({ type: 'ssh', key: 'k', restart: 'true', servers });
    const list = await loadSshServers(
      cfg([{ host: 'a' }, { host: 'a', port: 2222 }, { id: 'c', host: 'h', user: 'ops', dir: '/x' }]),
      (p) => p,
    );
    assert.deepEqual(
      list.map((s) => [s.id, s.user, s.dir]),
      [
        ['a', 'deploy', '/srv/app'],
        ['a:2222', 'deploy', '/srv/app'],
        ['c', 'ops', '/x'],
      ],
    );
    await assert.rejects(
      loadSshServers(cfg([{ host: 'a' }, { host: 'a' }]), (p) => p),
      /duplicate server id "a"/,
    );
    await assert.rejects(
      loadSshServers({ ...cfg([]), servers_file: '/nonexistent/servers.yaml' }, (p) => p),
      /\/nonexistent\/servers\.yaml:1:1 cannot read servers_file: ENOENT/,
    );
  });
});
