// Killing the orchestrator (SIGKILL) in the middle of a rollout and starting it again: every
// server stays on a known build, and the resumed deploy finishes.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import pino from 'pino';
import { createLocalFleet, localServers } from '../../src/adapters/fleet/local.js';
import { parsePipeline } from '../../src/core/config/index.js';
import { IMMUNE_ROOT } from '../../src/runtime.js';
import { goodChange, shopTemplateFiles } from '../../src/demo/shop-changes.js';
import { startTraffic, type Traffic } from '../../src/demo/traffic.js';
import { createOrigin, type TestOrigin } from '../helpers/git.js';
import { freePortRange, localPipelineYaml, waitFor } from '../helpers/line.js';

describe('orchestrator crash mid-rollout (real processes, SIGKILL)', function () {
  this.timeout(180_000);
  let origin: TestOrigin;
  let dir: string;
  let file: string;
  let apiPort: number;
  let serve: ResultPromise | undefined;
  let traffic: Traffic | undefined;
  const log = pino({ level: 'silent' });

  const start = () => {
    serve = execa(
      'node',
      [join(IMMUNE_ROOT, 'bin/immune.js'), 'serve', '--pipeline', file, '--port', String(apiPort), '--data', join(dir, 'state')],
      {
        cwd: dir,
        reject: false,
        env: { IMMUNE_LOG_LEVEL: 'warn' },
      },
    );
  };
  const api = async (path: string) => {
    const r = await fetch(`http://127.0.0.1:${apiPort}${path}`).catch(() => undefined);
    return r?.ok ? ((await r.json()) as Record<string, unknown>) : undefined;
  };
  const releases = async () => {
    const servers = localServers(
      parsePipeline(localPipelineYaml({ repo: origin.url, dir, basePort: basePort, servers: 3 }), 'x').fleet as never,
    );
    return Promise.all(
      servers.map(async (s) => {
        const r = await fetch(`http://${s.host}:${s.port}/healthz`).catch(() => undefined);
        return r?.ok ? ((await r.json()) as { release: string }).release : undefined;
      }),
    );
  };
  let basePort: number;

  before(async () => {
    origin = await createOrigin(shopTemplateFiles());
    dir = await mkdtemp(join(tmpdir(), 'immune-crash-'));
    basePort = await freePortRange(3);
    apiPort = await freePortRange(1);
    file = join(dir, 'pipeline.yaml');
    await writeFile(file, localPipelineYaml({ repo: origin.url, dir, basePort, servers: 3, tests: false, minBake: '6s' }));
  });

  after(async () => {
    await traffic?.stop();
    serve?.kill('SIGKILL');
    await serve?.catch(() => undefined);
    const config = parsePipeline(localPipelineYaml({ repo: origin.url, dir, basePort, servers: 3 }), 'x');
    if (config.fleet.type === 'local') await createLocalFleet(config.fleet, { root: IMMUNE_ROOT, log, cwd: dir }).close();
    await origin?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('resumes the in-flight deploy and ends with every server on a known build', async () => {
    start();
    const first = (await waitFor(
      async () => {
        const line = await api('/api/line');
        return (line?.live as { artifact: { id: string } } | null)?.artifact.id;
      },
      60_000,
      'the first build to be live',
    )) as string;
    traffic = startTraffic({
      targets: async () =>
        localServers(parsePipeline(localPipelineYaml({ repo: origin.url, dir, basePort, servers: 3 }), 'x').fleet as never),
      rpsPerServer: 40,
      durationMs: 170_000,
      log,
      seed: 3,
    });

    const c = goodChange(2);
    const sha = await origin.commit(c.message, c.files);
    await waitFor(
      async () => {
        const line = await api('/api/line');
        const f = line?.inFlight as { status: string; shas: string[] } | null;
        return f && f.shas.includes(sha) && f.status === 'baking';
      },
      60_000,
      'the deploy to bake at the canary step',
    );

    serve!.kill('SIGKILL');
    await serve!.catch(() => undefined);
    // The servers outlive the orchestrator; each runs a build we know.
    const during = await releases();
    assert.equal(during.filter((r) => r === first).length, 2, `two servers on the old build: ${during}`);
    const second = during.find((r) => r !== first);
    assert.ok(second, 'the canary runs the new build');

    start();
    const deploy = (await waitFor(
      async () => {
        const list = await api('/api/deploys?limit=10');
        return (list?.deploys as { shas: string[]; outcome?: string; id: string }[] | undefined)?.find(
          (d) => d.shas.includes(sha) && d.outcome,
        );
      },
      90_000,
      'the resumed deploy to finish',
    )) as { id: string; outcome: string };
    assert.equal(deploy.outcome, 'live');
    const detail = await api(`/api/deploys/${deploy.id}`);
    assert.ok(
      (detail?.events as { type: string }[]).some((e) => e.type === 'resume'),
      'the deploy was resumed, not started over',
    );
    const after = await releases();
    assert.deepEqual(after, [second, second, second]);
  });
});
