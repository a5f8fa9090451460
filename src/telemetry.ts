// immune's own Prometheus metrics (prom-client): each part of immune that reports on itself (the
// orchestrator's GET /metrics, the notifier) gets its own registry and declares its metrics on it
// in one call each; a counter's known label values start at 0, so that rates work from the first scrape.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface OwnMetrics {
  readonly registry: Registry;
  /** A counter with a label per key of `known`, every combination of the values listed there at 0. */
  counter<L extends string>(name: string, help: string, known: Record<L, readonly string[]>): Counter<L>;
  histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L>;
  /** A gauge read at scrape time; `read` answering undefined leaves it as it was. */
  gauge(name: string, help: string, read: () => Promise<number | undefined>): Gauge;
}

export function ownMetrics(): OwnMetrics {
  const registry = new Registry();
  return {
    registry,
    counter<L extends string>(name: string, help: string, known: Record<L, readonly string[]>) {
      const labelNames = Object.keys(known) as L[];
      const counter = new Counter<L>({ name, help, labelNames, registers: [registry] });
      for (const labels of combinations(known)) counter.inc(labels, 0);
      return counter;
    },
    histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]) {
      return new Histogram<L>({ name, help, labelNames, buckets, registers: [registry] });
    },
    gauge(name, help, read) {
      return new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          const v = await read();
          if (v !== undefined) this.set(v);
        },
      });
    },
  };
}

/** Every combination of one value per label ({a: [x, y], b: [z]} -> {a: x, b: z}, {a: y, b: z}). */
function combinations<L extends string>(known: Record<L, readonly string[]>): Record<L, string>[] {
  let out: Record<string, string>[] = [{}];
  for (const [label, values] of Object.entries<readonly string[]>(known))
    out = out.flatMap((o) => values.map((v) => ({ ...o, [label]: v })));
  return out as Record<L, string>[];
}
