import assert from 'node:assert/strict';
import { alwaysValidP, csRadius, logGaussianGridLr, logMixtureLr, logNormalCdf } from '../../../../src/core/judge/msprt.js';
import { createRandom } from '../../../../src/sim/random.js';
import { close, REF } from './reference.js';

describe('core/judge/msprt', () => {
  it('matches the half-normal mixture by numerical integration', () => {
    for (const c of REF.mixtureLr)
      assert.ok(close(logMixtureLr(c.est, c.v, c.tau), c.logLr, 1e-9, 1e-12), `${logMixtureLr(c.est, c.v, c.tau)} vs ${c.logLr}`);
  });
  it('matches direct summation of grid mixtures', () => {
    for (const c of REF.gaussianGridLr) assert.ok(close(logGaussianGridLr(c.est, c.v, c.grid), c.logLr, 1e-10, 1e-12));
  });
  it('gives the confidence-sequence radius where the mixture reaches 1/alpha', () => {
    for (const c of REF.csRadius) assert.ok(close(csRadius(c.v, c.tau, c.alpha), c.radius, 1e-9));
  });
  it('has no information without variance and stays finite far in the tail', () => {
    assert.equal(logMixtureLr(1, Infinity, 0.5), 0);
    assert.equal(alwaysValidP(1, 0, 0.5), 1);
    assert.ok(Number.isFinite(logNormalCdf(-60)) && logNormalCdf(-60) < -1800);
  });
  it('keeps the false-alarm rate below alpha when looking after every sample (Monte Carlo)', () => {
    // 2000 null paths of 200 looks each: a Brownian motion in information time.
    const rnd = createRandom(7);
    const alpha = 0.05;
    let alarms = 0;
    for (let path = 0; path < 2000; path++) {
      let sum = 0;
      for (let n = 1; n <= 200; n++) {
        sum += rnd.normal();
        if (alwaysValidP(sum / n, 1 / n, 0.5) <= alpha) {
          alarms++;
          break;
        }
      }
    }
    assert.ok(alarms / 2000 <= alpha, `false-alarm rate ${alarms / 2000} > ${alpha}`);
  });
});
