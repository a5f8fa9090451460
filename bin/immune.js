#!/usr/bin/env node
// The `immune` command. An installed package runs the compiled CLI in dist/. In a checkout of the
// repository, dist/ runs only when it was built after the last change under src/ (dist/.built is
// newer than every file there); otherwise the CLI runs from source through tsx, so tests and
// development never depend on a manual build. IMMUNE_FROM_SOURCE=1 forces the source.
import { existsSync, readdirSync, statSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const stamp = new URL('dist/.built', root);
const src = new URL('src/', root);

/** True when some file or directory under `dir` changed after `t` (ms). */
function changedSince(dir, t) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = new URL(e.isDirectory() ? `${e.name}/` : e.name, dir);
    if (statSync(p).mtimeMs > t) return true;
    if (e.isDirectory() && changedSince(p, t)) return true;
  }
  return false;
}

function useDist() {
  if (process.env.IMMUNE_FROM_SOURCE === '1' || !existsSync(stamp)) return false;
  if (!existsSync(src)) return true; // an installed package: no sources
  const built = statSync(stamp).mtimeMs;
  return statSync(src).mtimeMs <= built && !changedSince(src, built);
}

if (useDist()) {
  await import('../dist/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
