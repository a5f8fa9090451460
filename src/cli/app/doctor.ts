// `immune doctor`: a pipeline and its app against the app contract (docs/app-contract.md) before
// the first deploy needs it: the repository answers and takes pushes, the test command is there,
// the start command serves /healthz with its release, /metrics parses and has every series named.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { createGitRepo } from '../../adapters/git/git-repo.js';
import { expandGlobs } from '../../adapters/runner/node-test.js';
import { parseExposition } from '../../adapters/metrics/exposition.js';
import { simpleGit } from 'simple-git';
import { parsePipeline, type PipelineConfig } from '../../core/config/index.js';
import type { MetricDef } from '../../core/config/metrics.js';
import { parseSelector } from '../../core/config/selector.js';
import { ConfigError, formatConfigIssue } from '../../core/errors.js';
import { resolveRepoUrl } from '../../runtime.js';
import { get, startApp, waitForAnswer, type RunningApp } from './probe.js';

export interface DoctorCheck {
  check: 'pipeline' | 'repository' | 'tests' | 'start' | 'healthz' | 'metrics';
  ok: boolean;
  /** What was checked (ok) or what is wrong (not ok). */
  message: string;
  /** One line saying what to do; only when not ok. */
  fix?: string;
  /** Not checked, and why (e.g. an SSH fleet). */
  skipped?: boolean;
}

export interface DoctorOptions {
  /** The app's directory: where the start command runs (default: the current directory). */
  appDir?: string;
  /** Bound on the app's start (default: the fleet's health_timeout). */
  startTimeoutMs?: number;
  signal?: AbortSignal;
}

const ok = (check: DoctorCheck['check'], message: string): DoctorCheck => ({ check, ok: true, message });
const fail = (check: DoctorCheck['check'], message: string, fix: string): DoctorCheck => ({ check, ok: false, message, fix });
const skip = (check: DoctorCheck['check'], message: string): DoctorCheck => ({ check, ok: true, message, skipped: true });

/** Is `cmd` a program this machine can run (a path that exists, or a name on PATH)? */
function runnable(cmd: string, cwd: string): boolean {
  if (cmd.includes('/')) return existsSync(isAbsolute(cmd) ? cmd : join(cwd, cmd));
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, cmd)));
}

async function checkTests(config: PipelineConfig, appDir: string): Promise<DoctorCheck> {
  const t = config.tests;
  if (!t) return skip('tests', 'no tests section: changes deploy untested');
  for (const c of t.setup)
    if (!runnable(c[0]!, appDir))
      return fail('tests', `setup command ${c[0]} is not installed here`, `install ${c[0]} or change tests.setup`);
  if (t.runner === 'command') {
    const cmd = t.command!;
    if (!runnable(cmd[0]!, appDir))
      return fail(
        'tests',
        `test command ${cmd[0]} is not installed here (tests.command: ${cmd.join(' ')})`,
        `install ${cmd[0]} or change tests.command`,
      );
    if (cmd[0] === 'npm' && cmd[1] === 'test') {
      const pkg = JSON.parse(await readFile(join(appDir, 'package.json'), 'utf8').catch(() => '{}')) as {
        scripts?: Record<string, string>;
      };
      const script = pkg.scripts?.test;
      if (!script || /no test specified/.test(script))
        return fail(
          'tests',
          `tests.command is npm test, but ${join(appDir, 'package.json')} has no test script`,
          'add "scripts": {"test": "..."} to package.json, or set tests.command',
        );
    }
    return ok('tests', `test command ${cmd.join(' ')} is there`);
  }
  const files = await expandGlobs(appDir, t.files).catch(() => [] as string[]);
  if (!files.length)
    return fail(
      'tests',
      `no test files match ${t.files.join(', ')} in ${appDir}`,
      'set tests.files to globs of the test files (relative to the repository root)',
    );
  if (t.runner === 'mocha' && !existsSync(join(appDir, 'node_modules', 'mocha')) && !t.setup.length) {
    return fail(
      'tests',
      "tests.runner is mocha, but mocha is not in the app's node_modules and tests.setup installs nothing",
      'add mocha to devDependencies and tests.setup: [[npm, ci]]',
    );
  }
  return ok('tests', `${files.length} test file${files.length === 1 ? '' : 's'} for ${t.runner}`);
}

