// The PostgreSQL line and audit stores against a real PostgreSQL started here: a fresh cluster in
// a temp dir, listening on loopback only, stopped in the after hook. Same cases as SQLite.
import assert from 'node:assert/strict';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import pg from 'pg';
import { openPostgresLineStores } from '../../src/adapters/store/postgres/index.js';
import { ImmuneError } from '../../src/core/errors.js';
import { auditStoreContract, lineStoreContract } from '../unit/adapters/store/contract.js';
import { deploy } from '../unit/adapters/store/sqlite/fixtures.js';

const BIN = '/usr/lib/postgresql/15/bin';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('PostgreSQL line and audit stores', function () {
  this.timeout(60_000);
  let dir: string;
  let server: ResultPromise | undefined;
  let url: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'immune-pg-'));
    // PostgreSQL refuses to run as root: run it as the postgres user then.
    const asRoot = process.getuid?.() === 0;
    if (asRoot)
      chownSync(dir, Number((await execa('id', ['-u', 'postgres'])).stdout), Number((await execa('id', ['-g', 'postgres'])).stdout));
    const run = (cmd: string, args: string[]) =>
      asRoot
        ? execa('runuser', ['-u', 'postgres', '--', join(BIN, cmd), ...args], { cwd: dir })
        : execa(join(BIN, cmd), args, { cwd: dir });
    await run('initdb', ['-D', join(dir, 'data'), '-U', 'immune', '-A', 'trust', '-E', 'UTF8', '--no-sync']);
    const port = await freePort();
    server = run('postgres', [
      '-D',
      join(dir, 'data'),
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
    ]);
    server.catch(() => undefined);
    url = `postgres://immune@127.0.0.1:${port}/postgres`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const c = new pg.Client({ connectionString: url });
      try {
        await c.connect();
        await c.end();
        break;
      } catch (err) {
        await c.end().catch(() => undefined);
        if (Date.now() > deadline) throw new Error(`PostgreSQL did not start in 30 s: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });
  after(async () => {
    if (server) {
      server.kill('SIGINT'); // fast shutdown
      await Promise.race([server.catch(() => undefined), new Promise((r) => setTimeout(r, 10_000))]);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const fresh = async () => {
    const s = await openPostgresLineStores(url);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('TRUNCATE line_pipelines, line_deploys, line_events, line_gate_looks, audit_log RESTART IDENTITY');
    await c.end();
    return s;
  };

  describe('line', () => {
    lineStoreContract(async () => {
      const s = await fresh();
      return { store: s.line, close: s.close };
    });
  });

  describe('audit', () => {
    auditStoreContract(async () => {
      const s = await fresh();
      return { store: s.audit, close: s.close };
    });
  });

  it('a second connection sees everything, and migrations run once even when two open together', async () => {
    const [a, b] = await Promise.all([openPostgresLineStores(url), openPostgresLineStores(url)]);
    await a.line.saveDeploy(deploy('p1', 100), { deployId: 'p1', time: 100, type: 'start', status: 'testing' });
    assert.deepEqual(await b.line.getDeploy('p1'), deploy('p1', 100));
    await Promise.all([a.close(), b.close()]);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const r = await c.query("SELECT namespace, version FROM schema_migrations WHERE namespace IN ('line', 'audit') ORDER BY namespace");
    await c.end();
    assert.deepEqual(r.rows, [
      { namespace: 'audit', version: 1 },
      { namespace: 'line', version: 1 },
    ]);
  });

  it('no server at the URL is an ImmuneError that names it without the password', async () => {
    const port = await freePort();
    await assert.rejects(openPostgresLineStores(`postgres://immune:secret@127.0.0.1:${port}/postgres`), (e: ImmuneError) => {
      assert.ok(e instanceof ImmuneError);
      assert.match(e.message, new RegExp(`^cannot open the state database postgres://127\\.0\\.0\\.1:${port}/postgres: `));
      assert.doesNotMatch(e.message, /secret/);
      return true;
    });
  });
});
