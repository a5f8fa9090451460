// Errors that say what went wrong and where, with a stable code for scripts and the API.

/** Every code an ImmuneError carries; server/errors.ts maps each to its HTTP status. */
export const ERROR_CODES = [
  'IMMUNE_CONFIG_INVALID',
  'IMMUNE_INPUT_INVALID',
  'IMMUNE_DEPLOY_FAILED',
  'IMMUNE_NOT_FOUND',
  'IMMUNE_CONFLICT',
  'IMMUNE_UNAUTHORIZED',
  'IMMUNE_FORBIDDEN',
  'IMMUNE_TIMEOUT',
  'IMMUNE_EXTERNAL',
  /** The server runs without what the request needs (e.g. no pipeline). */
  'IMMUNE_UNAVAILABLE',
  /** A bug: the API answers with this code and logs the stack, never sends it. */
  'IMMUNE_INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class ImmuneError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  constructor(code: ErrorCode, message: string, opts: { details?: unknown; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = opts.details;
  }
}

export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  path: string;
  message: string;
}

/** A configuration file failed to parse or validate; one issue per problem, each with file:line:col. */
export class ConfigError extends ImmuneError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super('IMMUNE_CONFIG_INVALID', issues.map(formatConfigIssue).join('\n'), { details: issues });
    this.issues = issues;
  }
}

export function formatConfigIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col} ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

/** Bad input from a user or a client: a flag, an API body, a webhook, an input file. */
export class InputError extends ImmuneError {
  readonly field: string;
  constructor(field: string, message: string, details?: unknown) {
    super('IMMUNE_INPUT_INVALID', field ? `${field}: ${message}` : message, { details });
    this.field = field;
  }
}

/** A deploy step failed on a server. */
export class DeployError extends ImmuneError {
  readonly server: string | undefined;
  readonly step: number | undefined;
  constructor(message: string, opts: { server?: string; step?: number; cause?: unknown } = {}) {
    super('IMMUNE_DEPLOY_FAILED', message, { details: { server: opts.server, step: opts.step }, cause: opts.cause });
    this.server = opts.server;
    this.step = opts.step;
  }
}

export class NotFoundError extends ImmuneError {
  constructor(message: string) {
    super('IMMUNE_NOT_FOUND', message);
  }
}

export class ConflictError extends ImmuneError {
  constructor(message: string) {
    super('IMMUNE_CONFLICT', message);
  }
}

/** Turns zod issues into InputError details naming each field path. */
export function zodToInputError(prefix: string, issues: { path: PropertyKey[]; message: string }[]): InputError {
  const lines = issues.map((i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(root)'}: ${i.message}`);
  const first = issues[0];
  const field = [prefix, ...(first?.path ?? []).map(String)].filter(Boolean).join('.');
  return new InputError('', lines.join('; '), { field, issues: lines });
}
