// A generic chat message: `text` for receivers that show one string (Mattermost, Rocket.Chat,
// Google Chat accept it as is) and the same facts as fields for those that map them.
import type { Notification } from '../../ports.js';
import { severityOf } from '../../core/config/notify.js';
import { evidenceRows, evidenceText, postJson, type SendContext, type Sender } from './sender.js';

export function chatPayload(n: Notification): Record<string, unknown> {
  const ev = evidenceText(n);
  const text = [n.title, n.body, ...(n.evidence ? [`Evidence: ${n.evidence.explanation}`, ...ev] : []), ...(n.link ? [n.link] : [])]
    .filter(Boolean)
    .join('\n');
  return {
    text,
    id: n.id,
    kind: n.kind,
    severity: severityOf(n.kind, n.severity),
    pipeline: n.pipeline,
    deploy: n.deploy,
    sha: n.sha,
    title: n.title,
    body: n.body,
    link: n.link,
    time: new Date(n.time ?? Date.now()).toISOString(),
    evidence: n.evidence ? { explanation: n.evidence.explanation, metrics: evidenceRows(n) } : undefined,
    commits: n.commits,
    revert: n.revertSha,
  };
}

export function createChatSender(url: string): Sender {
  return {
    type: 'chat',
    send: (n: Notification, ctx: SendContext) => postJson(url, chatPayload(n), ctx.signal),
  };
}