/** Every metric name a definition's selectors name, with the field it comes from. */
function namedSeries(d: MetricDef): { field: string; name: string; histogram?: boolean }[] {
  const out: { field: string; name: string; histogram?: boolean }[] = [];
  const add = (field: string, text: string | undefined, histogram = false) => {
    if (!text) return;
    const n = parseSelector(text).name;
    if (n) out.push({ field, name: n, histogram });
  };
  if (d.kind === 'ratio') {
    add('numerator', d.numerator);
    add('denominator', d.denominator);
  } else if (d.kind === 'count') add('counter', d.counter);
  else {
    add('gauge', d.gauge);
    add('rate', d.rate);
    add('histogram', d.histogram, true);
  }
  return out;
}

/** GET /metrics; the names it declares or has samples of; a check per missing series. */
async function checkMetrics(config: PipelineConfig, app: RunningApp): Promise<DoctorCheck[]> {
  const path = config.metrics.path;
  const a = await get(`${app.url}${path}`, config.metrics.timeout);
  if (!a)
    return [
      fail(
        'metrics',
        `nothing answered GET ${path}`,
        `serve the Prometheus text format at ${path} (prom-client: res.end(await register.metrics()))`,
      ),
    ];
  if (a.status !== 200)
    return [fail('metrics', `GET ${path} answered ${a.status}`, `answer GET ${path} with 200 and the Prometheus text format`)];
  let names: Set<string>;
  try {
    names = new Set(parseExposition(a.body).map((s) => s.name));
  } catch (err) {
    return [
      fail(
        'metrics',
        `GET ${path} does not parse as the Prometheus text format: ${(err as Error).message}`,
        "serve the text exposition format (prom-client's register.metrics() does)",
      ),
    ];
  }
  // A family with no samples yet (a counter nothing has incremented) is still declared.
  for (const m of a.body.matchAll(/^#\s*(?:TYPE|HELP)\s+(\S+)/gm)) names.add(m[1]!);
  const problems: DoctorCheck[] = [];
  let named = 0;
  for (const d of config.metrics.definitions) {
    for (const s of namedSeries(d)) {
      named++;
      const present = s.histogram ? names.has(`${s.name}_bucket`) || names.has(s.name) : names.has(s.name);
      if (!present) {
        problems.push(
          fail(
            'metrics',
            `metric ${d.name}: ${path} has no series ${s.histogram ? `${s.name}_bucket` : s.name} (its ${s.field})`,
            `serve ${s.name}${s.histogram ? ' as a histogram' : ''} from the app, or change metrics.definitions ${d.name}.${s.field}`,
          ),
        );
      }
    }
  }
  return problems.length ? problems : [ok('metrics', `${path} parses and has all ${named} series the pipeline names`)];
}

/** The line of a crashed start's output that says why: the error, not the stack under it. */
function whyExited(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.find((l) => /^(\w*Error|Error)\b|^error:/i.test(l)) ?? (lines.slice(-2).join(' | ') || 'no output');
}

async function checkApp(config: PipelineConfig, appDir: string, o: DoctorOptions): Promise<DoctorCheck[]> {
  if (config.fleet.type !== 'local') return [skip('start', 'fleet type ssh: doctor starts apps of local fleets only')];
  const fleet = config.fleet;
  const cwd = existsSync(join(appDir, config.build.output)) ? resolve(appDir, config.build.output) : appDir;
  if (!runnable(fleet.start[0]!, cwd))
    return [
      fail(
        'start',
        `start command ${fleet.start[0]} is not installed here (fleet.start: ${fleet.start.join(' ')})`,
        `install ${fleet.start[0]} or change fleet.start`,
      ),
    ];
  const app = await startApp(fleet.start, { cwd, env: fleet.env, host: fleet.host });
  const started = `${fleet.start.join(' ')} in ${cwd} (PORT=${app.port})`;
  try {
    const health = await waitForAnswer(app, fleet.health_path, o.startTimeoutMs ?? fleet.health_timeout);
    const out: DoctorCheck[] = [];
    if (!health) {
      const exit = app.exited();
      if (exit)
        return [
          fail(
            'start',
            `${started} exited (${exit}) before answering: ${whyExited(await app.output(30))}`,
            `make \`${fleet.start.join(' ')}\` start a server that keeps running`,
          ),
        ];
      return [
        fail(
          'start',
          `${started}: nothing answered on port ${app.port} within ${Math.round((o.startTimeoutMs ?? fleet.health_timeout) / 1000)} s`,
          'listen on process.env.PORT (and process.env.HOST) instead of a fixed port',
        ),
      ];
    }
    out.push(ok('start', `${started} answers`));
    let release: unknown;
    try {
      release = (JSON.parse(health.body) as { release?: unknown }).release;
    } catch {
      release = undefined;
    }
    const fix = `answer GET ${fleet.health_path} with 200 and {"release": process.env.RELEASE_ID}`;
    if (health.status !== 200) out.push(fail('healthz', `GET ${fleet.health_path} answered ${health.status}`, fix));
    else if (release === undefined) out.push(fail('healthz', `GET ${fleet.health_path} answered 200 without a JSON "release"`, fix));
    else if (release !== app.release)
      out.push(
        fail(
          'healthz',
          `GET ${fleet.health_path} says release ${JSON.stringify(release)}, not the RELEASE_ID it was started with (${app.release})`,
          `return process.env.RELEASE_ID as "release" (not a version of your own): immune waits for it after every switch`,
        ),
      );
    else out.push(ok('healthz', `GET ${fleet.health_path} answers 200 with its release`));
    if (config.metrics.source === 'scrape') out.push(...(await checkMetrics(config, app)));
    else out.push(skip('metrics', 'metrics come from Prometheus: check its targets and queries there'));
    return out;
  } finally {
    await app.stop();
  }
}

/** The one-line fix for a push check's problem (git-repo's checkPushable says what is wrong). */
function pushFix(problem: string, url: string, branch: string): string {
  if (/checked-out branch/.test(problem))
    return `deploy from a bare repository (git clone --bare ${url} ${url.replace(/\/+$/, '')}.git, set repo.url to it and push there), set repo.push_url, or let pushes update the checkout: git -C ${url} config receive.denyCurrentBranch updateInstead`;
  if (/has no branch/.test(problem)) return `push the branch (git push ${url} HEAD:${branch}) or set repo.branch`;
  return 'check repo.url (and repo.push_url) and that this machine may read and push to it (path, ssh key or credentials)';
}

/**
 * The repository is reachable and has the branch; with reverts on, it would take a push
 * (GitRepo.checkPushable: a working checkout refusing pushes to its branch, then a dry-run push
 * from a clone made in a temp directory, which asks receive-pack without changing anything).
 */
async function checkRepository(config: PipelineConfig, signal?: AbortSignal): Promise<DoctorCheck> {
  const { url, branch, remote, push_url } = config.repo;
  const resolved = resolveRepoUrl(url);
  if (!config.on_regression.revert) {
    const heads = await simpleGit({ abort: signal })
      .raw(['ls-remote', '--heads', resolved, branch])
      .then(
        (t) => t,
        (err: Error) => err,
      );
    if (heads instanceof Error)
      return fail(
        'repository',
        `cannot read ${url}: ${heads.message.split('\n').find((l) => l.trim()) ?? heads.message}`,
        pushFix('', url, branch),
      );
    if (!heads.trim()) return fail('repository', `${url} has no branch ${branch}`, pushFix('has no branch', url, branch));
    return ok('repository', `${url} has ${branch} (reverts are off: pushes not checked)`);
  }
  const workdir = await mkdtemp(join(tmpdir(), 'immune-doctor-'));
  try {
    const repo = createGitRepo({
      url: resolved,
      branch,
      remote,
      pushUrl: push_url === undefined ? undefined : resolveRepoUrl(push_url),
      workdir,
    });
    const r = await repo.checkPushable!(signal);
    return r.ok
      ? ok('repository', `${url} has ${branch} and accepts pushes (reverts are on)`)
      : fail('repository', r.details ? `${r.problem}: ${r.details.split('\n')[0]}` : r.problem, pushFix(r.problem, url, branch));
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }
}

export async function runDoctor(pipelineFile: string, o: DoctorOptions = {}): Promise<DoctorCheck[]> {
  const appDir = resolve(o.appDir ?? '.');
  let config: PipelineConfig;
  try {
    config = parsePipeline(await readFile(pipelineFile, 'utf8'), pipelineFile);
  } catch (err) {
    if (err instanceof ConfigError)
      return err.issues.map((i) =>
        fail('pipeline', formatConfigIssue(i), `fix the file (immune validate ${pipelineFile} lists every problem)`),
      );
    return [
      fail(
        'pipeline',
        `${pipelineFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        'name an existing pipeline file with --pipeline',
      ),
    ];
  }
  const checks: DoctorCheck[] = [ok('pipeline', `${pipelineFile} is valid`)];

  checks.push(await checkRepository(config, o.signal));
  checks.push(await checkTests(config, appDir));
  checks.push(...(await checkApp(config, appDir, o)));
  return checks;
}
