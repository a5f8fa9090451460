// Notifications as log lines (and, in a terminal, a short highlighted line for people).
import type { Logger } from 'pino';
import type { Notification, Notifier } from '../../ports.js';

export function createConsoleNotifier(log: Logger, print?: (line: string) => void): Notifier {
  return {
    async notify(n: Notification) {
      log.info({ notification: n.kind, deploy: n.deploy, sha: n.sha, to: n.to }, n.title);
      print?.(
        `${n.kind === 'deploy_live' ? '✔' : n.kind === 'info' || n.kind === 'unblocked' ? '•' : '✖'} ${n.title}${n.to?.length ? ` → ${n.to.join(', ')}` : ''}`,
      );
    },
  };
}
