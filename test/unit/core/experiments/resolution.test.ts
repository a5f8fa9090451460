// The OpenFeature mapping of Unleash evaluations (shared by OFREP and immune/openfeature): kinds,
// values, variants, reasons, error codes, and OpenFeature contexts as Unleash contexts.
import assert from 'node:assert/strict';
import {
  flagKind,
  missingTargetingKey,
  resolveFlag,
  unleashContext,
  type FlagDefinition,
} from '../../../../src/core/experiments/resolution.js';

const on = { name: 'disabled', enabled: false, feature_enabled: true };
const off = { name: 'disabled', enabled: false, feature_enabled: false };
const flag = (f: Partial<FlagDefinition>): FlagDefinition => ({
  name: 'f',
  enabled: true,
  strategies: [{ name: 'default', parameters: {}, constraints: [] }],
  variants: [],
  ...f,
});
const experiment: FlagDefinition = {
  name: 'Checkout',
  enabled: true,
  type: 'experiment',
  strategies: [
    {
      name: 'flexibleRollout',
      parameters: { rollout: '100', stickiness: 'default', groupId: 'Checkout.phase2' },
      constraints: [],
      variants: [
        { name: 'control', weight: 500 },
        { name: 'Enhanced', weight: 500 },
      ],
    },
  ],
};

