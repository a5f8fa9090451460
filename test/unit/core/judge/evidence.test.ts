// The evidence's words: units on every number, a zero baseline as counts and a one-sided bound,
// huge changes clamped, no data as no data, and the summary table of a deploy's looks.
import assert from 'node:assert/strict';
import { evidenceTable, evidenceWords, explainMetric, zeroBaselineBound, type EvidenceFacts } from '../../../../src/core/judge/evidence.js';
import { formatChange, formatDifference, formatInterval, formatP, formatValue, verdictLabel } from '../../../../src/core/format/words.js';
import { judgeFixed } from '../../../../src/core/judge/index.js';
import { grid, series } from './build.js';

const facts = (over: Partial<EvidenceFacts>): EvidenceFacts => ({
  name: 'm',
  kind: 'continuous',
  verdict: 'pass',
  bad: 'increase',
  tolerance: 0.1,
  pValue: 0.5,
  effect: 0.1,
  ci: [-0.05, 0.25],
  samples: { baseline: 54, canary: 6 },
  ...over,
});

describe('core/judge/evidence', () => {
  it('puts a unit on every value: %, ms, s, MB, GB, % CPU, per minute', () => {
    assert.equal(formatValue(0.0082, { kind: 'ratio' }), '0.82%');
    assert.equal(formatValue(0.000012, { kind: 'ratio' }), '0.0012%');
    assert.equal(formatValue(0, { kind: 'ratio' }), '0%');
    assert.equal(formatValue(0.412, { kind: 'continuous', unit: 'seconds' }), '412 ms');
    assert.equal(formatValue(2.5, { kind: 'continuous', unit: 'seconds' }), '2.5 s');
    assert.equal(formatValue(412, { kind: 'continuous', unit: 'milliseconds' }), '412 ms');
    assert.equal(formatValue(1.25e8, { kind: 'continuous', unit: 'bytes' }), '125 MB');
    assert.equal(formatValue(3.4e9, { kind: 'continuous', unit: 'bytes' }), '3.4 GB');
    assert.equal(formatValue(0.052, { kind: 'continuous', unit: 'cores' }), '5.2% CPU');
    assert.equal(formatValue(3.5, { kind: 'count', intervalMs: 2000 }), '105 per minute');
    assert.equal(formatValue(3.5, { kind: 'count' }), '3.5 per interval');
    // A count judged per request (`per:`) is a count per unit of exposure, whatever the interval.
    assert.equal(formatValue(0.0523, { kind: 'count', intervalMs: 2000, exposure: 'request' }), '0.0523 per request');
    assert.equal(formatValue(123456789, { kind: 'continuous' }), '123,000,000');
    assert.equal(formatDifference(0.0037, { kind: 'ratio' }), '+0.37 pp');
    assert.equal(formatDifference(-0.058, { kind: 'continuous', unit: 'seconds' }), '-58 ms');
  });

  it('reads a count judged per request as per request, in the explanation and the record', () => {
    // 20 baseline servers and 2 canaries, 6 intervals: about 50 checkouts in 1,000 requests each, the canary at 30% fewer.
    const cell = (s: number, t: number, rate: number): [number, number] => [
      Math.round(1000 * rate * (1 + 0.05 * Math.sin(s + 3 * t))),
      1000,
    ];
    const m = judgeFixed({
      alpha: 0.01,
      metrics: [
        series(
          'checkouts',
          'count',
          grid(18, 6, (s, t) => cell(s, t, 0.05)),
          grid(2, 6, (s, t) => cell(s, t, 0.035)),
          { bad: 'decrease', tolerance: 0.03, intervalMs: 5000, exposure: 'request' },
        ),
      ],
    }).metrics[0]!;
    assert.equal(m.exposure, 'request');
    assert.match(m.explanation, /\(0\.05\d* per request → 0\.035\d* per request; CI /, m.explanation);
    assert.doesNotMatch(m.explanation, /per minute|per interval/);
  });

  it('clamps relative changes a person cannot read: ×54, more than ×1,000, -100%, never ∞', () => {
    assert.equal(formatChange(0.14), '+14%');
    assert.equal(formatChange(0.046), '+4.6%');
    assert.equal(formatChange(-0.23), '-23%');
    assert.equal(formatChange(3.98), '+398%');
    assert.equal(formatChange(53), '×54');
    assert.equal(formatChange(5.3e8), 'more than ×1,000');
    assert.equal(formatChange(Infinity), 'more than ×1,000');
    assert.equal(formatChange(-1), '-100%');
    assert.equal(formatChange(NaN), 'n/a');
    assert.equal(formatInterval(0.046, 0.23), '+4.6% to +23%');
    assert.equal(formatInterval(0.046, Infinity), 'at least +4.6%');
    assert.equal(formatInterval(0.046, Number.MAX_VALUE), 'at least +4.6%');
    assert.equal(formatInterval(-Infinity, -0.03), 'at most -3%');
    assert.equal(formatInterval(-1, 0.5), '-100% to +50%');
    assert.equal(formatInterval(-1, 5e8), 'unbounded (too little data)');
    assert.equal(formatInterval(-Infinity, Infinity), 'unbounded (too little data)');
    assert.equal(formatP(5.2e-7), 'p<0.0001');
    assert.equal(formatP(0.0031), 'p=0.0031');
    assert.equal(formatP(1), 'p=1');
  });

  it('says a baseline without events with the counts and a one-sided bound on the increase', () => {
    const f = facts({
      name: 'error_rate',
      kind: 'ratio',
      verdict: 'fail',
      effect: 270,
      ci: [4.3, 1.3e4],
      pValue: 0.02,
      events: { canary: { x: 16, n: 1957 }, baseline: { x: 0, n: 14506 } },
    });
    // 16/1957 = 0.818%; the ratio is at least 5.3, so the increase is at least 0.818% × (1 - 1/5.3) = 0.66 pp.
    assert.equal(zeroBaselineBound(f)!.toFixed(5), ((16 / 1957) * (1 - 1 / 5.3)).toFixed(5));
    assert.equal(
      explainMetric(f),
      'error_rate 0% → 0.82% (16 of 1,957 on the canary vs 0 of 14,506 on the baseline: at least +0.66 pp), p=0.02: regression beyond 10% tolerance',
    );
    // A failed metric's ratio is beyond 1 + tolerance even when the interval's lower end is not.
    const weak = { ...f, ci: [-0.2, 40] as [number, number] };
    // 0.818% × (1 - 1/1.1) = 0.074 pp.
    assert.equal(evidenceWords(weak).interval, 'at least +0.074 pp');
    assert.equal(evidenceWords({ ...weak, verdict: 'pass' }).interval, 'could be no change');
    const none = facts({ kind: 'ratio', effect: 0, events: { canary: { x: 0, n: 500 }, baseline: { x: 0, n: 5000 } } });
    assert.equal(evidenceWords(none).levels, '0% → 0%, no events on either side');
  });

  it('gives the levels baseline → canary with units, and the pp difference for shares', () => {
    assert.equal(
      explainMetric(
        facts({
          name: 'latency_p99',
          unit: 'seconds',
          verdict: 'fail',
          effect: 0.14,
          ci: [0.046, 0.23],
          pValue: 0.0031,
          baselineEstimate: 0.412,
          canaryEstimate: 0.47,
        }),
      ),
      'latency_p99 +14% (412 ms → 470 ms; CI +4.6% to +23%), p=0.0031: regression beyond 10% tolerance',
    );
    assert.equal(
      explainMetric(
        facts({
          name: 'error_rate',
          kind: 'ratio',
          effect: 0.5,
          ci: [0.1, 1.2],
          baselineEstimate: 0.01,
          canaryEstimate: 0.015,
          events: { canary: { x: 15, n: 1000 }, baseline: { x: 90, n: 9000 } },
        }),
      ),
      'error_rate +50% (1% → 1.5%, +0.5 pp; CI +10% to +120%), p=0.5: no regression beyond 10%',
    );
    assert.equal(
      explainMetric(
        facts({ name: 'memory trend', trend: true, effect: 0.66, ci: [0.47, 0.85], tolerance: 0.25, verdict: 'fail', pValue: 5.2e-7 }),
      ),
      'memory trend +66% projected (CI +47% to +85%), p<0.0001: regression beyond 25% tolerance',
    );
  });

  it('shows no data as no data, never as pass', () => {
    const f = facts({ name: 'memory trend', trend: true, verdict: 'pass', samples: { baseline: 0, canary: 0 }, effect: 0, ci: [0, 0] });
    assert.equal(verdictLabel(f), 'no data');
    assert.equal(explainMetric(f), 'memory trend: no data (0 canary, 0 baseline)');
    assert.equal(verdictLabel({ ...f, samples: { baseline: 40, canary: 0 } }), 'no data');
    assert.equal(verdictLabel({ ...f, samples: { baseline: 40, canary: 4 } }), 'pass');
    // A trend with samples but too few servers for its test passes (it never holds a pass back): it reads as not tested.
    const untested = {
      ...f,
      samples: { baseline: 116, canary: 24 },
      shortage: 'needs 3+ servers with 4+ samples since the deploy (has 0)',
      ci: [-Infinity, Infinity] as [number, number],
    };
    assert.equal(verdictLabel(untested), 'too little data');
    assert.equal(
      explainMetric(untested),
      'memory trend 0% projected (CI unbounded (too little data)), p=0.5: not tested, too little data: needs 3+ servers with 4+ samples since the deploy (has 0)',
    );
    assert.equal(verdictLabel({ verdict: 'inconclusive', samples: { baseline: 40, canary: 4 } }, 'continue'), 'baking');
    assert.equal(verdictLabel({ verdict: 'inconclusive', samples: { baseline: 40, canary: 4 } }, 'inconclusive'), 'inconclusive');
    const short = judgeFixed({
      alpha: 0.01,
      metrics: [
        series(
          'latency_p99',
          'continuous',
          grid(4, 5, () => 0.2),
          [],
          { unit: 'seconds' },
        ),
      ],
    }).metrics[0]!;
    assert.equal(
      short.explanation,
      'latency_p99: no data (0 canary, 20 baseline): too little data: needs 3+ samples per side (canary 0, baseline 20)',
    );
  });

  it("builds the summary table from each step's last look, steps in order and the watch last", () => {
    const m = (name: string, verdict: string, effect: number) => ({
      name,
      verdict,
      pValue: 0.3,
      effect,
      ci: [effect - 0.1, effect + 0.1],
      samples: { baseline: 20, canary: 4 },
      kind: 'continuous',
      unit: 'seconds',
      baselineEstimate: 0.2,
      canaryEstimate: 0.2 * (1 + effect),
      explanation: 'old words',
    });
    const t = evidenceTable(
      [
        { step: -1, elapsedMs: 9000, decision: 'pass', explanation: 'watch ok', metrics: [m('latency', 'pass', 0.01)] },
        {
          step: 1,
          elapsedMs: 4000,
          decision: 'continue',
          explanation: 'baking',
          metrics: [m('latency', 'inconclusive', 0.02), m('cpu', 'inconclusive', 0)],
        },
        { step: 0, elapsedMs: 8000, decision: 'pass', explanation: 'ok', metrics: [m('latency', 'pass', 0.03)] },
        { step: 0, elapsedMs: 4000, decision: 'continue', explanation: 'baking', metrics: [m('latency', 'inconclusive', 0.5)] },
      ],
      { steps: 2, servers: (s) => ({ onNew: s === 0 ? 1 : 4, total: 8 }) },
    );
    assert.deepEqual(
      t.steps.map((s) => [s.step, s.name, s.decision, s.looks]),
      [
        [0, 'step 1 of 2 (1 of 8 servers)', 'pass', 2],
        [1, 'step 2 of 2 (4 of 8 servers)', 'continue', 1],
        [-1, 'watch', 'pass', 1],
      ],
    );
    assert.deepEqual(t.metrics, ['latency', 'cpu']);
    const first = t.rows.find((r) => r.step === 0)!;
    assert.deepEqual(
      [first.label, first.estimate, first.interval, first.samples],
      ['pass', '+3% (200 ms → 206 ms)', '-7% to +13%', '4 canary, 20 baseline'],
    );
    // The words are made afresh from the stored numbers, not copied from an older record.
    assert.match(first.explanation, /^latency \+3% \(200 ms → 206 ms; CI -7% to \+13%\), p=0\.3: no regression$/);
    assert.equal(t.rows.find((r) => r.step === 1 && r.metric === 'cpu')!.label, 'baking');
  });
});
