// MetricsSource over Prometheus' HTTP API: each metric definition becomes one PromQL instant query
// (two for a ratio) over the last interval, restricted to the servers asked about and grouped by
// instance. No data, NaN and failed queries become null values, which the judge reads as "not
// enough data" (inconclusive), never as a pass.
import pLimit, { type LimitFunction } from 'p-limit';
import type { Logger } from 'pino';
import type { MetricDef, MetricsConfig } from '../../core/config/metrics.js';
import type { Sample } from '../../core/judge/types.js';
import { InputError, type ImmuneError } from '../../core/errors.js';
import type { MetricsSource, Server, ServerSample } from '../../ports.js';
import { formatSelector, parseSelector, withName } from '../../core/config/selector.js';

export interface PrometheusSourceOptions {
  log: Pick<Logger, 'warn' | 'debug'>;
  fetch?: typeof fetch;
}

/** What one metric asks Prometheus, with {{instances}} (a regex) and {{interval}} (e.g. 30s) still to fill. */
type Plan =
  { name: string; kind: 'ratio'; numerator: string; denominator: string } | { name: string; kind: 'count' | 'continuous'; query: string };

const INSTANCES = '{{instances}}';
const INTERVAL = '{{interval}}';

/** Build each definition's PromQL; a bad selector is an InputError naming the definition's field. */
export function planQueries(defs: MetricDef[], instanceLabel: string): Plan[] {
  return defs.map((d, i) => {
    const sel = (field: string, text: string, suffix = ''): string => {
      try {
        const s = parseSelector(text);
        const named = suffix ? withName(s, `${s.name ?? ''}${suffix}`) : s;
        // The placeholder is replaced by an escaped regex at query time.
        return formatSelector({ ...named, matchers: [...named.matchers, { label: instanceLabel, op: '=~', value: INSTANCES }] });
      } catch (err) {
        throw new InputError(
          `metrics.definitions.${i}.${field}`,
          `metric ${d.name}: ${(err as ImmuneError).message.replace(/^selector: /, '')}`,
        );
      }
    };
    const by = `by (${instanceLabel})`;
    if (d.kind === 'ratio') {
      if (d.query !== undefined)
        throw new InputError(
          `metrics.definitions.${i}.query`,
          `metric ${d.name}: a ratio metric is queried through numerator and denominator, not query`,
        );
      return {
        name: d.name,
        kind: 'ratio',
        numerator: `sum ${by} (increase(${sel('numerator', d.numerator)}[${INTERVAL}]))`,
        denominator: `sum ${by} (increase(${sel('denominator', d.denominator)}[${INTERVAL}]))`,
      };
    }
    if (d.query !== undefined) return { name: d.name, kind: d.kind, query: d.query };
    if (d.kind === 'count')
      return { name: d.name, kind: 'count', query: `sum ${by} (increase(${sel('counter', d.counter)}[${INTERVAL}]))` };
    if (d.gauge) return { name: d.name, kind: 'continuous', query: `avg ${by} (avg_over_time(${sel('gauge', d.gauge)}[${INTERVAL}]))` };
    if (d.rate) return { name: d.name, kind: 'continuous', query: `sum ${by} (rate(${sel('rate', d.rate)}[${INTERVAL}]))` };
    const h = d.histogram ?? '';
    return {
      name: d.name,
      kind: 'continuous',
      query: `histogram_quantile(${d.quantile ?? 0.5}, sum by (le, ${instanceLabel}) (rate(${sel('histogram', h, '_bucket')}[${INTERVAL}])))`,
    };
  });
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Fill the placeholders: the instance regex escaped for a PromQL double-quoted string. */
export function renderQuery(template: string, instances: string[], intervalMs: number): string {
  const regex = instances.map(escapeRegex).join('|');
  const quoted = JSON.stringify(regex).slice(1, -1);
  const interval = `${Math.max(1, Math.round(intervalMs / 1000))}s`;
  return template.split(`"${INSTANCES}"`).join(`"${quoted}"`).split(INSTANCES).join(quoted).split(INTERVAL).join(interval);
}

/** How a server appears in Prometheus: its scrape address for `instance`, else its id. */
export function instanceOf(server: Server, instanceLabel: string): string {
  if (instanceLabel !== 'instance') return server.id;
  return `${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}`;
}

interface PromSeries {
  metric: Record<string, string>;
  /** Instant vector: one [seconds, "value"]. */
  value?: [number, string];
  /** Range matrix: [seconds, "value"] per step. */
  values?: [number, string][];
}

/** The Prometheus source also reads the past: the same queries evaluated every interval over a window. */
export interface PrometheusSource extends MetricsSource {
  /**
   * One ServerSample[] per interval from `fromMs` to `toMs` (ms since the epoch), oldest first,
   * each like a sample() taken then: e.g. the fleet's pre-deploy window for the watch.
   */
  history(servers: Server[], fromMs: number, toMs: number, intervalMs: number, signal?: AbortSignal): Promise<ServerSample[][]>;
}

/** A query that Prometheus could not be asked (unreachable, timed out, 5xx) as opposed to a bad query (4xx). */
class Unreachable extends Error {}

/** Where and how to ask one Prometheus. */
interface Connection {
  url: string;
  /** `${url}/api/v1` */
  api: string;
  /** The label that names a server's series (`instance` by default). */
  label: string;
  timeoutMs: number;
  fetch: typeof fetch;
}

/** Per step, the values per instance label. */
type Values = Map<string, number[]>;

interface Answer {
  status?: string;
  error?: string;
  errorType?: string;
  data?: { resultType?: string; result?: unknown };
}

/** POST one instant or range query; no answer at all is Unreachable. */
async function post(
  c: Connection,
  promql: string,
  range: Range | undefined,
  signal?: AbortSignal,
): Promise<{ res: Response; answer: Answer }> {
  const timeout = AbortSignal.timeout(c.timeoutMs);
  const body = new URLSearchParams({ query: promql, timeout: `${Math.max(1, Math.floor(c.timeoutMs / 1000))}s` });
  if (range) {
    body.set('start', String(range.start / 1000));
    body.set('end', String(range.end / 1000));
    body.set('step', `${range.step / 1000}s`);
  }
  try {
    const res = await c.fetch(range ? `${c.api}/query_range` : `${c.api}/query`, {
      method: 'POST',
      body,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    const answer = (await res.json().catch(() => ({}))) as Answer;
    return { res, answer };
  } catch (err) {
    const e = err as Error;
    throw new Unreachable(
      timeout.aborted
        ? `no answer from ${c.url} within ${c.timeoutMs}ms`
        : signal?.aborted
          ? 'aborted'
          : `${c.url}: ${(e.cause as Error)?.message ?? e.message}`,
    );
  }
}

/** The series of a successful answer of the expected type; a 5xx is Unreachable, anything else wrong an Error. */
function seriesOf(c: Connection, res: Response, answer: Answer, range: Range | undefined): PromSeries[] {
  if (answer.status !== 'success') {
    const why = `${answer.errorType ?? `HTTP ${res.status}`}: ${answer.error ?? res.statusText}`;
    // 4xx: this query is wrong (bad_data, execution); 5xx: Prometheus is in trouble (timeout, overload).
    if (res.status >= 500) throw new Unreachable(`${c.url}: ${why}`);
    throw new Error(why);
  }
  const data = answer.data;
  const expected = range ? 'matrix' : 'vector';
  if (data?.resultType !== expected || !Array.isArray(data.result))
    throw new Error(`expected a ${expected}, got ${data?.resultType ?? 'nothing'}`);
  return data.result as PromSeries[];
}

/** Per step, the values per instance label; NaN and infinities are left out. */
function valuesPerStep(series: PromSeries[], range: Range | undefined, label: string): Values[] {
  const steps: Values[] = Array.from({ length: range ? stepCount(range) : 1 }, () => new Map());
  const add = (key: string | undefined, at: number, raw: string | undefined): void => {
    const v = Number(raw);
    const step = steps[at];
    if (key === undefined || !step || !Number.isFinite(v)) return;
    step.set(key, [...(step.get(key) ?? []), v]);
  };
  for (const r of series) {
    if (!range) add(r.metric?.[label], 0, r.value?.[1]);
    else for (const [ts, v] of r.values ?? []) add(r.metric?.[label], Math.round((ts * 1000 - range.start) / range.step), v);
  }
  return steps;
}

/**
 * An instant query at "now" (one step), or a range query (one step per interval from start to
 * end): per step, the values per instance label.
 */
async function query(c: Connection, promql: string, range: Range | undefined, signal?: AbortSignal): Promise<Values[]> {
  const { res, answer } = await post(c, promql, range, signal);
  return valuesPerStep(seriesOf(c, res, answer, range), range, c.label);
}

/** What one round of queries brought back: per plan (a pair for a ratio), the health queries, and what failed. */
interface Round {
  settled: (Values[] | undefined | [Values[] | undefined, Values[] | undefined])[];
  up: Values[] | undefined;
  uptime: Values[] | undefined;
  gaps: Values[] | undefined;
  unreachable: string[];
  failures: string[];
}

/** Every plan's queries and the health queries (up, uptime, gaps), at most `limit` at once; a failed one is undefined and noted. */
async function queryRound(
  c: Connection,
  plans: Plan[],
  keys: string[],
  intervalMs: number,
  range: Range | undefined,
  run: { limit: LimitFunction; log: PrometheusSourceOptions['log']; signal?: AbortSignal },
): Promise<Round> {
  const { label } = c;
  const unreachable: string[] = [];
  const failures: string[] = [];
  const ask = (name: string, promql: string): Promise<Values[] | undefined> =>
    run.limit(() =>
      query(c, renderQuery(promql, keys, intervalMs), range, run.signal).catch((err: Error) => {
        (err instanceof Unreachable ? unreachable : failures).push(`${name}: ${err.message}`);
        run.log.warn({ metric: name, err: err.message }, 'prometheus query failed');
        return undefined;
      }),
    );
  const upQuery = ask('up', `up{${label}=~"${INSTANCES}"}`);
  // A window that reaches back before the process started (a release was just activated) or
  // that saw the target down mixes two releases or a gap: like the scrape source's first call
  // after a restart, that interval is not reported (null values), never judged.
  const uptimeQuery = ask('uptime', `time() - max by (${label}) (process_start_time_seconds{${label}=~"${INSTANCES}"})`);
  const gapQuery = ask('up over the interval', `min by (${label}) (min_over_time(up{${label}=~"${INSTANCES}"}[${INTERVAL}]))`);
  const results = plans.map((p) =>
    p.kind === 'ratio' ? Promise.all([ask(p.name, p.numerator), ask(p.name, p.denominator)]) : ask(p.name, p.query),
  );
  const up = await upQuery;
  const uptime = await uptimeQuery;
  const gaps = await gapQuery;
  const settled = await Promise.all(results);
  return { settled, up, uptime, gaps, unreachable, failures };
}

/** One server's value per metric at one step. */
function metricValues(plans: Plan[], round: Round, key: string, step: number): Record<string, Sample | null> {
  const values: Record<string, Sample | null> = {};
  plans.forEach((p, j) => {
    const r = round.settled[j];
    if (p.kind === 'ratio') {
      const [num, den] = r as [Values[] | undefined, Values[] | undefined];
      const d = den?.[step]?.get(key);
      // No numerator series next to a denominator means no such events (an error counter
      // that was never incremented): zero, as the scrape source counts it.
      values[p.name] = num && d ? [sum(num[step]?.get(key) ?? [0]), sum(d)] : null;
    } else {
      const v = (r as Values[] | undefined)?.[step]?.get(key);
      values[p.name] = v ? (p.kind === 'count' ? sum(v) : sum(v) / v.length) : null;
    }
  });
  return values;
}

/** Why a server's interval is partial (it restarted, or missed scrapes, within it), if it is. */
function partialInterval(round: Round, key: string, step: number, windowSeconds: number): string | undefined {
  const started = round.uptime?.[step]?.get(key);
  if (started && Math.min(...started) < windowSeconds)
    return `${key} (re)started ${Math.max(0, Math.min(...started)).toFixed(1)}s ago, within this ${windowSeconds}s interval`;
  if (round.gaps?.[step]?.get(key)?.some((v) => v === 0)) return `${key} missed scrapes within this ${windowSeconds}s interval`;
  return undefined;
}

/** One server's sample at one step: its values, nulled for a partial interval, and what went wrong. */
function serverSample(
  c: Connection,
  plans: Plan[],
  round: Round,
  server: Server,
  key: string,
  step: number,
  windowSeconds: number,
): ServerSample {
  const values = metricValues(plans, round, key, step);
  const sample: ServerSample = { server: server.id, ok: true, values };
  const upValues = round.up?.[step]?.get(key);
  const partial = partialInterval(round, key, step, windowSeconds);
  if (partial) for (const name of Object.keys(values)) values[name] = null;
  if (round.unreachable.length) {
    sample.ok = false;
    sample.error = `prometheus unreachable: ${round.unreachable[0]}`;
  } else if (upValues && upValues.every((v) => v === 0)) {
    sample.ok = false;
    sample.error = `prometheus cannot scrape ${key} (up == 0)`;
  } else if (round.up && !upValues) {
    sample.error = `${key} is not a target of ${c.url} (no up series for ${c.label}="${key}")`;
  } else if (partial) {
    sample.error = `partial interval, not reported: ${partial}`;
  } else if (round.failures.length) {
    sample.error = round.failures.join('; ');
  }
  return sample;
}

export function createPrometheusSource(config: MetricsConfig, opts: PrometheusSourceOptions): PrometheusSource {
  if (!config.prometheus) throw new InputError('metrics.prometheus', 'source prometheus needs a prometheus: {url} section');
  const { url, instance_label: label } = config.prometheus;
  const conn: Connection = { url, api: `${url.replace(/\/+$/, '')}/api/v1`, label, timeoutMs: config.timeout, fetch: opts.fetch ?? fetch };
  const plans = planQueries(config.definitions, label);
  const limit = pLimit(config.concurrency);

  /** Every metric for every server, per step; failures become null values and notes, never exceptions. */
  async function collect(servers: Server[], intervalMs: number, range: Range | undefined, signal?: AbortSignal): Promise<ServerSample[][]> {
    const keys = servers.map((s) => instanceOf(s, label));
    const round = await queryRound(conn, plans, keys, intervalMs, range, { limit, log: opts.log, signal });
    const windowSeconds = Math.max(1, Math.round(intervalMs / 1000));
    const count = range ? stepCount(range) : 1;
    return Array.from({ length: count }, (_, step) =>
      servers.map((server, i) => serverSample(conn, plans, round, server, keys[i]!, step, windowSeconds)),
    );
  }

  return {
    async sample(servers, intervalMs, signal) {
      if (servers.length === 0) return [];
      return (await collect(servers, intervalMs, undefined, signal))[0]!;
    },
    async history(servers, fromMs, toMs, intervalMs, signal) {
      if (servers.length === 0 || toMs < fromMs) return [];
      const step = Math.max(1000, Math.round(intervalMs / 1000) * 1000);
      const range = { start: fromMs, end: toMs, step };
      if (stepCount(range) > 11_000)
        throw new InputError(
          'interval',
          `${stepCount(range)} steps from ${fromMs} to ${toMs}: Prometheus answers at most 11000 points per series; use a longer interval`,
        );
      return collect(servers, step, range, signal);
    },
  };
}

interface Range {
  /** ms since the epoch */
  start: number;
  end: number;
  step: number;
}

function stepCount(r: Range): number {
  return Math.floor((r.end - r.start) / r.step) + 1;
}

function sum(v: number[]): number {
  return v.reduce((a, b) => a + b, 0);
}
