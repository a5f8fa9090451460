// Notifications as CDEvents (spec v0.4.1) inside CloudEvents (the CDEvents CloudEvents binding:
// the CloudEvent's id, source, type and time are the CDEvent context's). Standard types where one
// fits; immune's own (dev.cdeventsx.immune-<subject>.<predicate>) for the rest, e.g. a blocked line.
import { CloudEvent } from 'cloudevents';
import { severityOf } from '../../core/config/notify.js';
import type { Notification } from '../../ports.js';
import { evidenceRows } from './sender.js';

export const CDEVENTS_VERSION = '0.4.1';

interface Mapped {
  type: string;
  subject: { id: string; source: string; type: string; content: Record<string, unknown> };
}

function mapKind(n: Notification, source: string): Mapped {
  const environment = { id: n.pipeline, source };
  const artifactId = `pkg:generic/${encodeURIComponent(n.pipeline)}@${n.sha ?? 'unknown'}`;
  const event = (type: string, subject: string, id: string, content: Record<string, unknown>): Mapped => ({
    type,
    subject: { id, source, type: subject, content },
  });
  switch (n.kind) {
    case 'deploy_live':
      return event('dev.cdevents.service.deployed.0.2.0', 'service', n.pipeline, { environment, artifactId });
    case 'rolled_back':
      return event('dev.cdevents.service.rolledback.0.2.0', 'service', n.pipeline, { environment, artifactId });
    case 'tests_failed':
      return event('dev.cdevents.testsuiterun.finished.0.2.0', 'testSuiteRun', n.id ?? `${n.deploy}/tests`, {
        environment,
        outcome: 'fail',
        severity: 'high',
        reason: n.body.slice(0, 1000),
        testSuite: { id: `${n.pipeline}/tests`, name: `${n.pipeline} tests` },
      });
    case 'flaky_test':
      // A test that failed, then passed on re-run: the case finished passing, flagged as flaky.
      return event('dev.cdevents.testcaserun.finished.0.2.0', 'testCaseRun', n.id ?? `${n.deploy}/flaky`, {
        environment,
        outcome: 'pass',
        severity: 'low',
        reason: `flaky: ${n.body.slice(0, 1000)}`,
        testCase: { id: n.body.split('\n')[0]?.slice(0, 200) ?? 'unknown', name: n.title.slice(0, 200) },
      });
    default: {
      // immune's own events: line.blocked, line.unblocked, deploy.reverted, deploy.failed, ...
      const [subject, predicate] =
        n.kind === 'blocked' || n.kind === 'unblocked'
          ? ['line', n.kind]
          : ['deploy', n.kind.replace(/^deploy_/, '').replace(/[^a-z0-9]/g, '')];
      return event(
        `dev.cdeventsx.immune-${subject}.${predicate}.0.1.0`,
        `immune-${subject}`,
        subject === 'line' ? n.pipeline : (n.deploy ?? n.pipeline),
        { pipeline: n.pipeline, deploy: n.deploy, sha: n.sha, reason: n.body },
      );
    }
  }
}

/** The CDEvent for a notification. `source` is a URI-reference naming this immune (e.g. its public URL). */
export function toCDEvent(n: Notification, source: string, id: string): Record<string, unknown> {
  const m = mapKind(n, source);
  const context: Record<string, unknown> = {
    version: CDEVENTS_VERSION,
    id,
    source,
    type: m.type,
    timestamp: new Date(n.time ?? Date.now()).toISOString(),
  };
  if (m.type.startsWith('dev.cdeventsx.'))
    context.schemaUri = `https://immune.dev/schemas/cdevents/${m.type.split('.')[2]}-${m.type.split('.')[3]}/0_1_0`;
  return {
    context,
    subject: m.subject,
    // Everything a receiver needs to act without calling back: the verdict, the evidence, the link.
    customData: {
      kind: n.kind,
      severity: severityOf(n.kind, n.severity),
      title: n.title,
      body: n.body,
      link: n.link,
      deploy: n.deploy,
      sha: n.sha,
      revert: n.revertSha,
      commits: n.commits,
      evidence: n.evidence ? { explanation: n.evidence.explanation, metrics: evidenceRows(n) } : undefined,
    },
    customDataContentType: 'application/json',
  };
}

export function toCloudEvent(n: Notification, source: string, id: string): CloudEvent<Record<string, unknown>> {
  const data = toCDEvent(n, source, id);
  const ctx = data.context as { type: string; timestamp: string };
  return new CloudEvent({
    specversion: '1.0',
    id,
    source,
    type: ctx.type,
    time: ctx.timestamp,
    subject: n.deploy ?? n.pipeline,
    datacontenttype: 'application/json',
    data,
  });
}
