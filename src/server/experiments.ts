// Experiments in `immune serve`: the registry that keeps experiments/*.yaml, the stored phases and
// closings and the served Unleash features document in step, and the REST routes: event
// ingestion from the SDK, the list, a readout, and closing with a decision.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseExperimentFile, type ExperimentConfig, type FlagConfig, type SegmentConfig } from '../core/config/experiment.js';
import { experimentFeature, experimentFingerprint, featuresDocument, flagFeature, nextPhase, type UnleashFeature } from '../core/experiments/features.js';
import { computeReadout } from '../core/experiments/readout.js';
import type { ConversionEvent, ExperimentClosing, ExperimentPhase, ExposureEvent } from '../core/experiments/types.js';
import { ConfigError, ImmuneError, InputError, NotFoundError } from '../errors.js';
import type { ServerContext } from './context.js';
import { validate } from './errors.js';

/** How often the experiments directory is checked for changed files. */
export const RELOAD_INTERVAL_MS = 1000;

export interface LoadedExperiment {
  config: ExperimentConfig;
  file: string;
  phase: ExperimentPhase;
  phases: ExperimentPhase[];
  closing?: ExperimentClosing;
}

interface Snapshot {
  experiments: Map<string, LoadedExperiment>;
  flags: { config: FlagConfig; file: string }[];
  /** groupId -> [experiment, phase] for every phase of every loaded experiment. */
  groups: Map<string, { experiment: string; phase: number }>;
  body: string;
  etag: string;
  errors: string[];
}

/** A strong ETag for a response body. */
export function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** One per ServerContext: both route files share it, so a closing changes the served ETag at once. */
export class ExperimentRegistry {
  private snap: Snapshot | undefined;
  private signature = '';
  private lastGood = new Map<string, ReturnType<typeof parseExperimentFile>>();
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private users = 0;
  /** SDK instances that registered, by appName and instanceId (POST /api/client/register). */
  readonly clients = new Map<string, { appName: string; instanceId: string; sdkVersion?: string; lastSeen: number }>();
  /** Evaluations reported by SDKs per feature (POST /api/client/metrics), since the server started. */
  readonly usage = new Map<string, { yes: number; no: number; variants: Record<string, number> }>();

  constructor(private readonly ctx: ServerContext) {}

  /** The current snapshot, loading it first if needed. */
  async current(): Promise<Snapshot> {
    if (!this.snap) await this.refresh();
    return this.snap!;
  }

  /** Synchronous view for the hot path; undefined before the first load. */
  get loaded(): Snapshot | undefined {
    return this.snap;
  }

  /** Re-read the directory if any file changed (or always, with force), then rebuild. Serialised. */
  refresh(force = false): Promise<void> {
    const run = this.chain.then(() => this.load(force));
    this.chain = run.catch((err: unknown) => this.ctx.log.error({ err }, 'experiments: reload failed'));
    return run;
  }

