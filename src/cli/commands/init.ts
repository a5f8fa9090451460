// `immune init [dir]`: look at an app and write a minimal, commented pipeline for a local fleet.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import { InputError } from '../../core/errors.js';

function intIn(flag: string, lo: number, hi: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new InputError(flag, `"${v}" is not a whole number from ${lo} to ${hi}`);
    return n;
  };
}

interface InitFlags {
  out?: string;
  force?: boolean;
  servers: number;
  basePort: number;
  probe: boolean;
  url?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('init')
    .description(
      'write a pipeline for an app: reads package.json (test and start commands), its git remote and port, starts it once to read its /metrics, and prints the next three commands',
    )
    .argument('[dir]', "the app's directory (a git checkout)", '.')
    .option('-o, --out <file>', 'where to write the pipeline (default: <dir>/immune.yaml)')
    .option('-f, --force', 'overwrite an existing file')
    .option('--servers <n>', 'local servers', intIn('--servers', 1, 64), 4)
    .option('--base-port <n>', 'port of the first server (the others follow)', intIn('--base-port', 1024, 65000), 7201)
    .option('--url <url>', 'read /metrics from this running app instead of starting one')
    .option('--no-probe', 'do not start the app to read its /metrics')
    .option('--json', 'print {file, found, warnings, next} instead of text')
    .addHelpText(
      'after',
      '\nExit codes: 0 written, 1 the file exists (use --force), 2 bad flags.\nThe pipeline is checked with the same schema as `immune validate` before it is written.',
    )
    .action(async (dir: string, o: InitFlags) => {
      const { inspectApp } = await import('../app/inspect.js');
      const { starterPipeline } = await import('../../core/config/starter.js');
      const { parsePipeline } = await import('../../core/config/index.js');
      const appDir = resolve(dir);
      if (!existsSync(appDir)) throw new InputError('dir', `${dir}: no such directory`);
      const file = resolve(o.out ?? resolve(appDir, 'immune.yaml'));
      if (existsSync(file) && !o.force) {
        process.stderr.write(`immune: ${file} exists; use --force to overwrite it\n`);
        process.exitCode = 1;
        return;
      }
      const insp = await inspectApp(appDir, { servers: o.servers, basePort: o.basePort, probe: o.probe, url: o.url });
      const text = starterPipeline(insp.facts);
      parsePipeline(text, file); // a pipeline init writes is always valid: a failure here is a bug, loudly
      await writeFile(file, text);

      const shown = relative(process.cwd(), file) || file;
      const inApp = relative(process.cwd(), appDir) === '';
      const cd = inApp ? '' : `cd ${relative(process.cwd(), appDir) || appDir} && `;
      const pipelineArg = inApp ? shown : relative(appDir, file);
      const next = [
        ...(insp.needsBareRepo
          ? [
              `git clone --bare ${insp.needsBareRepo.from} ${insp.needsBareRepo.to} && git -C ${insp.needsBareRepo.from} remote add origin ${insp.needsBareRepo.to}`,
            ]
          : []),
        `${cd}immune doctor --pipeline ${pipelineArg}`,
        `${cd}immune serve --pipeline ${pipelineArg} --port 7070`,
        ...(insp.needsBareRepo ? [] : [`git push origin ${insp.facts.repo.branch}    # then watch it at http://127.0.0.1:7070`]),
      ];
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ file, found: insp.found, warnings: insp.facts.warnings, next }, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${insp.found.map((l) => `  ${l}`).join('\n')}\n`);
      for (const w of insp.facts.warnings) process.stdout.write(`  note: ${w}\n`);
      process.stdout.write(`wrote ${shown}\n\nnext:\n${next.map((c) => `  ${c}`).join('\n')}\n`);
    });
}
