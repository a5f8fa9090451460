import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  estimateDurations,
  etaMs,
  makespan,
  makespanLowerBound,
  planRoundRobinByFile,
  planShards,
  planShardsByFile,
  planShardsHybrid,
  type EstimatedTest,
} from '../../../../src/core/tests/shard-plan.js';

const arbTests = fc
  .array(fc.record({ file: fc.integer({ min: 0, max: 6 }), ms: fc.integer({ min: 0, max: 10_000 }) }), { minLength: 0, maxLength: 80 })
  .map((xs) =>
    xs.map((x, i): EstimatedTest => ({ id: `f${x.file}::t${i}`, file: `f${x.file}`, title: `t${i}`, estimateMs: x.ms, known: true })),
  );

describe('core/tests/shard-plan', () => {
  it('puts every test in exactly one shard, never an empty shard, at most `slots` shards', () => {
    fc.assert(
      fc.property(arbTests, fc.integer({ min: 1, max: 12 }), (tests, slots) => {
        for (const plan of [planShards(tests, slots), planShardsByFile(tests, slots), planShardsHybrid(tests, slots)]) {
          const ids = plan.flatMap((s) => s.tests.map((t) => t.id));
          assert.deepEqual([...ids].sort(), tests.map((t) => t.id).sort());
          assert.ok(plan.length <= slots);
          for (const s of plan) {
            assert.ok(s.tests.length > 0);
            assert.equal(
              s.estimateMs,
              s.tests.reduce((a, t) => a + t.estimateMs, 0),
            );
          }
        }
      }),
    );
  });

  it('keeps the LPT makespan within total/k + (1 - 1/k) * longest, so within (2 - 1/k) of the lower bound', () => {
    fc.assert(
      fc.property(arbTests, fc.integer({ min: 1, max: 12 }), (tests, slots) => {
        const plan = planShards(tests, slots);
        const k = Math.min(slots, Math.max(1, tests.length));
        const d = tests.map((t) => t.estimateMs);
        const total = d.reduce((a, b) => a + b, 0);
        const longest = Math.max(0, ...d);
        assert.ok(
          makespan(plan) <= total / k + (1 - 1 / k) * longest + 1e-9,
          `makespan ${makespan(plan)} total ${total} longest ${longest} k ${k}`,
        );
        assert.ok(makespan(plan) <= (2 - 1 / k) * makespanLowerBound(d, k) + 1e-9);
      }),
    );
  });

  it("meets Graham's LPT bound (4/3 - 1/(3k)) * optimum, the optimum found by brute force on small suites", () => {
    const optimum = (d: number[], k: number): number => {
      let best = Infinity;
      const loads = new Array<number>(k).fill(0);
      const place = (i: number) => {
        if (i === d.length) return void (best = Math.min(best, Math.max(...loads)));
        for (let s = 0; s < k; s++) {
          loads[s]! += d[i]!;
          if (loads[s]! < best) place(i + 1);
          loads[s]! -= d[i]!;
          if (loads[s] === 0) break; // empty shards are interchangeable
        }
      };
      place(0);
      return best;
    };
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 2, max: 3 }), (d, k) => {
        const tests = d.map((ms, i): EstimatedTest => ({ id: `f::${i}`, file: 'f', title: String(i), estimateMs: ms, known: true }));
        const opt = optimum(d, Math.min(k, d.length));
        const kk = Math.min(k, d.length);
        assert.ok(makespan(planShards(tests, k)) <= (4 / 3 - 1 / (3 * kk)) * opt + 1e-9, `${makespan(planShards(tests, k))} vs opt ${opt}`);
      }),
    );
  });

  it('keeps short files whole and splits long ones, within total/k + max(total/2k, longest) of the bound', () => {
    fc.assert(
      fc.property(arbTests, fc.integer({ min: 1, max: 12 }), (tests, slots) => {
        const plan = planShardsHybrid(tests, slots);
        const total = tests.reduce((a, t) => a + t.estimateMs, 0);
        const longest = Math.max(0, ...tests.map((t) => t.estimateMs));
        assert.ok(makespan(plan) <= total / slots + Math.max(total / (2 * slots), longest) + 1e-9);
      }),
    );
    const t = (file: string, i: number, ms: number): EstimatedTest => ({
      id: `${file}::${i}`,
      file,
      title: String(i),
      estimateMs: ms,
      known: true,
    });
    const tests = [t('big', 0, 300), t('big', 1, 300), t('big', 2, 300), t('s1', 3, 50), t('s1', 4, 50), t('s2', 5, 100), t('s3', 6, 100)];
    const plan = planShardsHybrid(tests, 2);
    const filesPer = (f: string) => plan.filter((sh) => sh.tests.some((x) => x.file === f)).length;
    assert.equal(filesPer('big'), 2);
    assert.deepEqual([filesPer('s1'), filesPer('s2'), filesPer('s3')], [1, 1, 1]);
    assert.deepEqual(plan.map((sh) => sh.estimateMs).sort(), [600, 600]);
  });

  it('orders each shard fastest file first and keeps discovery order inside a file', () => {
    const t = (file: string, i: number, ms: number): EstimatedTest => ({
      id: `${file}::${i}`,
      file,
      title: String(i),
      estimateMs: ms,
      known: true,
    });
    const [shard] = planShards([t('slow', 0, 500), t('slow', 1, 10), t('fast', 2, 5), t('fast', 3, 1)], 1);
    assert.deepEqual(
      shard!.tests.map((x) => x.id),
      ['fast::2', 'fast::3', 'slow::0', 'slow::1'],
    );
  });

  it('beats round-robin by file on a heavy-tailed suite', () => {
    const tests: EstimatedTest[] = [];
    for (let f = 0; f < 8; f++)
      for (let i = 0; i < 10; i++)
        tests.push({ id: `${f}:${i}`, file: `f${f}`, title: `${i}`, estimateMs: f === 0 ? 1000 : 10, known: true });
    assert.ok(makespan(planShards(tests, 4)) < makespan(planRoundRobinByFile(tests, 4)));
    assert.equal(makespan(planShards(tests, 4)), 3000);
    assert.equal(makespan(planRoundRobinByFile(tests, 4)), 10_100);
  });

  it('estimates unknown tests from their file, then from the whole suite, then the fallback', () => {
    const tests = [
      { id: 'a::1', file: 'a', title: '1' },
      { id: 'a::2', file: 'a', title: '2' },
      { id: 'b::1', file: 'b', title: '1' },
      { id: 'b::2', file: 'b', title: '2' },
    ];
    const est = estimateDurations(
      tests,
      new Map([
        ['a::1', 40],
        ['b::1', 100],
      ]),
    );
    assert.deepEqual(
      est.map((e) => [e.estimateMs, e.known]),
      [
        [40, true],
        [40, false],
        [100, true],
        [100, false],
      ],
    );
    assert.deepEqual(
      estimateDurations(
        [tests[0]!, tests[2]!, { id: 'c', file: 'c', title: 'c' }],
        new Map([
          ['a::1', 40],
          ['b::1', 100],
        ]),
      ).map((e) => e.estimateMs),
      [40, 100, 70],
    );
    assert.deepEqual(
      estimateDurations([{ id: 'c', file: 'c', title: 'c' }], new Map(), 123).map((e) => e.estimateMs),
      [123],
    );
  });

  it('computes the ETA from unfinished shards', () => {
    assert.equal(
      etaMs(
        [
          { estimateMs: 1000, startedAt: 0, done: false },
          { estimateMs: 500, done: false },
          { estimateMs: 9000, done: true },
        ],
        200,
      ),
      800,
    );
    assert.equal(etaMs([{ estimateMs: 100, startedAt: 0, done: false }], 5000), 0);
  });
});
