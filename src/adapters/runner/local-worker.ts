// Shards as local worker processes (execa), each in its own process group so a hung runner dies
// with everything it started.
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Supervisor } from './workspace.js';
import type { ExecOptions, ExecResult, RunningProcess, StartOptions, Worker, Workspace } from './workspace.js';

/**
 * A local command in a process group of its own, supervised: output split into lines, timers, and
 * the whole group killed on timeout, abort, or when the command exits (whatever it left behind,
 * servers or watchers, goes with it, or it would hold the pipes open).
 */
function spawnGroup(cwd: string, cmd: string[], opts: Omit<ExecOptions, 'timeoutMs'> & { timeoutMs?: number }, stdin: 'ignore' | 'pipe') {
  const [file, ...args] = cmd;
  if (!file) throw new Error('empty command');
  const child = execa(file, args, { cwd, env: opts.env, detached: true, reject: false, stdin, buffer: false, stripFinalNewline: false });
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  const sup = new Supervisor(opts, killGroup);
  child.stdout?.on('data', (c: Buffer) => sup.stdout(c));
  child.stderr?.on('data', (c: Buffer) => sup.stderr(c));
  child.stdin?.on('error', () => undefined);
  child.on('exit', killGroup);
  const exited = (async () => {
    const res = await child;
    const code = typeof res.exitCode === 'number' ? res.exitCode : undefined;
    if (res.failed && code === undefined && !sup.killed && res.code === 'ENOENT') sup.stderr(`${file}: command not found\n`);
    return sup.finish(code);
  })();
  return { child, sup, exited };
}

export function execLocal(cwd: string, cmd: string[], opts: ExecOptions): Promise<ExecResult> {
  return spawnGroup(cwd, cmd, opts, 'ignore').exited;
}

/** A long-lived local command with stdin open (a runner taking batches). */
export function startLocal(cwd: string, cmd: string[], opts: StartOptions): RunningProcess {
  const { child, sup, exited } = spawnGroup(cwd, cmd, opts, 'pipe');
  return {
    send: (line) => void child.stdin?.write(line + '\n'),
    watch: (w) => sup.watch(w),
    unwatch: () => sup.unwatch(),
    end: () => void child.stdin?.end(),
    kill: () => sup.stop('aborted'),
    exited,
  };
}

export function localWorker(slots: number): Worker {
  return {
    name: 'local',
    slots,
    async open(checkout, setup, signal, timeoutMs) {
      const temps: string[] = [];
      const ws: Workspace = {
        worker: 'local',
        dir: checkout.dir,
        exec: (cmd, opts) => execLocal(checkout.dir, cmd, opts),
        start: (cmd, opts) => startLocal(checkout.dir, cmd, opts),
        async tempDir() {
          const d = await mkdtemp(join(tmpdir(), 'immune-shard-'));
          temps.push(d);
          return d;
        },
        writeFile: (path, content) => writeFile(path, content),
        async dispose() {
          await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
        },
      };
      await runSetup(ws, setup, signal, timeoutMs);
      return ws;
    },
  };
}

/** Run setup commands in order; the first that fails stops the run with its output. */
export async function runSetup(ws: Workspace, setup: string[][], signal: AbortSignal, timeoutMs: number): Promise<void> {
  for (const cmd of setup) {
    const res = await ws.exec(cmd, { env: { ...process.env, CI: 'true' } as Record<string, string>, timeoutMs, signal });
    if (res.exitCode !== 0 || res.killed) {
      const why = res.killed ? `killed (${res.killed})` : `exit ${res.exitCode ?? '?'}`;
      throw new SetupError(`setup "${cmd.join(' ')}" on ${ws.worker} failed: ${why}\n${res.tail.trim().split('\n').slice(-15).join('\n')}`);
    }
  }
}

export class SetupError extends Error {}
