// The REST API described once: an OpenAPI 3.1 document at GET /api/docs (JSON) and a page for
// people at GET /api/docs.html, rendered from the same document.
import type { FastifyInstance } from 'fastify';
import { ROLES, type Role, type ServerContext } from './context.js';
import { rolesFrom } from './auth.js';
import { VALUE_UNITS } from '../core/config/metrics.js';
import { EXPERIMENT_STATES } from '../core/experiments/types.js';
import { FLAG_ROLLOUT_STATUSES, FLAG_STEP_DECISIONS } from '../core/experiments/guarded.js';
import { DECISIONS, METRIC_OUTCOMES, METRIC_ROLES } from '../core/experiments/readout.js';
import { SRM_BASES } from '../core/experiments/srm.js';
import { DEPLOY_STATUSES, HOLD_PHASES, OUTCOMES } from '../core/line/types.js';
import { TEST_STATES } from '../ports.js';

type Schema = Record<string, unknown>;
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const str = (description?: string): Schema => (description ? { type: 'string', description } : { type: 'string' });
const num = (description?: string): Schema => (description ? { type: 'number', description } : { type: 'number' });
const int = (description?: string): Schema => (description ? { type: 'integer', description } : { type: 'integer' });
const arr = (items: Schema): Schema => ({ type: 'array', items });
const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});
const nullable = (s: Schema): Schema => ({ oneOf: [s, { type: 'null' }] });

