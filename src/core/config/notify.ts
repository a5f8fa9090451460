// Who hears about what: notification targets (e-mail, Slack, Teams, chat, signed webhooks, the
// pager) and routes from event kinds to targets. Secrets are named by environment variable only.
import { z } from 'zod';
import type { ConfigIssue } from '../errors.js';
import { duration } from './types.js';

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name (letters, digits, _)');

/** Delivery settings; each target may override the pipeline-wide ones. */
const delivery = {
  /** Attempts before a notification goes to the dead letters. */
  attempts: z.number().int().min(1).max(50).optional(),
  /** First retry delay; doubled at each attempt (with jitter) up to max_backoff. */
  backoff: duration.optional(),
  max_backoff: duration.optional(),
  /** Per-attempt timeout. */
  timeout: duration.optional(),
  /** At most this many deliveries per minute to the target; the rest wait their turn. */
  rate_per_minute: z.number().int().min(1).max(10_000).optional(),
  /** Pending notifications kept for the target; beyond it new ones go straight to the dead letters. */
  queue_max: z.number().int().min(1).max(100_000).optional(),
};

const url = z.string().url();

const emailTarget = z
  .object({
    type: z.literal('email'),
    smtp: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(1).max(65535).default(587),
        /** TLS from the first byte (port 465). */
        secure: z.boolean().default(false),
        /** STARTTLS: use when offered (auto), insist (require), or never (off). */
        starttls: z.enum(['auto', 'require', 'off']).default('auto'),
        user_env: envName.optional(),
        password_env: envName.optional(),
      })
      .strict()
      .prefault({}),
    from: z.string().min(3),
    /** Always mailed (captains, on-call list). */
    to: z.array(z.string().email()).default([]),
    /** Mail the authors of the change's commits too. */
    authors: z.boolean().default(true),
    ...delivery,
  })
  .strict();

const chatTarget = (type: 'slack' | 'teams' | 'chat') =>
  z
    .object({
      type: z.literal(type),
      /** The incoming-webhook URL is a secret: it is read from this environment variable. */
      url_env: envName,
      ...delivery,
    })
    .strict();

const webhookTarget = z
  .object({
    type: z.literal('webhook'),
    url: url.optional(),
    url_env: envName.optional(),
    /** The HMAC-SHA256 key for the Immune-Signature header. */
    secret_env: envName,
    ...delivery,
  })
  .strict()
  .refine((t) => (t.url === undefined) !== (t.url_env === undefined), { message: 'a webhook takes exactly one of url or url_env' });

const pagerTarget = z
  .object({
    type: z.literal('pager'),
    /** PagerDuty Events API v2 by default; any receiver of the same shape works. */
    url: url.default('https://events.pagerduty.com/v2/enqueue'),
    routing_key_env: envName,
    /** Page for events of this severity and above (critical > error > warning > info). */
    severity: z.enum(['critical', 'error', 'warning', 'info']).default('error'),
    /** Events that resolve the incident. */
    resolve_on: z.array(z.string()).default(['unblocked', 'recovered']),
    /** One incident per pipeline: triggers update it, a resolve closes it. Default immune/<pipeline>. */
    dedup_key: z.string().min(1).max(255).optional(),
    ...delivery,
  })
  .strict();

const consoleTarget = z.object({ type: z.literal('console') }).strict();

export const notifyTarget = z.discriminatedUnion('type', [
  emailTarget,
  chatTarget('slack'),
  chatTarget('teams'),
  chatTarget('chat'),
  webhookTarget,
  pagerTarget,
  consoleTarget,
]);

/** An event kind (deploy_live, blocked, ...; any kind an engine emits), `live`/`failed` as short names, or `*`. */
const KIND = /^(\*|[a-z][a-z0-9_.-]*)$/;

export const notifyConfig = z
  .object({
    targets: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/i, 'letters, digits, - and _'), notifyTarget).default({}),
    /**
     * Event kind -> targets; a target is `name` or, for e-mail, `name:authors` / `name:list`.
     * Absent: every target hears what its kind is for (see defaultRoutes).
     */
    routes: z.record(z.string(), z.array(z.string().min(1))).optional(),
    ...delivery,
  })
  .strict();

