// The dependency rule per room (.dependency-cruiser.js) holds for src/, and it is not a rule that
// cannot fail: the fixture tree's deliberately wrong imports are each reported by name.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { execa } from 'execa';

const ROOT = new URL('../../', import.meta.url).pathname;
const depcruise = (cwd: string) =>
  execa(
    'node',
    [
      join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'),
      'src',
      '--config',
      join(ROOT, '.dependency-cruiser.js'),
      '--output-type',
      'err',
    ],
    { cwd, reject: false, timeout: 60_000 },
  );

describe('architecture: the dependency rule per room', function () {
  this.timeout(90_000);

  it('src/ follows every rule', async () => {
    const r = await depcruise(ROOT);
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  });

  it('a wrong import in a fixture tree fails, naming the rule it breaks', async () => {
    const r = await depcruise(join(ROOT, 'test/fixtures/architecture'));
    assert.notEqual(r.exitCode, 0);
    for (const rule of ['core-imports-only-core', 'core-no-node-builtins', 'adapters-stand-alone', 'engine-uses-ports-not-adapters'])
      assert.match(r.stdout, new RegExp(`error ${rule}:`), `${rule} not reported:\n${r.stdout}`);
  });
});
