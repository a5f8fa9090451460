// A fleet of real servers reached over SSH (node-ssh): upload a release once, unpack it beside the
// others, switch the `current` link atomically, restart, and wait for the health check. Rollback is
// the same switch to a release that is still installed, so it takes seconds.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { NodeSSH } from 'node-ssh';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Logger } from 'pino';
import type { SshFleetConfig } from '../../core/config/fleet.js';
import { DeployError, ImmuneError } from '../../core/errors.js';
import type { Artifact, Fleet, Server } from '../../ports.js';
import { checkHostKey, hostKeyAlgorithms, keysFor, parseKnownHosts } from './ssh-known-hosts.js';
import { checkReleaseId, releasesToPrune, RemoteLayout } from './ssh-remote.js';
import { loadSshServers, type SshTarget } from './ssh-servers.js';

export interface SshFleetOptions {
  log: Logger;
  /** Relative key, known_hosts and servers_file paths are resolved from here (the pipeline file's directory). */
  baseDir?: string;
  /** For the health check; global fetch by default. */
  fetch?: typeof fetch;
}

/** An open session to one server; every command's failure names the server and the phase. */
interface Session {
  run(command: string, phase: string): Promise<string>;
  /** Like run, but a non-zero exit is an answer (undefined), not an error. */
  tryRun(command: string): Promise<string | undefined>;
  put(local: string, remote: string): Promise<void>;
  close(): void;
}

export function createSshFleet(config: SshFleetConfig, opts: SshFleetOptions): Fleet {
  return new SshFleet(config, opts);
}

class SshFleet implements Fleet {
  private readonly log: Logger;
  private readonly doFetch: typeof fetch;
  private readonly limit: LimitFunction;
  private known = new Map<string, SshTarget>();

  constructor(
    private readonly config: SshFleetConfig,
    private readonly opts: SshFleetOptions,
  ) {
    this.log = opts.log.child({ fleet: 'ssh' });
    this.doFetch = opts.fetch ?? fetch;
    this.limit = pLimit(config.concurrency);
  }

  private pathOf(p: string): string {
    if (p === '~' || p.startsWith('~/')) return resolve(homedir(), p.slice(2));
    return isAbsolute(p) ? p : resolve(this.opts.baseDir ?? process.cwd(), p);
  }

  async servers(): Promise<Server[]> {
    const targets = await loadSshServers(this.config, (p) => this.pathOf(p));
    this.known = new Map(targets.map((t) => [t.id, t]));
    return targets.map(({ id, host, port, labels }) => ({ id, host, port, labels: { ...labels } }));
  }

  private async target(server: Server): Promise<SshTarget> {
    if (!this.known.has(server.id)) await this.servers();
    const t = this.known.get(server.id);
    if (!t) throw new DeployError(`${server.id}: not in the SSH fleet's server list`, { server: server.id });
    return t;
  }

  async release(server: Server, signal?: AbortSignal): Promise<string | undefined> {
    const t = await this.target(server);
    const layout = new RemoteLayout(t.dir);
    return this.limit(() =>
      this.withSession(t, this.config.connect_timeout * 2, 'reading the current release', signal, async (s) => {
        const link = await s.tryRun(layout.readCurrent());
        const id = link?.trim().split('/').pop();
        return id ? id : undefined;
      }),
    );
  }

