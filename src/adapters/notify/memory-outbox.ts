// The notification queue in memory, for stores without one: deliveries still retry and dedup,
// but a restart loses what is pending (the runtime says so in the log).
import type { NotificationOutbox, OutboxItem } from '../../ports.js';

export function createMemoryOutbox(): NotificationOutbox {
  const items = new Map<string, OutboxItem>();
  const byAge = () => [...items.values()];
  return {
    async enqueue(item, maxPending) {
      if (items.has(item.id)) return 'duplicate';
      const full = byAge().filter((i) => i.target === item.target && i.state === 'pending').length >= maxPending;
      items.set(item.id, {
        ...item,
        state: full ? 'dead' : 'pending',
        attempts: 0,
        ...(full ? { lastError: `queue full (${maxPending} pending)`, lastErrorAt: item.createdAt } : {}),
      });
      return full ? 'full' : 'added';
    },
    async head(target) {
      return byAge().find((i) => i.target === target && i.state === 'pending');
    },
    async delivered(id, at) {
      const i = items.get(id);
      if (i) Object.assign(i, { state: 'delivered', deliveredAt: at });
    },
    async failed(id, f) {
      const i = items.get(id);
      if (i)
        Object.assign(i, {
          state: f.dead ? 'dead' : 'pending',
          attempts: f.attempts,
          nextAt: f.nextAt,
          lastError: f.error,
          lastErrorAt: f.at,
        });
    },
    async list(opts = {}) {
      return byAge()
        .filter((i) => (!opts.state || i.state === opts.state) && (!opts.target || i.target === opts.target))
        .reverse()
        .slice(0, opts.limit ?? 100);
    },
    async summary() {
      const out = new Map<
        string,
        { target: string; pending: number; delivered: number; dead: number; lastError?: string; lastErrorAt?: number }
      >();
      for (const i of byAge()) {
        const s = out.get(i.target) ?? { target: i.target, pending: 0, delivered: 0, dead: 0 };
        s[i.state]++;
        if (i.lastErrorAt !== undefined && (s.lastErrorAt === undefined || i.lastErrorAt >= s.lastErrorAt))
          Object.assign(s, { lastError: i.lastError, lastErrorAt: i.lastErrorAt });
        out.set(i.target, s);
      }
      return [...out.values()].sort((a, b) => a.target.localeCompare(b.target));
    },
    async prune(before) {
      let n = 0;
      for (const [id, i] of items) {
        if (i.state === 'pending' || (i.deliveredAt ?? i.lastErrorAt ?? i.createdAt) >= before) continue;
        items.delete(id);
        n++;
      }
      return n;
    },
    async retry(id, now) {
      const i = items.get(id);
      if (i?.state !== 'dead') return false;
      Object.assign(i, { state: 'pending', attempts: 0, nextAt: now });
      return true;
    },
  };
}
