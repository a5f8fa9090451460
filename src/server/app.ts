// Assembles `immune serve`'s HTTP server: JSON errors first, then the line's REST API, SSE and
// /metrics, the flag protocols (Unleash client, delta and frontend APIs, OFREP) and experiments, webhooks, and the dashboard last.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { registerApi } from './api.js';
import type { ServerContext } from './context.js';
import { registerDashboard } from './dashboard.js';
import { registerErrorHandler } from './errors.js';
import { registerExperiments } from './experiments.js';
import { registerFlags } from './flags.js';
import { registerMetrics } from './metrics.js';
import { registerNotifications } from './notifications.js';
import { registerSse } from './sse.js';
import { registerFrontend } from './frontend.js';
import { registerOfrep } from './ofrep.js';
import { registerUnleash } from './unleash.js';
import { registerUnleashDelta } from './unleash-delta.js';
import { registerWebhooks, type WebhookOptions } from './webhooks.js';

export interface BuildServerOptions {
  /** Logger for requests and errors; default: the context's logger. `false` logs nothing. */
  logger?: FastifyBaseLogger | false;
  /** Log one line per request (default false: the engine's events are the interesting log). */
  requestLogging?: boolean;
  /** SSE heartbeat period (tests shorten it). */
  heartbeatMs?: number;
  /** GitHub push webhooks: secret and branch (see webhookOptionsFrom); default from the environment. */
  webhooks?: WebhookOptions;
}

export async function buildServer(ctx: ServerContext, opts: BuildServerOptions = {}): Promise<FastifyInstance> {
  const logger = opts.logger === undefined ? (ctx.log as FastifyBaseLogger) : opts.logger;
  const app: FastifyInstance = logger
    ? (Fastify({
        loggerInstance: logger,
        logController: new LogController({ disableRequestLogging: !opts.requestLogging }),
      }) as unknown as FastifyInstance)
    : Fastify({ logger: false });

  registerErrorHandler(app);
  await registerApi(app, ctx);
  await registerSse(app, ctx, { heartbeatMs: opts.heartbeatMs });
  await registerMetrics(app, ctx);
  await registerNotifications(app, ctx);
  await registerUnleash(app, ctx);
  registerUnleashDelta(app, ctx);
  await registerFrontend(app, ctx);
  await registerOfrep(app, ctx);
  await registerExperiments(app, ctx);
  await registerFlags(app, ctx);
  await registerWebhooks(app, ctx, opts.webhooks);
  await registerDashboard(app, ctx);
  return app;
}
