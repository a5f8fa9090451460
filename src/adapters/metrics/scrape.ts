// MetricsSource by direct scrape: GET each server's /metrics, parse the text format, and turn
// counters into per-interval increases per server (counter resets and restarts handled).
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import type { MetricsConfig, MetricDef } from '../../core/config/metrics.js';
import type { Sample } from '../../core/judge/types.js';
import { InputError, type ImmuneError } from '../../core/errors.js';
import type { MetricsSource, Server, ServerSample } from '../../ports.js';
import { expositionProblem, parseExposition, seriesKey, type Series } from './exposition.js';
import { histogramQuantile } from './histogram-quantile.js';
import { matchSelector, parseSelector, withName, type Selector } from '../../core/config/selector.js';

export interface ScrapeSourceOptions {
  log: Pick<Logger, 'warn' | 'debug'>;
  fetch?: typeof fetch;
  /** Clock for rates; Date.now by default. */
  now?: () => number;
}

/** One metric definition with its selectors parsed once. */
type Compiled =
  | { name: string; kind: 'ratio'; numerator: Selector; denominator: Selector }
  | { name: string; kind: 'count'; counter: Selector }
  | { name: string; kind: 'gauge'; gauge: Selector }
  | { name: string; kind: 'rate'; counter: Selector }
  | { name: string; kind: 'histogram'; buckets: Selector; quantile: number }
  | { name: string; kind: 'none' };

interface Snapshot {
  time: number;
  /** process_start_time_seconds: when it changes, the process restarted and every counter began again. */
  started?: number;
  values: Map<string, number>;
}

/** Parse every selector of the definitions; a bad one is an InputError naming the metric and field. */
export function compileMetrics(defs: MetricDef[]): Compiled[] {
  return defs.map((d, i) => {
    const sel = (field: string, text: string): Selector => {
      try {
        return parseSelector(text);
      } catch (err) {
        throw new InputError(
          `metrics.definitions.${i}.${field}`,
          `metric ${d.name}: ${(err as ImmuneError).message.replace(/^selector: /, '')}`,
        );
      }
    };
    if (d.kind === 'ratio')
      return { name: d.name, kind: 'ratio', numerator: sel('numerator', d.numerator), denominator: sel('denominator', d.denominator) };
    if (d.kind === 'count') return { name: d.name, kind: 'count', counter: sel('counter', d.counter) };
    if (d.gauge) return { name: d.name, kind: 'gauge', gauge: sel('gauge', d.gauge) };
    if (d.rate) return { name: d.name, kind: 'rate', counter: sel('rate', d.rate) };
    if (d.histogram) {
      const h = sel('histogram', d.histogram);
      if (!h.name)
        throw new InputError(
          `metrics.definitions.${i}.histogram`,
          `metric ${d.name}: name the histogram (e.g. shop_http_request_duration_seconds{route="/"})`,
        );
      return { name: d.name, kind: 'histogram', buckets: withName(h, `${h.name ?? ''}_bucket`), quantile: d.quantile ?? 0.5 };
    }
    return { name: d.name, kind: 'none' };
  });
}

/** The increase of the counters a selector picks, since `prev`; a series that went down (or is new) counts from zero. */
function increase(sel: Selector, series: Series[], prev: Snapshot): number {
  let total = 0;
  for (const s of series) {
    if (!matchSelector(sel, s.name, s.labels) || !Number.isFinite(s.value)) continue;
    const before = prev.values.get(seriesKey(s));
    total += before === undefined || s.value < before ? s.value : s.value - before;
  }
  return total;
}

/** Per-`le` increases of a histogram's buckets (summed over the selected series), then the quantile. */
function intervalQuantile(sel: Selector, q: number, series: Series[], prev: Snapshot): number | null {
  const byLe = new Map<string, number>();
  for (const s of series) {
    if (!matchSelector(sel, s.name, s.labels) || s.labels.le === undefined) continue;
    const before = prev.values.get(seriesKey(s));
    const inc = before === undefined || s.value < before ? s.value : s.value - before;
    byLe.set(s.labels.le, (byLe.get(s.labels.le) ?? 0) + inc);
  }
  const buckets = [...byLe].map(([le, count]) => ({ le: le === '+Inf' ? Infinity : Number(le), count }));
  return histogramQuantile(q, buckets);
}

