// A real Prometheus for tests: the Debian binary on 127.0.0.1, a generated config with a 1s scrape
// of a file_sd target file, storage in a temporary directory; stopped by the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './sshd-server.js';

export const PROMETHEUS = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'].find((p) => existsSync(p));

export interface Prometheus {
  url: string;
  stop(): Promise<void>;
  /** Resolves when every given instance has been scraped successfully (up == 1), bounded by timeoutMs. */
  waitForTargets(instances: string[], timeoutMs: number): Promise<void>;
}

export async function startPrometheus(opts: { dir: string; fileSd: string; scrapeInterval?: string }): Promise<Prometheus> {
  if (!PROMETHEUS) throw new Error('prometheus is not installed');
  mkdirSync(opts.dir, { recursive: true });
  const interval = opts.scrapeInterval ?? '1s';
  const config = join(opts.dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      `  scrape_interval: ${interval}`,
      `  evaluation_interval: ${interval}`,
      'scrape_configs:',
      '  - job_name: fleet',
      `    scrape_interval: ${interval}`,
      `    scrape_timeout: ${interval}`,
      '    file_sd_configs:',
      `      - files: [${JSON.stringify(opts.fileSd)}]`,
      '        refresh_interval: 1s',
      '',
    ].join('\n'),
  );
  const port = await freePort('127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(opts.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      '--storage.tsdb.retention.time=1h',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited: ${stderr.trim()}`);
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready within 20s: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stop,
    async waitForTargets(instances, timeoutMs) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const res = await fetch(`${url}/api/v1/query?query=up`, { signal: AbortSignal.timeout(2000) });
        const body = (await res.json()) as { data: { result: { metric: { instance: string }; value: [number, string] }[] } };
        const up = new Set(body.data.result.filter((r) => r.value[1] === '1').map((r) => r.metric.instance));
        if (instances.every((i) => up.has(i))) return;
        if (Date.now() > until)
          throw new Error(`prometheus did not scrape ${instances.filter((i) => !up.has(i)).join(', ')} within ${timeoutMs}ms`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  };
}
