// One long-lived mocha runner on a worker slot, driven batch by batch: start it (it answers
// "ready" once the project's config and --require modules are loaded), send a batch, collect its
// per-test results and file load times, and tell a finished batch from a runner that died or was
// killed while it ran (hung test, batch timeout, abort).
import { posix } from 'node:path';
import type { TestCaseResult } from '../../ports.js';
import type { Selection } from '../../core/tests/work-queue.js';
import { exactGrep, mochaRcSource, parseMochaLine } from './mocha.js';
import { mochaWorkerSource, parseWorkerLine, workerCommand, type WorkerBatch, type WorkerEvent } from './mocha-worker.js';
import type { ExecResult, RunningProcess, Watch, Workspace } from './workspace.js';

export interface BatchOutcome {
  /** Tests the runner reported, in order. */
  results: TestCaseResult[];
  /** Load time per file of the batch. */
  loads: { file: string; ms: number }[];
  /** Set when the batch could not load (the loader's error). */
  error?: string;
  /** Set when the runner ended while the batch was in flight (killed, crashed). */
  died?: ExecResult;
  /** The test that began last (mocha's test event), for telling which test a runner died in. */
  running?: { file: string; title: string };
}

export interface SessionOptions {
  env: Record<string, string>;
  signal: AbortSignal;
  /** Per-batch watch: timeout, idle watchdog (test_timeout + 2 s) and the grace before the first event. */
  watch: Watch;
  /** Overrides for the generated mocha config (timeout). */
  mocharc: Record<string, unknown>;
  /** Start node with these options (what the config asked for last time; the runner checks them). */
  nodeArgs?: string[];
}

export class MochaSession {
  private current: { batch: number; onEvent: (e: WorkerEvent) => void; onResult: (r: TestCaseResult) => void } | undefined;
  private ready: (() => void) | undefined;
  private nextBatch = 0;
  private readonly proc: RunningProcess;
  readonly started = Date.now();
  /** The node options the project's mocha config asks for (reported when the runner is ready). */
  nodeArgs: string[] | undefined;
  /** Tests reported over the session's life. */
  tests = 0;
  ok = true;

  private constructor(
    private readonly ws: Workspace,
    tmp: string,
    opts: SessionOptions,
  ) {
    const rc = posix.join(tmp, 'immune-mocharc.cjs');
    const script = posix.join(tmp, 'immune-mocha-worker.cjs');
    this.proc = ws.start(workerCommand(script, rc, opts.nodeArgs), {
      env: opts.env,
      signal: opts.signal,
      onLine: (line) => this.line(line),
    });
  }

  /** Start a runner in `tmp` (already holding the generated files); undefined, with its output, when it cannot start. */
  static async start(ws: Workspace, tmp: string, opts: SessionOptions): Promise<{ session: MochaSession } | { failed: ExecResult }> {
    await ws.writeFile(posix.join(tmp, 'immune-mocharc.cjs'), mochaRcSource({ reporter: 'json-stream', parallel: false, ...opts.mocharc }));
    await ws.writeFile(posix.join(tmp, 'immune-mocha-worker.cjs'), mochaWorkerSource);
    const s = new MochaSession(ws, tmp, opts);
    s.watchOpts = opts.watch;
    s.proc.watch(opts.watch);
    const ready = new Promise<void>((resolve) => (s.ready = resolve));
    const first = await Promise.race([ready.then(() => undefined), s.proc.exited]);
    s.proc.unwatch();
    if (first) return { failed: first };
    return { session: s };
  }

  private watchOpts: Watch | undefined;

  private line(line: string): boolean {
    const ev = parseWorkerLine(line);
    if (ev) {
      if (ev.type === 'ready') {
        this.nodeArgs = ev.nodeArgs;
        this.ready?.();
      } else if (this.current && 'batch' in ev && ev.batch === this.current.batch) this.current.onEvent(ev);
      return true;
    }
    const m = parseMochaLine(line);
    if (!m || (m.kind !== 'pass' && m.kind !== 'fail') || m.fullTitle === undefined || !this.current) return false;
    const file = m.file?.startsWith('/') ? posix.relative(this.ws.dir, m.file) : (m.file ?? '');
    this.tests++;
    if (m.kind === 'fail') this.ok = false;
    this.current.onResult({
      id: `${file}::${m.fullTitle}`,
      file,
      title: m.fullTitle,
      state: m.kind === 'pass' ? 'passed' : 'failed',
      durationMs: m.durationMs ?? 0,
      ...(m.error ? { error: m.error } : {}),
    });
    return true;
  }

