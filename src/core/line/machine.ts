// The deploy state machine: next(state, event, ctx) returns the new state and the actions to
// take. The engine persists the state first, then performs the actions, feeding results back
// as events. resumeActions() says what to do with a state found in the store after a crash.
import type { GateResult, InconclusivePolicy } from '../judge/types.js';
import type { Action, DeployEvent, DeployState, Failure, Outcome, RegressionPolicy, Transition } from './types.js';

export interface MachineContext {
  now: number;
  policy: RegressionPolicy;
  /** Short description of the change for notifications: "abc1234 Fix checkout (Dev One)". */
  change: string;
}

export function initialState(plan: string[][], now: number): DeployState {
  return { status: 'queued', step: -1, steps: plan.length, plan, since: now, warnings: [] };
}

/** States from which no event moves the deploy any more. */
export function isFinished(s: DeployState): boolean {
  return s.status === 'live' || s.status === 'failed' || s.status === 'aborted';
}

/** True while some servers may run the new build. */
export function touchesServers(s: DeployState): boolean {
  return (
    s.status === 'rolling_out' || s.status === 'baking' || s.status === 'watching' || s.status === 'held' || s.status === 'rolling_back'
  );
}

export class IllegalTransition extends Error {
  constructor(state: DeployState, event: DeployEvent) {
    super(`event ${event.type} is not valid in state ${state.status}${state.step >= 0 ? ` (step ${state.step + 1})` : ''}`);
  }
}

function to(s: DeployState, patch: Partial<DeployState>, now: number): DeployState {
  return { ...s, since: now, ...patch };
}

function finish(s: DeployState, status: 'live' | 'failed' | 'aborted', outcome: Outcome, now: number): DeployState {
  return { ...s, status, outcome, since: now, promoted: undefined, hold: undefined };
}

/** What follows a regression found while servers run the new build. */
function regression(s: DeployState, failure: Failure, ctx: MachineContext): Transition {
  const actions: Action[] = [
    { type: 'set_status', context: failure.stage === 'watch' ? 'deploy' : 'canary', state: 'failure', description: failure.reason },
  ];
  if (ctx.policy.rollback || failure.stage === 'abort' || failure.stage === 'deploy') {
    actions.unshift({ type: 'rollback' });
    if (provenBad(failure)) actions.unshift({ type: 'remember_bad' });
    return { state: to(s, { status: 'rolling_back', failure, promoted: undefined, hold: undefined }, ctx.now), actions };
  }
  // Without rollback the fleet keeps the new build; we still revert and block if asked.
  const t = afterRollback(to(s, { failure, hold: undefined }, ctx.now), ctx);
  return { state: t.state, actions: [...(provenBad(failure) ? [{ type: 'remember_bad' } as const] : []), ...actions, ...t.actions] };
}

/** A regression the data showed (a metric failed at a gate or the watch), as opposed to an inconclusive end, an abort or a crash. */
export function provenBad(f: Failure | undefined): boolean {
  return (
    !!f &&
    (f.stage === 'gate' || f.stage === 'watch') &&
    !!f.evidence &&
    f.evidence.decision === 'fail' &&
    f.evidence.metrics.some((m) => m.verdict === 'fail')
  );
}

/** The gate or the watch ended inconclusive under the `hold` policy: wait for a captain, with the evidence. */
function hold(s: DeployState, phase: 'gate' | 'watch', result: GateResult, ctx: MachineContext): Transition {
  const where = phase === 'watch' ? 'the watch' : `rollout step ${s.step + 1} of ${s.steps}`;
  const reason = `${phase === 'watch' ? 'watch' : 'gate'} inconclusive at ${where}: ${result.explanation}`;
  const lastGate = { decision: result.decision, explanation: result.explanation };
  return {
    state: to(s, { status: 'held', lastGate, hold: { phase, reason, since: ctx.now } }, ctx.now),
    actions: [
      {
        type: 'set_status',
        context: phase === 'watch' ? 'deploy' : 'canary',
        state: 'pending',
        description: `held for a captain: ${result.explanation}`,
      },
      {
        type: 'notify',
        kind: 'held',
        title: `Rollout of ${ctx.change} held at ${where}: a captain decides`,
        body: `${reason}\nResume (bake again), promote (go on) or abort (roll back): immune resume|promote|abort --reason "..."`,
      },
    ],
  };
}

