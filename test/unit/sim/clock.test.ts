import assert from 'node:assert/strict';
import { VirtualClock } from '../../../src/sim/clock.js';

describe('sim/clock', () => {
  it('wakes sleepers in time order, moving virtual time, without real waiting', async () => {
    const clock = new VirtualClock(1000);
    const woke: [string, number][] = [];
    const started = Date.now();
    await Promise.all([
      clock.sleep(300_000).then(() => woke.push(['long', clock.now()])),
      clock.sleep(5_000).then(() => woke.push(['short', clock.now()])),
      (async () => {
        await clock.sleep(1_000);
        woke.push(['a', clock.now()]);
        await clock.sleep(1_000);
        woke.push(['b', clock.now()]);
      })(),
    ]);
    assert.deepEqual(woke, [
      ['a', 2000],
      ['b', 3000],
      ['short', 6000],
      ['long', 301_000],
    ]);
    assert.ok(Date.now() - started < 2000);
  });

  it('rejects a sleep when its signal aborts', async () => {
    const clock = new VirtualClock();
    const ac = new AbortController();
    const p = clock.sleep(60_000, ac.signal);
    ac.abort(new Error('stop'));
    await assert.rejects(p, /stop/);
    await assert.rejects(clock.sleep(1, ac.signal), /stop/);
  });

  it('moves by hand with advance()', async () => {
    const clock = new VirtualClock();
    let done = false;
    const p = clock.sleep(10).then(() => (done = true));
    clock.advance(5);
    await Promise.resolve();
    assert.equal(done, false);
    clock.advance(5);
    await p;
    assert.equal(clock.now(), 10);
  });
});
