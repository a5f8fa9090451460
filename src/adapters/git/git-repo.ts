// The Repo port over git (simple-git): a clone the orchestrator owns, detached worktrees per
// checkout, reverts pushed back to the branch. Every git call is an argument array, never a shell string.
import { mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import pLimit from 'p-limit';
import { simpleGit, type SimpleGit } from 'simple-git';
import type { Checkout, Commit, PushCheck, Repo } from '../../ports.js';
import { ImmuneError } from '../../core/errors.js';
import { immuneTrailer } from '../../core/line/reverts.js';
import { gitError, summarizeGitError } from './git-errors.js';

export interface GitRepoOptions {
  /** Path or URL of the repository to deploy from. */
  url: string;
  branch: string;
  remote: string;
  /** The orchestrator's own directory: clone/ and checkouts/ go here. */
  workdir: string;
  /** Identity of revert commits. */
  author?: { name: string; email: string };
  /** Where reverts are pushed when it is not `url` (git's pushurl). */
  pushUrl?: string;
}

// One commit per call, fields NUL-separated and the free-text body last: nothing a commit message
// holds (\x1e, \x1f, newlines, fake headers) can end a field early or start another commit.
const FIELDS = ['%H', '%an', '%ae', '%s', '%ct', '%B'];
const FORMAT = FIELDS.join('%x00');
const SHA = /^[0-9a-f]{40}$/;

function parseCommit(out: string): Commit | undefined {
  const parts = out.split('\0');
  if (parts.length < FIELDS.length) return undefined;
  const [sha, author, email, subject, ct] = parts;
  const body = parts.slice(FIELDS.length - 1).join('\0');
  if (!SHA.test(sha!.trim())) return undefined;
  return { sha: sha!.trim(), author: author!, email: email!, subject: subject!, time: Number(ct) * 1000, message: body.trim() };
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
      if (this.opts.pushUrl) await this.git.addConfig(`remote.${this.opts.remote}.pushurl`, this.opts.pushUrl);
      // Checkouts left by a crashed orchestrator are stale: forget them.
      await this.git.raw(['worktree', 'prune']);
    })().catch((err) => {
      this.ready = undefined;
      throw new ImmuneError(
        'IMMUNE_EXTERNAL',
        `git: cannot clone ${this.opts.url} (branch ${this.opts.branch}): ${(err as Error).message}`,
        { cause: err },
      );
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
    // rev-list prints one sha per line and nothing else; each commit is then read on its own.
    const shas = (await this.git.raw(['rev-list', '--first-parent', '--reverse', ...range, '--'])).split('\n').filter((l) => SHA.test(l));
    const commits: Commit[] = [];
    for (const sha of shas) commits.push(await this.commit(sha));
    return commits;
  }

  async commit(sha: string): Promise<Commit> {
    await this.init();
    const out = await this.git.raw(['show', '-s', `--format=${FORMAT}`, sha, '--']).catch(() => '');
    const c = parseCommit(out);
    if (!c) throw new ImmuneError('IMMUNE_NOT_FOUND', `git: no commit ${sha}`);
    return c;
  }

  async isAncestor(ancestor: string, sha: string): Promise<boolean> {
    await this.init();
    // (simple-git resolves on a non-zero exit without output, so --is-ancestor's exit code is not read.)
    const [a, base] = await Promise.all([
      this.git.raw(['rev-parse', '--verify', '--quiet', `${ancestor}^{commit}`]).catch(() => ''),
      this.git.raw(['merge-base', ancestor, sha]).catch(() => ''),
    ]);
    return a.trim() !== '' && a.trim() === base.trim();
  }

  async findTrailer(trailer: string): Promise<string | undefined> {
    await this.init();
    const out = await this.git.raw(['rev-list', '-1', '--first-parent', `--grep=^${trailer}: `, this.remoteRef, '--']).catch(() => '');
    return out.trim() || undefined;
  }

  async checkout(sha: string): Promise<Checkout> {
    await this.init();
    const dir = join(this.checkoutsDir, `${sha.slice(0, 12)}-${randomBytes(3).toString('hex')}`);
    await this.serial(async () => {
      // The sha may have arrived after our last fetch.
      const known = await this.git.raw(['cat-file', '-t', sha]).then(
        () => true,
        () => false,
      );
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

  async tree(sha: string): Promise<string> {
    await this.init();
    return (await this.git.raw(['rev-parse', '--verify', `${sha}^{tree}`])).trim();
  }

  /**
   * The revert this deploy already pushed, found by its Immune-Deploy trailer on the branch: a
   * crash after the push and before the engine recorded it must not push a second revert.
   */
  private async pushedRevert(deployId: string): Promise<string | undefined> {
    const out = await this.git.raw([
      'log',
      '--first-parent',
      '--max-count=500',
      '--format=%H',
      '--fixed-strings',
      `--grep=Immune-Deploy: ${deployId}`,
      this.remoteRef,
    ]);
    for (const sha of out
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)) {
      const body = await this.git.raw(['log', '-1', '--format=%B', sha]);
      if (immuneTrailer(body) === deployId) return sha;
    }
    return undefined;
  }

  async revert(shas: string[], message: string): Promise<string> {
    await this.init();
    const deployId = immuneTrailer(message);
    return this.serial(async () => {
      let lastError: unknown;
      // Someone may push between our fetch and our push: start again from the new tip.
      for (let attempt = 0; attempt < 4; attempt++) {
        await this.git.fetch(this.opts.remote, this.opts.branch).catch((err) => {
          throw gitError('could not fetch before the revert', err);
        });
        if (deployId) {
          const pushed = await this.pushedRevert(deployId);
          if (pushed) return pushed;
        }
        await this.git.raw(['checkout', '-B', this.opts.branch, this.remoteRef]);
        await this.git.raw(['reset', '--hard', this.remoteRef]);
        const ordered = await this.newestFirst(shas);
        try {
          await this.git.raw(['revert', '--no-commit', '--no-edit', ...ordered]);
        } catch (err) {
          await this.git.raw(['revert', '--abort']).catch(() => undefined);
          await this.git.raw(['reset', '--hard', this.remoteRef]);
          throw new ImmuneError(
            'IMMUNE_CONFLICT',
            `git: reverting ${ordered.map((s) => s.slice(0, 8)).join(', ')} conflicts with later commits; revert by hand: ${(err as Error).message.split('\n')[0]}`,
            { cause: err },
          );
        }
        // Nothing staged: the branch no longer has these changes (reverted by hand?); no empty commit.
        const staged = (await this.git.raw(['diff', '--cached', '--name-only'])).trim() !== '';
        if (!staged) {
          throw new ImmuneError(
            'IMMUNE_CONFLICT',
            `nothing to revert: ${this.opts.branch} no longer contains the changes of ${ordered.map((s) => s.slice(0, 8)).join(', ')}`,
          );
        }
        await this.git.raw(['commit', '-m', message]);
        const sha = (await this.git.revparse(['HEAD'])).trim();
        try {
          await this.git.raw(['push', this.opts.remote, `HEAD:refs/heads/${this.opts.branch}`]);
          return sha;
        } catch (err) {
          lastError = err;
          // Only a race with another push is worth another attempt.
          if (!/non-fast-forward|fetch first|\[rejected\]|failed to lock/i.test((err as Error).message)) break;
        }
      }
      throw gitError('could not push the revert', lastError);
    });
  }

  /** Whether the branch accepts immune's revert pushes: the repository's own answer, nothing pushed. */
  async checkPushable(): Promise<PushCheck> {
    const first = await checkPushable({ url: this.opts.url, pushUrl: this.opts.pushUrl, branch: this.opts.branch });
    if (!first.ok) return first;
    try {
      await this.init();
      // A dry-run push asks the remote's receive-pack (authentication, permission) without changing anything.
      await this.serial(() => this.git.raw(['push', '--dry-run', this.opts.remote, `${this.remoteRef}:refs/heads/${this.opts.branch}`]));
      return { ok: true };
    } catch (err) {
      const text = (err as Error).message;
      return { ok: false, problem: `cannot push reverts to ${this.opts.branch}: ${summarizeGitError(text)}`, details: text };
    }
  }

  /** Reverting the newest first lets later fixes to the same lines revert cleanly. */
  private async newestFirst(shas: string[]): Promise<string[]> {
    const withTime = await Promise.all(shas.map(async (s) => ({ s, n: Number((await this.git.raw(['rev-list', '--count', s])).trim()) })));
    return withTime.sort((a, b) => b.n - a.n).map((x) => x.s);
  }
}

/** A local path (or file:// URL) when the repository is on this machine. */
function localPath(url: string): string | undefined {
  if (url.startsWith('file://')) return new URL(url).pathname;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/]+@[^/:]+:/.test(url)) return undefined;
  return existsSync(url) ? resolve(url) : undefined;
}

