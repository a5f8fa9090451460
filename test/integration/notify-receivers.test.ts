// Notifications end to end with real receivers on loopback: the real engine on the simulated fleet
// ships a good commit and reverts a bad one; a real SMTP server (smtp-server) gets the revert mail,
// a pager receiver gets one trigger and, after the unblock, one resolve on the same dedup key, a
// webhook receiver checks the HMAC with the documented snippet and the CloudEvents/CDEvents fields
// with the cloudevents SDK, Slack and Teams receivers check the payloads against their schemas.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CloudEvent, HTTP } from 'cloudevents';
import pino from 'pino';
import { SMTPServer } from 'smtp-server';
import { buildNotifier, type QueuedNotifier } from '../../src/adapters/notify/index.js';
import { openSqliteStore } from '../../src/adapters/store/sqlite/index.js';
import { parsePipeline } from '../../src/core/config/index.js';
import { inProcessJudge } from '../../src/adapters/judge/in-process.js';
import { Engine } from '../../src/engine/engine.js';
import { EventBus } from '../../src/engine/events.js';
import type { Store } from '../../src/ports.js';
import { VirtualClock } from '../../src/sim/clock.js';
import { SimFleet } from '../../src/sim/fleet.js';
import { startReceiver, type Receiver } from '../helpers/http-receiver.js';
import { waitFor } from '../helpers/line.js';
import { MemoryRepo } from '../helpers/memory-repo.js';

const ROOT = new URL('../..', import.meta.url).pathname;

/** The verification snippet exactly as docs/notifications.md prints it, loaded as a module. */
async function docSnippet(dir: string): Promise<{
  createVerifier: (
    secret: string,
    o?: { toleranceSeconds?: number },
  ) => (body: string, header: string, nowMs?: number) => { ok: boolean; reason?: string };
}> {
  const md = readFileSync(join(ROOT, 'docs/notifications.md'), 'utf8');
  const m = /<!-- verify-snippet:start -->\s*```js\n([\s\S]*?)```\s*<!-- verify-snippet:end -->/.exec(md);
  assert.ok(m, 'docs/notifications.md has the verification snippet');
  const file = join(dir, 'verify.mjs');
  writeFileSync(file, m[1]!);
  return import(pathToFileURL(file).href);
}

/** Just enough MIME for nodemailer's output: unfolded headers, and each text part decoded. */
function parseMail(raw: string): { headers: Map<string, string>; subject: string; text: string; html: string } {
  const [head, ...rest] = raw.split(/\r?\n\r?\n/);
  const headers = new Map<string, string>();
  for (const line of head!.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    headers.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
  }
  const body = rest.join('\n\n');
  const boundary = /boundary="?([^";]+)"?/.exec(headers.get('content-type') ?? '')?.[1];
  const parts = boundary ? body.split(`--${boundary}`).slice(1, -1) : [`\n${body}`];
  let text = '';
  let html = '';
  for (const part of parts) {
    const [ph, ...pb] = part.replace(/^\r?\n/, '').split(/\r?\n\r?\n/);
    const content = pb.join('\n\n');
    const enc = /content-transfer-encoding:\s*(\S+)/i.exec(ph!)?.[1]?.toLowerCase();
    const decoded =
      enc === 'base64'
        ? Buffer.from(content.replace(/\s+/g, ''), 'base64').toString('utf8')
        : enc === 'quoted-printable'
          ? Buffer.from(
              content.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
              'latin1',
            ).toString('utf8')
          : content;
    if (/text\/html/i.test(ph!)) html = decoded;
    else if (/text\/plain/i.test(ph!)) text = decoded.replace(/\r\n/g, '\n');
  }
  // RFC 2047 encoded words (nodemailer folds long subjects into them).
  const subject = (headers.get('subject') ?? '').replace(/=\?UTF-8\?Q\?(.*?)\?=\s*/gi, (_, q: string) =>
    Buffer.from(
      q.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
      'latin1',
    ).toString('utf8'),
  );
  return { headers, subject, text, html };
}

interface Mail {
  from: string;
  to: string[];
  raw: string;
}

