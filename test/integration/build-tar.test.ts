import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, readlink, stat, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { extract } from 'tar';
import { BuildError, createTarBuilder, excludeMatcher } from '../../src/adapters/build/tar-builder.js';
import { log, tempDir, writeTree } from './fleet-fixture.js';

describe('adapters/build/tar-builder (node-tar and zlib; GNU tar reads the result)', function () {
  this.timeout(30_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    tmp = await tempDir('build');
  });
  after(async () => tmp.cleanup());

  const files = {
    'server.js': 'console.log(1)\n',
    'lib/a.js': 'a\n',
    'lib/b.js': 'b\n',
    '.git/HEAD': 'ref: refs/heads/main\n',
    'dist/app.txt': 'x\n',
  };
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
    const b = createTarBuilder({
      commands: [['node', '-e', "console.error('compile error in x.ts'); process.exit(3)"]],
      output: '.',
      exclude: [],
      timeout: 10_000,
      dir: join(tmp.dir, 'out4'),
      log,
    });
    await assert.rejects(
      b.build(checkout('one'), signal()),
      (e: unknown) => e instanceof BuildError && /exit code 3/.test(e.message) && /compile error in x\.ts/.test(e.message),
    );
    assert.equal(existsSync(join(tmp.dir, 'out4')) ? (await execa('ls', ['-A', join(tmp.dir, 'out4')])).stdout : '', '');
  });

  it('refuses an output outside the checkout or missing', async () => {
    const mk = (output: string) =>
      createTarBuilder({ commands: [], output, exclude: [], timeout: 10_000, dir: join(tmp.dir, 'out5'), log });
    await assert.rejects(mk('../two').build(checkout('one'), signal()), /outside the checkout/);
    await assert.rejects(mk('nope').build(checkout('one'), signal()), /not a directory/);
  });

  it('packs without any tar or gzip on PATH, and the same tree gives the same bytes build after build', async () => {
    await writeTree(join(tmp.dir, 'six'), files);
    const b = createTarBuilder({ commands: [], output: '.', exclude: ['.git'], timeout: 10_000, dir: join(tmp.dir, 'out6'), log });
    const path = process.env.PATH;
    process.env.PATH = join(tmp.dir, 'empty-bin');
    let first, second;
    try {
      first = await b.build(checkout('six'), signal());
      await utimes(join(tmp.dir, 'six', 'server.js'), new Date(2010, 1, 1), new Date(2010, 1, 1));
      second = await b.build(checkout('six'), signal());
    } finally {
      process.env.PATH = path;
    }
    assert.equal(first.id, second.id);
    assert.deepEqual(await readFile(first.path), await readFile(second.path));
    const one = await createTarBuilder({
      commands: [],
      output: '.',
      exclude: ['.git'],
      timeout: 10_000,
      dir: join(tmp.dir, 'out6b'),
      log,
    }).build(checkout('one'), signal());
    assert.equal(one.id, first.id, 'the same tree as "one"');
  });

  it('keeps modes and symbolic links, and an unpacked artifact is the tree', async () => {
    await writeTree(join(tmp.dir, 'seven'), { 'bin/run': '#!/bin/sh\necho hi\n', 'lib/a.js': 'a\n' });
    await chmod(join(tmp.dir, 'seven', 'bin/run'), 0o755);
    await symlink('lib/a.js', join(tmp.dir, 'seven', 'main.js'));
    const b = createTarBuilder({ commands: [], output: '.', exclude: [], timeout: 10_000, dir: join(tmp.dir, 'out7'), log });
    const a = await b.build(checkout('seven'), signal());
    const into = join(tmp.dir, 'unpacked7');
    await mkdir(into);
    await extract({ file: a.path, cwd: into });
    assert.equal((await stat(join(into, 'bin/run'))).mode & 0o777, 0o755);
    assert.equal(await readlink(join(into, 'main.js')), 'lib/a.js');
    assert.equal(await readFile(join(into, 'main.js'), 'utf8'), 'a\n');
    const verbose = (await execa('tar', ['-tvzf', a.path])).stdout;
    assert.match(verbose, /1970-01-01/, 'every mtime is the epoch');
    assert.doesNotMatch(verbose, /\broot\b|\bnobody\b/, 'no owner names');
  });

  it('excludes like tar --exclude: a component or a run of components anywhere, * and ? within one', () => {
    const ex = excludeMatcher(['.git', 'node_modules/.cache', '*.log', 'tmp?']);
    for (const p of ['.git', 'sub/.git', 'node_modules/.cache', 'a/node_modules/.cache', 'x.log', 'logs/x.log', 'tmp1'])
      assert.ok(ex(p), p);
    for (const p of ['.gitignore', 'my.git', 'node_modules', 'node_modules/cache', 'x.log.txt', 'tmp', 'tmp12', 'a/b'])
      assert.ok(!ex(p), p);
  });
});
