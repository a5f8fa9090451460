// A repository in memory for the engine on the simulation: commits pushed by the test, reverts appended.
import type { Commit, Repo } from '../../src/ports.js';

/** A repository in memory: commits pushed by the test, reverts appended. */
export class MemoryRepo implements Repo {
  commits: Commit[] = [];
  author = 'dev';
  email = 'dev@example.com';
  reverts: { shas: string[]; message: string; sha: string }[] = [];
  push(sha: string, subject: string): void {
    this.commits.push({ sha, author: this.author, email: this.email, subject, message: subject, time: 0 });
  }
  async tip(): Promise<string> {
    return this.commits.at(-1)!.sha;
  }
  async commitsBetween(from: string | undefined, to: string): Promise<Commit[]> {
    const end = this.commits.findIndex((c) => c.sha === to);
    const start = from ? this.commits.findIndex((c) => c.sha === from) + 1 : end;
    return this.commits.slice(start, end + 1);
  }
  async commit(sha: string): Promise<Commit> {
    const c = this.commits.find((x) => x.sha === sha || x.sha.startsWith(sha));
    if (!c) throw new Error(`no commit ${sha}`);
    return c;
  }
  async checkout(sha: string) {
    return { sha, dir: '/nonexistent', dispose: async () => undefined };
  }
  /** Each commit its own tree (enough for known-bad records; reverts restore nothing here). */
  async tree(sha: string): Promise<string> {
    return `tree-${sha}`;
  }
  async revert(shas: string[], message: string): Promise<string> {
    const sha = `${'f'.repeat(8)}${String(this.reverts.length + 1).padStart(32, '0')}`;
    this.reverts.push({ shas, message, sha });
    this.push(sha, `Revert ${shas.join(', ')}`);
    return sha;
  }
}
