// `immune demo`: the scripted scenario on a local fleet — good commit live, bad commit caught and reverted, line blocked and unblocked.
import type { Command } from 'commander';
import { parsePort } from './serve.js';

export function register(program: Command): void {
  program
    .command('demo')
    .description('run the demo: the shop on 8 local servers, traffic, and a good, a bad and a fixed commit')
    .option('--exit', 'exit when the scenario ends (0 only if every expectation held)')
    .option('--json', 'print a JSON summary (with --exit: only the summary on stdout)')
    .option('--port <n>', 'dashboard and API port', parsePort, 7070)
    .option(
      '--base-port <n>',
      "first port of the local fleet's servers (default: the pipeline's fleet.base_port, 7101); give two demos different ones to run them side by side",
      parsePort,
    )
    .option('--pipeline <file>', 'pipeline file (a local fleet)')
    .option(
      '--data <dir>',
      "state directory; the demo's repository and servers go under it too, so two demos side by side need their own",
      '.immune',
    )
    .option('--rps <n>', 'simulated requests per second per server', (v) => Number(v), 50)
    .addHelpText(
      'after',
      '\nExit codes (with --exit): 0 every expectation held, 1 one did not, 2 bad flags, 130/143 stopped by SIGINT/SIGTERM before the end.\nWithout --exit the servers, dashboard and API keep running until Ctrl-C.',
    )
    .action(
      async (o: { exit?: boolean; json?: boolean; port: number; basePort?: number; pipeline?: string; data: string; rps: number }) => {
        const quiet = o.json;
        const print = quiet ? () => undefined : (l: string) => process.stdout.write(`${l}\n`);
        const { startDemo } = await import('../../demo/scenario.js');
        const { defaultLogger } = await import('../../runtime.js');
        const { printProgress } = await import('../progress.js');
        const { pino } = await import('pino');
        const log = process.env.IMMUNE_LOG_LEVEL ? defaultLogger() : pino({ level: 'warn' }, pino.destination(2));
        const demo = await startDemo({
          pipelineFile: o.pipeline,
          dataDir: o.data,
          port: o.port,
          basePort: o.basePort,
          log,
          print,
          progress: printProgress,
          rps: o.rps,
        });
        let signal: NodeJS.Signals | undefined;
        const stopOnSignal = new Promise<'signal'>((resolve) => {
          for (const s of ['SIGINT', 'SIGTERM'] as const)
            process.once(s, () => {
              signal = s;
              resolve('signal');
            });
        });
        const result = await Promise.race([demo.summary, stopOnSignal]);
        if (result === 'signal' && o.exit) {
          // Stopped before the scenario ended: not a pass (128 + the signal's number, as a shell reports it).
          print(`demo stopped by ${signal} before the scenario ended`);
          process.exitCode = signal === 'SIGINT' ? 130 : 143;
        }
        if (result !== 'signal') {
          if (o.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
          else {
            print(
              `\n${result.ok ? 'demo passed' : 'demo FAILED'}: ${result.expectations.filter((e) => e.ok).length}/${result.expectations.length} expectations held`,
            );
            if (result.badCommitToRevertMs) print(`bad commit pushed -> reverted in ${(result.badCommitToRevertMs / 1000).toFixed(1)} s`);
          }
          process.exitCode = result.ok ? 0 : 1;
          if (!o.exit) {
            print(`\nThe shop keeps running: dashboard at ${result.dashboard} (captain token ${result.captainToken}). Ctrl-C to stop.`);
            await stopOnSignal;
          }
        }
        await demo.stop();
      },
    );
}
