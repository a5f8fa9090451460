// The real unleash-client against our /api/client/* must pass @unleash/client-specification:
// each file's `state` is written as a flags file in experiments/, served by our server through
// the same loading path as users' files, and every `tests` and `variantTests` entry is asserted
// with the SDK. The delta files (19, 20) state a sequence of events: the client polls
// /api/client/delta while the flags file goes through the states those events describe, one
// file change per event, so it receives them as deltas from our server.
// Vectors: node_modules/@unleash/client-specification/specifications (v6.1.0).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InMemStorageProvider, Unleash, type Context } from 'unleash-client';
import { stringify } from 'yaml';
import { CLIENT_TOKEN, removeDir, startServer, tempDir, writeFiles, type TestServer } from './experiments-fixture.js';

const require = createRequire(import.meta.url);
const specDir = join(dirname(require.resolve('@unleash/client-specification/package.json')), 'specifications');
const files = JSON.parse(readFileSync(join(specDir, 'index.json'), 'utf8')) as string[];

type Feature = Record<string, unknown> & { name: string };
type Segment = Record<string, unknown> & { id: number };
type DeltaEvent =
  | { type: 'hydration'; features: Feature[]; segments?: Segment[] }
  | { type: 'feature-updated'; feature: Feature }
  | { type: 'feature-removed'; featureName: string }
  | { type: 'segment-updated'; segment: Segment }
  | { type: 'segment-removed'; segmentId: number };
interface State {
  features: Feature[];
  segments?: Segment[];
}

/** The state after each event of a delta spec. */
function deltaStates(events: DeltaEvent[]): State[] {
  let features = new Map<string, Feature>();
  let segments = new Map<number, Segment>();
  return events.map((e) => {
    if (e.type === 'hydration') {
      features = new Map(e.features.map((f) => [f.name, f]));
      segments = new Map((e.segments ?? []).map((x) => [x.id, x]));
    } else if (e.type === 'feature-updated') features.set(e.feature.name, e.feature);
    else if (e.type === 'feature-removed') features.delete(e.featureName);
    else if (e.type === 'segment-updated') segments.set(e.segment.id, e.segment);
    else segments.delete(e.segmentId);
    return { features: [...features.values()], segments: [...segments.values()] };
  });
}

interface Spec {
  name: string;
  state: State | { events: DeltaEvent[] };
  tests?: { description: string; context: Record<string, unknown>; toggleName: string; expectedResult: boolean }[];
  variantTests?: { description: string; context: Record<string, unknown>; toggleName: string; expectedResult: Record<string, unknown> }[];
}

/** A spec state as one of our flags files (Unleash's feature format is what `strategies:` takes). */
function flagsYaml(state: State): string {
  const flags = state.features.map((f) => {
    const { name, description, enabled, strategies, variants, dependencies } = f;
    return {
      name,
      ...(description === null || description === undefined ? {} : { description }),
      enabled,
      strategies,
      ...(variants ? { variants } : {}),
      ...(dependencies ? { dependencies } : {}),
    };
  });
  return stringify({ flags, segments: state.segments ?? [] });
}

async function client(url: string, appName: string, delta = false): Promise<Unleash> {
  const u = new Unleash({
    url: `${url}/api/`,
    appName,
    instanceId: 'spec',
    refreshInterval: delta ? 100 : 60_000,
    ...(delta ? { experimentalMode: { type: 'polling' as const, format: 'delta' as const } } : {}),
    disableMetrics: true,
    customHeaders: { Authorization: CLIENT_TOKEN },
    storageProvider: new InMemStorageProvider(),
  });
  u.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('unleash-client did not synchronize within 5s')), 5000);
    u.once('synchronized', () => {
      clearTimeout(t);
      resolve();
    });
  });
  return u;
}

describe('unleash client specification against our server', function () {
  this.timeout(30_000);
  for (const file of files) {
    const spec = JSON.parse(readFileSync(join(specDir, file), 'utf8')) as Spec;
    describe(file, () => {
      let dir: string;
      let server: TestServer;
      let unleash: Unleash;
      const states = 'events' in spec.state ? deltaStates(spec.state.events) : [spec.state];
      before(async () => {
        dir = tempDir();
        writeFiles(dir, { 'flags.yaml': flagsYaml(states[0]!) });
        server = await startServer(dir);
        const listed = (await (await fetch(`${server.url}/api/experiments`)).json()) as { errors: string[] };
        assert.deepEqual(listed.errors, [], 'the spec state loads as a flags file');
        unleash = await client(server.url, `spec-${file}`, 'events' in spec.state);
        for (const state of states.slice(1)) {
          // One event: the next state on disk, reloaded now; the client's next delta poll brings it.
          const changed = new Promise<void>((resolve, reject) => {
            const t = setTimeout(() => reject(new Error('unleash-client got no delta within 5s')), 5000);
            unleash.once('changed', () => {
              clearTimeout(t);
              resolve();
            });
          });
          writeFiles(dir, { 'flags.yaml': flagsYaml(state) });
          await server.ctx.experiments.refresh(true);
          await changed;
        }
        if ('events' in spec.state)
          assert.deepEqual(
            unleash
              .getFeatureToggleDefinitions()!
              .map((f) => f.name)
              .sort(),
            states[states.length - 1]!.features.map((f) => f.name).sort(),
          );
      });
      after(async () => {
        unleash?.destroy();
        await server?.close();
        removeDir(dir);
      });
      const context = (c: Record<string, unknown>): Context => c as Context;
      for (const t of spec.tests ?? []) {
        it(t.description, () => {
          assert.equal(unleash.isEnabled(t.toggleName, context(t.context)), t.expectedResult);
        });
      }
      for (const t of spec.variantTests ?? []) {
        it(`variant: ${t.description}`, () => {
          const v = unleash.getVariant(t.toggleName, context(t.context)) as unknown as Record<string, unknown>;
          for (const [k, expected] of Object.entries(t.expectedResult)) assert.deepEqual(v[k], expected, `${k} of ${JSON.stringify(v)}`);
        });
      }
    });
  }
});
