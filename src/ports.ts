// The interfaces the engine needs from the outside world. Adapters implement them; the
// simulation implements them too, so the same engine runs in virtual time and for real.
import type { DeployState, DeployStatus, Outcome } from './core/line/types.js';
import type { GateResult, MetricEvidence, Sample } from './core/judge/types.js';
import type { GateLook, WatchLook } from './core/rollout/look.js';
import type {
  ConversionEvent,
  EvaluationBucket,
  ExperimentClosing,
  ExperimentPhase,
  ExposureEvent,
  PhaseTally,
} from './core/experiments/types.js';
import type { FlagRollout } from './core/experiments/guarded.js';
import type { HeldChange, KnownBadTree, TreeOverride } from './core/line/known-bad.js';

// The experiment types the ExperimentStore speaks, for the adapters that implement it.
export type { ConversionEvent, EvaluationBucket, ExperimentClosing, ExperimentPhase, ExposureEvent, FlagRollout, PhaseTally };

// ---------------------------------------------------------------------------------------------
// Source control

export interface Commit {
  sha: string;
  author: string;
  email: string;
  /** First line of the message. */
  subject: string;
  message: string;
  /** Commit time, ms since the epoch. */
  time: number;
}

/** A directory holding a checkout of one sha, removed by dispose(). */
export interface Checkout {
  sha: string;
  dir: string;
  dispose(): Promise<void>;
}

export interface Repo {
  /** Fetch and return the tip of the deployed branch. */
  tip(signal?: AbortSignal): Promise<string>;
  /** Commits after `from` (exclusive; undefined = only `to`) up to `to`, oldest first, first-parent. */
  commitsBetween(from: string | undefined, to: string): Promise<Commit[]>;
  commit(sha: string): Promise<Commit>;
  /** A detached checkout of `sha` in a fresh directory of its own (build isolation). */
  checkout(sha: string, signal?: AbortSignal): Promise<Checkout>;
  /** Revert `shas` (any order) on top of the branch tip in one commit with `message`, push it, return its sha. */
  revert(shas: string[], message: string, signal?: AbortSignal): Promise<string>;
  /** The git tree hash of a commit (what a build of it contains): known-bad trees are matched on it. */
  tree?(sha: string): Promise<string>;
  /** Whether a revert could be pushed to the branch; a problem says what and how to fix it, in one line. */
  checkPushable?(signal?: AbortSignal): Promise<PushCheck>;
  /** True when `ancestor` is `sha` or reachable from it (after the last fetch). */
  isAncestor?(ancestor: string, sha: string): Promise<boolean>;
  /** The newest commit on the branch whose message has `trailer` (e.g. "Immune-Deploy"), if any. */
  findTrailer?(trailer: string): Promise<string | undefined>;
}

export type PushCheck = { ok: true } | { ok: false; problem: string; details?: string };

/** Where commits live for people: statuses, comments (GitHub). Optional in a pipeline. */
export interface CodeHost {
  setStatus(sha: string, status: CommitStatus, signal?: AbortSignal): Promise<void>;
  comment(sha: string, body: string, signal?: AbortSignal): Promise<void>;
}

export interface CommitStatus {
  /** tests, canary, deploy */
  context: string;
  state: 'pending' | 'success' | 'failure' | 'error';
  description: string;
  url?: string;
}

// ---------------------------------------------------------------------------------------------
// Tests and build

/** How one test case ended. */
export const TEST_STATES = ['passed', 'failed', 'skipped'] as const;

export interface TestCaseResult {
  /** Stable id: file + full title. */
  id: string;
  file: string;
  title: string;
  state: (typeof TEST_STATES)[number];
  durationMs: number;
  error?: string;
  /** Passed on re-run after failing. */
  flaky?: boolean;
}

export interface TestProgress {
  shardsDone: number;
  shardsTotal: number;
  passed: number;
  failed: number;
  /** Estimated ms until the run ends, from history. */
  etaMs?: number;
}

