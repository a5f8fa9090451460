// The queued notifier over a fake sender: routing, dedup by id, order per target, retries with
// backoff, dead letters, rate limit, a full queue, and a restart over the same SQLite file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createMemoryOutbox } from '../../../../src/adapters/notify/memory-outbox.js';
import { backoffMs, createQueuedNotifier, type Target } from '../../../../src/adapters/notify/notifier.js';
import { DeliveryError, type Sender } from '../../../../src/adapters/notify/sender.js';
import { openSqliteStore } from '../../../../src/adapters/store/sqlite/index.js';
import { DELIVERY_DEFAULTS, type NotifyConfig } from '../../../../src/core/config/notify.js';
import type { Notification, NotificationOutbox } from '../../../../src/ports.js';

const log = pino({ level: 'silent' });
const fast = { ...DELIVERY_DEFAULTS, backoff: 10, max_backoff: 40, timeout: 1000 };

function fakeSender(answers: (n: Notification) => Promise<string> | string = () => '202'): Sender & { got: Notification[] } {
  const got: Notification[] = [];
  return {
    type: 'fake',
    got,
    async send(n) {
      const r = await answers(n);
      got.push(n);
      return r;
    },
  };
}

const cfg = (routes: Record<string, string[]>): NotifyConfig => ({ targets: {}, routes }) as NotifyConfig;
const note = (kind: string, id?: string): Notification => ({ id, kind, pipeline: 'shop', title: `${kind} title`, body: 'why' });

