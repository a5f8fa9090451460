// What every notification backend implements (one file per backend, built by factory.ts), and the
// pieces they share: an HTTP POST that turns a refusal into a DeliveryError, and the evidence as text.
import type { Notification } from '../../ports.js';
import { formatP } from '../../core/format/words.js';

export interface SendContext {
  /** For e-mail: `authors` or `list` (a route entry `email:authors`). */
  qualifier?: string;
  signal: AbortSignal;
  /** Delivery time, ms. */
  now: number;
}

export interface Sender {
  readonly type: string;
  /** False when this target has nothing to do with the notification (a pager and an info event). */
  accepts?(n: Notification, qualifier?: string): boolean;
  /** Deliver once; rejects with DeliveryError (or any error: retried). Resolves with a short receipt. */
  send(n: Notification, ctx: SendContext): Promise<string>;
  close?(): Promise<void>;
}

/** A receiver's refusal. `retry: false` when trying again cannot help (400, 401, 404...). */
export class DeliveryError extends Error {
  readonly status: number | undefined;
  readonly retry: boolean;
  /** Seconds the receiver asked us to wait (Retry-After). */
  readonly retryAfter: number | undefined;
  constructor(message: string, opts: { status?: number; retry?: boolean; retryAfter?: number } = {}) {
    super(message);
    this.status = opts.status;
    this.retry = opts.retry ?? true;
    this.retryAfter = opts.retryAfter;
  }
}

/** POST a body; 2xx resolves with the status line, anything else rejects with DeliveryError. */
export async function post(url: string, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', body, headers, signal, redirect: 'error' });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    // The URL may be the secret (Slack, Teams): never let it into a log line or a dead letter.
    const why = (e.cause?.code ?? e.cause?.message ?? e.message).split(url).join('<url>');
    throw new DeliveryError(signal.aborted ? 'timed out' : why, { retry: !(err instanceof TypeError && /URL/i.test(why)) });
  }
  const text = (await res.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ').trim();
  if (res.ok) return `${res.status}${text ? ` ${text}` : ''}`;
  const retryAfter = Number(res.headers.get('retry-after')) || undefined;
  // Client errors other than a timeout or a rate limit will fail the same way again.
  const retry = res.status >= 500 || res.status === 408 || res.status === 429;
  throw new DeliveryError(`${res.status} ${res.statusText}${text ? `: ${text}` : ''}`, { status: res.status, retry, retryAfter });
}

export function postJson(url: string, payload: unknown, signal: AbortSignal, headers: Record<string, string> = {}): Promise<string> {
  return post(url, JSON.stringify(payload), { 'content-type': 'application/json', 'user-agent': 'immune', ...headers }, signal);
}

/** A relative change; beyond ±1000% the figure says nothing more (e.g. from a zero baseline). */
const pct = (x: number) =>
  x > 10 ? '>+1000%' : x < -10 ? '<-1000%' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(Math.abs(x) < 0.1 ? 1 : 0)}%`;
const num = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x) ? '-' : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toPrecision(3);

/** One row per metric: what a reader needs to judge the verdict (effect, interval, p, estimates, sample counts). */
export function evidenceRows(
  n: Notification,
): { name: string; verdict: string; effect: string; ci: string; p: string; estimates: string; samples: string; explanation: string }[] {
  return (n.evidence?.metrics ?? []).map((m) => ({
    name: m.name,
    verdict: m.verdict,
    effect: Number.isFinite(m.effect) ? pct(m.effect) : '-',
    ci: m.ci.every(Number.isFinite) ? `${pct(m.ci[0])}..${pct(m.ci[1])}` : '-',
    // As the sentences say it ("0.0032", "<0.0001"), never an exponent.
    p: Number.isFinite(m.pValue) ? formatP(m.pValue).replace(/^p=?/, '') : '-',
    estimates: `${num(m.baselineEstimate)} -> ${num(m.canaryEstimate)}`,
    samples: `${m.samples.baseline} baseline / ${m.samples.canary} canary`,
    explanation: m.explanation,
  }));
}

/** The evidence as aligned plain-text lines. */
export function evidenceText(n: Notification): string[] {
  const rows = evidenceRows(n);
  if (!rows.length) return [];
  const head = {
    name: 'metric',
    verdict: 'verdict',
    effect: 'change',
    ci: 'interval',
    p: 'p',
    estimates: 'baseline -> canary',
    samples: 'servers',
  };
  const all = [head, ...rows];
  const keys = Object.keys(head) as (keyof typeof head)[];
  const width = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  const table = all.map((r) =>
    keys
      .map((k, i) => r[k].padEnd(width[i]!))
      .join('  ')
      .trimEnd(),
  );
  // Each metric's own line carries the counts and the interval in its units.
  return [
    ...table,
    '',
    ...rows.filter((r) => r.explanation).map((r) => (r.explanation.startsWith(r.name) ? r.explanation : `${r.name}: ${r.explanation}`)),
  ];
}

export function shortSha(sha: string | undefined): string | undefined {
  return sha?.slice(0, 8);
}
