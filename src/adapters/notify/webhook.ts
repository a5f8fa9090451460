// Signed webhooks: any URL gets each notification as one CloudEvent (structured JSON mode) whose
// data is a CDEvent, signed with HMAC-SHA256 over the timestamp and the exact body.
import { HTTP } from 'cloudevents';
import type { Notification } from '../../ports.js';
import { toCloudEvent } from './cdevents.js';
import { post, type SendContext, type Sender } from './sender.js';
import { SIGNATURE_HEADER, signatureHeader } from './signature.js';

export function createWebhookSender(o: { url: string; secret: string; source: string }): Sender {
  return {
    type: 'webhook',
    async send(n: Notification, ctx: SendContext) {
      // The event id is the notification's, so a receiver can drop a retried delivery it already has.
      const ce = toCloudEvent(n, o.source, n.id ?? `${n.pipeline}:${n.kind}:${n.time ?? ctx.now}`);
      const msg = HTTP.structured(ce);
      const body = typeof msg.body === 'string' ? msg.body : JSON.stringify(msg.body);
      const headers: Record<string, string> = { 'user-agent': 'immune' };
      for (const [k, v] of Object.entries(msg.headers)) if (typeof v === 'string') headers[k] = v;
      headers[SIGNATURE_HEADER] = signatureHeader(body, o.secret, ctx.now);
      return post(o.url, body, headers, ctx.signal);
    },
  };
}
