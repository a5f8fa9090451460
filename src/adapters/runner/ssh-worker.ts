// SSH build workers (node-ssh): each run ships the checkout as a tarball into a directory of its
// own on the worker, runs setup there, and runs shards as remote process groups that can be killed.
import { execa } from 'execa';
import { NodeSSH } from 'node-ssh';
import { createHmac, randomBytes } from 'node:crypto';
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { PassThrough } from 'node:stream';
import type { SshWorkerConfig } from '../../core/config/tests.js';
import { runSetup } from './local-worker.js';
import { Supervisor, type ExecOptions, type ExecResult, type RunningProcess, type StartOptions, type Worker, type Workspace } from './workspace.js';

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
  const name = `${cfg.user}@${cfg.host}:${cfg.port}`;
  let conn: Promise<NodeSSH> | undefined;
  const connect = (): Promise<NodeSSH> => {
    if (!conn) {
      conn = (async () => {
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
        conn = undefined;
        throw new Error(`ssh worker ${name}: ${err.message}`);
      });
    }
    return conn;
  };

  /** A remote command as a process group; `stdin` given: it stays open until that stream ends. */
  const startRemote = (ssh: NodeSSH, cwd: string, cmd: string[], opts: Omit<ExecOptions, 'timeoutMs'> & { timeoutMs?: number }, stdin?: PassThrough): { sup: Supervisor; done: Promise<ExecResult> } => {
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
  };

  const execRemote = (ssh: NodeSSH, cwd: string, cmd: string[], opts: ExecOptions): Promise<ExecResult> => startRemote(ssh, cwd, cmd, opts).done;

  const spawnRemote = (ssh: NodeSSH, cwd: string, cmd: string[], opts: StartOptions): RunningProcess => {
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
  };

  return {
    name,
    slots: cfg.slots,
    async open(checkout, setup, signal, timeoutMs) {
      const ssh = await connect();
      const dir = posix.join(cfg.dir, `${checkout.sha.slice(0, 12)}-${randomBytes(4).toString('hex')}`);
      const localTmp = await mkdtemp(join(tmpdir(), 'immune-ship-'));
      const tarball = join(localTmp, 'checkout.tgz');
      try {
        await execa('tar', ['-czf', tarball, '--exclude=.git', '-C', checkout.dir, '.'], { cancelSignal: signal });
        const remoteTar = `${dir}.tgz`;
        const mk = await ssh.execCommand(`mkdir -p ${shellQuote(dir)}`);
        if (mk.code !== 0) throw new Error(`ssh worker ${name}: mkdir ${dir}: ${mk.stderr}`);
        await ssh.putFile(tarball, remoteTar);
        const x = await ssh.execCommand(`tar -xzf ${shellQuote(remoteTar)} -C ${shellQuote(dir)} && rm -f ${shellQuote(remoteTar)}`);
        if (x.code !== 0) throw new Error(`ssh worker ${name}: unpacking the checkout: ${x.stderr}`);
      } finally {
        await rm(localTmp, { recursive: true, force: true });
      }
      let temps = 0;
      const ws: Workspace = {
        worker: name,
        dir,
        exec: (cmd, opts) => execRemote(ssh, dir, cmd, opts),
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
      await runSetup(ws, setup, signal, timeoutMs);
      return ws;
    },
    async close() {
      const c = conn;
      conn = undefined;
      if (c) (await c.catch(() => undefined))?.dispose();
    },
  };
}
