// CLI start-up: `immune --help` and `immune status` run compiled (dist/, what the package runs)
// and from source through tsx (a checkout without a build), side by side in one run.
// Each command is run RUNS times per variant, interleaved; the figures are medians of wall time,
// CPU time (user + system) and peak resident memory, from GNU time.
// `status` asks a stand-in on loopback that answers GET /api/line as `immune serve` does.
// Run: npm run build && node --import tsx scripts/bench-cli.ts [runs]
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNS = Number(process.argv[2] ?? 15);
const TIME = '/usr/bin/time';

if (!existsSync(join(ROOT, 'dist/cli/main.js'))) throw new Error('no dist/: run npm run build first');
if (!existsSync(TIME)) throw new Error(`${TIME} (GNU time) is needed for peak memory`);

const status = { pipeline: 'app', blocked: false, paused: false, live: null, inFlight: null, queue: [] };
const server = createServer((req, res) => {
  res.writeHead(req.url === '/api/line' ? 200 : 404, { 'content-type': 'application/json' });
  res.end(JSON.stringify(req.url === '/api/line' ? status : { error: { code: 'IMMUNE_NOT_FOUND', message: 'no' } }));
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

const variants = {
  compiled: ['node', join(ROOT, 'dist/cli/main.js')],
  tsx: ['node', '--import', 'tsx', join(ROOT, 'src/cli/main.ts')],
};
const commands = { '--help': ['--help'], status: ['status', '--url', url] };

interface Run {
  wall: number;
  cpu: number;
  rssMb: number;
}

/** One run under GNU time: -f "%e %U %S %M" (seconds, seconds, seconds, KB). Runs the command asynchronously so the stand-in can answer. */
async function once(cmd: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(TIME, ['-f', '%e %U %S %M', ...cmd], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const last = err.trim().split('\n').at(-1)!.split(' ').map(Number);
      if (last.length !== 4 || last.some((x) => !Number.isFinite(x))) return reject(new Error(`cannot read GNU time's output: ${err}`));
      resolve({ wall: last[0]!, cpu: last[1]! + last[2]!, rssMb: last[3]! / 1024 });
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

// Warm the file cache and tsx's compile cache, as a user's second run would be.
for (const v of Object.values(variants)) for (const c of Object.values(commands)) await once([...v, ...c]);

const results: Record<string, Record<string, Run[]>> = {};
for (let i = 0; i < RUNS; i++) {
  for (const [cname, c] of Object.entries(commands)) {
    const order = i % 2 ? Object.entries(variants).reverse() : Object.entries(variants);
    for (const [vname, v] of order) ((results[cname] ??= {})[vname] ??= []).push(await once([...v, ...c]));
  }
}
server.close();

const cpus = execFileSync('nproc').toString().trim();
const load = execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ');
console.log(`CLI start-up, median of ${RUNS} runs each (node ${process.version}, ${cpus} CPUs, load ${load})`);
console.log('command   variant    wall s   cpu s   peak MB');
for (const [cname, byVariant] of Object.entries(results)) {
  const m = Object.fromEntries(
    Object.entries(byVariant).map(([v, runs]) => [
      v,
      { wall: median(runs.map((r) => r.wall)), cpu: median(runs.map((r) => r.cpu)), rssMb: median(runs.map((r) => r.rssMb)) },
    ]),
  );
  for (const [v, f] of Object.entries(m))
    console.log(
      `${cname.padEnd(9)} ${v.padEnd(9)} ${f.wall.toFixed(3).padStart(7)} ${f.cpu.toFixed(3).padStart(7)} ${f.rssMb.toFixed(1).padStart(9)}`,
    );
  const [c, t] = [m.compiled!, m.tsx!];
  console.log(
    `${cname.padEnd(9)} tsx/compiled  wall x${(t.wall / c.wall).toFixed(2)}  cpu x${(t.cpu / c.cpu).toFixed(2)}  memory x${(t.rssMb / c.rssMb).toFixed(2)}`,
  );
}
