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
import type { Artifact, Fleet, Server } from '../../ports.js';
import { ownsProcess, readPidFile, removePidFile, startDetached, stopGroup, tail, writePidFile, type Started } from './process.js';

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
  const dir = resolve(opts.cwd ?? process.cwd(), config.dir);
  const log = opts.log;
  const servers = localServers(config);
  const limit = pLimit(config.concurrency);
  /** Per-server queue: one activation at a time on a server. */
  const queues = new Map<string, Promise<unknown>>();
  /** Processes this fleet object started, to notice an early exit at once. */
  const children = new Map<string, Started>();
  const healthProbeMs = Math.min(config.health_timeout, 2000);

  const serverDir = (s: Server) => join(dir, s.id);
  const releasesDir = (s: Server) => join(serverDir(s), 'releases');
  const pidFile = (s: Server) => join(serverDir(s), 'server.pid');
  const logFile = (s: Server) => join(serverDir(s), 'server.log');
  const currentLink = (s: Server) => join(serverDir(s), 'current');
  const url = (s: Server, path: string) => `http://${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}${path}`;

  function serialized<T>(s: Server, fn: () => Promise<T>): Promise<T> {
    const prev = queues.get(s.id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    queues.set(s.id, settled);
    void settled.then(() => {
      if (queues.get(s.id) === settled) queues.delete(s.id);
    });
    return next;
  }

  async function probe(s: Server, signal?: AbortSignal): Promise<{ ok: boolean; release?: string }> {
    const t = AbortSignal.timeout(healthProbeMs);
    try {
      const res = await fetch(url(s, config.health_path), { signal: signal ? AbortSignal.any([signal, t]) : t });
      const body = (await res.json().catch(() => ({}))) as { release?: unknown };
      return { ok: res.ok, release: typeof body.release === 'string' ? body.release : undefined };
    } catch {
      return { ok: false };
    }
  }

  async function currentRelease(s: Server): Promise<string | undefined> {
    try {
      return basename(await readlink(currentLink(s)));
    } catch {
      return undefined;
    }
  }

  /** Unpack the artifact into releases/<id> unless it is there already (via a temp dir and a rename). */
  async function install(s: Server, artifact: Artifact, signal: AbortSignal): Promise<string> {
    const target = join(releasesDir(s), artifact.id);
    if (existsSync(join(target, RELEASE_FILE))) return target;
    await mkdir(releasesDir(s), { recursive: true });
    const tmp = join(releasesDir(s), `.tmp-${artifact.id}-${process.pid}-${Date.now()}`);
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
  async function switchCurrent(s: Server, id: string): Promise<void> {
    const tmp = join(serverDir(s), `.current-${process.pid}-${Date.now()}`);
    await symlink(join('releases', id), tmp);
    await rename(tmp, currentLink(s));
    const now = new Date();
    await utimes(join(releasesDir(s), id), now, now).catch(() => undefined);
  }

  /** Keep the newest keep_releases releases (by last activation), never the current one; drop stale temp dirs. */
  async function prune(s: Server): Promise<void> {
    const current = await currentRelease(s);
    const entries = await readdir(releasesDir(s), { withFileTypes: true }).catch(() => []);
    const releases: { id: string; mtime: number }[] = [];
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      if (e.name.startsWith('.tmp-')) {
        await rm(join(releasesDir(s), e.name), { recursive: true, force: true });
        continue;
      }
      const st = await stat(join(releasesDir(s), e.name)).catch(() => undefined);
      if (st) releases.push({ id: e.name, mtime: st.mtimeMs });
    }
    releases.sort((a, b) => b.mtime - a.mtime || a.id.localeCompare(b.id));
    const keep = new Set(releases.slice(0, config.keep_releases).map((r) => r.id));
    if (current) keep.add(current);
    for (const r of releases) {
      if (keep.has(r.id)) continue;
      await rm(join(releasesDir(s), r.id), { recursive: true, force: true });
      log.debug({ server: s.id, release: r.id }, 'pruned release');
    }
  }

  async function stopServer(s: Server): Promise<void> {
    const pf = await readPidFile(pidFile(s));
    if (pf && ownsProcess(pf.pid, serverDir(s))) {
      const how = await stopGroup(pf.pid, config.stop_timeout);
      log.debug({ server: s.id, pid: pf.pid, how }, 'stopped server');
    }
    children.delete(s.id);
    await removePidFile(pidFile(s));
  }

  function environment(s: Server, id: string, sha: string | undefined): NodeJS.ProcessEnv {
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

  async function readReleaseSha(releaseDir: string): Promise<string | undefined> {
    try {
      return (JSON.parse(await readFile(join(releaseDir, RELEASE_FILE), 'utf8')) as { sha?: string }).sha;
    } catch {
      return undefined;
    }
  }

  /** Start the current release and wait until /healthz shows it. */
  async function startServer(s: Server, id: string, signal?: AbortSignal): Promise<void> {
    const releaseDir = realpathSync(join(releasesDir(s), id));
    const lf = logFile(s);
    const st = await stat(lf).catch(() => undefined);
    if (st && st.size > LOG_ROTATE_BYTES) await rename(lf, `${lf}.1`).catch(() => undefined);
    const sha = await readReleaseSha(releaseDir);
    const started = startDetached(config.start, { cwd: releaseDir, env: environment(s, id, sha), logFile: lf });
    if (started.pid < 0) {
      const why = await started.exited;
      throw new DeployError(`server ${s.id}: cannot start ${config.start.join(' ')}: ${why}`, { server: s.id });
    }
    children.set(s.id, started);
    await writePidFile(pidFile(s), { pid: started.pid, release: id, port: s.port, startedAt: Date.now() });
    let exit: string | undefined;
    void started.exited.then((why) => (exit = why));
    const until = Date.now() + config.health_timeout;
    let last = 'no answer';
    for (;;) {
      if (signal?.aborted) throw new DeployError(`server ${s.id}: aborted while waiting for release ${id} to become healthy`, { server: s.id, cause: signal.reason });
      const p = await probe(s, signal);
      if (p.ok && p.release === id) return;
      if (p.ok) last = `health check shows release ${p.release ?? '(none)'}, not ${id} (is another process on port ${s.port}?)`;
      if (exit !== undefined) {
        throw new DeployError(`server ${s.id}: release ${id} exited (${exit}) before becoming healthy; last log lines:\n${await tail(lf)}`, { server: s.id });
      }
      if (Date.now() >= until) {
        throw new DeployError(`server ${s.id}: release ${id} not healthy within ${config.health_timeout}ms on port ${s.port}: ${last}; last log lines:\n${await tail(lf)}`, { server: s.id });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The process the pidfile names is ours, alive, and answers for `id`. */
  async function runs(s: Server, id: string): Promise<boolean> {
    const pf = await readPidFile(pidFile(s));
    if (!pf || pf.release !== id || !ownsProcess(pf.pid, serverDir(s))) return false;
    const p = await probe(s);
    return p.ok && p.release === id;
  }

  async function activateNow(server: Server, artifact: Artifact, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new DeployError(`server ${server.id}: aborted before activating release ${artifact.id}`, { server: server.id, cause: signal.reason });
    const t0 = Date.now();
    await mkdir(serverDir(server), { recursive: true });
    await install(server, artifact, signal);
    if ((await currentRelease(server)) === artifact.id && (await runs(server, artifact.id))) {
      log.debug({ server: server.id, release: artifact.id }, 'already running');
      return;
    }
    await switchCurrent(server, artifact.id);
    const t1 = Date.now();
    await stopServer(server);
    const t2 = Date.now();
    await startServer(server, artifact.id, signal);
    await prune(server);
    log.info({ server: server.id, release: artifact.id, sha: artifact.sha, ms: Date.now() - t0, stopMs: t2 - t1, startMs: Date.now() - t2 }, 'activated');
  }

  const fleet: LocalFleet = {
    async servers() {
      return servers.map((s) => ({ ...s, labels: { ...s.labels } }));
    },

    async release(server, signal) {
      const p = await probe(server, signal);
      if (p.ok && p.release) return p.release;
      return currentRelease(server);
    },

    activate(server, artifact, signal) {
      return limit(() =>
        serialized(server, async () => {
          try {
            await activateNow(server, artifact, signal);
          } catch (err) {
            if (err instanceof DeployError) throw err;
            throw new DeployError(`server ${server.id}: activating release ${artifact.id} failed: ${(err as Error).message}`, { server: server.id, cause: err });
          }
        }),
      );
    },

    async health(server, signal) {
      return (await probe(server, signal)).ok;
    },

    async start(signal) {
      await Promise.all(
        servers.map((s) =>
          limit(() =>
            serialized(s, async () => {
              const id = await currentRelease(s);
              const pf = await readPidFile(pidFile(s));
              if (pf && ownsProcess(pf.pid, serverDir(s))) {
                log.info({ server: s.id, pid: pf.pid, release: pf.release }, 'adopted running server');
                return;
              }
              if (!id || !existsSync(join(releasesDir(s), id))) return;
              await removePidFile(pidFile(s));
              try {
                await startServer(s, id, signal);
                log.info({ server: s.id, release: id }, 'started server');
              } catch (err) {
                // Not fatal: the engine sees the server unhealthy and activates a known release.
                log.warn({ server: s.id, release: id, err: (err as Error).message }, 'server did not start on its current release');
              }
            }),
          ),
        ),
      );
    },

    stop(server) {
      return serialized(server, () => stopServer(server));
    },

    async installed(server) {
      const entries = await readdir(releasesDir(server), { withFileTypes: true }).catch(() => []);
      const list: { id: string; mtime: number }[] = [];
      for (const e of entries) {
        if (!e.isDirectory() || e.name.startsWith('.')) continue;
        const st = await stat(join(releasesDir(server), e.name)).catch(() => undefined);
        if (st) list.push({ id: e.name, mtime: st.mtimeMs });
      }
      return list.sort((a, b) => b.mtime - a.mtime || a.id.localeCompare(b.id)).map((r) => r.id);
    },

    dirOf: serverDir,

    async close() {
      await Promise.all(servers.map((s) => limit(() => serialized(s, () => stopServer(s)))));
    },
  };
  return fleet;
}
