// `npm run build`: compile src/ to dist/ with tsc (JavaScript, declarations), copy the files the
// program reads at run time (the dashboard, the demo shop), then write dist/.built. bin/immune.js
// runs dist/ only when .built is newer than every file under src/. The new tree is built beside
// the old one and renamed into place, so a running `immune` never sees a half-written dist/.
// Plain JavaScript so that it runs before anything is compiled (npm ci -> prepare).
import { cp, mkdir, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const started = new Date();
const t0 = Date.now();

const next = join(root, `.dist-${process.pid}`);
await rm(next, { recursive: true, force: true });
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', next], { stdio: [0, 2, 2] }); // stdout stays clean for npm pack --json
if (r.status !== 0) {
  await rm(next, { recursive: true, force: true });
  process.stderr.write(`build: tsc failed (exit ${r.status ?? r.signal})\n`);
  process.exit(1);
}
// Static files next to the modules that find them through import.meta.url, and core's plain-JS words.
for (const dir of ['dashboard', 'demo/shop', 'core/format']) {
  await mkdir(join(next, dir), { recursive: true });
  await cp(join(root, 'src', dir), join(next, dir), { recursive: true, filter: (p) => !p.endsWith('.ts') || p.endsWith('.d.ts') });
}
// Stamped with the time the build started: a source file saved during the build is newer.
const stamp = join(next, '.built');
await writeFile(stamp, `${started.toISOString()}\n`);
await utimes(stamp, started, started);
const old = join(root, `.dist-old-${process.pid}`);
await rename(dist, old).catch(() => undefined);
await rename(next, dist);
await rm(old, { recursive: true, force: true });
process.stderr.write(`build: dist/ in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
