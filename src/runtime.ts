// The composition root: reads a pipeline file and wires the adapters it names into an engine,
// a store and (optionally) the HTTP server. The only place that knows every adapter.
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { parsePipeline, type PipelineConfig } from './core/config/index.js';
import { WorkerJudge } from './adapters/judge/worker.js';
import { Engine, type TestStage } from './engine/engine.js';
import { EventBus } from './engine/events.js';
import { ExperimentRegistry } from './engine/experiments.js';
import { FlagRollouts } from './engine/flag-rollouts.js';
import { createGitRepo } from './adapters/git/git-repo.js';
import { createTarBuilder } from './adapters/build/tar-builder.js';
import { createLocalFleet, type LocalFleet } from './adapters/fleet/local.js';
import { createScrapeSource } from './adapters/metrics/scrape.js';
import { createConsoleNotifier } from './adapters/notify/console.js';
import { buildNotifier, type QueuedNotifier } from './adapters/notify/index.js';
import { systemClock } from './adapters/clock/system.js';
import { openSqliteStore } from './adapters/store/sqlite/index.js';
import { createAuth, isLoopbackHost, loadFrontendTokens, loadTokens } from './server/auth.js';
import type { ServerContext } from './server/context.js';
import type { CodeHost, Fleet, MetricsSource, PushCheck, Repo, Store } from './ports.js';
import { ImmuneError } from './core/errors.js';

/** immune's own install directory (where package.json and node_modules are). */
export const IMMUNE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The state store in `file` (SQLite), for commands that read it without running the line. */
export function openStateStore(file: string): Store {
  return openSqliteStore(file);
}

export interface RuntimeOptions {
  pipelineFile: string;
  /** Where state lives: immune.db, artifacts/ (default .immune). */
  dataDir?: string;
  log?: Logger;
  /** Short human lines for the terminal (notifications). */
  print?: (line: string) => void;
  /** Extra environment for local fleet servers (e.g. the experiments SDK settings). */
  fleetEnv?: Record<string, string>;
  /** Serve HTTP: API, dashboard, Unleash client API, /metrics. */
  http?: {
    port: number;
    host: string;
    openRead?: boolean;
    tokensFile?: string;
    clientTokens?: string[];
    experimentsDir?: string;
    publicUrl?: string;
  };
}

export interface Runtime {
  config: PipelineConfig;
  engine: Engine;
  store: Store;
  fleet: Fleet;
  notifier: QueuedNotifier;
  events: EventBus;
  log: Logger;
  server?: FastifyInstance;
  url?: string;
  /** Start the fleet (local: adopt or start servers), the engine and the server. */
  start(): Promise<void>;
  /** Stop the engine and server; local fleet processes keep running unless stopFleet. */
  close(opts?: { stopFleet?: boolean }): Promise<void>;
}

export function defaultLogger(level = process.env.IMMUNE_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      redact: { paths: ['req.headers.authorization', '*.token', '*.key', 'token', 'key'], censor: '[redacted]' },
      ...(process.stderr.isTTY
        ? { transport: { target: 'pino-pretty', options: { destination: 2, translateTime: 'HH:MM:ss', ignore: 'pid,hostname' } } }
        : {}),
    },
    process.stderr.isTTY ? undefined : pino.destination(2),
  );
}

