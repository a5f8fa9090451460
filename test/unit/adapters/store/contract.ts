// Behaviour every LineStore and AuditStore must have, run against each implementation
// (SQLite here, PostgreSQL in test/integration/store-postgres.test.ts).
import assert from 'node:assert/strict';
import { ConflictError } from '../../../../src/core/errors.js';
import type { AuditStore, LineRecord, LineStore } from '../../../../src/ports.js';
import { deploy, deployState } from './sqlite/fixtures.js';

export interface Opened<S> {
  store: S;
  close(): Promise<void>;
}

/** Defines the LineStore cases; `open` gives a fresh, empty store for each case. */
export function lineStoreContract(open: () => Promise<Opened<LineStore>>): void {
  let store: LineStore;
  let opened: Opened<LineStore>;
  beforeEach(async () => {
    opened = await open();
    store = opened.store;
  });
  afterEach(() => opened.close());

  it('answers defaults for an unknown pipeline', async () => {
    assert.deepEqual(await store.getLine('nope'), { pipeline: 'nope', blocked: false, paused: false, queue: [], version: 0 });
  });

  it('round-trips a line record with every field', async () => {
    const rec: LineRecord = {
      pipeline: 'local',
      blocked: true,
      blockReason: 'checkout_error_rate +400%',
      blockedBy: 'engine',
      blockedAt: 1234,
      blockedDeploy: 'd2',
      paused: true,
      live: { sha: 'abc', artifact: { id: 'a1', sha: 'abc', path: '/tmp/a1.tgz', bytes: 10 }, deploy: 'd1' },
      lastSeen: 'abc',
      queue: ['def', 'ghi'],
      version: 7,
    };
    await store.saveLine(rec);
    assert.deepEqual(await store.getLine('local'), rec);
    await store.saveLine({ ...rec, blocked: false, queue: [], version: 8 });
    const again = await store.getLine('local');
    assert.equal(again.blocked, false);
    assert.deepEqual(again.queue, []);
    assert.equal(again.version, 8);
    assert.equal((await store.getLine('other')).version, 0);
  });

  it('creates, saves and reads deploys with their JSON state', async () => {
    const d = deploy('d1', 1000);
    await store.createDeploy(d);
    assert.deepEqual(await store.getDeploy('d1'), d);
    await assert.rejects(store.createDeploy(d), ConflictError);
    const rolling = {
      ...d,
      status: 'baking' as const,
      updatedAt: 2000,
      state: deployState({
        status: 'baking',
        step: 1,
        since: 1500,
        lastGate: { decision: 'continue', explanation: 'all metrics within tolerance' },
      }),
    };
    await store.saveDeploy(rolling, { deployId: 'd1', time: 2000, type: 'gate', status: 'baking', data: { step: 1 } });
    assert.deepEqual(await store.getDeploy('d1'), rolling);
    assert.equal(await store.getDeploy('missing'), undefined);
  });

  it('saveDeploy upserts a deploy that was never created and appends events in order', async () => {
    const d = deploy('d9', 500);
    await store.saveDeploy(d, { deployId: 'd9', time: 500, type: 'start', status: 'testing' });
    await store.saveDeploy(
      { ...d, status: 'building' },
      { deployId: 'd9', time: 600, type: 'tests_passed', status: 'building', data: { passed: 12 } },
    );
    await store.saveDeploy({ ...d, status: 'rolling_out' }, { deployId: 'd9', time: 600, type: 'built', status: 'rolling_out' });
    assert.equal((await store.getDeploy('d9'))?.status, 'rolling_out');
    assert.deepEqual(await store.events('d9'), [
      { deployId: 'd9', time: 500, type: 'start', status: 'testing' },
      { deployId: 'd9', time: 600, type: 'tests_passed', status: 'building', data: { passed: 12 } },
      { deployId: 'd9', time: 600, type: 'built', status: 'rolling_out' },
    ]);
    assert.deepEqual(await store.events('other'), []);
  });

  it('writes the deploy and its event together or not at all', async () => {
    const d = deploy('d1', 1000);
    await store.createDeploy(d);
    // An event whose data cannot be serialized fails before anything is written.
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await assert.rejects(
      store.saveDeploy({ ...d, status: 'building' }, { deployId: 'd1', time: 2, type: 'x', status: 'building', data: cyclic }),
    );
    // A constraint failure inside the transaction rolls back the deploy row too.
    await assert.rejects(
      store.saveDeploy({ ...d, status: 'building' }, { deployId: 'd1', time: 2, type: null as unknown as string, status: 'building' }),
    );
    assert.equal((await store.getDeploy('d1'))?.status, 'queued');
    assert.deepEqual(await store.events('d1'), []);
  });

  it('lists deploys of a pipeline newest first, with limit and before', async () => {
    for (let i = 1; i <= 5; i++) await store.createDeploy(deploy(`d${i}`, i * 1000));
    await store.createDeploy({ ...deploy('x1', 9000), pipeline: 'other' });
    await store.createDeploy(deploy('d5b', 5000)); // same time as d5: later insert first
    assert.deepEqual(
      (await store.listDeploys('local')).map((d) => d.id),
      ['d5b', 'd5', 'd4', 'd3', 'd2', 'd1'],
    );
    assert.deepEqual(
      (await store.listDeploys('local', { limit: 2 })).map((d) => d.id),
      ['d5b', 'd5'],
    );
    assert.deepEqual(
      (await store.listDeploys('local', { before: 4000, limit: 10 })).map((d) => d.id),
      ['d3', 'd2', 'd1'],
    );
    assert.deepEqual(
      (await store.listDeploys('other')).map((d) => d.id),
      ['x1'],
    );
    assert.deepEqual(await store.listDeploys('none'), []);
  });

  it('keeps gate looks per deploy in order', async () => {
    await store.appendGateLook({
      deployId: 'd1',
      step: 0,
      time: 10,
      elapsedMs: 5000,
      decision: 'continue',
      explanation: 'baking',
      metrics: [{ name: 'error_rate', pValue: 0.5 }],
    });
    await store.appendGateLook({ deployId: 'd2', step: 0, time: 11, elapsedMs: 5000, decision: 'pass', explanation: 'ok', metrics: [] });
    await store.appendGateLook({
      deployId: 'd1',
      step: -1,
      time: 20,
      elapsedMs: 2500.5,
      decision: 'fail',
      explanation: 'error_rate +400%',
      metrics: { a: 1 },
    });
    const looks = await store.gateLooks('d1');
    assert.deepEqual(looks, [
      {
        deployId: 'd1',
        step: 0,
        time: 10,
        elapsedMs: 5000,
        decision: 'continue',
        explanation: 'baking',
        metrics: [{ name: 'error_rate', pValue: 0.5 }],
      },
      { deployId: 'd1', step: -1, time: 20, elapsedMs: 2500.5, decision: 'fail', explanation: 'error_rate +400%', metrics: { a: 1 } },
    ]);
  });
}

