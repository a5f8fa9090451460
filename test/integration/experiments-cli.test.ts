// `immune experiments list|results|close` as a user runs them: the real CLI against a server on loopback.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { ENGINEER_TOKEN, removeDir, startServer, tempDir, writeFiles, type TestServer } from './experiments-fixture.js';

const cli = (...args: string[]) =>
  execa('node', ['bin/immune.js', 'experiments', ...args], { reject: false, timeout: 30_000, env: { IMMUNE_URL: '', IMMUNE_TOKEN: '' } });

describe('immune experiments (CLI)', function () {
  this.timeout(60_000);
  let dir: string;
  let server: TestServer;
  before(async () => {
    dir = tempDir();
    writeFiles(dir, {
      'enhanced-checkout.yaml':
        'name: EnhancedCheckout\ninitial_rollout: 100%\nbranches: {Enhanced: 50%}\ngoals: [checkout]\nguardrails: [error_rate]\n',
      'flags.yaml': 'flags:\n  - name: payments\n    enabled: false\n',
    });
    server = await startServer(dir);
    const events = Array.from({ length: 400 }, (_, i) => ({
      type: 'exposure',
      experiment: 'EnhancedCheckout',
      groupId: 'EnhancedCheckout.phase1',
      branch: i % 2 ? 'Enhanced' : 'control',
      userId: `u${i}`,
      time: 1,
    }));
    await fetch(`${server.url}/api/events`, {
      method: 'POST',
      headers: { authorization: 'client-token-1', 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
  });
  after(async () => {
    await server.close();
    removeDir(dir);
  });

  it('lists experiments and flags, and prints results as JSON', async () => {
    const list = await cli('list', '--url', server.url);
    assert.equal(list.exitCode, 0, list.stderr);
    assert.match(list.stdout, /^EXPERIMENT\s+STATE\s+ROLLOUT\s+BRANCHES/m);
    assert.match(list.stdout, /^EnhancedCheckout\s+running\s+100%\s+control 50\.0%, Enhanced 50\.0%\s+1\s+checkout, !error_rate$/m);
    assert.match(list.stdout, /^payments\s+off \(kill switch\)$/m);
    const results = await cli('results', 'EnhancedCheckout', '--url', server.url, '--json');
    assert.equal(results.exitCode, 0, results.stderr);
    const r = JSON.parse(results.stdout) as { participants: number; decision: string };
    assert.equal(r.participants, 400);
    assert.equal(r.decision, 'no statistical significance');
    const human = await cli('results', 'EnhancedCheckout', '--url', server.url);
    assert.equal(human.exitCode, 0, human.stderr);
    assert.match(human.stdout, /^started\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC, running for \d+s$/m);
    assert.match(human.stdout, /^sample ratio\s+SRM: 200 \/ 200 participants against 50% \/ 50%: p=1\.0000, OK$/m);
    assert.match(human.stdout, /^exposures from\s+api 400$/m);
    assert.match(human.stdout, /^BRANCH\s+METRIC\s+CONVERTED\/USERS\s+RATE\s+LIFT/m);
    assert.match(human.stdout, /^Enhanced\s+checkout\s+0\/200\s+0%/m);
  });

  it('closes with a decision given an engineer token, and says why it cannot otherwise', async () => {
    const noReason = await cli('close', 'EnhancedCheckout', '--branch', 'Enhanced', '--reason', ' ', '--url', server.url);
    assert.equal(noReason.exitCode, 2);
    assert.match(noReason.stderr, /--reason: must not be empty/);
    const closed = await cli(
      'close',
      'EnhancedCheckout',
      '--branch',
      'Enhanced',
      '--reason',
      'checkout +12%',
      '--url',
      server.url,
      '--token',
      ENGINEER_TOKEN,
    );
    assert.equal(closed.exitCode, 0, closed.stderr);
    assert.equal(closed.stdout.trim(), 'EnhancedCheckout closed: everyone gets Enhanced (checkout +12%)');
    const wrong = await cli(
      'close',
      'EnhancedCheckout',
      '--branch',
      'control',
      '--reason',
      'again',
      '--url',
      server.url,
      '--token',
      ENGINEER_TOKEN,
    );
    assert.equal(wrong.exitCode, 1);
    assert.equal(
      wrong.stderr.trim(),
      'immune: POST /api/experiments/EnhancedCheckout/close: experiment EnhancedCheckout is already closed',
    );
  });
});
