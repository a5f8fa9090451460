// Loading pipeline (and experiment) files: parse, validate, and check what the schema cannot.
import { ConfigError, type ConfigIssue } from '../errors.js';
import { parseYaml } from './load.js';
import { notifyIssues } from './notify.js';
import { pipelineConfig, type PipelineConfig } from './pipeline.js';
import { parseSelector } from './selector.js';

/** The keys of a metric definition that hold PromQL series selectors. */
const SELECTOR_KEYS = ['numerator', 'denominator', 'counter', 'gauge', 'rate', 'histogram'] as const;

export { parseYaml, parseDuration, parseFraction } from './load.js';
export type { PipelineConfig } from './pipeline.js';

/**
 * Parse and validate a pipeline file's text. Throws ConfigError with every issue. With `env`, the
 * environment variables the file names for secrets must be set in it too.
 */
export function parsePipeline(text: string, file: string, opts: { env?: Record<string, string | undefined> } = {}): PipelineConfig {
  const parsed = parseYaml(text, file, pipelineConfig);
  const p = parsed.value;
  const issues: ConfigIssue[] = [];
  const names = new Set<string>();
  p.metrics.definitions.forEach((m, i) => {
    if (names.has(m.name)) {
      const pos = parsed.locate(['metrics', 'definitions', i, 'name']);
      issues.push({ file, ...pos, path: `metrics.definitions.${i}.name`, message: `duplicate metric "${m.name}"` });
    }
    names.add(m.name);
  });
  // Selectors are parsed where the numbers are fetched too; a typo must show here, not at the first deploy.
  p.metrics.definitions.forEach((m, i) => {
    for (const key of SELECTOR_KEYS) {
      const value = (m as Partial<Record<(typeof SELECTOR_KEYS)[number], string>>)[key];
      if (value === undefined) continue;
      try {
        parseSelector(value);
      } catch (err) {
        const pos = parsed.locate(['metrics', 'definitions', i, key]);
        issues.push({
          file,
          ...pos,
          path: `metrics.definitions.${i}.${key}`,
          message: `bad series selector ${(err as Error).message.replace(/^selector:?\s*/, '')}`,
        });
      }
    }
  });
  p.metrics.definitions.forEach((m, i) => {
    if (m.kind !== 'count' || m.per === undefined) return;
    const target = p.metrics.definitions.find((d) => d.name === m.per);
    if (target?.kind !== 'ratio') {
      const pos = parsed.locate(['metrics', 'definitions', i, 'per']);
      const ratios = p.metrics.definitions.filter((d) => d.kind === 'ratio').map((d) => d.name);
      const why = target ? `"${m.per}" is a ${target.kind} metric` : `no metric "${m.per}"`;
      issues.push({
        file,
        ...pos,
        path: `metrics.definitions.${i}.per`,
        message: `${why}; per names a ratio metric, whose denominator is the exposure (${ratios.length ? `ratio metrics: ${ratios.join(', ')}` : 'there is none'})`,
      });
    }
  });
  p.rollout.steps.forEach((s, i) => {
    const min = s.min_bake ?? p.rollout.min_bake;
    const max = s.max_bake ?? p.rollout.max_bake;
    if (max < min) {
      const pos = parsed.locate(['rollout', 'steps', i]);
      issues.push({
        file,
        ...pos,
        path: `rollout.steps.${i}`,
        message: `max_bake (${max / 1000}s) is shorter than min_bake (${min / 1000}s)`,
      });
    }
    if (s.servers !== undefined && p.fleet.type === 'local' && s.servers > p.fleet.servers) {
      const pos = parsed.locate(['rollout', 'steps', i, 'servers']);
      issues.push({
        file,
        ...pos,
        path: `rollout.steps.${i}.servers`,
        message: `${s.servers} servers but the fleet has ${p.fleet.servers}`,
      });
    }
  });
  issues.push(...notifyIssues(p.notify, p.on_regression.notify, file, parsed.locate, opts.env));
  if (issues.length) throw new ConfigError(issues);
  return p;
}