export interface TestReport {
  sha: string;
  ok: boolean;
  total: number;
  passed: number;
  failed: TestCaseResult[];
  flaky: TestCaseResult[];
  durationMs: number;
  shards: { id: number; worker: string; tests: number; durationMs: number; ok: boolean }[];
  /** For a failed batch: the first bad commit, found by search. */
  culprit?: { sha: string; runs: number; durationMs: number };
  /** Human summary of what failed. */
  summary: string;
}

export interface TestRunOptions {
  /** Run only these test ids (culprit search re-runs just the failing tests). */
  only?: string[];
}

/** A run's report with what history records: every test's result and per-file load times. */
export interface TestRunReport extends TestReport {
  results?: TestCaseResult[];
  /** Mean load time per test file in this run (warm runners), for the history. */
  fileLoads?: { file: string; ms: number }[];
}

export interface TestRunner {
  /** Worker slots: how many runs (culprit probes) can go at once; 1 when absent. */
  readonly slots?: number;
  /**
   * Run the pipeline's suite on a checkout. Never rejects for failing tests: ok=false in the report.
   * Tests the history marks quarantined get the flake policy's extra re-runs.
   */
  run(checkout: Checkout, signal: AbortSignal, progress?: (p: TestProgress) => void, opts?: TestRunOptions): Promise<TestRunReport>;
}

/** A deployable build: content-addressed, one per change. */
export interface Artifact {
  /** Content hash (sha256, hex, shortened) of the packaged files; also the release directory name. */
  id: string;
  sha: string;
  /** A .tar.gz on the orchestrator's disk. */
  path: string;
  bytes: number;
}

export interface Builder {
  build(checkout: Checkout, signal: AbortSignal): Promise<Artifact>;
}

// ---------------------------------------------------------------------------------------------
// Servers

export interface Server {
  id: string;
  host: string;
  /** Application port (health and metrics). */
  port: number;
  labels: Record<string, string>;
}

export interface ActivateOptions {
  /** Restart the server even when it runs the release already. */
  restart?: boolean;
}