const schemas: Record<string, Schema> = {
  Error: obj({
    error: obj(
      {
        code: str('Stable code, e.g. IMMUNE_INPUT_INVALID, IMMUNE_UNAUTHORIZED, IMMUNE_FORBIDDEN, IMMUNE_NOT_FOUND, IMMUNE_CONFLICT'),
        message: str('What went wrong and where, for people'),
        details: {},
      },
      ['code', 'message'],
    ),
  }),
  Ok: obj({ ok: { const: true } }),
  Reason: obj({ reason: { type: 'string', minLength: 1, description: 'Why: recorded in the audit log' } }),
  Commit: obj({ sha: str(), author: str(), email: str(), subject: str(), time: num('ms since the epoch') }, [
    'sha',
    'author',
    'email',
    'subject',
    'time',
  ]),
  Gate: obj({ decision: { enum: ['pass', 'fail', 'inconclusive', 'continue'] }, explanation: str() }),
  DeploySummary: obj(
    {
      id: str(),
      shas: arr(str()),
      commits: arr(ref('Commit')),
      status: { enum: DEPLOY_STATUSES },
      step: int('Rollout step index (0-based) while rolling out'),
      steps: int('Number of rollout steps'),
      serversOnNew: int(),
      serversTotal: int(),
      bakeElapsedMs: num(),
      lastGate: ref('Gate'),
      outcome: { enum: OUTCOMES },
      createdAt: num(),
      updatedAt: num(),
      finishedAt: num(),
      reason: str(),
      revertSha: str(),
      hold: obj({ phase: { enum: HOLD_PHASES }, reason: str(), since: num() }),
      warnings: {
        type: 'array',
        items: str(),
        description:
          "What let the deploy past a step without the data ruling a regression out (a captain's promote; too little data under the pass policy)",
      },
    },
    ['id', 'shas', 'commits', 'status', 'steps', 'createdAt', 'updatedAt'],
  ),
  Line: obj(
    {
      pipeline: str(),
      blocked: { type: 'boolean' },
      blockReason: str(),
      blockedBy: str(),
      blockedAt: num(),
      blockedDeploy: str('Deploy whose failure blocked the line'),
      paused: { type: 'boolean' },
      live: nullable(obj({ sha: str(), artifact: obj({ id: str() }, ['id']), deploy: str() }, ['sha', 'artifact'])),
      inFlight: nullable(ref('DeploySummary')),
      queue: arr(ref('Commit')),
      held: obj({
        shas: arr(str()),
        reason: str('e.g. "this tree is identical to f324de3a, which failed at step 1 on error_rate"'),
        since: num(),
        tree: str(),
        deploy: str('The deploy where the tree failed'),
      }),
      dropped: arr(obj({ sha: str(), actor: str(), reason: str(), at: num() })),
      problems: arr(str('A problem found at start, e.g. the repository refuses the revert push')),
    },
    ['pipeline', 'blocked', 'paused', 'live', 'inFlight', 'queue'],
  ),
  MetricEvidence: obj(
    {
      name: str(),
      verdict: { enum: ['pass', 'fail', 'inconclusive'] },
      pValue: num(),
      effect: num('Relative change canary vs baseline (0.5 = +50%)'),
      ci: { type: 'array', items: num(), minItems: 2, maxItems: 2, description: 'Confidence interval of the effect' },
      baselineEstimate: num(),
      canaryEstimate: num(),
      samples: obj({ baseline: int(), canary: int() }),
      explanation: str('One line for people, the same words as the summary table, the CLI and the revert message'),
      kind: { enum: ['ratio', 'continuous', 'count'] },
      bad: { enum: ['increase', 'decrease'] },
      tolerance: num(),
      unit: { enum: VALUE_UNITS, description: 'How the values read' },
      intervalMs: num(),
      exposure: str('A count judged per unit of this (a `per` metric\'s denominator): its values read "0.052 per request"'),
      events: obj({ baseline: obj({ x: num('events'), n: num('exposure') }), canary: obj({ x: num(), n: num() }) }),
      trend: { type: 'boolean', description: 'A trend test (projected drift), not a level' },
      shortage: str('Why there is too little data'),
      against: {
        enum: ['fresh', 'older'],
        description:
          'An age-dependent metric with a fresh baseline: the baseline servers its numbers are against (restarted with the canaries, or the older ones)',
      },
    },
    ['name', 'verdict', 'pValue', 'effect', 'ci', 'samples', 'explanation'],
  ),
  EvidenceStep: obj({
    step: int('Rollout step, -1 for the watch'),
    name: str('"step 1 of 4 (1 of 8 servers)", "watch"'),
    decision: str("The step's last look"),
    elapsedMs: num(),
    looks: int(),
    explanation: str(),
  }),
  EvidenceRow: obj({
    step: int(),
    metric: str(),
    verdict: str("The judge's verdict"),
    label: {
      enum: ['pass', 'fail', 'no data', 'too little data', 'baking', 'inconclusive'],
      description: 'What the table shows; "no data" when a side has no samples, "too little data" for a trend with too few servers to test',
    },
    change: str('"+14%"; empty when only levels make sense (no events on the baseline)'),
    levels: str('"412 ms → 470 ms"'),
    estimate: str('"+14% (412 ms → 470 ms)"'),
    interval: str('"+4.6% to +23%", "at least +0.66 pp"'),
    samples: str('"6 canary, 54 baseline", or the events on each side'),
    explanation: str(),
    pValue: num(),
    effect: num(),
    ci: { type: 'array', items: num(), minItems: 2, maxItems: 2 },
    n: obj({ canary: int(), baseline: int() }),
  }),
  EvidenceTable: obj({ steps: arr(ref('EvidenceStep')), metrics: arr(str()), rows: arr(ref('EvidenceRow')) }),
  GateLook: obj({
    step: int('Rollout step, -1 for the watch'),
    time: num(),
    elapsedMs: num(),
    decision: str(),
    explanation: str(),
    metrics: arr(ref('MetricEvidence')),
  }),
  TestCase: obj(
    {
      id: str(),
      file: str(),
      title: str(),
      state: { enum: TEST_STATES },
      durationMs: num(),
      error: str(),
      flaky: { type: 'boolean' },
    },
    ['id', 'file', 'title', 'state', 'durationMs'],
  ),
  TestReport: obj(
    {
      sha: str(),
      ok: { type: 'boolean' },
      total: int(),
      passed: int(),
      failed: arr(ref('TestCase')),
      flaky: arr(ref('TestCase')),
      slowest: arr(ref('TestCase')),
      durationMs: num(),
      shards: arr(obj({ id: int(), worker: str(), tests: int(), durationMs: num(), ok: { type: 'boolean' } })),
      culprit: obj({ sha: str(), runs: int(), durationMs: num() }),
      summary: str(),
    },
    ['sha', 'ok', 'total', 'passed', 'failed', 'flaky', 'durationMs', 'shards', 'summary'],
  ),
  DeployDetail: obj(
    {
      deploy: ref('DeploySummary'),
      events: arr(obj({ time: num(), type: str(), status: str(), data: {} }, ['time', 'type', 'status'])),
      gates: arr(ref('GateLook')),
      summary: { ...ref('EvidenceTable'), description: 'One summary table per deploy: metric × step, from the last look of each step' },
      tests: ref('TestReport'),
    },
    ['deploy', 'events', 'gates', 'summary'],
  ),
  AuditEntry: obj(
    { id: int(), time: num(), actor: str('"token:<name>" or "anonymous"'), action: str(), target: str(), reason: str(), details: {} },
    ['time', 'actor', 'action', 'target', 'reason'],
  ),
  Dora: obj({
    days: num(),
    from: num('Start of the period, ms since the epoch'),
    to: num(),
    deploys: int('Deploys that finished in the period, whatever their outcome'),
    live: int('Deploys that went live'),
    deployFrequencyPerDay: num('Live deploys per day'),
    leadTimeMs: nullable(num('Median commit-to-live time')),
    changeFailureRate: nullable(num('Deploys that failed after reaching servers, over all that reached servers (0..1)')),
    failedChanges: int(),
    reachedServers: int(),
    timeToRestoreMs: nullable(num('Median time from a regression detected to the fleet back on the previous build')),
  }),
  Whoami: obj({
    actor: str(),
    role: nullable({ enum: ROLES }),
    openRead: nullable({ type: 'boolean' }),
  }),
  Closing: obj({ experiment: str(), branch: str(), reason: str(), actor: str(), time: num() }),
  Experiment: obj({
    name: str(),
    file: str(),
    description: nullable(str()),
    state: { enum: EXPERIMENT_STATES },
    initialRollout: num('Share of users taking part (0..1)'),
    branches: arr(obj({ name: str(), weight: num('0..1'), control: { type: 'boolean' } })),
    goals: arr(str()),
    guardrails: arr(str()),
    phase: int('A change of branches or weights starts a new phase'),
    groupId: str('Unleash groupId that seeds assignment'),
    startedAt: num(),
    closing: nullable(ref('Closing')),
  }),
  LiftResult: obj({
    name: str(),
    kind: { enum: METRIC_ROLES },
    direction: { enum: ['increase', 'decrease'] },
    controlRate: num(),
    rate: num(),
    converted: int('Numerator: participants who converted'),
    participants: int('Denominator: the branch participants'),
    valuePerUser: num(),
    lift: num('Relative lift of the rate against control (0.1 = +10%)'),
    ci: { type: 'array', items: num(), minItems: 2, maxItems: 2, description: 'Always-valid confidence interval of the lift' },
    pValue: num(),
    adjustedP: num('Holm-adjusted (goals)'),
    outcome: { enum: METRIC_OUTCOMES },
  }),
  ExperimentResults: obj(
    {
      experiment: str(),
      phase: int(),
      groupId: str(),
      alpha: num(),
      participants: int(),
      excluded: int('Users exposed to more than one branch'),
      startedAt: num('When the phase started (ms)'),
      endedAt: num('When it ended (closing or next phase), if it did'),
      durationMs: num(),
      srm: ref('SrmCheck'),
      srmChecks: arr({ allOf: [ref('SrmCheck'), obj({ source: str('participants, or the source of SDK evaluation counts') })] }),
      sources: obj({
        exposures: { type: 'object', description: 'New exposures per source' },
        conversions: { type: 'object', description: 'Attributed conversions per source' },
        evaluations: { type: 'object', description: 'Per source, SDK evaluations per branch' },
      }),
      history: arr(
        obj({ time: num(), participants: int(), lifts: arr(obj({ branch: str(), metric: str(), lift: num(), ci: arr(num()) })) }),
      ),
      branches: arr(
        obj(
          {
            name: str(),
            control: { type: 'boolean' },
            weight: num('Per mille'),
            participants: int(),
            share: num(),
            metrics: arr(ref('LiftResult')),
            decision: str(),
          },
          ['name', 'control', 'weight', 'participants', 'share', 'metrics'],
        ),
      ),
      decision: { enum: DECISIONS },
      winner: str(),
      summary: str(),
      state: str(),
      closing: nullable(ref('Closing')),
      phases: int(),
    },
    ['experiment', 'phase', 'participants', 'srm', 'branches', 'decision', 'summary'],
  ),
  SrmCheck: obj(
    {
      basis: { enum: SRM_BASES },
      counts: arr(obj({ branch: str(), observed: num(), expected: num() })),
      statistic: num(),
      pValue: nullable(num('null: not tested (nobody yet, or too few SDK posts)')),
      mismatch: { type: 'boolean', description: 'Sample ratio mismatch: the readout is invalid' },
      dispersion: num('Evaluations: estimated over-dispersion from repeat evaluations'),
      buckets: int('Evaluations: SDK metrics posts'),
      summary: str(),
    },
    ['basis', 'counts', 'pValue', 'mismatch', 'summary'],
  ),
  CloseExperiment: obj({ branch: str('Branch everyone gets from now on'), reason: { type: 'string', minLength: 1 } }),
  GuardedFlag: obj(
    {
      name: str(),
      file: str(),
      owner: nullable(str('Told when the flag is turned off or held')),
      enabled: { type: 'boolean', description: 'false in the file: off for everyone (kill switch), not judged' },
      status: { enum: FLAG_ROLLOUT_STATUSES },
      blocked: { type: 'boolean', description: 'off or held: waiting for a person (POST /api/flags/{name}/unblock)' },
      reason: nullable(str('Why it is off or held: the gate explanation')),
      step: int('Index in steps'),
      steps: arr(num('Share of users, 0..1')),
      served: num('Share of users the flag is on for now'),
      phase: int("The step's phase (each step counts its own exposures)"),
      stepStartedAt: num(),
      looks: int('Gate looks at this step'),
      lastLook: nullable({ type: 'object', description: '{time, on: {users, goals}, off: {users, goals}}: cumulative counts' }),
      gate: nullable({ type: 'object', description: "The gate's last decision, explanation and per-metric evidence (as a deploy gate's)" }),
      history: arr(
        obj({
          step: int(),
          rollout: num(),
          startedAt: num(),
          endedAt: num(),
          decision: { enum: FLAG_STEP_DECISIONS },
          explanation: str(),
        }),
      ),
      guard: { type: 'object', description: 'The guarded: settings from the file (durations in ms)' },
    },
    ['name', 'status', 'blocked', 'step', 'steps', 'served', 'history'],
  ),
  GuardedFlagList: obj({ flags: arr(ref('GuardedFlag')) }),
};

