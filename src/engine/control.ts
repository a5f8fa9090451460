// What captains and engineers can do to the line (API, CLI, dashboard); the engine implements it.
import type { DeployRecord } from '../ports.js';
import type { LineStatus } from './summary.js';

/** What `deploy` answers: the commit queued, or why it was not (a replayed delivery, a commit not ahead of the live one). */
export interface DeployAnswer {
  queued: string;
  /** The webhook delivery was seen before. */
  duplicate?: boolean;
  ignored?: string;
}

/** What `adopt` answers: the commit and artifact adopted as live; neither when the tip goes out as a first deploy. */
export interface AdoptAnswer {
  live?: string;
  artifact?: string;
}

/** What `drop` answers: the commit dropped and a sentence saying so. */
export interface DropAnswer {
  dropped: string;
  note: string;
}

/** What `retry` answers: the commits queued again, and the deploy they came from. */
export interface RetryAnswer {
  queued: string[];
  deploy: string;
}

/** What `rollbackTo` answers: the release every server switched to, its commit, and how many servers switched. */
export interface RollbackAnswer {
  release: string;
  sha: string;
  servers: number;
}

/** What `releases` answers: per server, the releases it keeps. */
export interface ReleasesAnswer {
  servers: ServerReleases[];
}

/** One server's releases, as `releases` lists them. */
export interface ServerReleases {
  server: string;
  current: string | null;
  releases: {
    id: string;
    current: boolean;
    sha?: string;
    deploy?: string;
    outcome?: DeployRecord['outcome'];
    live: boolean;
    knownBad?: string;
  }[];
}

/** The line controls the API and dashboard call; implemented by the engine. */
export interface LineControl {
  status(): Promise<LineStatus>;
  /** `delivery`: a webhook delivery id (seen before: ignored); `force`: a captain deploys a commit that is not ahead of the live one. */
  deploy(sha: string, actor: string, opts?: { delivery?: string; force?: boolean }): Promise<DeployAnswer>;
  /** After the store came up empty: what the fleet runs (`sha`), or nothing to deploy the tip as a first deploy. */
  adopt?(sha: string | undefined, reason: string, actor: string): Promise<AdoptAnswer>;
  block(reason: string, actor: string): Promise<void>;
  unblock(reason: string, actor: string): Promise<void>;
  pause(reason: string, actor: string): Promise<void>;
  /** Unpause the line and/or let a held rollout bake again at its step. */
  resume(reason: string, actor: string): Promise<void>;
  abort(reason: string, actor: string): Promise<void>;
  promote(reason: string, actor: string): Promise<void>;
  /** Deploy the change held for a known-bad tree anyway. */
  override(reason: string, actor: string): Promise<void>;
  /** Take a queued commit out of the line (it stays in git). */
  drop(sha: string, reason: string, actor: string): Promise<DropAnswer>;
  /** Queue a failed or aborted deploy's commits again. */
  retry(deploy: string, reason: string, actor: string): Promise<RetryAnswer>;
  /** Switch every server to an earlier release they keep (by release id or commit sha); blocks the line. */
  rollbackTo(to: string, reason: string, actor: string): Promise<RollbackAnswer>;
  /** Per server: the releases it keeps. */
  releases(): Promise<ReleasesAnswer>;
}
