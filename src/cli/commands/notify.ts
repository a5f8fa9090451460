// `immune notify`: send a test notification to a target, see each target's queue and dead
// letters, and put a dead letter back in its queue.
import type { Command } from 'commander';
import { ImmuneError } from '../../core/errors.js';
import { ago, clip, table } from '../output.js';
import type { Notification, NotificationStatus, OutboxItem } from '../../ports.js';
import {
  ApiClient,
  apiCommand,
  CLIENT_EXIT_CODES,
  clientAction,
  print,
  showAnswer,
  withClientOptions,
  type ClientOptions,
} from './client.js';

/** The API's answer, of which the table reads the counts and each dead letter's title. */
type Status = Pick<NotificationStatus, 'targets'> & {
  dead: (Pick<OutboxItem, 'id' | 'target' | 'attempts' | 'createdAt' | 'lastError'> & {
    notification: Pick<Notification, 'kind' | 'title'>;
  })[];
};

export function formatNotifications(s: Status, now: number): string {
  if (!s.targets.length) return 'no notification targets (define them under notify.targets in the pipeline)';
  const rows = s.targets.map((t) => [
    t.target,
    t.type,
    String(t.pending),
    String(t.delivered),
    String(t.dead),
    t.lastError ? `${clip(t.lastError, 60)}${t.lastErrorAt ? ` (${ago(t.lastErrorAt, now)})` : ''}` : '',
  ]);
  const out = [table(rows, ['target', 'type', 'pending', 'delivered', 'dead', 'last error'])];
  if (s.dead.length) {
    out.push('', 'dead letters (retry with: immune notify retry <id>):');
    out.push(
      table(
        s.dead.map((d) => [d.id, clip(d.notification.title, 50), String(d.attempts), clip(d.lastError ?? '', 60)]),
        ['id', 'event', 'attempts', 'last error'],
      ),
    );
  }
  return out.join('\n');
}

export function register(program: Command): void {
  const notify = program.command('notify').description('notification targets: send a test, see queues and dead letters, retry');

  notify
    .command('test')
    .description(
      "send one test notification to a target of the pipeline now (bypassing the queue) and print the receiver's answer; a pager test triggers and resolves its own incident",
    )
    .argument('<target>', 'a target name under notify.targets')
    .requiredOption('-p, --pipeline <file>', 'pipeline file')
    .option('--public-url <url>', 'link put in the test notification')
    .option('--json', 'print {ok, target, receipt | error, ms}')
    .addHelpText(
      'after',
      '\nSecrets come from the environment variables the target names (url_env, secret_env, routing_key_env, ...).\nExit codes: 0 delivered, 1 the receiver refused or could not be reached, 2 bad flags or configuration.',
    )
    .action(async (target: string, o: { pipeline: string; publicUrl?: string; json?: boolean }) => {
      const { sendTestNotification } = await import('../../runtime.js');
      try {
        const r = await sendTestNotification(o.pipeline, target, o.publicUrl);
        print(o.json ? JSON.stringify({ ok: true, target, receipt: r.receipt, ms: r.ms }) : `ok ${target}: ${r.receipt} (${r.ms} ms)`);
      } catch (err) {
        if (err instanceof ImmuneError) throw err;
        const msg = (err as Error).message;
        if (o.json) print(JSON.stringify({ ok: false, target, error: msg }));
        else process.stderr.write(`immune: ${target}: ${msg}\n`);
        process.exitCode = 1;
      }
    });

  apiCommand(
    notify
      .command('status')
      .description("each target's queue (pending, delivered, dead, last error) and the dead letters, from a running serve"),
  ).action(showAnswer<Status>('/api/notifications', (x) => formatNotifications(x, Date.now())));

  withClientOptions(
    notify
      .command('retry')
      .description('put a dead notification back in its queue (captain)')
      .argument('<id>', 'the dead letter id (immune notify status)'),
  )
    .addHelpText('after', `\n${CLIENT_EXIT_CODES}`)
    .action(
      clientAction(async (id: string, o: ClientOptions) => {
        await new ApiClient(o).post(`/api/notifications/${encodeURIComponent(id)}/retry`, {});
        print(`queued again: ${id}`);
      }),
    );
}
