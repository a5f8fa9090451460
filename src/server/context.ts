// What every route plugin of `immune serve` is given.
import type { Logger } from 'pino';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EventBus } from '../engine/events.js';
import type { LineControl } from '../engine/control.js';
import type { ExperimentRegistry } from '../engine/experiments.js';
import type { Store } from '../ports.js';

export type Role = 'viewer' | 'engineer' | 'captain' | 'admin';

export interface Auth {
  /** A preHandler that answers 401 (no/unknown token) or 403 (role too low) with a JSON error. */
  require(role: Role): (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** Who made the request, for the audit log ("token:<name>" or "anonymous"). */
  actor(req: FastifyRequest): string;
}

export type { LineControl } from '../engine/control.js';

/** A browser or mobile app's token for the Unleash frontend API and OFREP (tokens file `frontend:`). */
export interface FrontendToken {
  name: string;
  token: string;
  /** The appName the SDK must use ("*": any). */
  app: string;
  environment: string;
  /** Origins browsers may call from, or "*"; none: only callers that send no Origin. */
  origins: string[];
}

export interface ServerContext {
  store: Store;
  log: Logger;
  events: EventBus;
  auth: Auth;
  /** Absent when the server runs without a pipeline (experiments and flags only). */
  line?: LineControl;
  pipelineName?: string;
  /** Experiments and flags served from experiments/*.yaml (built by the composition root). */
  experiments: ExperimentRegistry;
  /** Tokens Unleash SDKs must send in Authorization. */
  clientTokens: string[];
  /** Tokens for the Unleash frontend API and OFREP from browsers and mobile apps (tokens file `frontend:`). */
  frontendTokens?: FrontendToken[];
  /** Public URL of the dashboard, for links. */
  publicUrl: string;
  /** POST /webhooks/github: the pipeline's branch and the variable holding the secret (github.webhook_secret_env). */
  webhooks?: { branch: string; secretEnv?: string };
}