/** Block Kit's documented limits for what we send (api.slack.com/reference/block-kit). */
function checkSlack(p: { text?: unknown; blocks?: Record<string, unknown>[] }): void {
  assert.equal(typeof p.text, 'string', 'text fallback');
  assert.ok(Array.isArray(p.blocks) && p.blocks.length >= 1 && p.blocks.length <= 50, 'blocks: 1..50');
  const plain = (t: unknown, max: number) => {
    const o = t as { type: string; text: string };
    assert.equal(o.type, 'plain_text');
    assert.ok(o.text.length >= 1 && o.text.length <= max, `plain_text within ${max}`);
  };
  const text = (t: unknown, max: number) => {
    const o = t as { type: string; text: string };
    assert.ok(o.type === 'mrkdwn' || o.type === 'plain_text', `text object type ${o.type}`);
    assert.ok(o.text.length >= 1 && o.text.length <= max, `text within ${max}`);
  };
  for (const b of p.blocks) {
    switch (b.type) {
      case 'header':
        plain(b.text, 150);
        break;
      case 'section':
        assert.ok(b.text || b.fields, 'section has text or fields');
        if (b.text) text(b.text, 3000);
        if (b.fields) {
          assert.ok((b.fields as unknown[]).length <= 10, 'at most 10 fields');
          for (const f of b.fields as unknown[]) text(f, 2000);
        }
        break;
      case 'actions':
        assert.ok((b.elements as unknown[]).length <= 25);
        for (const e of b.elements as Record<string, unknown>[]) {
          assert.equal(e.type, 'button');
          plain(e.text, 75);
          assert.ok(typeof e.url === 'string' && e.url.length <= 3000);
          assert.ok(typeof e.action_id === 'string' && e.action_id.length <= 255);
        }
        break;
      case 'context':
        assert.ok((b.elements as unknown[]).length >= 1 && (b.elements as unknown[]).length <= 10);
        break;
      default:
        assert.fail(`unexpected block type ${String(b.type)}`);
    }
    assert.deepEqual(
      Object.keys(b).filter((k) => !['type', 'text', 'fields', 'elements', 'block_id', 'accessory'].includes(k)),
      [],
      'no unknown block keys',
    );
  }
}

/** The Teams incoming-webhook envelope and the Adaptive Card parts we use (adaptivecards.io schema 1.4). */
function checkTeams(p: Record<string, unknown>, link: string): void {
  assert.equal(p.type, 'message');
  const [att, ...more] = p.attachments as Record<string, unknown>[];
  assert.equal(more.length, 0);
  assert.equal(att!.contentType, 'application/vnd.microsoft.card.adaptive');
  assert.equal(att!.contentUrl, null);
  const card = att!.content as Record<string, unknown>;
  assert.equal(card.type, 'AdaptiveCard');
  assert.equal(card.$schema, 'http://adaptivecards.io/schemas/adaptive-card.json');
  assert.equal(card.version, '1.4');
  for (const el of card.body as Record<string, unknown>[]) {
    assert.ok(['TextBlock', 'FactSet'].includes(el.type as string), `element ${String(el.type)}`);
    if (el.type === 'TextBlock') assert.equal(typeof el.text, 'string');
    if (el.type === 'FactSet')
      for (const f of el.facts as { title: unknown; value: unknown }[])
        assert.ok(typeof f.title === 'string' && typeof f.value === 'string');
    if (el.color !== undefined)
      assert.ok(['Default', 'Dark', 'Light', 'Accent', 'Good', 'Warning', 'Attention'].includes(el.color as string));
  }
  const [open] = card.actions as Record<string, unknown>[];
  assert.equal(open!.type, 'Action.OpenUrl');
  assert.equal(open!.url, link);
}

