// Short human progress lines from the engine's events: which commit, which step, how many
// servers, the gate's current evidence. Not a wall of logs.
import type { EventBus, LineEvent } from '../engine/events.js';

export function printProgress(events: EventBus, print: (line: string) => void): () => void {
  let lastGate = '';
  let lastTests = '';
  let lastDeploy = '';
  let blocked = false;
  const time = () => new Date().toISOString().slice(11, 19);
  return events.on((e: LineEvent & { time: number }) => {
    switch (e.type) {
      case 'queued':
        print(`${time()}  queued     ${e.shas.map((s) => s.slice(0, 8)).join(' ')}`);
        break;
      case 'deploy': {
        const step = e.step !== undefined ? ` step ${e.step + 1}` : '';
        const servers = e.servers !== undefined && e.of ? ` ${e.servers}/${e.of} servers` : '';
        if (e.status === 'rolling_out' && e.message.includes(' on ')) return; // per-server progress is summarized below
        const key = `${e.deploy} ${e.status} ${e.step} ${e.message === e.status ? '' : e.message}`;
        if (key === lastDeploy || (e.message === e.status && lastDeploy.startsWith(`${e.deploy} ${e.status} ${e.step} `))) return;
        lastDeploy = key;
        print(
          `${time()}  ${e.deploy.padEnd(22)} ${e.status.padEnd(12)}${step}${servers}${e.message && e.message !== e.status ? `  ${e.message}` : ''}`,
        );
        break;
      }
      case 'tests': {
        const line = `${e.shardsDone}/${e.shardsTotal} shards, ${e.passed} passed, ${e.failed} failed`;
        if (line === lastTests) return;
        lastTests = line;
        print(
          `${time()}  ${(e.deploy.startsWith('next:') ? `tests ahead ${e.deploy.slice(5)}` : e.deploy).padEnd(22)} tests        ${line}${e.etaMs ? `, ~${Math.ceil(e.etaMs / 1000)}s left` : ''}`,
        );
        break;
      }
      case 'gate': {
        const where = e.step >= 0 ? `gate step ${e.step + 1}` : 'watch';
        const line = `${where} ${Math.round(e.elapsedMs / 1000)}s: ${e.decision} — ${e.explanation}`;
        if (line === lastGate) return;
        lastGate = line;
        print(`${time()}  ${e.deploy.padEnd(22)} ${line}`);
        break;
      }
      case 'line':
        if (e.blocked && !blocked) print(`${time()}  LINE BLOCKED: ${e.reason ?? ''}`);
        if (!e.blocked && blocked) print(`${time()}  line unblocked`);
        blocked = e.blocked;
        break;
      case 'audit':
        if (e.actor !== 'immune') print(`${time()}  ${e.actor} ${e.action} ${e.target}: ${e.reason}`);
        break;
      default:
        break;
    }
  });
}
