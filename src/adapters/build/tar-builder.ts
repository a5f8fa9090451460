// The Builder: run the pipeline's build commands in a checkout, then pack `output` into a
// reproducible .tar.gz named by its own content hash (same files -> same bytes -> same id).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { execa } from 'execa';
import type { Logger } from 'pino';
import { ImmuneError } from '../../core/errors.js';
import type { Artifact, Builder, Checkout } from '../../ports.js';

export interface TarBuilderOptions {
  /** Commands run in the checkout, in order, as argument arrays (never through a shell). */
  commands: string[][];
  /** Directory inside the checkout to package ("." for all of it). */
  output: string;
  /** tar --exclude patterns (e.g. ".git", "node_modules/.cache"). */
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
    super('IMMUNE_EXTERNAL', message, { cause, status: 500 });
  }
}

/** GNU tar flags that make the archive depend on file names, contents and modes only. */
export const REPRODUCIBLE_TAR = ['--format=gnu', '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner'];

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
          await execa(cmd[0], cmd.slice(1), { cwd: checkout.dir, cancelSignal: signal, timeout: opts.timeout, all: true, stdin: 'ignore', forceKillAfterDelay: 2000 });
        } catch (err) {
          const e = err as { shortMessage?: string; message: string; all?: string };
          throw new BuildError(`build of ${checkout.sha.slice(0, 12)} failed: ${e.shortMessage ?? e.message}${e.all ? `\n${tailOf(e.all)}` : ''}`, err);
        }
      }

      const src = resolve(checkout.dir, opts.output);
      const rel = relative(checkout.dir, src);
      if (rel.startsWith('..') || isAbsolute(rel)) throw new BuildError(`build output "${opts.output}" is outside the checkout`);
      if (!existsSync(src) || !(await stat(src)).isDirectory()) throw new BuildError(`build output "${opts.output}" is not a directory in ${checkout.sha.slice(0, 12)}'s checkout`);

      await mkdir(opts.dir, { recursive: true });
      const tmp = join(opts.dir, `.build-${process.pid}-${Date.now()}-${Math.random().toString(16).slice(2)}.tar.gz`);
      try {
        const excludes = opts.exclude.map((p) => `--exclude=${p}`);
        await execa('tar', [...REPRODUCIBLE_TAR, ...excludes, '-cf', '-', '-C', src, '.'], { cancelSignal: signal, timeout: opts.timeout, env: { LC_ALL: 'C' } }).pipe(
          'gzip',
          ['-n', '-c'],
          { stdout: { file: tmp }, cancelSignal: signal, timeout: opts.timeout },
        );
        const id = (await sha256File(tmp)).slice(0, 16);
        const path = join(opts.dir, `${id}.tar.gz`);
        await rename(tmp, path);
        const { size } = await stat(path);
        opts.log.info({ sha: checkout.sha, artifact: id, bytes: size, ms: Date.now() - t0 }, 'built');
        return { id, sha: checkout.sha, path, bytes: size };
      } catch (err) {
        await rm(tmp, { force: true });
        if (err instanceof BuildError) throw err;
        const e = err as { shortMessage?: string; message: string; stderr?: string };
        throw new BuildError(`packing ${checkout.sha.slice(0, 12)} failed: ${e.shortMessage ?? e.message}${e.stderr ? `\n${tailOf(e.stderr)}` : ''}`, err);
      }
    },
  };
}
