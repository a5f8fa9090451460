// Benchmark: GET /api/client/features with If-None-Match (what every Unleash SDK polls) on the
// real `immune serve` app (buildServer), next to a @fastify/static file with the same body and
// its own ETag, served by the same child process on loopback; autocannon runs in this process.
// Beside it, the protocols that evaluate on the server: OFREP bulk evaluation (POST
// /ofrep/v1/evaluate/flags with a user's context, 200) and the Unleash frontend API (GET
// /api/frontend?userId=..., 200), each against a static file of its own response's bytes (200).
// Target: at least 20,000 requests/s. Prints figures and writes bench-results/flags.json.
// Run: npm run bench:flags   (DURATION=5 seconds per run, ROUNDS=3, CONNECTIONS=50 by default; medians reported)
// @ts-expect-error autocannon ships no type declarations
import autocannonUntyped from 'autocannon';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  '2xx': number;
  non2xx: number;
}
const autocannon = autocannonUntyped as (o: {
  url: string;
  connections: number;
  duration: number;
  headers?: Record<string, string>;
  method?: string;
  body?: string;
}) => Promise<CannonResult>;

const TOKEN = 'bench-client-token';
const FRONTEND_TOKEN = 'bench-frontend-token';
/** The context every evaluating request sends (one user: the server does not cache evaluations, so one user costs what many do). */
const OFREP_BODY = JSON.stringify({ context: { targetingKey: 'user-42', plan: 'beta' } });
const FRONTEND_QUERY = '?appName=bench&userId=user-42&properties%5Bplan%5D=beta';

