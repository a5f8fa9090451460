// immune's OpenFeature server provider (src/sdk/openfeature.ts) under the real
// @openfeature/server-sdk against our server on loopback: values, variants, reasons and error
// codes; the same branch as immune's own SDK and OFREP for the same user; exposures recorded by the
// provider's hook and conversions sent with client.track() reaching the experiment's readout.
import assert from 'node:assert/strict';
import { OpenFeature, ProviderEvents } from '@openfeature/server-sdk';
import { createExperimentsClient } from '../../src/sdk/index.js';
import { ImmuneProvider } from '../../src/sdk/openfeature.js';
import {
  CHECKOUT_EXPERIMENT,
  CLIENT_TOKEN,
  PROTOCOL_FLAGS,
  removeDir,
  startServer,
  tempDir,
  writeFiles,
  type TestServer,
} from './experiments-fixture.js';

// Its own experiment, so only this test's users are counted in its readout.
const SIGNUP = 'name: Signup\ninitial_rollout: 100%\nbranches: {Short: 50%}\ngoals: [checkout]\n';
const quiet = { warn: () => undefined, error: () => undefined };

async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('OpenFeature provider (immune/openfeature) with @openfeature/server-sdk', function () {
  this.timeout(30_000);
  let dir: string;
  let server: TestServer;
  let provider: ImmuneProvider;
  let client: ReturnType<typeof OpenFeature.getClient>;
  before(async () => {
    dir = tempDir();
    writeFiles(dir, { 'flags.yaml': PROTOCOL_FLAGS, 'checkout.yaml': CHECKOUT_EXPERIMENT, 'signup.yaml': SIGNUP });
    server = await startServer(dir);
    provider = new ImmuneProvider({
      url: server.url,
      clientToken: CLIENT_TOKEN,
      appName: 'shop',
      refreshInterval: 200,
      flushInterval: 50,
      logger: quiet,
    });
    await OpenFeature.setProviderAndWait('immune', provider);
    client = OpenFeature.getClient('immune');
  });
  after(async () => {
    await OpenFeature.close();
    await server?.close();
    removeDir(dir);
  });

  it('evaluates flags with OpenFeature values, variants and reasons', async () => {
    const on = await client.getBooleanDetails('on-flag', false, { targetingKey: 'u1' });
    assert.deepEqual([on.value, on.variant, on.reason], [true, 'on', 'STATIC']);
    const off = await client.getBooleanDetails('off-flag', true, { targetingKey: 'u1' });
    assert.deepEqual([off.value, off.reason], [false, 'DISABLED']);
    assert.equal(await client.getBooleanValue('beta-users', false, { targetingKey: 'u1', plan: 'beta' }), true);
    const free = await client.getBooleanDetails('beta-users', true, { targetingKey: 'u1', plan: 'free' });
    assert.deepEqual([free.value, free.reason], [false, 'DEFAULT']);
    const theme = await client.getObjectDetails('theme', {}, { targetingKey: 'u1' });
    assert.deepEqual(theme.value, { bg: theme.variant === 'dark' ? '#000' : '#fff' });
    assert.equal(theme.reason, 'SPLIT');
  });

  it('maps errors to OpenFeature error codes, with the default value', async () => {
    const missing = await client.getBooleanDetails('nope', true, { targetingKey: 'u1' });
    assert.deepEqual([missing.value, missing.errorCode, missing.reason], [true, 'FLAG_NOT_FOUND', 'ERROR']);
    const noKey = await client.getStringDetails('Checkout', 'fallback', {});
    assert.deepEqual([noKey.value, noKey.errorCode], ['fallback', 'TARGETING_KEY_MISSING']);
    const wrong = await client.getStringDetails('on-flag', 'x', { targetingKey: 'u1' });
    assert.deepEqual([wrong.value, wrong.errorCode], ['x', 'TYPE_MISMATCH']);
  });

  it('gives each user the branch immune/sdk and OFREP give', async () => {
    const sdk = createExperimentsClient({ url: server.url, clientToken: CLIENT_TOKEN, appName: 'shop', logger: quiet });
    try {
      await sdk.ready();
      let enhanced = 0;
      for (let i = 0; i < 60; i++) {
        const user = `same-${i}`;
        const d = await client.getStringDetails('Checkout', 'control', { targetingKey: user });
        assert.equal(d.value, sdk.branchFor('Checkout', user), user);
        const ofrep = (await (
          await fetch(`${server.url}/ofrep/v1/evaluate/flags/Checkout`, {
            method: 'POST',
            headers: { authorization: CLIENT_TOKEN, 'content-type': 'application/json' },
            body: JSON.stringify({ context: { targetingKey: user } }),
          })
        ).json()) as { value: string };
        assert.equal(ofrep.value, d.value, user);
        if (d.value === 'Enhanced') enhanced++;
      }
      assert.ok(enhanced > 15 && enhanced < 45, `${enhanced}/60 Enhanced`);
    } finally {
      await sdk.close();
    }
  });

  it('records exposures through its hook and conversions through client.track, as the readout shows', async () => {
    const users = Array.from({ length: 60 }, (_, i) => `of-${i}`);
    const branch = new Map<string, string>();
    for (const u of users) branch.set(u, await client.getStringValue('Signup', 'control', { targetingKey: u }));
    // Evaluating again does not expose twice.
    for (const u of users.slice(0, 10)) await client.getStringValue('Signup', 'control', { targetingKey: u });
    for (const u of users.slice(0, 20)) client.track('checkout', { targetingKey: u }, { value: 12.5 });
    await provider.client.flush();
    type Results = {
      participants: number;
      sources: { exposures: Record<string, number>; conversions: Record<string, number> };
      branches: { name: string; participants: number; metrics: { name: string; converted: number }[] }[];
    };
    const r = await until(
      'the readout',
      async () => (await (await fetch(`${server.url}/api/experiments/Signup/results`)).json()) as Results,
      (x) => (x.sources.exposures.openfeature ?? 0) >= 60,
    );
    assert.equal(r.sources.exposures.openfeature, 60, JSON.stringify(r.sources));
    assert.equal(r.sources.conversions.openfeature, 20, JSON.stringify(r.sources));
    assert.equal(r.participants, 60);
    for (const b of r.branches) {
      assert.equal(b.participants, users.filter((u) => branch.get(u) === b.name).length, b.name);
      const converted = users.slice(0, 20).filter((u) => branch.get(u) === b.name).length;
      assert.equal(b.metrics.find((m) => m.name === 'checkout')?.converted, converted, `${b.name} converted`);
    }
  });

  it('emits ConfigurationChanged when the flags change on the server', async () => {
    const changed = new Promise<void>((resolve) => client.addHandler(ProviderEvents.ConfigurationChanged, () => resolve()));
    writeFiles(dir, { 'flags.yaml': `${PROTOCOL_FLAGS}  - name: brand-new\n` });
    await server.ctx.experiments.refresh(true);
    await changed;
    assert.equal(await client.getBooleanValue('brand-new', false, { targetingKey: 'u1' }), true);
  });
});