  start(): void {
    if (this.users++ > 0) return;
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), RELOAD_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (--this.users > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async load(force: boolean): Promise<void> {
    const dir = this.ctx.experimentsDir;
    let names: string[] = [];
    try {
      names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const stats = await Promise.all(names.map(async (n) => stat(join(dir, n)).catch(() => undefined)));
    const signature = names.map((n, i) => `${n}:${stats[i]?.mtimeMs}:${stats[i]?.size}`).join('|');
    if (!force && this.snap && signature === this.signature) return;
    this.signature = signature;

    const errors: string[] = [];
    const files: ReturnType<typeof parseExperimentFile>[] = [];
    for (const n of names) {
      const file = join(dir, n);
      try {
        const parsed = parseExperimentFile(await readFile(file, 'utf8'), file);
        this.lastGood.set(file, parsed);
        files.push(parsed);
      } catch (err) {
        const message = err instanceof ConfigError ? err.message : `${file}: ${(err as Error).message}`;
        errors.push(message);
        const kept = this.lastGood.get(file);
        if (kept) files.push(kept);
        if (!this.snap?.errors.includes(message)) this.ctx.log.warn({ file }, `experiments: ${message}${kept ? ' (still serving the last good version)' : ''}`);
      }
    }
    for (const f of [...this.lastGood.keys()]) if (!names.some((n) => join(dir, n) === f)) this.lastGood.delete(f);

    const experiments = new Map<string, LoadedExperiment>();
    const flags: Snapshot['flags'] = [];
    const segments: SegmentConfig[] = [];
    const taken = new Map<string, string>();
    const claim = (name: string, file: string): boolean => {
      const other = taken.get(name);
      if (other) {
        errors.push(`${file}: "${name}" is already defined in ${other}; ignored here`);
        return false;
      }
      taken.set(name, file);
      return true;
    };
    for (const f of files) {
      if (f.kind === 'flags') {
        for (const flag of f.flags.flags) if (claim(flag.name, f.file)) flags.push({ config: flag, file: f.file });
        segments.push(...f.flags.segments);
        continue;
      }
      const e = f.experiment;
      if (!claim(e.name, f.file)) continue;
      experiments.set(e.name, await this.sync(e, f.file));
    }
    this.snap = this.build(experiments, flags, segments, errors);
  }

  /** Bring the stored phases in line with the file: a first phase, or a new one when weights changed. */
  private async sync(e: ExperimentConfig, file: string): Promise<LoadedExperiment> {
    const store = this.ctx.store.experiments;
    let phases = await store.phases(e.name);
    const closing = await store.closing(e.name);
    const current = phases[phases.length - 1];
    const next = nextPhase(e, current, closing !== undefined, Date.now());
    if (next) {
      await store.startPhase(next);
      phases = [...phases, next];
      const reason = current ? `branches or weights changed (${current.fingerprint} -> ${next.fingerprint}): users are re-randomised` : 'first phase';
      await this.ctx.store.audit.append({ time: next.startedAt, actor: 'immune', action: 'experiment.phase', target: e.name, reason, details: { phase: next.phase, groupId: next.groupId, file } });
      this.ctx.events.emit({ type: 'experiment', name: e.name, action: current ? 'phase' : 'start' });
      this.ctx.log.info({ experiment: e.name, phase: next.phase, groupId: next.groupId }, `experiment ${e.name}: phase ${next.phase} (${reason})`);
    } else if (current && closing && current.fingerprint !== experimentFingerprint(e)) {
      this.ctx.log.warn({ experiment: e.name }, `experiment ${e.name} is closed: its changed weights are ignored`);
    }
    return { config: e, file, phase: phases[phases.length - 1]!, phases, ...(closing ? { closing } : {}) };
  }

  private build(experiments: Map<string, LoadedExperiment>, flags: Snapshot['flags'], segments: SegmentConfig[], errors: string[]): Snapshot {
    const features: UnleashFeature[] = [...[...experiments.values()].map((x) => experimentFeature(x.config, x.phase, x.closing)), ...flags.map((f) => flagFeature(f.config))];
    const body = JSON.stringify(featuresDocument(features, segments));
    const etag = etagOf(body);
    const groups = new Map<string, { experiment: string; phase: number }>();
    for (const x of experiments.values()) for (const p of x.phases) groups.set(p.groupId, { experiment: x.config.name, phase: p.phase });
    return { experiments, flags, groups, body, etag, errors };
  }

  /** Record a closing in the snapshot and re-serve at once (the ETag changes). */
  applyClosing(c: ExperimentClosing): void {
    const snap = this.snap;
    const x = snap?.experiments.get(c.experiment);
    if (!snap || !x) return;
    const experiments = new Map(snap.experiments).set(c.experiment, { ...x, closing: c });
    const segments = [...this.lastGood.values()].flatMap((f) => (f.kind === 'flags' ? f.flags.segments : []));
    this.snap = this.build(experiments, snap.flags, segments, snap.errors);
  }
}

const registries = new WeakMap<ServerContext, ExperimentRegistry>();

/** The registry of a server context (created on first use), started with the app and stopped on close. */
export function experimentRegistry(ctx: ServerContext, app?: FastifyInstance): ExperimentRegistry {
  let r = registries.get(ctx);
  if (!r) {
    r = new ExperimentRegistry(ctx);
    registries.set(ctx, r);
  }
  if (app) {
    const reg = r;
    app.addHook('onReady', async () => {
      reg.start();
      // A broken directory must not stop the server: requests retry the load and answer the error.
      await reg.refresh().catch((err: unknown) => ctx.log.error({ err }, `experiments: cannot load ${ctx.experimentsDir}`));
    });
    app.addHook('onClose', async () => reg.stop());
  }
  return r;
}

/**
 * Checks the Unleash client token (raw, as SDKs send it, or as Bearer); throws 401 without. Every
 * configured token is compared with timingSafeEqual, so timing tells nothing but the token length.
 */
export function clientTokenCheck(ctx: ServerContext): (req: FastifyRequest) => void {
  const known = ctx.clientTokens.map((t) => Buffer.from(t, 'utf8'));
  return (req) => {
    const raw = req.headers.authorization ?? '';
    const token = Buffer.from(raw.startsWith('Bearer ') ? raw.slice(7) : raw, 'utf8');
    let found = false;
    for (const k of known) if (k.length === token.length && timingSafeEqual(k, token)) found = true;
    if (found && token.length > 0) return;
    throw unauthorized(req.url, token.length > 0);
  };
}

function unauthorized(url: string, hadToken: boolean): ImmuneError {
  const path = url.split('?')[0];
  return new ImmuneError('IMMUNE_UNAUTHORIZED', hadToken ? `${path}: unknown client token` : `${path}: a client token is required in the Authorization header`, { status: 401 });
}

/** The token check as a route preHandler. */
export function clientTokenHook(ctx: ServerContext): (req: FastifyRequest) => Promise<void> {
  const check = clientTokenCheck(ctx);
  return async (req) => check(req);
}

// ---- routes ------------------------------------------------------------------------------------

const id = z.string().min(1).max(200);
const eventTime = z.number().int().positive().optional();
const exposureBody = z
  .object({ type: z.literal('exposure'), experiment: id, groupId: z.string().min(1).max(300), branch: id, userId: z.string().min(1).max(500), time: eventTime, id: z.string().max(100).optional() })
  .strict();
const conversionBody = z
  .object({ type: z.literal('conversion'), userId: z.string().min(1).max(500), goal: id, value: z.number().finite().optional(), time: eventTime, id: z.string().min(1).max(100).optional() })
  .strict();
/** At most this many events per POST /api/events (the SDK sends up to 500). */
export const MAX_EVENTS_PER_POST = 10_000;
const eventsBody = z.object({ events: z.array(z.discriminatedUnion('type', [exposureBody, conversionBody])).max(MAX_EVENTS_PER_POST) }).strict();
const closeBody = z.object({ branch: id, reason: z.string().trim().min(1, 'say why').max(2000) }).strict();

function summary(x: LoadedExperiment): Record<string, unknown> {
  return {
    name: x.config.name,
    file: x.file,
    description: x.config.description ?? null,
    state: x.closing ? 'closed' : x.config.initial_rollout > 0 ? 'running' : 'off',
    initialRollout: x.config.initial_rollout,
    branches: x.phase.weights.map((w) => ({ name: w.name, weight: w.weight / 1000, control: w.name === x.config.control })),
    goals: x.config.goals.map((g) => g.name),
    guardrails: x.config.guardrails.map((g) => g.name),
    phase: x.phase.phase,
    groupId: x.phase.groupId,
    startedAt: x.phase.startedAt,
    closing: x.closing ?? null,
  };
}

export function registerExperiments(app: FastifyInstance, ctx: ServerContext): void {
  const registry = experimentRegistry(ctx, app);
  routes(app, ctx, registry, clientTokenHook(ctx));
}

function routes(app: FastifyInstance, ctx: ServerContext, registry: ExperimentRegistry, clientAuth: ReturnType<typeof clientTokenHook>): void {
  app.post('/api/events', { preHandler: clientAuth, bodyLimit: 8 * 1024 * 1024 }, async (req, reply) => {
    const { events } = validate(eventsBody, req.body ?? {}, 'body');
    const snap = await registry.current();
    const now = Date.now();
    const exposures: ExposureEvent[] = [];
    const conversions: ConversionEvent[] = [];
    const ignored: { index: number; reason: string }[] = [];
    events.forEach((e, index) => {
      // Client clocks ahead of ours are pulled back to now.
      const time = Math.min(e.time ?? now, now);
      if (e.type === 'conversion') {
        conversions.push({ ...(e.id ? { id: e.id } : {}), userId: e.userId, goal: e.goal, ...(e.value === undefined ? {} : { value: e.value }), time });
        return;
      }
      const x = snap.experiments.get(e.experiment);
      const g = snap.groups.get(e.groupId);
      if (!x) ignored.push({ index, reason: `unknown experiment "${e.experiment}"` });
      else if (!g || g.experiment !== e.experiment) ignored.push({ index, reason: `unknown groupId "${e.groupId}"` });
      else if (x.closing) ignored.push({ index, reason: 'experiment closed' });
      else if (!(x.phases.find((p) => p.phase === g.phase)?.weights ?? []).some((w) => w.name === e.branch)) ignored.push({ index, reason: `no branch "${e.branch}"` });
      else exposures.push({ experiment: e.experiment, phase: g.phase, branch: e.branch, userId: e.userId, time });
    });
    const newExposures = await ctx.store.experiments.recordExposures(exposures);
    const newConversions = await ctx.store.experiments.recordConversions(conversions);
    return reply.code(202).send({
      exposures: newExposures,
      conversions: newConversions,
      duplicates: exposures.length - newExposures + conversions.length - newConversions,
      ignored,
    });
  });

  app.get('/api/experiments', { preHandler: ctx.auth.require('viewer') }, async (_req, reply) => {
    const snap = await registry.current();
    return reply.send({
      experiments: [...snap.experiments.values()].map(summary),
      flags: snap.flags.map((f) => ({ name: f.config.name, file: f.file, enabled: f.config.enabled, rollout: f.config.rollout ?? null })),
      errors: snap.errors,
      clients: [...registry.clients.values()],
      usage: Object.fromEntries(registry.usage),
    });
  });

  app.get<{ Params: { name: string }; Querystring: { phase?: string } }>('/api/experiments/:name/results', { preHandler: ctx.auth.require('viewer') }, async (req, reply) => {
    const x = (await registry.current()).experiments.get(req.params.name);
    if (!x) throw new NotFoundError(`no experiment "${req.params.name}"`);
    let phase = x.phase;
    if (req.query.phase !== undefined) {
      const n = Number(req.query.phase);
      const p = x.phases.find((q) => q.phase === n);
      if (!p) throw new InputError('phase', `no phase ${req.query.phase} (phases 1..${x.phases.length})`);
      phase = p;
    }
    const goals = [...x.config.goals, ...x.config.guardrails].map((g) => g.name);
    const tally = await ctx.store.experiments.tally(x.config.name, phase.phase, goals);
    return reply.send({ ...computeReadout(x.config, phase, tally), state: summary(x).state, closing: x.closing ?? null, phases: x.phases.length });
  });

  app.post<{ Params: { name: string } }>('/api/experiments/:name/close', { preHandler: ctx.auth.require('engineer') }, async (req, reply) => {
    const body = validate(closeBody, req.body ?? {}, 'body');
    const x = (await registry.current()).experiments.get(req.params.name);
    if (!x) throw new NotFoundError(`no experiment "${req.params.name}"`);
    const names = x.phase.weights.map((w) => w.name);
    if (!names.includes(body.branch)) throw new InputError('branch', `"${body.branch}" is not a branch of ${x.config.name} (${names.join(', ')})`);
    const closing: ExperimentClosing = { experiment: x.config.name, branch: body.branch, reason: body.reason, actor: ctx.auth.actor(req), time: Date.now() };
    await ctx.store.experiments.close(closing);
    registry.applyClosing(closing);
    await ctx.store.audit.append({ time: closing.time, actor: closing.actor, action: 'experiment.close', target: x.config.name, reason: body.reason, details: { branch: body.branch, phase: x.phase.phase } });
    ctx.events.emit({ type: 'experiment', name: x.config.name, action: 'close' });
    ctx.log.info({ experiment: x.config.name, branch: body.branch, actor: closing.actor }, `experiment ${x.config.name} closed: everyone gets ${body.branch}`);
    return reply.send(summary({ ...x, closing }));
  });
}