export interface Operation {
  method: 'get' | 'post';
  path: string;
  summary: string;
  /** Role needed (reads are open to anyone when the server allows open reads), an Unleash client token, a frontend token, or either (ofrep). */
  role: Role | 'client' | 'frontend' | 'ofrep';
  body?: string;
  response: string;
  query?: { name: string; schema: Schema; description: string }[];
  params?: string[];
  tag: string;
  /** Response media type when not JSON. */
  media?: string;
}

const control = (action: string, summary: string): Operation => ({
  method: 'post',
  path: `/api/line/${action}`,
  summary,
  role: 'captain',
  body: 'Reason',
  response: 'Ok',
  tag: 'controls',
});

/** Every endpoint of the REST API (the Unleash client API at /api/client/* follows Unleash's own spec). */
export const operations: Operation[] = [
  {
    method: 'get',
    path: '/api/line',
    summary: 'The line: live build, deploy in flight, queue, block and pause state',
    role: 'viewer',
    response: 'Line',
    tag: 'line',
  },
  {
    method: 'get',
    path: '/api/deploys',
    summary: 'Recent deploys, newest first',
    role: 'viewer',
    response: 'DeployList',
    tag: 'deploys',
    query: [{ name: 'limit', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 50 }, description: 'How many' }],
  },
  {
    method: 'get',
    path: '/api/deploys/{id}',
    summary: "A deploy: commits, events, every gate look's evidence, test report",
    role: 'viewer',
    response: 'DeployDetail',
    tag: 'deploys',
    params: ['id'],
  },
  {
    method: 'post',
    path: '/api/deploys',
    summary: 'Queue a commit for deploy',
    role: 'engineer',
    body: 'DeployRequest',
    response: 'DeployQueued',
    tag: 'deploys',
  },
  control('pause', 'Pause the line: the deploy in flight holds at its current step'),
  control('resume', 'Resume a paused line, and/or let a rollout held at an inconclusive gate bake again at its step'),
  control('abort', 'Abort the deploy in flight and roll back'),
  control('promote', 'Skip the rest of the current bake (or a hold) and go to the next step'),
  control('block', 'Block the line: no deploy starts until unblocked'),
  control('unblock', 'Unblock the line'),
  control('override', 'Deploy the change held because its tree is known-bad (once; audited)'),
  {
    method: 'post',
    path: '/api/line/adopt',
    summary: 'Adopt what the fleet runs after the store came up empty: the sha it runs, or fresh: true to deploy the tip as a first deploy',
    role: 'captain',
    body: 'AdoptRequest',
    response: 'Ok',
    tag: 'controls',
  },
  {
    method: 'post',
    path: '/api/line/drop',
    summary: 'Drop a queued commit: it stays in git, the line skips it',
    role: 'captain',
    body: 'DropRequest',
    response: 'Dropped',
    tag: 'controls',
  },
  {
    method: 'post',
    path: '/api/line/rollback',
    summary: 'Roll every server back to an earlier release they all keep (by release id or commit sha); blocks the line',
    role: 'captain',
    body: 'RollbackRequest',
    response: 'RolledBack',
    tag: 'controls',
  },
  {
    method: 'post',
    path: '/api/deploys/{id}/retry',
    summary: 'Queue a failed or aborted deploy again, at the head of the line',
    role: 'captain',
    body: 'Reason',
    response: 'Retried',
    tag: 'controls',
    params: ['id'],
  },
  {
    method: 'get',
    path: '/api/fleet/releases',
    summary: 'Per server: the releases it keeps, which is current, and which deploy built each',
    role: 'viewer',
    response: 'FleetReleases',
    tag: 'line',
  },
  {
    method: 'get',
    path: '/api/audit',
    summary: 'Audit log of every control and mutation, newest first',
    role: 'viewer',
    response: 'AuditList',
    tag: 'line',
    query: [
      { name: 'limit', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, description: 'How many' },
      { name: 'target', schema: { type: 'string' }, description: 'Only entries about this target' },
    ],
  },
  {
    method: 'get',
    path: '/api/dora',
    summary: 'DORA figures over a period',
    role: 'viewer',
    response: 'Dora',
    tag: 'line',
    query: [
      { name: 'days', schema: { type: 'number', exclusiveMinimum: 0, maximum: 3650, default: 30 }, description: 'Period length in days' },
    ],
  },
  {
    method: 'get',
    path: '/api/notifications',
    summary: "Each notification target's queue (pending, delivered, dead, last error) and the dead letters",
    role: 'viewer',
    response: 'Notifications',
    tag: 'line',
    query: [{ name: 'limit', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 50 }, description: 'How many dead letters' }],
  },
  {
    method: 'post',
    path: '/api/notifications/{id}/retry',
    summary: 'Put a dead notification back in its queue',
    role: 'captain',
    response: 'Ok',
    tag: 'line',
    params: ['id'],
  },
  {
    method: 'get',
    path: '/api/stream',
    summary: 'Server-sent events: one JSON LineEvent per `data:` line',
    role: 'viewer',
    response: 'Stream',
    tag: 'line',
    media: 'text/event-stream',
  },
  {
    method: 'get',
    path: '/api/experiments',
    summary: 'Experiments with their branches, status and decision',
    role: 'viewer',
    response: 'ExperimentList',
    tag: 'experiments',
  },
  {
    method: 'get',
    path: '/api/experiments/{name}/results',
    summary: "An experiment's readout",
    role: 'viewer',
    response: 'ExperimentResults',
    tag: 'experiments',
    params: ['name'],
    query: [{ name: 'phase', schema: { type: 'integer', minimum: 1 }, description: 'Phase to read (default: the current one)' }],
  },
  {
    method: 'post',
    path: '/api/experiments/{name}/close',
    summary: 'Close an experiment: everyone gets one branch; recorded in the audit log',
    role: 'engineer',
    body: 'CloseExperiment',
    response: 'Experiment',
    tag: 'experiments',
    params: ['name'],
  },
  {
    method: 'get',
    path: '/api/flags',
    summary: "Guarded flag rollouts: step, share served, status, the gate's last look",
    role: 'viewer',
    response: 'GuardedFlagList',
    tag: 'experiments',
  },
  {
    method: 'get',
    path: '/api/flags/{name}',
    summary: 'One guarded flag rollout with its gate evidence and the steps done',
    role: 'viewer',
    response: 'GuardedFlag',
    tag: 'experiments',
    params: ['name'],
  },
  {
    method: 'post',
    path: '/api/flags/{name}/unblock',
    summary:
      'A person acts on a flag turned off (its rollout starts again from the first step) or held (it moves to the next step); audited',
    role: 'engineer',
    body: 'Reason',
    response: 'GuardedFlag',
    tag: 'experiments',
    params: ['name'],
  },
  {
    method: 'post',
    path: '/api/events',
    summary: 'Exposures and conversions from any SDK (immune, OpenFeature tracking, your own); conversions idempotent by id',
    role: 'client',
    body: 'Events',
    response: 'EventsAccepted',
    tag: 'sdk',
  },
  {
    method: 'post',
    path: '/api/client/impressions',
    summary: 'Impression events of standard Unleash SDKs, forwarded as emitted: exposures of experiments and guarded flags',
    role: 'client',
    body: 'Impressions',
    response: 'EventsAccepted',
    tag: 'sdk',
  },
  {
    method: 'get',
    path: '/api/client/features',
    summary: 'Unleash client API: the features document (experiments as variants, flags)',
    role: 'client',
    response: 'UnleashFeatures',
    tag: 'sdk',
  },
  {
    method: 'post',
    path: '/api/client/register',
    summary: 'Unleash client API: a client registers',
    role: 'client',
    body: 'UnleashPayload',
    response: 'Empty',
    tag: 'sdk',
  },
  {
    method: 'post',
    path: '/api/client/metrics',
    summary: "Unleash client API: usage metrics; experiments' per-variant counts feed the sample ratio check",
    role: 'client',
    body: 'UnleashPayload',
    response: 'Empty',
    tag: 'sdk',
  },
  {
    method: 'get',
    path: '/api/client/delta',
    summary: 'Unleash delta API: a hydration, then only the feature and segment events since the If-None-Match revision (304 when none)',
    role: 'client',
    response: 'UnleashDelta',
    tag: 'sdk',
  },
  {
    method: 'get',
    path: '/api/frontend',
    summary:
      'Unleash frontend API: the enabled toggles and variants for the context in the query (appName, userId, sessionId, properties[name]); ETag/304',
    role: 'frontend',
    response: 'FrontendToggles',
    tag: 'sdk',
  },
  {
    method: 'post',
    path: '/api/frontend',
    summary: 'Unleash frontend API: the enabled toggles for the context in the body',
    role: 'frontend',
    body: 'FrontendContext',
    response: 'FrontendToggles',
    tag: 'sdk',
  },
  {
    method: 'get',
    path: '/api/frontend/all',
    summary: 'Unleash frontend API: every toggle, disabled ones included, for the context in the query',
    role: 'frontend',
    response: 'FrontendToggles',
    tag: 'sdk',
  },
  {
    method: 'post',
    path: '/api/frontend/all',
    summary: 'Unleash frontend API: every toggle for the context in the body',
    role: 'frontend',
    body: 'FrontendContext',
    response: 'FrontendToggles',
    tag: 'sdk',
  },
  {
    method: 'post',
    path: '/api/frontend/client/metrics',
    summary: 'Unleash frontend API: usage metrics of browser and mobile SDKs',
    role: 'frontend',
    body: 'UnleashPayload',
    response: 'Empty',
    tag: 'sdk',
  },
  {
    method: 'post',
    path: '/api/frontend/client/impressions',
    summary:
      'Unleash frontend API: impression events as browser SDKs emit them, forwarded by the page: exposures of experiments and guarded flags',
    role: 'frontend',
    body: 'Impressions',
    response: 'EventsAccepted',
    tag: 'sdk',
  },
  {
    method: 'post',
    path: '/api/frontend/client/register',
    summary: 'Unleash frontend API: a browser or mobile SDK registers',
    role: 'frontend',
    body: 'UnleashPayload',
    response: 'Empty',
    tag: 'sdk',
  },
  {
    method: 'post',
    path: '/ofrep/v1/evaluate/flags/{key}',
    summary:
      'OFREP: evaluate one flag or experiment for a context (404 FLAG_NOT_FOUND; 400 PARSE_ERROR, INVALID_CONTEXT, TARGETING_KEY_MISSING)',
    role: 'ofrep',
    params: ['key'],
    body: 'OfrepRequest',
    response: 'OfrepEvaluation',
    tag: 'sdk',
  },
  {
    method: 'post',
    path: '/ofrep/v1/evaluate/flags',
    summary: 'OFREP: evaluate every flag and experiment for a context; ETag/If-None-Match (304)',
    role: 'ofrep',
    body: 'OfrepRequest',
    response: 'OfrepBulk',
    tag: 'sdk',
  },
  {
    method: 'get',
    path: '/metrics',
    summary: "The orchestrator's own Prometheus metrics",
    role: 'viewer',
    response: 'PrometheusText',
    tag: 'line',
    media: 'text/plain',
  },
  {
    method: 'get',
    path: '/api/whoami',
    summary: "The caller's identity and role (from the bearer token)",
    role: 'viewer',
    response: 'Whoami',
    tag: 'auth',
  },
  {
    method: 'get',
    path: '/api/docs',
    summary: 'This document (OpenAPI 3.1, JSON); /api/docs.html for people',
    role: 'viewer',
    response: 'OpenApi',
    tag: 'auth',
  },
];

