// The fault matrix on the simulated fleet: a good or a bad change rolls out while one port call
// fails, hangs or crashes the orchestrator; a fresh orchestrator then starts on the same store,
// fleet and repository (as after a restart), and the invariants are checked.
import pino from 'pino';
import { NotFoundError } from '../../src/core/errors.js';
import { openSqliteStore } from '../../src/adapters/store/sqlite/index.js';
import { parsePipeline } from '../../src/core/config/index.js';
import { inProcessJudge } from '../../src/adapters/judge/in-process.js';
import { Engine, type EngineDeps } from '../../src/engine/engine.js';
import { EventBus } from '../../src/engine/events.js';
import type { Commit, Notification, Repo, Store } from '../../src/ports.js';
import { VirtualClock } from '../../src/sim/clock.js';
import { FaultInjector, withFaults, type Fault } from '../../src/sim/faults.js';
import { SimFleet } from '../../src/sim/fleet.js';

export const PIPELINE = `name: sim
repo: { url: sim://shop, poll_interval: 1s }
fleet: { type: local, servers: 4 }
metrics:
  definitions:
    - { name: error_rate, kind: ratio, numerator: 'e{code=~"5.."}', denominator: e, bad: increase, critical: true }
    - { name: checkout_error_rate, kind: ratio, numerator: 'c{code=~"5.."}', denominator: c, bad: increase, critical: true }
    - { name: latency_p99, kind: continuous, gauge: p99, bad: increase, tolerance: 20% }
rollout:
  interval: 2s
  min_bake: 20s
  max_bake: 60s
  steps: [{ servers: 1 }, { percent: 100% }]
watch: { duration: 30s, window: 30s }  # its first 10 s (each server's start-up on the new build) are left out
`;

/** A repository in memory: commits pushed by the test, reverts appended. */
export class MemoryRepo implements Repo {
  commits: Commit[] = [];
  reverts: { shas: string[]; message: string; sha: string }[] = [];
  push(sha: string, subject: string): void {
    this.commits.push({ sha, author: 'dev', email: 'dev@example.com', subject, message: subject, time: 0 });
  }
  async tip(): Promise<string> {
    return this.commits.at(-1)!.sha;
  }
  async commitsBetween(from: string | undefined, to: string): Promise<Commit[]> {
    const end = this.commits.findIndex((c) => c.sha === to);
    const start = from ? this.commits.findIndex((c) => c.sha === from) + 1 : end;
    return this.commits.slice(start, end + 1);
  }
  async commit(sha: string): Promise<Commit> {
    const c = this.commits.find((x) => x.sha === sha || x.sha.startsWith(sha));
    if (!c) throw new NotFoundError(`no commit ${sha}`);
    return c;
  }
  async isAncestor(a: string, b: string): Promise<boolean> {
    const i = this.commits.findIndex((c) => c.sha === a);
    const j = this.commits.findIndex((c) => c.sha === b);
    return i >= 0 && j >= 0 && i <= j;
  }
  async findTrailer(trailer: string): Promise<string | undefined> {
    return [...this.commits].reverse().find((c) => c.message.includes(`${trailer}:`))?.sha;
  }
  async checkout(sha: string) {
    return { sha, dir: '/nonexistent', dispose: async () => undefined };
  }
  async revert(shas: string[], message: string): Promise<string> {
    // Like the git adapter: the revert a deploy already pushed (same Immune-Deploy trailer) is answered again.
    const trailer = /^Immune-Deploy: \S+$/m.exec(message)?.[0];
    const pushed = trailer ? this.reverts.find((r) => r.message.split('\n').includes(trailer)) : undefined;
    if (pushed) return pushed.sha;
    const sha = `${'f'.repeat(8)}${String(this.reverts.length + 1).padStart(32, '0')}`;
    this.reverts.push({ shas, message, sha });
    this.commits.push({ sha, author: 'immune', email: 'immune@localhost', subject: `Revert ${shas.join(', ')}`, message, time: 0 });
    return sha;
  }
}

export const BASE = 'a'.repeat(40);
export const GOOD = 'b'.repeat(40);
export const BAD = 'c'.repeat(40);

export interface World {
  clock: VirtualClock;
  fleet: SimFleet;
  repo: MemoryRepo;
  store: Store;
  notes: Notification[];
  deps: EngineDeps;
}

