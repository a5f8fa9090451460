// CodeHost on GitHub (octokit): a commit status per stage (immune/tests, immune/canary,
// immune/deploy) and a comment on a reverted commit telling its author why, with a dashboard link.
import { Octokit } from 'octokit';
import type { Logger } from 'pino';
import type { GithubConfig } from '../../core/config/codehost.js';
import { ImmuneError, InputError } from '../../core/errors.js';
import type { CodeHost, CommitStatus } from '../../ports.js';

export interface GithubCodeHostOptions {
  /** The API token (from the environment variable named by github.token_env); never logged. */
  token: string;
  log: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  fetch?: typeof fetch;
  /** Retries of a failed call (5xx, network) and the base wait between them. Default 2 and 1000ms. */
  retries?: number;
  retryBaseMs?: number;
  /** Space writes a second apart as GitHub asks (octokit's throttling); default true. Tests turn it off. */
  throttle?: boolean;
}

/** GitHub limits a status description to 140 characters. */
const MAX_DESCRIPTION = 140;

/** The token from the environment variable the config names; a clear error when it is not set. */
export function githubToken(config: GithubConfig, env: NodeJS.ProcessEnv = process.env): string {
  const token = env[config.token_env];
  if (!token)
    throw new InputError(
      'github.token_env',
      `environment variable ${config.token_env} is not set; it must hold a GitHub token with repo:status and contents scope`,
    );
  return token;
}

function shortText(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

export function createGithubCodeHost(config: GithubConfig, opts: GithubCodeHostOptions): CodeHost {
  const log = opts.log;
  const octokit = new Octokit({
    auth: opts.token,
    baseUrl: config.api_url.replace(/\/+$/, ''),
    userAgent: 'immune',
    request: opts.fetch ? { fetch: opts.fetch } : {},
    retry: { retries: opts.retries ?? 2, retryAfterBaseValue: opts.retryBaseMs ?? 1000 },
    throttle: {
      enabled: opts.throttle ?? true,
      onRateLimit: (after: number, o: { request: { retryCount: number } }) => o.request.retryCount < 1 && after <= 60,
      onSecondaryRateLimit: (after: number, o: { request: { retryCount: number } }) => o.request.retryCount < 1 && after <= 60,
    },
    log: { debug: () => undefined, info: () => undefined, warn: (m: string) => log.warn(m), error: (m: string) => log.error(m) },
  });
  const { owner, repo } = config;

  const checkSha = (sha: string): void => {
    if (!/^[0-9a-f]{40}$/i.test(sha)) throw new InputError('sha', `"${sha}" is not a full commit sha`);
  };

  /** Turn octokit's RequestError into an error saying what immune was doing; the token never appears. */
  const fail = (what: string, err: unknown): never => {
    const e = err as { status?: number; message?: string; response?: { data?: { message?: string } } };
    const why = e.status ? `HTTP ${e.status} ${e.response?.data?.message ?? e.message ?? ''}`.trim() : (e.message ?? String(err));
    throw new ImmuneError('IMMUNE_EXTERNAL', `github ${owner}/${repo}: ${what} failed: ${why}`, {
      details: { status: e.status },
    });
  };

  return {
    async setStatus(sha: string, status: CommitStatus, signal?: AbortSignal): Promise<void> {
      checkSha(sha);
      const target = status.url ?? config.dashboard_url;
      // The port says "tests"; callers that already wrote "immune/tests" get no second prefix.
      const context = status.context.startsWith('immune/') ? status.context : `immune/${status.context}`;
      try {
        await octokit.rest.repos.createCommitStatus({
          owner,
          repo,
          sha,
          state: status.state,
          context,
          description: shortText(status.description, MAX_DESCRIPTION),
          ...(target ? { target_url: target } : {}),
          request: { signal },
        });
      } catch (err) {
        fail(`setting status ${context}=${status.state} on ${sha.slice(0, 8)}`, err);
      }
      log.debug({ sha, context: status.context, state: status.state }, 'github status set');
    },

    async comment(sha: string, body: string, signal?: AbortSignal): Promise<void> {
      checkSha(sha);
      const link =
        config.dashboard_url && !body.includes(config.dashboard_url) ? `\n\n[Open the immune dashboard](${config.dashboard_url})` : '';
      try {
        await octokit.rest.repos.createCommitComment({ owner, repo, commit_sha: sha, body: body + link, request: { signal } });
      } catch (err) {
        fail(`commenting on ${sha.slice(0, 8)}`, err);
      }
      log.info({ sha }, 'github comment posted');
    },
  };
}
