// Real SIGKILLs of `immune serve` at every named point of a good and of a bad rollout
// (npm run test:faults; about a minute per run, one run at a time).
import assert from 'node:assert/strict';
import { KILL_POINTS, killRun, type KillRun } from '../helpers/serve-kill.js';

describe('immune serve killed at named points of a rollout (real git, processes, SIGKILL)', function () {
  this.timeout(3_600_000);

  it('ends every run consistent after a restart', async () => {
    const runs: KillRun[] = [];
    for (const change of ['good', 'bad', 'held'] as const) {
      for (const point of KILL_POINTS[change]) {
        const r = await killRun(change, point);
        runs.push(r);
        process.stdout.write(
          `      ${change} ${point.padEnd(26)} ${r.killed ? 'killed' : `not reached (${r.ended}; ${r.stood})`}  -> ${r.outcome}${r.broken.length ? `  BROKEN: ${r.broken.join('; ')}` : ''}\n`,
        );
      }
    }
    assert.ok(
      runs.every((r) => r.killed),
      `every point reached: ${runs
        .filter((r) => !r.killed)
        .map((r) => `${r.change} ${r.point}`)
        .join(', ')}`,
    );
    assert.deepEqual(
      runs.filter((r) => r.broken.length).map((r) => `${r.change} ${r.point}: ${r.broken.join('; ')}`),
      [],
    );
  });
});