describe('queued notifier', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'immune-notifier-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('routes by kind, returns before delivery, and delivers each event id once', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = fakeSender(async () => {
      await gate;
      return '200';
    });
    const n = createQueuedNotifier({
      config: cfg({ blocked: ['a'], '*': ['b'] }),
      targets: [
        { name: 'a', sender: slow, delivery: fast },
        { name: 'b', sender: fakeSender(), delivery: fast },
      ],
      outbox: createMemoryOutbox(),
      log,
    });
    n.start();
    const t0 = Date.now();
    await n.notify(note('blocked', 'd1:blocked:0'));
    await n.notify(note('blocked', 'd1:blocked:0')); // replayed: same id
    assert.ok(Date.now() - t0 < 200, 'notify waits for no receiver');
    release();
    await n.settled();
    assert.equal(slow.got.length, 1);
    const s = await n.status();
    assert.deepEqual(
      s.targets.map((t) => [t.target, t.delivered, t.pending, t.dead]),
      [
        ['a', 1, 0, 0],
        ['b', 1, 0, 0],
      ],
    );
    assert.match(await n.registry.metrics(), /immune_notifications_total\{target="a",outcome="duplicate"\} 1/);
    assert.match(await n.registry.metrics(), /immune_notification_delivery_seconds_count\{target="a"\} 1/);
    await n.stop();
  });

  it('retries with backoff until delivered, in order per target; gives up into the dead letters', async () => {
    let calls = 0;
    const flaky = fakeSender(() => {
      calls++;
      if (calls <= 3) throw new DeliveryError('503 Service Unavailable', { status: 503 });
      return '202';
    });
    const refusing = fakeSender(() => {
      throw new DeliveryError('503 Service Unavailable', { status: 503 });
    });
    const n = createQueuedNotifier({
      config: cfg({ '*': ['flaky', 'down'] }),
      targets: [
        { name: 'flaky', sender: flaky, delivery: fast },
        { name: 'down', sender: refusing, delivery: { ...fast, attempts: 3 } },
      ],
      outbox: createMemoryOutbox(),
      log,
    });
    n.start();
    await n.notify(note('blocked', 'e1'));
    await n.notify(note('unblocked', 'e2'));
    await new Promise((r) => setTimeout(r, 600));
    await n.settled();
    assert.equal(calls, 5, '3 refusals, then e1, then e2');
    assert.deepEqual(
      flaky.got.map((g) => g.id),
      ['e1', 'e2'],
      'a later event never overtakes an earlier one',
    );
    const s = await n.status();
    const down = s.targets.find((t) => t.target === 'down')!;
    assert.equal(down.dead, 2);
    assert.equal(down.summary, 'down: 2 failed, last 503 Service Unavailable');
    assert.equal(s.dead.filter((d) => d.target === 'down').length, 2);
    assert.ok(s.dead.every((d) => d.attempts === 3));
    await n.stop();
  });

  it('a refusal that cannot get better (400) is dead at once', async () => {
    const bad = fakeSender(() => {
      throw new DeliveryError('400 Bad Request', { status: 400, retry: false });
    });
    const n = createQueuedNotifier({
      config: cfg({ '*': ['x'] }),
      targets: [{ name: 'x', sender: bad, delivery: fast }],
      outbox: createMemoryOutbox(),
      log,
    });
    n.start();
    await n.notify(note('blocked', 'b1'));
    await n.settled();
    const s = await n.status();
    assert.equal(s.dead[0]?.attempts, 1);
    await n.stop();
  });

  it('rate-limits per target: a flapping gate does not flood the channel', async () => {
    const chat = fakeSender();
    const n = createQueuedNotifier({
      config: cfg({ '*': ['chat'] }),
      targets: [{ name: 'chat', sender: chat, delivery: { ...fast, rate_per_minute: 3 } }],
      outbox: createMemoryOutbox(),
      log,
    });
    n.start();
    for (let i = 0; i < 6; i++) await n.notify(note('deploy_failed', `f${i}`));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(chat.got.length, 3, 'three at once, the rest wait for the bucket (one every 20 s)');
    assert.equal((await n.status()).targets[0]!.pending, 3);
    await n.stop();
  });

  it('a full queue drops new items into the dead letters, counted', async () => {
    const never = fakeSender(() => new Promise<string>(() => undefined));
    const n = createQueuedNotifier({
      config: cfg({ '*': ['x'] }),
      targets: [{ name: 'x', sender: never, delivery: { ...fast, queue_max: 2, timeout: 60_000 } }],
      outbox: createMemoryOutbox(),
      log,
    });
    for (let i = 0; i < 4; i++) await n.notify(note('blocked', `q${i}`));
    const s = await n.status();
    assert.equal(s.targets[0]!.pending, 2);
    assert.equal(s.targets[0]!.dead, 2);
    assert.match(s.dead[0]!.lastError!, /queue full \(2 pending\)/);
    assert.match(await n.registry.metrics(), /immune_notifications_total\{target="x",outcome="dropped"\} 2/);
    await n.stop();
  });

  it('skips what a target does not take (accepts) and keeps the rest', async () => {
    const picky: Sender & { got: Notification[] } = { ...fakeSender(), accepts: (x) => x.kind === 'blocked' };
    const got: Notification[] = [];
    picky.send = async (x) => (got.push(x), '202');
    const n = createQueuedNotifier({
      config: cfg({ '*': ['p'] }),
      targets: [{ name: 'p', sender: picky, delivery: fast }],
      outbox: createMemoryOutbox(),
      log,
    });
    n.start();
    await n.notify(note('deploy_live', 'l1'));
    await n.notify(note('blocked', 'b1'));
    await n.settled();
    assert.deepEqual(
      got.map((g) => g.id),
      ['b1'],
    );
    await n.stop();
  });

  it('what is pending when the process stops is delivered once by the next one (SQLite outbox)', async () => {
    const file = join(dir, 'restart.db');
    let store = openSqliteStore(file);
    const down = fakeSender(() => {
      throw new DeliveryError('connect ECONNREFUSED');
    });
    let n = createQueuedNotifier({
      config: cfg({ '*': ['x'] }),
      targets: [{ name: 'x', sender: down, delivery: { ...fast, backoff: 5000, max_backoff: 5000 } }],
      outbox: store.notifications!,
      log,
    });
    n.start();
    await n.notify(note('blocked', 'r1'));
    await new Promise((r) => setTimeout(r, 100));
    await n.stop();
    await store.close();

    store = openSqliteStore(file);
    const outbox: NotificationOutbox = store.notifications!;
    const pending = await outbox.list({ state: 'pending' });
    assert.equal(pending.length, 1, JSON.stringify(pending, null, 1));
    assert.equal(pending[0]!.attempts, 1);
    assert.equal(pending[0]!.lastError, 'connect ECONNREFUSED');
    await outbox.retry(pending[0]!.id, Date.now()); // no-op for pending; the due time is what matters
    const up = fakeSender();
    // The next start honours the recorded backoff; make it due now for the test.
    n = createQueuedNotifier({
      config: cfg({ '*': ['x'] }),
      targets: [{ name: 'x', sender: up, delivery: fast }],
      outbox,
      log,
      now: () => Date.now() + 10_000,
    });
    n.start();
    await n.notify(note('blocked', 'r1')); // the same event told again after the restart: not twice
    await n.settled();
    assert.deepEqual(
      up.got.map((g) => g.id),
      ['r1'],
    );
    await n.stop();
    await store.close();
  });

  it('backoff doubles per attempt within ±20%, capped', () => {
    const d = { ...DELIVERY_DEFAULTS, backoff: 1000, max_backoff: 5000 };
    assert.equal(backoffMs(d, 1, 0.5), 1000);
    assert.equal(backoffMs(d, 2, 0.5), 2000);
    assert.equal(backoffMs(d, 3, 0), 3200);
    assert.equal(backoffMs(d, 10, 1), 6000);
  });
});

export type { Target };
