// The `immune` command line: one file per command group under commands/, each adding itself here.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ImmuneError } from '../core/errors.js';

// package.json is two levels up from src/cli/ and from dist/cli/ alike.
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command();
program
  .name('immune')
  .description('Continuous deployment with a cluster immune system.')
  .version(version)
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

// Command groups (each exports register(program)). Keep this list sorted.
const groups: Array<() => Promise<{ register(p: Command): void }>> = [
  () => import('./commands/demo.js'),
  () => import('./commands/doctor.js'),
  () => import('./commands/experiments.js'),
  () => import('./commands/init.js'),
  () => import('./commands/flags.js'),
  () => import('./commands/judge.js'),
  () => import('./commands/line.js'),
  () => import('./commands/notify.js'),
  () => import('./commands/serve.js'),
  () => import('./commands/tests.js'),
  () => import('./commands/validate.js'),
];

for (const load of groups) (await load()).register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (err instanceof ImmuneError) {
    process.stderr.write(`immune: ${err.message}\n`);
    process.exitCode = process.exitCode && process.exitCode !== 0 ? process.exitCode : 2;
  } else {
    process.stderr.write(`immune: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}
