// The notify adapter's front: builds every configured target and the queued notifier over them,
// and sends one test notification straight to a target (`immune notify test`).
import type { Logger } from 'pino';
import { deliveryFor, type NotifyConfig } from '../../core/config/notify.js';
import type { Notification, NotificationOutbox, Notifier } from '../../ports.js';
import { ImmuneError } from '../../core/errors.js';
import { createSender } from './factory.js';
import { createMemoryOutbox } from './memory-outbox.js';
import { createQueuedNotifier, type QueuedNotifier, type Target } from './notifier.js';

export type { NotificationStatus, QueuedNotifier, TargetStatus } from './notifier.js';
export { createMemoryOutbox } from './memory-outbox.js';

export interface BuildNotifierOptions {
  pipeline: string;
  config: NotifyConfig | undefined;
  onRegression?: string[];
  env: Record<string, string | undefined>;
  /** The store's queue; absent: in memory (pending notifications do not survive a restart). */
  outbox?: NotificationOutbox;
  log: Logger;
  tap?: Notifier;
  /** This immune's URL (CloudEvents source); default immune/<pipeline>. */
  source?: string;
  now?: () => number;
}

export function buildTargets(o: Pick<BuildNotifierOptions, 'config' | 'env' | 'source' | 'pipeline'>): Target[] {
  const out: Target[] = [];
  for (const [name, cfg] of Object.entries(o.config?.targets ?? {})) {
    const sender = createSender(name, cfg, { env: o.env, source: o.source ?? `immune/${o.pipeline}` });
    if (sender) out.push({ name, sender, delivery: deliveryFor(o.config, cfg) });
  }
  return out;
}

export function buildNotifier(o: BuildNotifierOptions): QueuedNotifier {
  const targets = buildTargets(o);
  let outbox = o.outbox;
  if (!outbox) {
    outbox = createMemoryOutbox();
    if (targets.length) o.log.warn('this store keeps no notification queue: notifications still pending at a restart are lost');
  }
  return createQueuedNotifier({ config: o.config, onRegression: o.onRegression, targets, outbox, log: o.log, tap: o.tap, now: o.now });
}

/** A test notification for a target, the way its real ones look. */
export function testNotification(pipeline: string, target: string, link: string | undefined, now: number): Notification {
  return {
    id: `${pipeline}:test:${target}:${now}`,
    kind: 'test',
    severity: 'critical',
    pipeline,
    time: now,
    title: `Test notification from immune (${pipeline} → ${target})`,
    body: `If you can read this, ${target} receives immune's notifications for ${pipeline}.`,
    link,
  };
}

/**
 * Send one test notification to `name` now, bypassing the queue. For a pager target the test
 * triggers an incident on its own dedup key and resolves it at once.
 */
export async function sendTest(
  o: Pick<BuildNotifierOptions, 'config' | 'env' | 'source' | 'pipeline'> & { target: string; link?: string; timeoutMs?: number },
): Promise<{ receipt: string; ms: number }> {
  const cfg = o.config?.targets?.[o.target];
  const names = Object.keys(o.config?.targets ?? {});
  if (!cfg)
    throw new ImmuneError(
      'IMMUNE_NOT_FOUND',
      `no notification target "${o.target}" (targets: ${names.length ? names.join(', ') : 'none; define them under notify.targets'})`,
    );
  if (cfg.type === 'console') return { receipt: 'console: printed', ms: 0 };
  const config: NotifyConfig =
    cfg.type === 'pager'
      ? {
          ...o.config!,
          targets: { [o.target]: { ...cfg, dedup_key: `${cfg.dedup_key ?? `immune/${o.pipeline}`}/test`, resolve_on: ['test_resolved'] } },
        }
      : o.config!;
  const [target] = buildTargets({ ...o, config: { ...config, targets: { [o.target]: config.targets[o.target]! } } });
  const t0 = Date.now();
  const send = async (n: Notification) => {
    const signal = AbortSignal.timeout(o.timeoutMs ?? target!.delivery.timeout);
    return target!.sender.send(n, { signal, now: Date.now() });
  };
  try {
    const n = testNotification(o.pipeline, o.target, o.link, t0);
    let receipt = await send(n);
    if (cfg.type === 'pager') receipt += `; resolved: ${await send({ ...n, id: `${n.id}:resolve`, kind: 'test_resolved' })}`;
    return { receipt, ms: Date.now() - t0 };
  } finally {
    await target!.sender.close?.();
  }
}
