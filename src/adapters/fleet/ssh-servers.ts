// The SSH fleet's server list: from the pipeline, plus a servers_file that other tools regenerate
// (read again at every call, so a new inventory takes effect at the next deploy).
import { readFile } from 'node:fs/promises';
import { parse as parseYamlValue } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../../core/errors.js';
import { parseYaml } from '../../core/config/index.js';
import { sshServer, type SshFleetConfig } from '../../core/config/fleet.js';
import type { Server } from '../../ports.js';

/** A server with what is needed to reach it over SSH. */
export interface SshTarget extends Server {
  sshPort: number;
  user: string;
  /** Remote directory holding releases/ and current. */
  dir: string;
}

const serverList = z.array(sshServer);
const serversDoc = z.object({ servers: serverList }).strict();

function isList(text: string): boolean {
  try {
    return Array.isArray(parseYamlValue(text));
  } catch {
    return false; // parseYaml reports the syntax error with its position
  }
}

type SshServerConfig = z.infer<typeof sshServer>;

function toTarget(s: SshServerConfig, config: SshFleetConfig): SshTarget {
  return {
    id: s.id ?? (s.port === 22 ? s.host : `${s.host}:${s.port}`),
    host: s.host,
    port: s.app_port,
    labels: s.labels,
    sshPort: s.port,
    user: s.user ?? config.user,
    dir: s.dir ?? config.dir,
  };
}

/** Every server of the fleet; a bad servers_file or a duplicate id is a ConfigError naming file:line:col. */
export async function loadSshServers(config: SshFleetConfig, resolvePath: (p: string) => string): Promise<SshTarget[]> {
  const list: SshServerConfig[] = [...config.servers];
  if (config.servers_file) {
    const file = resolvePath(config.servers_file);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new ConfigError([
        {
          file,
          line: 1,
          col: 1,
          path: '',
          message: `cannot read servers_file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        },
      ]);
    }
    // JSON is YAML, so one parser serves both and keeps line numbers for errors.
    // A bare list or {servers: [...]}: pick the schema by shape so errors point into the list.
    if (isList(text)) list.push(...parseYaml(text, file, serverList).value);
    else list.push(...parseYaml(text, file, serversDoc).value.servers);
  }
  const targets = list.map((s) => toTarget(s, config));
  const seen = new Set<string>();
  for (const t of targets) {
    if (seen.has(t.id)) {
      throw new ConfigError([
        {
          file: config.servers_file ?? 'pipeline',
          line: 1,
          col: 1,
          path: 'fleet.servers',
          message: `duplicate server id "${t.id}" (give each server an id)`,
        },
      ]);
    }
    seen.add(t.id);
  }
  return targets;
}
