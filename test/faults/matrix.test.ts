// The full fault matrix on the simulated fleet (npm run test:faults): every write and action of a
// good and of a bad change, in each mode — fail, hang, crash before the call, crash after it — then
// a restart on the same store, fleet and repository; every run must end consistent.
import assert from 'node:assert/strict';
import { matrix } from '../helpers/fault-sim.js';

describe('fault matrix (simulated fleet, every port call x fail/hang/crash/crash_after)', function () {
  this.timeout(600_000);

  it('ends every run consistent: servers on the recorded build, one deploy per change, one revert for a reverted change, the block right, nothing live unjudged', async () => {
    const rows = await matrix();
    const broken = rows.filter((r) => r.broken.length).map((r) => `${r.change} ${r.call}#${r.n} ${r.mode}: ${r.broken.join('; ')}`);
    assert.ok(rows.length > 250, `${rows.length} runs`);
    assert.deepEqual(broken, []);
  });
});
