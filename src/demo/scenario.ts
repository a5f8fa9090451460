// The scripted demo: a fresh git repository of the shop, 8 local servers, traffic, and three
// engineers' commits — a good one goes live, a bad one is caught at the canary, rolled back,
// reverted and blocks the line, and after a captain unblocks, the fix goes live.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { simpleGit, type SimpleGit } from 'simple-git';
import { parseDocument } from 'yaml';
import type { Logger } from 'pino';
import { createLocalFleet } from '../adapters/fleet/local.js';
import type { PipelineConfig } from '../core/config/index.js';
import { createRuntime, IMMUNE_ROOT, loadPipelineFile, type Runtime } from '../runtime.js';
import type { EventBus } from '../engine/events.js';
import type { DeployRecord } from '../ports.js';
import { badChange, fixChange, goodChange, shopTemplateFiles, type ShopChange } from './shop-changes.js';
import { startTraffic, type Traffic } from './traffic.js';

/** The SDK beside this module: src/sdk/index.ts from source, dist/sdk/index.js when compiled. */
const SDK_MODULE = fileURLToPath(new URL(`../sdk/index${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

export interface DemoOptions {
  pipelineFile?: string;
  dataDir?: string;
  port?: number;
  host?: string;
  log: Logger;
  /** Human progress lines (not in --json mode). */
  print: (line: string) => void;
  /** Subscribes a printer of the engine's progress (the CLI passes its own); returns the unsubscribe. */
  progress?: (events: EventBus, print: (line: string) => void) => () => void;
  /** Requests per second per server of simulated users. */
  rps?: number;
  /** Bound on the whole scenario. */
  timeoutMs?: number;
  /** First port of the local fleet's servers (overrides the pipeline's fleet.base_port), so two demos can run side by side. */
  basePort?: number;
}

export interface DemoSummary {
  ok: boolean;
  expectations: { name: string; ok: boolean; detail?: string }[];
  deploys: {
    id: string;
    shas: string[];
    subject: string;
    author: string;
    outcome?: string;
    durationMs?: number;
    reason?: string;
    revertSha?: string;
  }[];
  reverted?: {
    sha: string;
    revertSha: string;
    metric?: string;
    explanation: string;
    /** Where the gate caught it: rollout step (1-based; 0 = the watch), and the time into that step's bake. */
    step?: number;
    servers?: string;
    caughtAfterMs?: number;
  };
  badCommitToRevertMs?: number;
  blockedAt?: string;
  unblockedAt?: string;
  experiment?: unknown;
  dashboard: string;
  captainToken: string;
}

const AUTHORS = {
  ada: 'Ada Lovelace <ada@shop.example>',
  grace: 'Grace Hopper <grace@shop.example>',
  linus: 'Linus Torvalds <linus@shop.example>',
};

export interface DemoHandle {
  runtime: Runtime;
  traffic: Traffic;
  summary: Promise<DemoSummary>;
  stop(): Promise<void>;
}

/**
 * The pipeline file as this demo runs it: the fleet's base_port replaced when one is given, and
 * the paths under the default state directory (`.immune/...`: the shop's repository, the work
 * tree, the fleet's directory) moved under `dataDir` when that is another one, so two demos with
 * their own `--data` and `--base-port` never share a repository or a server directory. Written
 * beside the demo's state; the file itself when nothing changes.
 */
export async function demoPipeline(file: string, basePort: number | undefined, dataDir: string): Promise<string> {
  const doc = parseDocument(await readFile(file, 'utf8'));
  const changes: string[] = [];
  if (basePort !== undefined) {
    doc.setIn(['fleet', 'base_port'], basePort);
    changes.push(`fleet.base_port ${basePort} (--base-port)`);
  }
  const defaultData = resolve('.immune');
  if (dataDir !== defaultData)
    for (const path of [
      ['repo', 'url'],
      ['repo', 'workdir'],
      ['fleet', 'dir'],
    ]) {
      const v = doc.getIn(path);
      if (typeof v !== 'string' || isAbsolute(v)) continue;
      const rel = relative(defaultData, resolve(v));
      if (rel.startsWith('..') || isAbsolute(rel)) continue;
      doc.setIn(path, join(dataDir, rel));
      changes.push(`${path.join('.')} under ${dataDir} (--data)`);
    }
  if (!changes.length) return file;
  await mkdir(dataDir, { recursive: true });
  const out = join(dataDir, 'demo-pipeline.yaml');
  await writeFile(out, `# ${file} with ${changes.join(', ')}: immune demo\n${doc.toString()}`);
  return out;
}

/** Prepare everything, start the line, and run the scenario; `summary` resolves when it ends. */
export async function startDemo(opts: DemoOptions): Promise<DemoHandle> {
  const dataDir = resolve(opts.dataDir ?? '.immune');
  const pipelineFile = await demoPipeline(opts.pipelineFile ?? join(IMMUNE_ROOT, 'pipelines/local.yaml'), opts.basePort, dataDir);
  const config = await loadPipelineFile(pipelineFile);
  if (config.fleet.type !== 'local') throw new Error('the demo needs a local fleet pipeline');
  const port = opts.port ?? 7070;
  const host = opts.host ?? '127.0.0.1';
  const url = `http://${host}:${port}`;

  // A fresh start: stop servers a previous demo left running, forget its state.
  await createLocalFleet(config.fleet, { root: IMMUNE_ROOT, log: opts.log }).close();
  for (const p of [resolve(config.repo.workdir), resolve(config.fleet.dir), join(dataDir, 'demo'), join(dataDir, 'artifacts')])
    await rm(p, { recursive: true, force: true });
  for (const f of ['immune.db', 'immune.db-wal', 'immune.db-shm']) await rm(join(dataDir, f), { force: true });

  const { dev, devDir, commit } = await developerRepo(config, dataDir, opts.print);
  await commit({ message: 'Shop 1.0', files: shopTemplateFiles() }, AUTHORS.ada);

  // Tokens: a captain token for the dashboard, a client token for the shop's SDK.
  const captainToken = process.env.IMMUNE_DEMO_CAPTAIN_TOKEN ?? `cap-${randomBytes(12).toString('hex')}`;
  const clientToken = 'demo-client-token';
  const tokensFile = join(dataDir, 'tokens.yaml');
  await writeFile(tokensFile, `tokens:\n  - { name: demo-captain, role: captain, token: ${captainToken} }\n`, { mode: 0o600 });

  const runtime = await createRuntime({
    pipelineFile,
    dataDir,
    log: opts.log,
    print: opts.print,
    fleetEnv: { IMMUNE_URL: url, IMMUNE_CLIENT_TOKEN: clientToken, IMMUNE_SDK: SDK_MODULE },
    http: { port, host, tokensFile, clientTokens: [clientToken], experimentsDir: join(IMMUNE_ROOT, 'experiments') },
  });
  const unsubscribe = opts.progress?.(runtime.events, opts.print) ?? (() => undefined);
  await runtime.start();
  opts.print(`dashboard: ${url}   captain token: ${captainToken}`);

  const traffic = startTraffic({
    targets: () => runtime.fleet.servers(),
    rpsPerServer: opts.rps ?? 50,
    checkoutRate: 0.5,
    // Many users, each visiting a few times: per-user conversion stays meaningful for the readout.
    users: 50_000,
    durationMs: opts.timeoutMs ?? 15 * 60_000,
    log: opts.log,
    seed: 2009,
  });

  const summary = playScenario({ opts, config, runtime, dev, devDir, commit, url, captainToken });

  return {
    runtime,
    traffic,
    summary,
    async stop() {
      unsubscribe();
      await traffic.stop();
      await runtime.close({ stopFleet: true });
    },
  };
}

/** The shop's bare repository and a developer clone the engineers push from; `commit` pushes a change as its author. */
async function developerRepo(config: PipelineConfig, dataDir: string, print: (line: string) => void) {
  // The shop's repository, and a developer clone the engineers push from.
  const origin = resolve(config.repo.url);
  const devDir = join(dataDir, 'demo', 'dev');
  await mkdir(devDir, { recursive: true });
  await simpleGit().raw(['init', '--bare', '--initial-branch', config.repo.branch, origin]);
  const dev = simpleGit(devDir);
  await dev.init(['--initial-branch', config.repo.branch]);
  await dev.addConfig('user.name', 'Shop Team').addConfig('user.email', 'team@shop.example');
  await dev.addRemote('origin', origin);
  const commit = async (change: ShopChange, author: string): Promise<string> => {
    // Like an engineer: start from what is on main now (it may hold a revert by immune).
    const hasHead = await dev.revparse(['HEAD']).then(
      () => true,
      () => false,
    );
    if (hasHead) {
      await dev.fetch('origin', config.repo.branch);
      await dev.raw(['reset', '--hard', `origin/${config.repo.branch}`]);
    }
    for (const [path, content] of Object.entries(change.files)) {
      await mkdir(join(devDir, path, '..'), { recursive: true });
      await writeFile(join(devDir, path), content);
    }
    await dev.add(Object.keys(change.files));
    await dev.commit(change.message, undefined, { '--author': author });
    await dev.push('origin', config.repo.branch);
    const sha = (await dev.revparse(['HEAD'])).trim();
    print(`\n— ${author.split(' <')[0]} pushes ${sha.slice(0, 8)} "${change.message}"`);
    return sha;
  };
  return { dev, devDir, commit };
}

interface ScenarioContext {
  opts: DemoOptions;
  config: PipelineConfig;
  runtime: Runtime;
  dev: SimpleGit;
  devDir: string;
  commit(change: ShopChange, author: string): Promise<string>;
  url: string;
  captainToken: string;
}

/** The scenario itself: each engineer's commit, what the line must do with it, and the summary. */
async function playScenario(ctx: ScenarioContext): Promise<DemoSummary> {
  const { opts, config, runtime, dev, devDir, commit, url, captainToken } = ctx;
  const until = Date.now() + (opts.timeoutMs ?? 15 * 60_000);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const deployOf = async (sha: string): Promise<DeployRecord> => {
    for (;;) {
      const all = await runtime.store.line.listDeploys(config.name, { limit: 50 });
      const d = all.find((x) => x.shas.includes(sha) && x.outcome);
      if (d) return d;
      if (Date.now() > until) {
        const open = all.find((x) => x.shas.includes(sha));
        const where = open ? `: it is ${open.status}${open.state.lastGate ? ` (${open.state.lastGate.explanation})` : ''}` : '';
        throw new Error(`timed out waiting for the deploy of ${sha.slice(0, 8)}${where}`);
      }
      await sleep(250);
    }
  };

  const expectations: DemoSummary['expectations'] = [];
  const expect = (name: string, ok: boolean, detail?: string) => {
    expectations.push({ name, ok, detail });
    opts.print(`${ok ? '  ✔' : '  ✖'} ${name}${detail ? ` (${detail})` : ''}`);
  };

  const out: Partial<DemoSummary> = { dashboard: url, captainToken };
  try {
    const initial = (await dev.revparse(['HEAD'])).trim();
    const d0 = await deployOf(initial);
    expect('the first build is live on every server', d0.outcome === 'live');

    const good = await commit(goodChange(1), AUTHORS.grace);
    const d1 = await deployOf(good);
    expect('a good commit goes live on every server', d1.outcome === 'live', d1.reason);

    const bad = await commit(badChange(), AUTHORS.linus);
    const pushedAt = Date.now();
    const d2 = await deployOf(bad);
    const line = await runtime.store.line.getLine(config.name);
    const failing = d2.state.failure?.evidence?.metrics.find((m) => m.verdict === 'fail');
    expect('the bad commit is caught, rolled back and reverted', d2.outcome === 'reverted' && !!d2.revertSha, d2.reason);
    expect('the line is blocked', line.blocked, line.blockReason);
    if (d2.revertSha) {
      const diff = await simpleGit(devDir)
        .fetch('origin')
        .then(() => simpleGit(devDir).raw(['diff', `${bad}^`, d2.revertSha!]));
      expect('the revert commit undoes exactly the bad change', diff.trim() === '');
      const f = d2.state.failure;
      const plan = d2.state.plan;
      const looks = await runtime.store.line.gateLooks(d2.id);
      const caught = looks.filter((l) => l.decision === 'fail').at(-1);
      out.reverted = {
        sha: bad,
        revertSha: d2.revertSha,
        metric: failing?.name,
        explanation: d2.reason ?? '',
        step: f?.stage === 'watch' ? 0 : f?.step !== undefined ? f.step + 1 : undefined,
        servers: f?.step !== undefined && plan ? `${plan[f.step]?.length ?? '?'} of ${plan.at(-1)?.length ?? '?'}` : undefined,
        caughtAfterMs: caught?.elapsedMs,
      };
      out.badCommitToRevertMs = (d2.finishedAt ?? Date.now()) - pushedAt;
    }
    out.blockedAt = line.blockedAt ? new Date(line.blockedAt).toISOString() : undefined;

    // The engineer fixes it while the line is blocked: the fix waits.
    const fix = await commit(fixChange(), AUTHORS.linus);
    await sleep(config.repo.poll_interval * 3 + 1000);
    const waiting = await runtime.engine.status();
    expect(
      'a commit pushed while blocked waits in the queue',
      waiting.blocked && !waiting.inFlight && waiting.queue.some((c) => c.sha === fix),
    );

    opts.print('\n— the release captain unblocks the line');
    await runtime.engine.unblock('root cause understood: tier lookup guarded in the fix', 'captain:demo');
    out.unblockedAt = new Date().toISOString();
    const d3 = await deployOf(fix);
    expect('after unblocking, the fix goes live', d3.outcome === 'live', d3.reason);
    const releases = await Promise.all((await runtime.fleet.servers()).map((s) => runtime.fleet.release(s)));
    expect('every server runs the fix', d3.artifact !== undefined && releases.every((r) => r === d3.artifact!.id), releases.join(','));

    out.experiment = await fetch(`${url}/api/experiments/EnhancedCheckout/results`)
      .then((r) => (r.ok ? r.json() : undefined))
      .catch(() => undefined);
  } catch (err) {
    expect('the scenario ran to its end', false, (err as Error).message);
  }
  return finishSummary(runtime, config, out, expectations);
}

/** The summary's deploys and verdict, from the store. */
async function finishSummary(
  runtime: Runtime,
  config: PipelineConfig,
  out: Partial<DemoSummary>,
  expectations: DemoSummary['expectations'],
): Promise<DemoSummary> {
  const deploys = await runtime.store.line.listDeploys(config.name, { limit: 50 });
  out.deploys = deploys.reverse().map((d) => ({
    id: d.id,
    shas: d.shas,
    subject: d.commits.at(-1)?.subject ?? '',
    author: d.commits.at(-1)?.author ?? '',
    outcome: d.outcome,
    durationMs: d.finishedAt ? d.finishedAt - d.createdAt : undefined,
    reason: d.reason,
    revertSha: d.revertSha,
  }));
  out.expectations = expectations;
  out.ok = expectations.length > 0 && expectations.every((e) => e.ok);
  return out as DemoSummary;
}
