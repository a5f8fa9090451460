// The SQLite experiment store keeps its counts as events arrive; they must equal a recount from
// scratch whatever order exposures and conversions arrive in, and phases, closings and windows hold.
import assert from 'node:assert/strict';
import { openDb, type Db } from '../../src/adapters/store/sqlite/db.js';
import { SqliteExperimentStore } from '../../src/adapters/store/sqlite/experiments.js';
import type { ConversionEvent, ExposureEvent, PhaseTally } from '../../src/core/experiments/types.js';
import { createRandom } from '../../src/sim/random.js';

const phase = (experiment: string, n: number, startedAt = 0) => ({
  experiment,
  phase: n,
  groupId: `${experiment}.phase${n}`,
  fingerprint: `f${n}`,
  weights: [
    { name: 'control', weight: 500 },
    { name: 'B', weight: 500 },
  ],
  startedAt,
});

/** The readout's definition, computed directly from the events. */
function recount(exposures: ExposureEvent[], conversions: ConversionEvent[], goals: string[]): PhaseTally {
  const seen = new Map<string, { branches: Set<string>; time: number }>();
  for (const e of exposures) {
    const s = seen.get(e.userId) ?? { branches: new Set<string>(), time: e.time };
    s.branches.add(e.branch);
    s.time = Math.min(s.time, e.time);
    seen.set(e.userId, s);
  }
  const ids = new Set<string>();
  const unique = conversions.filter((c) => !c.id || (!ids.has(c.id) && ids.add(c.id)));
  const branches = new Map<string, PhaseTally['branches'][number]>();
  let excluded = 0;
  for (const [user, s] of seen) {
    if (s.branches.size > 1) {
      excluded++;
      continue;
    }
    const name = [...s.branches][0]!;
    const b = branches.get(name) ?? { branch: name, users: 0, goals: Object.fromEntries(goals.map((g) => [g, { users: 0, value: 0 }])) };
    branches.set(name, b);
    b.users++;
    for (const g of goals) {
      const mine = unique.filter((c) => c.userId === user && c.goal === g && c.time >= s.time);
      if (mine.length) {
        b.goals[g]!.users++;
        b.goals[g]!.value += mine.reduce((v, c) => v + (c.value ?? 0), 0);
      }
    }
  }
  return { excluded, branches: [...branches.values()].sort((a, b) => a.branch.localeCompare(b.branch)) };
}

const sorted = (t: PhaseTally): PhaseTally => ({
  excluded: t.excluded,
  branches: [...t.branches].sort((a, b) => a.branch.localeCompare(b.branch)),
});

describe('SQLite experiment store', () => {
  let db: Db;
  let store: SqliteExperimentStore;
  beforeEach(() => {
    db = openDb(':memory:');
    store = new SqliteExperimentStore(db);
  });
  afterEach(() => db.close());

  it('keeps counts equal to a recount whatever order events arrive in (20 seeded shuffles)', async () => {
    for (let trial = 0; trial < 20; trial++) {
      db.close();
      db = openDb(':memory:');
      store = new SqliteExperimentStore(db);
      await store.startPhase(phase('E', 1));
      const r = createRandom(100 + trial);
      const exposures: ExposureEvent[] = [];
      const conversions: ConversionEvent[] = [];
      for (let u = 0; u < 150; u++) {
        const userId = `u${u}`;
        const time = 100 + r.int(100);
        const branch = r.next() < 0.5 ? 'control' : 'B';
        exposures.push({ experiment: 'E', phase: 1, branch, userId, time });
        if (r.next() < 0.3) exposures.push({ experiment: 'E', phase: 1, branch, userId, time }); // another SDK instance
        if (r.next() < 0.05)
          exposures.push({ experiment: 'E', phase: 1, branch: branch === 'B' ? 'control' : 'B', userId, time: time + r.int(50) });
        for (let k = r.int(4); k > 0; k--) {
          const c: ConversionEvent = {
            userId,
            goal: r.next() < 0.7 ? 'checkout' : 'error_rate',
            value: 1 + r.int(10),
            time: 50 + r.int(250),
            id: `c-${u}-${k}`,
          };
          conversions.push(c);
          if (r.next() < 0.2) conversions.push({ ...c }); // a retried delivery
        }
      }
      const all: (['x', ExposureEvent] | ['c', ConversionEvent])[] = [
        ...exposures.map((e) => ['x', e] as ['x', ExposureEvent]),
        ...conversions.map((c) => ['c', c] as ['c', ConversionEvent]),
      ];
      for (let i = all.length - 1; i > 0; i--) {
        const j = r.int(i + 1);
        [all[i], all[j]] = [all[j]!, all[i]!];
      }
      for (let i = 0; i < all.length;) {
        const n = 1 + r.int(20);
        const batch = all.slice(i, i + n);
        i += n;
        await store.recordExposures(batch.filter((b) => b[0] === 'x').map((b) => b[1] as ExposureEvent));
        await store.recordConversions(batch.filter((b) => b[0] === 'c').map((b) => b[1] as ConversionEvent));
      }
      const goals = ['checkout', 'error_rate'];
      assert.deepEqual(sorted(await store.tally('E', 1, goals)), recount(exposures, conversions, goals), `trial ${trial}`);
    }
  });

  it('counts conversions only inside the phase and before the closing', async () => {
    await store.startPhase(phase('E', 1, 0));
    await store.recordExposures([
      { experiment: 'E', phase: 1, branch: 'B', userId: 'a', time: 10 },
      { experiment: 'E', phase: 1, branch: 'B', userId: 'b', time: 10 },
    ]);
    await store.startPhase(phase('E', 2, 100));
    await store.recordExposures([{ experiment: 'E', phase: 2, branch: 'control', userId: 'a', time: 110 }]);
    await store.recordConversions([
      { userId: 'a', goal: 'g', time: 50 },
      { userId: 'b', goal: 'g', time: 150 },
    ]);
    const p1 = await store.tally('E', 1, ['g']);
    assert.deepEqual(p1.branches, [{ branch: 'B', users: 2, goals: { g: { users: 1, value: 0 } } }], 'b converted after phase 1 ended');
    await store.close({ experiment: 'E', branch: 'B', reason: 'r', actor: 'x', time: 200 });
    await store.recordConversions([
      { userId: 'a', goal: 'g', time: 150 },
      { userId: 'a', goal: 'h', time: 250 },
    ]);
    const p2 = await store.tally('E', 2, ['g', 'h']);
    assert.deepEqual(p2.branches, [{ branch: 'control', users: 1, goals: { g: { users: 1, value: 0 }, h: { users: 0, value: 0 } } }]);
    await assert.rejects(store.close({ experiment: 'E', branch: 'B', reason: 'again', actor: 'x', time: 300 }), /already closed/);
    assert.equal((await store.closing('E'))?.reason, 'r');
    assert.deepEqual(
      (await store.phases('E')).map((p) => [p.phase, p.endedAt]),
      [
        [1, 100],
        [2, undefined],
      ],
    );
  });
});
