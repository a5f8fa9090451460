// `immune doctor`: check a pipeline's repository and app against the app contract, one line per check.
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('doctor')
    .description(
      'check a pipeline and its app before the first deploy: repository reachable and accepting pushes (when reverts are on), test command, start command answering /healthz with its release, /metrics with every series the pipeline names',
    )
    .requiredOption('-p, --pipeline <file>', 'pipeline file')
    .option('--app <dir>', "the app's directory, where the start command is run", '.')
    .option('--json', 'print {ok, checks: [{check, ok, message, fix?, skipped?}]}')
    .addHelpText(
      'after',
      '\nEach problem is one line: what is wrong, then the fix. Exit codes: 0 every check passed, 1 a problem was found, 2 bad flags.\nThe contract is in docs/app-contract.md.',
    )
    .action(async (o: { pipeline: string; app: string; json?: boolean }) => {
      const { runDoctor } = await import('../app/doctor.js');
      const checks = await runDoctor(o.pipeline, { appDir: o.app });
      const allOk = checks.every((c) => c.ok);
      if (o.json) process.stdout.write(`${JSON.stringify({ ok: allOk, checks }, null, 2)}\n`);
      else {
        for (const c of checks) {
          const mark = c.skipped ? 'skip' : c.ok ? 'ok  ' : 'FAIL';
          process.stdout.write(`${mark} ${c.check.padEnd(10)} ${c.message}${c.fix ? ` -> fix: ${c.fix}` : ''}\n`);
        }
        const n = checks.filter((c) => !c.ok).length;
        process.stdout.write(n ? `${n} problem${n === 1 ? '' : 's'}\n` : 'ready to deploy\n');
      }
      process.exitCode = allOk ? 0 : 1;
    });
}