describe('notifications to real receivers on loopback (engine on the simulation)', function () {
  this.timeout(60_000);
  let dir: string;
  let store: Store;
  let engine: Engine | undefined;
  let notifier: QueuedNotifier | undefined;
  let smtp: SMTPServer;
  let smtpPort: number;
  const mails: Mail[] = [];
  let pager: Receiver, hooks: Receiver, slack: Receiver, teams: Receiver;
  const SECRET = 'whsec-test-0123456789';
  const PUBLIC = 'http://immune.test:7070';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'immune-notify-'));
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          cb();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    smtpPort = (smtp.server.address() as { port: number }).port;
    [pager, hooks, slack, teams] = await Promise.all([startReceiver(), startReceiver(), startReceiver(), startReceiver()]);
  });

  after(async () => {
    await engine?.stop();
    await notifier?.stop();
    await store?.close();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
    await Promise.all([pager, hooks, slack, teams].map((r) => r?.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('tells every target about a revert and a block, pages once, resolves on unblock', async () => {
    const yaml = `name: sim
repo: { url: sim://shop, poll_interval: 1s }
fleet: { type: local, servers: 8 }
metrics:
  definitions:
    - { name: error_rate, kind: ratio, numerator: 'e{code=~"5.."}', denominator: e, bad: increase, critical: true }
    - { name: checkout_error_rate, kind: ratio, numerator: 'c{code=~"5.."}', denominator: c, bad: increase, critical: true }
rollout:
  interval: 2s
  min_bake: 30s
  max_bake: 90s
  steps: [{ servers: 1 }, { percent: 100% }]
watch: { duration: 10s, window: 30s }
notify:
  backoff: 50ms
  targets:
    email: { type: email, from: immune@immune.test, to: [captains@example.com], smtp: { host: 127.0.0.1, port: ${smtpPort}, starttls: off } }
    pager: { type: pager, url: '${pager.url}/v2/enqueue', routing_key_env: T_PD_KEY }
    hooks: { type: webhook, url: '${hooks.url}/events', secret_env: T_HOOK_SECRET }
    slack: { type: slack, url_env: T_SLACK_URL }
    teams: { type: teams, url_env: T_TEAMS_URL }
  routes:
    blocked: [pager, slack, teams, email]
    unblocked: [pager, slack]
    live: [slack]
    '*': [hooks]
`;
    const env = {
      T_PD_KEY: 'R0UTINGKEY',
      T_HOOK_SECRET: SECRET,
      T_SLACK_URL: `${slack.url}/services/T/B/x`,
      T_TEAMS_URL: `${teams.url}/webhookb2/x`,
    };
    const config = parsePipeline(yaml, 'sim.yaml', { env });
    const clock = new VirtualClock(Date.UTC(2026, 0, 1));
    const fleet = new SimFleet(clock, {
      servers: 8,
      rps: 50,
      errorRate: 0,
      checkoutShare: 0.15,
      outlierProbability: 0,
      seed: 11,
      activateMs: 500,
    });
    const repo = new MemoryRepo();
    repo.author = 'Dev One';
    repo.email = 'dev.one@example.com';
    const good = 'a'.repeat(40);
    const bad = 'b'.repeat(40);
    repo.push(good, 'good change');
    fleet.inject(bad, { checkoutFailure: 0.3 });
    store = openSqliteStore(join(dir, 'immune.db'));
    const log = pino({ level: 'silent' });
    notifier = buildNotifier({ pipeline: 'sim', config: config.notify, env, outbox: store.notifications, log, source: PUBLIC });
    notifier.start();
    engine = new Engine({
      config,
      repo,
      builder: { build: async (co) => ({ id: `r-${co.sha.slice(0, 8)}`, sha: co.sha, path: '/nonexistent.tar.gz', bytes: 1 }) },
      fleet,
      metrics: fleet,
      store,
      notifier,
      clock,
      events: new EventBus(),
      log,
      judge: inProcessJudge,
      publicUrl: PUBLIC,
    });
    await engine.start();
    await clock.sleep(2000);
    await engine.idle(600_000);
    repo.push(bad, 'bad change: checkout crashes');
    await clock.sleep(2000);
    await engine.idle(600_000);
    assert.equal((await engine.status()).blocked, true);
    const [deploy] = await store.line.listDeploys('sim', { limit: 1 });
    const link = `${PUBLIC}/#/deploys/${deploy!.id}`;

    // --- the revert mail, through a real SMTP server
    await waitFor(async () => mails.length >= 1, 15_000, 'the mail');
    assert.equal(mails.length, 1, 'one mail for the block');
    const mail = mails[0]!;
    assert.deepEqual(mail.to.sort(), ['captains@example.com', 'dev.one@example.com']);
    assert.equal(mail.from, 'immune@immune.test');
    const parsed = parseMail(mail.raw);
    assert.match(parsed.subject, /^\[immune\] Line blocked: bbbbbbbb "bad change: checkout crashes" by Dev One reverted in f{8}/);
    const text = parsed.text;
    assert.match(
      text,
      /checkout_error_rate\s+fail\s+\S+\s+\S+\.\.\S+\s+(?:0\.00\d+|<0\.0001)\s+0\.00 -> 0\.\d+\s+\d+ baseline \/ 1 canary/,
      `the evidence row: metric, verdict, change, interval, p, estimates, servers:\n${text}`,
    );
    assert.match(
      text,
      /\n\s*checkout_error_rate 0% → [\d.]+% \(\d+ of \d+ on the canary vs 0 of \d+ on the baseline: at least \+[\d.]+ pp/,
      `the counts and the interval behind it:\n${text}`,
    );
    assert.ok(text.includes(`Deploy page: ${link}`), text);
    assert.ok((parsed.html || '').includes(`href="${link}"`), 'HTML has the link');
    assert.ok((parsed.html || '').includes('<table'), 'HTML has the evidence table');
    const root = `<deploy.sim.${deploy!.id}@immune.test>`;
    assert.equal(parsed.headers.get('in-reply-to'), root, 'threaded by deploy');
    assert.equal(parsed.headers.get('references'), root);
    assert.equal(parsed.headers.get('x-immune-deploy'), deploy!.id);

    // --- the pager: one trigger for the block, then a resolve on unblock, one dedup key
    await waitFor(async () => pager.accepted().length >= 1, 15_000, 'the page');
    const trig = JSON.parse(pager.accepted()[0]!.body);
    assert.equal(pager.accepted()[0]!.path, '/v2/enqueue');
    assert.equal(trig.event_action, 'trigger');
    assert.equal(trig.routing_key, 'R0UTINGKEY');
    assert.equal(trig.dedup_key, 'immune/sim');
    assert.equal(trig.payload.severity, 'critical');
    assert.equal(trig.payload.source, 'immune/sim');
    assert.ok(trig.payload.summary.length <= 1024 && trig.payload.summary.startsWith('Line blocked'));
    assert.ok(!Number.isNaN(Date.parse(trig.payload.timestamp)));
    assert.equal(trig.links[0].href, link);
    await engine.unblock('fixed forward', 'token:captain');
    await waitFor(async () => pager.accepted().length >= 2, 15_000, 'the resolve');
    const res = JSON.parse(pager.accepted()[1]!.body);
    assert.deepEqual(res, { routing_key: 'R0UTINGKEY', event_action: 'resolve', dedup_key: 'immune/sim' });
    await notifier.settled();
    assert.equal(pager.requests.length, 2, 'a live deploy does not page; the rolled_back event is not routed to the pager');

    // --- the webhook: every event, signed, CloudEvents carrying CDEvents
    const { createVerifier } = await docSnippet(dir);
    const verify = createVerifier(SECRET);
    const events = hooks.accepted().map((r) => {
      assert.equal(r.headers['content-type'], 'application/cloudevents+json; charset=utf-8');
      assert.deepEqual(
        verify(r.body, String(r.headers['immune-signature'])),
        { ok: true },
        'signature verifies with the documented snippet',
      );
      const ce = HTTP.toEvent({ headers: r.headers, body: r.body }) as CloudEvent<Record<string, Record<string, unknown>>>;
      assert.ok(ce.validate(), 'a valid CloudEvent');
      return ce;
    });
    const types = events.map((e) => e.type);
    assert.ok(types.includes('dev.cdevents.service.deployed.0.2.0'), types.join());
    assert.ok(types.includes('dev.cdevents.service.rolledback.0.2.0'), types.join());
    assert.ok(types.includes('dev.cdeventsx.immune-line.blocked.0.1.0'), types.join());
    assert.ok(types.includes('dev.cdeventsx.immune-line.unblocked.0.1.0'), types.join());
    for (const e of events) {
      const ctx = e.data!.context!;
      assert.equal(e.specversion, '1.0');
      assert.equal(ctx.version, '0.4.1');
      assert.equal(ctx.id, e.id);
      assert.equal(ctx.type, e.type);
      assert.equal(ctx.source, e.source);
      assert.equal(e.source, PUBLIC);
      assert.equal(new Date(ctx.timestamp as string).toISOString(), new Date(e.time!).toISOString());
    }
    const rolled = events.find((e) => e.type === 'dev.cdevents.service.rolledback.0.2.0')!;
    assert.deepEqual(rolled.data!.subject!.content, { environment: { id: 'sim', source: PUBLIC }, artifactId: `pkg:generic/sim@${bad}` });
    assert.equal(rolled.data!.subject!.type, 'service');
    assert.equal(rolled.id, `${deploy!.id}:rolled_back:0`, 'the event id is stable: deploy, kind, step');
    const blocked = events.find((e) => e.type === 'dev.cdeventsx.immune-line.blocked.0.1.0')!;
    assert.equal((blocked.data!.customData as { link: string }).link, link);

    // A replayed delivery and a tampered body are refused by the same snippet.
    const first = hooks.accepted()[0]!;
    const sig = String(first.headers['immune-signature']);
    assert.deepEqual(verify(first.body, sig), { ok: false, reason: 'replayed' });
    const fresh = createVerifier(SECRET);
    assert.deepEqual(fresh(first.body.replace('"sim"', '"evil"'), sig), { ok: false, reason: 'signature mismatch' });
    assert.deepEqual(fresh(first.body, sig, Date.now() + 10 * 60_000), { ok: false, reason: 'timestamp outside the window' });
    assert.deepEqual(createVerifier('another-secret')(first.body, sig), { ok: false, reason: 'signature mismatch' });

    // --- Slack and Teams payloads against their schemas
    const slackBodies = slack.accepted().map((r) => JSON.parse(r.body));
    // Live, blocked, unblocked; after the unblock the revert itself may go live on the open line.
    const texts = slackBodies.map((b) => String(b.text));
    assert.ok(texts.length === 3 || texts.length === 4, `live, blocked, unblocked (then the revert live): ${texts.join(' | ')}`);
    assert.match(texts[0]!, /"good change" by Dev One is live/);
    assert.match(texts[1]!, /^Line blocked: bbbbbbbb/);
    assert.match(texts[2]!, /^Line sim unblocked by token:captain/);
    if (texts[3]) assert.match(texts[3], /"Revert b{40}" by Dev One is live/);
    for (const b of slackBodies) checkSlack(b);
    const slackBlocked = slackBodies.find((b) => /Line blocked/.test(b.text))!;
    assert.ok(JSON.stringify(slackBlocked).includes('checkout_error_rate'));
    assert.equal(slackBlocked.blocks.find((b: { type: string }) => b.type === 'actions').elements[0].url, link);
    const teamsBodies = teams.accepted().map((r) => JSON.parse(r.body));
    assert.equal(teamsBodies.length, 1);
    checkTeams(teamsBodies[0], link);

    // --- what the API and the dashboard read
    const status = await notifier.status();
    assert.deepEqual(
      status.targets.map((t) => [t.target, t.dead, t.pending]),
      [
        ['email', 0, 0],
        ['pager', 0, 0],
        ['hooks', 0, 0],
        ['slack', 0, 0],
        ['teams', 0, 0],
      ],
    );
    const metrics = await notifier.registry.metrics();
    assert.match(metrics, /immune_notifications_total\{target="pager",outcome="delivered"\} 2/);
    assert.match(metrics, /immune_notification_delivery_seconds_count\{target="email"\} 1/);
  });

  it('a pager answering 503 three times then 202 gets exactly one event; a dead target shows in the status', async () => {
    const flaky = await startReceiver();
    const down = await startReceiver();
    try {
      flaky.script([503, 503, 503], 202);
      down.script([], 503);
      const config = parsePipeline(
        `name: p
repo: { url: sim://x }
fleet: { type: local, servers: 2 }
metrics: { definitions: [{ name: e, kind: ratio, numerator: 'a', denominator: b, bad: increase }] }
rollout: { steps: [{ servers: 1 }] }
notify:
  backoff: 20ms
  targets:
    pager: { type: pager, url: '${flaky.url}/v2/enqueue', routing_key_env: K }
    slack: { type: slack, url_env: S, attempts: 3 }
  routes: { blocked: [pager, slack] }
`,
        'p.yaml',
      );
      const s2 = openSqliteStore(join(dir, 'retry.db'));
      const n = buildNotifier({
        pipeline: 'p',
        config: config.notify,
        env: { K: 'k', S: down.url },
        outbox: s2.notifications,
        log: pino({ level: 'silent' }),
      });
      n.start();
      const t0 = Date.now();
      await n.notify({ id: 'd1:blocked:0', kind: 'blocked', pipeline: 'p', title: 'Line blocked', body: 'why' });
      assert.ok(Date.now() - t0 < 100, 'the caller does not wait for the retries');
      await waitFor(
        async () => flaky.accepted().length >= 1 && (await n.status()).targets.find((t) => t.target === 'slack')!.dead === 1,
        15_000,
        'delivery and the dead letter',
      );
      await n.settled();
      assert.equal(flaky.requests.length, 4, '3 refusals and the accepted one');
      assert.equal(flaky.accepted().length, 1);
      assert.equal(new Set(flaky.requests.map((r) => JSON.parse(r.body).dedup_key)).size, 1);
      const st = await n.status();
      assert.equal(
        st.targets.find((t) => t.target === 'slack')!.summary,
        'slack: 1 failed, last 503 Service Unavailable: {"status":"unavailable"}',
      );
      assert.equal(st.dead.length, 1);
      assert.equal(down.requests.length, 3);
      await n.stop();
      await s2.close();
    } finally {
      await flaky.close();
      await down.close();
    }
  });
});