describe('OpenFeature resolution of Unleash evaluations', () => {
  it('kinds: boolean without variants, payload type when all agree, else the variant name', () => {
    assert.equal(flagKind(flag({})), 'boolean');
    assert.equal(flagKind(flag({ variants: [{ name: 'a', payload: { type: 'number', value: '1' } }] })), 'number');
    assert.equal(flagKind(flag({ variants: [{ name: 'a', payload: { type: 'json', value: '{}' } }] })), 'object');
    assert.equal(flagKind(flag({ variants: [{ name: 'a', payload: { type: 'json', value: '{}' } }, { name: 'b' }] })), 'string');
    assert.equal(flagKind(experiment), 'string');
  });

  it('boolean flags: value, on/off variant and reason', () => {
    const table: [Partial<FlagDefinition>, boolean, unknown, string][] = [
      [{}, true, true, 'STATIC'],
      [{ enabled: false }, false, false, 'DISABLED'],
      [{ strategies: [{ name: 'default', constraints: [{ contextName: 'plan' }] }] }, true, true, 'TARGETING_MATCH'],
      [{ strategies: [{ name: 'default', constraints: [{ contextName: 'plan' }] }] }, false, false, 'DEFAULT'],
      [{ strategies: [{ name: 'flexibleRollout', parameters: { rollout: '25' } }] }, true, true, 'SPLIT'],
      [{ strategies: [{ name: 'userWithId', parameters: { userIds: 'a' } }] }, true, true, 'TARGETING_MATCH'],
    ];
    for (const [def, enabled, value, reason] of table) {
      const r = resolveFlag('f', flag(def), enabled, enabled ? on : off);
      assert.ok(r.ok);
      assert.deepEqual([r.value, r.variant, r.reason], [value, enabled ? 'on' : 'off', reason], JSON.stringify(def));
    }
  });

  it('variant flags: the payload as its type, or nothing (the caller default) when no variant applies', () => {
    const def = flag({
      variants: [
        { name: 'low', weight: 500, payload: { type: 'number', value: '10' } },
        { name: 'high', weight: 500, payload: { type: 'number', value: '99' } },
      ],
    });
    const r = resolveFlag('f', def, true, { name: 'high', enabled: true, payload: { type: 'number', value: '99' } });
    assert.deepEqual(r, { ok: true, key: 'f', kind: 'number', value: 99, variant: 'high', reason: 'SPLIT', metadata: {} });
    const none = resolveFlag('f', { ...def, enabled: false }, false, off);
    assert.deepEqual(none, { ok: true, key: 'f', kind: 'number', reason: 'DISABLED', metadata: {} });
    const bad = resolveFlag('f', flag({ variants: [{ name: 'x', payload: { type: 'json', value: '{oops' } }] }), true, {
      name: 'x',
      enabled: true,
      payload: { type: 'json', value: '{oops' },
    });
    assert.equal(bad.ok ? 'ok' : bad.errorCode, 'PARSE_ERROR');
    const names = resolveFlag('f', flag({ variants: [{ name: 'a' }, { name: 'b' }] }), true, { name: 'b', enabled: true });
    assert.ok(names.ok && names.value === 'b');
  });

  it('experiments: the branch for participants with the groupId, control otherwise, static once closed', () => {
    const p = resolveFlag('Checkout', experiment, true, { name: 'Enhanced', enabled: true });
    assert.deepEqual(p, {
      ok: true,
      key: 'Checkout',
      kind: 'string',
      value: 'Enhanced',
      variant: 'Enhanced',
      reason: 'SPLIT',
      metadata: { experiment: 'Checkout', control: 'control', groupId: 'Checkout.phase2' },
    });
    const out = resolveFlag('Checkout', experiment, false, off);
    assert.ok(out.ok && out.value === 'control' && out.reason === 'DEFAULT' && out.metadata.groupId === undefined);
    const closed = resolveFlag('Checkout', { ...experiment, stale: true }, true, { name: 'Enhanced', enabled: true });
    assert.ok(closed.ok && closed.reason === 'STATIC' && closed.metadata.closed === true && closed.metadata.groupId === undefined);
  });

  it('FLAG_NOT_FOUND and TARGETING_KEY_MISSING', () => {
    const nf = resolveFlag('nope', undefined, false, off);
    assert.equal(nf.ok ? 'ok' : nf.errorCode, 'FLAG_NOT_FOUND');
    const ctx = (c: unknown) => (unleashContext(c) as { ok: true; context: Parameters<typeof missingTargetingKey>[1] }).context;
    assert.equal(missingTargetingKey(experiment, ctx({}))?.ok, false);
    assert.equal(missingTargetingKey(experiment, ctx({ targetingKey: 'u' })), undefined);
    assert.equal(missingTargetingKey(experiment, ctx({ sessionId: 's' })), undefined);
    assert.equal(missingTargetingKey(flag({}), ctx({})), undefined, 'an on/off flag needs no key');
    const custom = flag({ strategies: [{ name: 'flexibleRollout', parameters: { rollout: '50', stickiness: 'tenant' } }] });
    assert.equal(missingTargetingKey(custom, ctx({ targetingKey: 'u' }))?.ok, false);
    assert.equal(missingTargetingKey(custom, ctx({ tenant: 'acme' })), undefined);
  });

  it('contexts: targetingKey is userId, standard fields stay, the rest are string properties', () => {
    const r = unleashContext({
      targetingKey: 'u1',
      sessionId: 's',
      plan: 'beta',
      seats: 3,
      admin: true,
      when: new Date(0),
      tags: ['a'],
      properties: { region: 'eu' },
    });
    assert.deepEqual(r, {
      ok: true,
      context: {
        userId: 'u1',
        sessionId: 's',
        properties: { plan: 'beta', seats: '3', admin: 'true', when: '1970-01-01T00:00:00.000Z', tags: '["a"]', region: 'eu' },
      },
    });
    const both = unleashContext({ targetingKey: 't', userId: 'u' });
    assert.ok(both.ok && both.context.userId === 'u');
    assert.equal(unleashContext('x').ok, false);
    assert.equal(unleashContext([1]).ok, false);
    assert.equal(unleashContext({ currentTime: 'not a date' }).ok, false);
    const t = unleashContext({ currentTime: '2026-01-01T00:00:00Z' });
    assert.ok(t.ok && t.context.currentTime?.toISOString() === '2026-01-01T00:00:00.000Z');
  });
});
