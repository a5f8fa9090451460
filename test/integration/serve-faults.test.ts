// `immune serve` under faults: killed (SIGKILL) right after live is committed it still ends
// consistent (the quick subset of npm run test:faults, which kills it at every named point); a bad
// tokens file stops it before anything starts.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { immune } from '../helpers/immune-cli.js';
import { createOrigin } from '../helpers/git.js';
import { freePortRange, localPipelineYaml } from '../helpers/line.js';
import { killRun } from '../helpers/serve-kill.js';

describe('immune serve under faults', function () {
  this.timeout(400_000);

  it('killed after live is committed (before the line records it), the restart records the new build as live', async () => {
    const r = await killRun('good', 'transition:live');
    assert.equal(r.killed, true, `the process died at the point (the run ${r.ended}; the change was ${r.stood}; ${r.broken.join('; ')})`);
    assert.deepEqual(r.broken, []);
    assert.equal(r.outcome, 'live');
  });

  it('exits non-zero on a bad tokens file, before the fleet or the line start (item 9)', async () => {
    const origin = await createOrigin({ 'server.js': 'process.exit(1)\n' });
    const dir = await mkdtemp(join(tmpdir(), 'immune-tokens-'));
    try {
      const file = join(dir, 'pipeline.yaml');
      await writeFile(file, localPipelineYaml({ repo: origin.url, dir, basePort: await freePortRange(2), servers: 2, tests: false }));
      await writeFile(join(dir, 'tokens.yaml'), 'tokens:\n  - { name: ci, role: emperor, token: x }\n');
      const t0 = Date.now();
      const r = await immune(
        [
          'serve',
          '--pipeline',
          file,
          '--port',
          String(await freePortRange(1)),
          '--data',
          join(dir, 'state'),
          '--tokens',
          join(dir, 'tokens.yaml'),
        ],
        {},
        dir,
      );
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /tokens\.yaml:2:/);
      assert.ok(Date.now() - t0 < 25_000, 'it exits instead of running the line');
      // The line never started: no clone of the repository, no fleet directory.
      const left = await readdir(dir);
      assert.ok(!left.includes('work') && !left.includes('fleet'), `nothing started: ${left.join(', ')}`);
    } finally {
      await origin.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
