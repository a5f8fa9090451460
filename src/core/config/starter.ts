// `immune init`'s pure half: from what was found out about an app (its commands, its port, the
// metric families its /metrics serves) to the metrics worth judging and a commented pipeline file.
import { stringify } from 'yaml';

/** One metric family as scraped: its TYPE and, per label, the values seen. */
export interface ScrapedFamily {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  /** Label name -> values seen (le and quantile left out). */
  labels: Record<string, string[]>;
}

/** A metric definition for the pipeline, with why it was chosen (a YAML comment). */
export interface StarterMetric {
  why: string;
  def: Record<string, string | number | boolean>;
}

export interface AppFacts {
  name: string;
  repo: { url: string; branch: string; comment: string };
  tests?: { runner: 'mocha' | 'node-test' | 'command'; files?: string[]; command?: string[]; setup: string[][] };
  /** Why there is no tests section, when there is none. */
  noTests?: string;
  build: { commands: string[][] };
  start: string[];
  servers: number;
  basePort: number;
  /** Where the metrics came from: "http://127.0.0.1:1234/metrics" or why nothing was scraped. */
  metricsFrom: string;
  metrics: StarterMetric[];
  /** Families seen but not judged by default (app counters), offered as commented examples. */
  candidates: StarterMetric[];
  /** Lines written at the top of the file: what init could not settle. */
  warnings: string[];
}

const STATUS_LABELS = ['code', 'status', 'status_code', 'http_status'];

function statusLabel(f: ScrapedFamily): string | undefined {
  return STATUS_LABELS.find((l) => f.labels[l]);
}

/** A matcher for server errors in the label's values: 3-digit codes or 5xx classes. */
function serverErrors(values: string[]): string {
  return values.some((v) => /^\dxx$/i.test(v)) ? '5xx' : '5..';
}

/**
 * The metrics to judge, from the families an app serves: the share of 5xx answers (a request
 * counter with a status label, or a request histogram's _count), the p99 of a request-duration
 * histogram, and the process's memory and CPU (prom-client's default metrics). Other counters of
 * the app's own are offered as commented business metrics.
 */
export function inferMetrics(families: ScrapedFamily[]): { metrics: StarterMetric[]; candidates: StarterMetric[] } {
  const metrics: StarterMetric[] = [];
  const own = (f: ScrapedFamily) => !/^(process|nodejs|go|python)_/.test(f.name);
  const requestish = (f: ScrapedFamily) => /request|http|response/i.test(f.name);
  const byPreference = (a: ScrapedFamily, b: ScrapedFamily) =>
    Number(requestish(b)) - Number(requestish(a)) || a.name.localeCompare(b.name);

  const counters = families.filter((f) => f.type === 'counter' && own(f) && statusLabel(f)).sort(byPreference);
  const histograms = families
    .filter((f) => f.type === 'histogram' && own(f) && /duration|latency|seconds|time/i.test(f.name))
    .sort(byPreference);
  const requests = counters[0];
  const requestHistogram = histograms[0];
  let requestSeries: string | undefined;
  if (requests) {
    const label = statusLabel(requests)!;
    requestSeries = requests.name;
    metrics.push({
      why: `${requests.name} counts answers by ${label}: the share that are server errors`,
      def: {
        name: 'error_rate',
        kind: 'ratio',
        numerator: `${requests.name}{${label}=~"${serverErrors(requests.labels[label]!)}"}`,
        denominator: requests.name,
        bad: 'increase',
        tolerance: '10%',
        critical: true,
      },
    });
  } else if (requestHistogram && statusLabel(requestHistogram)) {
    const label = statusLabel(requestHistogram)!;
    requestSeries = `${requestHistogram.name}_count`;
    metrics.push({
      why: `${requestHistogram.name} has a ${label} label: its _count gives the share of server errors`,
      def: {
        name: 'error_rate',
        kind: 'ratio',
        numerator: `${requestSeries}{${label}=~"${serverErrors(requestHistogram.labels[label]!)}"}`,
        denominator: requestSeries,
        bad: 'increase',
        tolerance: '10%',
        critical: true,
      },
    });
  }
  if (requestHistogram) {
    metrics.push({
      why: `${requestHistogram.name} is a histogram of durations: its 99th percentile (judged after 30 s on a build: a new process is slower until warm)`,
      def: {
        name: 'latency_p99',
        kind: 'continuous',
        histogram: requestHistogram.name,
        quantile: 0.99,
        bad: 'increase',
        tolerance: '20%',
        warmup: '30s',
      },
    });
  }
  const has = (name: string, type: ScrapedFamily['type']) => families.some((f) => f.name === name && f.type === type);
  if (has('process_resident_memory_bytes', 'gauge')) {
    metrics.push({
      why: 'resident memory of the process (judged after 30 s on a build: it grows as a process warms up)',
      def: { name: 'memory', kind: 'continuous', gauge: 'process_resident_memory_bytes', bad: 'increase', tolerance: '25%', warmup: '30s' },
    });
  }
  if (has('process_cpu_seconds_total', 'counter')) {
    metrics.push({
      why: 'CPU seconds per second (judged after 30 s on a build: a new process compiles and fills caches)',
      def: { name: 'cpu', kind: 'continuous', rate: 'process_cpu_seconds_total', bad: 'increase', tolerance: '50%', warmup: '30s' },
    });
  }

  const used = new Set([requests?.name, requestHistogram?.name]);
  const candidates = families
    .filter((f) => f.type === 'counter' && own(f) && !used.has(f.name))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((f) => {
      const name = f.name.replace(/_total$/, '').replace(/[^a-zA-Z0-9_]/g, '_');
      const def: StarterMetric['def'] = { name, kind: 'count', counter: f.name, bad: 'decrease', tolerance: '10%', group: 'business' };
      if (requestSeries && metrics[0]?.def.name === 'error_rate') def.per = 'error_rate';
      return { why: `${f.name}: a counter of the app's own (judged per request)`, def };
    });
  return { metrics, candidates };
}