/** One server's values for every metric, given this scrape and the previous one (undefined on the first). */
export function sampleValues(
  metrics: Compiled[],
  series: Series[],
  now: number,
  prev: Snapshot | undefined,
): Record<string, Sample | null> {
  const values: Record<string, Sample | null> = {};
  for (const m of metrics) {
    if (m.kind === 'gauge') {
      const hits = series.filter((s) => matchSelector(m.gauge, s.name, s.labels));
      values[m.name] = hits.length ? hits.reduce((a, s) => a + s.value, 0) : null;
      continue;
    }
    if (!prev || m.kind === 'none') {
      values[m.name] = null;
      continue;
    }
    switch (m.kind) {
      case 'ratio':
        values[m.name] = [increase(m.numerator, series, prev), increase(m.denominator, series, prev)];
        break;
      case 'count':
        values[m.name] = increase(m.counter, series, prev);
        break;
      case 'rate': {
        const seconds = (now - prev.time) / 1000;
        values[m.name] = seconds > 0 ? increase(m.counter, series, prev) / seconds : null;
        break;
      }
      case 'histogram':
        values[m.name] = intervalQuantile(m.buckets, m.quantile, series, prev);
        break;
    }
  }
  return values;
}

function snapshot(series: Series[], time: number): Snapshot {
  const values = new Map<string, number>();
  let started: number | undefined;
  for (const s of series) {
    values.set(seriesKey(s), s.value);
    if (s.name === 'process_start_time_seconds') started = s.value;
  }
  return { time, started, values };
}

export function createScrapeSource(config: MetricsConfig, opts: ScrapeSourceOptions): MetricsSource & { forget(serverId?: string): void } {
  const metrics = compileMetrics(config.definitions);
  const doFetch = opts.fetch ?? fetch;
  const now = opts.now ?? Date.now;
  const limit = pLimit(config.concurrency);
  const previous = new Map<string, Snapshot>();
  for (const m of metrics)
    if (m.kind === 'none')
      opts.log.warn({ metric: m.name }, `metric ${m.name} has only a Prometheus query; the scrape source reports it as missing`);

  async function scrape(server: Server, signal?: AbortSignal): Promise<ServerSample> {
    const url = `http://${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}${config.path}`;
    const timeout = AbortSignal.timeout(config.timeout);
    let series: Series[];
    let time: number;
    try {
      const res = await doFetch(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      const text = await res.text();
      if (!res.ok) throw new Error(`answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
      time = now();
      const problem = expositionProblem(text);
      if (problem) throw new Error(`answered ${res.status} but ${config.path} is not Prometheus text: ${problem}`);
      try {
        series = parseExposition(text);
      } catch (err) {
        throw new Error(`answered ${res.status} but ${config.path} is not Prometheus text: ${(err as Error).message}`);
      }
    } catch (err) {
      // The next answer primes again: an increase over a gap would not be one interval's worth.
      previous.delete(server.id);
      const e = err as Error;
      const cause = (e.cause as Error | undefined)?.message;
      const reason = timeout.aborted
        ? `no answer within ${config.timeout}ms`
        : signal?.aborted
          ? 'aborted'
          : cause
            ? `no answer (${cause})`
            : e.message;
      opts.log.debug({ server: server.id, url, err: reason }, 'scrape failed');
      return { server: server.id, ok: false, error: `${url}: ${reason}`, values: Object.fromEntries(metrics.map((m) => [m.name, null])) };
    }
    const cur = snapshot(series, time);
    let prev: Snapshot | undefined = previous.get(server.id);
    if (prev && prev.started !== undefined && cur.started !== undefined && prev.started !== cur.started) {
      // Restarted (a new release): the counters cover only part of this interval, which would read
      // as a drop in every count. Prime again, as after a failed scrape (and as the Prometheus source does).
      prev = undefined;
    }
    previous.set(server.id, cur);
    return { server: server.id, ok: true, values: sampleValues(metrics, series, time, prev) };
  }

  return {
    async sample(servers, _intervalMs, signal) {
      return Promise.all(servers.map((s) => limit(() => scrape(s, signal))));
    },
    /** Drop remembered counters (one server's or all), so the next sample primes again. */
    forget(serverId) {
      if (serverId === undefined) previous.clear();
      else previous.delete(serverId);
    },
  };
}
