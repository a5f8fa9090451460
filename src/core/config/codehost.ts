// GitHub: commit statuses, comments on reverted commits, push webhooks.
import { z } from 'zod';

export const githubConfig = z
  .object({
    owner: z.string(),
    repo: z.string(),
    /** API base URL (GitHub Enterprise, or a local stand-in in tests). */
    api_url: z.string().url().default('https://api.github.com'),
    /** Name of the environment variable holding the token; the token itself never goes in a file. */
    token_env: z.string().default('GITHUB_TOKEN'),
    /** Name of the environment variable holding the webhook secret. */
    webhook_secret_env: z.string().default('GITHUB_WEBHOOK_SECRET'),
    /** Link put in statuses and comments. */
    dashboard_url: z.string().url().optional(),
  })
  .strict();
export type GithubConfig = z.infer<typeof githubConfig>;
