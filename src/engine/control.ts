// What captains and engineers can do to the line (API, CLI, dashboard); the engine implements it.

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
