// The real unleash-client against our /api/client/* must pass @unleash/client-specification:
// each file's `state` is written as a flags file in experiments/, served by our server through
// the same loading path as users' files, and every `tests` and `variantTests` entry is asserted
// with the SDK. Vectors: node_modules/@unleash/client-specification/specifications (v6.1.0).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InMemStorageProvider, Unleash, type Context } from 'unleash-client';
import { stringify } from 'yaml';
import { CLIENT_TOKEN, removeDir, startServer, tempDir, writeFiles, type TestServer } from './experiments-fixture.js';

const require = createRequire(import.meta.url);
const specDir = join(dirname(require.resolve('@unleash/client-specification/package.json')), 'specifications');
// 19 and 20 are the delta API (streamed events), which our server does not offer.
const files = (JSON.parse(readFileSync(join(specDir, 'index.json'), 'utf8')) as string[]).filter((f) => !/^(19|20)-/.test(f));

interface Spec {
  name: string;
  state: { features: Record<string, unknown>[]; segments?: unknown[] };
  tests?: { description: string; context: Record<string, unknown>; toggleName: string; expectedResult: boolean }[];
  variantTests?: { description: string; context: Record<string, unknown>; toggleName: string; expectedResult: Record<string, unknown> }[];
}

/** A spec state as one of our flags files (Unleash's feature format is what `strategies:` takes). */
function flagsYaml(state: Spec['state']): string {
  const flags = state.features.map((f) => {
    const { name, description, enabled, strategies, variants, dependencies } = f;
    return { name, description, enabled, strategies, ...(variants ? { variants } : {}), ...(dependencies ? { dependencies } : {}) };
  });
  return stringify({ flags, segments: state.segments ?? [] });
}

async function client(url: string, appName: string): Promise<Unleash> {
  const u = new Unleash({
    url: `${url}/api/`,
    appName,
    instanceId: 'spec',
    refreshInterval: 60_000,
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
      before(async () => {
        dir = tempDir();
        writeFiles(dir, { 'flags.yaml': flagsYaml(spec.state) });
        server = await startServer(dir);
        const listed = (await (await fetch(`${server.url}/api/experiments`)).json()) as { errors: string[] };
        assert.deepEqual(listed.errors, [], 'the spec state loads as a flags file');
        unleash = await client(server.url, `spec-${file}`);
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
