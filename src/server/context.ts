// What every route plugin of `immune serve` is given.
import type { Logger } from 'pino';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EventBus } from '../engine/events.js';
import type { LineControl } from '../engine/control.js';
import type { ExperimentRegistry } from '../engine/experiments.js';
import type { Registry } from 'prom-client';
import type { FlagRollouts } from '../engine/flag-rollouts.js';
import type { NotificationStatus, Store } from '../ports.js';

/** What the server reads of the notifier (runtime.ts hands it the real one). */
export interface NotificationsView {
  status(opts?: { limit?: number }): Promise<NotificationStatus>;
  retry(id: string): Promise<boolean>;
  /** prom-client registry with immune_notifications_total and the delivery latency histogram. */
  readonly registry: Registry;
}

/** API token roles, lowest first: each may do what the ones before it may. */
export const ROLES = ['viewer', 'engineer', 'captain', 'admin'] as const;
export type Role = (typeof ROLES)[number];

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
  /** Drives guarded flag rollouts; absent: their state is shown but nobody may unblock. */
  flags?: FlagRollouts;
  /** Tokens Unleash SDKs must send in Authorization. */
  clientTokens: string[];
  /** Tokens for the Unleash frontend API and OFREP from browsers and mobile apps (tokens file `frontend:`). */
  frontendTokens?: FrontendToken[];
  /** Public URL of the dashboard, for links. */
  publicUrl: string;
  /** The notification queue's state and dead letters (GET /api/notifications), and its metrics. */
  notifications?: NotificationsView;
  /** POST /webhooks/github: the pipeline's branch and the variable holding the secret (github.webhook_secret_env). */
  webhooks?: { branch: string; secretEnv?: string };
}