export async function loadPipelineFile(file: string): Promise<PipelineConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ImmuneError(
      'IMMUNE_CONFIG_INVALID',
      `${file}: cannot read the pipeline file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  return parsePipeline(text, file);
}

function createRepo(config: PipelineConfig): Repo {
  return createGitRepo({
    url: resolveRepoUrl(config.repo.url),
    pushUrl: config.repo.push_url === undefined ? undefined : resolveRepoUrl(config.repo.push_url),
    branch: config.repo.branch,
    remote: config.repo.remote,
    workdir: resolve(config.repo.workdir),
  });
}

/** The fleet the pipeline names; `local` is also returned as such, to be started with the runtime. */
async function createFleet(config: PipelineConfig, opts: RuntimeOptions, log: Logger): Promise<{ fleet: Fleet; localFleet?: LocalFleet }> {
  if (config.fleet.type === 'local') {
    const localFleet = createLocalFleet(config.fleet, { root: IMMUNE_ROOT, log, env: opts.fleetEnv });
    return { fleet: localFleet, localFleet };
  }
  const { createSshFleet } = await import('./adapters/fleet/ssh.js');
  // Relative key, known_hosts and servers_file paths are relative to the pipeline file.
  return { fleet: createSshFleet(config.fleet, { log, baseDir: dirname(resolve(opts.pipelineFile)) }) };
}

async function createMetricsSource(config: PipelineConfig, log: Logger): Promise<MetricsSource> {
  if (config.metrics.source === 'prometheus') {
    const { createPrometheusSource } = await import('./adapters/metrics/prometheus.js');
    return createPrometheusSource(config.metrics, { log });
  }
  return createScrapeSource(config.metrics, { log });
}

async function createCodeHost(config: PipelineConfig, log: Logger): Promise<CodeHost | undefined> {
  if (!config.github) return undefined;
  const token = process.env[config.github.token_env];
  if (!token) throw new ImmuneError('IMMUNE_CONFIG_INVALID', `github: set the token in $${config.github.token_env}`);
  const { createGithubCodeHost } = await import('./adapters/github/code-host.js');
  return createGithubCodeHost(config.github, { token, log });
}

async function createTestStage(config: PipelineConfig, repo: Repo, store: Store, log: Logger): Promise<TestStage | undefined> {
  if (!config.tests) return undefined;
  const { createTestRunner } = await import('./adapters/runner/index.js');
  const { runTestStage } = await import('./engine/test-stage.js');
  const runner = createTestRunner({ config: config.tests, history: store.tests, log });
  const flakePolicy = { flakyRate: config.tests.flaky_rate, quarantine: config.tests.quarantine };
  return (change, signal, progress) => runTestStage({ repo, runner, history: store.tests, log, flakePolicy }, change, signal, progress);
}

/** What the HTTP server is built from, beside the options. */
interface ServeParts {
  config: PipelineConfig;
  store: Store;
  events: EventBus;
  log: Logger;
  engine: Engine;
  notifier: QueuedNotifier;
  tokens: ReturnType<typeof loadTokens>;
  publicUrl: string | undefined;
}

/** The HTTP server listening, and the flag rollouts it serves (started once it listens). */
async function startServer(
  http: NonNullable<RuntimeOptions['http']>,
  p: ServeParts,
): Promise<{ server: FastifyInstance; flags: FlagRollouts }> {
  const { config, store, events, log, notifier, publicUrl } = p;
  const { buildServer } = await import('./server/app.js');
  const { webhookOptionsFrom } = await import('./server/webhooks.js');
  // Reads are open without a token only when the server listens on loopback.
  const openRead = http.openRead ?? isLoopbackHost(http.host);
  const auth = createAuth({ tokens: p.tokens, openRead });
  const experiments = new ExperimentRegistry({
    dir: resolve(http.experimentsDir ?? 'experiments'),
    store,
    events,
    log,
    clock: systemClock,
  });
  const flags = new FlagRollouts({
    registry: experiments,
    store,
    events,
    log,
    clock: systemClock,
    notifier,
    pipeline: config.name,
    publicUrl,
  });
  const ctx: ServerContext = {
    store,
    log,
    events,
    auth,
    line: p.engine,
    pipelineName: config.name,
    experiments,
    flags,
    clientTokens: http.clientTokens ?? (process.env.IMMUNE_CLIENT_TOKENS ?? '').split(',').filter(Boolean),
    frontendTokens: loadFrontendTokens(http.tokensFile),
    publicUrl: publicUrl!,
    notifications: notifier,
  };
  const server = await buildServer(ctx, { webhooks: webhookOptionsFrom(config) });
  await server.listen({ port: http.port, host: http.host });
  return { server, flags };
}

export async function createRuntime(opts: RuntimeOptions): Promise<Runtime> {
  const config = await loadPipelineFile(opts.pipelineFile);
  const log = opts.log ?? defaultLogger();
  const dataDir = resolve(opts.dataDir ?? '.immune');
  const store = openSqliteStore(join(dataDir, 'immune.db'));
  const events = new EventBus();

  const repo = createRepo(config);
  const builder = createTarBuilder({ ...config.build, dir: join(dataDir, 'artifacts'), log });
  const { fleet, localFleet } = await createFleet(config, opts, log);
  const metrics = await createMetricsSource(config, log);
  const codeHost = await createCodeHost(config, log);
  const tests = await createTestStage(config, repo, store, log);

  const publicUrl = opts.http?.publicUrl ?? (opts.http ? `http://${opts.http.host}:${opts.http.port}` : undefined);
  // Notifications are queued in the store and delivered in the background: the engine never waits on a receiver.
  const notifier = buildNotifier({
    pipeline: config.name,
    config: config.notify,
    onRegression: config.on_regression.notify,
    env: process.env,
    outbox: store.notifications,
    log,
    tap: createConsoleNotifier(log, opts.print),
    source: publicUrl ?? `immune/${config.name}`,
  });
  // Off the engine's thread: a look at a large fleet would stall the API and the flag endpoints.
  const judge = new WorkerJudge({ log });
  const engine = new Engine({
    config,
    repo,
    builder,
    fleet,
    metrics,
    store,
    notifier,
    clock: systemClock,
    events,
    log,
    judge,
    tests,
    codeHost,
    publicUrl,
  });

  let flagRollouts: FlagRollouts | undefined;
  const rt: Runtime = {
    config,
    engine,
    store,
    fleet,
    notifier,
    events,
    log,
    async start() {
      // A bad tokens file stops serve here, before the fleet or the engine start (no line without its API).
      const tokens = opts.http ? loadTokens(opts.http.tokensFile) : [];
      await localFleet?.start();
      const fileSd = config.metrics.prometheus?.file_sd;
      if (fileSd) {
        // Prometheus scrapes what the orchestrator deploys to: keep its target file current.
        const { writeFileSd } = await import('./adapters/metrics/file-sd.js');
        await writeFileSd(resolve(fileSd), await fleet.servers());
      }
      notifier.start();
      await engine.start();
      if (opts.http) {
        const { server, flags } = await startServer(opts.http, { config, store, events, log, engine, notifier, tokens, publicUrl });
        flagRollouts = flags;
        flags.start();
        rt.server = server;
        rt.url = publicUrl;
      }
    },
    async close(o = {}) {
      flagRollouts?.stop();
      await rt.server?.close().catch(() => undefined);
      await engine.stop();
      await judge.close();
      await notifier.stop();
      if (o.stopFleet) await fleet.close?.();
      await store.close();
    },
  };
  return rt;
}