export interface Fleet {
  servers(): Promise<Server[]>;
  /** The release id the server runs now; undefined when it runs nothing known. */
  release(server: Server, signal?: AbortSignal): Promise<string | undefined>;
  /**
   * Make `artifact` the server's current release: install it if absent (keeping the configured
   * number of releases), switch atomically, restart, wait for health. Also how rollback happens:
   * activating an installed release is a switch and a restart. Rejects with DeployError.
   * With `restart`, a server that already runs `artifact` is restarted on it too (a fresh process:
   * the fresh baseline, plan.ts); without it, a fleet may leave such a server alone.
   */
  activate(server: Server, artifact: Artifact, signal: AbortSignal, options?: ActivateOptions): Promise<void>;
  /** True when the server answers its health check in time. */
  health(server: Server, signal?: AbortSignal): Promise<boolean>;
  /** Release ids installed on the server (what a rollback can switch to without a copy), newest first. */
  installed?(server: Server, signal?: AbortSignal): Promise<string[]>;
  /** Stop whatever the fleet started (local processes); no-op for remote fleets. */
  close?(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Metrics

export interface ServerSample {
  server: string;
  /** False when the server did not answer the scrape or query in time. */
  ok: boolean;
  error?: string;
  /** Per metric name: the value for the interval since the previous sample, null when missing. */
  values: Record<string, Sample | null>;
}

export interface MetricsSource {
  /**
   * One interval's sample per server for every configured metric. Counters are turned into
   * increases since the previous call for that server (a first call primes and may return null values).
   */
  sample(servers: Server[], intervalMs: number, signal?: AbortSignal): Promise<ServerSample[]>;
}

// ---------------------------------------------------------------------------------------------
// The judge

/**
 * Judges one look of a gate or the watch: builds the series from the ticks and decides. Async so
 * that it may run off the engine's thread (a look at 1,000 servers takes hundreds of ms). A judge
 * that cannot look (its worker died, timed out) rejects: the engine makes that a failed look.
 */
export interface Judge {
  gate(look: GateLook, signal?: AbortSignal): Promise<GateResult>;
  watch(look: WatchLook, signal?: AbortSignal): Promise<GateResult>;
  /** Frees what the judge holds (a worker thread). */
  close?(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Notifications and time

export type NotificationKind =
  | 'deploy_live'
  | 'deploy_failed'
  | 'reverted'
  | 'blocked'
  | 'unblocked'
  | 'tests_failed'
  | 'flaky_test'
  | 'rollback_failed'
  | 'unknown_build'
  | 'recovered'
  | 'rolled_back'
  | 'flag_off'
  | 'flag_held'
  | 'held'
  | 'info';

export interface Notification {
  /** `held`: a rollout waits for a captain (inconclusive gate under the hold policy, or a known-bad tree). */
  /**
   * Stable id of the event (deploy id + kind + step): the same event notified again (a replayed
   * action after a restart) is delivered once. Without one, every call is a new event.
   */
  id?: string;
  /** One of NotificationKind, or any kind another part of the engine emits (routes match it by name). */
  kind: NotificationKind | (string & {});
  pipeline: string;
  deploy?: string;
  sha?: string;
  /** Who should hear about it (commit authors' emails). */
  to?: string[];
  title: string;
  body: string;
  /** When it happened (ms); the notifier's clock when absent. */
  time?: number;
  /** Default from the kind (a blocked line is critical, a live deploy info). */
  severity?: 'critical' | 'error' | 'warning' | 'info';
  /** The deploy page. */
  link?: string;
  step?: number;
  /** The gate's verdict behind a failure, metric by metric. */
  evidence?: { explanation: string; metrics: MetricEvidence[] };
  commits?: Pick<Commit, 'sha' | 'author' | 'email' | 'subject'>[];
  revertSha?: string;
}

export interface Notifier {
  /** Hand the notification over; resolves once it is queued, never waiting on a receiver. */
  notify(n: Notification): Promise<void>;
}

/** One notification for one target, waiting, delivered or given up on (the dead letters). */
export interface OutboxItem {
  /** Notification id + target (+ qualifier): enqueueing the same one twice adds nothing. */
  id: string;
  target: string;
  qualifier?: string;
  notification: Notification;
  state: 'pending' | 'delivered' | 'dead';
  attempts: number;
  createdAt: number;
  nextAt: number;
  lastError?: string;
  lastErrorAt?: number;
  deliveredAt?: number;
}

/** Where the notifier keeps its queue, so a restart loses nothing pending (the store implements it). */
export interface NotificationOutbox {
  /**
   * Add the item unless one with its id exists (`duplicate`); when the target already has
   * maxPending items waiting it goes straight to the dead letters (`full`).
   */
  enqueue(
    item: Omit<OutboxItem, 'state' | 'attempts' | 'lastError' | 'lastErrorAt' | 'deliveredAt'>,
    maxPending: number,
  ): Promise<'added' | 'duplicate' | 'full'>;
  /** The target's oldest pending item (deliveries to one target keep their order). */
  head(target: string): Promise<OutboxItem | undefined>;
  delivered(id: string, at: number): Promise<void>;
  /** Record a failed attempt: retry at nextAt, or dead. */
  failed(id: string, f: { attempts: number; nextAt: number; error: string; at: number; dead: boolean }): Promise<void>;
  /** Dead (or any state) items, newest first. */
  list(opts?: { state?: OutboxItem['state']; target?: string; limit?: number }): Promise<OutboxItem[]>;
  /** Per target: counts by state and the last failure. */
  summary(): Promise<OutboxTargetCounts[]>;
  /** A dead item back to pending, due now. */
  retry(id: string, now: number): Promise<boolean>;
  /** Forget delivered and dead items older than `before` (ms); returns how many. */
  prune(before: number): Promise<number>;
}

/** A target's items by state, and its last failure. */
export interface OutboxTargetCounts {
  target: string;
  pending: number;
  delivered: number;
  dead: number;
  lastError?: string;
  lastErrorAt?: number;
}

/** What the notifier says of its queues (the API's GET /api/notifications, `immune notify status`). */
export interface NotificationStatus {
  targets: NotificationTargetStatus[];
  dead: OutboxItem[];
}

export interface NotificationTargetStatus extends OutboxTargetCounts {
  /** The target's type (slack, webhook, pager, ...). */
  type: string;
  /** "slack: 3 failed, last 503 Service Unavailable" when something is dead. */
  summary: string;
}

export interface Clock {
  now(): number;
  /** Resolves after ms, or rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// State

export interface AuditEntry {
  id?: number;
  time: number;
  actor: string;
  action: string;
  target: string;
  reason: string;
  details?: unknown;
}

export interface AuditStore {
  append(e: AuditEntry): Promise<void>;
  list(opts?: { limit?: number; target?: string }): Promise<AuditEntry[]>;
}

/**
 * One test's record: its runs, failures and flaky passes; `lastSeen`: when a run last reported the
 * test (0: never, only quarantined by hand); `lastFailed`: its latest recorded result is a failure.
 */
export interface TestStats {
  id: string;
  file: string;
  title: string;
  runs: number;
  failures: number;
  flakes: number;
  meanMs: number;
  quarantined: boolean;
  lastSeen: number;
  lastFailed: boolean;
}

/** Per-test history for sharding and flake tracking (test issue). */
export interface TestHistoryStore {
  recordRun(sha: string, results: TestCaseResult[], time: number): Promise<void>;
  /** Mean duration per test id over recent runs. */
  durations(ids?: string[]): Promise<Map<string, number>>;
  /** Tests with their runs, failures and flaky passes. */
  stats(): Promise<TestStats[]>;
  setQuarantined(id: string, quarantined: boolean): Promise<void>;
  /** Optional: how long loading each test file took in a runner (its imports, compiling), per run. */
  recordFileLoads?(sha: string, loads: { file: string; ms: number }[], time: number): Promise<void>;
  /** Optional: mean load time per test file over recent runs. */
  fileLoads?(): Promise<Map<string, number>>;
}

/** Line and deploy records (the engine's own state). */
export interface LineStore {
  getLine(pipeline: string): Promise<LineRecord>;
  saveLine(rec: LineRecord): Promise<void>;
  createDeploy(d: DeployRecord): Promise<void>;
  /** Persist a deploy's new state; the engine calls this before acting on a transition. */
  saveDeploy(d: DeployRecord, event: DeployEventRecord): Promise<void>;
  getDeploy(id: string): Promise<DeployRecord | undefined>;
  listDeploys(pipeline: string, opts?: { limit?: number; before?: number }): Promise<DeployRecord[]>;
  events(deployId: string): Promise<DeployEventRecord[]>;
  /** Gate samples and verdicts per step, for the dashboard's charts. */
  appendGateLook(look: GateLookRecord): Promise<void>;
  gateLooks(deployId: string): Promise<GateLookRecord[]>;
}

export interface LineRecord {
  pipeline: string;
  blocked: boolean;
  blockReason?: string;
  blockedBy?: string;
  blockedAt?: number;
  /** The deploy whose failure blocked the line. */
  blockedDeploy?: string;
  paused: boolean;
  /** What the fleet runs when nothing is in flight. */
  live?: { sha: string; artifact: Artifact; deploy?: string };
  /** Last sha taken from the branch (the queue is everything after it). */
  lastSeen?: string;
  /** Changes waiting, oldest first. */
  queue: string[];
  /** Set when the store came up empty while the fleet runs releases: no deploy until a person adopts. */
  needsAdoption?: string;
  /** Recent webhook delivery ids, newest last (a replayed delivery is ignored). */
  deliveries?: string[];
  version: number;
  /** Trees that failed a gate or the watch (newest last). */
  knownBad?: KnownBadTree[];
  /** Known-bad trees a captain allowed to deploy once more. */
  overrides?: TreeOverride[];
  /** The change at the queue's head whose tree is known-bad: nothing starts until a captain decides. */
  held?: HeldChange;
  /** Revert commits immune pushed (never reverted automatically). */
  reverts?: string[];
  /** Queued commits a captain dropped (newest last). */
  dropped?: { sha: string; actor: string; reason: string; at: number }[];
  /** A captain's rollback to an earlier release, recorded before the fleet is switched (resumed after a crash). */
  rollbackTo?: { artifact: Artifact; actor: string; reason: string; at: number };
}

export interface DeployRecord {
  id: string;
  pipeline: string;
  shas: string[];
  commits: Commit[];
  /** Serialized core/line DeployState. */
  /** The deploy's state machine state, persisted before it is acted on. */
  state: DeployState;
  status: DeployStatus;
  outcome?: Outcome;
  createdAt: number;
  updatedAt: number;
  finishedAt?: number;
  previous?: Artifact;
  artifact?: Artifact;
  testReport?: TestReport;
  revertSha?: string;
  /** The git tree of the change's last commit, when known. */
  tree?: string;
  reason?: string;
  /** Side effects of committed transitions not yet performed (the outbox), replayed after a crash. */
  outbox?: { id: string; action: unknown }[];
  /** Last outbox id number handed out for this deploy. */
  actionSeq?: number;
}

export interface DeployEventRecord {
  deployId: string;
  time: number;
  type: string;
  status: string;
  data?: unknown;
}

export interface GateLookRecord {
  deployId: string;
  /** Rollout step index, or -1 for the watch. */
  step: number;
  time: number;
  elapsedMs: number;
  decision: string;
  explanation: string;
  metrics: unknown;
}

/** Experiment phases, closings, exposures and conversions (experiments issue). */
export interface ExperimentStore {
  /** Every phase of an experiment, oldest first. */
  phases(experiment: string): Promise<ExperimentPhase[]>;
  /** Start a phase; the experiment's open phase (if any) ends at p.startedAt. */
  startPhase(p: ExperimentPhase): Promise<void>;
  closing(experiment: string): Promise<ExperimentClosing | undefined>;
  /** Record the closing; conflicts when already closed. */
  close(c: ExperimentClosing): Promise<void>;
  /** Store exposures, one per user, phase and branch; returns how many were new. */
  recordExposures(events: ExposureEvent[]): Promise<number>;
  /** Store conversions (deduplicated by id when given); returns how many were new. */
  recordConversions(events: ConversionEvent[]): Promise<number>;
  /**
   * Participants per branch of a phase and their conversions on `goals`: a conversion counts for a
   * participant from their first exposure until the phase ended or the experiment closed.
   */
  tally(experiment: string, phase: number, goals: string[]): Promise<PhaseTally>;
  /** Add SDK evaluation counts (one bucket per metrics post) to their phases. */
  recordEvaluations(buckets: EvaluationBucket[]): Promise<void>;
  /** Keep the tally of a moment (the lift-over-time chart). */
  saveSnapshot(experiment: string, phase: number, time: number, tally: PhaseTally): Promise<void>;
  snapshots(experiment: string, phase: number): Promise<{ time: number; tally: PhaseTally }[]>;
  /** A guarded flag rollout's state. */
  flagRollout(flag: string): Promise<FlagRollout | undefined>;
  saveFlagRollout(r: FlagRollout): Promise<void>;
}

export interface Store {
  line: LineStore;
  audit: AuditStore;
  tests: TestHistoryStore;
  experiments: ExperimentStore;
  /** The notification queue (absent: the notifier keeps it in memory). */
  notifications?: NotificationOutbox;
  /** Optional: a problem with the store itself (its files gone), checked every poll; undefined when sound. */
  check?(): Promise<string | undefined>;
  close(): Promise<void>;
}
