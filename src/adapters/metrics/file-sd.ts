// Prometheus file-based service discovery: the orchestrator writes its fleet as a file_sd target
// file, so a `file_sd_configs` job scrapes exactly the servers immune deploys to.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Server } from '../../ports.js';

export interface FileSdGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** A Prometheus label name from a fleet label key ("app.zone" -> "app_zone"); reserved __ names are prefixed. */
function labelName(key: string): string {
  const name = key.replace(/[^a-zA-Z0-9_]/g, '_').replace(/^([0-9])/, '_$1');
  return name.startsWith('__') ? `label${name}` : name;
}

/** One target group per server: its scrape address, the server id as `server`, and its labels. */
export function fileSdGroups(servers: Server[]): FileSdGroup[] {
  return servers.map((s) => {
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.labels)) labels[labelName(k)] = v;
    labels.server = s.id;
    return { targets: [`${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`], labels };
  });
}

/** Write the target file atomically (temporary file, then rename), so Prometheus never reads half of it. */
export async function writeFileSd(path: string, servers: Server[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(fileSdGroups(servers), null, 2) + '\n');
  await rename(tmp, path);
}
