// Shards on an SSH build worker: a real sshd on loopback (test/helpers/sshd-server.ts), the checkout
// shipped to a directory of its own there, results merged with the local worker's, flakes re-run
// on the other worker.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createTestRunner, sshWorker } from '../../src/adapters/runner/index.js';
import { testsConfig } from '../../src/core/config/tests.js';
import { makeSuite, type FixtureSuite } from '../fixtures/suites/make-suite.js';
import { generateKey, knownHostsLine, SSHD, startSshd, type Sshd } from '../helpers/sshd-server.js';
import { memoryHistory } from '../fixtures/suites/memory-history.js';

describe('adapters/runner on an SSH build worker', function () {
  this.timeout(60_000);
  let dir: string;
  let sshd: Sshd;
  let suite: FixtureSuite;
  let key: string;
  let knownHosts: string;
  before(async () => {
    if (!SSHD) throw new Error('sshd is not installed (openssh-server)');
    dir = await mkdtemp(join(tmpdir(), 'immune-tests-ssh-'));
    const client = await generateKey(join(dir, 'client'));
    key = client.privateKey;
    sshd = await startSshd({ dir: join(dir, 'sshd'), host: '127.0.0.3', authorizedKeys: [client.publicLine] });
    knownHosts = join(dir, 'known_hosts');
    await writeFile(knownHosts, knownHostsLine(sshd.host, sshd.port, sshd.hostKey.publicLine) + '\n');
    suite = await makeSuite([
      { name: 'a.test.cjs', tests: [{ title: 'one' }, { title: 'wobbly', ms: 600, does: 'flaky' }] },
      { name: 'b.test.cjs', tests: [{ title: 'two' }, { title: 'three' }] },
      { name: 'c.test.cjs', tests: [{ title: 'four' }] },
    ]);
  });
  after(async () => {
    await sshd?.stop();
    await suite?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const runner = (knownHostsFile: string) =>
    createTestRunner({
      config: testsConfig.parse({
        runner: 'mocha',
        files: ['test/*.test.cjs'],
        workers: 1,
        retries: 1,
        ssh_workers: [
          { host: sshd.host, port: sshd.port, user: sshd.user, key, known_hosts: knownHostsFile, dir: join(dir, 'remote'), slots: 1 },
        ],
      }),
      history: memoryHistory(),
      log: pino({ level: 'silent' }),
    });

  it('runs shards on the local and the SSH worker, merges them, and re-runs a flake on the other worker', async () => {
    const r = runner(knownHosts);
    try {
      const report = await r.run({ sha: 'cafe', dir: suite.dir, dispose: async () => {} }, new AbortController().signal);
      assert.equal(report.ok, true, report.summary);
      assert.deepEqual(report.results.map((x) => x.title).sort(), [
        'a.test.cjs one',
        'a.test.cjs wobbly',
        'b.test.cjs three',
        'b.test.cjs two',
        'c.test.cjs four',
      ]);
      const remote = `${sshd.user}@${sshd.host}:${sshd.port}#1`;
      // Both workers run (a slow-starting one may get no unit of the queue, but its runner is there).
      assert.deepEqual([...new Set(report.shards.map((s) => s.worker))].sort(), ['local#0', remote].sort(), JSON.stringify(report.shards));
      const failedOn = report.shards.find((s) => !s.ok)!.worker;
      // The flake's re-run: one test, on the other machine.
      const rerun = report.shards.find((s) => s.ok && s.tests === 1 && s.worker.split('#')[0] !== failedOn.split('#')[0]);
      assert.ok(rerun, `no re-run of the flake on the other worker: ${JSON.stringify(report.shards)}`);
      assert.deepEqual(
        report.flaky.map((f) => f.title),
        ['a.test.cjs wobbly'],
      );
    } finally {
      await r.close();
    }
  });

  it('kills a hung test on the worker with its process group, and runs the rest', async () => {
    const hung = await makeSuite([
      { name: 'h.test.cjs', tests: [{ title: 'before' }, { title: 'spins', does: 'hang' }, { title: 'after' }] },
    ]);
    const cfg = testsConfig.parse({ runner: 'mocha', files: ['test/*.test.cjs'], retries: 0, test_timeout: '1s', fail_fast: false });
    const worker = sshWorker({
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      key,
      known_hosts: knownHosts,
      dir: join(dir, 'remote'),
      slots: 1,
    });
    const r = createTestRunner({ config: cfg, history: memoryHistory(), log: pino({ level: 'silent' }), workers: [worker] });
    try {
      const report = await r.run({ sha: 'beef', dir: hung.dir, dispose: async () => {} }, new AbortController().signal);
      assert.deepEqual(
        report.failed.map((f) => f.title),
        ['h.test.cjs spins'],
      );
      assert.match(report.failed[0]!.error!, /killed: no test finished within 3s/);
      assert.deepEqual(
        report.results
          .filter((x) => x.state === 'passed')
          .map((x) => x.title)
          .sort(),
        ['h.test.cjs after', 'h.test.cjs before'],
      );
      assert.ok(report.shards.every((s) => s.worker.startsWith(`${sshd.user}@`)));
      // The spinning mocha ran on the worker (this same machine): nothing of it is left running.
      const { execa } = await import('execa');
      const left = await execa('pgrep', ['-f', `${join(dir, 'remote')}.*mocha`], { reject: false });
      assert.equal(left.stdout.trim(), '');
    } finally {
      await r.close();
      await hung.cleanup();
    }
  });

  it('checks out the sha in a directory of its own on the worker (git, not a copy of the local tree), and keeps the commits in a cache repository there', async () => {
    const { execa } = await import('execa');
    const { readFile } = await import('node:fs/promises');
    const repo = await makeSuite([]);
    const seen = join(repo.stateDir, 'seen');
    const git = (...args: string[]) => execa('git', ['-C', repo.dir, ...args]);
    await git('init', '-q', '-b', 'main');
    await writeFile(join(repo.dir, '.gitignore'), 'node_modules\n');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(repo.dir, 'test'));
    // The test says where it ran: the checkout's HEAD, its directory, and whether an untracked local file came along.
    await writeFile(
      join(repo.dir, 'test', 'where.test.cjs'),
      `const { execSync } = require('node:child_process'); const fs = require('node:fs');
it('notes its checkout', () => fs.appendFileSync(${JSON.stringify(seen)}, JSON.stringify({ head: execSync('git rev-parse HEAD').toString().trim(), cwd: process.cwd(), untracked: fs.existsSync('local-only.txt') }) + '\\n'));\n`,
    );
    await git('add', '-A');
    await git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'one');
    await writeFile(join(repo.dir, 'local-only.txt'), 'not committed');
    const cfg = testsConfig.parse({
      runner: 'mocha',
      files: ['test/*.test.cjs'],
      retries: 0,
      setup: [['ln', '-s', join(repo.dir, 'node_modules'), 'node_modules']],
    });
    const worker = sshWorker({
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      key,
      known_hosts: knownHosts,
      dir: join(dir, 'git-remote'),
      slots: 1,
    });
    const r = createTestRunner({ config: cfg, history: memoryHistory(), log: pino({ level: 'silent' }), workers: [worker] });
    try {
      const shas: string[] = [];
      for (const message of ['one', 'two']) {
        if (message === 'two') {
          await writeFile(join(repo.dir, 'README'), 'second commit\n');
          await git('add', 'README');
          await git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', message);
        }
        const sha = (await git('rev-parse', 'HEAD')).stdout.trim();
        shas.push(sha);
        const report = await r.run({ sha, dir: repo.dir, dispose: async () => {} }, new AbortController().signal);
        assert.equal(report.ok, true, report.summary);
      }
      const runs = (await readFile(seen, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { head: string; cwd: string; untracked: boolean });
      assert.deepEqual(
        runs.map((x) => x.head),
        shas,
      );
      for (const x of runs) {
        assert.ok(x.cwd.startsWith(join(dir, 'git-remote') + '/'), x.cwd);
        assert.equal(x.untracked, false);
      }
      assert.notEqual(runs[0]!.cwd, runs[1]!.cwd);
      // Both commits are in the worker's cache repository; the checkouts are gone.
      const cached = await execa('git', [
        '-C',
        join(dir, 'git-remote', 'repo.git'),
        'for-each-ref',
        '--format=%(objectname)',
        'refs/immune',
      ]);
      assert.deepEqual(cached.stdout.split('\n').sort(), [...shas].sort());
      const { readdir } = await import('node:fs/promises');
      assert.deepEqual(await readdir(join(dir, 'git-remote')), ['repo.git']);
    } finally {
      await r.close();
      await repo.cleanup();
    }
  });

  it('refuses a worker whose host key is not in known_hosts', async () => {
    const empty = join(dir, 'empty_known_hosts');
    await writeFile(empty, '');
    const r = runner(empty);
    try {
      await assert.rejects(
        r.run({ sha: 'cafe', dir: suite.dir, dispose: async () => {} }, new AbortController().signal),
        /ssh worker .*127\.0\.0\.3.*: .*(verif|handshake)/i,
      );
    } finally {
      await r.close();
    }
  });
});
