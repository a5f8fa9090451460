import assert from 'node:assert/strict';
import { boundaries, equalLookBoundaries, spent } from '../../../../src/core/judge/spending.js';
import { tCritical, tSf, tUpper } from '../../../../src/core/judge/student-t.js';
import { normalSf } from '../../../../src/core/judge/normal.js';
import { createRandom } from '../../../../src/sim/random.js';

// Reference boundaries from test/fixtures/judge/group-sequential.py (scipy's multivariate normal,
// Genz integration); they agree with gsDesign's published sfLDOF values to 1e-4.
const FIVE = [0.2, 0.4, 0.6, 0.8, 1];
const REF = {
  'obrien-fleming': [4.87688, 3.35701, 2.68028, 2.28982, 2.03103],
  pocock: [2.43798, 2.42681, 2.41019, 2.39665, 2.38601],
} as const;

describe('core/judge/spending (group-sequential boundaries)', () => {
  it('spends all of alpha by the last look, and nothing before the first', () => {
    for (const kind of ['pocock', 'obrien-fleming'] as const) {
      assert.ok(Math.abs(spent(kind, 0.01, 1) - 0.01) < 1e-12);
      assert.equal(spent(kind, 0.01, 0), 0);
      assert.ok(spent(kind, 0.01, 0.3) < spent(kind, 0.01, 0.6));
    }
  });

  it('matches boundaries computed independently (scipy multivariate normal) within 1e-3', () => {
    for (const kind of ['obrien-fleming', 'pocock'] as const) {
      const b = boundaries(kind, 0.025, FIVE);
      b.forEach((z, k) => assert.ok(Math.abs(z - REF[kind][k]) < 1e-3, `${kind} look ${k + 1}: ${z} vs ${REF[kind][k]}`));
    }
  });

  it('one look is the fixed-sample test', () => {
    assert.ok(Math.abs(equalLookBoundaries('pocock', 0.01, 1)[0] - 2.3263478740408408) < 1e-9);
  });

  it('keeps the chance of ever crossing at alpha over 60 looks (simulated Brownian paths)', () => {
    // An independent check by simulation: 20,000 random walks, crossing rate within 3.5 standard errors of alpha.
    const rnd = createRandom(7);
    const gauss = () => rnd.normal();
    const K = 60;
    const alpha = 0.05;
    const b = equalLookBoundaries('pocock', alpha, K);
    let crossed = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 1; k <= K; k++) {
        s += gauss();
        if (s / Math.sqrt(k) >= b[k - 1]) {
          crossed++;
          break;
        }
      }
    }
    const se = Math.sqrt((alpha * (1 - alpha)) / n);
    assert.ok(Math.abs(crossed / n - alpha) < 3.5 * se, `crossed ${crossed / n}`);
  });
});

describe('core/judge/student-t', () => {
  // scipy.stats.t.sf / t.isf (scipy 1.17.1).
  it('matches scipy tails and quantiles', () => {
    const sf: [number, number, number][] = [
      [2.5, 3, 0.04385332350403278],
      [3.2, 17, 0.00262377835938535],
      [-1.1, 5.5, 0.8414341300313044],
      [0.3, 40, 0.38286535838550956],
      [6, 2, 0.013335736607712385],
    ];
    for (const [t, df, p] of sf) assert.ok(Math.abs(tSf(t, df) - p) < 1e-8 * Math.max(1, p) + 1e-10, `${t},${df}: ${tSf(t, df)} vs ${p}`);
    const isf: [number, number, number][] = [
      [0.0025, 17, 3.222449911357463],
      [0.05, 1.5, 3.7051808200967518],
      [1e-6, 30, 5.871117120418882],
    ];
    for (const [q, df, t] of isf) assert.ok(Math.abs(tUpper(q, df) - t) < 1e-6, `${q},${df}: ${tUpper(q, df)} vs ${t}`);
  });

  it('carries a normal boundary to t by its tail, and is the normal at large df', () => {
    assert.ok(Math.abs(tSf(tCritical(3, 12), 12) - normalSf(3)) < 1e-12);
    assert.equal(tCritical(3, Infinity), 3);
    assert.ok(tCritical(3, 5) > 3);
  });
});
