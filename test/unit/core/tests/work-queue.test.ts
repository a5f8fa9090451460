import assert from 'node:assert/strict';
import fc from 'fast-check';
import { makespanLowerBound, type EstimatedTest } from '../../../../src/core/tests/shard-plan.js';
import {
  dispatchOrder,
  loadCosts,
  medianFileMs,
  planUnits,
  planUnitsFromHistory,
  queueMakespan,
  remainder,
  suiteFromHistory,
  type Selection,
  type WorkUnit,
} from '../../../../src/core/tests/work-queue.js';

const arbTests = fc
  .array(fc.record({ file: fc.integer({ min: 0, max: 6 }), ms: fc.integer({ min: 0, max: 10_000 }) }), { minLength: 0, maxLength: 80 })
  .map((xs) =>
    xs.map((x, i): EstimatedTest => ({ id: `f${x.file}::t${i}`, file: `f${x.file}`, title: `t${i}`, estimateMs: x.ms, known: true })),
  );

const t = (file: string, title: string, ms: number): EstimatedTest => ({
  id: `${file}::${title}`,
  file,
  title,
  estimateMs: ms,
  known: true,
});

describe('core/tests/work-queue', () => {
  it('puts every test in exactly one unit of its own file, in source order, and each unit pays its file load', () => {
    fc.assert(
      fc.property(arbTests, fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 500 }), (tests, slots, load) => {
        const loads = new Map([...new Set(tests.map((x) => x.file))].map((f) => [f, load]));
        const units = planUnits(tests, slots, loads);
        assert.deepEqual(units.flatMap((u) => u.tests.map((x) => x.id)).sort(), tests.map((x) => x.id).sort());
        const pos = new Map(tests.map((x, i) => [x.id, i]));
        for (const u of units) {
          assert.ok(u.tests.length > 0);
          assert.ok(u.tests.every((x) => x.file === u.file));
          assert.ok(u.tests.every((x, i) => i === 0 || pos.get(u.tests[i - 1]!.id)! < pos.get(x.id)!));
          assert.equal(u.estimateMs, u.tests.reduce((a, x) => a + x.estimateMs, 0) + load);
        }
        assert.deepEqual(
          dispatchOrder(units, slots)
            .map((u) => u.id)
            .sort(),
          units.map((u) => u.id).sort(),
        );
      }),
    );
  });

  it('keeps short files whole and cuts a long one into groups of at most an eighth of a fair share (a longer test alone)', () => {
    const tests = [
      t('a', 'x', 10),
      t('a', 'y', 20),
      ...Array.from({ length: 6 }, (_, i) => t('big', `b${i}`, i === 3 ? 3000 : 500)),
      t('c', 'z', 5),
    ];
    // total 6035, 2 slots: a fair share 3017, half 1509, an eighth 377.
    const units = planUnits(tests, 2);
    assert.deepEqual(
      units.map((u) => [u.id, u.tests.map((x) => x.title), u.split]),
      [
        ['a', ['x', 'y'], false],
        ['big#0', ['b0'], true],
        ['big#1', ['b1'], true],
        ['big#2', ['b2'], true],
        ['big#3', ['b3'], true],
        ['big#4', ['b4'], true],
        ['big#5', ['b5'], true],
        ['c', ['z'], false],
      ],
    );
    // One slot: nothing to balance, so nothing is cut (every cut costs a load).
    assert.deepEqual(
      planUnits(tests, 1).map((u) => u.id),
      ['a', 'big', 'c'],
    );
  });

  it('hands out the quickest unit per slot first, then longest first', () => {
    const u = (id: string, ms: number): WorkUnit => ({
      id,
      file: id,
      tests: [t(id, id, ms)],
      select: { only: [id] },
      estimateMs: ms,
      split: false,
    });
    const units = [u('m', 300), u('q1', 5), u('l', 900), u('q2', 7), u('m2', 300), u('s', 60)];
    assert.deepEqual(
      dispatchOrder(units, 2).map((x) => x.id),
      ['q1', 'q2', 'l', 'm', 'm2', 's'],
    );
    // Up to 2% of the work also goes first (here q1 and q2 are 12 ms of 1572).
    assert.deepEqual(
      dispatchOrder(units, 1, 0.02).map((x) => x.id),
      ['q1', 'q2', 'l', 'm', 'm2', 's'],
    );
    assert.deepEqual(
      dispatchOrder(units, 1, 0).map((x) => x.id),
      ['q1', 'l', 'm', 'm2', 's', 'q2'],
    );
    // Units holding a test that failed in its latest run go before all of them, quickest first.
    assert.deepEqual(
      dispatchOrder(units, 2, 0.02, new Set(['m2::m2', 'l::l', 'gone::x'])).map((x) => x.id),
      ['m2', 'l', 'q1', 'm', 's', 'q2'],
    );
    // (They took both slots' first turn, so only what fits in 2% of the rest goes ahead of the longest.)
    // Fewer units than slots: simply longest first.
    assert.deepEqual(
      dispatchOrder([u('a', 1), u('b', 2)], 4).map((x) => x.id),
      ['b', 'a'],
    );
  });

  it('simulates the queue as a list schedule: LPT order stays within 4/3 of the optimal makespan, plus the quick units', () => {
    // Graham's LPT bound is against the optimum, not a lower bound of it ([5978,1,1,9950,9950,1,9950] on
    // 3 slots: the optimum 15,928 is above 4/3 of the lower bound 11,944): the optimum is found exactly.
    const optimum = (ms: number[], k: number): number => {
      const jobs = [...ms].sort((a, b) => b - a);
      const loads = new Array<number>(k).fill(0);
      let best = jobs.reduce((a, b) => a + b, 0);
      const place = (i: number, span: number): void => {
        if (span >= best) return;
        if (i === jobs.length) {
          best = span;
          return;
        }
        const seen = new Set<number>();
        for (let m = 0; m < k; m++) {
          if (seen.has(loads[m]!)) continue;
          seen.add(loads[m]!);
          loads[m]! += jobs[i]!;
          place(i + 1, Math.max(span, loads[m]!));
          loads[m]! -= jobs[i]!;
        }
      };
      place(0, 0);
      return best;
    };
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 10_000 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 8 }),
        (ms, k) => {
          const units = ms.map((x, i): WorkUnit => ({
            id: `u${i}`,
            file: `u${i}`,
            tests: [],
            select: { except: [] },
            estimateMs: x,
            split: false,
          }));
          const order = dispatchOrder(units, k, 0);
          const span = queueMakespan(
            order.map((x) => x.estimateMs),
            k,
          );
          const lb = makespanLowerBound(ms, k);
          const opt = optimum(ms, k);
          const quick = order.slice(0, k).reduce((s, x) => s + x.estimateMs, 0);
          assert.ok(span >= Math.floor(lb));
          assert.ok(opt >= Math.floor(lb), `the lower bound ${lb} is below the optimum ${opt}`);
          assert.ok(span <= (4 / 3) * opt + quick + 1, `${span} vs the optimum ${opt}`);
        },
      ),
      { examples: [[[5978, 1, 1, 9950, 9950, 1, 9950], 3]], numRuns: 300 },
    );
  });

  it('counts busy slots in the estimate of when the queue ends', () => {
    assert.equal(queueMakespan([100, 100], 2), 100);
    assert.equal(queueMakespan([100, 100], 2, [250]), 250);
    assert.equal(queueMakespan([100], 2, [50, 30]), 130);
    assert.equal(queueMakespan([], 2, [-5]), 0);
  });

  it('estimates unknown file loads as the median of the known ones, else 0', () => {
    assert.deepEqual(
      [
        ...loadCosts(
          ['a', 'b', 'c', 'd'],
          new Map([
            ['a', 10],
            ['b', 30],
            ['c', 50],
          ]),
        ),
      ],
      [
        ['a', 10],
        ['b', 30],
        ['c', 50],
        ['d', 30],
      ],
    );
    assert.deepEqual([...loadCosts(['a'], new Map())], [['a', 0]]);
  });

  /** Which of `titles` (a file's tests now) a selection runs. */
  const runs = (select: Selection, titles: string[]) =>
    titles.filter((x) => ('only' in select ? select.only.includes(x) : !select.except.includes(x)));

  it('plans open units from history: whole files name no test, and the last group of a split file takes every test the others do not name', () => {
    fc.assert(
      fc.property(
        arbTests,
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 4 }),
        (tests, slots, added) => {
          const units = planUnits(tests, slots, new Map(), true);
          // The tests of each file now: those history knows plus some it does not (added since).
          for (const file of new Set(tests.map((x) => x.file))) {
            const now = [...tests.filter((x) => x.file === file).map((x) => x.title), ...added.map((a) => `new ${a}`)];
            const ran = units.filter((u) => u.file === file).flatMap((u) => runs(u.select, now));
            assert.deepEqual([...ran].sort(), [...now].sort(), 'every test of the file runs exactly once');
          }
          for (const u of units) if (!u.split) assert.deepEqual(u.select, { except: [] });
        },
      ),
    );
    const tests = [t('a', 'x', 10), ...Array.from({ length: 4 }, (_, i) => t('big', `b${i}`, 1000)), t('c', 'z', 5)];
    assert.deepEqual(
      planUnits(tests, 2, new Map(), true).map((u) => [u.id, u.select]),
      [
        ['a', { except: [] }],
        ['big#0', { only: ['b0'] }],
        ['big#1', { only: ['b1'] }],
        ['big#2', { only: ['b2'] }],
        ['big#3', { except: ['b0', 'b1', 'b2'] }],
        ['c', { except: [] }],
      ],
    );
  });

  it('plans from history over the spec files there are now: unknown files whole at the median file estimate, files gone left out', () => {
    const known = [t('a', 'x', 100), t('a', 'y', 100), t('b', 'z', 50), t('gone', 'w', 70), t('c', 'v', 400)];
    assert.equal(medianFileMs(known), 135); // files of 50, 70, 200 and 400 ms
    const units = planUnitsFromHistory(['a', 'b', 'c', 'new'], known, 1, new Map([['new', 15]]), medianFileMs(known));
    assert.deepEqual(
      units.map((u) => [u.id, u.select, u.estimateMs]),
      [
        ['a', { except: [] }, 200],
        ['b', { except: [] }, 50],
        ['c', { except: [] }, 400],
        ['new', { except: [] }, 150],
      ],
    );
    assert.equal(medianFileMs([]), 0);
  });

  it('leaves, after a unit stopped, what it did not report: by name, or open beyond everything named and reported', () => {
    const unit = (select: Selection): WorkUnit => ({
      id: 'f',
      file: 'f',
      tests: [t('f', 'a', 1), t('f', 'b', 2), t('f', 'c', 3)],
      select,
      estimateMs: 6,
      split: true,
    });
    assert.deepEqual(remainder(unit({ only: ['a', 'b', 'c'] }), new Set(['a', 'hung'])), {
      tests: [t('f', 'b', 2), t('f', 'c', 3)],
      select: { only: ['b', 'c'] },
    });
    const open = remainder(unit({ except: ['z'] }), new Set(['a', 'hung']));
    assert.deepEqual(open, { tests: [t('f', 'b', 2), t('f', 'c', 3)], select: { except: ['z', 'a', 'hung'] } });
    assert.deepEqual(runs(open.select, ['a', 'b', 'hung', 'c', 'new', 'z']), ['b', 'c', 'new']);
  });

  it("takes the suite from history as each file's tests seen within the window of its latest run", () => {
    const day = 86_400_000;
    const row = (file: string, title: string, lastSeen: number) => ({ id: `${file}::${title}`, file, title, lastSeen });
    const suite = suiteFromHistory(
      [
        row('a', 'now', 10 * day),
        row('a', 'earlier today', 10 * day - 3_600_000),
        row('a', 'removed long ago', 2 * day),
        row('b', 'old file still there', 3 * day),
        row('', 'quarantined by hand', 0),
        row('c', 'never run', 0),
      ],
      day,
    );
    assert.deepEqual(
      suite?.map((x) => x.id),
      ['a::now', 'a::earlier today', 'b::old file still there'],
    );
    assert.equal(suiteFromHistory([row('', 'q', 0)], day), undefined);
    assert.equal(suiteFromHistory([], day), undefined);
  });
});
