// The revert commit's message (and the comment on the reverted commit): what was reverted,
// which metric regressed, by how much, with what confidence, and where to read more.
import type { DeployState } from '../core/line/types.js';
import type { DeployRecord } from '../ports.js';

export function revertMessage(d: DeployRecord, s: DeployState, opts: { publicUrl?: string; shas: string[]; markdown?: boolean }): string {
  const reverted = d.commits.filter((c) => opts.shas.includes(c.sha));
  const f = s.failure;
  const subject =
    reverted.length === 1
      ? `Revert "${reverted[0]!.subject}"`
      : `Revert ${reverted.length} commits (${reverted.map((c) => c.sha.slice(0, 8)).join(', ')})`;
  const where =
    f?.stage === 'tests'
      ? 'its tests failed'
      : f?.stage === 'watch'
        ? 'the watch after 100% found a regression'
        : `the gate at rollout step ${(f?.step ?? 0) + 1} of ${s.steps} (${s.plan[f?.step ?? 0]?.length ?? '?'} of ${s.plan.at(-1)?.length ?? '?'} servers) failed`;
  const lines = [subject, '', `immune rolled back deploy ${d.id}: ${where}.`, '', `Why: ${f?.reason ?? 'unknown'}`];
  const failing = (f?.evidence?.metrics ?? []).filter((m) => m.verdict === 'fail');
  if (failing.length) {
    lines.push('', 'Evidence (canary vs baseline):');
    for (const m of failing) lines.push(`${opts.markdown ? '- ' : '  '}${m.explanation}`);
  }
  lines.push('', 'Reverted:');
  for (const c of reverted) lines.push(`${opts.markdown ? '- ' : '  '}${c.sha.slice(0, 12)} ${c.subject} (${c.author} <${c.email}>)`);
  if (opts.publicUrl) lines.push('', `Details: ${opts.publicUrl}/#/deploys/${d.id}`);
  lines.push('', `The line is blocked until a captain unblocks it with a reason.`, '', `Immune-Deploy: ${d.id}`);
  if (f?.stage === 'tests') lines.splice(lines.length - 3, 2);
  return lines.join('\n');
}
