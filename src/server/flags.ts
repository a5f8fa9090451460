// Guarded flag rollouts over HTTP: where each stands (step, share served, the gate's last look and
// its evidence, the steps done), and a person's unblock of a flag turned off or held.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { servedShare } from '../core/experiments/guarded.js';
import { ImmuneError, NotFoundError } from '../core/errors.js';
import type { GuardedFlag } from '../engine/experiments.js';
import type { ServerContext } from './context.js';
import { validate } from './errors.js';

const unblockBody = z.object({ reason: z.string().trim().min(1, 'say why (it goes in the audit log)').max(2000) }).strict();

/** What a person reads about one guarded flag. */
export function flagView(gf: GuardedFlag): Record<string, unknown> {
  const g = gf.config.guarded;
  const r = gf.rollout;
  return {
    name: gf.config.name,
    file: gf.file,
    owner: gf.config.owner ?? null,
    enabled: gf.config.enabled,
    status: r.status,
    blocked: r.status === 'off' || r.status === 'held',
    reason: r.reason ?? null,
    step: r.step,
    steps: g.steps,
    served: gf.config.enabled ? servedShare(r, g) : 0,
    phase: r.phase,
    stepStartedAt: r.stepStartedAt,
    looks: r.looks.length,
    lastLook: r.looks[r.looks.length - 1] ?? null,
    gate: r.last ?? null,
    history: r.history,
    guard: {
      interval: g.interval,
      minBake: g.min_bake,
      maxBake: g.max_bake,
      onInconclusive: g.on_inconclusive,
      alpha: g.alpha,
      tolerance: g.tolerance,
      goals: g.goals,
      guardrails: g.guardrails,
    },
  };
}

export function registerFlags(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/api/flags', { preHandler: ctx.auth.require('viewer') }, async (_req, reply) => {
    const snap = await ctx.experiments.current();
    return reply.send({ flags: [...snap.guarded.values()].map(flagView) });
  });

  app.get<{ Params: { name: string } }>('/api/flags/:name', { preHandler: ctx.auth.require('viewer') }, async (req, reply) => {
    const gf = (await ctx.experiments.current()).guarded.get(req.params.name);
    if (!gf) throw new NotFoundError(`no guarded flag "${req.params.name}"`);
    return reply.send(flagView(gf));
  });

  app.post<{ Params: { name: string } }>('/api/flags/:name/unblock', { preHandler: ctx.auth.require('engineer') }, async (req, reply) => {
    const body = validate(unblockBody, req.body ?? {}, 'body');
    if (!ctx.flags) throw new ImmuneError('IMMUNE_UNAVAILABLE', 'this server does not drive guarded rollouts');
    await ctx.flags.unblock(req.params.name, ctx.auth.actor(req), body.reason);
    const gf = (await ctx.experiments.current()).guarded.get(req.params.name)!;
    return reply.send(flagView(gf));
  });
}
