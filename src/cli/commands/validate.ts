// `immune validate`: check pipeline and experiment files, printing every problem as file:line:col.
import type { Command } from 'commander';
import { readdir, readFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { ConfigError, formatConfigIssue, type ConfigIssue } from '../../core/errors.js';

export type FileKind = 'pipeline' | 'experiment';

export interface FileResult {
  file: string;
  kind: FileKind;
  ok: boolean;
  issues: ConfigIssue[];
}

/** A file is an experiment (or flags) file when it lives under a directory named experiments. */
export function kindOf(file: string): FileKind {
  const dirs = file.split(/[\\/]/).slice(0, -1);
  return dirs.includes('experiments') ? 'experiment' : 'pipeline';
}

/** With `env`, the environment variables a pipeline names for its secrets must be set in it. */
export async function validateFile(file: string, opts: { env?: Record<string, string | undefined> } = {}): Promise<FileResult> {
  const kind = kindOf(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (code ?? (err as Error).message);
    return { file, kind, ok: false, issues: [{ file, line: 1, col: 1, path: '', message: `cannot read: ${why}` }] };
  }
  try {
    // Loaded here, not at the top: zod and yaml cost every other command ~0.5 s of start-up.
    if (kind === 'experiment') (await import('../../core/config/experiment.js')).parseExperimentFile(text, file);
    else (await import('../../core/config/index.js')).parsePipeline(text, file, { env: opts.env });
    return { file, kind, ok: true, issues: [] };
  } catch (err) {
    if (err instanceof ConfigError)
      return { file, kind, ok: false, issues: [...err.issues].sort((a, b) => a.line - b.line || a.col - b.col) };
    return { file, kind, ok: false, issues: [{ file, line: 1, col: 1, path: '', message: (err as Error).message }] };
  }
}

/**
 * `--deep`: a valid pipeline that reverts must name a repository that accepts immune's pushes
 * (checked without pushing anything); the problem is reported at the file's repo.url line.
 */
export async function checkRepository(r: FileResult): Promise<FileResult> {
  if (!r.ok || r.kind !== 'pipeline') return r;
  const text = await readFile(r.file, 'utf8');
  const config = (await import('../../core/config/index.js')).parsePipeline(text, r.file);
  if (!config.on_regression.revert) return r;
  const { checkRepoPushable } = await import('../../runtime.js');
  const check = await checkRepoPushable(config);
  if (check.ok) return r;
  const lines = text.split('\n');
  const at = Math.max(
    0,
    lines.findIndex((l) => /^\s+(push_)?url:/.test(l)),
  );
  const col = (lines[at]?.search(/\S/) ?? 0) + 1;
  return {
    ...r,
    ok: false,
    issues: [{ file: r.file, line: at + 1, col, path: config.repo.push_url ? 'repo.push_url' : 'repo.url', message: check.problem }],
  };
}

/** pipelines/*.yaml and experiments/*.yaml (and .yml) under `dir`, sorted. */
export async function defaultFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of ['pipelines', 'experiments']) {
    const names = await readdir(join(dir, sub)).catch(() => [] as string[]);
    out.push(
      ...names
        .filter((n) => /\.ya?ml$/.test(n))
        .sort()
        .map((n) => (dir === '.' ? `${sub}${sep}${n}` : join(dir, sub, n))),
    );
  }
  return out;
}

export function register(program: Command): void {
  program
    .command('validate')
    .description('check pipeline and experiment files; every problem is printed as file:line:col message')
    .argument(
      '[files...]',
      'files to check (default: pipelines/*.yaml and experiments/*.yaml); a file under experiments/ is an experiment or flags file, any other a pipeline',
    )
    .option('--json', 'print {ok, files: [{file, kind, ok, issues: [{file, line, col, path, message}]}]}')
    .option('--no-env', 'do not check that the environment variables named for secrets (notify targets) are set, e.g. in CI without them')
    .option('--deep', "also check that each pipeline's repository accepts revert pushes (when it reverts); nothing is pushed")
    .addHelpText('after', '\nExit codes: 0 every file is valid, 1 some file has problems (or there is nothing to check), 2 bad flags.')
    .action(async (files: string[], o: { json?: boolean; env: boolean; deep?: boolean }) => {
      const list = files.length ? files : await defaultFiles('.');
      const results: FileResult[] = [];
      for (const f of list) {
        const r = await validateFile(f, { env: o.env ? process.env : undefined });
        results.push(o.deep ? await checkRepository(r) : r);
      }
      const ok = results.length > 0 && results.every((r) => r.ok);
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ ok, files: results }, null, 2)}\n`);
      } else {
        if (results.length === 0)
          process.stderr.write('immune: nothing to validate (no pipelines/*.yaml or experiments/*.yaml here; name the files)\n');
        for (const r of results) {
          if (r.ok) process.stdout.write(`ok ${r.file}\n`);
          else for (const i of r.issues) process.stdout.write(`${formatConfigIssue(i)}\n`);
        }
      }
      process.exitCode = ok ? 0 : 1;
    });
}
