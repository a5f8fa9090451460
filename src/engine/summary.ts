// What the API, CLI and dashboard show of deploys and the line: compact summaries of stored
// records, and the DORA figures (deploy frequency, lead time, change failure rate, time to restore).
import { evidenceTable, type EvidenceTable } from '../core/judge/evidence.js';
import type { DeployState } from '../core/line/types.js';
import type { Commit, DeployEventRecord, DeployRecord, GateLookRecord, LineRecord } from '../ports.js';

export interface DeploySummary {
  id: string;
  shas: string[];
  commits: { sha: string; author: string; email: string; subject: string; time: number }[];
  status: string;
  /** Current rollout step, 0-based; absent before the rollout starts. */
  step?: number;
  steps: number;
  serversOnNew?: number;
  serversTotal?: number;
  /** Time spent in the current bake or watch. */
  bakeElapsedMs?: number;
  lastGate?: { decision: string; explanation: string };
  outcome?: DeployRecord['outcome'];
  createdAt: number;
  updatedAt: number;
  finishedAt?: number;
  reason?: string;
  revertSha?: string;
  /** While status is `held`: where the rollout waits for a captain and why. */
  hold?: { phase: 'gate' | 'watch'; reason: string; since: number };
  /** What let it past a step without the data ruling a regression out: a captain's promote, too little data under the `pass` policy. */
  warnings?: string[];
}

/** What `LineControl.status()` returns and GET /api/line answers: the line record as people read it. */
export type LineStatus = Pick<
  LineRecord,
  'pipeline' | 'blocked' | 'blockReason' | 'blockedBy' | 'blockedAt' | 'blockedDeploy' | 'paused'
> & {
  live: { sha: string; artifact: { id: string }; deploy?: string } | null;
  inFlight: DeploySummary | null;
  queue: Commit[];
  /** The change at the queue's head is held: its tree is known-bad (a captain drops or overrides it). */
  held?: { shas: string[]; reason: string; since: number; tree: string; deploy: string };
  /** Queued commits a captain dropped recently (newest last). */
  dropped?: { sha: string; actor: string; reason: string; at: number }[];
  /** Problems found at start that will bite later (e.g. the repository refuses the revert push). */
  problems?: string[];
  /** Held by immune itself: the state store failed or was lost, or the driver broke (not a recorded block). */
  fault?: { kind: string; reason: string; since: number };
};

/** States in which the servers of the current step run the new build. */
const ROLLING = new Set(['rolling_out', 'baking', 'watching']);

/** The stored state, read defensively: records written by older versions may lack fields. */
function stateOf(d: DeployRecord): Partial<DeployState> {
  const s: unknown = d.state;
  return s !== null && typeof s === 'object' ? (s as Partial<DeployState>) : {};
}

