// The documented production examples under pipelines/ stay valid: they parse against the pipeline
// schema, and their metric definitions and server lists are accepted by the adapters they name.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parsePipeline } from '../../../src/core/config/index.js';
import { loadSshServers } from '../../../src/adapters/fleet/ssh-servers.js';
import { planQueries } from '../../../src/adapters/metrics/prometheus.js';

const read = (name: string) => parsePipeline(readFileSync(`pipelines/${name}`, 'utf8'), `pipelines/${name}`);

describe('pipelines/ production examples', function () {
  it('ssh-fleet.yaml: an SSH fleet with three servers, labels for spreading', async function () {
    const p = read('ssh-fleet.yaml');
    assert.equal(p.fleet.type, 'ssh');
    if (p.fleet.type !== 'ssh') return;
    assert.deepEqual(p.fleet.restart, ['sudo', 'systemctl', 'restart', 'shop']);
    const servers = await loadSshServers(p.fleet, (f) => f);
    assert.deepEqual(
      servers.map((s) => [s.id, s.sshPort, s.user, s.labels.region]),
      [
        ['web-eu-1', 22, 'deploy', 'eu'],
        ['web-eu-2', 22, 'deploy', 'eu'],
        ['web-us-1', 2222, 'ops', 'us'],
      ],
    );
    assert.deepEqual(p.rollout.spread, ['region', 'zone']);
  });

  it('prometheus.yaml: every definition becomes a PromQL query', function () {
    const p = read('prometheus.yaml');
    assert.equal(p.metrics.source, 'prometheus');
    assert.equal(p.metrics.prometheus?.file_sd, '/var/lib/immune/targets.json');
    const plans = planQueries(p.metrics.definitions, 'instance');
    assert.equal(plans.length, 7);
    const own = plans.find((q) => q.name === 'revenue_per_checkout');
    assert.ok(own && own.kind === 'continuous' && own.query.includes('{{instances}}'));
  });

  it('github.yaml: statuses, webhooks and secrets from the environment', function () {
    const p = read('github.yaml');
    assert.deepEqual(p.github, {
      owner: 'acme',
      repo: 'shop',
      api_url: 'https://api.github.com',
      token_env: 'GITHUB_TOKEN',
      webhook_secret_env: 'GITHUB_WEBHOOK_SECRET',
      dashboard_url: 'https://immune.example.org/',
    });
    assert.equal(p.fleet.type, 'ssh');
    planQueries(p.metrics.definitions, 'instance');
  });
});
