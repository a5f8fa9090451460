// Deploy records for store, summary, API and CLI tests.
import type { Commit, DeployRecord } from '../../../../../src/ports.js';
import type { DeployState } from '../../../../../src/core/line/types.js';

export function commit(sha: string, time: number, author = 'Dev One'): Commit {
  return {
    sha,
    author,
    email: `${author.toLowerCase().replace(/\s+/g, '.')}@example.test`,
    subject: `change ${sha}`,
    message: `change ${sha}\n\nbody`,
    time,
  };
}

export function deployState(over: Partial<DeployState> = {}): DeployState {
  const fleet = ['s1', 's2', 's3', 's4', 's5', 's6', 's7', 's8'];
  return { status: 'queued', step: -1, steps: 3, plan: [fleet.slice(0, 1), fleet.slice(0, 4), fleet], since: 0, warnings: [], ...over };
}

export function deploy(id: string, createdAt: number, over: Partial<DeployRecord> = {}): DeployRecord {
  const sha = over.shas?.[0] ?? `sha-${id}`;
  const state = (over.state as DeployState | undefined) ?? deployState({ since: createdAt });
  return {
    id,
    pipeline: 'local',
    shas: [sha],
    commits: [commit(sha, createdAt - 60_000)],
    status: state.status,
    createdAt,
    updatedAt: createdAt,
    ...over,
    state,
  };
}