/**
 * Whether reverts can be pushed to `branch` of the repository (at `pushUrl` when set, else `url`),
 * without pushing anything: a working repository with the branch checked out refuses pushes
 * (receive.denyCurrentBranch), an unreachable one or a missing branch is named. `immune doctor`,
 * `immune validate --deep` and `immune serve` call it before the first deploy.
 */
export async function checkPushable(o: { url: string; pushUrl?: string; branch: string }): Promise<PushCheck> {
  const target = o.pushUrl ?? o.url;
  try {
    const local = localPath(target);
    if (local) {
      const git = simpleGit(local);
      const bare = (await git.raw(['rev-parse', '--is-bare-repository'])).trim() === 'true';
      if (!bare) {
        const head = (await git.raw(['symbolic-ref', '--short', '-q', 'HEAD']).catch(() => '')).trim();
        const deny = (await git.raw(['config', '--get', 'receive.denyCurrentBranch']).catch(() => '')).trim();
        if (head === o.branch && !['ignore', 'warn', 'updateInstead', 'false'].includes(deny)) {
          return {
            ok: false,
            problem:
              'cannot push reverts: the repository refuses pushes to its checked-out branch (use a bare repository or set repo.push_url)',
            details: `${local} is a working repository with ${o.branch} checked out and receive.denyCurrentBranch=${deny || 'refuse (the default)'}`,
          };
        }
      }
    }
    const heads = await simpleGit().raw(['ls-remote', '--heads', target, o.branch]);
    if (!heads.trim())
      return {
        ok: false,
        problem: `cannot push reverts: ${target} has no branch ${o.branch}`,
        details: `git ls-remote --heads ${target} ${o.branch} listed nothing`,
      };
    return { ok: true };
  } catch (err) {
    const text = (err as Error).message;
    return { ok: false, problem: `cannot push reverts: ${summarizeGitError(text)}`, details: text };
  }
}

export function createGitRepo(opts: GitRepoOptions): Repo {
  return new GitRepo(opts);
}
