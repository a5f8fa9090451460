// What every route plugin of `immune serve` is given.
import type { Logger } from 'pino';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EventBus } from '../engine/events.js';
import type { Store } from '../ports.js';

export type Role = 'viewer' | 'engineer' | 'captain' | 'admin';

export interface Auth {
  /** A preHandler that answers 401 (no/unknown token) or 403 (role too low) with a JSON error. */
  require(role: Role): (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** Who made the request, for the audit log ("token:<name>" or "anonymous"). */
  actor(req: FastifyRequest): string;
}

/** The line controls the API and dashboard call; implemented by the engine. */
export interface LineControl {
  status(): Promise<unknown>;
  deploy(sha: string, actor: string): Promise<unknown>;
  block(reason: string, actor: string): Promise<void>;
  unblock(reason: string, actor: string): Promise<void>;
  pause(reason: string, actor: string): Promise<void>;
  resume(reason: string, actor: string): Promise<void>;
  abort(reason: string, actor: string): Promise<void>;
  promote(reason: string, actor: string): Promise<void>;
}

export interface ServerContext {
  store: Store;
  log: Logger;
  events: EventBus;
  auth: Auth;
  /** Absent when the server runs without a pipeline (experiments and flags only). */
  line?: LineControl;
  pipelineName?: string;
  /** Directory of experiments/*.yaml and flags. */
  experimentsDir: string;
  /** Tokens Unleash SDKs must send in Authorization. */
  clientTokens: string[];
  /** Public URL of the dashboard, for links. */
  publicUrl: string;
  /** POST /webhooks/github: the pipeline's branch and the variable holding the secret (github.webhook_secret_env). */
  webhooks?: { branch: string; secretEnv?: string };
}
