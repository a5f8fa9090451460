// The real CLI (node bin/immune.js) against a server started here on loopback, with a fake line,
// the real SQLite store and the real token auth.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { openSqliteStore } from '../../src/adapters/store/sqlite/index.js';
import { systemClock } from '../../src/adapters/clock/system.js';
import { EventBus } from '../../src/engine/events.js';
import { ExperimentRegistry } from '../../src/engine/experiments.js';
import { summarizeDeploy, type LineStatus } from '../../src/engine/summary.js';
import type { Store } from '../../src/ports.js';
import { buildServer } from '../../src/server/app.js';
import { createAuth } from '../../src/server/auth.js';
import type { LineControl } from '../../src/server/context.js';
import { commit, deploy, deployState } from '../unit/adapters/store/sqlite/fixtures.js';
import { immune } from '../helpers/immune-cli.js';
import { judgeFixed } from '../../src/core/judge/index.js';
import type { EvidenceTable } from '../../src/core/judge/evidence.js';

const TOKENS = { viewer: 'viewer-token-cli', engineer: 'engineer-token-cli', captain: 'captain-token-cli' };

describe('CLI line commands against a running server', function () {
  this.timeout(180_000);
  let dir: string;
  let store: Store;
  let app: FastifyInstance;
  let url: string;
  const calls: { action: string; arg: string; actor: string }[] = [];
  const now = Date.now();
  let status: LineStatus;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'immune-cli-'));
    store = openSqliteStore(join(dir, 'state.db'));
    const inFlight = deploy('d3', now - 60_000, {
      shas: ['3333333333aaaa'],
      commits: [commit('3333333333aaaa', now - 120_000, 'Dev Two')],
      status: 'baking',
      state: deployState({
        status: 'baking',
        step: 1,
        since: now - 80_000,
        lastGate: { decision: 'continue', explanation: 'error_rate -1% (CI -5%..+3%)' },
      }),
    });
    status = {
      pipeline: 'shop',
      blocked: true,
      blockReason: 'checkout_error_rate +412% (CI +250%..+600%)',
      blockedBy: 'engine',
      blockedAt: now - 300_000,
      blockedDeploy: 'd2',
      paused: false,
      live: { sha: '1111111111bbbb', artifact: { id: 'art111' }, deploy: 'd1' },
      inFlight: summarizeDeploy(inFlight, { now }),
      queue: [commit('4444444444cccc', now - 10_000, 'Dev Three')],
    };
    const record = async (action: string, arg: string, actor: string) => void calls.push({ action, arg, actor });
    const line: LineControl = {
      status: async () => status,
      deploy: async (sha, actor) => (await record('deploy', sha, actor), { queued: `${sha}00` }),
      block: (r, a) => record('block', r, a),
      unblock: (r, a) => record('unblock', r, a),
      pause: (r, a) => record('pause', r, a),
      resume: (r, a) => record('resume', r, a),
      abort: (r, a) => record('abort', r, a),
      promote: (r, a) => record('promote', r, a),
      override: (r, a) => record('override', r, a),
      drop: async (sha, r, a) => (await record('drop', `${sha}:${r}`, a), { dropped: sha, note: `${sha} dropped; it stays in git` }),
      retry: async (id, r, a) => (await record('retry', `${id}:${r}`, a), { queued: ['2222222222'], deploy: id }),
      rollbackTo: async (to, r, a) => (await record('rollback', `${to}:${r}`, a), { release: 'art111', sha: '1111111111bbbb', servers: 2 }),
      releases: async () => ({
        servers: [
          {
            server: 's1',
            current: 'art222',
            releases: [
              { id: 'art222', current: true, live: true, sha: '2222222222', deploy: 'd2' },
              { id: 'art111', current: false, live: false, sha: '1111111111bbbb', deploy: 'd1' },
            ],
          },
          { server: 's2', current: 'art222', releases: [{ id: 'art222', current: true, live: true }] },
        ],
      }),
    };
    await store.line.createDeploy(
      deploy('d1', now - 3_600_000, {
        status: 'live',
        outcome: 'live',
        finishedAt: now - 3_000_000,
        shas: ['1111111111bbbb'],
        commits: [commit('1111111111bbbb', 0, 'Dev One')],
      }),
    );
    await store.line.createDeploy(
      deploy('d2', now - 900_000, {
        status: 'failed',
        outcome: 'reverted',
        finishedAt: now - 600_000,
        revertSha: 'eeee',
        reason: 'checkout_error_rate +412%',
        shas: ['2222222222', '2222222233'],
        commits: [commit('2222222222', 0, 'Dev One'), commit('2222222233', 0, 'Dev Two')],
      }),
    );
    await store.line.createDeploy(inFlight);
    // d2's gate at step 1, as the real judge recorded it: 6 checkout errors on the canary, none on the baseline.
    const judged = judgeFixed({
      alpha: 0.01,
      metrics: [
        {
          name: 'checkout_error_rate',
          kind: 'ratio',
          bad: 'increase',
          tolerance: 0.1,
          baseline: Array.from({ length: 7 }, () => Array(6).fill([0, 300])),
          canary: [Array(6).fill([1, 300])],
        },
        {
          name: 'latency_p99',
          kind: 'continuous',
          unit: 'seconds',
          bad: 'increase',
          tolerance: 0.2,
          baseline: Array.from({ length: 7 }, (_, s) => Array.from({ length: 6 }, (_, t) => 0.2 + 0.001 * ((s + t) % 3))),
          canary: [Array(6).fill(0.201)],
        },
      ],
    });
    await store.line.appendGateLook({
      deployId: 'd2',
      step: 0,
      time: now - 700_000,
      elapsedMs: 12_000,
      decision: 'fail',
      explanation: 'regression',
      metrics: judged.metrics,
    });
    app = await buildServer(
      {
        store,
        log: pino({ level: 'silent' }),
        events: new EventBus(),
        auth: createAuth({
          tokens: Object.entries(TOKENS).map(([role, token]) => ({ name: role, role: role as 'viewer', token })),
          openRead: true,
        }),
        line,
        pipelineName: 'local',
        experiments: new ExperimentRegistry({ dir, store, events: new EventBus(), log: pino({ level: 'silent' }), clock: systemClock }),
        clientTokens: [],
        publicUrl: 'http://127.0.0.1',
      },
      { logger: false },
    );
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await app?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('status shows the line, blocked and why, what is live, the deploy in flight and the queue; --json the API answer', async () => {
    const [human, json] = await Promise.all([immune(['status', '--url', url]), immune(['status', '--json'], { IMMUNE_URL: url })]);
    assert.equal(human.code, 5, `blocked exits 5: ${human.stderr}`);
    const out = human.stdout;
    assert.match(out, /^line\s+shop: BLOCKED by engine \d+ min( \d+ s)? ago$/m);
    assert.match(out, /^why\s+checkout_error_rate \+412% \(CI \+250%\.\.\+600%\)$/m);
    assert.match(out, /deploy d2; unblock with: immune unblock --reason/);
    assert.match(out, /^live\s+11111111 \(artifact art111, deploy d1\)$/m);
    assert.match(out, /^in flight\s+d3 33333333 change 3333333333aaaa \(Dev Two\)$/m);
    assert.match(out, /^\s+baking, step 2\/3, 4\/8 servers on the new build, baked \d+ min( \d+ s)?$/m);
    assert.match(out, /^\s+gate: continue: error_rate -1% \(CI -5%\.\.\+3%\)$/m);
    assert.match(out, /^queue\s+1 commit\n\s+44444444\s+change 4444444444cccc\s+Dev Three$/m);
    assert.equal(json.code, 5, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), status);
  });

  it('status exits 0 open, 3 in flight, 4 held (a rollout waiting for a captain, or a known-bad tree), 5 blocked; --help says so', async () => {
    const saved = status;
    const inFlight = status.inFlight!;
    const run = async (s: LineStatus) => {
      status = s;
      const r = await immune(['status', '--url', url]);
      return r;
    };
    try {
      const open = await run({ ...saved, blocked: false, blockReason: undefined, inFlight: null });
      assert.equal(open.code, 0, open.stderr);
      const flying = await run({ ...saved, blocked: false, inFlight });
      assert.equal(flying.code, 3);
      const heldRollout = await run({
        ...saved,
        blocked: false,
        inFlight: {
          ...inFlight,
          status: 'held',
          hold: { phase: 'gate', reason: 'gate inconclusive at rollout step 2 of 3: max bake 5m reached', since: now - 60_000 },
        },
      });
      assert.equal(heldRollout.code, 4);
      assert.match(heldRollout.stdout, /HELD for a captain since \d+ min( \d+ s)? ago: gate inconclusive at rollout step 2 of 3/);
      assert.match(heldRollout.stdout, /immune resume \(bake again\) \| promote \(go on\) \| abort \(roll back\)/);
      const heldTree = await run({
        ...saved,
        blocked: false,
        inFlight: null,
        held: {
          shas: ['4444444444cccc'],
          reason: 'this tree is identical to f324de3a, which failed at step 1 on error_rate (deploy d2)',
          since: now,
          tree: 'abc',
          deploy: 'd2',
        },
      });
      assert.equal(heldTree.code, 4);
      assert.match(heldTree.stdout, /^HELD\s+44444444: this tree is identical to f324de3a, which failed at step 1 on error_rate/m);
      assert.match(heldTree.stdout, /immune drop 44444444 --reason/);
      const blocked = await run(saved);
      assert.equal(blocked.code, 5);
      const help = await immune(['status', '--help']);
      assert.match(help.stdout, /0 the line is open and nothing is in flight; 3 a deploy is in flight; 4 held .*; 5 blocked/s);
    } finally {
      status = saved;
    }
  });

  it('drop, retry, rollback --to, override and releases: as the captain with the reason; a viewer token is refused each', async () => {
    const cap = ['--url', url, '--token', TOKENS.captain];
    const [drop, retry, rollback, override, releases] = await Promise.all([
      immune(['drop', '4444444444cccc', '-r', 'not this one', ...cap]),
      immune(['retry', 'd2', '-r', 'false alarm', ...cap]),
      immune(['rollback', '--to', 'art111', '-r', 'back to yesterday', ...cap]),
      immune(['override', '-r', 'the tree is fine now: the flag is off', ...cap]),
      immune(['releases', '--url', url]),
    ]);
    assert.equal(drop.code, 0, drop.stderr);
    assert.match(drop.stdout, /4444444444cccc dropped; it stays in git/);
    assert.equal(retry.code, 0, retry.stderr);
    assert.match(retry.stdout, /^queued 22222222 again \(deploy d2\)$/m);
    assert.equal(rollback.code, 0, rollback.stderr);
    assert.match(rollback.stdout, /^rolled back to art111 \(11111111\): 2 server\(s\) switched; the line is blocked/m);
    assert.equal(override.code, 0, override.stderr);
    assert.deepEqual(
      calls.find((c) => c.action === 'drop'),
      { action: 'drop', arg: '4444444444cccc:not this one', actor: 'token:captain' },
    );
    assert.deepEqual(
      calls.find((c) => c.action === 'retry'),
      { action: 'retry', arg: 'd2:false alarm', actor: 'token:captain' },
    );
    assert.deepEqual(
      calls.find((c) => c.action === 'rollback'),
      { action: 'rollback', arg: 'art111:back to yesterday', actor: 'token:captain' },
    );
    assert.deepEqual(
      calls.find((c) => c.action === 'override'),
      { action: 'override', arg: 'the tree is fine now: the flag is off', actor: 'token:captain' },
    );
    assert.equal(releases.code, 0, releases.stderr);
    assert.match(releases.stdout, /^SERVER\s+RELEASE\s+SHA\s+DEPLOY\s+OUTCOME$/m);
    assert.match(releases.stdout, /^s1\s+art222\s+current\s+22222222\s+d2/m);
    assert.match(releases.stdout, /^\s+art111\s+11111111\s+d1/m);
    const before = calls.length;
    const viewer = ['--url', url, '--token', TOKENS.viewer];
    const refused = await Promise.all([
      immune(['drop', '4444444444cccc', '-r', 'x', ...viewer]),
      immune(['retry', 'd2', '-r', 'x', ...viewer]),
      immune(['rollback', '--to', 'art111', '-r', 'x', ...viewer]),
      immune(['override', '-r', 'x', ...viewer]),
    ]);
    for (const r of refused) {
      assert.equal(r.code, 1);
      assert.match(r.stderr, /needs role captain or admin; token:viewer has role viewer/);
    }
    assert.equal(calls.length, before, 'nothing reached the line');
  });

  it('log lists recent deploys newest first with outcome, duration and reason; --limit and --json', async () => {
    const [human, json, bad] = await Promise.all([
      immune(['log', '--url', url]),
      immune(['log', '--limit', '1', '--json', '--url', url]),
      immune(['log', '--limit', '0', '--url', url]),
    ]);
    assert.equal(human.code, 0, human.stderr);
    const lines = human.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^DEPLOY\s+SHAS\s+AUTHOR\s+OUTCOME\s+DURATION\s+REASON$/);
    assert.match(lines[1]!, /^d3\s+33333333\s+Dev Two\s+baking\s+\d+ min( \d+ s)?$/);
    assert.match(lines[2]!, /^d2\s+22222222,22222222\s+Dev One, Dev Two\s+reverted\s+5 min\s+checkout_error_rate \+412%$/);
    assert.match(lines[3]!, /^d1\s+11111111\s+Dev One\s+live\s+10 min$/);
    // Columns line up: OUTCOME starts at the same place on every line.
    assert.equal(new Set(lines.map((l) => l.search(/(OUTCOME|baking|reverted|live)/))).size, 1);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(
      JSON.parse(json.stdout).deploys.map((d: { id: string }) => d.id),
      ['d3'],
    );
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--limit: "0" is not a number from 1 to 1000/);
  });

  it("show prints a deploy's evidence per step in the API's words; --json the API answer; an unknown deploy exits 1", async () => {
    const [human, json, missing] = await Promise.all([
      immune(['show', 'd2', '--url', url]),
      immune(['show', 'd2', '--json', '--url', url]),
      immune(['show', 'nope', '--url', url]),
    ]);
    assert.equal(human.code, 0, human.stderr);
    const out = human.stdout;
    assert.match(out, /^deploy\s+d2 2 commits 22222222\.\.22222222 \(Dev One, Dev Two\)$/m);
    assert.match(out, /^why\s+checkout_error_rate \+412%$/m);
    assert.match(out, /^step 1 of 3 \(1 of 8 servers\): fail after 12 s, 1 look$/m);
    assert.match(out, /^\s+METRIC\s+VERDICT\s+ESTIMATE\s+INTERVAL\s+SAMPLES$/m);
    const summary = (JSON.parse(json.stdout) as { summary: EvidenceTable }).summary;
    assert.equal(summary.rows.length, 2);
    for (const r of summary.rows) {
      const line = out.split('\n').find((l) => l.trim().startsWith(r.metric));
      assert.ok(line, `a line for ${r.metric}`);
      // The same words as the API (and so as the page): each column's text, in order.
      const at = [r.label, r.estimate, r.interval, r.samples].map((w) => line.indexOf(w));
      assert.ok(
        at.every((i, k) => i > 0 && (k === 0 || i > at[k - 1]!)),
        `${line} holds ${JSON.stringify(r)}`,
      );
    }
    assert.match(
      out,
      /checkout_error_rate\s+fail\s+0% → 0\.33%\s+at least \+0\.\d+ pp\s+6 of 1,800 on the canary vs 0 of 12,600 on the baseline/,
    );
    assert.match(out, /latency_p99\s+\S+\s+[+-]?[\d.]+% \(\d+ ms → \d+ ms\)/);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no deploy nope/);
  });

  it('deploy queues a sha as the token holder; a bad sha is refused before any request', async () => {
    const [ok, badSha, unknown] = await Promise.all([
      immune(['deploy', 'abcdef12', '--url', url], { IMMUNE_TOKEN: TOKENS.engineer }),
      immune(['deploy', 'main;rm', '--url', url], { IMMUNE_TOKEN: TOKENS.engineer }),
      immune(['deploy', 'abcdef12', '--url', url, '--token', 'wrong-token-123']),
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), 'queued abcdef12 for deploy');
    assert.deepEqual(
      calls.filter((c) => c.action === 'deploy'),
      [{ action: 'deploy', arg: 'abcdef12', actor: 'token:engineer' }],
    );
    assert.equal(badSha.code, 2);
    assert.match(badSha.stderr, /sha: "main;rm" is not a commit sha/);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^immune: unknown API token.*POST \/api\/deploys needs role engineer/m);
  });

  it('every control sends the reason as the captain and says what happened', async () => {
    // Every control is the same code path; the API test covers each route.
    const actions = ['block', 'abort', 'promote'];
    const [json, ...runs] = await Promise.all([
      immune(['unblock', '-r', 'fixed', '--json', '--url', url, '--token', TOKENS.captain]),
      ...actions.map((a) => immune([a, '--reason', `because ${a}`, '--url', url, '--token', TOKENS.captain])),
    ]);
    runs.forEach((r, i) => {
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^(line|deploy) \\w+: because ${actions[i]}$`));
    });
    for (const a of actions)
      assert.deepEqual(
        calls.find((c) => c.action === a),
        { action: a, arg: `because ${a}`, actor: 'token:captain' },
      );
    assert.deepEqual(JSON.parse(json.stdout), { ok: true });
    assert.deepEqual(
      calls.find((c) => c.action === 'unblock'),
      { action: 'unblock', arg: 'fixed', actor: 'token:captain' },
    );
  });

  it('refusals print the API message and exit 1; missing flags exit 2; help documents exit codes', async () => {
    const before = calls.length;
    const [viewer, noReason, emptyReason, help] = await Promise.all([
      immune(['block', '--reason', 'x', '--url', url, '--token', TOKENS.viewer]),
      immune(['block', '--url', url, '--token', TOKENS.captain]),
      immune(['block', '--reason', '  ', '--url', url, '--token', TOKENS.captain]),
      immune(['block', '--help']),
    ]);
    assert.equal(viewer.code, 1);
    assert.match(viewer.stderr, /^immune: POST \/api\/line\/block needs role captain or admin; token:viewer has role viewer$/m);
    assert.equal(noReason.code, 2);
    assert.match(noReason.stderr, /required option '-r, --reason <text>' not specified/);
    assert.equal(emptyReason.code, 2);
    assert.match(emptyReason.stderr, /--reason: must not be empty/);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Exit codes: 0 done, 1 the server refused/);
    assert.doesNotMatch(viewer.stderr, /at .*\.(ts|js):\d+/);
    assert.equal(calls.length, before);
  });

  it('with no server running: a clear message and exit 1; a bad --url exits 2', async () => {
    const closed = await import('node:net').then(
      (net) =>
        new Promise<number>((resolve) => {
          const s = net.createServer().listen(0, '127.0.0.1', () => {
            const port = (s.address() as { port: number }).port;
            s.close(() => resolve(port));
          });
        }),
    );
    const [none, badUrl] = await Promise.all([
      immune(['status', '--url', `http://127.0.0.1:${closed}`]),
      immune(['status', '--url', 'ftp://x']),
    ]);
    assert.equal(none.code, 1);
    assert.equal(none.stderr.trim(), `immune: no immune server at http://127.0.0.1:${closed} (start it with immune serve)`);
    assert.equal(badUrl.code, 2);
    assert.match(badUrl.stderr, /--url: "ftp:\/\/x" must be an http/);
  });
});