/** The policy's reading of an inconclusive end: go on, treat as a failure, or hold for a captain. */
function inconclusive(policy: InconclusivePolicy): 'fail' | 'hold' {
  // The judge already passed what a pass policy allows (pass, pass_within_tolerance): an
  // inconclusive answer under them means a metric is beyond tolerance, and that holds.
  return policy === 'rollback' ? 'fail' : 'hold';
}

function liveAfterWatch(
  s: DeployState,
  lastGate: DeployState['lastGate'],
  body: string,
  ctx: MachineContext,
  warning?: string,
): Transition {
  const warnings = warning ? [...s.warnings, warning] : s.warnings;
  return {
    state: finish({ ...s, lastGate, warnings }, 'live', 'live', ctx.now),
    actions: [
      { type: 'mark_live' },
      { type: 'set_status', context: 'canary', state: 'success', description: 'canary passed' },
      { type: 'set_status', context: 'deploy', state: 'success', description: 'live on every server' },
      { type: 'notify', kind: 'deploy_live', title: `${ctx.change} is live`, body },
    ],
  };
}

/** After the fleet is back on the previous build: revert and block, or just end. */
function afterRollback(s: DeployState, ctx: MachineContext): Transition {
  const f = s.failure;
  if (!f || f.stage === 'abort' || f.stage === 'crash' || f.stage === 'deploy') {
    const outcome: Outcome = f?.stage === 'abort' ? 'aborted' : f?.stage === 'deploy' || f?.stage === 'crash' ? 'failed' : 'rolled_back';
    const actions: Action[] = [];
    if (f && f.stage !== 'abort') {
      actions.push({ type: 'notify', kind: 'deploy_failed', title: `Deploy of ${ctx.change} failed`, body: f.reason });
    }
    return { state: finish(s, f?.stage === 'abort' ? 'aborted' : 'failed', outcome, ctx.now), actions };
  }
  if (ctx.policy.revert && !f.inconclusive) {
    return { state: to(s, { status: 'reverting' }, ctx.now), actions: [{ type: 'revert', shas: 'change' }] };
  }
  return blockAndEnd(s, 'rolled_back', ctx);
}

function blockAndEnd(s: DeployState, outcome: Outcome, ctx: MachineContext, revertSha?: string): Transition {
  const f = s.failure!;
  const actions: Action[] = [];
  const what = revertSha ? `reverted in ${revertSha.slice(0, 8)}` : 'rolled back';
  if (ctx.policy.block) {
    actions.push({ type: 'block', reason: `${ctx.change}: ${f.reason}` });
    actions.push({ type: 'notify', kind: 'blocked', title: `Line blocked: ${ctx.change} ${what}`, body: f.reason });
  } else {
    actions.push({ type: 'notify', kind: revertSha ? 'reverted' : 'deploy_failed', title: `${ctx.change} ${what}`, body: f.reason });
  }
  return { state: finish(s, 'failed', outcome, ctx.now), actions };
}

function gateFailure(step: number, result: GateResult, stage: 'gate' | 'watch'): Failure {
  const f: Failure = { stage, step, reason: result.explanation, evidence: result };
  if (result.decision === 'inconclusive') f.inconclusive = true;
  return f;
}

type EventOf<T extends DeployEvent['type']> = Extract<DeployEvent, { type: T }>;
/** A transition for one event type; undefined when the event is not valid in the state. */
type Handler<E extends DeployEvent> = (s: DeployState, e: E, ctx: MachineContext) => Transition | undefined;

