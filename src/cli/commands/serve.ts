// `immune serve`: the daemon — the line for one pipeline, the API, the dashboard, the Unleash client API and /metrics.
import type { Command } from 'commander';
import { InputError } from '../../core/errors.js';

export function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InputError('--port', `"${v}" is not a port (0-65535)`);
  return n;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the line for a pipeline, with the API, dashboard, Unleash client API and /metrics')
    .requiredOption('-p, --pipeline <file>', 'pipeline file (e.g. pipelines/local.yaml)')
    .option('--port <n>', 'HTTP port', parsePort, 7070)
    .option('--host <addr>', 'address to listen on (loopback unless told otherwise)', '127.0.0.1')
    .option('--data <dir>', 'state directory (SQLite database, artifacts)', '.immune')
    .option(
      '--tokens <file>',
      'tokens file (YAML: tokens: [{name, role, token}], frontend: [{name, token, app, environment, origins}] for browser and mobile SDKs, see docs/flags.md); also $IMMUNE_TOKENS',
    )
    .option('--experiments <dir>', 'experiment and flag definitions', 'experiments')
    .option('--client-tokens <list>', 'comma-separated tokens Unleash SDKs must send (default $IMMUNE_CLIENT_TOKENS)')
    .option('--public-url <url>', 'URL of this server for links in statuses and revert messages')
    .addHelpText(
      'after',
      '\nExit codes: 0 stopped by a signal, 2 bad configuration or flags.\nReads are open on loopback; every change needs a token with the right role.',
    )
    .action(
      async (o: {
        pipeline: string;
        port: number;
        host: string;
        data: string;
        tokens?: string;
        experiments: string;
        clientTokens?: string;
        publicUrl?: string;
      }) => {
        // Loaded here, not at the top: every other command starts faster without the adapters.
        const { createRuntime, defaultLogger } = await import('../../runtime.js');
        const { printProgress } = await import('../progress.js');
        const log = defaultLogger();
        const rt = await createRuntime({
          pipelineFile: o.pipeline,
          dataDir: o.data,
          log,
          print: (l) => process.stdout.write(`${l}\n`),
          http: {
            port: o.port,
            host: o.host,
            tokensFile: o.tokens,
            experimentsDir: o.experiments,
            clientTokens: o.clientTokens?.split(',').filter(Boolean),
            publicUrl: o.publicUrl,
          },
        });
        printProgress(rt.events, (l) => process.stdout.write(`${l}\n`));
        try {
          await rt.start();
        } catch (err) {
          // Never a line without its API (a bad tokens file, a port in use): stop what started, then fail.
          await rt.close().catch(() => undefined);
          throw err;
        }
        process.stdout.write(`immune: line "${rt.config.name}" running; dashboard and API at ${rt.url}\n`);
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        process.stdout.write('immune: stopping (servers keep running; the next start adopts them)\n');
        await rt.close();
      },
    );
}
