// The SDK before (or without) a server: everyone is in control, nothing is recorded as an
// exposure, flags are off, and conversions wait in the bounded buffer.
import assert from 'node:assert/strict';
import { createExperimentsClient, type SdkLogger } from '../../../src/sdk/index.js';

describe('sdk without a server', () => {
  const logged: string[] = [];
  const logger: SdkLogger = { warn: (_o, m) => logged.push(m), error: (_o, m) => logged.push(m) };
  // Port 9 (discard) on loopback: nothing listens, connections are refused at once.
  const client = createExperimentsClient({
    url: 'http://127.0.0.1:9/',
    clientToken: 't',
    appName: 'unit',
    maxBuffer: 3,
    flushInterval: 60_000,
    closeTimeout: 300,
    logger,
  });

  it('puts every user in control without recording exposures, and flags are off', () => {
    assert.equal(client.branchFor('EnhancedCheckout', 'u1'), 'control');
    assert.equal(client.isEnabled('new-search', 'u1'), false);
    assert.equal(client.isEnabled('new-search'), false);
    assert.equal(client.buffered, 0);
  });

  it('keeps conversions up to maxBuffer and counts the rest as dropped', () => {
    for (let i = 0; i < 5; i++) client.track(`u${i}`, 'checkout', i);
    assert.equal(client.buffered, 3);
    assert.equal(client.dropped, 2);
    assert.ok(logged.some((m) => /buffer full/.test(m)));
  });

  it('gives up on close after closeTimeout, counting what was not sent as dropped', async () => {
    await client.close();
    assert.equal(client.buffered, 0);
    assert.equal(client.dropped, 5);
    assert.ok(logged.some((m) => /closing with events the server did not take/.test(m)));
  });
});
