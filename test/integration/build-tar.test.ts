import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { BuildError, createTarBuilder } from '../../src/adapters/build/tar-builder.js';
import { log, tempDir, writeTree } from './fleet-fixture.js';

describe('adapters/build/tar-builder (real tar and gzip)', function () {
  this.timeout(30_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    tmp = await tempDir('build');
  });
  after(async () => tmp.cleanup());

  const files = { 'server.js': 'console.log(1)\n', 'lib/a.js': 'a\n', 'lib/b.js': 'b\n', '.git/HEAD': 'ref: refs/heads/main\n', 'dist/app.txt': 'x\n' };
  const checkout = (name: string, sha = 'a'.repeat(40)) => ({ sha, dir: join(tmp.dir, name), dispose: async () => undefined });
  const signal = () => AbortSignal.timeout(20_000);

  it('gives the same tree the same id, whatever the file times and build directory', async () => {
    await writeTree(join(tmp.dir, 'one'), files);
    await writeTree(join(tmp.dir, 'two'), Object.fromEntries(Object.entries(files).reverse()));
    await utimes(join(tmp.dir, 'two', 'lib/a.js'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const b1 = createTarBuilder({ commands: [], output: '.', exclude: ['.git'], timeout: 10_000, dir: join(tmp.dir, 'out1'), log });
    const b2 = createTarBuilder({ commands: [], output: '.', exclude: ['.git'], timeout: 10_000, dir: join(tmp.dir, 'out2'), log });
    const a1 = await b1.build(checkout('one'), signal());
    const a2 = await b2.build(checkout('two', 'b'.repeat(40)), signal());
    assert.match(a1.id, /^[0-9a-f]{16}$/);
    assert.equal(a1.id, a2.id);
    assert.equal(a1.path, join(tmp.dir, 'out1', `${a1.id}.tar.gz`));
    assert.equal(a1.bytes, (await stat(a1.path)).size);
    assert.equal(a2.sha, 'b'.repeat(40));
    const listing = (await execa('tar', ['-tzf', a1.path])).stdout.split('\n');
    assert.ok(listing.includes('./lib/a.js'));
    assert.ok(!listing.some((l) => l.includes('.git')), 'excluded .git');
  });

  it('gives different content a different id', async () => {
    await writeTree(join(tmp.dir, 'three'), { ...files, 'lib/a.js': 'A\n' });
    const b = createTarBuilder({ commands: [], output: '.', exclude: ['.git'], timeout: 10_000, dir: join(tmp.dir, 'out1'), log });
    const one = await b.build(checkout('one'), signal());
    const three = await b.build(checkout('three'), signal());
    assert.notEqual(one.id, three.id);
  });

  it('runs the build commands in the checkout and packs only the output directory', async () => {
    await writeTree(join(tmp.dir, 'four'), files);
    const b = createTarBuilder({
      commands: [['node', '-e', "require('fs').writeFileSync('dist/built.txt', process.cwd().endsWith('four') ? 'ok' : 'wrong')"]],
      output: 'dist',
      exclude: [],
      timeout: 10_000,
      dir: join(tmp.dir, 'out3'),
      log,
    });
    const a = await b.build(checkout('four'), signal());
    const listing = (await execa('tar', ['-tzf', a.path])).stdout.split('\n').sort();
    assert.deepEqual(listing, ['./', './app.txt', './built.txt']);
    assert.equal((await execa('tar', ['-xzOf', a.path, './built.txt'])).stdout, 'ok');
  });

  it('fails with a BuildError naming the command output, and leaves no partial artifact', async () => {
    const b = createTarBuilder({ commands: [['node', '-e', "console.error('compile error in x.ts'); process.exit(3)"]], output: '.', exclude: [], timeout: 10_000, dir: join(tmp.dir, 'out4'), log });
    await assert.rejects(b.build(checkout('one'), signal()), (e: unknown) => e instanceof BuildError && /exit code 3/.test(e.message) && /compile error in x\.ts/.test(e.message));
    assert.equal(existsSync(join(tmp.dir, 'out4')) ? (await execa('ls', ['-A', join(tmp.dir, 'out4')])).stdout : '', '');
  });

  it('refuses an output outside the checkout or missing', async () => {
    const mk = (output: string) => createTarBuilder({ commands: [], output, exclude: [], timeout: 10_000, dir: join(tmp.dir, 'out5'), log });
    await assert.rejects(mk('../two').build(checkout('one'), signal()), /outside the checkout/);
    await assert.rejects(mk('nope').build(checkout('one'), signal()), /not a directory/);
  });
});
