// The Unleash delta API (GET /api/client/delta) for unleash-client's delta polling mode: the first
// call hydrates (every feature and segment), later calls with If-None-Match get only what changed
// since that revision (feature-updated, feature-removed, segment-updated, segment-removed), or 304.
// Revisions are made lazily, when a poll finds a new features document; the last REVISIONS are
// kept, and an older or foreign ETag (another server, a restart) gets a fresh hydration.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { FeaturesDocument } from '../core/experiments/features.js';
import type { ServerContext } from './context.js';
import { clientTokenCheck } from './experiments.js';

/** How many revisions a client may lag behind and still get a delta. */
export const REVISIONS = 100;

type Feature = FeaturesDocument['features'][number];
type Segment = NonNullable<FeaturesDocument['segments']>[number];

export type DeltaEvent =
  | { eventId: number; type: 'hydration'; features: Feature[]; segments: Segment[] }
  | { eventId: number; type: 'feature-updated'; feature: Feature }
  | { eventId: number; type: 'feature-removed'; featureName: string; project: string }
  | { eventId: number; type: 'segment-updated'; segment: Segment }
  | { eventId: number; type: 'segment-removed'; segmentId: number };

interface Revision {
  id: number;
  etag: string;
  doc: FeaturesDocument;
  features: Map<string, string>;
  segments: Map<number, string>;
  /** What changed from the previous revision to this one. */
  events: DeltaEvent[];
}

/** The events that take `from` to `to`: segments first (features may use them), removals last. */
export function diffDocuments(
  from: Pick<Revision, 'features' | 'segments' | 'doc'>,
  to: Pick<Revision, 'features' | 'segments' | 'doc'>,
  eventId: number,
): DeltaEvent[] {
  const events: DeltaEvent[] = [];
  for (const s of to.doc.segments ?? [])
    if (from.segments.get(s.id) !== to.segments.get(s.id)) events.push({ eventId, type: 'segment-updated', segment: s });
  for (const f of to.doc.features)
    if (from.features.get(f.name) !== to.features.get(f.name)) events.push({ eventId, type: 'feature-updated', feature: f });
  for (const f of from.doc.features)
    if (!to.features.has(f.name)) events.push({ eventId, type: 'feature-removed', featureName: f.name, project: f.project });
  for (const id of from.segments.keys()) if (!to.segments.has(id)) events.push({ eventId, type: 'segment-removed', segmentId: id });
  return events;
}

export class DeltaLog {
  private readonly boot = randomBytes(4).toString('hex');
  private revisions: Revision[] = [];

  /** The current revision for a served snapshot, recording a new one (with its diff) when the document changed. */
  revision(snap: { body: string; etag: string }): Revision {
    const last = this.revisions[this.revisions.length - 1];
    if (last && last.etag === snap.etag) return last;
    const doc = JSON.parse(snap.body) as FeaturesDocument;
    const next = {
      id: (last?.id ?? 0) + 1,
      etag: snap.etag,
      doc,
      features: new Map(doc.features.map((f) => [f.name, JSON.stringify(f)])),
      segments: new Map((doc.segments ?? []).map((s) => [s.id, JSON.stringify(s)])),
    };
    const rev: Revision = { ...next, events: last ? diffDocuments(last, next, next.id) : [] };
    this.revisions.push(rev);
    if (this.revisions.length > REVISIONS) this.revisions.shift();
    return rev;
  }

  etagOf(rev: Revision): string {
    return `"${this.boot}:${rev.id}"`;
  }

  /** Events a client at `ifNoneMatch` needs to reach `rev`: [] when it is there, a hydration when its revision is unknown. */
  eventsSince(ifNoneMatch: string | undefined, rev: Revision): DeltaEvent[] {
    const m = /^(?:W\/)?"([0-9a-f]+):(\d+)"$/.exec(ifNoneMatch ?? '');
    const since = m && m[1] === this.boot ? Number(m[2]) : undefined;
    if (since === rev.id) return [];
    const oldest = this.revisions[0]!.id;
    if (since === undefined || since < oldest || since > rev.id) {
      return [{ eventId: rev.id, type: 'hydration', features: rev.doc.features, segments: rev.doc.segments ?? [] }];
    }
    return this.revisions.filter((r) => r.id > since && r.id <= rev.id).flatMap((r) => r.events);
  }
}

export function registerUnleashDelta(app: FastifyInstance, ctx: ServerContext): void {
  const registry = ctx.experiments;
  const checkToken = clientTokenCheck(ctx);
  const log = new DeltaLog();
  app.get('/api/client/delta', async (req, reply) => {
    checkToken(req);
    const rev = log.revision(registry.loaded ?? (await registry.current()));
    const etag = log.etagOf(rev);
    const events = log.eventsSince(req.headers['if-none-match'], rev);
    void reply.header('etag', etag).header('cache-control', 'no-cache');
    if (events.length === 0) return reply.code(304).send();
    return reply.send({ events });
  });
}
