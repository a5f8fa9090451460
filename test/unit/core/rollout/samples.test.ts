import assert from 'node:assert/strict';
import { toSeries, unresponsive, type Tick } from '../../../../src/core/rollout/samples.js';

const spec = { name: 'err', kind: 'ratio' as const, bad: 'increase' as const, tolerance: 0.1 };
const tick = (time: number, s1: [number, number] | null, s2: [number, number] | null, ok2 = true): Tick => ({
  time,
  samples: [
    { server: 's1', ok: true, values: { err: s1 } },
    { server: 's2', ok: ok2, values: { err: s2 } },
  ],
});

describe('samples to series', () => {
  it('keeps interval i aligned across servers: a missing sample stays in place as null', () => {
    const ticks = [tick(1, [0, 10], [0, 10]), tick(2, [1, 10], null), tick(3, [0, 10], [2, 10], false), tick(4, [0, 9], [1, 8])];
    const [m] = toSeries([spec], ticks, { baseline: { servers: ['s1'], from: 1, to: 4 }, canary: { servers: ['s2'], from: 1, to: 4 } });
    assert.deepEqual(m!.baseline, [
      [
        [1, 10],
        [0, 10],
        [0, 9],
      ],
    ]);
    assert.deepEqual(m!.canary, [[null, null, [1, 8]]], 'no value and a failed scrape are both null, in their interval');
  });

  it('reads the first sample of a server in a tick, and a server absent from a tick as null', () => {
    const t: Tick = { time: 2, samples: [...tick(2, [1, 10], [2, 10]).samples, { server: 's1', ok: true, values: { err: [9, 10] } }] };
    const [m] = toSeries([spec], [t, tick(3, [3, 10], [4, 10])], {
      baseline: { servers: ['s1', 's3'], from: 1, to: 3 },
      canary: { servers: ['s2'], from: 1, to: 3 },
    });
    assert.deepEqual(m!.baseline, [
      [
        [1, 10],
        [3, 10],
      ],
      [null, null],
    ]);
  });

  it("adds every server's own samples from the history window as `before`, in the same rows", () => {
    const ticks = [tick(1, [1, 10], [5, 10]), tick(2, [2, 10], [6, 10]), tick(3, [3, 10], [7, 10]), tick(4, [4, 10], [8, 10])];
    const [m] = toSeries(
      [spec],
      ticks,
      { baseline: { servers: ['s1'], from: 2, to: 4 }, canary: { servers: ['s2'], from: 2, to: 4 } },
      { from: 0, to: 2 },
    );
    assert.deepEqual(m!.before, {
      baseline: [
        [
          [1, 10],
          [2, 10],
        ],
      ],
      canary: [
        [
          [5, 10],
          [6, 10],
        ],
      ],
    });
    assert.deepEqual(m!.canary, [
      [
        [7, 10],
        [8, 10],
      ],
    ]);
    const [none] = toSeries([spec], ticks, { baseline: { servers: ['s1'], from: 2, to: 4 }, canary: { servers: ['s2'], from: 2, to: 4 } });
    assert.equal(none!.before, undefined);
  });

  it('gives a metric with a warm-up (age-dependent) the fresh baseline rows too, now and before; the others only every server', () => {
    const three = (time: number, a: number, b: number, c: number): Tick => ({
      time,
      samples: [
        { server: 's1', ok: true, values: { err: [a, 10], cpu: a } },
        { server: 's2', ok: true, values: { err: [b, 10], cpu: b } },
        { server: 's3', ok: true, values: { err: [c, 10], cpu: c } },
      ],
    });
    const cpu = { name: 'cpu', kind: 'continuous' as const, bad: 'increase' as const, tolerance: 0.5, warmupMs: 1 };
    const ticks = [three(1, 1, 2, 3), three(2, 4, 5, 6), three(3, 7, 8, 9)];
    const sides = {
      baseline: { servers: ['s1', 's2'], from: 1, to: 3, fresh: ['s2', 'gone'] },
      canary: { servers: ['s3'], from: 1, to: 3 },
    };
    const [err, aged] = toSeries([spec, cpu], ticks, sides, { from: 0, to: 1 });
    assert.equal(err!.baseline.length, 2, 'every baseline server');
    assert.equal(err!.fresh, undefined, 'a metric without a warm-up has no fresh rows');
    assert.deepEqual(aged!.baseline, [
      [4, 7],
      [5, 8],
    ]);
    assert.deepEqual(aged!.fresh, [1], 'the row of the fresh server named in the side (s2)');
    assert.deepEqual(aged!.before, { baseline: [[1], [2]], canary: [[3]] });
    const [, noFresh] = toSeries([spec, cpu], ticks, { ...sides, baseline: { ...sides.baseline, fresh: ['gone'] } });
    assert.equal(noFresh!.fresh, undefined, 'no fresh server on the side: none');
  });

  it("pairs a count with its `per` metric's denominator as [count, exposure], null when either is missing", () => {
    const t = (time: number, checkouts: number | null, err: [number, number] | null): Tick => ({
      time,
      samples: [{ server: 's1', ok: true, values: { err, checkouts } }],
    });
    const ticks = [t(1, 7, [1, 70]), t(2, 9, null), t(3, null, [0, 80])];
    const counts = { name: 'checkouts', kind: 'count' as const, bad: 'decrease' as const, tolerance: 0.03 };
    const side = { servers: ['s1'], from: 0, to: 3 };
    const [per] = toSeries([{ ...counts, per: 'err' }], ticks, { baseline: side, canary: { ...side, servers: [] } });
    assert.deepEqual(per!.baseline, [[[7, 70], null, null]]);
    const [plain] = toSeries([counts], ticks, { baseline: side, canary: { ...side, servers: [] } });
    assert.deepEqual(plain!.baseline, [[7, 9, null]]);
  });

  it('calls a canary unresponsive only after consecutive failed scrapes since the step began', () => {
    const ticks = [tick(1, [0, 1], [0, 1]), tick(2, [0, 1], null, false), tick(3, [0, 1], null, false)];
    assert.deepEqual(unresponsive(ticks, ['s2'], 0), ['s2']);
    assert.deepEqual(unresponsive(ticks, ['s2'], 2), [], 'one failed scrape is not a lock-up');
    assert.deepEqual(unresponsive(ticks, ['s1'], 0), []);
  });

  it("leaves out a side's intervals on another release and within the warm-up after a server switched (the watch's start-up)", () => {
    const t = (time: number, since: number, release: string): Tick => ({
      time,
      samples: [{ server: 's1', ok: true, values: { err: [time, 100] }, release, since }],
    });
    const ticks = [t(1, 0, 'old'), t(11, 10, 'new'), t(20, 10, 'new'), t(30, 10, 'new'), t(40, 10, 'new')];
    const side = { servers: ['s1'], from: 0, to: 40, release: 'new', warmupMs: 15 };
    const [m] = toSeries([spec], ticks, { baseline: { servers: [], from: 0, to: 40 }, canary: side });
    assert.deepEqual(m!.canary, [[null, null, null, [30, 100], [40, 100]]], 'the old release and the first 15 ms on the new one are null');
    // A metric's own warm-up lengthens the side's, up to the side's cap; an unknown release counts only when trusted.
    const [slow] = toSeries([{ ...spec, warmupMs: 25 }], ticks, {
      baseline: { servers: [], from: 0, to: 40 },
      canary: { ...side, warmupCapMs: 100 },
    });
    assert.deepEqual(slow!.canary, [[null, null, null, null, [40, 100]]]);
    const [capped] = toSeries([{ ...spec, warmupMs: 25 }], ticks, {
      baseline: { servers: [], from: 0, to: 40 },
      canary: { ...side, warmupCapMs: 15 },
    });
    assert.deepEqual(capped!.canary, m!.canary, 'capped at the side');
    const unknown: Tick[] = [{ time: 5, samples: [{ server: 's1', ok: true, values: { err: [1, 100] } }] }];
    const one = (trustUnknown: boolean) =>
      toSeries([spec], unknown, { baseline: { servers: [], from: 0, to: 9 }, canary: { ...side, trustUnknown } })[0]!.canary;
    assert.deepEqual(one(true), [[[1, 100]]]);
    assert.deepEqual(one(false), [[null]]);
  });
});
