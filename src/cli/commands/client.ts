// A small fetch client for the CLI commands that talk to a running `immune serve`: --url and
// --token (or IMMUNE_URL, IMMUNE_TOKEN), a bearer header, and errors a person can act on.
import type { Command } from 'commander';
import { InputError } from '../../core/errors.js';

export const DEFAULT_URL = 'http://127.0.0.1:7070';
const TIMEOUT_MS = 15_000;

export interface ClientOptions {
  url?: string;
  token?: string;
}

/** The API answered with an error, or there is no server: the CLI prints the message and exits 1. */
export class ClientError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ClientError';
  }
}

/** Adds --url and --token to a command. */
export function withClientOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', `immune server (default $IMMUNE_URL or ${DEFAULT_URL})`)
    .option('--token <token>', 'API token (default $IMMUNE_TOKEN); sent as Authorization: Bearer');
}

/** A command that talks to a running serve: --json (what `json` says it prints), --url and --token, then `help` after the options. */
export function apiCommand(cmd: Command, help = CLIENT_EXIT_CODES, json = 'print the API answer as JSON'): Command {
  return withClientOptions(cmd.option('--json', json)).addHelpText('after', `\n${help}`);
}

export class ApiClient {
  readonly base: URL;
  private readonly token: string | undefined;

  constructor(opts: ClientOptions = {}, env: NodeJS.ProcessEnv = process.env) {
    const raw = opts.url ?? env.IMMUNE_URL ?? DEFAULT_URL;
    let base: URL;
    try {
      base = new URL(raw);
    } catch {
      throw new InputError('--url', `"${raw}" is not a URL (e.g. ${DEFAULT_URL})`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:')
      throw new InputError('--url', `"${raw}" must be an http:// or https:// URL`);
    this.base = base;
    const token = opts.token ?? env.IMMUNE_TOKEN;
    this.token = token === '' ? undefined : token;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(path, this.base);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const where = this.base.origin;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      if (e.name === 'TimeoutError') throw new ClientError(`the immune server at ${where} did not answer within ${TIMEOUT_MS / 1000}s`);
      const code = e.cause?.code;
      if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ECONNRESET' || code === 'EAI_AGAIN') {
        throw new ClientError(`no immune server at ${where} (start it with immune serve)`);
      }
      throw new ClientError(`cannot reach the immune server at ${where}: ${code ?? e.message}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      const message = err?.message ?? `${res.status} ${res.statusText}`;
      // Auth errors already name the endpoint; others get it in front.
      throw new ClientError(message.includes(url.pathname) ? message : `${method} ${url.pathname}: ${message}`, res.status, err?.code);
    }
    if (json === undefined)
      throw new ClientError(`${method} ${url.pathname}: the server at ${where} did not answer JSON; is it an immune server?`, res.status);
    return json as T;
  }
}

/**
 * Wraps a command action: a ClientError prints "immune: <message>" and exits 1; other errors go
 * to the CLI's own handler (bad input exits 2).
 */
export function clientAction<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (!(err instanceof ClientError)) throw err;
      process.stderr.write(`immune: ${err.message}\n`);
      process.exitCode = 1;
    }
  };
}

/** One line on stdout. */
export function print(s: string): void {
  process.stdout.write(`${s}\n`);
}

/** The API's answer: as JSON with --json, else as `text` says. */
export function printAnswer<T>(o: { json?: boolean }, r: T, text: (r: T) => string): void {
  print(o.json ? JSON.stringify(r, null, 2) : text(r));
}

/** The action of a command that shows one API answer: GET `path`, print it (as JSON with --json). */
export function showAnswer<T>(path: string, text: (r: T) => string): (o: ClientOptions & { json?: boolean }) => Promise<void> {
  return clientAction(async (o: ClientOptions & { json?: boolean }) => printAnswer(o, await new ApiClient(o).get<T>(path), text));
}

/** --reason: what goes in the audit log, trimmed; empty is bad input. */
export function parseReason(v: string): string {
  if (v.trim() === '') throw new InputError('--reason', 'must not be empty: say why (it goes in the audit log)');
  return v.trim();
}

export const CLIENT_EXIT_CODES = 'Exit codes: 0 done, 1 the server refused (the message says why) or no server is running, 2 bad flags.';