  /** Run the selected tests of these files in the warm runner; tests selected but not run (skipped) come back as skipped. */
  run(files: string[], select: Selection, onResult: (r: TestCaseResult) => void): Promise<BatchOutcome> {
    return this.send(grepOf(select, { files }), onResult);
  }

  /** List the suite's tests (a dry run over the spec globs, or one part of them): every test comes back as passed. */
  async discover(spec: string[], part = 0, parts = 1): Promise<BatchOutcome> {
    const tests = this.tests;
    const ok = this.ok;
    const out = await this.send({ files: [], grep: '', discover: { spec, part, parts } }, () => undefined);
    // Listing is not running: it does not count as tests this runner ran (and skipped tests are not listed).
    this.tests = tests;
    this.ok = ok && !out.died;
    out.results = out.results.filter((r) => r.state === 'passed');
    return out;
  }

  /** The spec files these globs select, as mocha finds them with the project's config (nothing loads). */
  async expand(spec: string[]): Promise<{ files: string[] } | { failed: BatchOutcome }> {
    let files: string[] | undefined;
    const out = await this.send(
      { files: [], grep: '', expand: spec },
      () => undefined,
      (e) => {
        if (e.type === 'files') files = e.files;
      },
    );
    return files && !out.died && !out.error ? { files } : { failed: out };
  }

  private async send(
    msg: Omit<WorkerBatch, 'batch'>,
    onResult: (r: TestCaseResult) => void,
    onEvent?: (e: WorkerEvent) => void,
  ): Promise<BatchOutcome> {
    const batch = this.nextBatch++;
    const out: BatchOutcome = { results: [], loads: [] };
    const finished = new Promise<void>((resolve) => {
      this.current = {
        batch,
        onResult: (r) => {
          out.results.push(r);
          onResult(r);
        },
        onEvent: (e) => {
          onEvent?.(e);
          if (e.type === 'loaded') out.loads.push({ file: e.file, ms: e.ms });
          if (e.type === 'begin') out.running = { file: e.file, title: e.title };
          if (e.type === 'pending') {
            const r: TestCaseResult = { id: `${e.file}::${e.title}`, file: e.file, title: e.title, state: 'skipped', durationMs: 0 };
            out.results.push(r);
            onResult(r);
          }
          if (e.type === 'error') out.error = e.error;
          if (e.type === 'done' || e.type === 'error') resolve();
        },
      };
    });
    this.proc.watch(this.watchOpts!);
    this.proc.send(JSON.stringify({ batch, ...msg } satisfies WorkerBatch));
    const died = await Promise.race([finished.then(() => undefined), this.proc.exited]);
    this.proc.unwatch();
    this.current = undefined;
    if (died) {
      out.died = died;
      this.ok = false;
    }
    return out;
  }

  /** Close its stdin and wait for it to exit (killed after `graceMs`). */
  async close(graceMs = 5_000): Promise<ExecResult> {
    this.proc.end();
    const t = setTimeout(() => this.proc.kill(), graceMs);
    try {
      return await this.proc.exited;
    } finally {
      clearTimeout(t);
    }
  }

  /** The runner's exit (for a session that died during a batch, already settled). */
  get exited(): Promise<ExecResult> {
    return this.proc.exited;
  }
}

/** The grep (and whether to invert it) that makes mocha run a selection of a file's tests. */
export function grepOf<T extends object>(select: Selection, rest: T): T & { grep: string; invert?: boolean } {
  if ('only' in select) return { ...rest, grep: exactGrep(select.only) };
  return select.except.length ? { ...rest, grep: exactGrep(select.except), invert: true } : { ...rest, grep: '' };
}
