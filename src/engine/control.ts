// What captains and engineers can do to the line (API, CLI, dashboard); the engine implements it.

/** The line controls the API and dashboard call; implemented by the engine. */
export interface LineControl {
  status(): Promise<unknown>;
  /** `delivery`: a webhook delivery id (seen before: ignored); `force`: a captain deploys a commit that is not ahead of the live one. */
  deploy(sha: string, actor: string, opts?: { delivery?: string; force?: boolean }): Promise<unknown>;
  /** After the store came up empty: what the fleet runs (`sha`), or nothing to deploy the tip as a first deploy. */
  adopt?(sha: string | undefined, reason: string, actor: string): Promise<unknown>;
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
  drop(sha: string, reason: string, actor: string): Promise<unknown>;
  /** Queue a failed or aborted deploy's commits again. */
  retry(deploy: string, reason: string, actor: string): Promise<unknown>;
  /** Switch every server to an earlier release they keep (by release id or commit sha); blocks the line. */
  rollbackTo(to: string, reason: string, actor: string): Promise<unknown>;
  /** Per server: the releases it keeps. */
  releases(): Promise<unknown>;
}