export type NotifyConfig = z.infer<typeof notifyConfig>;
export type NotifyTargetConfig = z.infer<typeof notifyTarget>;
export type Severity = 'critical' | 'error' | 'warning' | 'info';

/** Delivery settings with every default filled in. */
export interface DeliverySettings {
  attempts: number;
  backoff: number;
  max_backoff: number;
  timeout: number;
  rate_per_minute: number;
  queue_max: number;
}

export const DELIVERY_DEFAULTS: DeliverySettings = {
  attempts: 6,
  backoff: 2000,
  max_backoff: 300_000,
  timeout: 10_000,
  rate_per_minute: 30,
  queue_max: 1000,
};

export function deliveryFor(cfg: NotifyConfig | undefined, target: NotifyTargetConfig): DeliverySettings {
  const pick = (k: keyof DeliverySettings): number =>
    ((target as Partial<DeliverySettings>)[k] ?? cfg?.[k] ?? DELIVERY_DEFAULTS[k]) as number;
  return {
    attempts: pick('attempts'),
    backoff: pick('backoff'),
    max_backoff: pick('max_backoff'),
    timeout: pick('timeout'),
    rate_per_minute: pick('rate_per_minute'),
    queue_max: pick('queue_max'),
  };
}

/** Short route names people write for the engine's kinds. */
export const KIND_ALIASES: Record<string, string> = { live: 'deploy_live', failed: 'deploy_failed' };

/** Kinds that on_regression.notify targets receive. */
export const REGRESSION_KINDS = ['blocked', 'reverted', 'deploy_failed', 'tests_failed', 'rollback_failed', 'unknown_build'];

/** How bad an event is when its producer does not say: a blocked line pages, a live deploy does not. */
export const DEFAULT_SEVERITY: Record<string, Severity> = {
  blocked: 'critical',
  rollback_failed: 'critical',
  unknown_build: 'critical',
  reverted: 'error',
  deploy_failed: 'error',
  tests_failed: 'warning',
  flaky_test: 'info',
  deploy_live: 'info',
  unblocked: 'info',
  recovered: 'info',
  rolled_back: 'info',
  held: 'warning',
  flag_off: 'error',
  flag_held: 'warning',
  info: 'info',
};

export function severityOf(kind: string, given?: Severity): Severity {
  return given ?? DEFAULT_SEVERITY[kind] ?? 'warning';
}

export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, error: 2, critical: 3 };

/** A route entry `name` or `name:qualifier`. */
export interface TargetRef {
  target: string;
  qualifier?: string;
}

export function parseTargetRef(ref: string): TargetRef {
  const i = ref.indexOf(':');
  return i < 0 ? { target: ref } : { target: ref.slice(0, i), qualifier: ref.slice(i + 1) };
}

const PEOPLE_KINDS = [...REGRESSION_KINDS, 'unblocked', 'flag_off'];
const CHANNEL_KINDS = [...PEOPLE_KINDS, 'recovered', 'deploy_live', 'held', 'flag_held'];

/**
 * Routes when the pipeline names none: webhooks and pagers hear everything (a pager pages by
 * severity and resolves on its own), chat channels the regressions, recoveries, holds and live
 * deploys, e-mail the regressions and unblocks.
 */
export function defaultRoutes(targets: NotifyConfig['targets']): Record<string, string[]> {
  const routes: Record<string, string[]> = {};
  const add = (kind: string, name: string) => (routes[kind] ??= []).push(name);
  for (const [name, t] of Object.entries(targets)) {
    if (t.type === 'webhook' || t.type === 'pager') add('*', name);
    else if (t.type === 'email') PEOPLE_KINDS.forEach((k) => add(k, name));
    else if (t.type !== 'console') CHANNEL_KINDS.forEach((k) => add(k, name));
  }
  return routes;
}

