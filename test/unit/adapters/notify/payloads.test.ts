// The pager's routing by severity and the e-mail's recipients, from the target's config.
import assert from 'node:assert/strict';
import { emailRecipients } from '../../../../src/adapters/notify/email.js';
import { pagerAction, pagerPayload } from '../../../../src/adapters/notify/pager.js';
import { parsePipeline } from '../../../../src/core/config/index.js';
import type { Notification } from '../../../../src/ports.js';

const cfg = parsePipeline(
  `name: shop
repo: { url: /tmp/x }
fleet: { type: local, servers: 2 }
metrics: { definitions: [{ name: e, kind: ratio, numerator: a, denominator: b, bad: increase }] }
rollout: { steps: [{ servers: 1 }] }
notify:
  targets:
    pager: { type: pager, routing_key_env: K }
    quiet: { type: pager, routing_key_env: K, severity: critical, dedup_key: shop-prod }
    email: { type: email, from: immune@example.com, to: [oncall@example.com] }
`,
  'p.yaml',
).notify!.targets;
const pager = cfg.pager as Extract<typeof cfg.pager, { type: 'pager' }>;
const quiet = cfg.quiet as Extract<typeof cfg.quiet, { type: 'pager' }>;
const email = cfg.email as Extract<typeof cfg.email, { type: 'email' }>;
const n = (kind: string, extra: Partial<Notification> = {}): Notification => ({ kind, pipeline: 'shop', title: kind, body: '', ...extra });

describe('notification payloads', () => {
  it('pages for a block, a failed rollback and an unknown build; resolves on unblock and recovery; never for a live deploy', () => {
    const actions = [
      'blocked',
      'rollback_failed',
      'unknown_build',
      'reverted',
      'tests_failed',
      'deploy_live',
      'unblocked',
      'recovered',
      'some_new_kind',
    ].map((k) => [k, pagerAction(pager, n(k))]);
    assert.deepEqual(actions, [
      ['blocked', 'trigger'],
      ['rollback_failed', 'trigger'],
      ['unknown_build', 'trigger'],
      ['reverted', 'trigger'],
      ['tests_failed', undefined],
      ['deploy_live', undefined],
      ['unblocked', 'resolve'],
      ['recovered', 'resolve'],
      ['some_new_kind', undefined],
    ]);
    assert.equal(pagerAction(quiet, n('reverted')), undefined, 'a critical-only pager ignores errors');
    assert.equal(pagerAction(pager, n('blocked', { severity: 'warning' })), undefined, "a captain's own block does not page");
    assert.equal((pagerPayload(quiet, 'k', n('blocked')) as { dedup_key: string }).dedup_key, 'shop-prod');
  });

  it('mails authors and the list, or one of them by qualifier', () => {
    const x = n('blocked', { to: ['dev@example.com', 'not-an-address'] });
    assert.deepEqual(emailRecipients(email, x), ['dev@example.com', 'oncall@example.com']);
    assert.deepEqual(emailRecipients(email, x, 'authors'), ['dev@example.com']);
    assert.deepEqual(emailRecipients(email, x, 'list'), ['oncall@example.com']);
    assert.deepEqual(emailRecipients({ ...email, authors: false }, x), ['oncall@example.com']);
  });
});

describe('delivery errors', () => {
  it('never carry the URL (it may be the secret) and a malformed URL is not retried', async () => {
    const { post, DeliveryError } = await import('../../../../src/adapters/notify/sender.js');
    const secretUrl = 'http//hooks.example.com/services/T000/B000/SECRETTOKEN';
    const err = await post(secretUrl, '{}', {}, AbortSignal.timeout(1000)).catch((e: unknown) => e);
    assert.ok(err instanceof DeliveryError);
    assert.ok(!err.message.includes('SECRETTOKEN'), err.message);
    assert.equal(err.retry, false);
  });
});