  /** Release ids in the server's releases directory, newest first (`ls -1t`), temp names left out. */
  async installed(server: Server, signal?: AbortSignal): Promise<string[]> {
    const t = await this.target(server);
    const layout = new RemoteLayout(t.dir);
    return this.limit(() =>
      this.withSession(t, this.config.connect_timeout * 2, 'listing the installed releases', signal, async (s) => {
        const listed = await s.tryRun(layout.listReleases());
        return (listed ?? '')
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(l));
      }),
    );
  }

  /** Always a switch and a restart (what the port's `restart` option asks for). */
  async activate(server: Server, artifact: Artifact, signal: AbortSignal): Promise<void> {
    const { config, log } = this;
    const t = await this.target(server);
    const id = checkReleaseId(artifact.id, t.id);
    const layout = new RemoteLayout(t.dir);
    const started = performance.now();
    let mark = started;
    const lap = (): number => {
      const now = performance.now();
      const ms = Math.round(now - mark);
      mark = now;
      return ms;
    };
    const phases: Record<string, number> = {};
    await this.limit(() =>
      this.withSession(t, config.timeout, `activating ${id}`, signal, async (s, bounded) => {
        phases.connect = lap();
        const installed = (await s.run(layout.isInstalled(id), 'checking installed releases')).trim() === 'yes';
        if (!installed) {
          log.info({ server: t.id, release: id, bytes: artifact.bytes }, 'uploading release');
          await s.run(layout.prepare(), 'creating the releases directory');
          await s.put(artifact.path, layout.upload(id));
          await s.run(layout.unpack(id), 'unpacking the release');
        }
        phases.install = lap();
        await s.run(layout.activate(id), 'switching current');
        log.info({ server: t.id, release: id, installed }, 'switched, restarting');
        const env = { IMMUNE_RELEASE: id, IMMUNE_SERVER: t.id, IMMUNE_DIR: t.dir, HOST: t.host, PORT: String(t.port) };
        await s.run(layout.restart(config.restart, env), 'restart');
        phases.restart = lap();
        await this.waitHealthy(t, bounded);
        phases.health = lap();
        const listed = await s.tryRun(layout.listReleases());
        const prune = releasesToPrune((listed ?? '').split('\n'), id, config.keep_releases);
        if (prune.length) {
          await s.run(layout.remove(prune), 'removing old releases');
          log.info({ server: t.id, removed: prune }, 'pruned old releases');
        }
      }),
    );
    log.info({ server: t.id, release: id, ms: Math.round(performance.now() - started), phases }, 'release active');
  }

  health(server: Server, signal?: AbortSignal): Promise<boolean> {
    return this.healthy(server, Math.min(5000, this.config.health_timeout), signal);
  }

  /** Open a session to `t`, verifying its host key against known_hosts; every failure names the server. */
  private async connect(t: SshTarget, signal: AbortSignal | undefined): Promise<Session> {
    const { config } = this;
    const knownHostsFile = this.pathOf(config.known_hosts);
    let knownText: string;
    try {
      knownText = await readFile(knownHostsFile, 'utf8');
    } catch (err) {
      throw new DeployError(
        `${t.id}: cannot read known_hosts file ${knownHostsFile} (${(err as NodeJS.ErrnoException).code ?? 'error'}); host keys are always verified`,
        { server: t.id },
      );
    }
    const keys = keysFor(parseKnownHosts(knownText), t.host, t.sshPort);
    let privateKey: string;
    const keyFile = this.pathOf(config.key);
    try {
      privateKey = await readFile(keyFile, 'utf8');
    } catch (err) {
      // Name the file, never its content.
      throw new DeployError(`${t.id}: cannot read SSH key file ${keyFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
        server: t.id,
      });
    }
    let refusal: string | undefined;
    const ssh = new NodeSSH();
    const onAbort = (): void => ssh.dispose();
    signal?.addEventListener('abort', onAbort, { once: true });
    const algorithms = hostKeyAlgorithms(keys);
    try {
      await ssh.connect({
        host: t.host,
        port: t.sshPort,
        username: t.user,
        privateKey,
        readyTimeout: config.connect_timeout,
        keepaliveInterval: 5000,
        ...(algorithms ? { algorithms: { serverHostKey: algorithms as never } } : {}),
        hostVerifier: (key: Buffer) => {
          const check = checkHostKey(keys, key, t.host, t.sshPort, knownHostsFile);
          if (!check.ok) refusal = check.reason;
          return check.ok;
        },
      });
    } catch (err) {
      signal?.removeEventListener('abort', onAbort);
      ssh.dispose();
      if (refusal) throw new DeployError(`${t.id}: ${refusal}`, { server: t.id });
      if (signal?.aborted) throw new DeployError(`${t.id}: aborted while connecting`, { server: t.id });
      throw new DeployError(`${t.id}: cannot connect over SSH to ${t.user}@${t.host}:${t.sshPort}: ${(err as Error).message}`, {
        server: t.id,
        cause: err,
      });
    }
    return sessionOf(ssh, t, signal, onAbort);
  }

  /** Run `fn` on a session to `t`, bounded by `ms`; the session is closed however it ends. */
  private async withSession<T>(
    t: SshTarget,
    ms: number,
    what: string,
    signal: AbortSignal | undefined,
    fn: (s: Session, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const timeout = AbortSignal.timeout(ms);
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let session: Session | undefined;
    let fail: () => void = () => undefined;
    const expired = new Promise<never>((_, reject) => {
      fail = (): void => {
        session?.close();
        reject(
          timeout.aborted
            ? new DeployError(`${t.id}: ${what} timed out after ${Math.round(ms / 1000)}s`, { server: t.id })
            : new DeployError(`${t.id}: ${what} aborted`, { server: t.id }),
        );
      };
    });
    expired.catch(() => undefined);
    if (both.aborted) fail();
    else both.addEventListener('abort', fail, { once: true });
    try {
      return await Promise.race([
        (async () => {
          if (both.aborted) return expired;
          session = await this.connect(t, both);
          // Aborted while connecting: close at once, never go on in the background.
          if (both.aborted) {
            session.close();
            return expired;
          }
          return fn(session, both);
        })(),
        expired,
      ]);
    } finally {
      both.removeEventListener('abort', fail);
      session?.close();
    }
  }

  private async healthy(t: Server, perTryMs: number, signal?: AbortSignal): Promise<boolean> {
    const host = t.host.includes(':') ? `[${t.host}]` : t.host;
    const url = `http://${host}:${t.port}${this.config.health_path}`;
    const s = signal ? AbortSignal.any([signal, AbortSignal.timeout(perTryMs)]) : AbortSignal.timeout(perTryMs);
    try {
      const res = await this.doFetch(url, { signal: s });
      await res.arrayBuffer().catch(() => undefined);
      return res.ok;
    } catch {
      return false;
    }
  }

  private async waitHealthy(t: SshTarget, signal: AbortSignal): Promise<void> {
    const deadline = performance.now() + this.config.health_timeout;
    for (;;) {
      if (signal.aborted) throw new DeployError(`${t.id}: aborted while waiting for health`, { server: t.id });
      if (await this.healthy(t, Math.min(2000, this.config.health_timeout), signal)) return;
      if (performance.now() >= deadline) {
        throw new DeployError(
          `${t.id}: no healthy answer from http://${t.host}:${t.port}${this.config.health_path} within ${this.config.health_timeout / 1000}s after restart`,
          { server: t.id },
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** The commands of one open session; every failure names the server and the phase. */
function sessionOf(ssh: NodeSSH, t: SshTarget, signal: AbortSignal | undefined, onAbort: () => void): Session {
  const guard = (phase: string, err: unknown): never => {
    if (err instanceof ImmuneError) throw err;
    if (signal?.aborted) throw new DeployError(`${t.id}: aborted during ${phase}`, { server: t.id });
    throw new DeployError(`${t.id}: ${phase} failed: ${(err as Error).message}`, { server: t.id, cause: err });
  };
  return {
    async run(command, phase) {
      const r = await ssh.execCommand(command).catch((err: unknown) => guard(phase, err));
      if (r.code !== 0) {
        const why = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ');
        throw new DeployError(`${t.id}: ${phase} failed (exit ${r.code ?? r.signal}): ${why || 'no output'}`, { server: t.id });
      }
      return r.stdout;
    },
    async tryRun(command) {
      const r = await ssh.execCommand(command).catch((err: unknown) => guard('query', err));
      return r.code === 0 ? r.stdout : undefined;
    },
    async put(local, remote) {
      await ssh.putFile(local, remote).catch((err: unknown) => guard('upload', err));
    },
    close() {
      signal?.removeEventListener('abort', onAbort);
      ssh.dispose();
    },
  };
}
