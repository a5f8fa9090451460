// Known-bad trees: every git tree a gate or the watch found regressing is remembered, so a change
// that would put the same code back on a server is held for a captain, never deployed silently.

export interface KnownBadTree {
  /** The git tree hash of the failed change's last commit. */
  tree: string;
  /** The commit that carried it. */
  sha: string;
  deploy: string;
  /** Rollout step index where it failed, or -1 for the watch after 100%. */
  step: number;
  /** Metrics that failed there. */
  metrics: string[];
  /** The gate's explanation. */
  reason: string;
  /** The build's artifact id (a release kept on servers). */
  artifact?: string;
  at: number;
}

/** A captain's decision to deploy a known-bad tree anyway (audited). */
export interface TreeOverride {
  tree: string;
  actor: string;
  reason: string;
  at: number;
}

/** The line waits on this change: its tree is known-bad. */
export interface HeldChange {
  shas: string[];
  tree: string;
  reason: string;
  knownBad: KnownBadTree;
  since: number;
}

/** How many known-bad trees the line keeps (oldest dropped first). */
export const KNOWN_BAD_LIMIT = 500;

export function findKnownBad(list: readonly KnownBadTree[] | undefined, tree: string): KnownBadTree | undefined {
  return list?.find((k) => k.tree === tree);
}

/** The list with `entry` added (one entry per tree: the latest failure wins), newest last, bounded. */
export function rememberBad(list: readonly KnownBadTree[] | undefined, entry: KnownBadTree): KnownBadTree[] {
  const rest = (list ?? []).filter((k) => k.tree !== entry.tree);
  return [...rest, entry].slice(-KNOWN_BAD_LIMIT);
}

/** "this tree is identical to f324de3a, which failed at step 1 on error_rate (deploy d-...)" */
export function knownBadReason(k: KnownBadTree): string {
  const where = k.step >= 0 ? `at step ${k.step + 1}` : 'in the watch after 100%';
  const on = k.metrics.length ? ` on ${k.metrics.join(', ')}` : '';
  return `this tree is identical to ${k.sha.slice(0, 8)}, which failed ${where}${on} (deploy ${k.deploy})`;
}
