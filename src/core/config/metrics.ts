// What to watch and where the numbers come from. One metric definition serves both sources:
// selectors are PromQL series selectors, scraped directly or queried from Prometheus.
import { z } from 'zod';
import type { ValueUnit } from '../judge/types.js';
import { duration, fraction } from './types.js';

/** How a metric's values read (core/judge's ValueUnit). */
export const VALUE_UNITS = [
  'fraction',
  'seconds',
  'milliseconds',
  'bytes',
  'cores',
  'count',
  'none',
] as const satisfies readonly ValueUnit[];

const base = {
  name: z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'use letters, digits and _'),
  bad: z.enum(['increase', 'decrease']),
  /** A relative change smaller than this is not a regression. */
  tolerance: fraction.prefault(0.1),
  critical: z.boolean().default(false),
  /** Share of the deploy-wide alpha relative to the other metrics (weighted Holm): 2 = twice the power budget of a metric of weight 1. */
  weight: z.number().positive('expected a weight > 0').max(100, 'expected a weight <= 100').default(1),
  /**
   * Each server's first seconds on a build left out of this metric's evidence, when longer than the
   * step's own start-up rule (min(15 s, min_bake / 3)): for metrics that depend on a process's age,
   * such as CPU (JIT, heap growth) and memory. At most the step's min bake (a third of the watch).
   */
  warmup: duration.optional(),
  /** Business metrics (signups, checkouts) are shown apart from system metrics. */
  group: z.enum(['system', 'business']).default('system'),
  /**
   * How the values read in evidence and charts (never used by the statistics): fraction (shown
   * as %), seconds or milliseconds (shown as ms/s), bytes (MB/GB), cores (CPU seconds per
   * second, shown as % CPU), count (per minute; with `per`, per request), none. By default from the selector's name.
   */
  unit: z.enum(VALUE_UNITS).optional(),
  /** Prometheus only: a PromQL query returning one series per instance; {{instances}} and {{interval}} are filled in. */
  query: z.string().optional(),
};

export const metricDef = z.discriminatedUnion('kind', [
  z
    .object({
      ...base,
      kind: z.literal('ratio'),
      /** Counter selector for the numerator, e.g. shop_http_requests_total{code=~"5.."} */
      numerator: z.string(),
      denominator: z.string(),
    })
    .strict(),
  z
    .object({
      ...base,
      kind: z.literal('continuous'),
      /** A gauge selector (memory, CPU), averaged over the interval's scrape. */
      gauge: z.string().optional(),
      /** A counter selector whose per-second rate is the value (CPU seconds). */
      rate: z.string().optional(),
      /** A histogram name (without _bucket) and the quantile to take over the interval. */
      histogram: z.string().optional(),
      quantile: z.number().gt(0).lt(1).optional(),
    })
    .strict()
    .refine((m) => [m.gauge, m.rate, m.histogram].filter(Boolean).length === 1 || m.query !== undefined, {
      message: 'a continuous metric needs exactly one of gauge, rate or histogram (or a query)',
    })
    .refine((m) => !m.histogram || m.quantile !== undefined, { message: 'a histogram metric needs a quantile', path: ['quantile'] }),
  z
    .object({
      ...base,
      kind: z.literal('count'),
      /** Counter selector; the value is its increase over the interval. */
      counter: z.string(),
      /**
       * Judge the count per unit of this ratio metric's denominator (e.g. checkouts per request),
       * so neither the watch's comparison with the past nor canary against baseline moves with traffic.
       */
      per: z.string().optional(),
    })
    .strict(),
]);
export type MetricDef = z.infer<typeof metricDef>;

/** A series selector's metric name, without its labels: `shop_http_requests_total{code="500"}` -> `shop_http_requests_total`. */
const seriesName = (selector: string): string => selector.replace(/\{.*$/s, '').trim();

/**
 * What a count judged `per` a ratio metric is counted per, from that metric's denominator selector:
 * `shop_http_requests_total{code!=""}` -> "request"; a name whose last word is a unit or a suffix
 * (`http_server_requests_seconds_count`) reads as the name itself, without labels and `_total`.
 */
export function exposureNoun(denominator: string): string {
  const name = seriesName(denominator).replace(/_(total|count|sum)$/, '');
  const last = name.split(/[_:]/).pop() ?? '';
  if (last.length < 3 || /^(seconds|bytes|ratio|info|created|bucket)$/.test(last)) return name || 'unit of exposure';
  if (last.endsWith('ies')) return `${last.slice(0, -3)}y`;
  return last.endsWith('s') && !last.endsWith('ss') ? last.slice(0, -1) : last;
}

/** What a count metric with `per` is counted per ("request"), from the named ratio metric; else undefined. */
export function exposureOf(m: MetricDef, all: readonly MetricDef[]): string | undefined {
  if (m.kind !== 'count' || m.per === undefined) return undefined;
  const ratio = all.find((d) => d.name === m.per);
  return ratio?.kind === 'ratio' ? exposureNoun(ratio.denominator) : undefined;
}

/**
 * The unit a metric's values are in: as declared, else from Prometheus naming conventions
 * (`_seconds`, `_bytes`; a rate of `_seconds_total` is CPU seconds per second).
 */
export function metricUnit(m: MetricDef): ValueUnit {
  if (m.unit) return m.unit;
  if (m.kind === 'ratio') return 'fraction';
  if (m.kind === 'count') return 'count';
  const name = seriesName(m.histogram ?? m.gauge ?? m.rate ?? '');
  if (m.rate) return /_seconds(_total)?$/.test(name) ? 'cores' : 'none';
  if (/_seconds$/.test(name)) return 'seconds';
  if (/_bytes$/.test(name)) return 'bytes';
  return 'none';
}

export const metricsConfig = z
  .object({
    source: z.enum(['scrape', 'prometheus']).default('scrape'),
    /** Scrape: path of each server's metrics. */
    path: z.string().default('/metrics'),
    timeout: duration.prefault('3s'),
    concurrency: z.number().int().min(1).max(256).default(16),
    prometheus: z
      .object({
        url: z.string().url(),
        /** Label that names the server in Prometheus (instance = host:port by default). */
        instance_label: z.string().default('instance'),
        /** Where to write the file_sd targets for the fleet, if anywhere. */
        file_sd: z.string().optional(),
      })
      .strict()
      .optional(),
    definitions: z.array(metricDef).min(1),
  })
  .strict()
  .refine((m) => m.source !== 'prometheus' || m.prometheus !== undefined, {
    message: 'source prometheus needs a prometheus: {url} section',
    path: ['prometheus'],
  });
export type MetricsConfig = z.infer<typeof metricsConfig>;