async function serve(): Promise<void> {
  const { default: fastifyStatic } = await import('@fastify/static');
  const { default: Fastify } = await import('fastify');
  const { pino } = await import('pino');
  const { openSqliteStore } = await import('../src/adapters/store/sqlite/index.js');
  const { EventBus } = await import('../src/engine/events.js');
  const { buildServer } = await import('../src/server/app.js');
  const { createAuth } = await import('../src/server/auth.js');
  const dir = mkdtempSync(join(tmpdir(), 'immune-bench-flags-'));
  const experimentsDir = join(dir, 'experiments');
  mkdirSync(experimentsDir);
  for (const f of readdirSync('experiments')) if (/\.ya?ml$/.test(f)) copyFileSync(join('experiments', f), join(experimentsDir, f));
  writeFileSync(
    join(experimentsDir, 'flags.yaml'),
    'flags:\n  - name: new-search\n    rollout: 25%\n  - name: payments\n    enabled: false\n  - name: dark-mode\n',
  );
  const store = openSqliteStore(join(dir, 'state.db'));
  const { ExperimentRegistry } = await import('../src/engine/experiments.js');
  const { systemClock } = await import('../src/adapters/clock/system.js');
  const log = pino({ level: 'silent' });
  const events = new EventBus();
  const experiments = new ExperimentRegistry({ dir: experimentsDir, store, events, log, clock: systemClock });
  const frontendTokens = [{ name: 'bench', token: FRONTEND_TOKEN, app: 'bench', environment: 'default', origins: [] }];
  const ctx = {
    store,
    log,
    events,
    auth: createAuth({ tokens: [], openRead: true }),
    experiments,
    clientTokens: [TOKEN],
    frontendTokens,
    publicUrl: '',
  };
  const app = await buildServer(ctx, { logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const features = await app.inject({ method: 'GET', url: '/api/client/features', headers: { authorization: TOKEN } });
  // The reference: the same bytes as a static file.
  const staticDir = join(dir, 'static');
  mkdirSync(staticDir);
  writeFileSync(join(staticDir, 'features.json'), features.body);
  const ofrep = await app.inject({
    method: 'POST',
    url: '/ofrep/v1/evaluate/flags',
    headers: { authorization: TOKEN, 'content-type': 'application/json' },
    payload: OFREP_BODY,
  });
  const frontend = await app.inject({ method: 'GET', url: `/api/frontend${FRONTEND_QUERY}`, headers: { authorization: FRONTEND_TOKEN } });
  if (ofrep.statusCode !== 200 || frontend.statusCode !== 200)
    throw new Error(`OFREP answered ${ofrep.statusCode}, the frontend API ${frontend.statusCode}`);
  writeFileSync(join(staticDir, 'ofrep.json'), ofrep.body);
  writeFileSync(join(staticDir, 'frontend.json'), frontend.body);
  const ref = Fastify({ logger: false });
  await ref.register(fastifyStatic, { root: staticDir });
  await ref.listen({ host: '127.0.0.1', port: 0 });
  const refHead = await ref.inject({ method: 'GET', url: '/features.json' });
  const port = (a: ReturnType<typeof app.server.address>): number => (typeof a === 'object' && a ? a.port : 0);
  process.stdout.write(
    `${JSON.stringify({
      features: `http://127.0.0.1:${port(app.server.address())}/api/client/features`,
      etag: features.headers.etag,
      bytes: features.body.length,
      static: `http://127.0.0.1:${port(ref.server.address())}/features.json`,
      staticEtag: refHead.headers.etag,
      ofrep: `http://127.0.0.1:${port(app.server.address())}/ofrep/v1/evaluate/flags`,
      ofrepBytes: ofrep.body.length,
      ofrepStatic: `http://127.0.0.1:${port(ref.server.address())}/ofrep.json`,
      frontend: `http://127.0.0.1:${port(app.server.address())}/api/frontend${FRONTEND_QUERY}`,
      frontendBytes: frontend.body.length,
      frontendStatic: `http://127.0.0.1:${port(ref.server.address())}/frontend.json`,
    })}\n`,
  );
  // "cpu" on stdin: answer the CPU time this process has used so far (user + system, microseconds).
  createInterface({ input: process.stdin }).on('line', (l) => {
    if (l.trim() === 'cpu') {
      const u = process.cpuUsage();
      process.stdout.write(`${JSON.stringify({ cpuMicros: u.user + u.system })}\n`);
    }
  });
  process.stdin.on('end', () => {
    void Promise.all([app.close(), ref.close()]).then(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  });
}

async function main(): Promise<void> {
  const duration = Number(process.env.DURATION ?? 5);
  const connections = Number(process.env.CONNECTIONS ?? 50);
  const rounds = Number(process.env.ROUNDS ?? 3);
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench-flags.ts', '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const first = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the server process did not start within 60 s')), 60_000);
    createInterface({ input: child.stdout! }).once('line', (l) => {
      clearTimeout(t);
      resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`the server process exited (${code})`)));
  });
  const urls = JSON.parse(first) as {
    features: string;
    etag: string;
    bytes: number;
    static: string;
    staticEtag: string;
    ofrep: string;
    ofrepBytes: number;
    ofrepStatic: string;
    frontend: string;
    frontendBytes: number;
    frontendStatic: string;
  };
  const lines = createInterface({ input: child.stdout! });
  const cpu = (): Promise<number> =>
    new Promise((resolve) => {
      lines.once('line', (l) => resolve((JSON.parse(l) as { cpuMicros: number }).cpuMicros));
      child.stdin!.write('cpu\n');
    });
  const run = async (
    url: string,
    headers: Record<string, string>,
    expect304: boolean,
    request: { method?: string; body?: string } = {},
  ) => {
    await autocannon({ url, connections, duration: 2, headers, ...request }); // warm up
    const before = await cpu();
    const r = await autocannon({ url, connections, duration, headers, ...request });
    const cpuSeconds = ((await cpu()) - before) / 1e6;
    const bad = r.errors + r.timeouts + (expect304 ? r['2xx'] : r.non2xx);
    if (bad)
      throw new Error(
        `${url}: ${bad} unexpected answers (errors ${r.errors}, timeouts ${r.timeouts}, 2xx ${r['2xx']}, non-2xx ${r.non2xx})`,
      );
    // Requests per CPU-second of the server process: what one idle core would serve, whatever else runs on the machine.
    return {
      requestsPerSecond: Math.round(r.requests.average),
      requestsPerCpuSecond: Math.round(r.requests.total / cpuSeconds),
      latencyP50Ms: r.latency.p50,
      latencyP99Ms: r.latency.p99,
      requests: r.requests.total,
    };
  };
  const load = loadavg()[0]!;
  // Rounds alternate reference and features so both see the same background load; medians are reported.
  type Run = Awaited<ReturnType<typeof run>>;
  const statics: Run[] = [];
  const features: Run[] = [];
  for (let i = 0; i < rounds; i++) {
    statics.push(await run(urls.static, { 'if-none-match': urls.staticEtag }, true));
    features.push(await run(urls.features, { authorization: TOKEN, 'if-none-match': urls.etag }, true));
  }
  const median = (rs: Run[]): Run => {
    const pick = (f: (r: Run) => number): number => rs.map(f).sort((a, b) => a - b)[Math.floor(rs.length / 2)]!;
    return {
      requestsPerSecond: pick((r) => r.requestsPerSecond),
      requestsPerCpuSecond: pick((r) => r.requestsPerCpuSecond),
      latencyP50Ms: pick((r) => r.latencyP50Ms),
      latencyP99Ms: pick((r) => r.latencyP99Ms),
      requests: pick((r) => r.requests),
    };
  };
  const staticRef = median(statics);
  const features304 = median(features);
  const features200 = await run(urls.features, { authorization: TOKEN }, false);
  // The evaluating protocols, each against a static file of its own response (200), alternating as above.
  const evaluating = { ofrepBulk: [] as Run[], ofrepStatic: [] as Run[], frontend: [] as Run[], frontendStatic: [] as Run[] };
  for (let i = 0; i < rounds; i++) {
    evaluating.ofrepStatic.push(await run(urls.ofrepStatic, {}, false));
    evaluating.ofrepBulk.push(
      await run(urls.ofrep, { authorization: TOKEN, 'content-type': 'application/json' }, false, { method: 'POST', body: OFREP_BODY }),
    );
    evaluating.frontendStatic.push(await run(urls.frontendStatic, {}, false));
    evaluating.frontend.push(await run(urls.frontend, { authorization: FRONTEND_TOKEN }, false));
  }
  child.stdin!.end();
  const ratio = +(features304.requestsPerSecond / staticRef.requestsPerSecond).toFixed(2);
  const ofrepBulk = median(evaluating.ofrepBulk);
  const ofrepStatic = median(evaluating.ofrepStatic);
  const frontendApi = median(evaluating.frontend);
  const frontendStatic = median(evaluating.frontendStatic);
  const ratioOf = (a: Run, b: Run) => ({
    requestsPerSecond: +(a.requestsPerSecond / b.requestsPerSecond).toFixed(2),
    latencyP99: +(a.latencyP99Ms / Math.max(b.latencyP99Ms, 1)).toFixed(2),
  });
  const result = {
    benchmark: 'flags',
    what: 'GET /api/client/features with If-None-Match (304) on buildServer, vs @fastify/static 304 of the same bytes, same server process, autocannon in another process on loopback; OFREP bulk and the frontend API (200, evaluated per request) vs @fastify/static 200 of their own response bytes',
    connections,
    durationSeconds: duration,
    rounds,
    rawRounds: { features304: features.map((r) => r.requestsPerSecond), static304: statics.map((r) => r.requestsPerSecond) },
    bodyBytes: urls.bytes,
    features304,
    static304: staticRef,
    features200,
    ratioToStatic: ratio,
    ofrepBulk: {
      ...ofrepBulk,
      bodyBytes: urls.ofrepBytes,
      static200: ofrepStatic,
      ratioToStatic: ratioOf(ofrepBulk, ofrepStatic),
      rounds: evaluating.ofrepBulk.map((r) => r.requestsPerSecond),
    },
    frontendApi: {
      ...frontendApi,
      bodyBytes: urls.frontendBytes,
      static200: frontendStatic,
      ratioToStatic: ratioOf(frontendApi, frontendStatic),
      rounds: evaluating.frontend.map((r) => r.requestsPerSecond),
    },
    targetRequestsPerSecond: 20_000,
    pass: features304.requestsPerSecond >= 20_000,
    passPerCpuSecond: features304.requestsPerCpuSecond >= 20_000,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version, loadAverage1mAtStart: +load.toFixed(2) },
    date: new Date().toISOString(),
  };
  console.log(
    `GET /api/client/features, If-None-Match -> 304: ${features304.requestsPerSecond.toLocaleString('en')} req/s (p50 ${features304.latencyP50Ms} ms, p99 ${features304.latencyP99Ms} ms); ${features304.requestsPerCpuSecond.toLocaleString('en')} per server CPU-second`,
  );
  console.log(
    `@fastify/static reference, same bytes, 304: ${staticRef.requestsPerSecond.toLocaleString('en')} req/s (p50 ${staticRef.latencyP50Ms} ms, p99 ${staticRef.latencyP99Ms} ms); ${staticRef.requestsPerCpuSecond.toLocaleString('en')} per server CPU-second`,
  );
  console.log(`ratio features/static: ${ratio}`);
  console.log(
    `GET /api/client/features full body (${urls.bytes} bytes) -> 200: ${features200.requestsPerSecond.toLocaleString('en')} req/s; ${features200.requestsPerCpuSecond.toLocaleString('en')} per server CPU-second`,
  );
  const line = (what: string, r: Run, ref: Run, bytes: number) =>
    console.log(
      `${what} (${bytes} bytes) -> 200: ${r.requestsPerSecond.toLocaleString('en')} req/s, p99 ${r.latencyP99Ms} ms, ${r.requestsPerCpuSecond.toLocaleString('en')} per server CPU-second; static file of the same bytes: ${ref.requestsPerSecond.toLocaleString('en')} req/s, p99 ${ref.latencyP99Ms} ms, ${ref.requestsPerCpuSecond.toLocaleString('en')} per CPU-second; ratio ${ratioOf(r, ref).requestsPerSecond} (p99 x${ratioOf(r, ref).latencyP99}, per CPU-second ${(r.requestsPerCpuSecond / ref.requestsPerCpuSecond).toFixed(2)})`,
    );
  line('POST /ofrep/v1/evaluate/flags (bulk, one context)', ofrepBulk, ofrepStatic, urls.ofrepBytes);
  line('GET /api/frontend?userId=...', frontendApi, frontendStatic, urls.frontendBytes);
  console.log(
    `target >= 20,000 req/s: ${result.pass ? 'met' : 'NOT met'} measured, ${result.passPerCpuSecond ? 'met' : 'NOT met'} per server CPU-second (${cpus().length} CPUs, load average ${load.toFixed(1)} at start)`,
  );
  mkdirSync('bench-results', { recursive: true });
  writeFileSync('bench-results/flags.json', `${JSON.stringify(result, null, 2)}\n`);
}

if (process.argv.includes('--serve')) await serve();
else await main();