export function world(): World {
  const clock = new VirtualClock(Date.UTC(2026, 0, 1));
  const fleet = new SimFleet(clock, {
    servers: 4,
    rps: 300,
    errorRate: 0,
    checkoutShare: 0.15,
    outlierProbability: 0,
    seed: 7,
    activateMs: 500,
  });
  fleet.inject(BAD, { checkoutFailure: 0.4 });
  const repo = new MemoryRepo();
  repo.push(BASE, 'base');
  const store = openSqliteStore(':memory:');
  const notes: Notification[] = [];
  const deps: EngineDeps = {
    config: parsePipeline(PIPELINE, 'sim.yaml'),
    repo,
    builder: { build: async (co) => ({ id: `r-${co.sha.slice(0, 8)}`, sha: co.sha, path: '/nonexistent.tar.gz', bytes: 1 }) },
    fleet,
    metrics: fleet,
    store,
    notifier: { notify: async (n) => void notes.push(n) },
    clock,
    events: new EventBus(),
    log: pino({ level: process.env.FAULT_LOG ?? 'silent' }),
    judge: inProcessJudge,
  };
  return { clock, fleet, repo, store, notes, deps };
}

export interface RunResult {
  fault?: Fault;
  fired: boolean;
  crashed: boolean;
  /** Port calls after arm() (for enumerating points). */
  calls: string[];
  /** Invariants that did not hold (empty: all held). */
  broken: string[];
}

/** Wait until the engine is idle or the injector crashed; false on timeout (a hang). */
async function settle(w: World, e: Engine, inj: FaultInjector | undefined, ms: number): Promise<boolean> {
  const until = w.clock.now() + ms;
  // Let the poll see the push first.
  await w.clock.sleep(1500);
  while (w.clock.now() < until) {
    if (inj?.crashed) return true;
    const line = (e as unknown as { line: { queue: string[]; blocked: boolean; paused: boolean } }).line;
    const held = (e as unknown as { fault?: unknown }).fault;
    if (!e.inFlight && !held && (line.queue.length === 0 || line.blocked || line.paused)) return true;
    await w.clock.sleep(500);
  }
  return false;
}

/** One run: bootstrap BASE, then push `change` with `fault` armed, restart, check. */
export async function runScenario(
  change: 'good' | 'bad',
  fault?: Fault,
  inspect?: (w: World, e: Engine) => Promise<void>,
): Promise<RunResult> {
  const w = world();
  const inj = new FaultInjector();
  const e1 = new Engine(withFaults(w.deps, inj));
  await e1.start();
  if (!(await settle(w, e1, undefined, 600_000))) throw new Error('bootstrap did not finish');
  // The watch compares with the fleet's own past: give it a window of it.
  await w.clock.sleep(40_000);
  const sha = change === 'good' ? GOOD : BAD;
  inj.arm(fault);
  w.repo.push(sha, `${change} change`);
  const settled = await settle(w, e1, inj, 30 * 60_000);
  const calls = [...inj.calls];
  const fired = inj.fired !== undefined;
  const crashed = inj.crashed || !settled;
  // The first orchestrator goes away (killed, or restarted after it hung or finished): every port freezes.
  inj.crashed = true;
  const e2 = new Engine(w.deps);
  await e2.start();
  const done = await settle(w, e2, undefined, 30 * 60_000);
  const broken = done ? await check(w, e2, change, sha) : ['the restarted orchestrator did not become idle'];
  await inspect?.(w, e2);
  await e2.stop();
  await w.store.close();
  return { fault, fired, crashed, calls, broken };
}

