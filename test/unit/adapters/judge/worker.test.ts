import assert from 'node:assert/strict';
import pino from 'pino';
import { inProcessJudge } from '../../../../src/adapters/judge/in-process.js';
import { WorkerJudge } from '../../../../src/adapters/judge/worker.js';
import type { GateLook, WatchLook } from '../../../../src/core/rollout/look.js';
import type { SeriesSpec, Tick } from '../../../../src/core/rollout/samples.js';
import { createRandom } from '../../../../src/sim/random.js';

const SPECS: SeriesSpec[] = [
  { name: 'error_rate', kind: 'ratio', bad: 'increase', tolerance: 0.1, critical: true },
  { name: 'latency_p99', kind: 'continuous', bad: 'increase', tolerance: 0.2 },
  { name: 'checkouts', kind: 'count', bad: 'decrease', tolerance: 0.1, per: 'error_rate' },
];
const SERVERS = Array.from({ length: 40 }, (_, i) => `s${i}`);
const CANARY = SERVERS.slice(0, 4);

/** 40 servers, 5 s ticks: history on r1 before t=300 s, then 4 canaries on r2 with errors x3 and latency +30%. */
function ticks(n: number): Tick[] {
  const r = createRandom(7);
  return Array.from({ length: n }, (_, k) => {
    const time = (k + 1) * 5000;
    return {
      time,
      samples: SERVERS.map((server, s) => {
        const bad = time > 300_000 && s < CANARY.length;
        const req = 300 + Math.round(30 * r.normal());
        return {
          server,
          ok: !(s === 9 && k % 7 === 3),
          release: bad ? 'r2' : 'r1',
          since: bad ? 300_000 : -Infinity,
          values: {
            error_rate: [Math.max(0, Math.round(req * 0.01 * (bad ? 3 : 1) * (1 + 0.3 * r.normal()))), req],
            latency_p99: 0.2 * (bad ? 1.3 : 1) * Math.exp(0.02 * (s % 5) + 0.05 * r.normal()),
            checkouts: Math.max(0, Math.round(30 + 5 * r.normal())),
          },
        };
      }),
    };
  });
}

function gateLook(all: Tick[]): GateLook {
  const now = all.at(-1)!.time;
  const side = (servers: string[], release: string) => ({ servers, from: 300_000, to: now, release, warmupMs: 10_000, trustUnknown: true });
  return {
    alpha: 0.01,
    elapsedMs: now - 300_000,
    minBakeMs: 30_000,
    maxBakeMs: 120_000,
    onInconclusive: 'hold',
    unresponsive: [],
    samples: {
      specs: SPECS,
      ticks: all,
      sides: { baseline: side(SERVERS.slice(CANARY.length), 'r1'), canary: side(CANARY, 'r2') },
      history: { from: 0, to: 300_000, release: 'r1', warmupMs: 0 },
    },
  };
}

describe('judge on a worker thread', function () {
  this.timeout(20_000);
  const log = pino({ level: 'silent' });
  const judges: WorkerJudge[] = [];
  const judge = (o: Partial<ConstructorParameters<typeof WorkerJudge>[0]> = {}) => {
    const j = new WorkerJudge({ log, ...o });
    judges.push(j);
    return j;
  };
  after(async () => {
    for (const j of judges) await j.close();
  });

  it('gives the in-process result, look after look (ticks sent once), for the gate and the watch', async () => {
    const all = ticks(90);
    const w = judge();
    for (const n of [70, 71, 75, 90]) {
      const look = gateLook(all.slice(0, n));
      assert.deepEqual(await w.gate(look), await inProcessJudge.gate(look), `gate look at ${n} ticks`);
    }
    const fail = await w.gate(gateLook(all));
    assert.equal(fail.decision, 'fail', 'a non-trivial input: the regression is caught');
    const watch: WatchLook = {
      alpha: 0.01,
      elapsedMs: 150_000,
      durationMs: 300_000,
      unresponsive: [],
      samples: {
        specs: SPECS,
        ticks: all,
        sides: { baseline: { servers: SERVERS, from: 0, to: 300_000 }, canary: { servers: SERVERS, from: 300_000, to: 450_000 } },
      },
    };
    assert.deepEqual(await w.watch(watch), await inProcessJudge.watch(watch));
    assert.equal(w.restarts, 0);
  });

  it('sends many missing ticks a few at a time ahead of the look, and looks sent together stay in order', async () => {
    const all = ticks(90);
    const w = judge({ samplesPerMessage: 100 });
    const looks = [70, 90, 75, 71].map((n) => gateLook(all.slice(0, n)));
    const got = await Promise.all(looks.map((l) => w.gate(l)));
    for (const [i, l] of looks.entries()) assert.deepEqual(got[i], await inProcessJudge.gate(l));
    assert.equal(w.restarts, 0);
  });

  it('a worker that dies fails the look (an error, never a result), and the next look starts a new worker', async () => {
    const w = judge({ entry: new URL('../../../fixtures/judge-worker/crash.ts', import.meta.url) });
    const look = gateLook(ticks(70));
    await assert.rejects(w.gate(look), /judge's worker exited \(code 3\)/);
    await assert.rejects(w.gate(look), /exited/);
    assert.equal(w.restarts, 2);
  });

  it('a worker that does not answer in time fails the look and is replaced', async () => {
    const w = judge({ entry: new URL('../../../fixtures/judge-worker/hang.ts', import.meta.url), timeoutMs: 500 });
    const started = Date.now();
    await assert.rejects(w.gate(gateLook(ticks(70))), /did not answer within 500 ms/);
    assert.ok(Date.now() - started < 5000);
    assert.equal(w.restarts, 1);
  });

  it('a look the judge itself cannot make is an error from the worker, and the worker stays', async () => {
    const w = judge();
    const look = gateLook(ticks(70));
    const bad = { ...look, samples: { ...look.samples, specs: null as unknown as SeriesSpec[] } };
    await assert.rejects(w.gate(bad), /^Error: judge: /);
    assert.deepEqual(await w.gate(look), await inProcessJudge.gate(look));
    assert.equal(w.restarts, 0);
  });
});
