// SIGKILL of `immune serve` around the revert push, at the two points where a crash used to leave
// main wrong: after the deploy recorded `reverting` but before the push landed, and after the
// push landed but before the deploy recorded it. The origin's own git hooks kill the orchestrator
// at exactly those points. On restart exactly one revert commit for the deploy exists on main.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import pino from 'pino';
import { createLocalFleet, localServers } from '../../src/adapters/fleet/local.js';
import { parsePipeline } from '../../src/core/config/index.js';
import { IMMUNE_ROOT } from '../../src/runtime.js';
import { badChange, shopTemplateFiles } from '../../src/demo/shop-changes.js';
import { startTraffic, type Traffic } from '../../src/demo/traffic.js';
import { createOrigin, type TestOrigin } from '../helpers/git.js';
import { freePortRange, localPipelineYaml, waitFor } from '../helpers/line.js';

const CAPTAIN = 'captain-token-crash-revert';

describe('crash around the revert push (real processes, SIGKILL from git hooks)', function () {
  this.timeout(300_000);
  let origin: TestOrigin;
  let dir: string;
  let file: string;
  let apiPort: number;
  let basePort: number;
  let serve: ResultPromise | undefined;
  let traffic: Traffic | undefined;
  const log = pino({ level: 'silent' });
  const pidFile = () => join(dir, 'serve.pid');
  let starts = 0;
  const arm = (point: 'pre' | 'post') => writeFile(join(dir, `arm-${point}`), '');

  const start = async () => {
    serve = execa(
      'node',
      [
        join(IMMUNE_ROOT, 'bin/immune.js'),
        'serve',
        '--pipeline',
        file,
        '--port',
        String(apiPort),
        '--data',
        join(dir, 'state'),
        '--tokens',
        join(dir, 'tokens.yaml'),
      ],
      {
        cwd: dir,
        reject: false,
        env: { IMMUNE_LOG_LEVEL: 'warn' },
        stdout: 'ignore',
        stderr: { file: join(dir, `serve-${++starts}.log`) },
      },
    );
    await writeFile(pidFile(), String(serve.pid));
  };
  const api = async (path: string, body?: unknown) => {
    const r = await fetch(`http://127.0.0.1:${apiPort}${path}`, {
      method: body ? 'POST' : 'GET',
      headers: body ? { 'content-type': 'application/json', authorization: `Bearer ${CAPTAIN}` } : {},
      body: body ? JSON.stringify(body) : undefined,
    }).catch(() => undefined);
    return r?.ok ? ((await r.json()) as Record<string, unknown>) : undefined;
  };
  const fleetConfig = () => parsePipeline(localPipelineYaml({ repo: origin.url, dir, basePort, servers: 3 }), 'x').fleet;
  /** Commits on main whose message carries `Immune-Deploy: <id>`. */
  const revertsFor = async (id: string) => {
    await origin.dev.fetch('origin');
    const out = await origin.dev.raw(['log', '--format=%H', '--fixed-strings', `--grep=Immune-Deploy: ${id}`, 'origin/main']);
    return out.split('\n').filter(Boolean);
  };
  const killedAt = async (point: 'pre' | 'post') => {
    let timer: NodeJS.Timeout | undefined;
    const logFile = join(dir, `serve-${starts}.log`);
    const r = await Promise.race([
      serve!,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-3000) : '(no log)';
          reject(new Error(`serve was not killed at the ${point}-receive hook within 150 s; its log:\n${tail}`));
        }, 150_000);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(r.signal, 'SIGKILL', `serve was killed by the ${point}-receive hook`);
    assert.equal(existsSync(join(dir, `arm-${point}`)), false, 'the hook fired');
  };

  before(async () => {
    origin = await createOrigin(shopTemplateFiles());
    dir = await mkdtemp(join(tmpdir(), 'immune-crash-revert-'));
    basePort = await freePortRange(3);
    apiPort = await freePortRange(1);
    file = join(dir, 'pipeline.yaml');
    // No own history: a canary that served the first bad build minutes ago would be compared with that
    // past (issue 12's contaminated history), and the second bad build would look like its own normal.
    await writeFile(
      file,
      localPipelineYaml({ repo: origin.url, dir, basePort, servers: 3, tests: false, minBake: '6s', maxBake: '60s' }).replace(
        'rollout:\n',
        'rollout:\n  history: 0s\n',
      ),
    );
    await writeFile(join(dir, 'tokens.yaml'), `tokens:\n  - { name: captain, role: captain, token: ${CAPTAIN} }\n`);
    // pre-receive: the push has not landed; post-receive: it has. Each kills serve once, when armed.
    for (const [point, exit] of [
      ['pre', 1],
      ['post', 0],
    ] as const) {
      const armed = join(dir, `arm-${point}`);
      const hook = join(origin.url, 'hooks', `${point}-receive`);
      await writeFile(
        hook,
        `#!/bin/sh\ncat >/dev/null\nif [ -f ${JSON.stringify(armed)} ]; then\n  rm -f ${JSON.stringify(armed)}\n  kill -9 "$(cat ${JSON.stringify(pidFile())})"\n  exit ${exit}\nfi\nexit 0\n`,
      );
      await chmod(hook, 0o755);
    }
  });

  after(async () => {
    await traffic?.stop();
    serve?.kill('SIGKILL');
    await serve?.catch(() => undefined);
    if (origin) await createLocalFleet(fleetConfig() as never, { root: IMMUNE_ROOT, log, cwd: dir }).close();
    await origin?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const reverted = async (sha: string) =>
    (await waitFor(
      async () => {
        const list = await api('/api/deploys?limit=20');
        return (list?.deploys as { id: string; shas: string[]; outcome?: string; revertSha?: string }[] | undefined)?.find(
          (d) => d.shas.includes(sha) && d.outcome,
        );
      },
      150_000,
      `the deploy of ${sha.slice(0, 8)} to finish`,
    )) as { id: string; outcome: string; revertSha?: string };

  it('killed after recording the revert and before the push landed: one revert on main after the restart', async () => {
    await start();
    await waitFor(async () => ((await api('/api/line'))?.live as unknown) ?? undefined, 150_000, 'the first build to be live');
    traffic = startTraffic({
      targets: async () => localServers(fleetConfig() as never),
      rpsPerServer: 60,
      checkoutRate: 0.5,
      durationMs: 900_000,
      log,
      seed: 5,
    });
    const b = badChange();
    const bad = await origin.commit(b.message, b.files, 'Bad Actor <bad@example.test>');
    await arm('pre');
    await killedAt('pre');
    await start();
    const d = await reverted(bad);
    assert.equal(d.outcome, 'reverted');
    const reverts = await revertsFor(d.id);
    assert.deepEqual(reverts, [d.revertSha], 'exactly one revert commit, the one the deploy records');
    assert.equal((await origin.dev.raw(['diff', `${bad}^`, d.revertSha!])).trim(), '', 'it undoes the bad commit');
    const detail = await api(`/api/deploys/${d.id}`);
    assert.ok(
      (detail?.events as { type: string; data?: { from?: string } }[]).some((e) => e.type === 'resume' && e.data?.from === 'reverting'),
      'resumed in reverting',
    );
  });

  it('killed after the push landed and before it was recorded: no second (empty) revert after the restart', async () => {
    assert.ok(await api('/api/line/unblock', { reason: 'next try' }));
    await origin.dev.pull('origin', 'main', ['--rebase']);
    const b = badChange();
    const bad = await origin.commit(
      'Checkout: loyalty discount, take two',
      { 'lib/checkout.js': `${b.files['lib/checkout.js']}\n// take two\n` },
      'Bad Actor <bad@example.test>',
    );
    await arm('post');
    await killedAt('post');
    await start();
    const d = await reverted(bad);
    assert.equal(d.outcome, 'reverted');
    const reverts = await revertsFor(d.id);
    assert.deepEqual(reverts, [d.revertSha], 'exactly one revert commit, the one the deploy records');
    // No empty commit anywhere on main after the bad one.
    const after = (await origin.dev.raw(['rev-list', `${bad}..origin/main`])).split('\n').filter(Boolean);
    for (const c of after)
      assert.notEqual((await origin.dev.raw(['diff', '--stat', `${c}^`, c])).trim(), '', `${c.slice(0, 8)} is not empty`);
  });
});
