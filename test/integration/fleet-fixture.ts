// Shared by the fleet, shop and build integration tests: shop artifacts built from the real
// template, free loopback ports, and a silent logger.
import { createServer } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { createTarBuilder } from '../../src/adapters/build/tar-builder.js';
import { shopTemplateFiles } from '../../src/demo/shop-changes.js';
import type { Artifact } from '../../src/ports.js';

export const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
/** immune's install dir: the servers' NODE_PATH comes from it. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `immune-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

/** The first of `n` consecutive free loopback ports, probed from a random start. */
export async function freePorts(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    let ok = true;
    for (let i = 0; i < n && ok; i++) ok = await portFree(base + i);
    if (ok) return base;
  }
  throw new Error(`no ${n} consecutive free ports found`);
}

/** Builds shop artifacts: the template with some files changed, one checkout dir per build. */
export function shopArtifacts(dir: string) {
  const builder = createTarBuilder({ commands: [], output: '.', exclude: ['.git'], timeout: 30_000, dir: join(dir, 'artifacts'), log });
  let n = 0;
  return async (changes: Record<string, string> = {}, sha = `${++n}`.padStart(40, '0')): Promise<Artifact> => {
    const checkout = join(dir, `checkout-${n}-${Math.random().toString(16).slice(2)}`);
    await writeTree(checkout, { ...shopTemplateFiles(), ...changes });
    return builder.build({ sha, dir: checkout, dispose: async () => undefined }, AbortSignal.timeout(30_000));
  };
}

/** GET/POST against a server, answering status, headers and parsed body. */
export async function call(port: number, path: string, init: { method?: string; body?: unknown; user?: string } = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(init.user ? { 'x-user-id': init.user } : {}),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* html */
  }
  return { status: res.status, headers: res.headers, body };
}