const extra: Record<string, Schema> = {
  DeployList: obj({ deploys: arr(ref('DeploySummary')) }),
  AuditList: obj({ entries: arr(ref('AuditEntry')) }),
  Notifications: obj({
    targets: arr(
      obj(
        {
          target: str(),
          type: str('email, slack, teams, chat, webhook, pager'),
          pending: int(),
          delivered: int(),
          dead: int(),
          lastError: str(),
          lastErrorAt: num(),
          summary: str('e.g. "slack: 3 failed, last 503 Service Unavailable"'),
        },
        ['target', 'type', 'pending', 'delivered', 'dead', 'summary'],
      ),
    ),
    dead: arr(
      obj(
        {
          id: str(),
          target: str(),
          qualifier: str(),
          notification: { type: 'object' },
          state: { const: 'dead' },
          attempts: int(),
          createdAt: num(),
          nextAt: num(),
          lastError: str(),
          lastErrorAt: num(),
        },
        ['id', 'target', 'notification', 'state', 'attempts', 'createdAt'],
      ),
    ),
  }),
  ExperimentList: obj({
    experiments: arr(ref('Experiment')),
    flags: arr(obj({ name: str(), file: str(), enabled: { type: 'boolean' }, rollout: nullable(num()) })),
    errors: arr(str('An experiment file that failed to load: file:line:col message')),
    clients: arr({ type: 'object' }),
    usage: { type: 'object' },
  }),
  DeployQueued: {
    type: 'object',
    properties: { ok: { const: true } },
    required: ['ok'],
    description: 'ok, plus what the line says about the queued change',
  },
  Events: obj(
    {
      source: {
        type: 'string',
        pattern: '^[a-z0-9][a-z0-9._-]*$',
        maxLength: 50,
        description: 'Who sends: immune-sdk, openfeature, ... (default "api"); the readout counts what each source fed it',
      },
      events: arr({
        oneOf: [
          obj(
            {
              type: { const: 'exposure' },
              experiment: str('An experiment, or a guarded flag (branches "on" and "off")'),
              groupId: str("The phase's groupId from the features document; absent: the current phase"),
              branch: str(),
              userId: str(),
              time: num('ms since the epoch; later than the server clock counts as now'),
              id: str(),
            },
            ['type', 'experiment', 'branch', 'userId'],
          ),
          obj(
            {
              type: { const: 'conversion' },
              userId: str('OpenFeature: the targetingKey'),
              goal: str('A goal or guardrail name; OpenFeature: the tracking event name'),
              value: num('OpenFeature: TrackingEventDetails.value'),
              time: num(),
              id: str('Makes retries idempotent'),
            },
            ['type', 'userId', 'goal'],
          ),
        ],
      }),
    },
    ['events'],
  ),
  Impressions: obj(
    {
      source: { type: 'string', description: 'default "unleash-impressions"' },
      events: arr(
        obj(
          {
            eventType: str('isEnabled or getVariant'),
            featureName: str(),
            enabled: { type: 'boolean' },
            variant: str(),
            context: { type: 'object', description: 'The Unleash context: userId (or sessionId, or the stickiness field)' },
          },
          ['eventType', 'featureName', 'enabled'],
        ),
      ),
    },
    ['events'],
  ),
  EventsAccepted: obj({
    exposures: int('New exposures stored'),
    conversions: int(),
    duplicates: int(),
    ignored: arr(obj({ index: int(), reason: str() })),
  }),
  UnleashFeatures: { type: 'object', description: 'Unleash client features document (version 2); ETag / If-None-Match supported' },
  UnleashPayload: { type: 'object', description: 'As the Unleash client specification defines it' },
  UnleashDelta: {
    type: 'object',
    description:
      'Unleash delta document: { events: [{ eventId, type: hydration | feature-updated | feature-removed | segment-updated | segment-removed, ... }] }; the ETag is the revision',
  },
  FrontendContext: {
    type: 'object',
    description:
      '{ "context": { appName?, userId?, sessionId?, remoteAddress?, currentTime?, properties?: { name: value } } }; appName and environment must match the frontend token',
  },
  FrontendToggles: {
    type: 'object',
    description: '{ "toggles": [{ name, enabled, variant: { name, enabled, feature_enabled, payload? }, impressionData }] }',
  },
  OfrepRequest: {
    type: 'object',
    description:
      '{ "context": { targetingKey?, ...attributes } }; targetingKey is the Unleash userId, other attributes Unleash context fields or properties',
  },
  OfrepEvaluation: {
    type: 'object',
    description:
      'OFREP evaluation: { key, value?, reason (STATIC | TARGETING_MATCH | SPLIT | DISABLED | DEFAULT), variant?, metadata } or { key, errorCode, errorDetails }',
  },
  OfrepBulk: { type: 'object', description: '{ "flags": [OFREP evaluation or failure per flag] }' },
  Empty: { type: 'object', description: 'Empty (202/200)' },
  PrometheusText: { type: 'string', description: 'Prometheus text exposition format' },
  DeployRequest: obj({
    sha: { type: 'string', pattern: '^[0-9a-f]{4,40}$', description: 'Commit (full or abbreviated sha) on the pipeline branch' },
  }),
  Stream: { type: 'string', description: 'text/event-stream; each event `data: {"type": ..., "time": ..., ...}`' },
  OpenApi: { type: 'object' },
  AdoptRequest: obj({
    sha: { type: 'string', pattern: '^[0-9a-f]{4,40}$', description: 'The commit the fleet runs (absent with fresh: true)' },
    fresh: { type: 'boolean', description: 'Deploy the tip as a first deploy instead' },
    reason: { type: 'string', minLength: 1 },
  }),
  DropRequest: obj({
    sha: { type: 'string', pattern: '^[0-9a-f]{4,40}$', description: 'A queued commit (full or abbreviated)' },
    reason: { type: 'string', minLength: 1 },
  }),
  Dropped: obj({ ok: { const: true }, dropped: str('The full sha'), note: str('What dropping means for later builds') }),
  RollbackRequest: obj({
    to: str('A release id (immune releases) or a commit sha that was built'),
    reason: { type: 'string', minLength: 1 },
  }),
  RolledBack: obj({ ok: { const: true }, release: str(), sha: str(), servers: int('Servers switched') }),
  Retried: obj({ ok: { const: true }, queued: arr(str()), deploy: str() }),
  FleetReleases: obj({
    servers: arr(
      obj(
        {
          server: str(),
          current: nullable(str()),
          releases: arr(
            obj(
              {
                id: str(),
                current: { type: 'boolean' },
                live: { type: 'boolean' },
                sha: str(),
                deploy: str(),
                outcome: { enum: OUTCOMES },
                knownBad: str('Why this release must not return'),
              },
              ['id', 'current', 'live'],
            ),
          ),
        },
        ['server', 'current', 'releases'],
      ),
    ),
  }),
};

