// Whether immune could push a revert to a pipeline's branch, asked before the first regression
// needs it: the repository answers, has the branch, and its receiving end would take a push.
import { access, constants, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { simpleGit } from 'simple-git';

export type PushCheck = { ok: true } | { ok: false; problem: string; fix: string };

const isUrl = (url: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/]+@[^:]+:/.test(url);

function firstLine(err: unknown): string {
  const m = (err as Error).message ?? String(err);
  return (
    m
      .split('\n')
      .map((l) => l.replace(/^(fatal|error|remote): /, '').trim())
      .find((l) => l && !/^\s*$/.test(l)) ?? m
  );
}

/**
 * Checks, cheapest first: `git ls-remote` reaches the repository and finds the branch; a local
 * repository is bare (or lets pushes update its checked-out branch) and writable; a dry-run push
 * to a ref of immune's own reaches git-receive-pack (what a real push needs: a path or URL that
 * takes pushes, and credentials with write access). Never writes to the repository.
 */
export async function checkPushable(url: string, branch: string, opts: { signal?: AbortSignal; timeoutMs?: number; /** false: only that it is reachable and has the branch */ push?: boolean } = {}): Promise<PushCheck> {
  const timeout = { block: opts.timeoutMs ?? 20_000 };
  const git = simpleGit({ timeout, abort: opts.signal });
  const local = !isUrl(url);
  const path = local ? (isAbsolute(url) ? url : resolve(url)) : url;

  let heads: string;
  try {
    heads = await git.raw(['ls-remote', '--heads', path, branch]);
  } catch (err) {
    return { ok: false, problem: `repository ${url} cannot be read: ${firstLine(err)}`, fix: local ? `create it (git init --bare ${url}) and push the app to it, or set repo.url to the repository you push to` : 'check repo.url and that this machine has access (ssh key or credentials)' };
  }
  if (!heads.trim()) return { ok: false, problem: `repository ${url} has no branch ${branch}`, fix: `push it (git push ${url} HEAD:${branch}) or set repo.branch` };

  if (opts.push === false) return { ok: true };
  if (local) {
    const there = simpleGit({ baseDir: path, timeout, abort: opts.signal });
    const bare = (await there.raw(['rev-parse', '--is-bare-repository']).catch(() => 'true')).trim() === 'true';
    if (!bare) {
      const checkedOut = (await there.raw(['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => '')).trim();
      const deny = (await there.raw(['config', '--get', 'receive.denyCurrentBranch']).catch(() => '')).trim();
      if (checkedOut === branch && !['updateInstead', 'ignore', 'warn', 'false'].includes(deny)) {
        return {
          ok: false,
          problem: `${url} is a working checkout with ${branch} checked out: git refuses pushes to that branch, so a revert could not be pushed`,
          fix: `deploy from a bare repository (git clone --bare ${url} ${url.replace(/\/+$/, '')}.git, set repo.url to it and push there), or let pushes update the checkout: git -C ${url} config receive.denyCurrentBranch updateInstead`,
        };
      }
    }
    const gitDir = (await there.raw(['rev-parse', '--absolute-git-dir']).catch(() => join(path, '.git'))).trim();
    try {
      await access(join(gitDir, 'objects'), constants.W_OK);
      await access(join(gitDir, 'refs'), constants.W_OK);
    } catch {
      return { ok: false, problem: `${url} is not writable by this user`, fix: `run immune as a user who may write ${gitDir}, or change its permissions` };
    }
  }

  // A dry run connects to git-receive-pack (authentication and write permission for a URL) and
  // sends nothing. It pushes a commit of a throwaway repository to a ref under refs/immune/.
  const tmp = await mkdtemp(join(tmpdir(), 'immune-push-check-'));
  try {
    const probe = simpleGit({ baseDir: tmp, timeout, abort: opts.signal });
    await probe.init();
    await probe.raw(['-c', 'user.name=immune', '-c', 'user.email=immune@localhost', 'commit', '--allow-empty', '-q', '-m', 'immune push check']);
    await probe.raw(['push', '--dry-run', '--quiet', path, 'HEAD:refs/immune/push-check']);
    return { ok: true };
  } catch (err) {
    return { ok: false, problem: `repository ${url} does not accept pushes: ${firstLine(err)}`, fix: local ? 'deploy from a bare repository you can write to' : 'give this machine write access (a deploy key with write access, or credentials that may push)' };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
