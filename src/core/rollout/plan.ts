// Which servers take the new build at each rollout step: cumulative sets, spread over the
// spread labels (region, zone) so a canary never sits in one failure domain, ending with all.

export interface PlanServer {
  id: string;
  labels: Record<string, string>;
}

export interface PlanStep {
  servers?: number;
  /** Share of the fleet, 0..1. */
  percent?: number;
}

/** Order servers so that any prefix is spread as evenly as possible over the spread labels. */
export function spreadOrder(servers: PlanServer[], spread: string[]): PlanServer[] {
  const byId = [...servers].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
  if (spread.length === 0) return byId;
  const key = (s: PlanServer) => spread.map((l) => s.labels[l] ?? '').join('/');
  const groups = new Map<string, PlanServer[]>();
  for (const s of byId) {
    const k = key(s);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(s);
  }
  // Round-robin over the groups (largest first), so the first k servers cover k groups.
  const queues = [...groups.values()].sort((a, b) => b.length - a.length);
  const out: PlanServer[] = [];
  while (out.length < byId.length) {
    for (const q of queues) {
      const s = q.shift();
      if (s) out.push(s);
    }
  }
  return out;
}

/** Server ids per step, cumulative; the last step is always the whole fleet. */
export function planRollout(servers: PlanServer[], steps: PlanStep[], spread: string[] = []): string[][] {
  const order = spreadOrder(servers, spread).map((s) => s.id);
  const n = order.length;
  const counts: number[] = [];
  for (const step of steps) {
    const want = step.servers ?? Math.ceil((step.percent ?? 1) * n - 1e-9);
    const c = Math.min(n, Math.max(1, want, counts.at(-1) ?? 0));
    if (c !== counts.at(-1)) counts.push(c);
  }
  if (counts.at(-1) !== n) counts.push(n);
  return counts.map((c) => order.slice(0, c));
}

/**
 * The fresh baseline at a step: baseline servers restarted on the previous build as the step's
 * canaries start the new one, so that a metric that depends on a process's age (CPU, memory, JIT
 * latency; one with a `warmup`) compares processes of the same age, not a canary seconds old with
 * servers hours old (Kayenta's fresh baseline cluster). As many as the step's canaries, as far as
 * the baseline has servers; taken from the servers that join the rollout last, so that each step's
 * set contains the next one's when it shrinks and is contained in it when it grows: a server once
 * restarted stays in the fresh baseline while the canaries it was matched with stay canaries.
 */
export function freshBaseline(plan: string[][], step: number): string[] {
  const canary = plan[step] ?? [];
  const all = plan.at(-1) ?? [];
  const on = new Set(canary);
  const baseline = [...all].reverse().filter((id) => !on.has(id));
  return baseline.slice(0, Math.min(canary.length, baseline.length));
}

/** The servers a step restarts on the previous build: its fresh baseline less the previous step's. */
export function freshRestarts(plan: string[][], step: number): string[] {
  const before = new Set(step > 0 ? freshBaseline(plan, step - 1) : []);
  return freshBaseline(plan, step).filter((id) => !before.has(id));
}
