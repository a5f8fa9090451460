// SSH build workers (node-ssh): each run checks out its sha in a directory of its own on the worker
// (git pushes the commit into a cache repository there, so only new objects travel, and the
// checkout borrows the cache's objects), runs setup there, and runs shards as remote process groups
// that can be killed. A directory that is not a git checkout of its sha is shipped as a tarball.
import { execa } from 'execa';
import { NodeSSH } from 'node-ssh';
import { createHmac, randomBytes } from 'node:crypto';
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { PassThrough } from 'node:stream';
import type { SshWorkerConfig } from '../../core/config/tests.js';
import { runSetup } from './local-worker.js';
import { Supervisor } from './workspace.js';
import type { ExecOptions, ExecResult, RunningProcess, StartOptions, Worker, Workspace } from './workspace.js';

/** Single-quote for a POSIX shell; the remote side always gets a shell string. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function expandHome(p: string): string {
  return p.startsWith('~/') ? join(homedir(), p.slice(2)) : p;
}

/** Whether `keyB64` is listed for host:port in a known_hosts text (plain or hashed names). */
export function knownHostMatches(knownHosts: string, host: string, port: number, keyB64: string): boolean {
  const name = port === 22 ? host : `[${host}]:${port}`;
  for (const raw of knownHosts.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [hosts, , key] = line.split(/\s+/);
    if (!hosts || !key || key !== keyB64) continue;
    for (const h of hosts.split(',')) {
      if (h === name) return true;
      const m = /^\|1\|([^|]+)\|(.+)$/.exec(h);
      if (m && createHmac('sha1', Buffer.from(m[1]!, 'base64')).update(name).digest('base64') === m[2]) return true;
    }
  }
  return false;
}

export function sshWorker(cfg: SshWorkerConfig): Worker {
  return new SshWorker(cfg);
}

class SshWorker implements Worker {
  readonly name: string;
  readonly slots: number;
  private conn: Promise<NodeSSH> | undefined;
  /** The worker's cache repository: every pushed sha is kept there under refs/immune. */
  private readonly cache: string;

  constructor(private readonly cfg: SshWorkerConfig) {
    this.name = `${cfg.user}@${cfg.host}:${cfg.port}`;
    this.slots = cfg.slots;
    this.cache = posix.join(cfg.dir, 'repo.git');
  }

