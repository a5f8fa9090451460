// Real OpenSSH servers for tests: one `sshd -D` per loopback address, each with its own generated
// host key and authorized_keys, run as a normal child process and stopped by the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

export const SSHD = ['/usr/sbin/sshd', '/usr/bin/sshd'].find((p) => existsSync(p));

export interface KeyPair {
  privateKey: string;
  publicKey: string;
  /** "type base64" of the public key, as known_hosts and authorized_keys write it. */
  publicLine: string;
}

/** ssh-keygen an unencrypted ed25519 key pair at `path` (and `path`.pub). */
export async function generateKey(path: string): Promise<KeyPair> {
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'immune-test', '-f', path]);
  const line = readFileSync(`${path}.pub`, 'utf8').trim();
  return { privateKey: path, publicKey: `${path}.pub`, publicLine: line.split(/\s+/).slice(0, 2).join(' ') };
}

/** A free TCP port on `host`, found by binding port 0. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface Sshd {
  host: string;
  port: number;
  hostKey: KeyPair;
  user: string;
  stop(): Promise<void>;
}

/** Start sshd on host:port (a free port when not given), waiting until it listens (bounded to 10s). */
export async function startSshd(opts: { dir: string; host: string; port?: number; authorizedKeys: string[] }): Promise<Sshd> {
  if (!SSHD) throw new Error('sshd not found (install openssh-server)');
  mkdirSync(opts.dir, { recursive: true });
  // OpenSSH insists on its privilege separation directory even for a foreground test daemon.
  if (!existsSync('/run/sshd') && process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = await generateKey(join(opts.dir, 'host_ed25519'));
  const auth = join(opts.dir, 'authorized_keys');
  writeFileSync(auth, opts.authorizedKeys.join('\n') + '\n', { mode: 0o600 });
  const port = opts.port ?? (await freePort(opts.host));
  const args = [
    '-D',
    '-e',
    '-f',
    '/dev/null',
    '-o',
    `ListenAddress=${opts.host}:${port}`,
    '-o',
    `HostKey=${hostKey.privateKey}`,
    '-o',
    `AuthorizedKeysFile=${auth}`,
    '-o',
    'StrictModes=no',
    '-o',
    'UsePAM=no',
    '-o',
    'PidFile=none',
    '-o',
    'PasswordAuthentication=no',
    '-o',
    'KbdInteractiveAuthentication=no',
    '-o',
    'PermitRootLogin=prohibit-password',
    '-o',
    'MaxStartups=100',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'Subsystem=sftp internal-sftp',
  ];
  const child: ChildProcess = spawn(SSHD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd on ${opts.host}:${port} exited: ${stderr.trim()}`);
    if (await canConnect(opts.host, port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`sshd on ${opts.host}:${port} did not listen within 10s: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: opts.host,
    port,
    hostKey,
    user: userInfo().username,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** A known_hosts line for a server, `[host]:port type key`. */
export function knownHostsLine(host: string, port: number, publicLine: string): string {
  return `${port === 22 ? host : `[${host}]:${port}`} ${publicLine}`;
}

/**
 * The `restart` command for a "server" that is a directory on this machine running the demo shop:
 * stop the shop started from $IMMUNE_DIR (waiting until it is gone), start the current release.
 */
export function shopRestartScript(nodeModules: string): string {
  return `#!/bin/sh
set -e
pidfile="$IMMUNE_DIR/app.pid"
if [ -f "$pidfile" ]; then
  old=$(cat "$pidfile")
  kill "$old" 2>/dev/null || true
  i=0
  while kill -0 "$old" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
  kill -9 "$old" 2>/dev/null || true
fi
RELEASE_ID="$IMMUNE_RELEASE" SERVER_ID="$IMMUNE_SERVER" NODE_PATH="${nodeModules}" \\
  setsid "${process.execPath}" server.js </dev/null >>"$IMMUNE_DIR/app.log" 2>&1 &
echo $! > "$pidfile"
`;
}

/** Kill the shops started by shopRestartScript in these server directories. */
export function killShops(dirs: string[]): void {
  for (const dir of dirs) {
    try {
      process.kill(Number(readFileSync(join(dir, 'app.pid'), 'utf8').trim()), 'SIGKILL');
    } catch {
      /* not started or already gone */
    }
  }
}
