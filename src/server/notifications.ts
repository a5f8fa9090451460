// GET /api/notifications: each target's queue (pending, delivered, dead) and the dead letters;
// POST /api/notifications/{id}/retry puts a dead letter back in its queue (captain).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { NotFoundError } from '../core/errors.js';
import type { ServerContext } from './context.js';
import { validate } from './errors.js';

const query = z
  .object({
    limit: z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(1).max(1000)).optional(),
  })
  .strict();
const params = z.object({ id: z.string().min(1).max(2000) }).strict();

export async function registerNotifications(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.get('/api/notifications', { preHandler: ctx.auth.require('viewer') }, async (req: FastifyRequest) => {
    const { limit } = validate(query, req.query, 'query');
    if (!ctx.notifications) return { targets: [], dead: [] };
    return ctx.notifications.status({ limit });
  });
  app.post('/api/notifications/:id/retry', { preHandler: ctx.auth.require('captain') }, async (req: FastifyRequest) => {
    const { id } = validate(params, req.params, 'params');
    if (!(await ctx.notifications?.retry(id))) throw new NotFoundError(`no dead notification ${id}`);
    await ctx.store.audit.append({
      time: Date.now(),
      actor: ctx.auth.actor(req),
      action: 'notification_retry',
      target: id,
      reason: 'retry a dead notification',
    });
    return { ok: true };
  });
}