  async open(checkout: { sha: string; dir: string }, setup: string[][], signal: AbortSignal, timeoutMs: number): Promise<Workspace> {
    const ssh = await this.connect();
    const dir = posix.join(this.cfg.dir, `${checkout.sha.slice(0, 12)}-${randomBytes(4).toString('hex')}`);
    if (await isGitCheckout(checkout.dir, checkout.sha)) await this.checkoutRemote(ssh, checkout, dir, signal);
    else await this.shipTarball(ssh, checkout.dir, dir, signal);
    const ws = this.workspace(ssh, dir);
    await runSetup(ws, setup, signal, timeoutMs);
    return ws;
  }

  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    if (c) (await c.catch(() => undefined))?.dispose();
  }

  private connect(): Promise<NodeSSH> {
    const { cfg } = this;
    if (!this.conn) {
      this.conn = (async () => {
        const known = await readFile(expandHome(cfg.known_hosts), 'utf8').catch(() => '');
        const ssh = new NodeSSH();
        await ssh.connect({
          host: cfg.host,
          port: cfg.port,
          username: cfg.user,
          privateKeyPath: expandHome(cfg.key),
          readyTimeout: 10_000,
          hostVerifier: (key: Buffer) => knownHostMatches(known, cfg.host, cfg.port, key.toString('base64')),
        });
        return ssh;
      })().catch((err: Error) => {
        this.conn = undefined;
        throw new Error(`ssh worker ${this.name}: ${err.message}`);
      });
    }
    return this.conn;
  }

  /** A checkout's directory on the worker, with its temp dirs beside it. */
  private workspace(ssh: NodeSSH, dir: string): Workspace {
    const name = this.name;
    let temps = 0;
    return {
      worker: name,
      dir,
      exec: (cmd, opts) => startRemote(ssh, dir, cmd, opts).done,
      start: (cmd, opts) => spawnRemote(ssh, dir, cmd, opts),
      async tempDir() {
        const d = posix.join(`${dir}.tmp`, String(temps++));
        const r = await ssh.execCommand(`mkdir -p ${shellQuote(d)}`);
        if (r.code !== 0) throw new Error(`ssh worker ${name}: mkdir ${d}: ${r.stderr}`);
        return d;
      },
      async writeFile(path, content) {
        const r = await ssh.execCommand(`cat > ${shellQuote(path)}`, { stdin: content });
        if (r.code !== 0) throw new Error(`ssh worker ${name}: writing ${path}: ${r.stderr}`);
      },
      async dispose() {
        await ssh.execCommand(`rm -rf ${shellQuote(dir)} ${shellQuote(`${dir}.tmp`)}`).catch(() => undefined);
      },
    };
  }

  /** The URL git pushes the cache to (over the system's ssh, with the worker's key and known_hosts only). */
  private cacheUrl(): string {
    const { cfg, cache } = this;
    const path = cache.startsWith('/') ? cache : `/~/${cache.replace(/^~\//, '')}`;
    return `ssh://${cfg.user}@${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${cfg.port}${path}`;
  }

  private gitSsh(): string {
    const { cfg } = this;
    return [
      'ssh',
      '-i',
      expandHome(cfg.key),
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${expandHome(cfg.known_hosts)}`,
      '-o',
      'LogLevel=ERROR',
    ]
      .map(shellQuote)
      .join(' ');
  }

  /** The sha into the worker's cache repository, then checked out (detached) in `dir`. */
  private async checkoutRemote(ssh: NodeSSH, checkout: { sha: string; dir: string }, dir: string, signal: AbortSignal): Promise<void> {
    const { cfg, cache, name } = this;
    const init = await ssh.execCommand(
      // One ref per sha pushed; the newest 50 are kept, so later pushes send only what is new.
      `mkdir -p ${shellQuote(cfg.dir)} && git init -q --bare ${shellQuote(cache)} && ` +
        `git -C ${shellQuote(cache)} for-each-ref --sort=-committerdate --format='%(refname)' refs/immune | tail -n +51 | xargs -r -n1 git -C ${shellQuote(cache)} update-ref -d`,
    );
    if (init.code !== 0) throw new Error(`ssh worker ${name}: preparing ${cache} (is git installed there?): ${init.stderr.trim()}`);
    const push = await execa(
      'git',
      ['-C', checkout.dir, 'push', '-q', '--no-verify', this.cacheUrl(), `+${checkout.sha}:refs/immune/${checkout.sha}`],
      {
        env: { GIT_SSH_COMMAND: this.gitSsh(), GIT_TERMINAL_PROMPT: '0' },
        reject: false,
        cancelSignal: signal,
      },
    );
    if (push.exitCode !== 0)
      throw new Error(
        `ssh worker ${name}: pushing ${checkout.sha.slice(0, 12)} to ${cache}: ${String(push.stderr || push.message || 'git push failed')
          .trim()
          .split('\n')
          .slice(-5)
          .join('\n')}`,
      );
    const co = await ssh.execCommand(
      `git clone -q --shared --no-checkout ${shellQuote(cache)} ${shellQuote(dir)} && git -C ${shellQuote(dir)} -c advice.detachedHead=false checkout -q --detach ${checkout.sha}`,
    );
    if (co.code !== 0) throw new Error(`ssh worker ${name}: checking out ${checkout.sha.slice(0, 12)} in ${dir}: ${co.stderr.trim()}`);
  }

  /** The directory as it is, packed and unpacked on the worker (not a git checkout). */
  private async shipTarball(ssh: NodeSSH, from: string, dir: string, signal: AbortSignal): Promise<void> {
    const name = this.name;
    const localTmp = await mkdtemp(join(tmpdir(), 'immune-ship-'));
    const tarball = join(localTmp, 'checkout.tgz');
    try {
      await execa('tar', ['-czf', tarball, '--exclude=.git', '-C', from, '.'], { cancelSignal: signal });
      const remoteTar = `${dir}.tgz`;
      const mk = await ssh.execCommand(`mkdir -p ${shellQuote(dir)}`);
      if (mk.code !== 0) throw new Error(`ssh worker ${name}: mkdir ${dir}: ${mk.stderr}`);
      await ssh.putFile(tarball, remoteTar);
      const x = await ssh.execCommand(`tar -xzf ${shellQuote(remoteTar)} -C ${shellQuote(dir)} && rm -f ${shellQuote(remoteTar)}`);
      if (x.code !== 0) throw new Error(`ssh worker ${name}: unpacking the checkout: ${x.stderr}`);
    } finally {
      await rm(localTmp, { recursive: true, force: true });
    }
  }
}

/** Whether `dir` is a git repository holding `sha` (what the line's checkouts are). */
async function isGitCheckout(dir: string, sha: string): Promise<boolean> {
  return (
    /^[0-9a-f]{7,64}$/.test(sha) && (await execa('git', ['-C', dir, 'cat-file', '-e', `${sha}^{commit}`], { reject: false })).exitCode === 0
  );
}

/** A remote command as a process group; `stdin` given: it stays open until that stream ends. */
function startRemote(
  ssh: NodeSSH,
  cwd: string,
  cmd: string[],
  opts: Omit<ExecOptions, 'timeoutMs'> & { timeoutMs?: number },
  stdin?: PassThrough,
): { sup: Supervisor; done: Promise<ExecResult> } {
  // The login shell is the session leader, so its pid is the process group to kill.
  const envs = Object.entries(opts.env)
    .filter(([k]) => ['TMPDIR', 'TMP', 'TEMP', 'PORT_BASE', 'IMMUNE_SHARD', 'CI'].includes(k))
    .map(([k, v]) => `${k}=${shellQuote(v)}`);
  const line = `echo "@@pgid $$"; cd ${shellQuote(cwd)} && exec env ${envs.join(' ')} ${cmd.map(shellQuote).join(' ')}`;
  let pgid: string | undefined;
  const sup = new Supervisor(opts, () => {
    stdin?.end();
    if (pgid) void ssh.execCommand(`kill -KILL -- -${pgid} 2>/dev/null; pkill -KILL -g ${pgid} 2>/dev/null; true`).catch(() => undefined);
  });
  const first = { done: false, buf: '' };
  const done = ssh
    .execCommand(line, {
      ...(stdin ? { stdin } : {}),
      onStdout: (chunk) => {
        if (first.done) return sup.stdout(chunk);
        first.buf += chunk.toString();
        const nl = first.buf.indexOf('\n');
        if (nl < 0) return;
        const m = /@@pgid (\d+)/.exec(first.buf.slice(0, nl));
        pgid = m?.[1];
        first.done = true;
        if (sup.killed && pgid) void ssh.execCommand(`kill -KILL -- -${pgid}`).catch(() => undefined);
        sup.stdout(first.buf.slice(nl + 1));
      },
      onStderr: (chunk) => sup.stderr(chunk),
    })
    .then((res) => sup.finish(typeof res.code === 'number' ? res.code : undefined));
  return { sup, done };
}

function spawnRemote(ssh: NodeSSH, cwd: string, cmd: string[], opts: StartOptions): RunningProcess {
  const stdin = new PassThrough();
  const { sup, done } = startRemote(ssh, cwd, cmd, opts, stdin);
  return {
    send: (l) => void stdin.write(l + '\n'),
    watch: (w) => sup.watch(w),
    unwatch: () => sup.unwatch(),
    end: () => void stdin.end(),
    kill: () => sup.stop('aborted'),
    exited: done,
  };
}
