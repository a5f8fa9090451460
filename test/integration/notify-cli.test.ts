// `immune notify test` and `immune validate` run for real against loopback receivers and files.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startReceiver, type Receiver } from '../helpers/http-receiver.js';
import { immune, ROOT } from '../helpers/immune-cli.js';

describe('CLI notify and validate with notification targets', function () {
  this.timeout(60_000);
  let dir: string;
  let chat: Receiver;
  let pager: Receiver;
  let file: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'immune-notify-cli-'));
    [chat, pager] = await Promise.all([startReceiver(), startReceiver()]);
    file = join(dir, 'pipeline.yaml');
    writeFileSync(
      file,
      `${readFileSync(join(ROOT, 'pipelines/local.yaml'), 'utf8')}
notify:
  targets:
    chat: { type: chat, url_env: T_CHAT_URL }
    pager: { type: pager, url: '${pager.url}/v2/enqueue', routing_key_env: T_PD_KEY }
  routes:
    blocked: [pager, chat]
`,
    );
  });
  after(async () => {
    await Promise.all([chat?.close(), pager?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('notify test sends one message to a chat target and prints the answer', async () => {
    const r = await immune(['notify', 'test', 'chat', '-p', file, '--json'], { T_CHAT_URL: `${chat.url}/hook`, T_PD_KEY: 'k' });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { ok: boolean; target: string; receipt: string; ms: number };
    assert.equal(out.ok, true);
    assert.match(out.receipt, /^202/);
    assert.equal(chat.requests.length, 1);
    const body = JSON.parse(chat.requests[0]!.body) as { kind: string; text: string; pipeline: string };
    assert.equal(body.kind, 'test');
    assert.match(body.text, /Test notification from immune/);
  });

  it('a pager test triggers and resolves its own incident', async () => {
    const r = await immune(['notify', 'test', 'pager', '-p', file], { T_CHAT_URL: 'x', T_PD_KEY: 'R0UTE' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok pager: 202 .*; resolved: 202/);
    const [trigger, resolve] = pager.requests.map(
      (q) => JSON.parse(q.body) as { event_action: string; dedup_key: string; routing_key: string },
    );
    assert.equal(trigger!.event_action, 'trigger');
    assert.equal(resolve!.event_action, 'resolve');
    assert.equal(trigger!.dedup_key, 'immune/shop/test');
    assert.equal(resolve!.dedup_key, 'immune/shop/test');
    assert.equal(trigger!.routing_key, 'R0UTE');
  });

  it('notify test: a refusing receiver exits 1 with its answer; an unknown target names the valid ones (exit 2)', async () => {
    chat.script([500]);
    const r = await immune(['notify', 'test', 'chat', '-p', file], { T_CHAT_URL: `${chat.url}/hook`, T_PD_KEY: 'k' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /chat: 500 Internal Server Error/);
    const u = await immune(['notify', 'test', 'slack', '-p', file], { T_CHAT_URL: 'x', T_PD_KEY: 'k' });
    assert.equal(u.code, 2);
    assert.match(u.stderr, /no notification target "slack" \(targets: chat, pager\)/);
  });

  it('validate reports an unset secret variable at file:line:col, and --no-env skips it', async () => {
    const lines = readFileSync(file, 'utf8').split('\n');
    const line = lines.findIndex((l) => l.includes('T_CHAT_URL')) + 1;
    const r = await immune(['validate', file], { T_PD_KEY: 'k' });
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      new RegExp(`pipeline\\.yaml:${line}:\\d+ notify\\.targets\\.chat\\.url_env: environment variable T_CHAT_URL is not set`),
    );
    assert.ok(!r.stdout.includes('T_CHAT_URL=') && !r.stdout.includes(chat.url), 'no secret value printed');
    const skip = await immune(['validate', '--no-env', file]);
    assert.equal(skip.code, 0, skip.stdout);
  });
});
