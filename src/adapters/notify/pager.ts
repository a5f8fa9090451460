// On-call paging in the shape of PagerDuty's Events API v2: a trigger for events at or above the
// target's severity (a blocked line, a failed rollback, servers on an unknown build), a resolve on
// unblock or recovery, one dedup key per pipeline so every page of a line is one incident.
import { SEVERITY_RANK, severityOf, type NotifyTargetConfig } from '../../core/config/notify.js';
import type { Notification } from '../../ports.js';
import { evidenceRows, postJson, type SendContext, type Sender } from './sender.js';

type PagerConfig = Extract<NotifyTargetConfig, { type: 'pager' }>;

export function pagerAction(cfg: PagerConfig, n: Notification): 'trigger' | 'resolve' | undefined {
  if (cfg.resolve_on.includes(n.kind)) return 'resolve';
  return SEVERITY_RANK[severityOf(n.kind, n.severity)] >= SEVERITY_RANK[cfg.severity] ? 'trigger' : undefined;
}

export function pagerPayload(cfg: PagerConfig, routingKey: string, n: Notification): Record<string, unknown> | undefined {
  const action = pagerAction(cfg, n);
  if (!action) return undefined;
  const dedup_key = cfg.dedup_key ?? `immune/${n.pipeline}`;
  if (action === 'resolve') return { routing_key: routingKey, event_action: 'resolve', dedup_key };
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key,
    payload: {
      summary: n.title.slice(0, 1024),
      source: `immune/${n.pipeline}`,
      severity: severityOf(n.kind, n.severity),
      timestamp: new Date(n.time ?? Date.now()).toISOString(),
      component: n.pipeline,
      group: 'deploys',
      class: n.kind,
      custom_details: {
        body: n.body,
        deploy: n.deploy,
        sha: n.sha,
        revert: n.revertSha,
        authors: n.commits?.map((c) => `${c.author} <${c.email}>`),
        evidence: n.evidence ? { explanation: n.evidence.explanation, metrics: evidenceRows(n) } : undefined,
      },
    },
    client: 'immune',
    ...(n.link ? { client_url: n.link, links: [{ href: n.link, text: 'Deploy page' }] } : {}),
  };
}

export function createPagerSender(cfg: PagerConfig, routingKey: string): Sender {
  return {
    type: 'pager',
    accepts: (n) => pagerAction(cfg, n) !== undefined,
    async send(n: Notification, ctx: SendContext) {
      const body = pagerPayload(cfg, routingKey, n);
      if (!body) return 'nothing to page';
      return postJson(cfg.url, body, ctx.signal);
    },
  };
}
