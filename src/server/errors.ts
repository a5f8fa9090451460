// Every error the server answers is JSON `{ error: { code, message, details } }` with the right
// status: ImmuneErrors by their code (HTTP_STATUS, the one table of them), bad bodies and query
// strings as 400 naming the field, unknown routes as 404, and anything else as a 500 whose stack
// goes to the log, never to the client.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { ImmuneError, zodToInputError, type ErrorCode } from '../core/errors.js';

export interface ErrorBody {
  error: { code: string; message: string; details: unknown };
}

export function errorBody(code: string, message: string, details: unknown = {}): ErrorBody {
  return { error: { code, message, details: details ?? {} } };
}

/** The HTTP status the API answers each error code with (docs/api.md lists them for clients). */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  IMMUNE_CONFIG_INVALID: 400,
  IMMUNE_INPUT_INVALID: 400,
  IMMUNE_NOT_FOUND: 404,
  IMMUNE_CONFLICT: 409,
  IMMUNE_UNAUTHORIZED: 401,
  IMMUNE_FORBIDDEN: 403,
  IMMUNE_TIMEOUT: 504,
  IMMUNE_EXTERNAL: 502,
  IMMUNE_UNAVAILABLE: 503,
  IMMUNE_DEPLOY_FAILED: 500,
  IMMUNE_INTERNAL: 500,
};

/** The HTTP status for an ImmuneError: its code's, from HTTP_STATUS. */
export function httpStatus(err: ImmuneError): number {
  return HTTP_STATUS[err.code] ?? 500;
}

/** Parse `value` with `schema` or throw an InputError naming each bad field under `prefix` ("body", "query"). */
export function validate<S extends z.ZodType>(schema: S, value: unknown, prefix: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw zodToInputError(prefix, r.error.issues);
  return r.data;
}

/** fastify's own 4xx errors, said the way ours are: what is wrong and where. */
const FASTIFY_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'body: not valid JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'body: empty, but content-type is application/json; send a JSON object',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'body: unsupported content-type; send application/json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body: too large',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'body: content-length does not match the body',
};

/** The body, status and code for any error thrown while handling a request. */
export function describeError(err: unknown): { status: number; body: ErrorBody; internal: boolean } {
  if (err instanceof ImmuneError) {
    return { status: httpStatus(err), body: errorBody(err.code, err.message, err.details), internal: err.code === 'IMMUNE_INTERNAL' };
  }
  const fe = err as Partial<FastifyError> & {
    validation?: { instancePath?: string; message?: string; params?: Record<string, unknown> }[];
  };
  if (fe && Array.isArray(fe.validation)) {
    // Route JSON schemas (if a plugin uses them): name the field like zod errors do.
    const where = fe.validationContext ?? 'body';
    const issues = fe.validation.map((v) => {
      const missing = typeof v.params?.missingProperty === 'string' ? `.${v.params.missingProperty}` : '';
      const path = `${where}${(v.instancePath ?? '').replace(/\//g, '.')}${missing}`;
      return `${path}: ${v.message ?? 'invalid'}`;
    });
    return { status: 400, body: errorBody('IMMUNE_INPUT_INVALID', issues.join('; '), { issues }), internal: false };
  }
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    const message =
      FASTIFY_MESSAGES[fe.code ?? ''] ??
      (err instanceof SyntaxError ? FASTIFY_MESSAGES.FST_ERR_CTP_INVALID_JSON_BODY : (fe.message ?? 'bad request'));
    return { status, body: errorBody('IMMUNE_INPUT_INVALID', message, { fastifyCode: fe.code }), internal: false };
  }
  return { status: 500, body: errorBody('IMMUNE_INTERNAL', 'internal error: the server log has the details'), internal: true };
}

export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const { status, body, internal } = describeError(err);
    if (internal || status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ code: body.error.code, status }, body.error.message);
    return reply.code(status).type('application/json; charset=utf-8').send(body);
  });
  app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?')[0];
    return reply.code(404).send(errorBody('IMMUNE_NOT_FOUND', `no route ${req.method} ${path}`, { method: req.method, path }));
  });
}
