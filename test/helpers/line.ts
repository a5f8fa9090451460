// Helpers for tests that run the line: free loopback ports, a small local pipeline, bounded waits.
import { createServer } from 'node:net';
import type { DeployRecord, LineStore } from '../../src/ports.js';

/** Find `n` consecutive free ports on 127.0.0.1. */
export async function freePortRange(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    let ok = true;
    for (let i = 0; i < n && ok; i++) ok = await isFree(base + i);
    if (ok) return base;
  }
  throw new Error('no free port range');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export async function waitFor<T>(fn: () => Promise<T | undefined | false | null>, timeoutMs: number, what: string): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Wait for the deploy carrying `sha` (other than `except`) to end. On a timeout the error says where
 * the deploy stands: its status and the gate's last explanation (a hold for a captain, a stuck step).
 */
export async function deployOf(
  line: Pick<LineStore, 'listDeploys' | 'gateLooks'>,
  sha: string,
  timeoutMs = 120_000,
  except?: string,
): Promise<DeployRecord> {
  const find = async () => (await line.listDeploys('shop', { limit: 50 })).filter((d) => d.shas.includes(sha) && d.id !== except);
  try {
    return await waitFor(async () => (await find()).find((d) => d.outcome), timeoutMs, `deploy of ${sha.slice(0, 8)}`);
  } catch (err) {
    const d = (await find().catch(() => []))[0];
    const where = d ? `; it is ${d.status}: ${d.state.lastGate?.explanation ?? d.reason ?? 'no gate yet'}` : '; no deploy carries it';
    const look = d ? (await line.gateLooks(d.id).catch(() => [])).at(-1) : undefined;
    const metrics = Array.isArray(look?.metrics) ? (look.metrics as { name?: string; explanation?: string }[]) : [];
    if (metrics.length)
      throw new Error(`${(err as Error).message}${where}\n${metrics.map((m) => `  ${m.name}: ${m.explanation}`).join('\n')}`);
    throw new Error(`${(err as Error).message}${where}`);
  }
}

/** A fast pipeline for tests: 1 canary then all, short bakes, the shop's metrics. */
/** `onInconclusive`: the gate's and the watch's policy at an inconclusive end (default pass_within_tolerance, as the demo pipeline: these tests are about the line). */
export function localPipelineYaml(o: {
  repo: string;
  dir: string;
  basePort: number;
  servers: number;
  minBake?: string;
  maxBake?: string;
  tests?: boolean;
  onInconclusive?: 'hold' | 'rollback' | 'pass' | 'pass_within_tolerance';
}): string {
  return `name: shop
repo:
  url: ${JSON.stringify(o.repo)}
  workdir: ${JSON.stringify(`${o.dir}/work`)}
  poll_interval: 500ms
${
  o.tests === false
    ? ''
    : `tests:
  runner: command
  command: [node, -e, "process.exit(0)"]
`
}build:
  exclude: [.git]
fleet:
  type: local
  servers: ${o.servers}
  base_port: ${o.basePort}
  dir: ${JSON.stringify(`${o.dir}/fleet`)}
metrics:
  definitions:
    - { name: error_rate, kind: ratio, numerator: 'shop_http_requests_total{code=~"5.."}', denominator: shop_http_requests_total, bad: increase, critical: true }
    - { name: checkout_error_rate, kind: ratio, numerator: 'shop_http_requests_total{route="/checkout",code=~"5.."}', denominator: 'shop_http_requests_total{route="/checkout"}', bad: increase, critical: true }
    - { name: latency_p99, kind: continuous, histogram: shop_http_request_duration_seconds, quantile: 0.99, bad: increase, tolerance: 30% }
    # Per request (error_rate's denominator), as docs/pipeline.md recommends: a loaded test machine's traffic dips are not a checkouts drop.
    - { name: checkouts, kind: count, counter: shop_checkouts_total, bad: decrease, group: business, per: error_rate }
rollout:
  interval: 1s
  min_bake: ${o.minBake ?? '5s'}
  max_bake: ${o.maxBake ?? '30s'}
  on_inconclusive: ${o.onInconclusive ?? 'pass_within_tolerance'}
  steps:
    - servers: 1
watch:
  # Long enough for 3+ samples per metric after the restart (an inconclusive watch follows on_inconclusive).
  duration: 6s
  window: 20s
`;
}
