// The REST API of the line: status, deploys with their evidence, the captains' controls, the
// audit log and DORA figures. Reads need role viewer (open on loopback by default), controls captain.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ConflictError, ImmuneError, NotFoundError } from '../core/errors.js';
import type { DeployEventRecord, DeployRecord } from '../ports.js';
import { deployEvidence, dora, FAILED_IN_PRODUCTION, summarizeDeploy } from '../engine/summary.js';
import type { LineControl, ServerContext } from './context.js';
import { validate } from './errors.js';

const limit = (def: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1').max(1000, 'must be at most 1000'))
    .optional()
    .transform((v) => v ?? def);

const deploysQuery = z
  .object({
    limit: limit(50),
    /** Paging: deploys created before this time (ms since the epoch), e.g. the last one's createdAt. */
    before: z.string().regex(/^\d+$/, 'must be a time in ms since the epoch').transform(Number).optional(),
  })
  .strict();
const auditQuery = z.object({ limit: limit(100), target: z.string().min(1).optional() }).strict();
const doraQuery = z
  .object({
    days: z
      .string()
      .regex(/^\d+(\.\d+)?$/, 'must be a number of days')
      .transform(Number)
      .pipe(z.number().gt(0, 'must be more than 0').max(3650, 'must be at most 3650'))
      .optional()
      .transform((v) => v ?? 30),
  })
  .strict();
const reasonBody = z
  .object({
    reason: z
      .string({ message: 'required: say why (it goes in the audit log)' })
      .trim()
      .min(1, 'must not be empty: say why')
      .max(1000, 'at most 1000 characters'),
  })
  .strict();
const deployBody = z
  .object({
    sha: z.string({ message: 'required' }).regex(/^[0-9a-f]{4,40}$/i, 'must be a commit sha (4 to 40 hex digits)'),
    /** Deploy a commit that is not ahead of the live one (takes production back): captains only. */
    force: z.boolean().optional(),
  })
  .strict();
const adoptBody = z
  .object({
    /** The commit the fleet runs; absent with fresh: true to deploy the tip as a first deploy. */
    sha: z
      .string()
      .regex(/^[0-9a-f]{4,40}$/i, 'must be a commit sha (4 to 40 hex digits)')
      .optional(),
    fresh: z.boolean().optional(),
    reason: z.string({ message: 'required' }).min(1, 'required'),
  })
  .strict()
  .refine((b) => (b.sha === undefined) === (b.fresh === true), {
    message: 'give the sha the fleet runs, or fresh: true (not both)',
    path: ['sha'],
  });
const idParams = z.object({ id: z.string().min(1).max(200) }).strict();
const reasonField = z
  .string({ message: 'required: say why (it goes in the audit log)' })
  .trim()
  .min(1, 'must not be empty: say why')
  .max(1000, 'at most 1000 characters');
const dropBody = z
  .object({
    sha: z.string({ message: 'required' }).regex(/^[0-9a-f]{4,40}$/i, 'must be a commit sha (4 to 40 hex digits)'),
    reason: reasonField,
  })
  .strict();
const rollbackBody = z
  .object({
    to: z
      .string({ message: 'required: a release id or a commit sha' })
      .regex(/^[0-9a-z][0-9a-z._-]{3,99}$/i, 'must be a release id or a commit sha'),
    reason: reasonField,
  })
  .strict();

const DAY = 86_400_000;

export const CONTROLS = ['pause', 'resume', 'abort', 'promote', 'block', 'unblock', 'override'] as const;
export type ControlAction = (typeof CONTROLS)[number];

export async function registerApi(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const viewer = ctx.auth.require('viewer');

  const line = (): LineControl => {
    if (!ctx.line)
      throw new ImmuneError('IMMUNE_UNAVAILABLE', 'this server runs without a pipeline: start it with immune serve --pipeline FILE');
    return ctx.line;
  };
  const pipeline = (): string => {
    if (!ctx.pipelineName)
      throw new ImmuneError('IMMUNE_UNAVAILABLE', 'this server runs without a pipeline: start it with immune serve --pipeline FILE');
    return ctx.pipelineName;
  };

  app.get('/api/line', { preHandler: viewer }, async () => line().status());

  app.get('/api/deploys', { preHandler: viewer }, async (req) => {
    const q = validate(deploysQuery, req.query, 'query');
    const now = Date.now();
    const deploys = await ctx.store.line.listDeploys(pipeline(), { limit: q.limit, before: q.before });
    return { deploys: deploys.map((d) => summarizeDeploy(d, { now })) };
  });

  app.get('/api/deploys/:id', { preHandler: viewer }, async (req) => {
    const { id } = validate(idParams, req.params, 'params');
    const d = await ctx.store.line.getDeploy(id);
    if (!d || (ctx.pipelineName !== undefined && d.pipeline !== ctx.pipelineName)) throw new NotFoundError(`no deploy ${id}`);
    const [events, looks] = await Promise.all([ctx.store.line.events(id), ctx.store.line.gateLooks(id)]);
    return {
      deploy: summarizeDeploy(d, { now: Date.now() }),
      events: events.map(({ deployId: _d, ...e }) => e),
      // Step -2 is the engine's copy of the fleet before the rollout, not a look.
      gates: looks.filter((g) => g.step >= -1).map(({ deployId: _d, ...g }) => g),
      summary: deployEvidence(
        d,
        looks.filter((g) => g.step >= -1),
      ),
      ...(d.testReport ? { tests: d.testReport } : {}),
    };
  });

  const forcer = ctx.auth.require('captain');
  app.post('/api/deploys', { preHandler: ctx.auth.require('engineer') }, async (req, reply) => {
    const { sha, force } = validate(deployBody, req.body ?? {}, 'body');
    // Taking production back (force) is a captain's call.
    if (force) {
      await forcer(req, reply);
      if (reply.sent) return reply;
    }
    return { ok: true, ...(await line().deploy(sha.toLowerCase(), ctx.auth.actor(req), { force })) };
  });

  app.post('/api/line/adopt', { preHandler: ctx.auth.require('captain') }, async (req) => {
    const { sha, reason } = validate(adoptBody, req.body ?? {}, 'body');
    const control = line();
    if (!control.adopt) throw new ConflictError('this line cannot adopt');
    return { ok: true, ...(await control.adopt(sha?.toLowerCase(), reason, ctx.auth.actor(req))) };
  });

  for (const action of CONTROLS) {
    app.post(`/api/line/${action}`, { preHandler: ctx.auth.require('captain') }, async (req: FastifyRequest) => {
      const { reason } = validate(reasonBody, req.body ?? {}, 'body');
      const control = line();
      await control[action](reason, ctx.auth.actor(req));
      return { ok: true };
    });
  }

  const captain = ctx.auth.require('captain');
  app.post('/api/line/drop', { preHandler: captain }, async (req) => {
    const { sha, reason } = validate(dropBody, req.body ?? {}, 'body');
    return { ok: true, ...(await line().drop(sha.toLowerCase(), reason, ctx.auth.actor(req))) };
  });
  app.post('/api/line/rollback', { preHandler: captain }, async (req) => {
    const { to, reason } = validate(rollbackBody, req.body ?? {}, 'body');
    return { ok: true, ...(await line().rollbackTo(to, reason, ctx.auth.actor(req))) };
  });
  app.post('/api/deploys/:id/retry', { preHandler: captain }, async (req) => {
    const { id } = validate(idParams, req.params, 'params');
    const { reason } = validate(reasonBody, req.body ?? {}, 'body');
    return { ok: true, ...(await line().retry(id, reason, ctx.auth.actor(req))) };
  });
  app.get('/api/fleet/releases', { preHandler: viewer }, async () => line().releases());

  app.get('/api/audit', { preHandler: viewer }, async (req) => {
    const q = validate(auditQuery, req.query, 'query');
    return { entries: await ctx.store.audit.list({ limit: q.limit, target: q.target }) };
  });

  app.get('/api/dora', { preHandler: viewer }, async (req) => {
    const { days } = validate(doraQuery, req.query, 'query');
    const now = Date.now();
    const from = now - days * DAY;
    // Newest first, page by page, until deploys started well before the period (a deploy may run long).
    const deploys: DeployRecord[] = [];
    for (let before: number | undefined; ;) {
      const page = await ctx.store.line.listDeploys(pipeline(), { limit: 500, before });
      deploys.push(...page);
      const last = page[page.length - 1];
      if (page.length < 500 || !last || last.createdAt < from - DAY) break;
      before = last.createdAt;
    }
    const failed = deploys.filter((d) => d.finishedAt !== undefined && d.finishedAt > from && FAILED_IN_PRODUCTION.has(d.outcome ?? ''));
    const events = new Map<string, DeployEventRecord[]>();
    for (const d of failed) events.set(d.id, await ctx.store.line.events(d.id));
    return dora(deploys, days, now, events);
  });
}
