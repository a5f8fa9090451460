import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlive, ownsProcess, readPidFile, startDetached, stopGroup, tail, writePidFile } from '../../src/adapters/fleet/process.js';
import { tempDir } from './fleet-fixture.js';

describe('adapters/fleet/process (real processes)', function () {
  this.timeout(20_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const started: number[] = [];
  before(async () => {
    tmp = await tempDir('proc');
  });
  after(async () => {
    for (const pid of started) if (isAlive(pid)) process.kill(-pid, 'SIGKILL');
    await tmp.cleanup();
  });

  it('stops a process group gracefully on SIGTERM', async () => {
    const p = startDetached(
      [
        'node',
        '-e',
        "process.on('SIGTERM', () => { console.log('bye'); process.exit(0); }); console.log('up'); setInterval(() => {}, 1000);",
      ],
      { cwd: tmp.dir, env: process.env, logFile: join(tmp.dir, 'a.log') },
    );
    started.push(p.pid);
    for (let i = 0; i < 100 && !(await tail(join(tmp.dir, 'a.log'))).includes('up'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(isAlive(p.pid), true);
    assert.equal(ownsProcess(p.pid, tmp.dir), true, 'runs inside the dir');
    assert.equal(await stopGroup(p.pid, 5000), 'stopped');
    assert.equal(isAlive(p.pid), false);
    assert.match(await readFile(join(tmp.dir, 'a.log'), 'utf8'), /up\nbye/);
    assert.equal(await stopGroup(p.pid, 100), 'gone');
  });

  it('kills the whole group, children included, when SIGTERM is ignored', async () => {
    // The leader ignores SIGTERM and has a child that ignores it too.
    const script =
      "process.on('SIGTERM', () => {}); const c = require('child_process').spawn(process.execPath, ['-e', \"process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)\"], { stdio: 'ignore' }); console.log('child ' + c.pid); setInterval(() => {}, 1000);";
    const p = startDetached(['node', '-e', script], { cwd: tmp.dir, env: process.env, logFile: join(tmp.dir, 'b.log') });
    started.push(p.pid);
    let child = 0;
    for (let i = 0; i < 100 && !child; i++) {
      child = Number(/child (\d+)/.exec(await tail(join(tmp.dir, 'b.log')))?.[1] ?? 0);
      if (!child) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(child > 0 && isAlive(child));
    assert.equal(await stopGroup(p.pid, 300), 'killed');
    assert.equal(isAlive(p.pid), false);
    for (let i = 0; i < 40 && isAlive(child); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(isAlive(child), false, 'the child went with the group');
  });

  it('does not claim a live process running elsewhere', async () => {
    const other = await tempDir('proc-other');
    try {
      const p = startDetached(['node', '-e', 'setInterval(() => {}, 1000)'], {
        cwd: other.dir,
        env: process.env,
        logFile: join(tmp.dir, 'c.log'),
      });
      started.push(p.pid);
      assert.equal(ownsProcess(p.pid, tmp.dir), false);
      assert.equal(ownsProcess(p.pid, other.dir), true);
      await stopGroup(p.pid, 2000);
    } finally {
      await other.cleanup();
    }
  });

  it('reads back a pidfile and ignores a broken one', async () => {
    const file = join(tmp.dir, 'x.pid');
    await writePidFile(file, { pid: 123, release: 'r1', port: 7101, startedAt: 5 });
    assert.deepEqual(await readPidFile(file), { pid: 123, release: 'r1', port: 7101, startedAt: 5 });
    await writePidFile(file, { pid: -1, release: 'r', port: 1, startedAt: 1 });
    assert.equal(await readPidFile(file), undefined);
    assert.equal(await readPidFile(join(tmp.dir, 'missing.pid')), undefined);
  });

  it('reports a command that cannot start', async () => {
    const p = startDetached(['/nonexistent/binary'], { cwd: tmp.dir, env: process.env, logFile: join(tmp.dir, 'd.log') });
    assert.match(await p.exited, /ENOENT/);
  });
});
