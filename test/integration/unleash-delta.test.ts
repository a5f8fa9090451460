// GET /api/client/delta as unleash-client's delta mode reads it: a hydration first, then only the
// changes since the ETag the client sends (feature-updated, feature-removed, segment-updated), 304
// when nothing changed, and a fresh hydration for an ETag this server did not issue.
import assert from 'node:assert/strict';
import { CLIENT_TOKEN, removeDir, startServer, tempDir, writeFiles, type TestServer } from './experiments-fixture.js';

interface DeltaBody {
  events: {
    eventId: number;
    type: string;
    feature?: { name: string; enabled: boolean };
    featureName?: string;
    features?: { name: string }[];
    segment?: { id: number };
  }[];
}

describe('Unleash delta API', function () {
  this.timeout(20_000);
  let dir: string;
  let server: TestServer;
  before(async () => {
    dir = tempDir();
    writeFiles(dir, { 'flags.yaml': 'flags:\n  - name: a\n  - name: b\n    enabled: false\n' });
    server = await startServer(dir);
  });
  after(async () => {
    await server?.close();
    removeDir(dir);
  });

  const get = (etag?: string) =>
    fetch(`${server.url}/api/client/delta`, { headers: { authorization: CLIENT_TOKEN, ...(etag ? { 'if-none-match': etag } : {}) } });
  const change = async (yaml: string) => {
    writeFiles(dir, { 'flags.yaml': yaml });
    await server.ctx.experiments.refresh(true);
  };

  it('needs a client token', async () => {
    assert.equal((await fetch(`${server.url}/api/client/delta`)).status, 401);
  });

  it('hydrates, then sends only what changed, then 304', async () => {
    const first = await get();
    assert.equal(first.status, 200);
    const hydration = (await first.json()) as DeltaBody;
    assert.equal(hydration.events.length, 1);
    assert.equal(hydration.events[0]!.type, 'hydration');
    assert.deepEqual(
      hydration.events[0]!.features!.map((f) => f.name),
      ['a', 'b'],
    );
    const etag1 = first.headers.get('etag')!;

    const same = await get(etag1);
    assert.equal(same.status, 304);

    await change('flags:\n  - name: a\n  - name: b\n  - name: c\n    rollout: 10%\n');
    const second = await get(etag1);
    assert.equal(second.status, 200);
    const delta = (await second.json()) as DeltaBody;
    assert.deepEqual(
      delta.events.map((e) => [e.type, e.feature?.name, e.feature?.enabled]),
      [
        ['feature-updated', 'b', true],
        ['feature-updated', 'c', true],
      ],
    );
    const etag2 = second.headers.get('etag')!;
    assert.notEqual(etag2, etag1);

    await change(
      'flags:\n  - name: c\n    rollout: 10%\nsegments:\n  - id: 7\n    constraints: [{ contextName: appName, operator: IN, values: [shop] }]\n',
    );
    const third = (await (await get(etag2)).json()) as DeltaBody;
    assert.deepEqual(
      third.events.map((e) => [e.type, e.featureName ?? e.feature?.name ?? e.segment?.id]),
      [
        ['segment-updated', 7],
        ['feature-removed', 'a'],
        ['feature-removed', 'b'],
      ],
    );
    // A client two revisions behind gets both steps, in order.
    const behind = (await (await get(etag1)).json()) as DeltaBody;
    assert.deepEqual(
      behind.events.map((e) => e.type),
      ['feature-updated', 'feature-updated', 'segment-updated', 'feature-removed', 'feature-removed'],
    );
  });

  it('answers an ETag it did not issue with a hydration', async () => {
    const body = (await (await get('"deadbeef:1"')).json()) as DeltaBody;
    assert.deepEqual(
      body.events.map((e) => e.type),
      ['hydration'],
    );
  });
});
