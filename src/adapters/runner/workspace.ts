// Where a shard runs: a checkout on a worker (this machine, or an SSH build worker) that can run
// commands with a wall-clock timeout and an idle watchdog, and hand out temp dirs of its own.

export interface ExecOptions {
  env: Record<string, string>;
  /** Kill the command (its whole process group) after this long. */
  timeoutMs: number;
  /** Kill it when no progress was reported for this long (progress = onLine returning true). */
  idleMs?: number;
  /** Extra idle time allowed before the first progress (loading the suite). */
  startupMs?: number;
  signal: AbortSignal;
  /** Each line of stdout; return true when it shows progress (a test finished). */
  onLine?: (line: string) => boolean | void;
}

export interface ExecResult {
  exitCode: number | undefined;
  /** Set when immune killed the command. */
  killed?: 'timeout' | 'idle' | 'aborted';
  /** The last few KB of output that was not a reporter event, for error messages. */
  tail: string;
  durationMs: number;
}

/** A long-lived command (a runner taking batches on stdin); watched only while a batch is in flight. */
export interface StartOptions {
  env: Record<string, string>;
  signal: AbortSignal;
  onLine?: (line: string) => boolean | void;
}

export interface Watch {
  /** Kill the process (its whole group) unless the work in flight finishes within this long. */
  timeoutMs: number;
  idleMs?: number;
  startupMs?: number;
}

export interface RunningProcess {
  /** One line to its stdin. */
  send(line: string): void;
  /** Start watching a unit of work (timeout, idle watchdog); `unwatch` when it is done. */
  watch(w: Watch): void;
  unwatch(): void;
  /** Close its stdin: it should finish and exit. */
  end(): void;
  /** Kill its process group now. */
  kill(): void;
  readonly exited: Promise<ExecResult>;
}

export interface Workspace {
  /** Worker name (local, or user@host:port). */
  worker: string;
  /** The checkout's directory on the worker. */
  dir: string;
  exec(cmd: string[], opts: ExecOptions): Promise<ExecResult>;
  /** Start a long-lived command with stdin open (killed on `signal`, and when a watch runs out). */
  start(cmd: string[], opts: StartOptions): RunningProcess;
  /** A fresh, empty directory for one shard (its TMPDIR). */
  tempDir(): Promise<string>;
  writeFile(path: string, content: string): Promise<void>;
  dispose(): Promise<void>;
}

export interface Worker {
  name: string;
  slots: number;
  /** Make the checkout available on the worker and run the setup commands there. */
  open(checkout: { sha: string; dir: string }, setup: string[][], signal: AbortSignal, timeoutMs: number): Promise<Workspace>;
  close?(): Promise<void>;
}

const TAIL = 8192;

/**
 * Shared bookkeeping of a running command: line splitting, output tail, the timeout and idle
 * timers and the abort signal, each calling `kill` once with its reason.
 */
export class Supervisor {
  killed: ExecResult['killed'];
  private tailText = '';
  private partial = '';
  private timer: NodeJS.Timeout | undefined;
  private idle: NodeJS.Timeout | undefined;
  private progressed = false;
  private watching: Watch | undefined;
  private readonly onAbort: () => void;
  readonly started = Date.now();

  /** `opts.timeoutMs` undefined: nothing is watched until `watch` (long-lived processes). */
  constructor(
    private readonly opts: Omit<ExecOptions, 'timeoutMs'> & { timeoutMs?: number },
    private readonly kill: () => void,
  ) {
    if (opts.timeoutMs !== undefined) this.watch({ timeoutMs: opts.timeoutMs, idleMs: opts.idleMs, startupMs: opts.startupMs });
    this.onAbort = () => this.stop('aborted');
    if (opts.signal.aborted) queueMicrotask(this.onAbort);
    else opts.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Watch a unit of work: the timeout starts now, and the idle watchdog with its start-up grace. */
  watch(w: Watch): void {
    this.unwatch();
    this.watching = w;
    this.progressed = false;
    this.timer = setTimeout(() => this.stop('timeout'), w.timeoutMs);
    this.kick();
  }

  unwatch(): void {
    this.watching = undefined;
    if (this.timer) clearTimeout(this.timer);
    if (this.idle) clearTimeout(this.idle);
    this.timer = this.idle = undefined;
  }

  stop(reason: NonNullable<ExecResult['killed']>): void {
    if (this.killed) return;
    this.killed = reason;
    this.kill();
  }

  private kick(): void {
    const w = this.watching;
    if (w?.idleMs === undefined) return;
    if (this.idle) clearTimeout(this.idle);
    const grace = this.progressed ? 0 : (w.startupMs ?? 0);
    this.idle = setTimeout(() => this.stop('idle'), w.idleMs + grace);
  }

  stdout(chunk: Buffer | string): void {
    this.partial += chunk.toString();
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      this.line(line);
    }
  }

  stderr(chunk: Buffer | string): void {
    this.addTail(chunk.toString());
  }

  private line(line: string): void {
    const progress = this.opts.onLine?.(line);
    if (progress) {
      this.progressed = true;
      this.kick();
    } else this.addTail(line + '\n');
  }

  private addTail(s: string): void {
    this.tailText = (this.tailText + s).slice(-TAIL);
  }

  finish(exitCode: number | undefined): ExecResult {
    if (this.partial) this.line(this.partial);
    this.partial = '';
    this.unwatch();
    this.opts.signal.removeEventListener('abort', this.onAbort);
    return { exitCode, killed: this.killed, tail: this.tailText, durationMs: Date.now() - this.started };
  }
}
