// The gate's own cost, for `npm run bench:detection -- --suite cost` (scripts/bench-detection.ts
// calls it): one look at 1,000 servers x 60 intervals x 7 metrics, built from the sampler's ticks
// as the engine builds it. Prints the time of a look on the engine's thread (series, statistics),
// the round trip of a look through the worker judge (the first, which sends every tick, and the
// next, which send one new tick), what a worker look still costs the engine's thread, and how an
// HTTP server on the engine's thread answers during looks: no looks, in-thread looks, worker looks.
import { createServer, type Server } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import { inProcessJudge } from '../src/adapters/judge/in-process.js';
import { WorkerJudge } from '../src/adapters/judge/worker.js';
import { judgeGate } from '../src/core/judge/gate.js';
import type { Sample } from '../src/core/judge/types.js';
import { seriesOf, type GateLook } from '../src/core/rollout/look.js';
import type { SeriesSpec, Tick } from '../src/core/rollout/samples.js';
import { SIM_METRICS } from '../src/sim/model.js';
import { createRandom } from '../src/sim/random.js';

const INTERVAL_MS = 5000;

/** A fleet's ticks: `history` intervals of every server on r1, then `intervals` with the first 10% (the canary) on r2. */
function fleetTicks(servers: number, intervals: number, history: number): Tick[] {
  const r = createRandom(42);
  const C = Math.max(1, Math.round(servers / 10));
  const start = history * INTERVAL_MS;
  const value = (m: (typeof SIM_METRICS)[number], s: number): Sample => {
    const req = 400 + Math.round(40 * r.normal());
    if (m.kind === 'ratio') return [Math.max(0, Math.round(req * 0.01 * (1 + 0.3 * r.normal()))), req];
    if (m.kind === 'count') return Math.max(0, Math.round((m.per ? req * 0.1 : 40) * (1 + 0.15 * r.normal())));
    return (m.name === 'memory' ? 3e8 : 0.25) * Math.exp(0.02 * (s % 7) + 0.05 * r.normal());
  };
  return Array.from({ length: history + intervals }, (_, k) => {
    const time = (k + 1) * INTERVAL_MS;
    return {
      time,
      samples: Array.from({ length: servers }, (_, s) => {
        const onNew = s < C && time > start;
        return {
          server: `s${s}`,
          ok: true,
          release: onNew ? 'r2' : 'r1',
          since: onNew ? start : -Infinity,
          values: Object.fromEntries(SIM_METRICS.map((m) => [m.name, value(m, s)])),
        };
      }),
    };
  });
}

/** The engine's look at the step that began after `history` intervals, through the first `upTo` ticks. */
function lookAt(ticks: Tick[], servers: number, history: number, upTo: number): GateLook {
  const C = Math.max(1, Math.round(servers / 10));
  const ids = ticks[0]!.samples.map((s) => s.server);
  const since = history * INTERVAL_MS;
  const now = ticks[upTo - 1]!.time;
  const side = (list: string[], release: string) => ({
    servers: list,
    from: since,
    to: now,
    release,
    warmupMs: 15_000,
    trustUnknown: true,
  });
  return {
    alpha: 0.01,
    elapsedMs: now - since,
    minBakeMs: 60_000,
    maxBakeMs: 300_000,
    onInconclusive: 'hold',
    unresponsive: [],
    samples: {
      specs: SIM_METRICS as SeriesSpec[],
      ticks: ticks.slice(0, upTo),
      sides: { baseline: side(ids.slice(C), 'r1'), canary: side(ids.slice(0, C), 'r2') },
      ...(history ? { history: { from: 0, to: since, release: 'r1' } } : {}),
    },
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};
const ms = (x: number) => `${x.toFixed(0)} ms`;

/** On the engine's thread, median of `reps` after a warm-up look: building the series, the statistics, both. */
function inThread(look: GateLook, reps: number): { series: number; judge: number; total: number } {
  const series: number[] = [];
  const judge: number[] = [];
  const { samples: _samples, ...rest } = look;
  judgeGate({ ...rest, metrics: seriesOf(look.samples) });
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const metrics = seriesOf(look.samples);
    const t1 = performance.now();
    judgeGate({ ...rest, metrics });
    series.push(t1 - t0);
    judge.push(performance.now() - t1);
  }
  return { series: median(series), judge: median(judge), total: median(series.map((s, i) => s + judge[i]!)) };
}

