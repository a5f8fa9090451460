// `immune flags list|show|unblock`: guarded flag rollouts through a running `immune serve`: where
// each stands, the gate's evidence, and a person's unblock of a flag turned off or held.
import type { Command } from 'commander';
import type { FlagRolloutStatus } from '../../core/experiments/guarded.js';
import { keyValues, table } from '../output.js';
import { ApiClient, apiCommand, CLIENT_EXIT_CODES, clientAction, parseReason, printAnswer, showAnswer } from './client.js';
import type { ClientOptions } from './client.js';

interface FlagView {
  name: string;
  owner: string | null;
  enabled: boolean;
  status: FlagRolloutStatus;
  blocked: boolean;
  reason: string | null;
  step: number;
  steps: number[];
  served: number;
  stepStartedAt: number;
  looks: number;
  lastLook: {
    time: number;
    on: { users: number; goals: Record<string, number> };
    off: { users: number; goals: Record<string, number> };
  } | null;
  gate: { decision: string; explanation: string; metrics: { name: string; verdict: string; explanation: string }[] } | null;
  history: { step: number; rollout: number; startedAt: number; endedAt: number; decision: string; explanation: string }[];
}

const pct = (x: number): string => `${+(x * 100).toFixed(1)}%`;
const ago = (ms: number): string =>
  ms < 120_000 ? `${Math.round(ms / 1000)}s` : ms < 7_200_000 ? `${Math.round(ms / 60_000)}m` : `${(ms / 3_600_000).toFixed(1)}h`;

function statusText(f: FlagView): string {
  if (!f.enabled) return 'off (kill switch in the file)';
  if (f.status === 'off') return 'OFF, blocked';
  if (f.status === 'held') return `held at ${pct(f.served)}`;
  if (f.status === 'complete') return `complete at ${pct(f.served)}`;
  return `step ${f.step + 1}/${f.steps.length} at ${pct(f.served)}`;
}

export function formatFlags(flags: FlagView[]): string {
  if (flags.length === 0) return 'no guarded flags (give a flag a guarded: block in experiments/*.yaml)';
  return table(
    flags.map((f) => [f.name, statusText(f), f.steps.map(pct).join(' > '), f.owner ?? '', f.reason ?? f.gate?.explanation ?? '']),
    ['FLAG', 'STATUS', 'STEPS', 'OWNER', 'GATE'],
  );
}

export function formatFlag(f: FlagView, now = Date.now()): string {
  const side = (s: { users: number; goals: Record<string, number> }): string =>
    `${s.users} users; ${Object.entries(s.goals)
      .map(([g, n]) => `${g} ${n}/${s.users}`)
      .join(', ')}`;
  const head = keyValues([
    ['flag', `${f.name}${f.owner ? ` (owner ${f.owner})` : ''}`],
    ['status', statusText(f)],
    ...(f.reason ? ([['why', f.reason]] as [string, string][]) : []),
    ['steps', f.steps.map((s, i) => (i === f.step && f.status !== 'complete' ? `[${pct(s)}]` : pct(s))).join(' > ')],
    ['this step', `since ${ago(now - f.stepStartedAt)} ago, ${f.looks} looks`],
    ...(f.lastLook
      ? ([
          ['flag on', side(f.lastLook.on)],
          ['flag off', side(f.lastLook.off)],
        ] as [string, string][])
      : []),
    ...(f.gate ? ([['gate', `${f.gate.decision}: ${f.gate.explanation}`]] as [string, string][]) : []),
  ]);
  const metrics = f.gate?.metrics.length ? `\n\n${f.gate.metrics.map((m) => `  ${m.explanation}`).join('\n')}` : '';
  const history = f.history.length
    ? `\n\n${table(
        f.history.map((h) => [pct(h.rollout), h.decision, ago(h.endedAt - h.startedAt), h.explanation]),
        ['STEP', 'DECISION', 'TOOK', 'WHY'],
      )}`
    : '';
  return head + metrics + history;
}

export function register(program: Command): void {
  const group = program
    .command('flags')
    .description('guarded flag rollouts: where each stands, the gate evidence, unblock (through a running immune serve)');

  apiCommand(group.command('list').description('guarded flags: status, steps, owner, the gate')).action(
    showAnswer<{ flags: FlagView[] }>('/api/flags', (x) => formatFlags(x.flags)),
  );

  apiCommand(
    group
      .command('show')
      .description("one guarded flag: users on and off, the gate's last look per metric, the steps done")
      .argument('<name>', 'flag name'),
  ).action(
    clientAction(async (name: string, o: ClientOptions & { json?: boolean }) => {
      printAnswer(o, await new ApiClient(o).get<FlagView>(`/api/flags/${encodeURIComponent(name)}`), formatFlag);
    }),
  );

  apiCommand(
    group
      .command('unblock')
      .description('act on a flag turned off (its rollout starts again at the first step) or held (it moves to the next step)')
      .argument('<name>', 'flag name')
      .requiredOption('--reason <reason>', 'why (goes in the audit log)', parseReason),
    `Needs an engineer token.\n${CLIENT_EXIT_CODES}`,
  ).action(
    clientAction(async (name: string, o: ClientOptions & { json?: boolean; reason: string }) => {
      const r = await new ApiClient(o).post<FlagView>(`/api/flags/${encodeURIComponent(name)}/unblock`, { reason: o.reason });
      printAnswer(o, r, (x) => `${x.name} unblocked: ${statusText(x)}`);
    }),
  );
}
