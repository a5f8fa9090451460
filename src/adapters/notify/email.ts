// E-mail over SMTP (nodemailer): to the change's authors and a configured list, plain text and
// HTML with the evidence and the deploy page; one deploy's mails share a thread (References).
import nodemailer from 'nodemailer';
import type { NotifyTargetConfig } from '../../core/config/notify.js';
import type { Notification } from '../../ports.js';
import { DeliveryError, evidenceRows, evidenceText, shortSha, type SendContext, type Sender } from './sender.js';

type EmailConfig = Extract<NotifyTargetConfig, { type: 'email' }>;

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
/** A Message-ID local part from any id. */
const msgId = (s: string, host: string) => `<${s.replace(/[^A-Za-z0-9._-]/g, '.')}@${host}>`;

export function emailRecipients(cfg: EmailConfig, n: Notification, qualifier?: string): string[] {
  const authors = cfg.authors && qualifier !== 'list' ? (n.to ?? []) : [];
  const list = qualifier === 'authors' ? [] : cfg.to;
  return [...new Set([...authors, ...list].filter((a) => /.+@.+/.test(a)))];
}

export function renderEmail(
  n: Notification,
  host = 'immune.local',
): { subject: string; text: string; html: string; headers: Record<string, string>; messageId: string } {
  const ev = evidenceText(n);
  const commits = n.commits ?? [];
  const text = [
    n.title,
    '',
    n.body,
    ...(n.evidence ? ['', `Evidence: ${n.evidence.explanation}`, ...ev.map((l) => `  ${l}`)] : []),
    ...(commits.length ? ['', 'Commits:', ...commits.map((c) => `  ${shortSha(c.sha)} ${c.subject} (${c.author} <${c.email}>)`)] : []),
    ...(n.revertSha ? ['', `Reverted in ${n.revertSha}.`] : []),
    '',
    ...(n.link ? [`Deploy page: ${n.link}`] : []),
    `Pipeline ${n.pipeline}${n.deploy ? `, deploy ${n.deploy}` : ''}${n.sha ? `, ${n.sha}` : ''}.`,
  ].join('\n');
  const rows = evidenceRows(n);
  const th = (s: string) => `<th align="left" style="padding:2px 8px;border-bottom:1px solid #ccc">${esc(s)}</th>`;
  const td = (s: string) => `<td style="padding:2px 8px;font-family:monospace">${esc(s)}</td>`;
  const html = [
    `<h2 style="font-family:sans-serif">${esc(n.title)}</h2>`,
    `<p style="font-family:sans-serif;white-space:pre-wrap">${esc(n.body)}</p>`,
    ...(n.evidence
      ? [
          `<p style="font-family:sans-serif"><b>Evidence:</b> ${esc(n.evidence.explanation)}</p>`,
          rows.length
            ? `<table style="border-collapse:collapse"><tr>${['metric', 'verdict', 'change', 'interval', 'p', 'baseline -> canary', 'servers'].map(th).join('')}</tr>${rows
                .map((r) => `<tr>${[r.name, r.verdict, r.effect, r.ci, r.p, r.estimates, r.samples].map(td).join('')}</tr>`)
                .join('')}</table>`
            : '',
        ]
      : []),
    ...(commits.length
      ? [
          `<p style="font-family:sans-serif"><b>Commits</b></p><ul>${commits.map((c) => `<li><code>${esc(shortSha(c.sha) ?? '')}</code> ${esc(c.subject)} (${esc(c.author)})</li>`).join('')}</ul>`,
        ]
      : []),
    ...(n.revertSha ? [`<p style="font-family:sans-serif">Reverted in <code>${esc(n.revertSha)}</code>.</p>`] : []),
    ...(n.link ? [`<p style="font-family:sans-serif"><a href="${esc(n.link)}">Open the deploy page</a></p>`] : []),
    `<p style="font-family:sans-serif;color:#666">Pipeline ${esc(n.pipeline)}${n.deploy ? `, deploy ${esc(n.deploy)}` : ''}.</p>`,
  ].join('\n');
  const messageId = msgId(n.id ?? `${n.pipeline}.${n.kind}.${n.time ?? Date.now()}`, host);
  const headers: Record<string, string> = { 'X-Immune-Pipeline': n.pipeline, 'X-Immune-Event': n.kind };
  if (n.deploy) {
    // Every mail of a deploy refers to the same (virtual) first message, so mail clients thread them.
    const root = msgId(`deploy.${n.pipeline}.${n.deploy}`, host);
    headers['In-Reply-To'] = root;
    headers.References = root;
    headers['X-Immune-Deploy'] = n.deploy;
  }
  return { subject: `[immune] ${n.title}`, text, html, headers, messageId };
}

export function createEmailSender(cfg: EmailConfig, env: Record<string, string | undefined>): Sender {
  const user = cfg.smtp.user_env ? env[cfg.smtp.user_env] : undefined;
  const pass = cfg.smtp.password_env ? env[cfg.smtp.password_env] : undefined;
  const transport = nodemailer.createTransport({
    host: cfg.smtp.host,
    port: cfg.smtp.port,
    secure: cfg.smtp.secure,
    ignoreTLS: cfg.smtp.starttls === 'off',
    requireTLS: cfg.smtp.starttls === 'require',
    auth: user ? { user, pass } : undefined,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  const host = /@([^>\s]+)/.exec(cfg.from)?.[1] ?? 'immune.local';
  return {
    type: 'email',
    accepts: (n, qualifier) => emailRecipients(cfg, n, qualifier).length > 0,
    async send(n: Notification, ctx: SendContext) {
      const to = emailRecipients(cfg, n, ctx.qualifier);
      if (!to.length) return 'no recipients';
      const mail = renderEmail(n, host);
      const abort = new Promise<never>((_, reject) =>
        ctx.signal.addEventListener('abort', () => reject(new DeliveryError('timed out')), { once: true }),
      );
      try {
        const info = await Promise.race([
          transport.sendMail({
            from: cfg.from,
            to,
            subject: mail.subject,
            text: mail.text,
            html: mail.html,
            headers: mail.headers,
            messageId: mail.messageId,
          }),
          abort,
        ]);
        return `${info.response ?? 'sent'} to ${to.length} recipient(s)`;
      } catch (err) {
        if (err instanceof DeliveryError) throw err;
        const e = err as Error & { responseCode?: number; code?: string };
        // 5xx from the SMTP server is permanent (bad recipient, refused); 4xx and network errors are not.
        throw new DeliveryError(`${e.code ? `${e.code}: ` : ''}${e.message}`, {
          status: e.responseCode,
          retry: !(e.responseCode && e.responseCode >= 500),
        });
      }
    },
    async close() {
      transport.close();
    },
  };
}