/** A captain's abort works in every active state. */
function onAbort(s: DeployState, e: EventOf<'abort'>, ctx: MachineContext): Transition | undefined {
  if (isFinished(s)) return undefined;
  const failure: Failure = { stage: 'abort', step: s.step, reason: `aborted by ${e.actor}: ${e.reason}`, actor: e.actor };
  if (touchesServers(s) && s.status !== 'rolling_back') return regression(s, failure, ctx);
  if (s.status === 'rolling_back' || s.status === 'reverting') return undefined;
  return { state: finish({ ...s, failure }, 'aborted', 'aborted', ctx.now), actions: [] };
}

function onStart(s: DeployState, e: EventOf<'start'>, ctx: MachineContext): Transition | undefined {
  if (s.status !== 'queued') return undefined;
  if (e.hasTests) {
    return {
      state: to(s, { status: 'testing' }, ctx.now),
      actions: [{ type: 'set_status', context: 'tests', state: 'pending', description: 'tests running' }, { type: 'run_tests' }],
    };
  }
  return { state: to(s, { status: 'building' }, ctx.now), actions: [{ type: 'build' }] };
}

function onTestsPassed(s: DeployState, _e: EventOf<'tests_passed'>, ctx: MachineContext): Transition | undefined {
  if (s.status !== 'testing') return undefined;
  return {
    state: to(s, { status: 'building' }, ctx.now),
    actions: [{ type: 'set_status', context: 'tests', state: 'success', description: 'tests passed' }, { type: 'build' }],
  };
}

function onTestsFailed(s: DeployState, e: EventOf<'tests_failed'>, ctx: MachineContext): Transition | undefined {
  if (s.status !== 'testing') return undefined;
  const failure: Failure = { stage: 'tests', step: -1, reason: e.reason, culprit: e.culprit };
  const actions: Action[] = [
    { type: 'set_status', context: 'tests', state: 'failure', description: e.reason },
    { type: 'notify', kind: 'tests_failed', title: `Tests failed for ${ctx.change}`, body: e.reason },
  ];
  // The change never reached a server: revert only the commit that broke the tests, and the line goes on.
  if (ctx.policy.revert && e.culprit) {
    actions.push({ type: 'revert', shas: [e.culprit] });
    return { state: to(s, { status: 'reverting', failure }, ctx.now), actions };
  }
  return { state: finish({ ...s, failure }, 'failed', 'tests_failed', ctx.now), actions };
}

function onBuilt(s: DeployState, e: EventOf<'built'>, ctx: MachineContext): Transition | undefined {
  if (s.status !== 'building') return undefined;
  const now = ctx.now;
  if (e.sameAsLive) {
    // Content-addressed: this build is what the fleet already runs (e.g. a revert of a rolled-back change).
    return { state: finish(to(s, { step: s.steps - 1 }, now), 'live', 'live', now), actions: [{ type: 'mark_live' }] };
  }
  return {
    state: to(s, { status: 'rolling_out', step: 0, rolloutStartedAt: now }, now),
    actions: [
      { type: 'set_status', context: 'canary', state: 'pending', description: 'rolling out' },
      { type: 'deploy_step', step: 0 },
    ],
  };
}

function onBuildFailed(s: DeployState, e: EventOf<'build_failed'>, ctx: MachineContext): Transition | undefined {
  if (s.status !== 'building') return undefined;
  const failure: Failure = { stage: 'build', step: -1, reason: e.reason };
  return {
    state: finish({ ...s, failure }, 'failed', 'build_failed', ctx.now),
    actions: [{ type: 'notify', kind: 'deploy_failed', title: `Build failed for ${ctx.change}`, body: e.reason }],
  };
}

function onStepDeployed(s: DeployState, e: EventOf<'step_deployed'>, ctx: MachineContext): Transition | undefined {
  if (s.status !== 'rolling_out' || e.step !== s.step) return undefined;
  if (e.gated) return { state: to(s, { status: 'baking', lastGate: undefined }, ctx.now), actions: [{ type: 'judge_step', step: s.step }] };
  // The whole fleet runs the new build: nothing left to compare with but the past.
  return { state: to(s, { status: 'watching', lastGate: undefined }, ctx.now), actions: [{ type: 'watch' }] };
}

