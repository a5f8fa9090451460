// `npm run build`: compile src/ to dist/ with tsc (JavaScript, declarations), copy the files the
// program reads at run time (the dashboard, the demo shop), then write dist/.built. bin/immune.js
// runs dist/ only when .built is newer than every file under src/.
// Plain JavaScript so that it runs before anything is compiled (npm ci -> prepare).
import { cp, mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const started = new Date();
const t0 = Date.now();

await rm(dist, { recursive: true, force: true });
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) {
  process.stderr.write(`build: tsc failed (exit ${r.status ?? r.signal})\n`);
  process.exit(1);
}
// Static files next to the modules that find them through import.meta.url.
for (const dir of ['dashboard', 'demo/shop']) {
  await mkdir(join(dist, dir), { recursive: true });
  await cp(join(root, 'src', dir), join(dist, dir), { recursive: true, filter: (p) => !p.endsWith('.ts') || p.endsWith('.d.ts') });
}
// Stamped with the time the build started: a source file saved during the build is newer.
const stamp = join(dist, '.built');
await writeFile(stamp, `${started.toISOString()}\n`);
await utimes(stamp, started, started);
process.stdout.write(`build: dist/ in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
