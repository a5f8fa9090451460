import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { simpleGit } from 'simple-git';
import { checkPushable, createGitRepo } from '../../src/adapters/git/git-repo.js';
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
    assert.deepEqual(
      commits.map((c) => c.sha),
      [a, b],
    );
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

  it('pushes one revert per deploy: asked again (a crash before the push was recorded), it finds the pushed one by its trailer', async () => {
    await origin.dev.pull('origin', 'main', ['--rebase']);
    const repo = createGitRepo({ url: origin.url, branch: 'main', remote: 'origin', workdir: join(origin.root, 'work3') });
    const bad = await origin.commit('another bad change', { 'app.txt': 'broken again\n' });
    await repo.tip();
    const message = `Revert "another bad change"\n\nWhy: error_rate\n\nImmune-Deploy: d-test-0001`;
    const first = await repo.revert([bad], message);
    const again = await repo.revert([bad], message);
    assert.equal(again, first);
    await origin.dev.fetch('origin');
    const trailers = await origin.dev.raw(['log', '--format=%H', '--fixed-strings', '--grep=Immune-Deploy: d-test-0001', 'origin/main']);
    assert.equal(trailers.trim().split('\n').length, 1, 'exactly one revert commit on main');
    // Nothing left to revert is an error, never an empty commit.
    await assert.rejects(repo.revert([bad], 'Revert again\n\nImmune-Deploy: d-test-0002'), /nothing to revert/);
    assert.equal(
      await repo.tree!(first),
      (await origin.dev.raw(['rev-parse', `${bad}^^{tree}`])).trim(),
      'the revert restores the tree before the bad change',
    );
  });

  it('says in one line that a working repository refuses pushes to its checked-out branch, before and at the push', async () => {
    // The developer's own clone, with main checked out: what a new user points repo.url at.
    const working = origin.devDir;
    await origin.dev.pull('origin', 'main', ['--rebase']);
    const check = await checkPushable({ url: working, branch: 'main' });
    assert.equal(check.ok, false);
    assert.equal(
      !check.ok && check.problem,
      'cannot push reverts: the repository refuses pushes to its checked-out branch (use a bare repository or set repo.push_url)',
    );
    assert.deepEqual(await checkPushable({ url: origin.url, branch: 'main' }), { ok: true });
    assert.match(JSON.stringify(await checkPushable({ url: origin.url, branch: 'nope' })), /has no branch nope/);
    const repo = createGitRepo({ url: working, branch: 'main', remote: 'origin', workdir: join(origin.root, 'work4') });
    const pushable = await repo.checkPushable!();
    assert.equal(pushable.ok, false);
    const bad = await origin.commit('bad in the working repo', { 'app.txt': 'bad\n' });
    await simpleGit(working).raw(['reset', '--hard', bad]);
    await repo.tip();
    const err = await repo.revert([bad], 'Revert\n\nImmune-Deploy: d-test-0003').then(
      () => undefined,
      (e: Error & { details?: { git?: string } }) => e,
    );
    assert.ok(err, 'the push is refused');
    assert.equal(
      err.message,
      'could not push the revert: the repository refuses pushes to its checked-out branch (use a bare repository or set repo.push_url)',
    );
    assert.match(
      err.details?.git ?? '',
      /denyCurrentBranch|refusing to update checked out branch/,
      'git’s full text is kept in the details',
    );
    // With push_url the reverts go to the bare repository instead.
    const viaBare = createGitRepo({
      url: working,
      pushUrl: origin.url,
      branch: 'main',
      remote: 'origin',
      workdir: join(origin.root, 'work5'),
    });
    assert.deepEqual(await checkPushable({ url: working, pushUrl: origin.url, branch: 'main' }), { ok: true });
    assert.deepEqual(await viaBare.checkPushable!(), { ok: true });
  });

  it('reads commit messages holding record and field separators as text, not as more commits (issue 18 item 5)', async () => {
    const repo = createGitRepo({ url: origin.url, branch: 'main', remote: 'origin', workdir: join(origin.root, 'work-nul') });
    await origin.dev.pull('origin', 'main', ['--rebase']);
    const from = await repo.tip();
    // The old parser split git log on \x1e and \x1f: this body made a queue entry "not-a-sha$(id)".
    const hostile = await origin.commit('hostile\n\nbody\x1e\nnot-a-sha$(id)\x1fEvil\x1fevil@x\x1fsubject\x1f0\x1fbody\x1e', {
      'hostile.txt': 'hostile\n',
    });
    const next = await origin.commit('next', { 'next.txt': 'next\n' });
    await repo.tip();
    const commits = await repo.commitsBetween(from, next);
    assert.deepEqual(
      commits.map((c) => c.sha),
      [hostile, next],
    );
    assert.equal(commits[0]!.subject, 'hostile');
    assert.ok(commits[0]!.message.includes('not-a-sha$(id)'), 'the body is kept as text');
    assert.equal((await repo.commit(hostile)).sha, hostile);
    assert.equal(await repo.isAncestor!(from, next), true);
    assert.equal(await repo.isAncestor!(next, from), false);
  });

  it("finds the newest commit carrying immune's revert trailer", async () => {
    const repo = createGitRepo({ url: origin.url, branch: 'main', remote: 'origin', workdir: join(origin.root, 'work-trailer') });
    await origin.dev.pull('origin', 'main', ['--rebase']);
    await repo.tip();
    assert.equal(await repo.findTrailer!('Immune-Test-Trailer'), undefined);
    const r = await origin.commit('Revert "x"\n\nWhy: it broke\n\nImmune-Test-Trailer: d-1', { 'trailer.txt': 'r\n' });
    await repo.tip();
    assert.equal(await repo.findTrailer!('Immune-Test-Trailer'), r);
  });
});