/** `immune notify test`: one test notification to a target of the pipeline, now, bypassing the queue. */
export async function sendTestNotification(
  pipelineFile: string,
  target: string,
  publicUrl?: string,
): Promise<{ receipt: string; ms: number }> {
  const config = await loadPipelineFile(pipelineFile);
  const { sendTest } = await import('./adapters/notify/index.js');
  return sendTest({
    pipeline: config.name,
    config: config.notify,
    env: process.env,
    source: publicUrl ?? `immune/${config.name}`,
    target,
    link: publicUrl,
  });
}

/**
 * Whether the pipeline's repository accepts revert pushes (nothing is pushed): for `immune validate
 * --deep` and `immune doctor`; `serve` checks the same at start through the Repo port.
 */
export async function checkRepoPushable(config: PipelineConfig): Promise<PushCheck> {
  const { checkPushable } = await import('./adapters/git/git-repo.js');
  return checkPushable({
    url: resolveRepoUrl(config.repo.url),
    pushUrl: config.repo.push_url === undefined ? undefined : resolveRepoUrl(config.repo.push_url),
    branch: config.repo.branch,
  });
}

/** A local path in the pipeline is relative to where immune runs; URLs stay as they are. */
export function resolveRepoUrl(url: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/]+@[^:]+:/.test(url) ? url : resolve(url);
}