/**
 * What a pipeline judges when the app's /metrics could not be read: the names the app contract's
 * examples serve (docs/app-contract.md). `immune doctor` says which are missing.
 */
export function contractMetrics(): StarterMetric[] {
  return inferMetrics([
    { name: 'http_requests_total', type: 'counter', labels: { code: ['200', '500'] } },
    { name: 'http_request_duration_seconds', type: 'histogram', labels: {} },
    { name: 'process_resident_memory_bytes', type: 'gauge', labels: {} },
    { name: 'process_cpu_seconds_total', type: 'counter', labels: {} },
  ]).metrics;
}

/** A YAML scalar or flow sequence, as short as it can be written. */
function y(v: unknown): string {
  return stringify(v, {
    collectionStyle: 'flow',
    flowCollectionPadding: false,
    lineWidth: 0,
    defaultStringType: 'PLAIN',
    singleQuote: true,
  }).trimEnd();
}

function metricBlock(m: StarterMetric, indent: string, commented = false): string[] {
  const c = commented ? '# ' : '';
  const entries = Object.entries(m.def);
  return [`${indent}# ${m.why}`, ...entries.map(([k, v], i) => `${indent}${c}${i === 0 ? '- ' : '  '}${k}: ${y(v)}`)];
}

/** The pipeline file: every section a first deploy needs, each with a line on what it does. */
export function starterPipeline(app: AppFacts): string {
  const L: string[] = [];
  L.push(`# immune pipeline for ${app.name}, written by \`immune init\`.`);
  L.push('# Keys: docs/pipeline.md. What the app must do to be deployed: docs/app-contract.md.');
  L.push('# Relative paths are relative to the directory immune runs in.');
  for (const w of app.warnings) L.push(`# NOTE: ${w}`);
  L.push(`name: ${y(app.name)}`, '');

  L.push('repo:');
  L.push(`  url: ${y(app.repo.url)}   # ${app.repo.comment}`);
  L.push(`  branch: ${y(app.repo.branch)}`);
  L.push("  workdir: .immune/work        # immune's own clone and checkouts");
  L.push('  poll_interval: 2s', '');

  if (app.tests) {
    L.push('tests:                         # run on every change before it is built; a failure stops it');
    L.push(`  runner: ${app.tests.runner}`);
    if (app.tests.command) L.push(`  command: ${y(app.tests.command)}`);
    if (app.tests.files) L.push(`  files: ${y(app.tests.files)}`);
    if (app.tests.setup.length) L.push(`  setup: ${y(app.tests.setup)}   # in each test checkout, before the tests`);
    L.push('  timeout: 10m', '');
  } else {
    L.push(`# tests: none (${app.noTests}). Add a section like:`);
    L.push('#   tests: { runner: command, command: [npm, test] }', '');
  }

  L.push('build:');
  L.push(`  commands: ${y(app.build.commands)}${app.build.commands.length ? '' : '   # nothing to compile'}`);
  L.push('  output: .                    # the directory packed as the artifact');
  L.push('  exclude: [.git, node_modules/.cache]', '');

  L.push('fleet:');
  L.push('  type: local                  # processes on this machine, server i on port base_port + i - 1');
  L.push(`  servers: ${app.servers}`);
  L.push(`  base_port: ${app.basePort}`);
  L.push('  host: 127.0.0.1');
  L.push('  dir: .immune/fleet');
  L.push(`  start: ${y(app.start)}   # run in the release directory with PORT, HOST, SERVER_ID, RELEASE_ID`);
  L.push('  health_path: /healthz        # must answer 200 with {"release": "<RELEASE_ID>"}', '');

  L.push('metrics:');
  L.push("  source: scrape               # immune reads each server's /metrics itself");
  L.push('  definitions:');
  L.push(`    # From ${app.metricsFrom}.`);
  for (const m of app.metrics) L.push(...metricBlock(m, '    '));
  if (app.candidates.length) {
    L.push("    # Counters of the app's own, to judge as business metrics (uncomment what matters):");
    for (const m of app.candidates) L.push(...metricBlock(m, '    ', true));
  }
  L.push('');

  L.push('rollout:');
  L.push('  interval: 5s                 # how often the gate samples and judges');
  L.push('  min_bake: 30s');
  L.push('  max_bake: 2m');
  L.push('  alpha: 0.01');
  L.push('  on_inconclusive: hold        # too little data to decide: wait for a captain (immune promote or abort)');
  L.push('  steps:');
  if (app.servers > 1) L.push('    - servers: 1');
  if (app.servers > 2) L.push('    - percent: 50%');
  L.push('    - percent: 100%', '');

  L.push('watch:                         # after 100%: the fleet against its own recent past');
  L.push('  duration: 1m');
  L.push('  window: 2m', '');

  L.push('on_regression:');
  L.push('  rollback: true');
  L.push('  revert: true                 # push a revert commit to the branch: the repository must accept pushes');
  L.push('  block: true');
  L.push('  notify: [console]');
  return `${L.join('\n')}\n`;
}
