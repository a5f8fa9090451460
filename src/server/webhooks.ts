// POST /webhooks/github: GitHub push events start deploys. Every delivery is verified with the
// webhook secret (HMAC-SHA256 over the raw body, @octokit/webhooks) before anything is read from it;
// a bad or missing signature is 401 and changes nothing.
import { Webhooks } from '@octokit/webhooks';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ImmuneError, InputError } from '../core/errors.js';
import type { ServerContext } from './context.js';
import { validate } from './errors.js';

export interface WebhookOptions {
  // Each option falls back to ctx.webhooks, then to GITHUB_WEBHOOK_SECRET and main.
  /** The webhook secret; default: the environment variable `secretEnv`. */
  secret?: string;
  /** Name of the environment variable holding the secret (github.webhook_secret_env). */
  secretEnv?: string;
  /** The pipeline's branch: only pushes to refs/heads/<branch> deploy. Default main. */
  branch?: string;
  /** Largest body accepted (GitHub caps payloads at 25 MB). Default 25 MB. */
  bodyLimit?: number;
  /** The pipeline has a github section: a missing secret is then worth a warning. */
  expected?: boolean;
}

/** Options from a pipeline's config and the environment. */
export function webhookOptionsFrom(
  pipeline: { repo: { branch: string }; github?: { webhook_secret_env: string } },
  env: NodeJS.ProcessEnv = process.env,
): WebhookOptions {
  const secretEnv = pipeline.github?.webhook_secret_env ?? 'GITHUB_WEBHOOK_SECRET';
  return { secret: env[secretEnv] || undefined, secretEnv, branch: pipeline.repo.branch, expected: pipeline.github !== undefined };
}

const pushEvent = z.object({
  ref: z.string(),
  after: z.string().regex(/^[0-9a-f]{40}$/, 'expected a 40-hex commit sha'),
  deleted: z.boolean().optional(),
  pusher: z.object({ name: z.string().optional() }).optional(),
  sender: z.object({ login: z.string().optional() }).optional(),
});

const ZERO_SHA = /^0{40}$/;

function unauthorized(message: string): ImmuneError {
  return new ImmuneError('IMMUNE_UNAUTHORIZED', message);
}

export async function registerWebhooks(app: FastifyInstance, ctx: ServerContext, opts: WebhookOptions = {}): Promise<void> {
  const secretEnv = opts.secretEnv ?? ctx.webhooks?.secretEnv ?? 'GITHUB_WEBHOOK_SECRET';
  const secret = opts.secret ?? (process.env[secretEnv] || undefined);
  const branch = opts.branch ?? ctx.webhooks?.branch ?? 'main';
  const webhooks = secret ? new Webhooks({ secret }) : undefined;
  const log = ctx.log.child({ webhook: 'github' });
  // Only worth a warning when the pipeline says it is on GitHub; otherwise webhooks are simply off.
  if (!webhooks) log[opts.expected ? 'warn' : 'debug'](`no webhook secret in $${secretEnv}: POST /webhooks/github refuses every delivery`);

  await app.register(async (scope) => {
    // The signature covers the exact bytes GitHub sent, so this scope keeps bodies as text.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      ['application/json', 'application/x-www-form-urlencoded'],
      { parseAs: 'string', bodyLimit: opts.bodyLimit ?? 25 * 1024 * 1024 },
      (_req, body, done) => done(null, body),
    );

    scope.post('/webhooks/github', async (req: FastifyRequest, reply) => {
      const raw = typeof req.body === 'string' ? req.body : '';
      const signature = req.headers['x-hub-signature-256'];
      if (!webhooks) throw unauthorized(`webhooks are disabled: set the secret in $${secretEnv} (github.webhook_secret_env)`);
      if (typeof signature !== 'string' || !signature) throw unauthorized('missing X-Hub-Signature-256 header');
      const valid = raw ? await webhooks.verify(raw, signature).catch(() => false) : false;
      if (!valid) {
        log.warn({ delivery: req.headers['x-github-delivery'], ip: req.ip }, 'webhook signature does not match; ignored');
        throw unauthorized('X-Hub-Signature-256 does not match the body (check the webhook secret)');
      }

      const event = req.headers['x-github-event'];
      if (typeof event !== 'string' || !event)
        throw new InputError('headers.x-github-event', 'missing; is this a GitHub webhook delivery?');
      const payload = parseBody(raw, String(req.headers['content-type'] ?? ''));
      const delivery = req.headers['x-github-delivery'];

      if (event === 'ping') return reply.code(200).send({ ok: true, event });
      if (event !== 'push') return reply.code(202).send({ ignored: `event ${event}` });

      const push = validate(pushEvent, payload, 'body');
      if (push.ref !== `refs/heads/${branch}`)
        return reply.code(202).send({ ignored: `push to ${push.ref}, the pipeline deploys refs/heads/${branch}` });
      if (push.deleted || ZERO_SHA.test(push.after)) return reply.code(202).send({ ignored: `${push.ref} was deleted` });
      if (!ctx.line) throw new ImmuneError('IMMUNE_UNAVAILABLE', 'no pipeline is running on this server; nothing to deploy');

      const who = push.pusher?.name ?? push.sender?.login ?? 'unknown';
      log.info({ delivery, sha: push.after, pusher: who }, 'push received');
      // Replays are de-duplicated by delivery id; a push that is not ahead of what is live is refused (409).
      const result = await ctx.line.deploy(push.after, `github:${who}`, {
        delivery: typeof delivery === 'string' ? delivery : undefined,
      });
      if (result.duplicate) return reply.code(200).send({ duplicate: true, sha: push.after, ignored: result.ignored });
      return reply.code(202).send({ accepted: true, sha: push.after, deploy: result });
    });
  });
}

/** JSON, or GitHub's form encoding (payload=<json>); errors name what was wrong. */
function parseBody(raw: string, contentType: string): unknown {
  let json = raw;
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    const p = new URLSearchParams(raw).get('payload');
    if (p === null) throw new InputError('body.payload', 'missing (form-encoded deliveries carry the JSON in payload=)');
    json = p;
  }
  try {
    return JSON.parse(json) as unknown;
  } catch (err) {
    throw new InputError('body', `not valid JSON: ${(err as Error).message}`);
  }
}
