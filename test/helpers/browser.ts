// Headless Chromium for the dashboard tests, and a fixture API server: the real dashboard, auth
// and docs routes, with the line, deploys, gates and experiments answered from fixture data.
import Fastify, { type FastifyInstance } from 'fastify';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { evidenceTable } from '../../src/core/judge/evidence.js';
import { createAuth, type TokenEntry } from '../../src/server/auth.js';
import type { ServerContext } from '../../src/server/context.js';
import { registerDashboard } from '../../src/server/dashboard.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const OUTPUT_DIR = join(process.cwd(), 'test-output', 'dashboard');

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A page that fails the test on any uncaught error or console error of the dashboard. */
export async function openPage(browser: Browser, errors: string[]): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(8000);
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // Failed requests the test provokes on purpose (401/403) are logged by Chromium as console errors.
    if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return page;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const file = join(OUTPUT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// ---------------------------------------------------------------------------------------------
// Fixture data

export const TOKENS: TokenEntry[] = [
  { name: 'vera', role: 'viewer', token: 'viewer-token-123' },
  { name: 'erin', role: 'engineer', token: 'engineer-token-456' },
  { name: 'cora', role: 'captain', token: 'captain-token-789' },
];

const commit = (sha: string, author: string, subject: string, time: number) => ({
  sha,
  author,
  email: `${author.toLowerCase().split(' ')[0]}@example.com`,
  subject,
  time,
});

interface Look {
  step: number;
  time: number;
  elapsedMs: number;
  decision: string;
  explanation: string;
  metrics: unknown[];
}

function evidence(
  name: string,
  base: number,
  effect: number,
  i: number,
  n: number,
  verdict: string,
  tolerance = 0.1,
  kind = 'ratio',
  unit?: string,
) {
  const width = 0.9 / Math.sqrt(i + 1);
  const e = effect * (0.6 + (0.4 * (i + 1)) / n);
  return {
    name,
    verdict,
    pValue: verdict === 'fail' ? 0.0003 : 0.4,
    effect: e,
    ci: [e - width, e + width] as [number, number],
    baselineEstimate: base,
    canaryEstimate: base * (1 + e),
    samples: { baseline: 40 * (i + 1), canary: 4 * (i + 1) },
    kind,
    tolerance,
    ...(unit ? { unit } : {}),
    explanation: `${name} ${e >= 0 ? '+' : ''}${(e * 100).toFixed(0)}% (CI ${((e - width) * 100).toFixed(0)}%..${((e + width) * 100).toFixed(0)}%), tolerance ${tolerance * 100}%: ${verdict === 'fail' ? 'regression' : 'no regression'}`,
  };
}

function looks(step: number, t0: number, n: number, failing: boolean): Look[] {
  return Array.from({ length: n }, (_, i) => {
    const last = i === n - 1;
    const fail = failing && last;
    const metrics = [
      evidence('error_rate', 0.012, failing ? 3.2 : 0.02, i, n, fail ? 'fail' : last ? 'pass' : 'inconclusive'),
      evidence('latency_p50', 48, 0.03, i, n, last ? 'pass' : 'inconclusive', 0.1, 'continuous', 'milliseconds'),
      evidence('checkouts', 0.31, -0.01, i, n, last ? 'pass' : 'inconclusive'),
    ];
    return {
      step,
      time: t0 + (i + 1) * 5000,
      elapsedMs: (i + 1) * 5000,
      decision: fail ? 'fail' : last ? 'pass' : 'continue',
      explanation: fail
        ? 'error_rate +412% (CI +250%..+600%), p=0.0003: regression'
        : last
          ? 'no metric regressed at min bake'
          : 'baking: no decision yet',
      metrics,
    };
  });
}

export function fixtureData(now: number) {
  const min = 60_000;
  const good = {
    id: 'd-0041',
    shas: ['a1b2c3d4e5f6'],
    commits: [commit('a1b2c3d4e5f60718', 'Ada Lovelace', 'Faster product search', now - 50 * min)],
    status: 'live',
    steps: 3,
    step: 2,
    outcome: 'live',
    createdAt: now - 48 * min,
    updatedAt: now - 40 * min,
    finishedAt: now - 40 * min,
  };
  const bad = {
    id: 'd-0042',
    shas: ['badc0ffee1234'],
    commits: [commit('badc0ffee1234567', 'Bob Builder', 'Cache cart totals <script>alert(1)</script>', now - 30 * min)],
    status: 'failed',
    steps: 3,
    step: 1,
    outcome: 'reverted',
    reason: 'error_rate +412% (CI +250%..+600%), p=0.0003: regression at step 2',
    revertSha: 'feedface9876543210',
    createdAt: now - 28 * min,
    updatedAt: now - 20 * min,
    finishedAt: now - 20 * min,
    lastGate: { decision: 'fail', explanation: 'error_rate +412% (CI +250%..+600%), p=0.0003: regression' },
  };
  const inFlight = {
    id: 'd-0043',
    shas: ['c0ffee000111'],
    commits: [commit('c0ffee0001112223', 'Grace Hopper', 'New checkout button colour', now - 6 * min)],
    status: 'baking',
    steps: 3,
    step: 0,
    serversOnNew: 1,
    serversTotal: 8,
    bakeElapsedMs: 15_000,
    lastGate: { decision: 'continue', explanation: 'baking: no decision yet' },
    createdAt: now - 5 * min,
    updatedAt: now - 10_000,
  };
  const deploys = new Map<string, { deploy: Record<string, unknown>; events: unknown[]; gates: Look[]; tests?: unknown }>();
  const testReport = (sha: string, ok: boolean) => ({
    sha,
    ok,
    total: 412,
    passed: 412,
    failed: [],
    flaky: [
      {
        id: 'cart.test.ts > totals',
        file: 'test/cart.test.ts',
        title: 'cart totals round half up',
        state: 'passed',
        durationMs: 820,
        flaky: true,
      },
    ],
    slowest: [
      { id: 'search.test.ts > big', file: 'test/search.test.ts', title: 'search over 10k products', state: 'passed', durationMs: 4100 },
    ],
    durationMs: 38_000,
    shards: [0, 1, 2, 3].map((id) => ({
      id,
      worker: id < 2 ? 'local' : `ssh-${id}`,
      tests: 103,
      durationMs: 30_000 + id * 2500,
      ok: true,
    })),
    summary: '412 passed on 4 shards',
  });
  deploys.set(good.id, {
    deploy: good,
    events: [
      { time: good.createdAt, type: 'queued', status: 'queued', data: { message: 'queued' } },
      { time: good.finishedAt, type: 'live', status: 'live', data: { message: 'live on 8 servers' } },
    ],
    gates: [
      ...looks(0, good.createdAt, 4, false),
      ...looks(1, good.createdAt + min, 4, false),
      ...looks(2, good.createdAt + 2 * min, 3, false),
    ],
    tests: testReport(good.shas[0]!, true),
  });
  deploys.set(bad.id, {
    deploy: bad,
    events: [
      { time: bad.createdAt, type: 'queued', status: 'queued', data: { message: 'queued' } },
      { time: bad.updatedAt - 60_000, type: 'gate_failed', status: 'rolling_back', data: { message: 'gate failed at step 2' } },
      { time: bad.updatedAt, type: 'reverted', status: 'failed', data: { message: 'reverted as feedface' } },
    ],
    gates: [...looks(0, bad.createdAt, 4, false), ...looks(1, bad.createdAt + min, 3, true)],
    tests: testReport(bad.shas[0]!, true),
  });
  deploys.set(inFlight.id, {
    deploy: inFlight,
    events: [{ time: inFlight.createdAt, type: 'queued', status: 'queued' }],
    gates: looks(0, inFlight.createdAt, 3, false).map((l) => ({ ...l, decision: 'continue' })),
  });

  const line = {
    pipeline: 'shop',
    blocked: true,
    blockReason: 'deploy d-0042 regressed error_rate at step 2 and was reverted',
    blockedBy: 'immune',
    blockedAt: now - 20 * min,
    blockedDeploy: bad.id,
    paused: false,
    live: { sha: good.shas[0]!, artifact: { id: 'art-5e1f' }, deploy: good.id },
    inFlight: inFlight as Record<string, unknown> | null,
    queue: [commit('dd00aa11bb22cc33', 'Linus Field', 'Tidy the footer', now - 2 * min)],
  };
  const audit = [{ id: 1, time: now - 20 * min, actor: 'immune', action: 'block', target: 'line:shop', reason: line.blockReason }];
  // Shapes of src/server/experiments.ts: the list's summaries, and computeReadout's Readout.
  const experiments: Record<string, unknown>[] = [
    {
      name: 'checkout-button',
      file: 'experiments/checkout-button.yaml',
      description: 'Does a green checkout button sell more?',
      state: 'running',
      initialRollout: 1,
      branches: [
        { name: 'control', weight: 0.5, control: true },
        { name: 'Enhanced', weight: 0.5, control: false },
      ],
      goals: ['checkout'],
      guardrails: ['errors'],
      phase: 1,
      groupId: 'checkout-button:1',
      startedAt: now - 3 * 86_400_000,
      closing: null,
    },
  ];
  const flags = [{ name: 'new-footer', file: 'experiments/flags.yaml', enabled: true, rollout: 0.25 }];
  const readout = {
    experiment: 'checkout-button',
    phase: 1,
    groupId: 'checkout-button:1',
    alpha: 0.05,
    participants: 4012,
    excluded: 3,
    startedAt: now - 3 * 86_400_000,
    durationMs: 3 * 86_400_000,
    srm: {
      basis: 'participants',
      statistic: 0.4,
      pValue: 0.52,
      mismatch: false,
      counts: [],
      summary: 'SRM: 2,001 / 2,011 participants against 50% / 50%: p=0.5200, OK',
    },
    srmChecks: [
      {
        source: 'participants',
        basis: 'participants',
        statistic: 0.4,
        pValue: 0.52,
        mismatch: false,
        counts: [],
        summary: 'SRM: 2,001 / 2,011 participants against 50% / 50%: p=0.5200, OK',
      },
      {
        source: 'unleash-metrics',
        basis: 'evaluations',
        statistic: 0,
        pValue: null,
        mismatch: false,
        counts: [],
        summary:
          'SRM: 9,120 / 9,340 evaluations against 50% / 50%: not tested (3 SDK posts; 5 from the same instances needed to allow for repeat evaluations)',
      },
    ],
    sources: {
      exposures: { 'immune-sdk': 3000, 'unleash-impressions': 1015 },
      conversions: { 'immune-sdk': 800, openfeature: 40 },
      evaluations: { 'unleash-metrics': { control: 9120, Enhanced: 9340 } },
    },
    history: [0.25, 0.5, 1, 2, 3].map((d, i) => ({
      time: now - 3 * 86_400_000 + d * 86_400_000,
      participants: [500, 1000, 2000, 3000, 4012][i],
      lifts: [
        {
          branch: 'Enhanced',
          metric: 'checkout',
          lift: [0.3, 0.2, 0.15, 0.13, 0.12][i],
          ci: [
            [-0.2, 0.9],
            [-0.05, 0.5],
            [0.0, 0.32],
            [0.03, 0.24],
            [0.04, 0.21],
          ][i],
        },
      ],
    })),
    decision: 'desired result',
    winner: 'Enhanced',
    summary: 'Enhanced lifts checkout by +12% (CI +4%..+21%)',
    branches: [
      {
        name: 'control',
        control: true,
        weight: 500,
        participants: 2001,
        share: 0.4988,
        metrics: [
          {
            name: 'checkout',
            kind: 'goal',
            direction: 'increase',
            controlRate: 0.1999,
            rate: 0.1999,
            converted: 400,
            participants: 2001,
            valuePerUser: 1.1,
            lift: 0,
            ci: [0, 0],
            pValue: 1,
            adjustedP: 1,
            outcome: 'none',
          },
          {
            name: 'errors',
            kind: 'guardrail',
            direction: 'increase',
            controlRate: 0.0005,
            rate: 0.0005,
            converted: 1,
            participants: 2001,
            valuePerUser: 0,
            lift: 0,
            ci: [0, 0],
            pValue: 1,
            adjustedP: 1,
            outcome: 'none',
          },
        ],
      },
      {
        name: 'Enhanced',
        control: false,
        weight: 500,
        participants: 2011,
        share: 0.5012,
        decision: 'desired result',
        metrics: [
          {
            name: 'checkout',
            kind: 'goal',
            direction: 'increase',
            controlRate: 0.2,
            rate: 0.224,
            converted: 450,
            participants: 2011,
            valuePerUser: 1.2,
            lift: 0.12,
            ci: [0.04, 0.21],
            pValue: 0.002,
            adjustedP: 0.004,
            outcome: 'better',
          },
          {
            name: 'errors',
            kind: 'guardrail',
            direction: 'increase',
            controlRate: 0.0005,
            rate: 0.000497,
            converted: 1,
            participants: 2011,
            valuePerUser: 0,
            lift: -0.01,
            ci: [-0.9, 9],
            pValue: 0.8,
            adjustedP: 0.8,
            outcome: 'none',
          },
        ],
      },
    ],
  };
  // Shape of src/server/flags.ts flagView.
  const guarded = [
    {
      name: 'new-checkout',
      file: 'experiments/flags.yaml',
      owner: 'alice@example.com',
      enabled: true,
      status: 'off',
      blocked: true,
      reason: 'regression after 510s: error +133% (5.04% → 11.8%; CI +34%..+307%)',
      step: 0,
      steps: [0.01, 0.1, 0.5, 1],
      served: 0,
      phase: 1,
      stepStartedAt: now - 10 * min,
      looks: 17,
      lastLook: null,
      gate: null,
      history: [],
    },
  ];
  return {
    line,
    deploys,
    audit,
    experiments,
    flags,
    readout,
    guarded,
    dora: { days: 7, deploys: 2, deployFrequencyPerDay: 2 / 7, leadTimeMs: 19 * min, changeFailureRate: 0.5, timeToRestoreMs: 42_000 },
  };
}

export interface FixtureServer {
  url: string;
  app: FastifyInstance;
  data: ReturnType<typeof fixtureData>;
  /** Send one event to every open /api/stream. */
  push(event: Record<string, unknown>): void;
  /** Open /api/stream connections. */
  streams(): number;
  close(): Promise<void>;
}

export async function startFixtureServer(opts: { openRead?: boolean; now?: number } = {}): Promise<FixtureServer> {
  const now = opts.now ?? Date.now();
  const data = fixtureData(now);
  const auth = createAuth({ tokens: TOKENS, openRead: opts.openRead ?? true });
  const app = Fastify({ logger: false });
  const ctx = { auth, publicUrl: '' } as unknown as ServerContext;
  const clients = new Set<import('node:http').ServerResponse>();
  const push = (e: Record<string, unknown>) => {
    const line = `data: ${JSON.stringify({ ...e, time: Date.now() })}\n\n`;
    for (const c of clients) c.write(line);
  };
  const read = auth.require('viewer');

  app.get('/api/line', { preHandler: read }, async () => data.line);
  app.get('/api/deploys', { preHandler: read }, async () => ({
    deploys: [...data.deploys.values()].map((d) => d.deploy).sort((a, b) => (b.createdAt as number) - (a.createdAt as number)),
  }));
  app.get<{ Params: { id: string } }>('/api/deploys/:id', { preHandler: read }, async (req, reply) => {
    const d = data.deploys.get(req.params.id);
    if (!d) return reply.code(404).send({ error: { code: 'IMMUNE_NOT_FOUND', message: `no deploy ${req.params.id}`, details: {} } });
    // The summary table as the real API builds it from the same looks.
    return { ...d, summary: evidenceTable(d.gates, { steps: d.deploy.steps as number }) };
  });
  app.get('/api/audit', { preHandler: read }, async () => ({ entries: data.audit.slice().reverse() }));
  app.get('/api/notifications', { preHandler: read }, async () => ({
    targets: [
      {
        target: 'slack',
        type: 'slack',
        pending: 0,
        delivered: 12,
        dead: 3,
        lastError: '503 Service Unavailable',
        lastErrorAt: now - 120_000,
        summary: 'slack: 3 failed, last 503 Service Unavailable',
      },
      { target: 'pager', type: 'pager', pending: 0, delivered: 2, dead: 0, summary: 'pager: ok' },
    ],
    dead: [
      {
        id: 'd-1:blocked:0>slack',
        target: 'slack',
        notification: { kind: 'blocked', title: 'Line blocked' },
        state: 'dead',
        attempts: 6,
        createdAt: now - 600_000,
        lastError: '503 Service Unavailable',
      },
    ],
  }));
  app.get<{ Querystring: { days?: string } }>('/api/dora', { preHandler: read }, async (req) => ({
    ...data.dora,
    days: Number(req.query.days ?? 7),
  }));
  app.get('/api/experiments', { preHandler: read }, async () => ({
    experiments: data.experiments,
    flags: data.flags,
    errors: [] as string[],
    clients: [],
    usage: {},
  }));
  app.get('/api/experiments/:name/results', { preHandler: read }, async () => data.readout);
  app.get('/api/flags', { preHandler: read }, async () => ({ flags: data.guarded }));
  // What each server keeps (the line view's releases card); the fixture's fleet keeps none.
  app.get('/api/fleet/releases', { preHandler: read }, async () => ({ servers: [] }));
  app.get('/api/stream', { preHandler: read }, (_req, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    reply.raw.write(': connected\n\n');
    clients.add(reply.raw);
    reply.raw.on('close', () => clients.delete(reply.raw));
  });

  const record = (actor: string, action: string, target: string, reason: string) => {
    data.audit.push({ id: data.audit.length + 1, time: Date.now(), actor, action, target, reason });
    push({ type: 'audit', actor, action, target, reason });
  };
  for (const action of ['pause', 'resume', 'abort', 'promote', 'block', 'unblock'] as const) {
    app.post<{ Body: { reason?: string } }>(`/api/line/${action}`, { preHandler: auth.require('captain') }, async (req, reply) => {
      const reason = req.body?.reason;
      if (typeof reason !== 'string' || !reason.trim())
        return reply.code(400).send({ error: { code: 'IMMUNE_INPUT_INVALID', message: 'reason: required', details: { field: 'reason' } } });
      const l = data.line;
      if (action === 'unblock')
        Object.assign(l, { blocked: false, blockReason: undefined, blockedBy: undefined, blockedAt: undefined, blockedDeploy: undefined });
      if (action === 'block') Object.assign(l, { blocked: true, blockReason: reason, blockedBy: auth.actor(req), blockedAt: Date.now() });
      if (action === 'pause') l.paused = true;
      if (action === 'resume') l.paused = false;
      if (action === 'abort') l.inFlight = null;
      record(auth.actor(req), action, 'line:shop', reason);
      push({ type: 'line', pipeline: 'shop', blocked: l.blocked, paused: l.paused, reason });
      return { ok: true };
    });
  }
  app.post<{ Params: { name: string }; Body: { branch?: string; reason?: string } }>(
    '/api/experiments/:name/close',
    { preHandler: auth.require('engineer') },
    async (req) => {
      const e = data.experiments.find((x) => x.name === req.params.name)!;
      Object.assign(e, {
        state: 'closed',
        closing: { experiment: e.name, branch: req.body.branch, reason: req.body.reason, actor: auth.actor(req), time: Date.now() },
      });
      record(auth.actor(req), 'experiment.close', String(e.name), req.body.reason ?? '');
      return e;
    },
  );

  await registerDashboard(app, ctx);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    app,
    data,
    push,
    streams: () => clients.size,
    async close() {
      for (const c of clients) c.end();
      await app.close();
    },
  };
}