function onStepFailed(s: DeployState, e: EventOf<'step_failed'>, ctx: MachineContext): Transition | undefined {
  if (s.status !== 'rolling_out' || e.step !== s.step) return undefined;
  return regression(s, { stage: 'deploy', step: s.step, reason: e.reason }, ctx);
}

function onGate(s: DeployState, e: EventOf<'gate'>, ctx: MachineContext): Transition | undefined {
  if (s.status !== 'baking' || e.step !== s.step) return undefined;
  const lastGate = { decision: e.result.decision, explanation: e.result.explanation };
  let decision: GateResult['decision'] | 'hold' = e.result.decision;
  if (decision === 'inconclusive') decision = inconclusive(e.policy);
  if ((decision === 'continue' || decision === 'hold') && s.promoted) decision = 'pass';
  if (decision === 'fail') return regression({ ...s, lastGate }, gateFailure(s.step, e.result, 'gate'), ctx);
  if (decision === 'hold') return hold(s, 'gate', e.result, ctx);
  if (decision === 'pass' && !e.paused) {
    const warnings = e.result.warning ? [...s.warnings, e.result.warning] : s.warnings;
    return {
      state: to(s, { status: 'rolling_out', step: s.step + 1, lastGate, promoted: undefined, warnings }, ctx.now),
      actions: [{ type: 'deploy_step', step: s.step + 1 }],
    };
  }
  // Keep baking (also when passed but the line is paused: hold at this step).
  return { state: { ...s, lastGate }, actions: [{ type: 'judge_step', step: s.step }] };
}

function onWatch(s: DeployState, e: EventOf<'watch'>, ctx: MachineContext): Transition | undefined {
  if (s.status !== 'watching') return undefined;
  const lastGate = { decision: e.result.decision, explanation: e.result.explanation };
  if (e.result.decision === 'continue') return { state: { ...s, lastGate }, actions: [{ type: 'watch' }] };
  // An inconclusive watch is the pipeline's policy to read, never a silent pass.
  const decision = e.result.decision === 'inconclusive' ? inconclusive(e.policy) : e.result.decision;
  if (decision === 'fail') return regression({ ...s, lastGate }, gateFailure(s.step, e.result, 'watch'), ctx);
  if (decision === 'hold') return hold(s, 'watch', e.result, ctx);
  // A watch the judge passed by the pipeline's pass policy carries its warning.
  return liveAfterWatch(s, lastGate, e.result.explanation, ctx, e.result.warning);
}

/** The hold a held deploy waits on; a gate's when the state records none. */
function holdOf(s: DeployState, now: number): NonNullable<DeployState['hold']> {
  return s.hold ?? { phase: 'gate', reason: 'held', since: now };
}

/** Baking: skip the rest of the bake. Held: go on past the hold, to the next step or live. */
function onPromote(s: DeployState, e: EventOf<'promote'>, ctx: MachineContext): Transition | undefined {
  if (s.status === 'baking') return { state: { ...s, promoted: true }, actions: [] };
  if (s.status !== 'held') return undefined;
  const h = holdOf(s, ctx.now);
  const warning = `promoted by ${e.actor} past an inconclusive ${h.phase}: ${h.reason}`;
  if (h.phase === 'watch') return liveAfterWatch(s, s.lastGate, warning, ctx, warning);
  return {
    state: to(
      s,
      { status: 'rolling_out', step: s.step + 1, hold: undefined, promoted: undefined, warnings: [...s.warnings, warning] },
      ctx.now,
    ),
    actions: [{ type: 'deploy_step', step: s.step + 1 }],
  };
}

/** A fresh bake (or watch) at the same step, from now. */
function onResume(s: DeployState, _e: EventOf<'resume'>, ctx: MachineContext): Transition | undefined {
  if (s.status !== 'held') return undefined;
  if (holdOf(s, ctx.now).phase === 'watch')
    return { state: to(s, { status: 'watching', hold: undefined }, ctx.now), actions: [{ type: 'watch' }] };
  return { state: to(s, { status: 'baking', hold: undefined }, ctx.now), actions: [{ type: 'judge_step', step: s.step }] };
}

