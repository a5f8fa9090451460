// The Repo port over git (simple-git): a clone the orchestrator owns, detached worktrees per
// checkout, reverts pushed back to the branch. Every git call is an argument array, never a shell string.
import { mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import pLimit from 'p-limit';
import { simpleGit, type SimpleGit } from 'simple-git';
import type { Checkout, Commit, Repo } from '../../ports.js';
import { ImmuneError } from '../../core/errors.js';

export interface GitRepoOptions {
  /** Path or URL of the repository to deploy from. */
  url: string;
  branch: string;
  remote: string;
  /** The orchestrator's own directory: clone/ and checkouts/ go here. */
  workdir: string;
  /** Identity of revert commits. */
  author?: { name: string; email: string };
}

const SEP = '\x1f';
const END = '\x1e';
const FORMAT = ['%H', '%an', '%ae', '%s', '%ct', '%B'].join(SEP) + END;

function parseLog(out: string): Commit[] {
  return out
    .split(END)
    .map((s) => s.replace(/^\n/, ''))
    .filter((s) => s.trim())
    .map((rec) => {
      const [sha, author, email, subject, ct, body] = rec.split(SEP);
      return { sha: sha!, author: author!, email: email!, subject: subject!, time: Number(ct) * 1000, message: (body ?? '').trim() };
    });
}

export class GitRepo implements Repo {
  private readonly cloneDir: string;
  private readonly checkoutsDir: string;
  private git!: SimpleGit;
  /** Git keeps locks in the clone: one mutating operation at a time. */
  private readonly serial = pLimit(1);
  private ready: Promise<void> | undefined;

  constructor(private readonly opts: GitRepoOptions) {
    this.cloneDir = resolve(opts.workdir, 'clone');
    this.checkoutsDir = resolve(opts.workdir, 'checkouts');
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.checkoutsDir, { recursive: true });
      if (!existsSync(join(this.cloneDir, '.git'))) {
        await rm(this.cloneDir, { recursive: true, force: true });
        await simpleGit().clone(this.opts.url, this.cloneDir, ['--origin', this.opts.remote, '--branch', this.opts.branch]);
      }
      this.git = simpleGit(this.cloneDir);
      const a = this.opts.author ?? { name: 'immune', email: 'immune@localhost' };
      await this.git.addConfig('user.name', a.name).addConfig('user.email', a.email);
      // Checkouts left by a crashed orchestrator are stale: forget them.
      await this.git.raw(['worktree', 'prune']);
    })().catch((err) => {
      this.ready = undefined;
      throw new ImmuneError('IMMUNE_EXTERNAL', `git: cannot clone ${this.opts.url} (branch ${this.opts.branch}): ${(err as Error).message}`, { cause: err });
    });
    return this.ready;
  }

  private get remoteRef(): string {
    return `${this.opts.remote}/${this.opts.branch}`;
  }

  async tip(): Promise<string> {
    await this.init();
    return this.serial(async () => {
      await this.git.fetch(this.opts.remote, this.opts.branch);
      return (await this.git.revparse([this.remoteRef])).trim();
    });
  }

  async commitsBetween(from: string | undefined, to: string): Promise<Commit[]> {
    await this.init();
    const range = from ? [`${from}..${to}`] : ['-1', to];
    const out = await this.git.raw(['log', '--first-parent', '--reverse', `--format=${FORMAT}`, ...range]);
    return parseLog(out);
  }

  async commit(sha: string): Promise<Commit> {
    await this.init();
    const out = await this.git.raw(['log', '-1', `--format=${FORMAT}`, sha]);
    const c = parseLog(out)[0];
    if (!c) throw new ImmuneError('IMMUNE_NOT_FOUND', `git: no commit ${sha}`, { status: 404 });
    return c;
  }

  async checkout(sha: string): Promise<Checkout> {
    await this.init();
    const dir = join(this.checkoutsDir, `${sha.slice(0, 12)}-${randomBytes(3).toString('hex')}`);
    await this.serial(async () => {
      // The sha may have arrived after our last fetch.
      const known = await this.git.raw(['cat-file', '-t', sha]).then(() => true, () => false);
      if (!known) await this.git.fetch(this.opts.remote, this.opts.branch);
      await this.git.raw(['worktree', 'add', '--detach', dir, sha]);
    });
    return {
      sha,
      dir,
      dispose: () =>
        this.serial(async () => {
          await this.git.raw(['worktree', 'remove', '--force', dir]).catch(() => undefined);
          await rm(dir, { recursive: true, force: true });
        }),
    };
  }

  async revert(shas: string[], message: string): Promise<string> {
    await this.init();
    return this.serial(async () => {
      let lastError: unknown;
      // Someone may push between our fetch and our push: start again from the new tip.
      for (let attempt = 0; attempt < 4; attempt++) {
        await this.git.fetch(this.opts.remote, this.opts.branch);
        await this.git.raw(['checkout', '-B', this.opts.branch, this.remoteRef]);
        await this.git.raw(['reset', '--hard', this.remoteRef]);
        const ordered = await this.newestFirst(shas);
        try {
          await this.git.raw(['revert', '--no-commit', '--no-edit', ...ordered]);
        } catch (err) {
          await this.git.raw(['revert', '--abort']).catch(() => undefined);
          await this.git.raw(['reset', '--hard', this.remoteRef]);
          throw new ImmuneError('IMMUNE_CONFLICT', `git: reverting ${ordered.map((s) => s.slice(0, 8)).join(', ')} conflicts with later commits; revert by hand: ${(err as Error).message.split('\n')[0]}`, { status: 409, cause: err });
        }
        await this.git.raw(['commit', '--allow-empty', '-m', message]);
        const sha = (await this.git.revparse(['HEAD'])).trim();
        try {
          await this.git.raw(['push', this.opts.remote, `HEAD:refs/heads/${this.opts.branch}`]);
          return sha;
        } catch (err) {
          lastError = err;
        }
      }
      throw new ImmuneError('IMMUNE_EXTERNAL', `git: could not push the revert to ${this.opts.branch}: ${(lastError as Error)?.message}`, { cause: lastError });
    });
  }

  /** Reverting the newest first lets later fixes to the same lines revert cleanly. */
  private async newestFirst(shas: string[]): Promise<string[]> {
    const withTime = await Promise.all(
      shas.map(async (s) => ({ s, n: Number((await this.git.raw(['rev-list', '--count', s])).trim()) })),
    );
    return withTime.sort((a, b) => b.n - a.n).map((x) => x.s);
  }
}

export function createGitRepo(opts: GitRepoOptions): Repo {
  return new GitRepo(opts);
}