export function summarizeDeploy(d: DeployRecord, opts: { serversTotal?: number; serversOnNew?: number; now?: number } = {}): DeploySummary {
  const s = stateOf(d);
  const out: DeploySummary = {
    id: d.id,
    shas: d.shas,
    commits: d.commits.map((c) => ({ sha: c.sha, author: c.author, email: c.email, subject: c.subject, time: c.time })),
    status: d.status,
    steps: s.steps ?? 0,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
  if (typeof s.step === 'number' && s.step >= 0) out.step = s.step;
  // The plan fixes which servers take the new build at each step; the caller may know better (live counts).
  const plan = Array.isArray(s.plan) ? s.plan : undefined;
  const onNew = opts.serversOnNew ?? (plan && out.step !== undefined && ROLLING.has(d.status) ? plan[out.step]?.length : undefined);
  const total = opts.serversTotal ?? plan?.[plan.length - 1]?.length;
  if (onNew !== undefined) out.serversOnNew = onNew;
  if (total !== undefined) out.serversTotal = total;
  if (opts.now !== undefined && typeof s.since === 'number' && (d.status === 'baking' || d.status === 'watching')) {
    out.bakeElapsedMs = Math.max(0, opts.now - s.since);
  }
  if (s.lastGate) out.lastGate = { decision: s.lastGate.decision, explanation: s.lastGate.explanation };
  const outcome = d.outcome ?? s.outcome;
  if (outcome) out.outcome = outcome;
  if (d.finishedAt !== undefined) out.finishedAt = d.finishedAt;
  const reason = d.reason ?? s.failure?.reason;
  if (reason) out.reason = reason;
  if (d.revertSha) out.revertSha = d.revertSha;
  if (d.status === 'held' && s.hold) out.hold = { phase: s.hold.phase, reason: s.hold.reason, since: s.hold.since };
  const warnings = Array.isArray(s.warnings) ? s.warnings.filter((w): w is string => typeof w === 'string') : [];
  if (warnings.length) out.warnings = warnings;
  return out;
}

/** A deploy's summary table (metric × step: verdict, estimate, interval, samples), steps named with their servers from the plan. */
export function deployEvidence(d: DeployRecord, looks: readonly GateLookRecord[]): EvidenceTable {
  const s = stateOf(d);
  const plan = Array.isArray(s.plan) ? s.plan : undefined;
  const total = plan?.[plan.length - 1]?.length;
  return evidenceTable(looks, { steps: s.steps, servers: (step) => ({ onNew: plan?.[step]?.length, total }) });
}

/** The line as the API shows it: block state, what is live, the deploy in flight and the queue (as commits). */
export function summarizeLine(
  line: LineRecord,
  inFlight: DeployRecord | undefined,
  queue: Commit[],
  opts: { serversTotal?: number; serversOnNew?: number; now?: number; problems?: string[] } = {},
): LineStatus {
  const { pipeline, blocked, blockReason, blockedBy, blockedAt, blockedDeploy, paused } = line;
  const out: LineStatus = {
    pipeline,
    blocked,
    blockReason,
    blockedBy,
    blockedAt,
    blockedDeploy,
    paused,
    live: null,
    inFlight: null,
    queue,
  };
  // Absent, not undefined, in the JSON and in comparisons.
  for (const k of ['blockReason', 'blockedBy', 'blockedAt', 'blockedDeploy'] as const) if (out[k] === undefined) delete out[k];
  if (line.live) {
    out.live = { sha: line.live.sha, artifact: { id: line.live.artifact.id } };
    if (line.live.deploy !== undefined) out.live.deploy = line.live.deploy;
  }
  if (inFlight) out.inFlight = summarizeDeploy(inFlight, opts);
  if (line.held)
    out.held = {
      shas: line.held.shas,
      reason: line.held.reason,
      since: line.held.since,
      tree: line.held.tree,
      deploy: line.held.knownBad.deploy,
    };
  if (line.dropped?.length) out.dropped = line.dropped.slice(-5);
  if (opts.problems?.length) out.problems = opts.problems;
  return out;
}

export interface Dora {
  days: number;
  from: number;
  to: number;
  /** Deploys that finished in the period, whatever their outcome. */
  deploys: number;
  /** Deploys that went live. */
  live: number;
  deployFrequencyPerDay: number;
  /** Median of (time live − commit time) over the commits of live deploys. */
  leadTimeMs: number | null;
  /** Deploys that reached servers and failed there, over all that reached servers (aborts count only in the denominator). */
  changeFailureRate: number | null;
  failedChanges: number;
  reachedServers: number;
  /** Median time from a regression's detection (rollback starts) to the fleet back on the previous build. */
  timeToRestoreMs: number | null;
}

const DAY = 86_400_000;
/** Outcomes of a change that failed after reaching servers. */
export const FAILED_IN_PRODUCTION: ReadonlySet<string> = new Set(['rolled_back', 'reverted', 'failed']);

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Rollback time of one deploy from its events: first entry into rolling_back to the first event that leaves it. */
export function restoreTimeMs(events: DeployEventRecord[]): number | null {
  const start = events.findIndex((e) => e.status === 'rolling_back');
  if (start < 0) return null;
  const end = events.slice(start + 1).find((e) => e.type === 'rolled_back' || e.status !== 'rolling_back');
  return end ? end.time - events[start]!.time : null;
}

/**
 * DORA figures over the `days` before `now`, from deploys finished in that period. Time to
 * restore needs each failed deploy's events; without them it is null.
 */
export function dora(deploys: DeployRecord[], days: number, now: number, events?: Map<string, DeployEventRecord[]>): Dora {
  const from = now - days * DAY;
  const done = deploys.filter((d) => {
    const t = d.finishedAt;
    return t !== undefined && t > from && t <= now;
  });
  const outcome = (d: DeployRecord) => d.outcome ?? stateOf(d).outcome;
  const live = done.filter((d) => outcome(d) === 'live');
  const lead = live.flatMap((d) => d.commits.map((c) => d.finishedAt! - c.time));
  // Reached servers: the rollout started (step >= 0) and the change did not stop at tests or build.
  const reached = done.filter((d) => {
    const o = outcome(d);
    return (stateOf(d).step ?? -1) >= 0 && o !== 'tests_failed' && o !== 'build_failed';
  });
  const failed = reached.filter((d) => FAILED_IN_PRODUCTION.has(outcome(d) ?? ''));
  const restores = events ? failed.map((d) => restoreTimeMs(events.get(d.id) ?? [])).filter((x): x is number => x !== null) : [];
  return {
    days,
    from,
    to: now,
    deploys: done.length,
    live: live.length,
    deployFrequencyPerDay: days > 0 ? live.length / days : 0,
    leadTimeMs: median(lead),
    changeFailureRate: reached.length ? failed.length / reached.length : null,
    failedChanges: failed.length,
    reachedServers: reached.length,
    timeToRestoreMs: median(restores),
  };
}
