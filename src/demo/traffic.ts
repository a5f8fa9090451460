// Simulated shop users for the demo: bounded, loopback only, spread evenly over the servers,
// stopping by itself. Users on the Enhanced branch of EnhancedCheckout really buy more often,
// so the experiment's readout has a true effect to find.
import { Agent, request as httpRequest } from 'node:http';
import type { Logger } from 'pino';
import type { Server } from '../ports.js';

export interface TrafficOptions {
  /** The servers to hit, asked again at every tick (servers come and go during a rollout). */
  targets: () => Server[] | Promise<Server[]>;
  /** Target user actions per second per server. */
  rpsPerServer: number;
  durationMs: number;
  /** Seed of the random choices (users, actions, amounts); default from the clock. */
  seed?: number;
  /** Size of the fixed user pool (ids u0..u<n-1>), so exposures repeat. Default 400. */
  users?: number;
  /** Requests in flight at most; actions beyond it are dropped and counted. Default 64. */
  maxInFlight?: number;
  /** Checkout probability after a product view, control branch. Default 0.25. */
  checkoutRate?: number;
  /** Relative lift of checkout probability on the Enhanced branch. Default 0.2 (+20%). */
  enhancedLift?: number;
  log: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** For tests; by default node:http with keep-alive (a fraction of fetch's CPU per request). */
  fetch?: typeof fetch;
}

interface Answer {
  status: number;
  ok: boolean;
  branch: string | null;
}

/** One request over node:http on a keep-alive agent, the body read and dropped. */
function send(agent: Agent, url: string, method: string, headers: Record<string, string>, body: string | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent,
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const b = res.headers['x-branch'];
          resolve({ status, ok: status >= 200 && status < 300, branch: typeof b === 'string' ? b : null });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

export interface TrafficStats {
  running: boolean;
  elapsedMs: number;
  requests: number;
  /** Answers with status >= 500. */
  serverErrors: number;
  /** No answer (refused, timed out). */
  failed: number;
  /** Not sent because maxInFlight requests were already out. */
  dropped: number;
  byAction: Record<'visit' | 'product' | 'signup' | 'checkout', number>;
  byServer: Record<string, number>;
  checkouts: number;
  revenue: number;
  /** Product views and successful checkouts per experiment branch. */
  byBranch: Record<string, { views: number; checkouts: number }>;
}

export interface Traffic {
  stop(): Promise<void>;
  stats(): TrafficStats;
  /** Resolves when the traffic has stopped (by itself or by stop()). */
  done: Promise<void>;
}

const TICK_MS = 50;
const REQUEST_TIMEOUT_MS = 2000;
const PRODUCTS = [
  { id: 1, price: 24 },
  { id: 2, price: 9 },
  { id: 3, price: 49 },
  { id: 4, price: 18 },
  { id: 5, price: 12 },
  { id: 6, price: 7 },
  { id: 7, price: 31 },
  { id: 8, price: 15 },
];

/** mulberry32: a small seeded generator in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function isLoopback(host: string): boolean {
  return /^127(\.\d{1,3}){3}$/.test(host) || host === '::1' || host === '[::1]' || host === 'localhost';
}

export function startTraffic(opts: TrafficOptions): Traffic {
  const run = new TrafficRun(opts);
  return { stop: () => run.finish(), stats: () => run.snapshot(), done: run.done };
}

/** One stream of simulated users: a tick per TICK_MS spends each server's request budget. */
class TrafficRun {
  private readonly rnd: () => number;
  private readonly users: number;
  private readonly maxInFlight: number;
  private readonly baseRate: number;
  private readonly lift: number;
  private readonly agent: Agent;
  private readonly started = Date.now();
  private readonly budget = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly warned = new Set<string>();
  private readonly stats: TrafficStats = {
    running: true,
    elapsedMs: 0,
    requests: 0,
    serverErrors: 0,
    failed: 0,
    dropped: 0,
    byAction: { visit: 0, product: 0, signup: 0, checkout: 0 },
    byServer: {},
    checkouts: 0,
    revenue: 0,
    byBranch: {},
  };
  private lastTick = this.started;
  private ticking = false;
  private readonly timer: NodeJS.Timeout;
  private finishing: Promise<void> | undefined;
  private resolveDone!: () => void;
  readonly done = new Promise<void>((r) => (this.resolveDone = r));

  constructor(private readonly opts: TrafficOptions) {
    this.rnd = seededRandom(opts.seed ?? Date.now());
    this.users = opts.users ?? 400;
    this.maxInFlight = opts.maxInFlight ?? 64;
    this.baseRate = opts.checkoutRate ?? 0.25;
    this.lift = opts.enhancedLift ?? 0.2;
    this.agent = new Agent({ keepAlive: true, maxSockets: this.maxInFlight });
    this.timer = setInterval(() => {
      if (Date.now() - this.started >= opts.durationMs) {
        void this.finish();
        return;
      }
      if (this.ticking) return;
      this.ticking = true;
      void this.tick().finally(() => (this.ticking = false));
    }, TICK_MS);
  }

  finish(): Promise<void> {
    this.finishing ??= (async () => {
      this.stats.running = false;
      clearInterval(this.timer);
      await Promise.allSettled([...this.inFlight]);
      this.agent.destroy();
      this.stats.elapsedMs = Date.now() - this.started;
      this.opts.log.info(
        { requests: this.stats.requests, checkouts: this.stats.checkouts, dropped: this.stats.dropped },
        'traffic stopped',
      );
      this.resolveDone();
    })();
    return this.finishing;
  }

  snapshot(): TrafficStats {
    const stats = this.stats;
    return {
      ...stats,
      elapsedMs: stats.running ? Date.now() - this.started : stats.elapsedMs,
      byAction: { ...stats.byAction },
      byServer: { ...stats.byServer },
      byBranch: Object.fromEntries(Object.entries(stats.byBranch).map(([k, v]) => [k, { ...v }])),
    };
  }

  private async doRequest(url: string, method: string, headers: Record<string, string>, body: string | undefined): Promise<Answer> {
    if (!this.opts.fetch) return send(this.agent, url, method, headers, body);
    const res = await this.opts.fetch(url, { method, headers, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    await res.arrayBuffer();
    return { status: res.status, ok: res.ok, branch: res.headers.get('x-branch') };
  }

  private async request(
    s: Server,
    action: keyof TrafficStats['byAction'],
    path: string,
    user: string,
    body?: unknown,
  ): Promise<Answer | undefined> {
    const stats = this.stats;
    stats.requests++;
    stats.byAction[action]++;
    stats.byServer[s.id] = (stats.byServer[s.id] ?? 0) + 1;
    try {
      const res = await this.doRequest(
        baseUrl(s) + path,
        body === undefined ? 'GET' : 'POST',
        { 'x-user-id': user, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body === undefined ? undefined : JSON.stringify(body),
      );
      if (res.status >= 500) stats.serverErrors++;
      return res;
    } catch {
      stats.failed++;
      return undefined;
    }
  }

  /** One user action; a product view may lead to a checkout. */
  private async act(s: Server): Promise<void> {
    const { rnd, stats } = this;
    const user = `u${Math.floor(rnd() * this.users)}`;
    const r = rnd();
    if (r < 0.35) {
      await this.request(s, 'visit', '/', user);
    } else if (r < 0.95) {
      const p = PRODUCTS[Math.floor(rnd() * PRODUCTS.length)];
      const qty = 1 + Math.floor(rnd() * 3);
      const buys = rnd();
      const res = await this.request(s, 'product', `/product/${p.id}`, user);
      if (!res || !res.ok) return;
      const branch = res.branch ?? 'control';
      const b = (stats.byBranch[branch] ??= { views: 0, checkouts: 0 });
      b.views++;
      const rate = branch === 'Enhanced' ? this.baseRate * (1 + this.lift) : this.baseRate;
      if (buys >= rate || !stats.running) return;
      const amount = p.price * qty;
      const done = await this.request(s, 'checkout', '/checkout', user, { user, amount, product: p.id });
      if (done?.ok) {
        stats.checkouts++;
        stats.revenue += amount;
        b.checkouts++;
      }
    } else {
      await this.request(s, 'signup', '/signup', user, { user });
    }
  }

  private async tick(): Promise<void> {
    // Budget by elapsed time, not by tick count: timers run late on a busy machine.
    const now = Date.now();
    const seconds = Math.min(1, (now - this.lastTick) / 1000);
    this.lastTick = now;
    let servers: Server[];
    try {
      servers = await this.opts.targets();
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'traffic: cannot list targets');
      return;
    }
    const due: { s: Server; n: number }[] = [];
    for (const s of servers) {
      if (!isLoopback(s.host)) {
        if (!this.warned.has(s.id)) this.opts.log.warn({ server: s.id, host: s.host }, 'traffic: not a loopback address, skipped');
        this.warned.add(s.id);
        continue;
      }
      const b = (this.budget.get(s.id) ?? 0) + this.opts.rpsPerServer * seconds;
      this.budget.set(s.id, b % 1);
      due.push({ s, n: Math.floor(b) });
    }
    // Round-robin over the servers, so that when maxInFlight is reached the drops are spread evenly too.
    for (let more = true; more && this.stats.running;) {
      more = false;
      for (const d of due) {
        if (d.n <= 0) continue;
        d.n--;
        more = true;
        if (this.inFlight.size >= this.maxInFlight) {
          this.stats.dropped++;
          continue;
        }
        const p = this.act(d.s).finally(() => this.inFlight.delete(p));
        this.inFlight.add(p);
      }
    }
  }
}

function baseUrl(s: Server): string {
  return `http://${s.host.includes(':') && !s.host.startsWith('[') ? `[${s.host}]` : s.host}:${s.port}`;
}
