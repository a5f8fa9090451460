// Which commits of a failed change immune may revert: never its own reverts (so it never puts
// back code it rejected), recognised by the Immune-Deploy trailer or by the line's record.

export interface RevertCandidate {
  sha: string;
  message: string;
}

const TRAILER = /^Immune-Deploy:[ \t]*(\S+)[ \t]*$/;

/** The deploy id in the message's trailer block (its last paragraph), if any. */
export function immuneTrailer(message: string): string | undefined {
  const paragraphs = message.trimEnd().split(/\n[ \t]*\n/);
  const last = paragraphs.at(-1) ?? '';
  for (const line of last.split('\n')) {
    const m = TRAILER.exec(line.trim());
    if (m) return m[1];
  }
  return undefined;
}

export function isImmuneRevert(c: RevertCandidate, recorded: ReadonlySet<string>): boolean {
  return recorded.has(c.sha) || immuneTrailer(c.message) !== undefined;
}

/**
 * Split the commits asked to be reverted into those to revert and immune's own reverts, which stay
 * on the branch: a batch of [revert + new commits] reverts only the new commits.
 */
export function revertable(
  commits: readonly RevertCandidate[],
  shas: readonly string[],
  recorded: ReadonlySet<string>,
): { revert: string[]; kept: string[] } {
  const bySha = new Map(commits.map((c) => [c.sha, c]));
  const revert: string[] = [];
  const kept: string[] = [];
  for (const sha of shas) {
    const c = bySha.get(sha);
    if (c && isImmuneRevert(c, recorded)) kept.push(sha);
    else if (!c && recorded.has(sha)) kept.push(sha);
    else revert.push(sha);
  }
  return { revert, kept };
}
