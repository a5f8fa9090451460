// Detached server processes for the local fleet: start in their own process group with a pidfile,
// recognise them again after the orchestrator restarts, stop them gracefully or kill the group.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { readFile, rm, writeFile, rename } from 'node:fs/promises';
import { sep } from 'node:path';

export interface PidFile {
  pid: number;
  release: string;
  port: number;
  /** ms since the epoch. */
  startedAt: number;
}

export async function readPidFile(file: string): Promise<PidFile | undefined> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as PidFile;
    return Number.isInteger(v.pid) && v.pid > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

export async function writePidFile(file: string, v: PidFile): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(v) + '\n');
  await rename(tmp, file);
}

export async function removePidFile(file: string): Promise<void> {
  await rm(file, { force: true });
}

/** True while the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/**
 * True when `pid` is alive and runs inside `dir` (its working directory is below it), so a pidfile
 * left over from a reboot cannot make us signal an unrelated process that reused the pid.
 * Where /proc is missing, aliveness alone decides.
 */
export function ownsProcess(pid: number, dir: string): boolean {
  if (!isAlive(pid)) return false;
  let cwd: string;
  try {
    cwd = realpathSync(`/proc/${pid}/cwd`);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' && !existsProc();
  }
  const root = realpathSync(dir);
  return cwd === root || cwd.startsWith(root + sep);
}

function existsProc(): boolean {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
}

/** Socket inodes listening on TCP `port` (IPv4 and IPv6), from /proc/net; empty where /proc is missing. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      if (cols.length < 10 || !local || cols[3] !== '0A') continue; // 0A: LISTEN
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port && cols[9] !== '0') inodes.add(cols[9]!);
    }
  }
  return inodes;
}

/**
 * Pids of the processes holding a socket that listens on TCP `port` (Linux: /proc/net/tcp{,6} and
 * /proc/<pid>/fd). Empty where /proc is missing or nothing listens; processes we may not inspect are skipped.
 */
export function listenersOn(port: number): number[] {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return [];
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${name}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${name}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1]!)) {
        pids.push(Number(name));
        break;
      }
    }
  }
  return pids;
}

export interface Started {
  pid: number;
  child: ChildProcess;
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<string>;
}

/** Start a command detached in its own process group, output appended to `logFile`. */
export function startDetached(command: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; logFile: string }): Started {
  const fd = openSync(opts.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command[0], command.slice(1), { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit code ${code}`));
    child.once('error', (err) => resolve(err.message));
  });
  child.unref();
  if (child.pid === undefined) return { pid: -1, child, exited };
  return { pid: child.pid, child, exited };
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

async function waitDead(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (isAlive(pid)) {
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

/** SIGTERM the process group, wait up to graceMs, then SIGKILL it. Resolves once the leader is gone. */
export async function stopGroup(pid: number, graceMs: number): Promise<'stopped' | 'killed' | 'gone'> {
  if (!isAlive(pid)) return 'gone';
  signalGroup(pid, 'SIGTERM');
  if (await waitDead(pid, graceMs)) {
    signalGroup(pid, 'SIGKILL'); // stragglers in the group
    return 'stopped';
  }
  signalGroup(pid, 'SIGKILL');
  await waitDead(pid, 2000);
  return 'killed';
}

/** The last lines of a log file, for error messages. */
export async function tail(file: string, lines = 5): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
