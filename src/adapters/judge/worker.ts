// The judge on a worker thread, so that a look at a large fleet (series and statistics: hundreds of
// ms at 1,000 servers) does not stall the API and the flag endpoints on the engine's thread. One
// long-lived worker; each look sends only the ticks the worker does not hold yet. A worker that
// dies, fails or does not answer in time fails the look it was on (the engine makes that a failed
// look, never a pass), is logged as an error, and a new one starts at the next look.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { GateResult } from '../../core/judge/types.js';
import { ticksRead, type GateLook, type WatchLook } from '../../core/rollout/look.js';
import type { Tick } from '../../core/rollout/samples.js';
import type { Judge } from '../../ports.js';
import type { JudgeMessage, JudgeReply, JudgeRequest } from './protocol.js';

export interface WorkerJudgeOptions {
  log: Logger;
  /** A look not answered within this fails, and the worker is replaced. */
  timeoutMs?: number;
  /** The worker's script (default: worker-entry beside this file); tests give one that crashes or hangs. */
  entry?: URL;
  /** Ticks the worker lacks go in messages of about this many server samples (default 4,000: ~10 ms of the engine's thread each). */
  samplesPerMessage?: number;
}

interface Pending {
  resolve: (r: GateResult) => void;
  reject: (e: Error) => void;
  done: () => void;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const SAMPLES_PER_MESSAGE = 4000;

/** Under tsx (running from src/) the worker registers the TypeScript loader first: a worker does not inherit it. */
function start(entry: URL): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry);
  // tsx's ESM API (its `import` export, index.mjs beside the `require` one that createRequire finds): not
  // import.meta.resolve, which tsx leaves out when it loads this file as CommonJS (under mocha).
  const api = createRequire(import.meta.url)
    .resolve('tsx/esm/api')
    .replace(/\.cjs$/, '.mjs');
  const boot = `(async () => { const { register } = await import(${JSON.stringify(pathToFileURL(api).href)}); register(); await import(${JSON.stringify(entry.href)}); })()`;
  return new Worker(boot, { eval: true });
}

export class WorkerJudge implements Judge {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private lastId = 0;
  /** Each tick's id, by identity (a tick is never changed once taken). */
  private readonly tickIds = new WeakMap<Tick, number>();
  private lastTick = 0;
  /** The ticks the worker holds once it has read every request sent so far. */
  private held = new Set<number>();
  private closed = false;
  /** Sending a look (posting its ticks, then the look): one at a time. */
  private sending: Promise<void> = Promise.resolve();
  /** Workers that died or were replaced (for tests and the log). */
  restarts = 0;
  private readonly entry: URL;
  private readonly timeoutMs: number;

  constructor(private readonly opts: WorkerJudgeOptions) {
    this.entry = opts.entry ?? new URL(import.meta.url.endsWith('.ts') ? './worker-entry.ts' : './worker-entry.js', import.meta.url);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  gate(look: GateLook, signal?: AbortSignal): Promise<GateResult> {
    return this.ask('gate', look, signal);
  }

  watch(look: WatchLook, signal?: AbortSignal): Promise<GateResult> {
    return this.ask('watch', look, signal);
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    if (w) this.lose(w, 'the judge was closed', false);
    await w?.terminate();
  }

  private ask(kind: JudgeRequest['kind'], look: GateLook | WatchLook, signal?: AbortSignal): Promise<GateResult> {
    if (this.closed) return Promise.reject(new Error('the judge was closed'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    // One look is sent at a time, whole (what the worker holds is what the last look sent read); the replies are awaited together.
    const sent = this.sending.then(() => this.send(kind, look, signal));
    this.sending = sent.then(
      () => undefined,
      () => undefined,
    );
    return sent.then((s) => s.reply);
  }

  private async send(
    kind: JudgeRequest['kind'],
    look: GateLook | WatchLook,
    signal?: AbortSignal,
  ): Promise<{ reply: Promise<GateResult> }> {
    if (this.closed) throw new Error('the judge was closed');
    signal?.throwIfAborted();
    const { samples, ...rest } = look;
    const { ticks: _all, ...request } = samples;
    const w = this.ensure();
    const ids: number[] = [];
    const add: [number, Tick][] = [];
    for (const t of ticksRead(samples)) {
      let id = this.tickIds.get(t);
      if (id === undefined) this.tickIds.set(t, (id = ++this.lastTick));
      ids.push(id);
      if (!this.held.has(id)) add.push([id, t]);
    }
    // Many ticks the worker lacks (a deploy's first look, a new worker): a few at a time, yielding between, so
    // that copying them never stops the engine's thread for long (60 ticks of 1,000 servers: ~150 ms in one go).
    let from = 0;
    for (let k = 0, size = 0; k < add.length - 1; k++) {
      size += add[k]![1].samples.length;
      if (size < (this.opts.samplesPerMessage ?? SAMPLES_PER_MESSAGE)) continue;
      this.post(w, { kind: 'hold', add: add.slice(from, k + 1) });
      from = k + 1;
      size = 0;
      await new Promise((r) => setImmediate(r));
      if (this.worker !== w) throw new Error("the judge's worker was lost while a look was sent to it");
    }
    this.held = new Set(ids);
    const id = ++this.lastId;
    const reply = new Promise<GateResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.lose(w, `the judge did not answer within ${this.timeoutMs} ms`, true);
        void w.terminate();
      }, this.timeoutMs);
      const onAbort = () => {
        done();
        reject(signal!.reason);
      };
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
        if (!this.pending.size) this.worker?.unref();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { resolve, reject, done });
      w.ref();
      // kind and look go together (gate() and watch() above); the union cannot say so.
      this.post(w, { id, kind, look: { ...rest, samples: request }, ticks: ids, add: add.slice(from) } as JudgeRequest);
    });
    return { reply };
  }

  private post(w: Worker, m: JudgeMessage): void {
    try {
      w.postMessage(m);
    } catch (err) {
      // Not cloneable: this look fails; the worker did not get it all, so what it holds is unknown now.
      this.lose(w, `the look could not be sent to the judge: ${(err as Error).message}`, true);
      void w.terminate();
      throw err;
    }
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = start(this.entry);
    this.worker = w;
    this.held = new Set();
    w.unref();
    w.on('message', (m: JudgeReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      p.done();
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`judge: ${m.error}`));
    });
    w.on('error', (err) => this.lose(w, `the judge's worker failed: ${err.message}`, true));
    w.on('exit', (code) => this.lose(w, `the judge's worker exited (code ${code})`, true));
    return w;
  }

  /** The worker is gone or no longer trusted: every look on it fails with `why`; the next look starts a new one. */
  private lose(w: Worker, why: string, loud: boolean): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    this.held = new Set();
    const failed = [...this.pending.values()];
    this.pending.clear();
    for (const p of failed) {
      p.done();
      p.reject(new Error(why));
    }
    if (!loud) return;
    this.restarts++;
    this.opts.log.error(
      { failedLooks: failed.length },
      `${why}; ${failed.length} look(s) failed, a new judge worker starts at the next look`,
    );
  }
}
