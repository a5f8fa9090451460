// Fault injection around the engine's ports: the N-th call of any port method fails, hangs, or
// crashes the orchestrator (before the call reaches the world, or after it did but before its
// result is seen). In-process, a crash freezes every port of the dead orchestrator, so nothing it
// still has scheduled reaches the world; a real process can SIGKILL itself instead (onCrash).
import type { EngineDeps } from '../engine/engine.js';

export type FaultMode = 'fail' | 'hang' | 'crash' | 'crash_after';

export interface Fault {
  /** "store.line.saveDeploy", "fleet.activate", "repo.revert", ... */
  call: string;
  /** 1-based: the n-th call of that method after arm(). */
  n: number;
  mode: FaultMode;
  /** Count only the calls whose arguments match (e.g. saveDeploy of a transition into `live`). */
  when?: (args: unknown[]) => boolean;
}

export interface FaultInjectorOptions {
  /** Called when a crash fault fires (default: nothing; the ports freeze). */
  onCrash?: (f: Fault) => void;
}

/** Never settles, except by the call's own AbortSignal (a hung remote that honours cancellation). */
function hang(args: unknown[]): Promise<never> {
  const signal = args.find((a): a is AbortSignal => a instanceof AbortSignal);
  return new Promise((_resolve, reject) => {
    signal?.addEventListener('abort', () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted')), { once: true });
  });
}

const frozen = (): Promise<never> => new Promise(() => undefined);

export class FaultInjector {
  private counts = new Map<string, number>();
  private fault: Fault | undefined;
  /** Every call since arm(), in order (for enumerating the points of a run). */
  readonly calls: string[] = [];
  crashed = false;
  fired: Fault | undefined;

  constructor(private readonly opts: FaultInjectorOptions = {}) {}

  /** Start counting from zero; `fault` fires at its call (none: record only). */
  arm(fault?: Fault): void {
    this.counts.clear();
    this.calls.length = 0;
    this.fault = fault;
    this.fired = undefined;
  }

  /** A proxy of `target` whose methods go through the injector under `name.method`. */
  wrap<T extends object>(name: string, target: T): T {
    return new Proxy(target, {
      get: (t, prop, receiver) => {
        const v = Reflect.get(t, prop, receiver) as unknown;
        if (typeof v !== 'function' || typeof prop !== 'string') return v;
        const call = `${name}.${prop}`;
        return (...args: unknown[]) => this.invoke(call, () => (v as (...a: unknown[]) => unknown).apply(t, args), args);
      },
    });
  }

  private invoke(call: string, run: () => unknown, args: unknown[]): unknown {
    if (this.crashed) return frozen();
    const n = (this.counts.get(call) ?? 0) + 1;
    this.counts.set(call, n);
    this.calls.push(call);
    const f = this.fault;
    if (!f || f.call !== call) return run();
    if (f.when) {
      if (!f.when(args)) return run();
      const m = (this.counts.get(`${call}?`) ?? 0) + 1;
      this.counts.set(`${call}?`, m);
      if (m !== f.n) return run();
    } else if (f.n !== n) return run();
    this.fired = f;
    switch (f.mode) {
      case 'fail':
        return Promise.reject(new Error(`injected fault: ${call} call ${n} failed`));
      case 'hang':
        return hang(args);
      case 'crash':
        this.crash(f);
        return frozen();
      case 'crash_after':
        return Promise.resolve(run()).then(() => {
          this.crash(f);
          return frozen();
        });
    }
  }

  private crash(f: Fault): void {
    this.crashed = true;
    this.opts.onCrash?.(f);
  }
}

/** The engine's dependencies with every port (and each part of the store) behind the injector. */
export function withFaults(deps: EngineDeps, inj: FaultInjector): EngineDeps {
  const s = deps.store;
  const store = inj.wrap('store', {
    line: inj.wrap('store.line', s.line),
    audit: inj.wrap('store.audit', s.audit),
    tests: inj.wrap('store.tests', s.tests),
    experiments: inj.wrap('store.experiments', s.experiments),
    notifications: s.notifications ? inj.wrap('store.notifications', s.notifications) : undefined,
    check: s.check ? () => s.check!() : undefined,
    close: () => s.close(),
  });
  return {
    ...deps,
    repo: inj.wrap('repo', deps.repo),
    builder: inj.wrap('builder', deps.builder),
    fleet: inj.wrap('fleet', deps.fleet),
    metrics: inj.wrap('metrics', deps.metrics),
    store,
    notifier: inj.wrap('notifier', deps.notifier),
    codeHost: deps.codeHost ? inj.wrap('codeHost', deps.codeHost) : undefined,
  };
}
