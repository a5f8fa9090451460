// Builds one sender per configured target; the only place that switches on the target's type.
import type { NotifyTargetConfig } from '../../core/config/notify.js';
import { ImmuneError } from '../../core/errors.js';
import { createChatSender } from './chat.js';
import { createEmailSender } from './email.js';
import { createPagerSender } from './pager.js';
import type { Sender } from './sender.js';
import { createSlackSender } from './slack.js';
import { createTeamsSender } from './teams.js';
import { createWebhookSender } from './webhook.js';

export interface SenderDeps {
  env: Record<string, string | undefined>;
  /** CloudEvents source: this immune's public URL (or immune/<pipeline>). */
  source: string;
}

export function createSender(name: string, cfg: NotifyTargetConfig, deps: SenderDeps): Sender | undefined {
  const secret = (envName: string): string => {
    const v = deps.env[envName];
    if (!v)
      throw new ImmuneError(
        'IMMUNE_CONFIG_INVALID',
        `notify.targets.${name}: set $${envName} (the ${cfg.type} target reads its secret from it)`,
      );
    return v;
  };
  switch (cfg.type) {
    case 'email':
      // Credentials are optional (a relay on the local network), but a named variable must be set.
      if (cfg.smtp.user_env) secret(cfg.smtp.user_env);
      if (cfg.smtp.password_env) secret(cfg.smtp.password_env);
      return createEmailSender(cfg, deps.env);
    case 'slack':
      return createSlackSender(secret(cfg.url_env));
    case 'teams':
      return createTeamsSender(secret(cfg.url_env));
    case 'chat':
      return createChatSender(secret(cfg.url_env));
    case 'webhook':
      return createWebhookSender({ url: cfg.url ?? secret(cfg.url_env!), secret: secret(cfg.secret_env), source: deps.source });
    case 'pager':
      return createPagerSender(cfg, secret(cfg.routing_key_env));
    case 'console':
      return undefined;
  }
}
