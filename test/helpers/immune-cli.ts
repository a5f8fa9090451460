// Runs the real `immune` command (node bin/immune.js) for CLI tests, with no IMMUNE_* variables
// leaking in from the environment; never rejects, answers the exit code and output.
import { join } from 'node:path';
import { execa } from 'execa';

export const ROOT = new URL('../../', import.meta.url).pathname;

export async function immune(
  args: string[],
  env: Record<string, string> = {},
  cwd = ROOT,
  timeout = 30_000,
): Promise<{ code: number | undefined; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IMMUNE_')));
  const r = await execa('node', [join(ROOT, 'bin/immune.js'), ...args], {
    cwd,
    env: { ...clean, ...env },
    extendEnv: false,
    reject: false,
    timeout,
  });
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}
