// `immune init` on an app of one's own, end to end with the real CLI: a small node:http app
// (test/fixtures/app) in its own git repository; init writes the pipeline, validate accepts it,
// serve deploys it to a local fleet; a good commit goes live, a bad one (5% errors) is reverted
// in git and blocks the line.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { ROOT, immune } from '../helpers/immune-cli.js';
import { createOrigin, type TestOrigin } from '../helpers/git.js';
import { freePortRange, waitFor } from '../helpers/line.js';

const FIXTURE = join(ROOT, 'test/fixtures/app');

/** The fixture's files, to commit into a fresh repository. */
export function appFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of readdirSync(join(FIXTURE, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else out[p] = readFileSync(join(FIXTURE, p), 'utf8');
    }
  };
  walk('');
  return out;
}

interface Deploy {
  id: string;
  shas: string[];
  outcome?: string;
  reason?: string;
  revertSha?: string;
}

describe('immune init on an app of its own: init, validate, serve, a good commit live, a bad one reverted', function () {
  this.timeout(300_000);
  let origin: TestOrigin;
  let run: string;
  let serve: ResultPromise | undefined;
  let serveOut = '';
  let url: string;
  let basePort: number;
  let stopTraffic = false;
  let traffic: Promise<void> | undefined;
  // Four servers, so that at the 50% step each side has two (the judge needs two servers a side for spread).
  const servers = 4;

  const deploys = async (): Promise<Deploy[]> => {
    const r = await fetch(`${url}/api/deploys?limit=50`).catch(() => undefined);
    return r?.ok ? ((await r.json()) as { deploys: Deploy[] }).deploys : [];
  };
  const finished = (sha: string) =>
    waitFor(
      async () => (await deploys()).find((d) => d.shas.includes(sha) && d.outcome),
      150_000,
      `the deploy of ${sha.slice(0, 8)} to finish\n${serveOut.slice(-3000)}`,
    );
  const releases = () =>
    Promise.all(
      Array.from({ length: servers }, (_, i) =>
        fetch(`http://127.0.0.1:${basePort + i}/healthz`)
          .then((r) => r.json() as Promise<{ release: string }>)
          .then(
            (b) => b.release,
            () => undefined,
          ),
      ),
    );

  before(async () => {
    origin = await createOrigin(appFiles());
    run = await mkdtemp(join(tmpdir(), 'immune-init-app-'));
    basePort = await freePortRange(servers + 1);
    url = `http://127.0.0.1:${basePort + servers}`;
  });

  after(async () => {
    stopTraffic = true;
    await traffic;
    if (serve) {
      serve.kill('SIGTERM');
      await Promise.race([serve.catch(() => undefined), new Promise((r) => setTimeout(r, 10_000))]);
    }
    // serve leaves the fleet running (the next serve adopts it): stop the servers by their pidfiles.
    for (let i = 1; i <= servers; i++) {
      const pid = await readFile(join(run, '.immune/fleet', `s${i}`, 'server.pid'), 'utf8').then(
        (t) => Number(JSON.parse(t).pid),
        () => 0,
      );
      if (pid > 0) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    await origin?.cleanup();
    if (run) await rm(run, { recursive: true, force: true });
  });

  let file: string;

  it('init reads the app and writes a valid pipeline with its metrics, then prints the next three commands', async () => {
    file = join(run, 'immune.yaml');
    const r = await immune(
      ['init', origin.devDir, '--out', file, '--servers', String(servers), '--base-port', String(basePort)],
      {},
      run,
      120_000,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /tests: node --test \(test\/\*\*\/\*\.test\.js\)/);
    assert.match(r.stdout, /start: node server\.js/);
    assert.match(r.stdout, /metrics: error_rate, latency_p99, memory, cpu \(from its \/metrics\)/);
    const next = r.stdout.split('next:\n')[1]!.trimEnd().split('\n');
    assert.equal(next.length, 3, r.stdout);
    assert.match(next[0]!, /immune doctor --pipeline /);
    assert.match(next[1]!, /immune serve --pipeline /);
    assert.match(next[2]!, /git push origin main/);
    const text = await readFile(file, 'utf8');
    assert.match(text, /url: \S*origin\.git/);
    assert.match(text, /on_inconclusive: hold/);
    assert.match(text, /numerator: 'http_requests_total\{code=~"5\.\."\}'/);
    assert.match(text, /histogram: http_request_duration_seconds/);
    const again = await immune(['init', origin.devDir, '--out', file], {}, run);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists; use --force/);
  });

  it('validate accepts it and doctor finds nothing to fix', async () => {
    const v = await immune(['validate', file], {}, run);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const d = await immune(['doctor', '--pipeline', file, '--app', origin.devDir], {}, run, 120_000);
    assert.equal(d.code, 0, d.stdout + d.stderr);
    assert.match(d.stdout, /ready to deploy/);
  });

  it('serve deploys the app; a good commit goes live on every server', async () => {
    // Shorter bakes than init's defaults, so that the test is bounded; every other key but the watch is init's.
    const text = (await readFile(file, 'utf8'))
      .replace(/^ {2}interval: 5s/m, '  interval: 1s')
      .replace(/^ {2}min_bake: 30s/m, '  min_bake: 10s')
      .replace(/^ {2}max_bake: 2m/m, '  max_bake: 40s')
      // A short watch: its first third (each server's start-up on the new build) is left out.
      .replace(/^ {2}duration: 1m/m, '  duration: 9s')
      .replace(/^ {2}window: 2m/m, '  window: 20s')
      .replace(/^ {2}poll_interval: 2s/m, '  poll_interval: 500ms')
      // Two servers cannot rule a +10% regression out in 40 s: the good commit would wait for a captain (hold, init's choice).
      .replace(/on_inconclusive: hold/, 'on_inconclusive: pass_within_tolerance');
    await writeFile(file, text);
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IMMUNE_')));
    serve = execa('node', [join(ROOT, 'bin/immune.js'), 'serve', '--pipeline', file, '--port', String(basePort + servers)], {
      cwd: run,
      env: { ...clean, IMMUNE_LOG_LEVEL: 'info' },
      extendEnv: false,
      reject: false,
      all: true,
    });
    serve.all?.on('data', (c: Buffer) => (serveOut += c.toString()));
    // The local fleet has no load balancer: users (here, four loops per server) call every port.
    const user = async (port: number) => {
      while (!stopTraffic) {
        const ok = await fetch(`http://127.0.0.1:${port}/`).then(
          (r) => r.arrayBuffer(),
          () => undefined,
        );
        if (!ok) await new Promise((r) => setTimeout(r, 100));
      }
    };
    traffic = Promise.all(Array.from({ length: servers * 4 }, (_, i) => user(basePort + (i % servers)))).then(() => undefined);

    const first = await finished((await origin.dev.revparse(['HEAD'])).trim());
    assert.equal(first.outcome, 'live', first.reason);
    // The first build runs a while: the watch compares every server with its window before the rollout.
    await new Promise((r) => setTimeout(r, 8000));
    const good = await origin.commit('Greet more warmly', {
      'server.js': appFiles()['server.js']!.replace('hello from', 'hello and welcome from'),
    });
    const d = await finished(good);
    assert.equal(d.outcome, 'live', d.reason);
    const body = await fetch(`http://127.0.0.1:${basePort}/`).then((r) => r.text());
    assert.match(body, /hello and welcome from s1/);
    const rel = await releases();
    assert.equal(new Set(rel).size, 1, `every server on one release: ${rel.join(', ')}`);
  });

  it('a bad commit (5% errors) is rolled back, reverted in git, and the line blocks', async () => {
    const before = await releases();
    const bad = await origin.commit(
      'Cache greetings',
      {
        'server.js': (await readFile(join(origin.devDir, 'server.js'), 'utf8')).replace(
          'const ERROR_RATE = 0;',
          'const ERROR_RATE = 0.05;',
        ),
      },
      'Bad Actor <bad@example.test>',
    );
    const d = await finished(bad);
    const detail = JSON.stringify(
      ((await (await fetch(`${url}/api/deploys/${d.id}`)).json()) as { gates: { decision: string; metrics: { name: string }[] }[] }).gates
        .filter((g) => g.decision === 'pass')
        .map((g) => g.metrics.filter((m) => m.name === 'error_rate')),
    );
    assert.equal(
      d.outcome,
      'reverted',
      `${d.reason}\n${detail}\n${serveOut
        .split('\n')
        .filter((l) => /gate|judge|error_rate|step/.test(l))
        .slice(-30)
        .join('\n')}`,
    );
    assert.match(d.reason ?? '', /error_rate/);
    assert.deepEqual(await releases(), before, 'every server back on the good release');
    await origin.dev.pull('origin', 'main');
    const log = await origin.dev.log({ maxCount: 1 });
    assert.equal(log.latest!.hash, d.revertSha);
    assert.match(await readFile(join(origin.devDir, 'server.js'), 'utf8'), /const ERROR_RATE = 0;/);
    const line = (await (await fetch(`${url}/api/line`)).json()) as { blocked: boolean; blockReason?: string };
    assert.equal(line.blocked, true);
    assert.match(line.blockReason ?? '', /error_rate/);
    const status = await immune(['status', '--url', url]);
    assert.match(status.stdout, /BLOCKED/);
  });
});
