import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { knownHostMatches, shellQuote } from '../../../../src/adapters/runner/ssh-worker.js';

describe('adapters/runner/ssh-worker', () => {
  it('quotes arguments so the remote shell sees them verbatim', () => {
    assert.equal(shellQuote('plain-arg_1.js'), 'plain-arg_1.js');
    assert.equal(shellQuote("it's $(rm -rf /)"), `'it'\\''s $(rm -rf /)'`);
    assert.equal(shellQuote(''), "''");
  });

  it('accepts a host key only when known_hosts lists it for that host and port (plain or hashed)', () => {
    const salt = Buffer.from('0123456789abcdef0123');
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[10.0.0.9]:2222').digest('base64')}`;
    const kh = `# comment\n[127.0.0.2]:2200 ssh-ed25519 KEYA\nbuild1,10.0.0.5 ssh-ed25519 KEYB\n${hashed} ssh-ed25519 KEYC\n`;
    assert.ok(knownHostMatches(kh, '127.0.0.2', 2200, 'KEYA'));
    assert.ok(!knownHostMatches(kh, '127.0.0.2', 22, 'KEYA'));
    assert.ok(!knownHostMatches(kh, '127.0.0.2', 2200, 'KEYB'));
    assert.ok(knownHostMatches(kh, '10.0.0.5', 22, 'KEYB'));
    assert.ok(knownHostMatches(kh, '10.0.0.9', 2222, 'KEYC'));
    assert.ok(!knownHostMatches(kh, '10.0.0.9', 22, 'KEYC'));
  });
});
