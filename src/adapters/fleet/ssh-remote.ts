// The remote commands the SSH fleet runs, built only from configuration and artifact ids, every
// word single-quoted for the remote shell (SSH always hands the command line to a shell).
import { DeployError } from '../../core/errors.js';

/** One word for a POSIX shell: single quotes, with embedded quotes closed and escaped. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function shellJoin(words: string[]): string {
  return words.map(shellQuote).join(' ');
}

/** Release ids are directory names: refuse anything that could mean another path. */
export function checkReleaseId(id: string, server: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id))
    throw new DeployError(`${server}: refusing release id "${id}" (letters, digits, . _ - only)`, { server });
  return id;
}

/**
 * The remote layout: <dir>/releases/<id>/ and <dir>/current -> releases/<id>. A leading "~/" is
 * dropped: SSH commands and SFTP both start in the login user's home.
 */
export class RemoteLayout {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir === '~' ? '.' : dir.startsWith('~/') ? dir.slice(2) || '.' : dir;
  }
  releases(): string {
    return `${this.dir}/releases`;
  }
  release(id: string): string {
    return `${this.dir}/releases/${id}`;
  }
  upload(id: string): string {
    return `${this.dir}/releases/.${id}.tar.gz`;
  }
  current(): string {
    return `${this.dir}/current`;
  }

  isInstalled(id: string): string {
    return `if test -d ${shellQuote(this.release(id))}; then echo yes; else echo no; fi`;
  }
  prepare(): string {
    return shellJoin(['mkdir', '-p', this.releases()]);
  }
  /** Unpack into a temporary directory, then rename: a half-unpacked release is never visible. */
  unpack(id: string): string {
    const tmp = `${this.releases()}/.${id}.tmp`;
    return [
      shellJoin(['rm', '-rf', tmp]),
      shellJoin(['mkdir', tmp]),
      shellJoin(['tar', '-xzf', this.upload(id), '-C', tmp]),
      shellJoin(['mv', '-T', tmp, this.release(id)]),
      shellJoin(['rm', '-f', this.upload(id)]),
    ].join(' && ');
  }
  /** Atomic switch: a new link under a temporary name renamed over `current` (rename(2) is atomic). */
  activate(id: string): string {
    const tmp = `${this.dir}/.current.tmp`;
    return [
      // The release's mtime records when it was last activated, for pruning.
      shellJoin(['touch', '-c', this.release(id)]),
      shellJoin(['ln', '-sfn', `releases/${id}`, tmp]),
      shellJoin(['mv', '-T', tmp, this.current()]),
    ].join(' && ');
  }
  /** Run the configured restart command inside the new release, with the release named in the environment. */
  restart(command: string[], env: Record<string, string>): string {
    const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    return `cd ${shellQuote(this.current())} && ${shellJoin(['env', ...vars, ...command])}`;
  }
  readCurrent(): string {
    return shellJoin(['readlink', this.current()]);
  }
  /** Releases, most recently activated first. */
  listReleases(): string {
    return `cd ${shellQuote(this.releases())} && ls -1t`;
  }
  remove(ids: string[]): string {
    return shellJoin(['rm', '-rf', ...ids.map((id) => this.release(id))]);
  }
}

/** Which releases to delete so that `keep` remain, never the current one. `listed` is newest first. */
export function releasesToPrune(listed: string[], current: string | undefined, keep: number): string[] {
  const ids = listed.map((l) => l.trim()).filter((l) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(l));
  const kept = new Set<string>(current ? [current] : []);
  for (const id of ids) {
    if (kept.size >= keep) break;
    kept.add(id);
  }
  return ids.filter((id) => !kept.has(id));
}
