// known_hosts checking for the SSH fleet: a server's host key must be listed, and match, before
// anything is sent. Plain, comma-separated and hashed (|1|salt|hash) host patterns are understood;
// @revoked keys are refused; @cert-authority lines are ignored (no certificate support).
import { createHmac } from 'node:crypto';

export interface KnownHostKey {
  /** Key type as written (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ...). */
  type: string;
  /** The public key blob (base64-decoded). */
  blob: Buffer;
  revoked: boolean;
}

interface KnownHostLine extends KnownHostKey {
  patterns: string[];
}

/** Parse known_hosts text; malformed lines are skipped (OpenSSH does the same). */
export function parseKnownHosts(text: string): KnownHostLine[] {
  const out: KnownHostLine[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let revoked = false;
    if (fields[0]?.startsWith('@')) {
      const marker = fields.shift();
      if (marker === '@cert-authority') continue;
      revoked = marker === '@revoked';
      if (!revoked) continue;
    }
    const [hosts, type, b64] = fields;
    if (!hosts || !type || !b64 || !/^[A-Za-z0-9+/=]+$/.test(b64)) continue;
    out.push({ patterns: hosts.split(','), type, blob: Buffer.from(b64, 'base64'), revoked });
  }
  return out;
}

/** The name a host is written under in known_hosts: `host` on port 22, else `[host]:port`. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return re.test(name);
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  return globMatch(pattern, name);
}

/** Keys listed for `host:port` (negated patterns `!host` exclude a line). */
export function keysFor(lines: KnownHostLine[], host: string, port: number): KnownHostKey[] {
  const name = knownHostName(host, port);
  return lines
    .filter((l) => {
      let hit = false;
      for (const p of l.patterns) {
        if (p.startsWith('!')) {
          if (patternMatches(p.slice(1), name)) return false;
        } else if (patternMatches(p, name)) hit = true;
      }
      return hit;
    })
    .map(({ type, blob, revoked }) => ({ type, blob, revoked }));
}

export type HostKeyCheck = { ok: true } | { ok: false; reason: string };

/** Compare the key a server presented with known_hosts; the reason names the host and the file. */
export function checkHostKey(keys: KnownHostKey[], presented: Buffer, host: string, port: number, file: string): HostKeyCheck {
  const name = knownHostName(host, port);
  if (keys.some((k) => k.revoked && k.blob.equals(presented)))
    return { ok: false, reason: `host key of ${name} is marked @revoked in ${file}` };
  const valid = keys.filter((k) => !k.revoked);
  if (valid.length === 0)
    return {
      ok: false,
      reason: `${name} is not in ${file}; add its host key (ssh-keyscan -p ${port} ${host} >> ${file}, after checking the fingerprint)`,
    };
  if (valid.some((k) => k.blob.equals(presented))) return { ok: true };
  return {
    ok: false,
    reason: `host key of ${name} does not match ${file} (possible man-in-the-middle, or the server was reinstalled); refusing to connect`,
  };
}

/** Host key algorithms to offer so the server presents a key type known_hosts has for it. */
export function hostKeyAlgorithms(keys: KnownHostKey[]): string[] | undefined {
  const algs = new Set<string>();
  for (const k of keys) {
    if (k.revoked) continue;
    if (k.type === 'ssh-rsa') for (const a of ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']) algs.add(a);
    else algs.add(k.type);
  }
  return algs.size ? [...algs] : undefined;
}
