// `immune validate` run for real on pipeline and experiment files in a temp directory.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { immune, ROOT } from '../helpers/immune-cli.js';

describe('CLI validate', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'immune-validate-'));
    mkdirSync(join(dir, 'pipelines'));
    mkdirSync(join(dir, 'experiments'));
    writeFileSync(join(dir, 'pipelines', 'good.yaml'), readFileSync(join(ROOT, 'pipelines/local.yaml'), 'utf8'));
    // Line 2: unknown key; line 5: a wrong type.
    writeFileSync(
      join(dir, 'pipelines', 'bad.yaml'),
      readFileSync(join(ROOT, 'pipelines/local.yaml'), 'utf8')
        .replace(/^name: shop$/m, 'name: shop\ntolerence: 10%')
        .replace(/^max_batch: 4$/m, 'max_batch: lots'),
    );
    writeFileSync(join(dir, 'experiments', 'good.yaml'), readFileSync(join(ROOT, 'experiments/enhanced-checkout.yaml'), 'utf8'));
    writeFileSync(join(dir, 'experiments', 'bad.yaml'), 'name: Broken\nbranches: [\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('checks pipelines/*.yaml and experiments/*.yaml by default: file:line:col per problem, ok per good file, exit 1', async () => {
    const r = await immune(['validate'], {}, dir);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.split('\n');
    const bad = readFileSync(join(dir, 'pipelines', 'bad.yaml'), 'utf8').split('\n');
    const tolLine = bad.findIndex((l) => l.startsWith('tolerence')) + 1;
    const batchLine = bad.findIndex((l) => l.startsWith('max_batch')) + 1;
    assert.ok(
      lines.some((l) => new RegExp(`^pipelines/bad\\.yaml:${tolLine}:\\d+ tolerence: unknown key "tolerence"$`).test(l)),
      r.stdout,
    );
    assert.ok(
      lines.some((l) => l.startsWith(`pipelines/bad.yaml:${batchLine}:12 max_batch: `)),
      r.stdout,
    );
    assert.ok(lines.includes('ok pipelines/good.yaml'));
    assert.ok(lines.includes('ok experiments/good.yaml'));
    assert.ok(
      lines.some((l) => /^experiments\/bad\.yaml:\d+:\d+ /.test(l)),
      r.stdout,
    );
    assert.equal(r.stderr, '');
  });

  it('checks named files, exit 0 when all are valid; --json; a missing file is an error', async () => {
    const [good, json, missing] = await Promise.all([
      immune(['validate', 'pipelines/good.yaml', 'experiments/good.yaml'], {}, dir),
      immune(['validate', '--json', 'pipelines/good.yaml', 'pipelines/bad.yaml'], {}, dir),
      immune(['validate', 'pipelines/none.yaml'], {}, dir),
    ]);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stdout, 'ok pipelines/good.yaml\nok experiments/good.yaml');
    assert.equal(json.code, 1);
    const body = JSON.parse(json.stdout) as {
      ok: boolean;
      files: { file: string; kind: string; ok: boolean; issues: { line: number; col: number; path: string; message: string }[] }[];
    };
    assert.equal(body.ok, false);
    assert.deepEqual(
      body.files.map((f) => [f.file, f.kind, f.ok]),
      [
        ['pipelines/good.yaml', 'pipeline', true],
        ['pipelines/bad.yaml', 'pipeline', false],
      ],
    );
    assert.deepEqual(body.files[1]!.issues.map((i) => i.path).sort(), ['max_batch', 'tolerence']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, 'pipelines/none.yaml:1:1 cannot read: no such file');
  });
});
