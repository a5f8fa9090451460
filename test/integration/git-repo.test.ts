import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createGitRepo } from '../../src/adapters/git/git-repo.js';
import { createOrigin, type TestOrigin } from '../helpers/git.js';

describe('git repo adapter (real git)', function () {
  this.timeout(30_000);
  let origin: TestOrigin;
  before(async () => {
    origin = await createOrigin({ 'app.txt': 'v1\n', 'other.txt': 'x\n' });
  });
  after(() => origin.cleanup());

  it('fetches the tip, lists commits oldest first, checks out a sha in its own dir', async () => {
    const repo = createGitRepo({ url: origin.url, branch: 'main', remote: 'origin', workdir: join(origin.root, 'work') });
    const first = await repo.tip();
    const a = await origin.commit('change a\n\nbody line', { 'app.txt': 'v2\n' });
    const b = await origin.commit('change b', { 'other.txt': 'y\n' }, 'Dev Two <dev2@example.test>');
    assert.equal(await repo.tip(), b);
    const commits = await repo.commitsBetween(first, b);
    assert.deepEqual(commits.map((c) => c.sha), [a, b]);
    assert.equal(commits[0]!.subject, 'change a');
    assert.match(commits[0]!.message, /body line/);
    assert.equal(commits[1]!.email, 'dev2@example.test');
    const co = await repo.checkout(a);
    assert.equal(await readFile(join(co.dir, 'app.txt'), 'utf8'), 'v2\n');
    assert.equal(await readFile(join(co.dir, 'other.txt'), 'utf8'), 'x\n');
    await co.dispose();
    assert.equal(existsSync(co.dir), false);
  });

  it('reverts exactly the given commit on top of later ones and pushes it', async () => {
    const repo = createGitRepo({ url: origin.url, branch: 'main', remote: 'origin', workdir: join(origin.root, 'work2') });
    const bad = await origin.commit('bad change', { 'app.txt': 'broken\n' });
    const later = await origin.commit('later change', { 'other.txt': 'later\n' });
    await repo.tip();
    const revertSha = await repo.revert([bad], `Revert "bad change"\n\nerror_rate +400%`);
    assert.equal(await repo.tip(), revertSha);
    const co = await repo.checkout(revertSha);
    assert.equal(await readFile(join(co.dir, 'app.txt'), 'utf8'), 'v2\n', 'the bad change is undone');
    assert.equal(await readFile(join(co.dir, 'other.txt'), 'utf8'), 'later\n', 'the later change stays');
    await co.dispose();
    const log = await repo.commitsBetween(later, revertSha);
    assert.equal(log.length, 1);
    assert.match(log[0]!.message, /error_rate \+400%/);
  });
});
