// The Immune-Signature header on webhook deliveries: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<raw body>">`. Receivers check it with the snippet in docs/notifications.md.
import { createHmac } from 'node:crypto';

export const SIGNATURE_HEADER = 'immune-signature';

export function signatureHeader(body: string, secret: string, nowMs: number): string {
  const t = Math.floor(nowMs / 1000);
  const v1 = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return `t=${t},v1=${v1}`;
}
