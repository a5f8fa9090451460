import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { demoPipeline } from '../../../src/demo/scenario.js';

describe('demo/pipeline (two demos side by side)', () => {
  let tmp: string;
  let file: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'immune-demo-pipeline-'));
    file = join(tmp, 'local.yaml');
    writeFileSync(
      file,
      [
        'name: shop',
        'repo: { url: .immune/demo/shop.git, branch: main, workdir: .immune/work }',
        'fleet: { type: local, servers: 8, base_port: 7101, dir: .immune/fleet }',
        '',
      ].join('\n'),
    );
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('moves the repository, work tree and fleet directory under --data, and sets --base-port', async () => {
    const data = join(tmp, 'run-a');
    const out = await demoPipeline(file, 7601, data);
    assert.equal(out, join(data, 'demo-pipeline.yaml'));
    const doc = parse(readFileSync(out, 'utf8'));
    assert.equal(doc.repo.url, join(data, 'demo/shop.git'));
    assert.equal(doc.repo.workdir, join(data, 'work'));
    assert.equal(doc.fleet.dir, join(data, 'fleet'));
    assert.equal(doc.fleet.base_port, 7601);
    assert.equal(doc.fleet.servers, 8, 'the rest as it was');
    // Another demo's paths are its own.
    const other = parse(readFileSync(await demoPipeline(file, 7701, join(tmp, 'run-b')), 'utf8'));
    assert.notEqual(other.repo.url, doc.repo.url);
    assert.notEqual(other.fleet.dir, doc.fleet.dir);
  });

  it('leaves the file alone with the default state directory and no port, and paths outside .immune always', async () => {
    assert.equal(await demoPipeline(file, undefined, resolve('.immune')), file);
    const own = join(tmp, 'own.yaml');
    writeFileSync(own, 'name: shop\nrepo: { url: /srv/shop.git, workdir: work }\nfleet: { type: local, dir: .immune/fleet }\n');
    const doc = parse(readFileSync(await demoPipeline(own, undefined, join(tmp, 'run-c')), 'utf8'));
    assert.equal(doc.repo.url, '/srv/shop.git');
    assert.equal(doc.repo.workdir, 'work');
    assert.equal(doc.fleet.dir, join(tmp, 'run-c', 'fleet'));
  });
});
