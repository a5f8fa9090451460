// Running an app once the way the local fleet does (its start command, in its directory, with
// PORT, HOST, SERVER_ID and RELEASE_ID set), and reading what it answers: for init and doctor.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDetached, stopGroup, tail } from '../../adapters/fleet/process.js';
import { parseExposition } from '../../adapters/metrics/exposition.js';
import type { ScrapedFamily } from '../../core/config/starter.js';

export interface RunningApp {
  url: string;
  port: number;
  release: string;
  /** Set once the process has exited: how. */
  exited(): string | undefined;
  /** The last lines the app printed. */
  output(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

/** A free port on loopback (the kernel's choice). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function startApp(
  start: string[],
  o: { cwd: string; env?: Record<string, string>; port?: number; host?: string; release?: string },
): Promise<RunningApp> {
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? (await freePort(host));
  const release = o.release ?? `probe-${process.pid}-${Date.now().toString(36)}`;
  const logDir = await mkdtemp(join(tmpdir(), 'immune-probe-'));
  const logFile = join(logDir, 'app.log');
  const env = { ...process.env, ...o.env, PORT: String(port), HOST: host, SERVER_ID: 's0', RELEASE_ID: release };
  const started = startDetached(start, { cwd: o.cwd, env, logFile });
  let exit: string | undefined;
  void started.exited.then((why) => (exit = why));
  if (started.pid < 0) exit = await started.exited;
  return {
    url: `http://${host}:${port}`,
    port,
    release,
    exited: () => exit,
    output: (lines = 5) => tail(logFile, lines),
    async stop() {
      if (started.pid > 0) await stopGroup(started.pid, 3000);
      await rm(logDir, { recursive: true, force: true });
    },
  };
}

export interface Answer {
  status: number;
  body: string;
}

/** GET a path; undefined when nothing answers (refused, reset, timed out). */
export async function get(url: string, timeoutMs = 2000): Promise<Answer | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

/** Wait until something answers `path` (any status) or the app exits or time runs out. */
export async function waitForAnswer(app: RunningApp, path: string, timeoutMs: number): Promise<Answer | undefined> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const a = await get(`${app.url}${path}`, Math.min(2000, timeoutMs));
    if (a || app.exited() !== undefined || Date.now() >= until) return a;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The families of an exposition text: TYPE lines give each family's type, samples its labels. */
export function familiesOf(text: string): ScrapedFamily[] {
  const types = new Map<string, ScrapedFamily['type']>();
  for (const m of text.matchAll(/^#\s*TYPE\s+(\S+)\s+(\S+)\s*$/gm)) {
    const t = m[2]!.toLowerCase();
    types.set(m[1]!, (['counter', 'gauge', 'histogram', 'summary'].includes(t) ? t : 'untyped') as ScrapedFamily['type']);
  }
  const fams = new Map<string, ScrapedFamily>();
  for (const s of parseExposition(text)) {
    let name = s.name;
    let type = types.get(name);
    if (!type) {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      const t = types.get(base);
      if (t === 'histogram' || t === 'summary') [name, type] = [base, t];
    }
    const fam = fams.get(name) ?? { name, type: type ?? 'untyped', labels: {} };
    fams.set(name, fam);
    for (const [k, v] of Object.entries(s.labels)) {
      if (k === 'le' || k === 'quantile') continue;
      const vs = (fam.labels[k] ??= []);
      if (!vs.includes(v) && vs.length < 50) vs.push(v);
    }
  }
  return [...fams.values()];
}
