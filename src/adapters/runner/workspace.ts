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

export interface Workspace {
  /** Worker name (local, or user@host:port). */
  worker: string;
  /** The checkout's directory on the worker. */
  dir: string;
  exec(cmd: string[], opts: ExecOptions): Promise<ExecResult>;
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
  private readonly timers: NodeJS.Timeout[] = [];
  private idle: NodeJS.Timeout | undefined;
  private progressed = false;
  private readonly onAbort: () => void;
  readonly started = Date.now();

  constructor(private readonly opts: ExecOptions, private readonly kill: () => void) {
    this.timers.push(setTimeout(() => this.stop('timeout'), opts.timeoutMs));
    this.kick();
    this.onAbort = () => this.stop('aborted');
    if (opts.signal.aborted) queueMicrotask(this.onAbort);
    else opts.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  stop(reason: NonNullable<ExecResult['killed']>): void {
    if (this.killed) return;
    this.killed = reason;
    this.kill();
  }

  private kick(): void {
    if (this.opts.idleMs === undefined) return;
    if (this.idle) clearTimeout(this.idle);
    const grace = this.progressed ? 0 : (this.opts.startupMs ?? 0);
    this.idle = setTimeout(() => this.stop('idle'), this.opts.idleMs + grace);
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
    }
    else this.addTail(line + '\n');
  }

  private addTail(s: string): void {
    this.tailText = (this.tailText + s).slice(-TAIL);
  }

  finish(exitCode: number | undefined): ExecResult {
    if (this.partial) this.line(this.partial);
    this.partial = '';
    for (const t of this.timers) clearTimeout(t);
    if (this.idle) clearTimeout(this.idle);
    this.opts.signal.removeEventListener('abort', this.onAbort);
    return { exitCode, killed: this.killed, tail: this.tailText, durationMs: Date.now() - this.started };
  }
}
