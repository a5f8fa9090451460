// Real SIGKILLs of `immune serve` at named points of a rollout (IMMUNE_FAULT=<point>[:N]): a first
// serve takes the base live and stops; a second runs the change with the fault armed and dies at
// the point; a third starts on the same state, fleet and repository and must end consistent. A
// `held` change is a good one under the `hold` policy with a metric that never has data: it waits
// for a captain at the gate and at the watch, and after the restart a captain promotes it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import pino from 'pino';
import { createLocalFleet, localServers } from '../../src/adapters/fleet/local.js';
import { parsePipeline } from '../../src/core/config/index.js';
import { IMMUNE_ROOT } from '../../src/runtime.js';
import { badChange, goodChange, shopTemplateFiles } from '../../src/demo/shop-changes.js';
import { startTraffic } from '../../src/demo/traffic.js';
import { createOrigin } from './git.js';
import { freePortRange, localPipelineYaml, waitFor } from './line.js';

interface DeployRow {
  id: string;
  shas: string[];
  status: string;
  outcome?: string;
}

export interface KillRun {
  point: string;
  change: Change;
  /** The process died at the point (false: the run never reached it). */
  killed: boolean;
  /** How the faulted run ended: the process exited (killed or not), the change finished first, or neither within 120 s. */
  ended?: 'exited' | 'finished' | 'timeout';
  /** Where the change stood when the faulted run ended (status and the last gate explanation). */
  stood?: string;
  outcome: string;
  broken: string[];
}

export type Change = 'good' | 'bad' | 'held';

/** A captain's token for the serves of a run (a held change is promoted through the API). */
const CAPTAIN = 'kill-run-captain-token-0123456789';

