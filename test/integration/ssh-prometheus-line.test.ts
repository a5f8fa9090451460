// The line end to end on the production parts: a real git origin, servers reached over real sshd
// on 127.0.1.x (each a directory running the demo shop), metrics from a real Prometheus scraping
// them through a file_sd file from writeFileSd. A good commit goes live; the demo's bad commit is
// rolled back over SSH, reverted in git and blocks the line, judged on Prometheus' numbers.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { writeFileSd } from '../../src/adapters/metrics/file-sd.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { badChange, goodChange, shopTemplateFiles } from '../../src/demo/shop-changes.js';
import { startTraffic, type Traffic } from '../../src/demo/traffic.js';
import type { DeployRecord } from '../../src/ports.js';
import { createOrigin, type TestOrigin } from '../helpers/git.js';
import { deployOf as waitForDeploy } from '../helpers/line.js';
import { PROMETHEUS, startPrometheus, type Prometheus } from '../helpers/prometheus.js';
import { freePort, generateKey, killShops, knownHostsLine, shopRestartScript, SSHD, startSshd, type Sshd } from '../helpers/sshd-server.js';

describe('the line on SSH servers judged through Prometheus', function () {
  this.timeout(150_000);
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const hosts = ['127.0.1.21', '127.0.1.22', '127.0.1.23'];
  let tmp: string;
  let origin: TestOrigin;
  const sshds: Sshd[] = [];
  let prom: Prometheus | undefined;
  let rt: Runtime | undefined;
  let traffic: Traffic | undefined;

  const deployOf = (sha: string) => waitForDeploy(rt!.store.line, sha, 100_000);

  before(async function () {
    if (!SSHD || !PROMETHEUS) throw new Error('needs openssh-server and prometheus');
    tmp = mkdtempSync(join(tmpdir(), 'immune-ssh-line-'));
    origin = await createOrigin(shopTemplateFiles());
    const client = await generateKey(join(tmp, 'client_ed25519'));
    const servers: string[] = [];
    const known: string[] = [];
    for (const [i, host] of hosts.entries()) {
      const sshd = await startSshd({ dir: join(tmp, `sshd${i + 1}`), host, authorizedKeys: [client.publicLine] });
      sshds.push(sshd);
      known.push(knownHostsLine(host, sshd.port, sshd.hostKey.publicLine));
      servers.push(
        `    - { id: s${i + 1}, host: ${host}, port: ${sshd.port}, app_port: ${await freePort(host)}, dir: ${JSON.stringify(join(tmp, `srv${i + 1}`))} }`,
      );
    }
    writeFileSync(join(tmp, 'known_hosts'), known.join('\n') + '\n');
    writeFileSync(join(tmp, 'restart.sh'), shopRestartScript(resolve('node_modules')));
    const fileSd = join(tmp, 'targets.json');
    // Prometheus starts first, with an empty target list that immune then fills.
    writeFileSync(fileSd, '[]\n');
    prom = await startPrometheus({ dir: join(tmp, 'prom'), fileSd, scrapeInterval: '1s' });
    const file = join(tmp, 'pipeline.yaml');
    writeFileSync(
      file,
      `name: shop
repo:
  url: ${JSON.stringify(origin.url)}
  workdir: ${JSON.stringify(join(tmp, 'work'))}
  poll_interval: 500ms
build:
  exclude: [.git]
fleet:
  type: ssh
  user: ${sshds[0]!.user}
  key: ${JSON.stringify(client.privateKey)}
  known_hosts: ${JSON.stringify(join(tmp, 'known_hosts'))}
  restart: [sh, ${JSON.stringify(join(tmp, 'restart.sh'))}]
  health_timeout: 10s
  connect_timeout: 5s
  servers:
${servers.join('\n')}
metrics:
  source: prometheus
  prometheus: { url: ${JSON.stringify(prom.url)}, file_sd: ${JSON.stringify(fileSd)} }
  definitions:
    - { name: error_rate, kind: ratio, numerator: 'shop_http_requests_total{code=~"5.."}', denominator: shop_http_requests_total, bad: increase, critical: true }
    - { name: checkout_error_rate, kind: ratio, numerator: 'shop_http_requests_total{route="/checkout",code=~"5.."}', denominator: 'shop_http_requests_total{route="/checkout"}', bad: increase, critical: true }
    - { name: checkouts, kind: count, counter: shop_checkouts_total, bad: decrease, tolerance: 30%, group: business }
rollout:
  interval: 3s
  min_bake: 9s
  max_bake: 40s
  steps:
    - servers: 1
    - percent: 100%
watch:
  enabled: false
`,
    );
    rt = await createRuntime({ pipelineFile: file, dataDir: join(tmp, 'state'), log });
    await writeFileSd(fileSd, await rt.fleet.servers());
    await rt.start();
    traffic = startTraffic({ targets: () => rt!.fleet.servers(), rpsPerServer: 40, checkoutRate: 1, durationMs: 140_000, log, seed: 11 });
  });

  after(async function () {
    await traffic?.stop();
    await rt?.close({ stopFleet: true }).catch(() => undefined);
    if (tmp) killShops([1, 2, 3].map((i) => join(tmp, `srv${i}`)));
    await prom?.stop();
    await Promise.all(sshds.map((s) => s.stop()));
    await origin?.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  let first: DeployRecord;

  it('deploys the first build to every server over SSH', async function () {
    const tip = (await origin.dev.revparse(['HEAD'])).trim();
    first = await deployOf(tip);
    assert.equal(first.outcome, 'live', first.reason);
    const releases = await Promise.all((await rt!.fleet.servers()).map((s) => rt!.fleet.release(s)));
    assert.deepEqual(releases, [first.artifact!.id, first.artifact!.id, first.artifact!.id]);
    await prom!.waitForTargets(
      (await rt!.fleet.servers()).map((s) => `${s.host}:${s.port}`),
      15_000,
    );
  });

  it('takes a good commit live on every server, judged on Prometheus numbers', async function () {
    const c = goodChange(1);
    const sha = await origin.commit(c.message, c.files);
    const d = await deployOf(sha);
    assert.equal(d.outcome, 'live', d.reason);
    const releases = await Promise.all((await rt!.fleet.servers()).map((s) => rt!.fleet.release(s)));
    assert.deepEqual(releases, [d.artifact!.id, d.artifact!.id, d.artifact!.id]);
    first = d;
  });

  it('rolls a bad commit back over SSH, reverts it and blocks the line, on Prometheus evidence', async function () {
    const c = badChange();
    const bad = await origin.commit(c.message, c.files, 'Bad Actor <bad@example.test>');
    const d = await deployOf(bad);
    assert.equal(d.outcome, 'reverted', d.reason);
    console.log(`      ${d.outcome} after ${Math.round(((d.finishedAt ?? d.updatedAt) - d.createdAt) / 1000)}s: ${d.reason}`);
    assert.match(d.reason ?? '', /error_rate/);
    const releases = await Promise.all((await rt!.fleet.servers()).map((s) => rt!.fleet.release(s)));
    assert.deepEqual(releases, [first.artifact!.id, first.artifact!.id, first.artifact!.id]);
    const line = await rt!.store.line.getLine('shop');
    assert.equal(line.blocked, true);
    assert.ok(d.revertSha, 'a revert commit was pushed');
    await origin.dev.fetch();
    const message = await origin.dev.raw(['log', '-1', '--format=%B', 'origin/main']);
    assert.match(message, /Revert/i);
  });
});