/**
 * Through a fresh worker judge (started on a small look first: its start-up is not a look's cost):
 * the first look at the fleet sends every tick it reads, the next `reps` one new tick each. Round
 * trip, and the engine thread's longest stall meanwhile (event-loop delay at 1 ms resolution: the
 * ticks copied into messages, the message handling; the statistics run on the worker).
 */
async function throughWorker(
  ticks: Tick[],
  servers: number,
  history: number,
  upTo: number,
  reps: number,
): Promise<{ first: { trip: number; stall: number }; next: { trip: number; stall: number } }> {
  const w = new WorkerJudge({ log: pino({ level: 'silent' }), timeoutMs: 120_000 });
  const one = async (look: GateLook) => {
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const t0 = performance.now();
    await w.gate(look);
    const trip = performance.now() - t0;
    loop.disable();
    return { trip, stall: loop.max / 1e6 };
  };
  try {
    await w.gate(lookAt(fleetTicks(10, 3, 0), 10, 0, 3));
    const first = await one(lookAt(ticks, servers, history, upTo));
    const next: { trip: number; stall: number }[] = [];
    for (let i = 1; i <= reps; i++) next.push(await one(lookAt(ticks, servers, history, upTo + i)));
    return { first, next: { trip: median(next.map((x) => x.trip)), stall: median(next.map((x) => x.stall)) } };
  } finally {
    await w.close();
  }
}

/**
 * A client on its own thread: GET / on a schedule, one every 2 ms, each latency counted from when it
 * was sent and from when it was due (wrk2's correction: requests that fall due while the server is
 * stalled wait in line, as users would; but a client starved of CPU counts its own lag there too).
 */
