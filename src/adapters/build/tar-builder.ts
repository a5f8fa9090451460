// The Builder: run the pipeline's build commands in a checkout, then pack `output` into a
// reproducible .tar.gz named by its own content hash (same files -> same bytes -> same id).
// Packed in-process with node-tar and zlib: no GNU tar or gzip needed on the orchestrator.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { execa } from 'execa';
import { create as createTar } from 'tar';
import type { Logger } from 'pino';
import { ImmuneError } from '../../core/errors.js';
import type { Artifact, Builder, Checkout } from '../../ports.js';

export interface TarBuilderOptions {
  /** Commands run in the checkout, in order, as argument arrays (never through a shell). */
  commands: string[][];
  /** Directory inside the checkout to package ("." for all of it). */
  output: string;
  /**
   * Paths left out, as tar --exclude patterns: a pattern matches a whole path component or a run of
   * them anywhere in the tree (".git", "node_modules/.cache"); `*` and `?` match within a component.
   */
  exclude: string[];
  /** Bound for each command and for packing, ms. */
  timeout: number;
  /** Where artifacts are written: <dir>/<id>.tar.gz. */
  dir: string;
  log: Pick<Logger, 'info' | 'debug'>;
}

/** A build command failed, or packing did. */
export class BuildError extends ImmuneError {
  constructor(message: string, cause?: unknown) {
    super('IMMUNE_DEPLOY_FAILED', message, { cause });
  }
}

/** One exclude pattern as a test on a path relative to the packed directory ("a/b/c"). */
export function excludeMatcher(patterns: string[]): (rel: string) => boolean {
  const res = patterns.map((p) => {
    const body = p
      .replace(/^\.\/+|\/+$/g, '')
      .split('')
      .map((c) => (c === '*' ? '[^/]*' : c === '?' ? '[^/]' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('');
    return new RegExp(`(^|/)${body}$`);
  });
  return (rel) => res.some((re) => re.test(rel));
}

/** Every path under `dir` that is not excluded, directories before their contents, sorted by name (byte order). */
async function listTree(dir: string, excluded: (rel: string) => boolean, prefix = ''): Promise<string[]> {
  const names = (await readdir(join(dir, prefix), { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  const out: string[] = [];
  for (const e of names) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (excluded(rel)) continue;
    out.push(rel);
    if (e.isDirectory()) out.push(...(await listTree(dir, excluded, rel)));
  }
  return out;
}

/**
 * Pack `src` into a gzipped tar at `file` that depends on file names, contents, modes and link
 * targets only: entries sorted, every mtime the epoch, no owners, times or device numbers (node-tar's
 * portable mode), and zlib's gzip header carries no name or time.
 */
export async function packTree(src: string, file: string, exclude: string[]): Promise<void> {
  const entries = await listTree(src, excludeMatcher(exclude));
  await createTar({ file, cwd: src, gzip: { level: 9 }, portable: true, mtime: new Date(0), noDirRecurse: true, strict: true }, [
    './',
    ...entries.map((e) => `./${e}`),
  ]);
}

function sha256File(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('end', () => res(h.digest('hex')))
      .on('error', rej);
  });
}

function tailOf(text: string | undefined, lines = 10): string {
  return (text ?? '').trimEnd().split('\n').slice(-lines).join('\n');
}

export function createTarBuilder(opts: TarBuilderOptions): Builder {
  return {
    async build(checkout: Checkout, signal: AbortSignal): Promise<Artifact> {
      const t0 = Date.now();
      for (const cmd of opts.commands) {
        opts.log.info({ sha: checkout.sha, command: cmd }, 'build command');
        try {
          await execa(cmd[0], cmd.slice(1), {
            cwd: checkout.dir,
            cancelSignal: signal,
            timeout: opts.timeout,
            all: true,
            stdin: 'ignore',
            forceKillAfterDelay: 2000,
          });
        } catch (err) {
          const e = err as { shortMessage?: string; message: string; all?: string };
          throw new BuildError(
            `build of ${checkout.sha.slice(0, 12)} failed: ${e.shortMessage ?? e.message}${e.all ? `\n${tailOf(e.all)}` : ''}`,
            err,
          );
        }
      }

      const src = resolve(checkout.dir, opts.output);
      const rel = relative(checkout.dir, src);
      if (rel.startsWith('..') || isAbsolute(rel)) throw new BuildError(`build output "${opts.output}" is outside the checkout`);
      if (!existsSync(src) || !(await stat(src)).isDirectory())
        throw new BuildError(`build output "${opts.output}" is not a directory in ${checkout.sha.slice(0, 12)}'s checkout`);

      await mkdir(opts.dir, { recursive: true });
      const tmp = join(opts.dir, `.build-${process.pid}-${Date.now()}-${Math.random().toString(16).slice(2)}.tar.gz`);
      try {
        signal.throwIfAborted();
        await packTree(src, tmp, opts.exclude);
        const id = (await sha256File(tmp)).slice(0, 16);
        const path = join(opts.dir, `${id}.tar.gz`);
        await rename(tmp, path);
        const { size } = await stat(path);
        opts.log.info({ sha: checkout.sha, artifact: id, bytes: size, ms: Date.now() - t0 }, 'built');
        return { id, sha: checkout.sha, path, bytes: size };
      } catch (err) {
        await rm(tmp, { force: true });
        if (err instanceof BuildError) throw err;
        throw new BuildError(`packing ${checkout.sha.slice(0, 12)} failed: ${(err as Error).message}`, err);
      }
    },
  };
}
