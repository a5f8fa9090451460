import assert from 'node:assert/strict';
import { parsePipeline } from '../../../../src/core/config/index.js';
import { routeFor } from '../../../../src/core/config/notify.js';
import { ConfigError } from '../../../../src/core/errors.js';

const base = `name: shop
repo: { url: /tmp/shop.git }
fleet: { type: local, servers: 4 }
metrics:
  definitions:
    - { name: error_rate, kind: ratio, numerator: 'r{code=~"5.."}', denominator: r, bad: increase }
rollout:
  steps: [{ servers: 1 }]
`;

const notify = `notify:
  targets:
    pager: { type: pager, routing_key_env: PD_KEY }
    slack: { type: slack, url_env: SLACK_URL }
    email: { type: email, from: immune@example.com, to: [captains@example.com], smtp: { host: 127.0.0.1, port: 2525 } }
    hooks: { type: webhook, url: 'http://127.0.0.1:9/hook', secret_env: HOOK_SECRET }
  routes:
    blocked: [pager, slack, email:authors]
    live: [slack]
    '*': [hooks]
`;

function issues(text: string, env?: Record<string, string>): string[] {
  try {
    parsePipeline(text, 'p.yaml', { env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

describe('notify config', () => {
  it('parses targets with defaults and routes', () => {
    const p = parsePipeline(base + notify, 'p.yaml');
    const pager = p.notify!.targets.pager!;
    assert.equal(pager.type === 'pager' && pager.url, 'https://events.pagerduty.com/v2/enqueue');
    assert.equal(pager.type === 'pager' && pager.severity, 'error');
    const email = p.notify!.targets.email!;
    assert.equal(email.type === 'email' && email.authors, true);
    assert.equal(email.type === 'email' && email.smtp.starttls, 'auto');
  });

  it('routes kinds (with short names and *) to targets, on_regression targets for regressions', () => {
    const p = parsePipeline(`${base}on_regression: { notify: [console, slack] }\n${notify}`, 'p.yaml');
    const names = (kind: string) =>
      routeFor(kind, p.notify, p.on_regression.notify).map((r) => (r.qualifier ? `${r.target}:${r.qualifier}` : r.target));
    assert.deepEqual(names('blocked'), ['pager', 'slack', 'email:authors', 'hooks']);
    assert.deepEqual(names('deploy_live'), ['slack', 'hooks']);
    assert.deepEqual(names('reverted'), ['hooks', 'slack']);
    // A kind nobody named (another part of the engine emits it) still reaches the catch-all.
    assert.deepEqual(names('guarded_flag_rollback'), ['hooks']);
  });

  it('without routes, each target hears what its kind is for', () => {
    const p = parsePipeline(base + notify.replace(/  routes:[\s\S]*$/, ''), 'p.yaml');
    const names = (kind: string) =>
      routeFor(kind, p.notify)
        .map((r) => r.target)
        .sort();
    assert.deepEqual(names('blocked'), ['email', 'hooks', 'pager', 'slack']);
    assert.deepEqual(names('deploy_live'), ['hooks', 'pager', 'slack'], 'the pager drops it by severity itself');
    assert.deepEqual(names('unblocked'), ['email', 'hooks', 'pager', 'slack']);
    assert.deepEqual(names('flaky_test'), ['hooks', 'pager']);
  });

  it('names the unknown target and the valid ones, at file:line:col', () => {
    const bad = `${base}notify:\n  targets:\n    slack: { type: slack, url_env: SLACK_URL }\n  routes:\n    blocked: [slakc, slack:authors]\n`;
    const out = issues(bad);
    assert.ok(
      out.some((l) => /^p\.yaml:13:15 notify\.routes\.blocked\.0: no notification target "slakc" \(targets: slack, console;/.test(l)),
      out.join('\n'),
    );
    assert.ok(
      out.some((l) => /^p\.yaml:13:22 notify\.routes\.blocked\.1: "slack:authors": only e-mail targets take a qualifier/.test(l)),
      out.join('\n'),
    );
  });

  it('checks on_regression.notify names too (notify: [slack] without a slack target is an error)', () => {
    const out = issues(`${base}on_regression: { notify: [slack] }\n`);
    assert.ok(
      out.some((l) => /^p\.yaml:9:27 on_regression\.notify\.0: no notification target "slack" \(targets: console;/.test(l)),
      out.join('\n'),
    );
  });

  it('with an environment, every named secret variable must be set', () => {
    const out = issues(base + notify, { SLACK_URL: 'http://127.0.0.1:1/x' });
    assert.ok(
      out.some((l) => /^p\.yaml:11:\d+ notify\.targets\.pager\.routing_key_env: environment variable PD_KEY is not set/.test(l)),
      out.join('\n'),
    );
    assert.ok(
      out.some((l) => /notify\.targets\.hooks\.secret_env: environment variable HOOK_SECRET is not set/.test(l)),
      out.join('\n'),
    );
    assert.ok(!out.some((l) => l.includes('SLACK_URL')));
    // All set: valid.
    parsePipeline(base + notify, 'p.yaml', { env: { SLACK_URL: 'x', PD_KEY: 'k', HOOK_SECRET: 's' } });
  });

  it('keeps secrets out of YAML: a Slack url key is an unknown key; a webhook takes exactly one of url and url_env', () => {
    const out = issues(
      `${base}notify:\n  targets:\n    slack: { type: slack, url: 'https://hooks.slack.com/services/T/B/x', url_env: S }\n    h: { type: webhook, secret_env: S }\n`,
    );
    assert.ok(
      out.some((l) => /notify\.targets\.slack\.url: unknown key "url"/.test(l)),
      out.join('\n'),
    );
    assert.ok(
      out.some((l) => /notify\.targets\.h: a webhook takes exactly one of url or url_env/.test(l)),
      out.join('\n'),
    );
  });

  it('rejects an unknown target type, and names a bad kind', () => {
    const out = issues(`${base}notify:\n  targets:\n    x: { type: carrier-pigeon }\n`);
    assert.ok(
      out.some((l) => /^p\.yaml:11:16 notify\.targets\.x\.type: Invalid discriminator value\. Expected 'email' \| 'slack'/.test(l)),
      out.join('\n'),
    );
    const kinds = issues(`${base}notify:\n  routes:\n    'Bad Kind': [console]\n`);
    assert.ok(
      kinds.some((l) => /^p\.yaml:11:17 notify\.routes\.Bad Kind: "Bad Kind" is not an event kind/.test(l)),
      kinds.join('\n'),
    );
  });
});
