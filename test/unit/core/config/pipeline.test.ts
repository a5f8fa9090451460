import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { parsePipeline } from '../../../../src/core/config/index.js';
import { exposureNoun, exposureOf } from '../../../../src/core/config/metrics.js';
import { ConfigError } from '../../../../src/core/errors.js';

const base = `name: shop
repo: { url: /tmp/shop.git }
fleet: { type: local, servers: 4 }
metrics:
  definitions:
    - { name: error_rate, kind: ratio, numerator: 'r{code=~"5.."}', denominator: r, bad: increase }
rollout:
  steps: [{ servers: 1 }, { percent: 50% }]
`;

/** Every issue of a bad file, as the user sees it. */
function issues(text: string): string[] {
  try {
    parsePipeline(text, 'p.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

describe('pipeline config', () => {
  it('places a YAML syntax error at its own line and column, not 1:1 (issue 18 item 12)', () => {
    const [first] = issues(`${base}watch:\n  duration: [1, 2\n`);
    assert.match(first!, /^p\.yaml:1[01]:\d+ /, first);
    assert.doesNotMatch(first!, /^p\.yaml:1:1 /);
  });

  it('refuses a file over the size limit before parsing it, saying the limit (issue 18 item 12)', () => {
    const huge = `${base}# ${'x'.repeat(300 * 1024)}\n`;
    const t0 = Date.now();
    assert.deepEqual(issues(huge), ['p.yaml:1:1 file is 300 KiB; the limit is 256 KiB']);
    assert.ok(Date.now() - t0 < 1000);
  });

  it('fills defaults and parses durations and shares', () => {
    const p = parsePipeline(base, 'p.yaml');
    assert.equal(p.repo.branch, 'main');
    assert.equal(p.rollout.interval, 5000);
    assert.equal(p.rollout.min_bake, 60_000);
    assert.equal(p.rollout.steps[1]!.percent, 0.5);
    assert.equal(p.metrics.definitions[0]!.tolerance, 0.1);
    assert.deepEqual(p.on_regression, { rollback: true, revert: true, block: true, notify: ['console'] });
    assert.equal(p.fleet.type === 'local' && p.fleet.keep_releases, 5);
    assert.equal(p.metrics.definitions[0]!.weight, 1);
    assert.equal(p.rollout.history, 300_000);
  });

  it('checks PromQL series selectors at the key, with the column of the problem', () => {
    const out = issues(base.replace(`numerator: 'r{code=~"5.."}'`, `numerator: 'r{code=~"5..}'`));
    assert.equal(out.length, 1, out.join('\n'));
    assert.match(out[0]!, /^p\.yaml:6:\d+ metrics\.definitions\.0\.numerator: bad series selector "r\{code=~\\"5\.\.\}": col \d+: /);
  });

  it('takes a metric weight and the gate history, and names bad ones', () => {
    const p = parsePipeline(
      base.replace('bad: increase }', 'bad: increase, weight: 3 }').replace('steps: [', 'history: 10m\n  steps: ['),
      'p.yaml',
    );
    assert.equal(p.metrics.definitions[0]!.weight, 3);
    assert.equal(p.rollout.history, 600_000);
    const per = parsePipeline(
      base.replace('rollout:', '    - { name: checkouts, kind: count, counter: c, bad: decrease, per: error_rate }\nrollout:'),
      'p.yaml',
    );
    assert.equal(per.metrics.definitions[1]!.kind === 'count' && per.metrics.definitions[1]!.per, 'error_rate');
    // Its values read per unit of error_rate's denominator (`r`: the name itself, too short for a noun).
    assert.equal(exposureOf(per.metrics.definitions[1]!, per.metrics.definitions), 'r');
    assert.equal(exposureOf(per.metrics.definitions[0]!, per.metrics.definitions), undefined);
    const bad = issues(
      base.replace('rollout:', '    - { name: checkouts, kind: count, counter: c, bad: decrease, per: requests }\nrollout:'),
    );
    assert.ok(
      bad.some((l) =>
        /^p\.yaml:7:\d+ metrics\.definitions\.1\.per: no metric "requests"; per names a ratio metric.*ratio metrics: error_rate/.test(l),
      ),
      bad.join('\n'),
    );
    const out = issues(base.replace('bad: increase }', 'bad: increase, weight: 0 }'));
    assert.ok(
      out.some((l) => /metrics\.definitions\.0\.weight: expected a weight > 0/.test(l)),
      out.join('\n'),
    );
  });

  it('every pipeline shipped under pipelines/ is valid', () => {
    for (const f of readdirSync('pipelines').filter((x) => x.endsWith('.yaml'))) parsePipeline(readFileSync(`pipelines/${f}`, 'utf8'), f);
  });

  it('reports broken YAML with its line and column', () => {
    const [first] = issues('name: shop\nrepo: {url: x\n');
    assert.match(first!, /^p\.yaml:\d+:\d+ /);
  });

  it('names an unknown key at the key (a typo never silently means the default)', () => {
    const out = issues(base.replace('bad: increase }', 'bad: increase, tolerence: 5% }'));
    assert.deepEqual(out, ['p.yaml:6:100 metrics.definitions.0.tolerence: unknown key "tolerence"']);
  });

  it('names wrong types, bad durations and missing keys by path', () => {
    const out = issues(base.replace('servers: 4 }', 'servers: four }').replace('steps: [', 'interval: soon\n  steps: ['));
    assert.ok(
      out.some((l) => /^p\.yaml:3:\d+ fleet\.servers: .*number/i.test(l)),
      out.join('\n'),
    );
    assert.ok(
      out.some((l) => /^p\.yaml:8:13 rollout\.interval: "soon" is not a duration/.test(l)),
      out.join('\n'),
    );
    const missing = issues(base.replace('repo: { url: /tmp/shop.git }\n', ''));
    assert.ok(
      missing.some((l) => /repo: required/.test(l)),
      missing.join('\n'),
    );
  });

  it('checks what the schema cannot: duplicate metrics, bakes, steps larger than the fleet', () => {
    const dup = base.replace('bad: increase }', 'bad: increase }\n    - { name: error_rate, kind: count, counter: c, bad: increase }');
    assert.ok(issues(dup).some((l) => /duplicate metric "error_rate"/.test(l)));
    assert.ok(
      issues(base.replace('{ servers: 1 }', '{ servers: 1, min_bake: 2m, max_bake: 1m }')).some((l) =>
        /max_bake \(60s\) is shorter than min_bake \(120s\)/.test(l),
      ),
    );
    assert.ok(issues(base.replace('{ servers: 1 }', '{ servers: 9 }')).some((l) => /9 servers but the fleet has 4/.test(l)));
    assert.ok(
      issues(base.replace('{ servers: 1 }', '{ servers: 1, percent: 10% }')).some((l) => /exactly one of servers or percent/.test(l)),
    );
  });

  it('names what a count per request is counted per, from the denominator selector', () => {
    assert.equal(exposureNoun('shop_http_requests_total{code!=""}'), 'request');
    assert.equal(exposureNoun('app_sessions_total'), 'session');
    assert.equal(exposureNoun('queue_deliveries_total'), 'delivery');
    assert.equal(exposureNoun('http_server_requests_seconds_count'), 'http_server_requests_seconds');
    assert.equal(exposureNoun('r'), 'r');
  });
});
