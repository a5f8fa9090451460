// Slack incoming webhook: a Block Kit message with the verdict, the evidence and a link.
// Limits from Slack's Block Kit reference: header text 150 chars, section text 3000, up to 10
// fields of 2000, button text 75, url 3000, at most 50 blocks.
import type { Notification } from '../../ports.js';
import { severityOf } from '../../core/config/notify.js';
import { evidenceText, postJson, shortSha, type SendContext, type Sender } from './sender.js';

const cut = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);
/** Slack's mrkdwn needs &, < and > escaped. */
const md = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const ICON: Record<string, string> = { critical: ':rotating_light:', error: ':x:', warning: ':warning:', info: ':white_check_mark:' };

export function slackPayload(n: Notification): { text: string; blocks: Record<string, unknown>[] } {
  const severity = severityOf(n.kind, n.severity);
  const fields = [
    `*Pipeline*\n${md(n.pipeline)}`,
    `*Event*\n${md(n.kind)} (${severity})`,
    ...(n.deploy ? [`*Deploy*\n${md(n.deploy)}`] : []),
    ...(n.sha ? [`*Commit*\n\`${shortSha(n.sha)}\``] : []),
    ...(n.commits?.length ? [`*Authors*\n${md([...new Set(n.commits.map((c) => c.author))].join(', '))}`] : []),
    ...(n.revertSha ? [`*Revert*\n\`${shortSha(n.revertSha)}\``] : []),
  ].map((text) => ({ type: 'mrkdwn', text: cut(text, 2000) }));
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: cut(`${n.title}`, 150), emoji: true } },
    { type: 'section', text: { type: 'mrkdwn', text: cut(`${ICON[severity] ?? ''} ${md(n.body || n.title)}`, 3000) } },
    { type: 'section', fields: fields.slice(0, 10) },
  ];
  const ev = evidenceText(n);
  if (n.evidence) {
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: cut(`*Evidence:* ${md(n.evidence.explanation)}${ev.length ? `\n\`\`\`${md(ev.join('\n'))}\`\`\`` : ''}`, 3000),
      },
    });
  }
  if (n.link) {
    blocks.push({
      type: 'actions',
      elements: [
        {
          type: 'button',
          text: { type: 'plain_text', text: 'Open the deploy page', emoji: false },
          url: cut(n.link, 3000),
          action_id: 'immune-open-deploy',
        },
      ],
    });
  }
  blocks.push({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: cut(`immune · ${md(n.pipeline)}${n.deploy ? ` · ${md(n.deploy)}` : ''}`, 2000) }],
  });
  // `text` is the fallback shown in notifications and where blocks cannot be rendered.
  return { text: cut(`${n.title}${n.link ? ` ${n.link}` : ''}`, 3000), blocks };
}

export function createSlackSender(url: string): Sender {
  return {
    type: 'slack',
    send: (n: Notification, ctx: SendContext) => postJson(url, slackPayload(n), ctx.signal),
  };
}
