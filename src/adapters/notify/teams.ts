// Microsoft Teams incoming webhook: a message carrying one Adaptive Card (schema 1.4) with the
// verdict, the facts, the evidence and an Action.OpenUrl to the deploy page.
import type { Notification } from '../../ports.js';
import { severityOf } from '../../core/config/notify.js';
import { evidenceRows, postJson, shortSha, type SendContext, type Sender } from './sender.js';

const COLOR: Record<string, string> = { critical: 'Attention', error: 'Attention', warning: 'Warning', info: 'Good' };

export function teamsPayload(n: Notification): Record<string, unknown> {
  const severity = severityOf(n.kind, n.severity);
  const facts = [
    { title: 'Pipeline', value: n.pipeline },
    { title: 'Event', value: `${n.kind} (${severity})` },
    ...(n.deploy ? [{ title: 'Deploy', value: n.deploy }] : []),
    ...(n.sha ? [{ title: 'Commit', value: shortSha(n.sha)! }] : []),
    ...(n.commits?.length ? [{ title: 'Authors', value: [...new Set(n.commits.map((c) => c.author))].join(', ') }] : []),
    ...(n.revertSha ? [{ title: 'Revert', value: shortSha(n.revertSha)! }] : []),
  ];
  const body: Record<string, unknown>[] = [
    { type: 'TextBlock', text: n.title, weight: 'Bolder', size: 'Medium', wrap: true, color: COLOR[severity] ?? 'Default' },
    { type: 'TextBlock', text: n.body || n.title, wrap: true },
    { type: 'FactSet', facts },
  ];
  if (n.evidence) {
    body.push({ type: 'TextBlock', text: `Evidence: ${n.evidence.explanation}`, wrap: true, weight: 'Bolder', spacing: 'Medium' });
    const rows = evidenceRows(n);
    if (rows.length)
      body.push({
        type: 'FactSet',
        facts: rows.map((r) => ({ title: r.name, value: `${r.verdict}, ${r.effect} (${r.ci}), p=${r.p}, ${r.estimates}, ${r.samples}` })),
      });
  }
  const card: Record<string, unknown> = {
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    type: 'AdaptiveCard',
    version: '1.4',
    body,
  };
  if (n.link) card.actions = [{ type: 'Action.OpenUrl', title: 'Open the deploy page', url: n.link }];
  return { type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card }] };
}

export function createTeamsSender(url: string): Sender {
  return {
    type: 'teams',
    send: (n: Notification, ctx: SendContext) => postJson(url, teamsPayload(n), ctx.signal),
  };
}