const CLIENT = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let on = false, sent = [], due = [], next = performance.now();
parentPort.on('message', (m) => {
  if (m === 'start') { sent = []; due = []; on = true; next = performance.now(); }
  else if (m === 'take') { on = false; parentPort.postMessage({ sent, due }); }
});
const once = () => new Promise((resolve) => {
  const req = http.get({ host: '127.0.0.1', port: workerData.port, path: '/', agent }, (res) => { res.resume(); res.on('end', resolve); });
  req.on('error', () => resolve());
});
(async () => {
  for (;;) {
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    await once();
    const t1 = performance.now();
    if (on) { sent.push(t1 - t0); due.push(t1 - Math.min(next, t0)); }
    next += 2;
  }
})();
`;

async function listen(): Promise<{ server: Server; port: number }> {
  for (let port = 7931; port < 8000; port++) {
    const server = createServer((_, res) => res.end('ok'));
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) return { server, port };
  }
  throw new Error('no free port in 127.0.0.1:7931-7999');
}

interface Phase {
  name: string;
  requests: number;
  p99: number;
  max: number;
  dueP99: number;
  loopP99: number;
  loopMax: number;
}

/**
 * The API's view: an HTTP server on this (the engine's) thread answers a client on another thread
 * while looks run every `everyMs` (as a gate looks every interval): with no looks, with looks on
 * this thread, with looks through the worker judge.
 */
async function blocking(
  ticks: Tick[],
  servers: number,
  history: number,
  intervals: number,
  looks: number,
  everyMs: number,
): Promise<Phase[]> {
  const { server, port } = await listen();
  const client = new Worker(CLIENT, { eval: true, workerData: { port } });
  const judge = new WorkerJudge({ log: pino({ level: 'silent' }), timeoutMs: 120_000 });
  const loop = monitorEventLoopDelay({ resolution: 2 });
  const pause = (t: number) => new Promise((r) => setTimeout(r, t));
  const take = () =>
    new Promise<{ sent: number[]; due: number[] }>((resolve) => {
      client.once('message', resolve);
      client.postMessage('take');
    });
  const phase = async (name: string, look: ((i: number) => Promise<unknown>) | undefined): Promise<Phase> => {
    client.postMessage('start');
    loop.reset();
    loop.enable();
    for (let i = 0; i < looks; i++) {
      const t0 = performance.now();
      if (look) await look(i);
      await pause(Math.max(0, everyMs - (performance.now() - t0)));
    }
    loop.disable();
    const lat = await take();
    return {
      name,
      requests: lat.sent.length,
      p99: quantile(lat.sent, 0.99),
      max: Math.max(...lat.sent),
      dueP99: quantile(lat.due, 0.99),
      loopP99: loop.percentile(99) / 1e6,
      loopMax: loop.max / 1e6,
    };
  };
  try {
    const base = history + intervals - looks;
    await pause(300);
    // The worker started and holds the step's ticks before the phase, as it does after the step's first look.
    await judge.gate(lookAt(ticks, servers, history, base));
    const out = [
      await phase('no looks', undefined),
      await phase('looks on the engine thread', async (i) => inProcessJudge.gate(lookAt(ticks, servers, history, base + i + 1))),
      await phase('looks on the worker', async (i) => judge.gate(lookAt(ticks, servers, history, base + i + 1))),
    ];
    return out;
  } finally {
    await client.terminate();
    await judge.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

export async function runGateCost(
  o: { servers?: number; intervals?: number; reps?: number; looks?: number; everyMs?: number } = {},
): Promise<string> {
  const servers = o.servers ?? 1000;
  const intervals = o.intervals ?? 60;
  const reps = o.reps ?? 5;
  const out: string[] = [];
  const size = `${servers.toLocaleString('en')} servers x ${intervals} intervals x ${SIM_METRICS.length} metrics`;
  out.push(`gate cost, one look at ${size} (median of ${reps} after a warm-up look)`);
  for (const history of [0, intervals]) {
    const ticks = fleetTicks(servers, intervals + reps, history);
    const full = history + intervals;
    const t = inThread(lookAt(ticks, servers, history, full), reps);
    const w = await throughWorker(ticks, servers, history, full, reps);
    const label = history ? `with own history (${history} intervals before)` : 'no own history';
    out.push(`  ${label}:`);
    out.push(`    engine thread, in process: ${ms(t.total)} (series ${ms(t.series)}, statistics ${ms(t.judge)})`);
    out.push(
      `    worker judge, round trip:  ${ms(w.next.trip)} a look (one new tick); longest stall of the engine thread ${w.next.stall.toFixed(1)} ms (${(t.total / w.next.stall).toFixed(0)}x less than an in-process look)`,
    );
    out.push(
      `    worker judge, first look:  ${ms(w.first.trip)} (every tick sent, a few at a time); longest stall of the engine thread ${w.first.stall.toFixed(1)} ms`,
    );
  }
  const looks = o.looks ?? 8;
  const everyMs = o.everyMs ?? 1000;
  const ticks = fleetTicks(servers, intervals + looks, 0);
  const phases = await blocking(ticks, servers, 0, intervals + looks, looks, everyMs);
  out.push(
    `HTTP on the engine thread (127.0.0.1, a client on another thread, a request due every 2 ms), ${looks} looks of ${size} one every ${everyMs} ms:`,
  );
  const idle = phases[0]!;
  out.push(
    `  ${'phase'.padEnd(28)} ${'requests'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)} ${'p99 due'.padStart(9)} ${'loop p99'.padStart(9)} ${'loop max'.padStart(9)}  p99, loop p99 / no looks`,
  );
  for (const p of phases)
    out.push(
      `  ${p.name.padEnd(28)} ${String(p.requests).padStart(8)} ${p.p99.toFixed(1).padStart(8)} ${p.max.toFixed(1).padStart(8)} ${p.dueP99.toFixed(1).padStart(9)} ${p.loopP99.toFixed(1).padStart(9)} ${p.loopMax.toFixed(1).padStart(9)}  ${(p.p99 / idle.p99).toFixed(1)}x, ${(p.loopP99 / idle.loopP99).toFixed(1)}x`,
    );
  out.push(
    '  (ms; p99, max: from sent to answered; p99 due: from when due; loop: event-loop delay of the engine thread, perf_hooks.monitorEventLoopDelay at 2 ms)',
  );
  return out.join('\n');
}