/** The targets (with qualifiers) one kind of event goes to, duplicates removed. */
export function routeFor(kind: string, cfg: NotifyConfig | undefined, onRegression: string[] = []): TargetRef[] {
  const routes = cfg?.routes ?? defaultRoutes(cfg?.targets ?? {});
  const refs: string[] = [];
  for (const [key, list] of Object.entries(routes)) {
    if (key === '*' || key === kind || KIND_ALIASES[key] === kind) refs.push(...list);
  }
  if (REGRESSION_KINDS.includes(kind)) refs.push(...onRegression);
  const seen = new Set<string>();
  const out: TargetRef[] = [];
  for (const r of refs) {
    if (r === 'console' || seen.has(r)) continue;
    seen.add(r);
    out.push(parseTargetRef(r));
  }
  return out;
}

const EMAIL_QUALIFIERS = ['authors', 'list'];

/** Environment variables a target needs, with the config key naming each. */
export function requiredEnv(t: NotifyTargetConfig): { key: (string | number)[]; name: string }[] {
  const out: { key: (string | number)[]; name: string }[] = [];
  const add = (key: (string | number)[], name: string | undefined) => name && out.push({ key, name });
  switch (t.type) {
    case 'email':
      add(['smtp', 'user_env'], t.smtp.user_env);
      add(['smtp', 'password_env'], t.smtp.password_env);
      break;
    case 'slack':
    case 'teams':
    case 'chat':
      add(['url_env'], t.url_env);
      break;
    case 'webhook':
      add(['url_env'], t.url_env);
      add(['secret_env'], t.secret_env);
      break;
    case 'pager':
      add(['routing_key_env'], t.routing_key_env);
      break;
    default:
      break;
  }
  return out;
}

/**
 * What the schema cannot check: route entries name real targets (and valid e-mail qualifiers),
 * on_regression.notify too, and — when `env` is given — every named environment variable is set.
 */
export function notifyIssues(
  cfg: NotifyConfig | undefined,
  onRegression: string[],
  file: string,
  locate: (path: (string | number)[]) => { line: number; col: number },
  env?: Record<string, string | undefined>,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const targets = cfg?.targets ?? {};
  const names = Object.keys(targets);
  const valid = `targets: ${[...names, 'console'].join(', ')}`;
  const check = (ref: string, path: (string | number)[]) => {
    const { target, qualifier } = parseTargetRef(ref);
    const pos = locate(path);
    const at = { file, ...pos, path: path.join('.') };
    if (target === 'console' && qualifier === undefined) return;
    const t = targets[target];
    if (!t) {
      issues.push({ ...at, message: `no notification target "${target}" (${valid}; define it under notify.targets)` });
      return;
    }
    if (qualifier === undefined) return;
    if (t.type !== 'email') issues.push({ ...at, message: `"${ref}": only e-mail targets take a qualifier (${target} is ${t.type})` });
    else if (!EMAIL_QUALIFIERS.includes(qualifier)) issues.push({ ...at, message: `"${ref}": an e-mail target takes :authors or :list` });
  };
  for (const [kind, list] of Object.entries(cfg?.routes ?? {})) {
    if (!KIND.test(kind)) {
      const path = ['notify', 'routes', kind];
      issues.push({
        file,
        ...locate(path),
        path: path.join('.'),
        message: `"${kind}" is not an event kind (lowercase letters, digits, _ . -, e.g. blocked, deploy_live, or * for every event)`,
      });
    }
    list.forEach((ref, i) => check(ref, ['notify', 'routes', kind, i]));
  }
  onRegression.forEach((ref, i) => check(ref, ['on_regression', 'notify', i]));
  if (env) {
    for (const [name, t] of Object.entries(targets)) {
      for (const need of requiredEnv(t)) {
        if (env[need.name]) continue;
        const path = ['notify', 'targets', name, ...need.key];
        issues.push({
          file,
          ...locate(path),
          path: path.join('.'),
          message: `environment variable ${need.name} is not set (${t.type} target "${name}" reads its secret from it)`,
        });
      }
    }
  }
  return issues;
}