export async function killRun(change: Change, point: string): Promise<KillRun> {
  const log = pino({ level: 'silent' });
  const origin = await createOrigin(shopTemplateFiles());
  const dir = await mkdtemp(join(tmpdir(), 'immune-kill-'));
  const basePort = await freePortRange(3);
  const apiPort = await freePortRange(1);
  // Judged on error rates and latency: these runs are about ending consistent after a kill, and a 6 s
  // watch cannot rule out a business metric's drop on three servers (it holds for a captain instead).
  const held = change === 'held';
  const lines = localPipelineYaml({
    repo: origin.url,
    dir,
    basePort,
    servers: 3,
    tests: false,
    minBake: '6s',
    ...(held ? { maxBake: '10s', onInconclusive: 'hold' as const } : {}),
  })
    .split('\n')
    .filter((l) => !/name: checkouts,/.test(l));
  // A held change: a gauge no server exports has no data, so the gate and the watch hold (a counter no
  // server exports reads as no events, and passes).
  const yaml = (
    held
      ? lines.flatMap((l) =>
          /name: latency_p99,/.test(l) ? [l, '    - { name: ghost, kind: continuous, gauge: shop_no_such_gauge, bad: increase }'] : [l],
        )
      : lines
  ).join('\n');
  const file = join(dir, 'pipeline.yaml');
  await writeFile(file, yaml);
  const config = parsePipeline(yaml, file);
  const servers = localServers(config.fleet as never);
  let serve: ResultPromise | undefined;
  const start = (fault?: string) => {
    serve = execa(
      'node',
      [join(IMMUNE_ROOT, 'bin/immune.js'), 'serve', '--pipeline', file, '--port', String(apiPort), '--data', join(dir, 'state')],
      {
        cwd: dir,
        reject: false,
        env: {
          IMMUNE_LOG_LEVEL: 'warn',
          ...(held ? { IMMUNE_TOKENS: `captain:captain:${CAPTAIN}` } : {}),
          ...(fault ? { IMMUNE_FAULT: fault } : {}),
        },
      },
    );
    return serve;
  };
  const auth: Record<string, string> = held ? { authorization: `Bearer ${CAPTAIN}` } : {};
  const api = async <T>(path: string): Promise<T | undefined> => {
    const r = await fetch(`http://127.0.0.1:${apiPort}${path}`, { headers: auth, signal: AbortSignal.timeout(5000) }).catch(
      () => undefined,
    );
    return r?.ok ? ((await r.json()) as T) : undefined;
  };
  const stop = async () => {
    serve?.kill('SIGTERM');
    await serve?.catch(() => undefined);
  };
  const traffic = startTraffic({ targets: async () => servers, rpsPerServer: 40, durationMs: 600_000, log, seed: 5 });
  const broken: string[] = [];
  let killed = false;
  let endedHow: KillRun['ended'];
  let stood: string | undefined;
  let outcome = 'none';
  try {
    start();
    const first = await waitFor(
      async () => (await api<{ live: { sha: string } | null }>('/api/line'))?.live?.sha,
      120_000,
      'the base to be live',
    ).catch(async (err: Error) => {
      // Say where the base stood: its deploy's status and reason, or that the API never answered.
      const d = (await api<{ deploys: (DeployRow & { reason?: string })[] }>('/api/deploys?limit=5'))?.deploys[0];
      throw new Error(
        `${err.message} (${d ? `base deploy ${d.id} ${d.status}${d.reason ? `: ${d.reason}` : ''}` : 'the API did not answer'})`,
      );
    });
    await stop();
    const c = change === 'bad' ? badChange() : goodChange(2);
    const sha = await origin.commit(c.message, c.files);
    const finished = async () => {
      const list = await api<{ deploys: DeployRow[] }>('/api/deploys?limit=20');
      const line = await api<{ inFlight: unknown; queue: unknown[]; blocked: boolean }>('/api/line');
      const d = list?.deploys.find((x) => x.shas.includes(sha));
      return d?.outcome && line && !line.inFlight && (line.queue.length === 0 || line.blocked) ? d : undefined;
    };
    // Where the change stands: its status, and why it is held or what the last gate said.
    const standing = async () => {
      const now = (await api<{ deploys: (DeployRow & { reason?: string })[] }>('/api/deploys?limit=20'))?.deploys.find((x) =>
        x.shas.includes(sha),
      );
      const held = (await api<{ inFlight: { hold?: { reason: string }; lastGate?: { explanation: string } } | null }>('/api/line'))
        ?.inFlight;
      const why = held?.hold?.reason ?? held?.lastGate?.explanation ?? now?.reason;
      return now ? `${now.status}${why ? `: ${why}` : ''}` : 'no deploy of the change';
    };
    // A held change waits for a captain: promote it whenever it is held (the gate, then the watch).
    const promote = async () => {
      const line = await api<{ inFlight: { status?: string; hold?: unknown } | null }>('/api/line');
      if (!line?.inFlight?.hold) return;
      await fetch(`http://127.0.0.1:${apiPort}/api/line/promote`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'kill run: the captain goes on' }),
        signal: AbortSignal.timeout(5000),
      }).catch(() => undefined);
    };
    const settled = async () => {
      if (held) await promote();
      return finished();
    };
    const second = start(point);
    const ended = await Promise.race([
      second.then(() => 'exited' as const),
      waitFor(settled, 120_000, 'the change to finish').then(
        () => 'finished' as const,
        () => 'timeout' as const,
      ),
    ]);
    if (ended === 'exited') killed = (await second).signal === 'SIGKILL';
    endedHow = ended;
    stood = await standing();
    await stop();
    start();
    const d = await waitFor(settled, 150_000, 'the change to finish after the restart').catch(async (err: Error) => {
      throw new Error(`${err.message} (it stands at ${await standing()})`);
    });
    outcome = d.outcome ?? d.status;
    // The invariants.
    const list = (await api<{ deploys: DeployRow[] }>('/api/deploys?limit=50'))!.deploys;
    const unfinished = list.filter((x) => !x.outcome);
    if (unfinished.length) broken.push(`unfinished: ${unfinished.map((x) => `${x.id} ${x.status}`).join(', ')}`);
    const mine = list.filter((x) => x.shas.includes(sha));
    if (mine.length !== 1) broken.push(`${mine.length} deploys of the change`);
    const line = (await api<{ live: { sha: string; artifact: { id: string } } | null; blocked: boolean; blockReason?: string }>(
      '/api/line',
    ))!;
    const want = outcome === 'live' ? sha : first;
    if (line.live?.sha !== want) broken.push(`live is ${line.live?.sha.slice(0, 8)}, want ${want.slice(0, 8)} (${outcome})`);
    for (const s of servers) {
      const r = await fetch(`http://${s.host}:${s.port}/healthz`, { signal: AbortSignal.timeout(3000) }).catch(() => undefined);
      const rel = r?.ok ? ((await r.json()) as { release: string }).release : undefined;
      if (rel !== line.live?.artifact.id) broken.push(`${s.id} runs ${rel}, the record says ${line.live?.artifact.id}`);
    }
    await origin.dev.fetch('origin');
    const reverts = (
      await origin.dev.raw([
        'log',
        '--format=%H',
        '--fixed-strings',
        `--grep=${sha.slice(0, 12)}`,
        '--grep=Immune-Deploy:',
        '--all-match',
        'origin/main',
      ])
    )
      .trim()
      .split('\n')
      .filter(Boolean).length;
    if (reverts !== (outcome === 'reverted' ? 1 : 0)) broken.push(`${reverts} reverts of the change on main (${outcome})`);
    const detail = await api<{ gates: { step: number; decision: string }[]; deploy: { reason?: string } }>(`/api/deploys/${d.id}`);
    const judgedBad =
      outcome === 'reverted' || (/gate|watch|regress|error_rate/.test(detail?.deploy.reason ?? '') && outcome === 'rolled_back');
    if (line.blocked !== judgedBad) broken.push(`line ${line.blocked ? 'blocked' : 'open'} after ${outcome}: ${line.blockReason ?? ''}`);
    if (outcome === 'live' && !held) {
      if (!detail?.gates.some((g) => g.step === 0 && g.decision === 'pass')) broken.push('live without a passing canary gate');
      if (!detail?.gates.some((g) => g.step === -1 && g.decision === 'pass')) broken.push('live without a passing watch');
    }
    // Held: live only past a captain's promote, which the record says.
    if (held && outcome !== 'live') broken.push(`the promoted change ended ${outcome}`);
    if (held && outcome === 'live' && !JSON.stringify(detail).includes('promoted by'))
      broken.push('live past a hold without a promote on record');
    if (change === 'bad' && outcome === 'live') broken.push('the bad change went live');
    if (change === 'good' && judgedBad) broken.push(`the good change was judged bad: ${detail?.deploy.reason}`);
  } catch (err) {
    broken.push((err as Error).message);
  } finally {
    await stop();
    await traffic.stop();
    if (config.fleet.type === 'local') await createLocalFleet(config.fleet, { root: IMMUNE_ROOT, log, cwd: dir }).close();
    await origin.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
  return { point, change, killed, ended: endedHow, stood, outcome, broken };
}

/** The named points each change passes through (transition:<status> after the state is written, action:<type> after it is done). */
export const KILL_POINTS: Record<Change, string[]> = {
  good: [
    'queued',
    'deploy-created',
    'deploy-dequeued',
    'transition:building',
    'transition:rolling_out',
    'action:deploy_step',
    'transition:baking',
    'transition:rolling_out:2',
    'transition:watching',
    'transition:live',
    'action:mark_live',
  ],
  bad: [
    'deploy-created',
    'transition:rolling_out',
    'transition:baking',
    'transition:rolling_back',
    'action:rollback',
    'transition:reverting',
    'action:revert',
    'transition:failed',
    'action:block',
  ],
  // Held at the gate, then (after a promote) at the watch.
  held: ['transition:held', 'transition:held:2'],
};
