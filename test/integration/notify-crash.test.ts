// SIGKILL `immune serve` while a notification is pending (its receiver refuses with 503): the
// next serve on the same state delivers it, once. Also: the API and /metrics show the queue.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import pino from 'pino';
import { createLocalFleet } from '../../src/adapters/fleet/local.js';
import { parsePipeline } from '../../src/core/config/index.js';
import { IMMUNE_ROOT } from '../../src/runtime.js';
import { shopTemplateFiles } from '../../src/demo/shop-changes.js';
import { createOrigin, type TestOrigin } from '../helpers/git.js';
import { startReceiver, type Receiver } from '../helpers/http-receiver.js';
import { freePortRange, localPipelineYaml, waitFor } from '../helpers/line.js';

describe('a notification pending when serve is killed (real processes, SIGKILL)', function () {
  this.timeout(120_000);
  let origin: TestOrigin;
  let dir: string;
  let file: string;
  let apiPort: number;
  let basePort: number;
  let serve: ResultPromise | undefined;
  let hook: Receiver;
  let yaml: string;

  const start = () => {
    serve = execa(
      'node',
      [join(IMMUNE_ROOT, 'bin/immune.js'), 'serve', '--pipeline', file, '--port', String(apiPort), '--data', join(dir, 'state')],
      {
        cwd: dir,
        reject: false,
        env: { IMMUNE_LOG_LEVEL: 'warn', T_HOOK_SECRET: 'crash-secret' },
      },
    );
  };
  const api = async (path: string) => {
    const r = await fetch(`http://127.0.0.1:${apiPort}${path}`).catch(() => undefined);
    return r?.ok ? ((await r.json()) as Record<string, unknown>) : undefined;
  };

  before(async () => {
    origin = await createOrigin(shopTemplateFiles());
    dir = await mkdtemp(join(tmpdir(), 'immune-notify-crash-'));
    basePort = await freePortRange(1);
    apiPort = await freePortRange(1);
    hook = await startReceiver();
    file = join(dir, 'pipeline.yaml');
    yaml = `${localPipelineYaml({ repo: origin.url, dir, basePort, servers: 1, tests: false })}notify:
  backoff: 300ms
  max_backoff: 600ms
  attempts: 50
  targets:
    hook: { type: webhook, url: '${hook.url}/events', secret_env: T_HOOK_SECRET }
  routes:
    live: [hook]
`;
    await writeFile(file, yaml);
  });

  after(async () => {
    serve?.kill('SIGKILL');
    await serve?.catch(() => undefined);
    const config = parsePipeline(yaml, 'x');
    if (config.fleet.type === 'local')
      await createLocalFleet(config.fleet, { root: IMMUNE_ROOT, log: pino({ level: 'silent' }), cwd: dir }).close();
    await hook?.close();
    await origin?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('delivers it once after the restart', async () => {
    hook.script([], 503);
    start();
    // The first deploy goes live; its notification is refused again and again.
    await waitFor(async () => hook.requests.length >= 2, 60_000, 'delivery attempts refused with 503');
    const status = (await waitFor(() => api('/api/notifications'), 10_000, 'the notifications API')) as {
      targets: { target: string; pending: number; lastError?: string; summary: string }[];
    };
    assert.equal(status.targets[0]!.pending, 1);
    assert.match(status.targets[0]!.summary, /^hook: 1 pending, last 503 Service Unavailable/);
    const metrics = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
    assert.match(metrics, /immune_notifications_total\{target="hook",outcome="retried"\} [1-9]/);
    serve!.kill('SIGKILL');
    await serve!.catch(() => undefined);
    const refused = hook.requests.length;

    hook.script([], 202);
    start();
    await waitFor(async () => hook.accepted().length >= 1, 60_000, 'the delivery after the restart');
    // Give a second delivery every chance to happen.
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(hook.accepted().length, 1, 'delivered once');
    const ids = new Set(hook.requests.map((r) => (JSON.parse(r.body) as { id: string }).id));
    assert.equal(ids.size, 1, `every attempt carries the same event id: ${[...ids].join(', ')}`);
    assert.ok(hook.requests.length >= refused + 1);
    const after = (await waitFor(() => api('/api/notifications'), 60_000, 'the notifications API after the restart')) as {
      targets: { pending: number; delivered: number; dead: number }[];
    };
    assert.deepEqual(
      after.targets.map((t) => [t.pending, t.delivered, t.dead]),
      [[0, 1, 0]],
    );
  });
});
