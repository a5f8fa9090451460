// The local fleet: N server processes on loopback, each with its own release directory.
//   <dir>/<server>/releases/<artifact id>/   unpacked artifacts, the newest keep_releases kept
//   <dir>/<server>/current -> releases/<id>  switched atomically (symlink to a temp name, rename)
//   <dir>/<server>/server.pid, server.log    the detached process, adopted again after a restart
import { createRequire } from 'node:module';
import { mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { existsSync, realpathSync } from 'node:fs';
import { basename, delimiter, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pLimit from 'p-limit';
import { extract as extractTar } from 'tar';
import type { Logger } from 'pino';
import type { LocalFleetConfig } from '../../core/config/fleet.js';
import { DeployError } from '../../core/errors.js';
import type { ActivateOptions, Artifact, Fleet, Server } from '../../ports.js';
import {
  listenersOn,
  ownsProcess,
  readPidFile,
  removePidFile,
  startDetached,
  stopGroup,
  tail,
  writePidFile,
  type Started,
} from './process.js';

export interface LocalFleetOptions {
  /** immune's install directory: its node_modules is the servers' NODE_PATH. */
  root: string;
  log: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** Relative `dir` is resolved against this (default: the current directory). */
  cwd?: string;
  /** Environment for every server on top of config.env (e.g. IMMUNE_URL, IMMUNE_CLIENT_TOKEN, IMMUNE_SDK). */
  env?: Record<string, string>;
}

export interface LocalFleet extends Fleet {
  /**
   * Adopt servers still running from an earlier orchestrator; start the current release where
   * nothing runs. Never rejects for a server that does not come up (it is logged; the engine
   * finds it unhealthy and activates a known release).
   */
  start(signal?: AbortSignal): Promise<void>;
  /** Stop one server's process. */
  stop(server: Server): Promise<void>;
  /** Release ids installed on a server, newest activation first. */
  installed(server: Server): Promise<string[]>;
  /** The server's directory. */
  dirOf(server: Server): string;
  close(): Promise<void>;
}

const RELEASE_FILE = '.immune-release.json';
const LOG_ROTATE_BYTES = 4 * 1024 * 1024;

export function localServers(config: LocalFleetConfig): Server[] {
  return Array.from({ length: config.servers }, (_, i) => ({
    id: `s${i + 1}`,
    host: config.host,
    port: config.base_port + i,
    labels: Object.fromEntries(Object.entries(config.labels).map(([k, vs]) => [k, vs[i % vs.length]])),
  }));
}

/** Where tsx's loader is, so servers can `import()` TypeScript (immune's SDK). */
function tsxLoader(root: string): string | undefined {
  try {
    return createRequire(join(root, 'package.json')).resolve('tsx');
  } catch {
    return undefined;
  }
}

export function createLocalFleet(config: LocalFleetConfig, opts: LocalFleetOptions): LocalFleet {
  return new LocalProcessFleet(config, opts);
}

const url = (s: Server, path: string) => `http://${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}${path}`;

/** The local fleet behind createLocalFleet: one method per step of an activation. */
class LocalProcessFleet implements LocalFleet {
  private readonly dir: string;
  private readonly log: LocalFleetOptions['log'];
  private readonly list: Server[];
  private readonly limit: ReturnType<typeof pLimit>;
  /** Per-server queue: one activation at a time on a server. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Processes this fleet object started, to notice an early exit at once. */
  private readonly children = new Map<string, Started>();
  private readonly healthProbeMs: number;

  constructor(
    private readonly config: LocalFleetConfig,
    private readonly opts: LocalFleetOptions,
  ) {
    this.dir = resolve(opts.cwd ?? process.cwd(), config.dir);
    this.log = opts.log;
    this.list = localServers(config);
    this.limit = pLimit(config.concurrency);
    this.healthProbeMs = Math.min(config.health_timeout, 2000);
  }

  private serverDir(s: Server): string {
    return join(this.dir, s.id);
  }
  private releasesDir(s: Server): string {
    return join(this.serverDir(s), 'releases');
  }
  private pidFile(s: Server): string {
    return join(this.serverDir(s), 'server.pid');
  }
  private logFile(s: Server): string {
    return join(this.serverDir(s), 'server.log');
  }
  private currentLink(s: Server): string {
    return join(this.serverDir(s), 'current');
  }

  private serialized<T>(s: Server, fn: () => Promise<T>): Promise<T> {
    const queues = this.queues;
    const prev = queues.get(s.id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    queues.set(s.id, settled);
    void settled.then(() => {
      if (queues.get(s.id) === settled) queues.delete(s.id);
    });
    return next;
  }

  private async probe(s: Server, signal?: AbortSignal): Promise<{ ok: boolean; release?: string }> {
    const t = AbortSignal.timeout(this.healthProbeMs);
    try {
      const res = await fetch(url(s, this.config.health_path), { signal: signal ? AbortSignal.any([signal, t]) : t });
      const body = (await res.json().catch(() => ({}))) as { release?: unknown };
      return { ok: res.ok, release: typeof body.release === 'string' ? body.release : undefined };
    } catch {
      return { ok: false };
    }
  }

  private async currentRelease(s: Server): Promise<string | undefined> {
    try {
      return basename(await readlink(this.currentLink(s)));
    } catch {
      return undefined;
    }
  }

  /** Unpack the artifact into releases/<id> unless it is there already (via a temp dir and a rename). */
  private async install(s: Server, artifact: Artifact, signal: AbortSignal): Promise<string> {
    const target = join(this.releasesDir(s), artifact.id);
    if (existsSync(join(target, RELEASE_FILE))) return target;
    await mkdir(this.releasesDir(s), { recursive: true });
    const tmp = join(this.releasesDir(s), `.tmp-${artifact.id}-${process.pid}-${Date.now()}`);
    await mkdir(tmp);
    try {
      signal.throwIfAborted();
      await extractTar({ file: artifact.path, cwd: tmp, preserveOwner: false, strict: true });
      await writeFile(join(tmp, RELEASE_FILE), JSON.stringify({ id: artifact.id, sha: artifact.sha }) + '\n');
      await rm(target, { recursive: true, force: true });
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      const e = err as { shortMessage?: string; message: string };
      throw new DeployError(`server ${s.id}: cannot unpack ${artifact.path}: ${e.shortMessage ?? e.message}`, { server: s.id, cause: err });
    }
    return target;
  }

  /** Point `current` at releases/<id> atomically: a new symlink under a temp name renamed over the old one. */
  private async switchCurrent(s: Server, id: string): Promise<void> {
    const tmp = join(this.serverDir(s), `.current-${process.pid}-${Date.now()}`);
    await symlink(join('releases', id), tmp);
    await rename(tmp, this.currentLink(s));
    const now = new Date();
    await utimes(join(this.releasesDir(s), id), now, now).catch(() => undefined);
  }

  /** Release directories on a server (not temp dirs), newest activation first. */
  private async releaseDirs(s: Server): Promise<{ id: string; mtime: number }[]> {
    const entries = await readdir(this.releasesDir(s), { withFileTypes: true }).catch(() => []);
    const releases: { id: string; mtime: number }[] = [];
    for (const e of entries) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      const st = await stat(join(this.releasesDir(s), e.name)).catch(() => undefined);
      if (st) releases.push({ id: e.name, mtime: st.mtimeMs });
    }
    return releases.sort((a, b) => b.mtime - a.mtime || a.id.localeCompare(b.id));
  }

  /** Keep the newest keep_releases releases (by last activation), never the current one; drop stale temp dirs. */
  private async prune(s: Server): Promise<void> {
    const current = await this.currentRelease(s);
    const entries = await readdir(this.releasesDir(s), { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (e.isDirectory() && e.name.startsWith('.tmp-')) await rm(join(this.releasesDir(s), e.name), { recursive: true, force: true });
    }
    const releases = await this.releaseDirs(s);
    const keep = new Set(releases.slice(0, this.config.keep_releases).map((r) => r.id));
    if (current) keep.add(current);
    for (const r of releases) {
      if (keep.has(r.id)) continue;
      await rm(join(this.releasesDir(s), r.id), { recursive: true, force: true });
      this.log.debug({ server: s.id, release: r.id }, 'pruned release');
    }
  }

  private async stopServer(s: Server): Promise<void> {
    const pf = await readPidFile(this.pidFile(s));
    if (pf && ownsProcess(pf.pid, this.serverDir(s))) {
      const how = await stopGroup(pf.pid, this.config.stop_timeout);
      this.log.debug({ server: s.id, pid: pf.pid, how }, 'stopped server');
    }
    this.children.delete(s.id);
    await removePidFile(this.pidFile(s));
  }

  /**
   * Stop a process of this fleet still listening on the server's port that no pidfile names (an orchestrator
   * killed between spawning it and writing its pidfile): otherwise every start fails with EADDRINUSE and its
   * /healthz passes for ours. Only processes running under the fleet's dir are stopped; others are logged.
   */
  private async stopOrphans(s: Server): Promise<void> {
    for (const pid of listenersOn(s.port)) {
      if (pid === process.pid) continue;
      if (!ownsProcess(pid, this.dir)) {
        this.log.warn({ server: s.id, port: s.port, pid }, 'port taken by a process outside the fleet dir; left alone');
        continue;
      }
      const how = await stopGroup(pid, this.config.stop_timeout);
      this.log.warn({ server: s.id, port: s.port, pid, how }, 'stopped an orphan server on the port (no pidfile named it)');
    }
  }

  private environment(s: Server, id: string, sha: string | undefined): NodeJS.ProcessEnv {
    const { config, opts } = this;
    const env: NodeJS.ProcessEnv = { ...process.env, ...config.env, ...opts.env };
    const nodeModules = join(opts.root, 'node_modules');
    env.NODE_PATH = env.NODE_PATH ? `${nodeModules}${delimiter}${env.NODE_PATH}` : nodeModules;
    // The SDK as TypeScript source (immune run from a checkout) needs tsx's loader; compiled it does not.
    if (env.IMMUNE_SDK && /\.[cm]?ts$/.test(env.IMMUNE_SDK)) {
      const loader = tsxLoader(opts.root);
      if (loader) env.NODE_OPTIONS = `${env.NODE_OPTIONS ? `${env.NODE_OPTIONS} ` : ''}--import=${pathToFileURL(loader).href}`;
    }
    Object.assign(env, { PORT: String(s.port), HOST: s.host, SERVER_ID: s.id, RELEASE_ID: id });
    if (sha) env.RELEASE_SHA = sha;
    else delete env.RELEASE_SHA;
    return env;
  }

  /** Start the current release and wait until /healthz shows it. */
  private async startServer(s: Server, id: string, signal?: AbortSignal): Promise<void> {
    const releaseDir = realpathSync(join(this.releasesDir(s), id));
    const lf = this.logFile(s);
    const st = await stat(lf).catch(() => undefined);
    if (st && st.size > LOG_ROTATE_BYTES) await rename(lf, `${lf}.1`).catch(() => undefined);
    const sha = await readReleaseSha(releaseDir);
    await this.stopOrphans(s);
    const started = startDetached(this.config.start, { cwd: releaseDir, env: this.environment(s, id, sha), logFile: lf });
    if (started.pid < 0) {
      const why = await started.exited;
      throw new DeployError(`server ${s.id}: cannot start ${this.config.start.join(' ')}: ${why}`, { server: s.id });
    }
    this.children.set(s.id, started);
    await writePidFile(this.pidFile(s), { pid: started.pid, release: id, port: s.port, startedAt: Date.now() });
    await this.waitHealthy(s, id, started, signal);
  }

  /** Poll the health check until it answers for release `id`; fail when the process exits or time runs out. */
  private async waitHealthy(s: Server, id: string, started: Started, signal?: AbortSignal): Promise<void> {
    const lf = this.logFile(s);
    let exit: string | undefined;
    void started.exited.then((why) => (exit = why));
    const until = Date.now() + this.config.health_timeout;
    let last = 'no answer';
    for (;;) {
      if (signal?.aborted)
        throw new DeployError(`server ${s.id}: aborted while waiting for release ${id} to become healthy`, {
          server: s.id,
          cause: signal.reason,
        });
      const p = await this.probe(s, signal);
      if (p.ok && p.release === id) return;
      if (p.ok) last = `health check shows release ${p.release ?? '(none)'}, not ${id} (is another process on port ${s.port}?)`;
      if (exit !== undefined) {
        throw new DeployError(
          `server ${s.id}: release ${id} exited (${exit}) before becoming healthy; last log lines:\n${await tail(lf)}`,
          { server: s.id },
        );
      }
      if (Date.now() >= until) {
        throw new DeployError(
          `server ${s.id}: release ${id} not healthy within ${this.config.health_timeout}ms on port ${s.port}: ${last}; last log lines:\n${await tail(lf)}`,
          { server: s.id },
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The process the pidfile names is ours, alive, and answers for `id`. */
  private async runs(s: Server, id: string): Promise<boolean> {
    const pf = await readPidFile(this.pidFile(s));
    if (!pf || pf.release !== id || !ownsProcess(pf.pid, this.serverDir(s))) return false;
    const p = await this.probe(s);
    return p.ok && p.release === id;
  }

  private async activateNow(server: Server, artifact: Artifact, signal: AbortSignal, restart: boolean): Promise<void> {
    if (signal.aborted)
      throw new DeployError(`server ${server.id}: aborted before activating release ${artifact.id}`, {
        server: server.id,
        cause: signal.reason,
      });
    const t0 = Date.now();
    await mkdir(this.serverDir(server), { recursive: true });
    await this.install(server, artifact, signal);
    if (!restart && (await this.currentRelease(server)) === artifact.id && (await this.runs(server, artifact.id))) {
      this.log.debug({ server: server.id, release: artifact.id }, 'already running');
      return;
    }
    await this.switchCurrent(server, artifact.id);
    const t1 = Date.now();
    await this.stopServer(server);
    const t2 = Date.now();
    await this.startServer(server, artifact.id, signal);
    await this.prune(server);
    this.log.info(
      { server: server.id, release: artifact.id, sha: artifact.sha, ms: Date.now() - t0, stopMs: t2 - t1, startMs: Date.now() - t2 },
      'activated',
    );
  }

  /** Adopt the server's running process, or start its current release; a failure is logged, not thrown. */
  private async startOne(s: Server, signal?: AbortSignal): Promise<void> {
    const id = await this.currentRelease(s);
    const pf = await readPidFile(this.pidFile(s));
    if (pf && ownsProcess(pf.pid, this.serverDir(s))) {
      this.log.info({ server: s.id, pid: pf.pid, release: pf.release }, 'adopted running server');
      return;
    }
    if (!id || !existsSync(join(this.releasesDir(s), id))) return;
    await removePidFile(this.pidFile(s));
    try {
      await this.startServer(s, id, signal);
      this.log.info({ server: s.id, release: id }, 'started server');
    } catch (err) {
      // Not fatal: the engine sees the server unhealthy and activates a known release.
      this.log.warn({ server: s.id, release: id, err: (err as Error).message }, 'server did not start on its current release');
    }
  }

  async servers(): Promise<Server[]> {
    return this.list.map((s) => ({ ...s, labels: { ...s.labels } }));
  }

  async release(server: Server, signal?: AbortSignal): Promise<string | undefined> {
    const p = await this.probe(server, signal);
    if (p.ok && p.release) return p.release;
    return this.currentRelease(server);
  }

  activate(server: Server, artifact: Artifact, signal: AbortSignal, options: ActivateOptions = {}): Promise<void> {
    return this.limit(() =>
      this.serialized(server, async () => {
        try {
          await this.activateNow(server, artifact, signal, options.restart === true);
        } catch (err) {
          if (err instanceof DeployError) throw err;
          throw new DeployError(`server ${server.id}: activating release ${artifact.id} failed: ${(err as Error).message}`, {
            server: server.id,
            cause: err,
          });
        }
      }),
    );
  }

  async health(server: Server, signal?: AbortSignal): Promise<boolean> {
    return (await this.probe(server, signal)).ok;
  }

  async start(signal?: AbortSignal): Promise<void> {
    await Promise.all(this.list.map((s) => this.limit(() => this.serialized(s, () => this.startOne(s, signal)))));
  }

  stop(server: Server): Promise<void> {
    return this.serialized(server, () => this.stopServer(server));
  }

  async installed(server: Server): Promise<string[]> {
    return (await this.releaseDirs(server)).map((r) => r.id);
  }

  dirOf(server: Server): string {
    return this.serverDir(server);
  }

  async close(): Promise<void> {
    await Promise.all(this.list.map((s) => this.limit(() => this.serialized(s, () => this.stopServer(s)))));
  }
}

async function readReleaseSha(releaseDir: string): Promise<string | undefined> {
  try {
    return (JSON.parse(await readFile(join(releaseDir, RELEASE_FILE), 'utf8')) as { sha?: string }).sha;
  } catch {
    return undefined;
  }
}
