// The HTTP status of every error code is the one the API documents: docs/api.md's table of codes,
// and the error responses the OpenAPI document (src/server/openapi.ts) lists per operation.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, ConflictError, DeployError, ERROR_CODES, ImmuneError, InputError, NotFoundError } from '../../../src/core/errors.js';
import { describeError, HTTP_STATUS, httpStatus } from '../../../src/server/errors.js';
import { openApiDocument } from '../../../src/server/openapi.js';
import { ROOT } from '../../helpers/immune-cli.js';

/** What the API has always answered, by status: the codes each status is for. */
const BY_STATUS: [number, string[]][] = [
  [400, ['IMMUNE_CONFIG_INVALID', 'IMMUNE_INPUT_INVALID']],
  [401, ['IMMUNE_UNAUTHORIZED']],
  [403, ['IMMUNE_FORBIDDEN']],
  [404, ['IMMUNE_NOT_FOUND']],
  [409, ['IMMUNE_CONFLICT']],
  [500, ['IMMUNE_DEPLOY_FAILED', 'IMMUNE_INTERNAL']],
  [502, ['IMMUNE_EXTERNAL']],
  [503, ['IMMUNE_UNAVAILABLE']],
  [504, ['IMMUNE_TIMEOUT']],
];
const EXPECTED: Record<string, number> = Object.fromEntries(BY_STATUS.flatMap(([status, codes]) => codes.map((c) => [c, status])));

describe('server/errors', () => {
  it('maps every error code to its status, and answers with it', () => {
    assert.deepEqual([...ERROR_CODES].sort(), Object.keys(EXPECTED).sort());
    assert.deepEqual(Object.keys(HTTP_STATUS).sort(), [...ERROR_CODES].sort());
    for (const code of ERROR_CODES) {
      const err = new ImmuneError(code, `a ${code}`, { details: { x: 1 } });
      assert.equal(httpStatus(err), EXPECTED[code], code);
      const d = describeError(err);
      assert.equal(d.status, EXPECTED[code], code);
      assert.deepEqual(d.body, { error: { code, message: `a ${code}`, details: { x: 1 } } });
      assert.equal(d.internal, code === 'IMMUNE_INTERNAL', code);
    }
  });

  it("the error classes answer with their code's status", () => {
    const cases: [ImmuneError, number][] = [
      [new ConfigError([{ file: 'p.yaml', line: 1, col: 2, path: 'x', message: 'bad' }]), 400],
      [new InputError('body.reason', 'required'), 400],
      [new NotFoundError('no deploy d-1'), 404],
      [new ConflictError('nothing in flight to abort'), 409],
      [new DeployError('rollback failed', { server: 's1', step: 2 }), 500],
    ];
    for (const [err, status] of cases) assert.equal(describeError(err).status, status, err.message);
    assert.deepEqual(describeError(new ConflictError('nothing in flight to abort')).body, {
      error: { code: 'IMMUNE_CONFLICT', message: 'nothing in flight to abort', details: {} },
    });
  });

  it("docs/api.md's table names every code with its status", () => {
    const page = readFileSync(join(ROOT, 'docs/api.md'), 'utf8');
    const rows = [...page.matchAll(/^\| (\d{3}) \| `(IMMUNE_[A-Z_]+)` \|/gm)].map((m) => [m[2]!, Number(m[1])] as const);
    assert.deepEqual(rows.map(([code]) => code).sort(), [...ERROR_CODES].sort(), 'one row per code');
    for (const [code, status] of rows) assert.equal(HTTP_STATUS[code as keyof typeof HTTP_STATUS], status, code);
  });

  it('every error status the OpenAPI document lists is the status of the codes it names', () => {
    const doc = openApiDocument() as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      components: { schemas: { Error: { properties: { error: { properties: { code: { description: string } } } } } } };
    };
    const documented = new Set<number>();
    for (const ops of Object.values(doc.paths))
      for (const op of Object.values(ops)) for (const s of Object.keys(op.responses)) if (s !== '200') documented.add(Number(s));
    const named = doc.components.schemas.Error.properties.error.properties.code.description.match(/IMMUNE_[A-Z_]+/g) ?? [];
    assert.ok(named.length > 0);
    for (const code of named) assert.ok(code in HTTP_STATUS, `${code} is an error code`);
    const statuses = named.map((c) => HTTP_STATUS[c as keyof typeof HTTP_STATUS]);
    assert.deepEqual([...new Set(statuses)].sort(), [...documented].sort(), 'the codes the document names answer the statuses it lists');
  });
});
