// GET /api/stream: the engine's events as server-sent events, one JSON object per `data:` line,
// with a heartbeat comment every 15 s so proxies keep the connection open.
import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { ServerContext } from './context.js';

export const HEARTBEAT_MS = 15_000;

export async function registerSse(app: FastifyInstance, ctx: ServerContext, opts: { heartbeatMs?: number } = {}): Promise<void> {
  const open = new Set<ServerResponse>();
  const heartbeatMs = opts.heartbeatMs ?? HEARTBEAT_MS;

  app.get('/api/stream', { preHandler: ctx.auth.require('viewer') }, async (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // Tell the browser how soon to reconnect, and flush the headers now.
    res.write('retry: 3000\n: connected\n\n');
    open.add(res);
    const unsubscribe = ctx.events.on((e) => {
      if (!res.writableEnded) res.write(`data: ${JSON.stringify(e)}\n\n`);
    });
    const beat = setInterval(() => {
      if (!res.writableEnded) res.write(': heartbeat\n\n');
    }, heartbeatMs);
    beat.unref();
    const done = () => {
      clearInterval(beat);
      unsubscribe();
      open.delete(res);
    };
    req.raw.on('close', done);
    res.on('close', done);
  });

  // Streams never end on their own: end them before the server closes, or close() waits forever.
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
    open.clear();
  });
}
