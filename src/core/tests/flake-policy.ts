// What a failing test means after re-runs, and what to do with tests that flake too often.
// A test is flaky when it fails and then passes on a re-run of the same commit; a test that fails
// every attempt is a real failure and always blocks, quarantined or not.

export type Attempt = 'passed' | 'failed';
export type RetryVerdict = 'passed' | 'flaky' | 'failed';

export function retryVerdict(attempts: readonly Attempt[]): RetryVerdict {
  if (!attempts.length || attempts[0] === 'passed') return 'passed';
  return attempts.slice(1).includes('passed') ? 'flaky' : 'failed';
}

export interface FlakePolicy {
  /** Flaky passes per run above which a test is acted on. */
  flakyRate: number;
  /** Quarantine such tests (they get extra re-runs and are reported) instead of only reporting them. */
  quarantine: boolean;
  /** Runs of history needed before a rate is trusted. */
  minRuns?: number;
}

export interface TestStats {
  id: string;
  runs: number;
  flakes: number;
  quarantined: boolean;
}

export interface FlakeDecision {
  id: string;
  rate: number;
  action: 'report' | 'quarantine' | 'release';
}

/**
 * Tests over the rate are reported to their owners, and quarantined when the policy says so;
 * quarantined tests whose rate fell below half the threshold are released.
 */
export function flakeDecisions(stats: readonly TestStats[], p: FlakePolicy): FlakeDecision[] {
  const minRuns = p.minRuns ?? 5;
  const out: FlakeDecision[] = [];
  for (const t of stats) {
    if (t.runs < minRuns) continue;
    const rate = t.flakes / t.runs;
    if (rate > p.flakyRate) {
      if (p.quarantine && !t.quarantined) out.push({ id: t.id, rate, action: 'quarantine' });
      else if (!t.quarantined) out.push({ id: t.id, rate, action: 'report' });
    } else if (t.quarantined && rate <= p.flakyRate / 2) out.push({ id: t.id, rate, action: 'release' });
  }
  return out;
}

/** Re-runs a failing test gets: quarantined tests get two more, so a known flake almost never blocks. */
export function retriesFor(quarantined: boolean, retries: number): number {
  return quarantined ? retries + 2 : retries;
}