function onRolledBack(s: DeployState, _e: EventOf<'rolled_back'>, ctx: MachineContext): Transition | undefined {
  return s.status === 'rolling_back' ? afterRollback(s, ctx) : undefined;
}

/** The revert ended (done, failed, or nothing to revert): block and end, or after a tests culprit, just end. */
function onRevertEnded(
  s: DeployState,
  e: EventOf<'reverted' | 'revert_failed' | 'revert_skipped'>,
  ctx: MachineContext,
): Transition | undefined {
  if (s.status !== 'reverting') return undefined;
  const revertSha = e.type === 'reverted' ? e.sha : undefined;
  const failure = s.failure!;
  const reason =
    e.type === 'revert_failed'
      ? `${failure.reason} (revert failed: ${e.reason})`
      : e.type === 'revert_skipped'
        ? `${failure.reason} (not reverted: ${e.reason})`
        : failure.reason;
  const s2 = { ...s, failure: { ...failure, reason } };
  if (failure.stage === 'tests') {
    // A test failure found its culprit: revert it, notify, and let the line go on.
    return {
      state: finish(s2, 'failed', 'tests_failed', ctx.now),
      actions: [
        {
          type: 'notify',
          kind: revertSha ? 'reverted' : 'tests_failed',
          title: `${failure.culprit?.slice(0, 8)} ${revertSha ? 'reverted' : 'not reverted'}: tests failed`,
          body: reason,
        },
      ],
    };
  }
  return blockAndEnd(s2, revertSha ? 'reverted' : 'rolled_back', ctx, revertSha);
}

const HANDLERS: { [T in DeployEvent['type']]: Handler<EventOf<T>> } = {
  abort: onAbort,
  start: onStart,
  tests_passed: onTestsPassed,
  tests_failed: onTestsFailed,
  built: onBuilt,
  build_failed: onBuildFailed,
  step_deployed: onStepDeployed,
  step_failed: onStepFailed,
  gate: onGate,
  watch: onWatch,
  promote: onPromote,
  resume: onResume,
  rolled_back: onRolledBack,
  reverted: onRevertEnded,
  revert_failed: onRevertEnded,
  revert_skipped: onRevertEnded,
};

export function next(s: DeployState, e: DeployEvent, ctx: MachineContext): Transition {
  const t = (HANDLERS[e.type] as Handler<DeployEvent>)(s, e, ctx);
  if (!t) throw new IllegalTransition(s, e);
  return t;
}

/**
 * What to do with a deploy found in the store when the orchestrator starts. Servers may be on
 * either build, so every path first puts them on a known one: the in-flight step is deployed
 * again (activation is idempotent) and judged from scratch, or the fleet is rolled back.
 */
export function resumeActions(s: DeployState): Action[] {
  switch (s.status) {
    case 'queued':
      return [];
    case 'testing':
      return [{ type: 'run_tests' }];
    case 'building':
      return [{ type: 'build' }];
    case 'rolling_out':
    case 'baking':
      return [{ type: 'deploy_step', step: s.step }];
    case 'watching':
      return [{ type: 'deploy_step', step: s.step }];
    case 'held':
      // The step's servers are on the new build, the rest on the previous one: wait for the captain.
      return [];
    case 'rolling_back':
      // Recording the known-bad tree is idempotent: do it again in case the crash came first.
      return [...(provenBad(s.failure) ? [{ type: 'remember_bad' } as const] : []), { type: 'rollback' }];
    case 'reverting':
      return [
        ...(provenBad(s.failure) ? [{ type: 'remember_bad' } as const] : []),
        { type: 'revert', shas: s.failure?.stage === 'tests' && s.failure.culprit ? [s.failure.culprit] : 'change' },
      ];
    default:
      return [];
  }
}

/** After a crash in a bake or watch, the step is re-deployed; its state goes back to rolling_out. */
export function resumedState(s: DeployState, now: number): DeployState {
  if (s.status === 'baking' || s.status === 'watching') return { ...s, status: 'rolling_out', since: now, promoted: undefined };
  return s;
}