/** The invariants every run must end in, whatever the change's deploy ended as. */
export async function check(w: World, e: Engine, change: 'good' | 'bad', sha: string): Promise<string[]> {
  const broken: string[] = [];
  const status = await e.status();
  const deploys = await w.store.line.listDeploys('sim', { limit: 100 });
  const unfinished = deploys.filter((d) => !['live', 'failed', 'aborted'].includes(d.status));
  if (unfinished.length) broken.push(`unfinished deploys: ${unfinished.map((d) => `${d.id} ${d.status}`).join(', ')}`);
  const mine = deploys.filter((d) => d.shas.includes(sha));
  if (mine.length !== 1) broken.push(`${mine.length} deploys of the change (want exactly 1)`);
  const d = mine[0];
  const outcome = d?.outcome;
  // What the record implies: live means the change is on every server; anything else, the base.
  const want = outcome === 'live' ? sha : BASE;
  const live = status.live;
  if (live?.sha !== want) broken.push(`live is ${live?.sha.slice(0, 8)}, the deploy ended ${outcome}: want ${want.slice(0, 8)}`);
  for (const s of await w.fleet.servers()) {
    const r = await w.fleet.release(s);
    if (r !== live?.artifact.id) broken.push(`${s.id} runs ${r}, the record says ${live?.artifact.id}`);
  }
  // Exactly one revert on main for a reverted change, none otherwise.
  const reverts = w.repo.reverts.filter((r) => r.shas.includes(sha)).length;
  const wantReverts = outcome === 'reverted' ? 1 : 0;
  if (reverts !== wantReverts) broken.push(`${reverts} reverts of the change on main (the deploy ended ${outcome}: want ${wantReverts})`);
  // Blocked after a regression the gate found (reverted, or rolled back when the revert failed); open otherwise.
  const judgedBad = d?.state && ['gate', 'watch'].includes((d.state as { failure?: { stage: string } }).failure?.stage ?? '');
  if (status.blocked !== !!judgedBad)
    broken.push(
      `line ${status.blocked ? 'blocked' : 'open'} after ${outcome} (want ${judgedBad ? 'blocked' : 'open'}): ${status.blockReason ?? ''}`,
    );
  // Nothing reported live that was not judged; the bad change never live, the good one never judged bad.
  if (d) {
    const looks = await w.store.line.gateLooks(d.id);
    const saidLive = w.notes.some((n) => n.kind === 'deploy_live' && n.deploy === d.id);
    if (outcome === 'live' || saidLive) {
      if (!looks.some((l) => l.step === 0 && l.decision === 'pass')) broken.push(`reported live without a passing canary gate`);
      if (!looks.some((l) => l.step === -1 && l.decision === 'pass'))
        broken.push(`reported live without a passing watch (${looks.filter((l) => l.step === -1).at(-1)?.explanation ?? 'no watch look'})`);
    }
    if (change === 'bad' && (outcome === 'live' || saidLive)) broken.push('the bad change was reported live');
    if (change === 'good' && judgedBad) broken.push(`the good change was judged bad: ${d.reason ?? ''}`);
  }
  return broken;
}

/** How the change's deploy ended, for the matrix. */
export async function outcomeOf(w: World, sha: string): Promise<string> {
  const d = (await w.store.line.listDeploys('sim', { limit: 100 })).find((x) => x.shas.includes(sha));
  return d?.outcome ?? d?.status ?? 'none';
}

/** The port calls worth a fault: every write and every action on the world (reads of metrics are sampled). */
export const FAULT_CALLS = new Set([
  'store.line.createDeploy',
  'store.line.saveDeploy',
  'store.line.saveLine',
  'store.line.appendGateLook',
  'store.audit.append',
  'fleet.activate',
  'repo.revert',
  'repo.commit',
  'repo.checkout',
  'builder.build',
  'notifier.notify',
]);

/** Every (call, n) of a clean run of `change`, in order. */
export async function points(change: 'good' | 'bad'): Promise<{ call: string; n: number }[]> {
  const clean = await runScenario(change);
  if (clean.broken.length) throw new Error(`the clean ${change} run breaks invariants: ${clean.broken.join('; ')}`);
  const seen = new Map<string, number>();
  const out: { call: string; n: number }[] = [];
  for (const c of clean.calls) {
    const n = (seen.get(c) ?? 0) + 1;
    seen.set(c, n);
    if (FAULT_CALLS.has(c)) out.push({ call: c, n });
  }
  return out;
}

export const MODES = ['fail', 'hang', 'crash', 'crash_after'] as const;

export interface MatrixRow {
  change: 'good' | 'bad';
  call: string;
  n: number;
  mode: Fault['mode'];
  broken: string[];
}

/** Every point of both changes in every mode (or those `pick` keeps). */
export async function matrix(
  pick: (p: { change: 'good' | 'bad'; call: string; n: number; mode: Fault['mode'] }) => boolean = () => true,
): Promise<MatrixRow[]> {
  const rows: MatrixRow[] = [];
  for (const change of ['good', 'bad'] as const) {
    for (const p of await points(change)) {
      for (const mode of MODES) {
        if (!pick({ change, ...p, mode })) continue;
        const r = await runScenario(change, { call: p.call, n: p.n, mode });
        rows.push({ change, call: p.call, n: p.n, mode, broken: r.broken });
      }
    }
  }
  return rows;
}
