// `immune experiments list|results|close`: product teams read and decide experiments through the
// REST API of a running `immune serve`.
import type { Command } from 'commander';
import { InputError } from '../../core/errors.js';
import type { BranchResult, Readout } from '../../core/experiments/readout.js';
import { keyValues, table } from '../output.js';
import { ApiClient, CLIENT_EXIT_CODES, clientAction, withClientOptions, type ClientOptions } from './client.js';

interface ExperimentSummary {
  name: string;
  file: string;
  state: 'running' | 'off' | 'closed';
  initialRollout: number;
  branches: { name: string; weight: number; control: boolean }[];
  goals: string[];
  guardrails: string[];
  phase: number;
  closing: { branch: string; reason: string; actor: string; time: number } | null;
}

interface ListResponse {
  experiments: ExperimentSummary[];
  flags: { name: string; file: string; enabled: boolean; rollout: number | null }[];
  errors: string[];
}

type ResultsResponse = Readout & { state: string; closing: ExperimentSummary['closing']; phases: number };

const print = (s: string): void => void process.stdout.write(`${s}\n`);
const percent = (x: number, digits = 1): string => `${(x * 100).toFixed(digits)}%`;
/** JSON turns NaN and Infinity into null: not tested, or no bound. */
const signed = (x: number | null): string => (typeof x === 'number' && Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%` : 'n/a');
const pValue = (p: number): string => (p < 0.0001 ? p.toExponential(1) : p.toFixed(4));

export function formatList(r: ListResponse): string {
  const out: string[] = [];
  if (r.experiments.length === 0) out.push('no experiments (add experiments/*.yaml)');
  else {
    out.push(
      table(
        r.experiments.map((e) => [
          e.name,
          e.state === 'closed' ? `closed -> ${e.closing?.branch}` : e.state,
          percent(e.initialRollout, 0),
          e.branches.map((b) => `${b.name} ${percent(b.weight)}`).join(', '),
          String(e.phase),
          [...e.goals, ...e.guardrails.map((g) => `!${g}`)].join(', '),
        ]),
        ['EXPERIMENT', 'STATE', 'ROLLOUT', 'BRANCHES', 'PHASE', 'GOALS (!guardrail)'],
      ),
    );
  }
  if (r.flags.length) {
    out.push('');
    out.push(table(r.flags.map((f) => [f.name, f.enabled ? (f.rollout === null ? 'on' : `${percent(f.rollout, 0)} of users`) : 'off (kill switch)']), ['FLAG', 'SERVED']));
  }
  for (const e of r.errors) out.push(`problem: ${e}`);
  return out.join('\n');
}

function metricRows(b: BranchResult): string[][] {
  return b.metrics.map((m) => [
    b.name,
    `${m.kind === 'guardrail' ? '!' : ''}${m.name}`,
    `${percent(m.rate, 2)} (${m.converted})`,
    b.control ? '' : signed(m.lift),
    b.control ? '' : m.ci[0] === null || Number.isNaN(m.ci[0]) ? 'not tested' : `${signed(m.ci[0])}..${signed(m.ci[1])}`,
    b.control ? '' : pValue(m.adjustedP),
    b.control ? '' : m.outcome,
  ]);
}

export function formatResults(r: ResultsResponse): string {
  const head = keyValues([
    ['experiment', `${r.experiment} (phase ${r.phase} of ${r.phases}, ${r.state}${r.closing ? ` -> ${r.closing.branch}: ${r.closing.reason}` : ''})`],
    ['decision', `${r.decision}${r.winner ? ` (${r.winner})` : ''}`],
    ['participants', `${r.participants} (${r.excluded} excluded for seeing two branches)`],
    ['sample ratio', r.srm.summary],
  ]);
  const branches = table(
    r.branches.map((b) => [b.name, percent(b.weight / 1000), String(b.participants), percent(b.share), b.control ? 'control' : (b.decision ?? '')]),
    ['BRANCH', 'WEIGHT', 'USERS', 'SHARE', 'DECISION'],
  );
  const metrics = table(
    r.branches.flatMap(metricRows),
    ['BRANCH', 'METRIC', 'RATE (USERS)', 'LIFT', `CI ${percent(1 - r.alpha, 0)} (ALWAYS VALID)`, 'P (HOLM)', 'OUTCOME'],
  );
  return `${head}\n\n${branches}\n\n${metrics}`;
}

export function parseReason(v: string): string {
  if (v.trim() === '') throw new InputError('--reason', 'must not be empty: say why (it goes in the audit log)');
  return v.trim();
}

function parsePhase(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InputError('--phase', `"${v}" is not a phase number (1, 2, ...)`);
  return Number(v);
}

export function register(program: Command): void {
  const group = program.command('experiments').description('A/B experiments: list them, read results, close with a decision (through a running immune serve)');

  withClientOptions(group.command('list').description('experiments and flags the server serves, with their state and phase'))
    .option('--json', 'print the API answer')
    .addHelpText('after', `\n${CLIENT_EXIT_CODES}`)
    .action(
      clientAction(async (o: ClientOptions & { json?: boolean }) => {
        const r = await new ApiClient(o).get<ListResponse>('/api/experiments');
        print(o.json ? JSON.stringify(r, null, 2) : formatList(r));
      }),
    );

  withClientOptions(group.command('results').description('readout: participants, rates, lift with always-valid CI, p-values (Holm), SRM check and the decision').argument('<name>', 'experiment name'))
    .option('--phase <n>', 'an earlier phase (default: the current one)', parsePhase)
    .option('--json', 'print the readout as JSON')
    .addHelpText('after', `\nDecisions: desired result, undesired result, no statistical significance, invalid (sample ratio mismatch).\n${CLIENT_EXIT_CODES}`)
    .action(
      clientAction(async (name: string, o: ClientOptions & { json?: boolean; phase?: number }) => {
        const q = o.phase === undefined ? '' : `?phase=${o.phase}`;
        const r = await new ApiClient(o).get<ResultsResponse>(`/api/experiments/${encodeURIComponent(name)}/results${q}`);
        print(o.json ? JSON.stringify(r, null, 2) : formatResults(r));
      }),
    );

  withClientOptions(group.command('close').description('send every user to one branch (control included); recorded in the audit log, served at once').argument('<name>', 'experiment name'))
    .requiredOption('--branch <branch>', 'the branch everyone gets from now on')
    .requiredOption('--reason <reason>', 'why (goes in the audit log)', parseReason)
    .option('--json', 'print the API answer')
    .addHelpText('after', `\nNeeds an engineer token.\n${CLIENT_EXIT_CODES}`)
    .action(
      clientAction(async (name: string, o: ClientOptions & { json?: boolean; branch: string; reason: string }) => {
        const r = await new ApiClient(o).post<ExperimentSummary>(`/api/experiments/${encodeURIComponent(name)}/close`, { branch: o.branch, reason: o.reason });
        print(o.json ? JSON.stringify(r, null, 2) : `${r.name} closed: everyone gets ${r.closing?.branch} (${r.closing?.reason})`);
      }),
    );
}
