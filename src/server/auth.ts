// API tokens with roles (viewer < engineer < captain < admin) for the REST API and the dashboard.
// Tokens are compared in constant time, never logged, and never put in URLs.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseYaml } from '../core/config/load.js';
import { ImmuneError, InputError } from '../core/errors.js';
import { ROLES, type Auth, type FrontendToken, type Role } from './context.js';
import { httpStatus } from './errors.js';

export { ROLES };

export interface TokenEntry {
  name: string;
  token: string;
  role: Role;
}

export interface AuthOptions {
  tokens: TokenEntry[];
  /** Let requests without a token read (GET); mutations always need a token. */
  openRead: boolean;
}

/** Who a request comes from, once its token has been checked. */
export interface Identity {
  actor: string;
  role: Role | null;
}

/** Auth plus what the dashboard's "who am I" needs. */
export interface TokenAuth extends Auth {
  /** The caller's identity; throws ImmuneError 401 for a malformed header or an unknown token. */
  identify(req: FastifyRequest): Identity;
  readonly openRead: boolean;
}

/**
 * pino `redact` option for the server's logger: the Authorization header (and the Unleash client
 * token header) never reach a log line, whatever serializers are in use.
 */
export const logRedact = {
  paths: ['req.headers.authorization', 'headers.authorization', 'request.headers.authorization', 'req.headers["x-immune-token"]'],
  censor: '[redacted]',
};

export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/** Roles that satisfy `need`, for messages: "captain or admin". */
export function rolesFrom(need: Role): string {
  const ok = ROLES.slice(ROLES.indexOf(need));
  return ok.length === 1 ? ok[0]! : `${ok.slice(0, -1).join(', ')} or ${ok[ok.length - 1]}`;
}

/** Reads default to open when the server only listens on loopback. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export function createAuth(opts: AuthOptions): TokenAuth {
  // Compare digests of equal length; check every token so timing says nothing about which matched.
  const entries = opts.tokens.map((t) => ({ ...t, hash: digest(t.token) }));
  const cache = new WeakMap<FastifyRequest, Identity>();

  const find = (token: string): TokenEntry | undefined => {
    const h = digest(token);
    let found: TokenEntry | undefined;
    for (const e of entries) if (timingSafeEqual(h, e.hash) && !found) found = e;
    return found;
  };

  const identify = (req: FastifyRequest): Identity => {
    const hit = cache.get(req);
    if (hit) return hit;
    const header = req.headers.authorization;
    let id: Identity;
    if (header === undefined || header === '') {
      id = { actor: 'anonymous', role: null };
    } else {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!m) throw authError('IMMUNE_UNAUTHORIZED', 'Authorization header must be "Bearer <token>"', {});
      const e = find(m[1]!);
      if (!e) throw authError('IMMUNE_UNAUTHORIZED', 'unknown API token: check the token or ask an admin for one', {});
      id = { actor: `token:${e.name}`, role: e.role };
    }
    cache.set(req, id);
    return id;
  };

  return {
    openRead: opts.openRead,
    identify,
    actor(req) {
      try {
        return identify(req).actor;
      } catch {
        return 'anonymous';
      }
    },
    require(need) {
      return async (req: FastifyRequest, reply: FastifyReply) => {
        const what = `${req.method} ${req.routeOptions?.url ?? req.url.split('?')[0]}`;
        let id: Identity;
        try {
          id = identify(req);
        } catch (err) {
          return sendAuthError(reply, err as ImmuneError, need, what);
        }
        const reading = need === 'viewer' && (req.method === 'GET' || req.method === 'HEAD');
        if (id.role === null) {
          if (reading && opts.openRead) return;
          const why = opts.tokens.length === 0 ? ' (no API tokens are configured on this server: set IMMUNE_TOKENS or a tokens file)' : '';
          return sendAuthError(
            reply,
            authError(
              'IMMUNE_UNAUTHORIZED',
              `${what} needs a token with role ${rolesFrom(need)}: send "Authorization: Bearer <token>"${why}`,
              {},
            ),
            need,
            what,
          );
        }
        if (!roleAtLeast(id.role, need)) {
          return sendAuthError(
            reply,
            authError('IMMUNE_FORBIDDEN', `${what} needs role ${rolesFrom(need)}; ${id.actor} has role ${id.role}`, { role: id.role }),
            need,
            what,
          );
        }
      };
    },
  };
}

function authError(code: 'IMMUNE_UNAUTHORIZED' | 'IMMUNE_FORBIDDEN', message: string, details: Record<string, unknown>): ImmuneError {
  return new ImmuneError(code, message, { details });
}

function sendAuthError(reply: FastifyReply, err: ImmuneError, need: Role, what: string): FastifyReply {
  const details = { ...(err.details as Record<string, unknown> | undefined), required: need, endpoint: what };
  const unauthorized = err.code === 'IMMUNE_UNAUTHORIZED';
  const message = unauthorized && !err.message.includes(' needs ') ? `${err.message} (${what} needs role ${rolesFrom(need)})` : err.message;
  if (unauthorized) void reply.header('www-authenticate', 'Bearer realm="immune"');
  return reply.code(httpStatus(err)).send({ error: { code: err.code, message, details } });
}

// ---------------------------------------------------------------------------------------------
// Loading tokens: a YAML/JSON file and/or IMMUNE_TOKENS="name:role:token,..."

const role = z.enum(ROLES, { message: `role must be one of ${ROLES.join(', ')}` });
const tokenValue = z.string().min(8, 'token must be at least 8 characters').regex(/^\S+$/, 'token must not contain spaces');
const tokenName = z.string().regex(/^[A-Za-z0-9._@-]+$/, 'name may hold letters, digits, ".", "_", "@" and "-"');

/** A browser or mobile app's token for the Unleash frontend API and OFREP: one app, one environment, the origins it may be called from. */
const frontendToken = z
  .object({
    name: tokenName,
    token: tokenValue,
    /** The appName the SDK must use ("*": any). */
    app: z.string().min(1).max(200),
    environment: z.string().min(1).max(200).default('default'),
    /** Origins browsers may call from ("https://shop.example", or "*"); none: only callers that send no Origin (servers, mobile apps). */
    origins: z
      .array(z.string().regex(/^(\*|https?:\/\/[^/\s]+)$/, 'an origin such as https://shop.example (scheme, host, port; no path) or "*"'))
      .default([]),
  })
  .strict();