const errorResponse = (description: string): Schema => ({ description, content: { 'application/json': { schema: ref('Error') } } });

export function openApiDocument(opts: { publicUrl?: string; openRead?: boolean } = {}): Schema {
  const paths: Record<string, Record<string, Schema>> = {};
  for (const op of operations) {
    const parameters = [
      ...(op.params ?? []).map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
      ...(op.query ?? []).map((q) => ({ name: q.name, in: 'query', required: false, schema: q.schema, description: q.description })),
    ];
    const reading = op.method === 'get';
    const client = op.role === 'client' || op.role === 'frontend' || op.role === 'ofrep';
    const responses: Record<string, Schema> = {
      200: { description: 'OK', content: { [op.media ?? 'application/json']: { schema: ref(op.response) } } },
      401: errorResponse(
        client
          ? `No or unknown ${op.role === 'client' ? 'client' : op.role === 'frontend' ? 'frontend' : 'client or frontend'} token`
          : 'No token, an unknown token or a malformed Authorization header',
      ),
    };
    if (op.role === 'frontend' || op.role === 'ofrep')
      responses[403] = errorResponse(
        `A frontend token used from an Origin it does not list, or for another app or environment${op.role === 'frontend' ? '; or a client token' : ''}`,
      );
    if (op.role !== 'viewer' && !client) responses[403] = errorResponse(`The token's role is below ${op.role}`);
    if (op.body) responses[400] = errorResponse('Bad input: the message names the field');
    if (op.params) responses[404] = errorResponse('Not found');
    if (op.path === '/api/flags/{name}/unblock') responses[409] = errorResponse('The flag is neither off nor held');
    if (op.tag === 'controls' || op.path === '/api/deploys')
      responses[409] = errorResponse('Conflict with the line state (e.g. nothing in flight to abort)');
    (paths[op.path] ??= {})[op.method] = {
      summary: op.summary,
      tags: [op.tag],
      operationId: `${op.method}${op.path.replace(/\{(\w+)\}/g, 'By-$1').replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      description: client
        ? {
            client: "Needs an Unleash client token (Authorization header) from the server's client tokens.",
            frontend:
              'Needs a frontend token (Authorization header; tokens file `frontend:`): its app and environment scope the context, its origins the CORS answer.',
            ofrep:
              'Needs a client token (servers) or a frontend token (browsers: scoped and CORS-checked), as Authorization (Bearer or raw) or X-API-Key.',
          }[op.role as 'client' | 'frontend' | 'ofrep']
        : reading
          ? `Role: ${rolesFrom(op.role as Role)}, or no token when the server allows open reads.`
          : `Role: ${rolesFrom(op.role as Role)}.`,
      'x-immune-role': op.role,
      security: client
        ? op.role === 'client'
          ? [{ client: [] }]
          : op.role === 'frontend'
            ? [{ frontend: [] }]
            : [{ client: [] }, { frontend: [] }]
        : reading
          ? [{ bearer: [] }, {}]
          : [{ bearer: [] }],
      ...(parameters.length ? { parameters } : {}),
      ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: ref(op.body) } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'immune API',
      version: '0.1.0',
      description:
        'Continuous deployment with a cluster immune system. Send `Authorization: Bearer <token>`; roles: viewer < engineer < captain < admin. ' +
        `Reads ${opts.openRead === false ? 'need a viewer token on this server' : 'are open without a token when the server allows it (the default on loopback)'}; every mutation needs a token with its role. ` +
        'Errors are JSON: `{ "error": { "code", "message", "details" } }`. The Unleash client API lives at /api/client/* (Unleash protocol), the frontend API at /api/frontend, OFREP at /ofrep/v1 (docs/flags.md).',
    },
    servers: opts.publicUrl ? [{ url: opts.publicUrl }] : [],
    tags: [
      { name: 'line', description: 'The line and its history' },
      { name: 'controls', description: "The release captain's controls; each needs a reason and is recorded in the audit log" },
      { name: 'deploys', description: 'Deploys and their evidence' },
      { name: 'experiments', description: 'A/B experiments' },
      { name: 'sdk', description: 'What applications call: the Unleash client API and event ingestion (client tokens)' },
      { name: 'auth', description: 'Tokens and this document' },
    ],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API token from the tokens file or IMMUNE_TOKENS' },
        client: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: 'An Unleash client token (the server\'s client tokens), with or without "Bearer "',
        },
        frontend: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: 'A frontend token (tokens file `frontend:`: app, environment, origins), with or without "Bearer "',
        },
      },
      schemas: { ...schemas, ...extra },
    },
  };
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function schemaText(s: Schema | undefined, all: Record<string, Schema>, depth = 0): string {
  if (!s) return '';
  if (typeof s.$ref === 'string') {
    const name = s.$ref.split('/').pop()!;
    return depth > 0 ? `<a href="#schema-${esc(name)}">${esc(name)}</a>` : schemaText(all[name], all, depth + 1) || esc(name);
  }
  if (Array.isArray(s.oneOf)) return (s.oneOf as Schema[]).map((x) => schemaText(x, all, depth + 1)).join(' | ');
  if (Array.isArray(s.enum)) return (s.enum as string[]).map((v) => `"${esc(v)}"`).join(' | ');
  if ('const' in s) return esc(JSON.stringify(s.const));
  if (s.type === 'array') return `${schemaText(s.items as Schema, all, depth + 1)}[]`;
  if (s.type === 'object' && s.properties) {
    const req = new Set((s.required as string[]) ?? []);
    const props = Object.entries(s.properties as Record<string, Schema>).map(
      ([k, v]) =>
        `${esc(k)}${req.has(k) ? '' : '?'}: ${schemaText(v, all, depth + 1)}${typeof v.description === 'string' ? ` <span class="muted">— ${esc(v.description)}</span>` : ''}`,
    );
    return `{ ${props.join(', ')} }`;
  }
  return esc(String(s.type ?? 'any'));
}

export function apiDocsHtml(doc: Schema): string {
  const all = (doc.components as { schemas: Record<string, Schema> }).schemas;
  const info = doc.info as { title: string; description: string };
  const ops = Object.entries(doc.paths as Record<string, Record<string, Schema>>).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => {
      const body = (op.requestBody as { content: { 'application/json': { schema: Schema } } } | undefined)?.content['application/json']
        .schema;
      const responses = op.responses as Record<string, { description?: string; content?: Record<string, { schema: Schema }> }>;
      const ok = Object.values(responses['200']?.content ?? {})[0]?.schema;
      const params = (op.parameters as { name: string; in: string; description?: string }[] | undefined) ?? [];
      return `<section class="card op" id="${esc(String(op.operationId))}">
  <h3><span class="method ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code> <span class="pill role-${esc(String(op['x-immune-role']))}">${esc(String(op['x-immune-role']))}</span></h3>
  <p>${esc(String(op.summary))}. <span class="muted">${esc(String(op.description))}</span></p>
  ${params.length ? `<p><b>Parameters</b>: ${params.map((p) => `<code>${esc(p.name)}</code> (${esc(p.in)}${p.description ? `, ${esc(p.description)}` : ''})`).join(', ')}</p>` : ''}
  ${body ? `<p><b>Body</b>: <code>${schemaText(body, all)}</code></p>` : ''}
  <p><b>200</b>: <code>${schemaText(ok, all)}</code></p>
  <p class="muted">Errors: ${Object.keys(responses)
    .filter((c) => c !== '200')
    .map(esc)
    .join(', ')} as <code>{ error: { code, message, details } }</code></p>
</section>`;
    }),
  );
  const models = Object.entries(all)
    .map(
      ([name, s]) =>
        `<li id="schema-${esc(name)}"><b>${esc(name)}</b>: <code>${schemaText(s, all, 1)}</code>${typeof s.description === 'string' ? ` <span class="muted">${esc(s.description)}</span>` : ''}</li>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(info.title)}</title><link rel="stylesheet" href="/style.css"></head>
<body class="docs"><header class="top"><a class="brand" href="/">immune</a><nav><a href="/#/">Line</a><a href="/api/docs">OpenAPI JSON</a></nav></header>
<main><h1>${esc(info.title)}</h1><p>${esc(info.description)}</p>
${ops.join('\n')}
<h2>Schemas</h2><ul class="schemas">${models}</ul></main></body></html>`;
}

export async function registerApiDocs(app: FastifyInstance, ctx: Pick<ServerContext, 'publicUrl' | 'auth'>): Promise<void> {
  const openRead = (ctx.auth as { openRead?: boolean }).openRead;
  const doc = openApiDocument({ publicUrl: ctx.publicUrl, openRead });
  const html = apiDocsHtml(doc);
  app.get('/api/docs', async () => doc);
  app.get('/api/docs.html', async (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'none'; style-src 'self'; frame-ancestors 'none'")
      .send(html),
  );
}