/** Defines the AuditStore cases; `open` gives a fresh, empty store for each case. */
export function auditStoreContract(open: () => Promise<Opened<AuditStore>>): void {
  let audit: AuditStore;
  let opened: Opened<AuditStore>;
  beforeEach(async () => {
    opened = await open();
    audit = opened.store;
  });
  afterEach(() => opened.close());

  it('lists entries newest first with ids, details and limit', async () => {
    await audit.append({ time: 1, actor: 'token:alice', action: 'block', target: 'line:local', reason: 'investigating' });
    await audit.append({
      time: 2,
      actor: 'token:bob',
      action: 'unblock',
      target: 'line:local',
      reason: 'fixed',
      details: { deploy: 'd2' },
    });
    await audit.append({ time: 3, actor: 'token:carol', action: 'close', target: 'experiment:banner', reason: 'won' });
    const all = await audit.list();
    assert.deepEqual(
      all.map((e) => [e.actor, e.action]),
      [
        ['token:carol', 'close'],
        ['token:bob', 'unblock'],
        ['token:alice', 'block'],
      ],
    );
    assert.deepEqual(all[1], {
      id: 2,
      time: 2,
      actor: 'token:bob',
      action: 'unblock',
      target: 'line:local',
      reason: 'fixed',
      details: { deploy: 'd2' },
    });
    assert.equal('details' in all[0]!, false);
    assert.deepEqual(
      (await audit.list({ limit: 1 })).map((e) => e.id),
      [3],
    );
    assert.deepEqual(
      (await audit.list({ target: 'line:local' })).map((e) => e.id),
      [2, 1],
    );
    assert.deepEqual(await audit.list({ target: 'nothing' }), []);
  });
}