export const tokensFile = z
  .object({
    tokens: z.array(z.object({ name: tokenName, role, token: tokenValue }).strict()).default([]),
    frontend: z.array(frontendToken).default([]),
  })
  .strict();

/** Parse a tokens file's text (YAML or JSON): `tokens: [{ name, role, token }]`. ConfigError names file:line:col. */
export function parseTokensFile(text: string, file: string): TokenEntry[] {
  return parseYaml(text, file, tokensFile).value.tokens;
}

/** The frontend tokens of a tokens file (`frontend: [{ name, token, app, environment, origins }]`); none without a file. */
export function loadFrontendTokens(file?: string): FrontendToken[] {
  if (!file) return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError('tokens', `cannot read tokens file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const all = parseYaml(text, file, tokensFile).value;
  const values = new Set(all.tokens.map((t) => t.token));
  for (const t of all.frontend) {
    if (values.has(t.token)) throw new InputError('tokens', `frontend token "${t.name}" has the same value as another token`);
    values.add(t.token);
  }
  return all.frontend;
}

/** Parse IMMUNE_TOKENS: comma-separated "name:role:token" (the token may itself hold colons). */
export function parseTokensEnv(value: string, variable = 'IMMUNE_TOKENS'): TokenEntry[] {
  const out: TokenEntry[] = [];
  value
    .split(',')
    .map((s) => s.trim())
    .forEach((item, i) => {
      if (item === '') return;
      const [name = '', r = '', ...rest] = item.split(':');
      const field = `${variable}[${i}]`;
      if (rest.length === 0) throw new InputError(field, `expected "name:role:token", got ${JSON.stringify(redactToken(item))}`);
      const parsed = z.object({ name: tokenName, role, token: tokenValue }).safeParse({ name, role: r, token: rest.join(':') });
      if (!parsed.success) throw new InputError(field, parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; '));
      out.push(parsed.data);
    });
  return out;
}

function redactToken(item: string): string {
  const parts = item.split(':');
  return parts.length >= 3 ? `${parts[0]}:${parts[1]}:…` : item.length > 4 ? `${item.slice(0, 2)}…` : item;
}

/**
 * Tokens from `file` (YAML or JSON) and the IMMUNE_TOKENS environment variable, merged.
 * Duplicate names or token values are errors.
 */
export function loadTokens(file?: string, env: NodeJS.ProcessEnv = process.env): TokenEntry[] {
  const all: TokenEntry[] = [];
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new InputError('tokens', `cannot read tokens file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    all.push(...parseTokensFile(text, file));
  }
  if (env.IMMUNE_TOKENS) all.push(...parseTokensEnv(env.IMMUNE_TOKENS));
  const names = new Set<string>();
  const values = new Set<string>();
  for (const t of all) {
    if (names.has(t.name)) throw new InputError('tokens', `duplicate token name "${t.name}"`);
    if (values.has(t.token)) throw new InputError('tokens', `token "${t.name}" has the same value as another token`);
    names.add(t.name);
    values.add(t.token);
  }
  return all;
}
