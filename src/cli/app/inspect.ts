// `immune init`'s look at an app: package.json (name, scripts, dependencies), its git
// repository, the port it listens on, and — when it can be started — the metrics it serves.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { simpleGit } from 'simple-git';
import { contractMetrics, inferMetrics, type AppFacts } from '../../core/config/starter.js';
import { familiesOf, get, startApp, waitForAnswer } from './probe.js';

interface PackageJson {
  name?: string;
  main?: string;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

export interface InspectOptions {
  servers?: number;
  basePort?: number;
  /** Start the app to read its /metrics (default true). */
  probe?: boolean;
  probeTimeoutMs?: number;
  /** Read /metrics from this running app instead of starting one. */
  url?: string;
}

export interface Inspection {
  facts: AppFacts;
  /** What was found, one line each, for the terminal. */
  found: string[];
  /** The repository needs creating before the first deploy (no remote to deploy from). */
  needsBareRepo?: { from: string; to: string };
}

const SHELL = /[|&;<>()$`\\"'*?[\]#~=%{}]/;
const NO_TEST = /no test specified/;

async function readPackage(dir: string): Promise<PackageJson | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as PackageJson;
  } catch {
    return undefined;
  }
}

/** `node x.js --flag` as an argument array, or undefined when it needs a shell. */
function plainCommand(script: string): string[] | undefined {
  if (SHELL.test(script)) return undefined;
  const words = script.trim().split(/\s+/);
  return words.length ? words : undefined;
}

function sanitizeName(n: string): string {
  const s = n
    .replace(/^@[^/]+\//, '')
    .replace(/[^a-zA-Z0-9_-]+/g, '-')
    .replace(/^[-_]+/, '');
  return s || 'app';
}

/** Test files from a runner's arguments: globs and files as given, a directory as its *.test.js. */
function testFiles(args: string[]): string[] {
  const paths = args.filter((a) => !a.startsWith('-'));
  if (!paths.length) return ['test/**/*.test.js'];
  return paths.map((p) => (/\.[cm]?js$|\*/.test(p) ? p : `${p.replace(/\/+$/, '')}/**/*.test.js`));
}

function detectTests(pkg: PackageJson | undefined, dir: string): { tests?: AppFacts['tests']; noTests?: string; found: string } {
  const script = pkg?.scripts?.test;
  if (!script || NO_TEST.test(script))
    return { noTests: pkg ? 'package.json has no test script' : 'no package.json', found: 'tests: none found' };
  const deps = { ...pkg?.dependencies, ...pkg?.devDependencies };
  const setup = Object.keys(deps).length ? [existsSync(join(dir, 'package-lock.json')) ? ['npm', 'ci'] : ['npm', 'install']] : [];
  const words = plainCommand(script);
  if (words?.[0] === 'node' && words[1] === '--test') {
    const files = testFiles(words.slice(2));
    return { tests: { runner: 'node-test', files, setup }, found: `tests: node --test (${files.join(', ')}), sharded per test` };
  }
  if (words?.[0] === 'mocha') {
    const files = testFiles(words.slice(1));
    return { tests: { runner: 'mocha', files, setup }, found: `tests: mocha (${files.join(', ')}), sharded per test` };
  }
  return { tests: { runner: 'command', command: ['npm', 'test'], setup }, found: `tests: npm test (${script})` };
}

function detectStart(pkg: PackageJson | undefined, dir: string): { start: string[]; file?: string; found: string; warning?: string } {
  const script = pkg?.scripts?.start;
  if (script) {
    const words = plainCommand(script);
    if (words && words[0] === 'node')
      return {
        start: words,
        file: words.slice(1).find((w) => !w.startsWith('-')),
        found: `start: ${words.join(' ')} (package.json start script)`,
      };
    return { start: ['npm', 'start'], found: `start: npm start (${script})` };
  }
  const candidates = [pkg?.main, 'server.js', 'index.js', 'app.js', 'src/server.js', 'src/index.js'].filter((f): f is string => !!f);
  const file = candidates.find((f) => existsSync(join(dir, f)));
  if (file) return { start: ['node', file], file, found: `start: node ${file}` };
  return {
    start: ['node', 'server.js'],
    found: 'start: nothing found; assumed node server.js',
    warning: 'no start script, main or server.js was found: set fleet.start to the command that starts one server',
  };
}

/** How the app picks its port: reads $PORT, or a fixed default seen in the source. */
async function detectPort(dir: string, file: string | undefined): Promise<{ readsPort: boolean; fixed?: number }> {
  if (!file) return { readsPort: true };
  const text = await readFile(join(dir, file), 'utf8').catch(() => '');
  const readsPort = /process\.env\.PORT|process\.env\[['"]PORT['"]\]|\{\s*PORT\b[^}]*\}\s*=\s*process\.env/.test(text);
  const m = text.match(/(?:PORT\s*(?:\|\||\?\?)\s*|\.listen\(\s*(?:\{\s*port:\s*)?)(\d{2,5})\b/);
  return { readsPort, fixed: m ? Number(m[1]) : undefined };
}

async function detectRepo(
  dir: string,
  name: string,
): Promise<{ repo: AppFacts['repo']; found: string; needsBareRepo?: Inspection['needsBareRepo'] }> {
  const git = simpleGit(dir);
  const inRepo = await git.checkIsRepo().catch(() => false);
  const branch = inRepo ? (await git.raw(['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => 'main')).trim() || 'main' : 'main';
  const origin = inRepo ? (await git.raw(['remote', 'get-url', 'origin']).catch(() => '')).trim() : '';
  if (origin) {
    const local = !/^[a-z][a-z0-9+.-]*:\/\//i.test(origin) && !/^[^/]+@[^:]+:/.test(origin);
    const url = local ? (isAbsolute(origin) ? origin : resolve(dir, origin)) : origin;
    return {
      repo: { url, branch, comment: 'where commits are pushed (origin); reverts are pushed here too' },
      found: `repository: ${url} (origin), branch ${branch}`,
    };
  }
  const to = join(dir, '..', `${name}.git`);
  const url = relative(dir, to) || to;
  return {
    repo: { url: resolve(dir, url), branch, comment: 'a bare repository to push to (create it: see the first command init printed)' },
    found: inRepo
      ? `repository: ${dir} has no origin; deploy from a bare clone at ${resolve(to)}`
      : `repository: ${dir} is not a git repository`,
    needsBareRepo: { from: dir, to: resolve(to) },
  };
}

export async function inspectApp(dirArg: string, o: InspectOptions = {}): Promise<Inspection> {
  const dir = resolve(dirArg);
  const pkg = await readPackage(dir);
  const name = sanitizeName(pkg?.name ?? basename(dir));
  const found: string[] = [];
  const warnings: string[] = [];
  found.push(pkg ? `package.json: ${pkg.name ?? '(no name)'}` : 'package.json: none');

  const repo = await detectRepo(dir, name);
  found.push(repo.found);
  const t = detectTests(pkg, dir);
  found.push(t.found);
  const s = detectStart(pkg, dir);
  found.push(s.found);
  if (s.warning) warnings.push(s.warning);
  const port = await detectPort(dir, s.file);
  if (!port.readsPort) warnings.push(`${s.file} does not seem to read process.env.PORT: every server must listen on $PORT (and $HOST)`);
  found.push(`port: ${port.readsPort ? 'from $PORT' : 'fixed'}${port.fixed ? ` (default ${port.fixed})` : ''}`);

  const hasDeps = Object.keys(pkg?.dependencies ?? {}).length > 0;
  const build = {
    commands: hasDeps ? [existsSync(join(dir, 'package-lock.json')) ? ['npm', 'ci', '--omit=dev'] : ['npm', 'install', '--omit=dev']] : [],
  };

  let metricsFrom = 'the app contract (docs/app-contract.md): nothing was scraped';
  let inferred: ReturnType<typeof inferMetrics> | undefined;
  if (o.url) {
    const at = `${o.url.replace(/\/+$/, '')}/metrics`;
    const a = await get(at);
    if (a?.status === 200) [metricsFrom, inferred] = [at, inferMetrics(familiesOf(a.body))];
    else warnings.push(`${at} ${a ? `answered ${a.status}` : 'did not answer'}`);
  } else if (o.probe !== false) {
    const app = await startApp(s.start, { cwd: dir, port: port.readsPort ? undefined : port.fixed });
    try {
      let a = await waitForAnswer(app, '/metrics', o.probeTimeoutMs ?? 10_000);
      if (a?.status === 200) {
        // A few requests first, so that labelled series (answers by status code) have samples.
        for (let i = 0; i < 5; i++) await get(`${app.url}/`);
        a = (await get(`${app.url}/metrics`)) ?? a;
      }
      if (a?.status === 200) {
        metricsFrom = `${app.url}/metrics (the app started with ${s.start.join(' ')})`;
        inferred = inferMetrics(familiesOf(a.body));
      } else {
        const why = app.exited()
          ? `it exited (${app.exited()}): ${(await app.output(3)).replace(/\n/g, ' | ')}`
          : a
            ? `/metrics answered ${a.status}`
            : 'nothing answered /metrics';
        warnings.push(`started ${s.start.join(' ')} to read its metrics, but ${why}`);
      }
    } finally {
      await app.stop();
    }
  }
  if (inferred && inferred.metrics.length === 0)
    warnings.push(
      `${metricsFrom} serves none of the series init knows (request counters, duration histograms, process_*): the metrics below are the app contract's`,
    );
  const metrics = inferred?.metrics.length ? inferred.metrics : contractMetrics();
  if (!inferred) warnings.push("the metrics below are the app contract's names; `immune doctor` says which the app does not serve");
  found.push(
    `metrics: ${metrics.map((m) => m.def.name).join(', ')} (${inferred?.metrics.length ? 'from its /metrics' : "the contract's names"})`,
  );

  const facts: AppFacts = {
    name,
    repo: repo.repo,
    tests: t.tests,
    noTests: t.noTests,
    build,
    start: s.start,
    servers: o.servers ?? 4,
    basePort: o.basePort ?? 7201,
    metricsFrom,
    metrics,
    candidates: inferred?.candidates ?? [],
    warnings,
  };
  return { facts, found, needsBareRepo: repo.needsBareRepo };
}
