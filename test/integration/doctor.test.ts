// `immune doctor` (the real CLI) on the fixture app and on broken copies of it: each broken
// contract is one FAIL line naming what is wrong and the fix, and the exit code says so.
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, immune } from '../helpers/immune-cli.js';
import { createOrigin, type TestOrigin } from '../helpers/git.js';

const FIXTURE = join(ROOT, 'test/fixtures/app');

describe('immune doctor on broken app contracts', function () {
  this.timeout(400_000);
  let origin: TestOrigin;
  let dir: string;
  let pipeline: string;
  let server: string;

  /** A copy of the app with server.js edited. */
  const variant = async (name: string, edit: (src: string) => string): Promise<string> => {
    const d = join(dir, name);
    await cp(FIXTURE, d, { recursive: true });
    const out = edit(server);
    assert.notEqual(out, server, `the ${name} edit changes server.js`);
    await writeFile(join(d, 'server.js'), out);
    return d;
  };
  // doctor starts git, the app and a clone: on a loaded machine one run can take most of a minute.
  const doctor = (app: string, file = pipeline) => immune(['doctor', '--pipeline', file, '--app', app], {}, dir, 120_000);
  const failures = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('FAIL'));

  before(async () => {
    server = await readFile(join(FIXTURE, 'server.js'), 'utf8');
    origin = await createOrigin({
      'server.js': server,
      'package.json': await readFile(join(FIXTURE, 'package.json'), 'utf8'),
      'test/app.test.js': await readFile(join(FIXTURE, 'test/app.test.js'), 'utf8'),
    });
    dir = await mkdtemp(join(tmpdir(), 'immune-doctor-'));
    pipeline = join(dir, 'immune.yaml');
    const r = await immune(['init', origin.devDir, '--out', pipeline], {}, dir, 120_000);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await origin?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('passes the app that keeps the contract, and says what it checked', async () => {
    const r = await doctor(origin.devDir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const check of ['pipeline', 'repository', 'tests', 'start', 'healthz', 'metrics'])
      assert.match(r.stdout, new RegExp(`^ok\\s+${check}\\s`, 'm'));
    assert.match(r.stdout, /accepts pushes \(reverts are on\)/);
    assert.match(r.stdout, /has all 5 series the pipeline names/);
    assert.match(r.stdout, /ready to deploy$/);
  });

  it('passes the fastify example of docs/app-contract.md (prom-client, the same series)', async () => {
    const file = join(dir, 'no-tests.yaml');
    await writeFile(file, (await readFile(pipeline, 'utf8')).replace(/^tests:[\s\S]*?\n\n/m, ''));
    const r = await doctor(join(ROOT, 'test/fixtures/app-examples/fastify'), file);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok\s+healthz\s/m);
    assert.match(r.stdout, /has all 5 series the pipeline names/);
  });

  it('no /healthz, a wrong release, a missing metric: one line each with the fix', async () => {
    const [noHealth, wrongRelease, noCpu] = await Promise.all([
      variant('no-healthz', (s) =>
        s.replace("if (req.url === '/healthz') return send(200,", "if (req.url === '/healthz') return send(404,"),
      ).then(doctor),
      variant('wrong-release', (s) => s.replace('JSON.stringify({ release: RELEASE_ID,', "JSON.stringify({ release: '1.0.0',")).then(
        doctor,
      ),
      variant('no-cpu', (s) => s.replace(/^.*process_cpu_seconds_total.*$/m, '')).then(doctor),
    ]);
    for (const r of [noHealth, wrongRelease, noCpu]) {
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(failures(r.stdout).length, 1, r.stdout);
      assert.match(r.stdout, /^1 problem$/m);
    }
    assert.match(
      failures(noHealth.stdout)[0]!,
      /^FAIL healthz\s+GET \/healthz answered 404 -> fix: answer GET \/healthz with 200 and \{"release": process\.env\.RELEASE_ID\}$/,
    );
    assert.match(
      failures(wrongRelease.stdout)[0]!,
      /^FAIL healthz\s+GET \/healthz says release "1\.0\.0", not the RELEASE_ID it was started with \(\S+\) -> fix: return process\.env\.RELEASE_ID as "release"/,
    );
    assert.match(
      failures(noCpu.stdout)[0]!,
      /^FAIL metrics\s+metric cpu: \/metrics has no series process_cpu_seconds_total \(its rate\) -> fix: serve process_cpu_seconds_total from the app, or change metrics\.definitions cpu\.rate$/,
    );
  });

  it('a repository that is a working checkout with the branch checked out: the push would be refused', async () => {
    const file = join(dir, 'non-bare.yaml');
    await writeFile(file, (await readFile(pipeline, 'utf8')).replace(/^ {2}url: .*$/m, `  url: ${origin.devDir}`));
    const r = await doctor(origin.devDir, file);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const [line, ...rest] = failures(r.stdout);
    assert.equal(rest.length, 0, r.stdout);
    assert.match(
      line!,
      /^FAIL repository cannot push reverts: the repository refuses pushes to its checked-out branch .*: \S+ is a working repository with main checked out and receive\.denyCurrentBranch=refuse \(the default\) -> fix: deploy from a bare repository \(git clone --bare .*\), set repo\.push_url, or let pushes update the checkout: git -C .* config receive\.denyCurrentBranch updateInstead$/,
    );

    // With reverts off, pushes are not needed and not checked.
    const off = join(dir, 'no-revert.yaml');
    await writeFile(off, (await readFile(file, 'utf8')).replace(/^ {2}revert: true.*$/m, '  revert: false'));
    const r2 = await doctor(origin.devDir, off);
    assert.equal(r2.code, 0, r2.stdout + r2.stderr);
    assert.match(r2.stdout, /reverts are off: pushes not checked/);
  });

  it('a repository that does not exist, a start command that exits, a pipeline that does not parse', async () => {
    const gone = join(dir, 'gone.yaml');
    await writeFile(gone, (await readFile(pipeline, 'utf8')).replace(/^ {2}url: .*$/m, `  url: ${join(dir, 'nowhere.git')}`));
    const crash = await variant('crash', (s) => s.replace('server.listen(Number(PORT), HOST);', "throw new Error('boom at start');"));
    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, (await readFile(pipeline, 'utf8')).replace('on_inconclusive: hold', 'on_inconclusive: maybe'));
    const [g, c, b] = await Promise.all([doctor(origin.devDir, gone), doctor(crash), doctor(origin.devDir, broken)]);
    assert.match(
      failures(g.stdout)[0]!,
      /^FAIL repository cannot push reverts: .*nowhere\.git.* -> fix: check repo\.url \(and repo\.push_url\) and that this machine may read and push to it/,
    );
    assert.match(
      failures(c.stdout)[0]!,
      /^FAIL start\s+node server\.js in .* exited \(exit code 1\) before answering: .*boom at start.* -> fix: make `node server\.js` start a server that keeps running$/,
    );
    assert.equal(b.code, 1);
    assert.match(failures(b.stdout)[0]!, /^FAIL pipeline\s+.*broken\.yaml:\d+:\d+ rollout\.on_inconclusive: .* -> fix: fix the file/);
  });
});
