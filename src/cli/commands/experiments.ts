// `immune experiments list|results|close`: product teams read and decide experiments through the
// REST API of a running `immune serve`.
import type { Command } from 'commander';
import { InputError } from '../../core/errors.js';
import type { BranchResult, Readout } from '../../core/experiments/readout.js';
import type { ExperimentState } from '../../core/experiments/types.js';
import { keyValues, table } from '../output.js';
import { ApiClient, apiCommand, CLIENT_EXIT_CODES, clientAction, parseReason, printAnswer, showAnswer } from './client.js';
import type { ClientOptions } from './client.js';

interface ExperimentSummary {
  name: string;
  file: string;
  state: ExperimentState;
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

const percent = (x: number, digits = 1): string => `${(x * 100).toFixed(digits)}%`;
/** JSON turns NaN and Infinity into null: not tested, or no bound. */
const signed = (x: number | null): string =>
  typeof x === 'number' && Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%` : 'n/a';
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
    out.push(
      table(
        r.flags.map((f) => [f.name, f.enabled ? (f.rollout === null ? 'on' : `${percent(f.rollout, 0)} of users`) : 'off (kill switch)']),
        ['FLAG', 'SERVED'],
      ),
    );
  }
  for (const e of r.errors) out.push(`problem: ${e}`);
  return out.join('\n');
}

/** A rate readable however small: 12.34%, 0.42%, 0.0042% (two significant digits below 1%). */
export function ratePercent(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  if (x === 0) return '0%';
  const p = x * 100;
  return p >= 1 ? `${p.toFixed(2)}%` : `${p.toPrecision(2)}%`;
}

function duration(ms: number): string {
  const m = Math.round(ms / 60_000);
  if (ms < 120_000) return `${Math.round(ms / 1000)}s`;
  if (m < 120) return `${m}m`;
  const h = ms / 3_600_000;
  return h < 48 ? `${h.toFixed(1)}h` : `${(h / 24).toFixed(1)} days`;
}

function metricRows(b: BranchResult): string[][] {
  return b.metrics.map((m) => [
    b.name,
    `${m.kind === 'guardrail' ? '!' : ''}${m.name}`,
    `${m.converted}/${m.participants ?? b.participants}`,
    ratePercent(m.rate),
    b.control ? '' : signed(m.lift),
    b.control ? '' : m.ci[0] === null || Number.isNaN(m.ci[0]) ? 'not tested' : `${signed(m.ci[0])}..${signed(m.ci[1])}`,
    b.control ? '' : pValue(m.adjustedP),
    b.control ? '' : m.outcome,
  ]);
}

const counted = (o: Record<string, number>): string =>
  Object.entries(o)
    .map(([k, n]) => `${k} ${n.toLocaleString('en-US')}`)
    .join(', ') || 'none';

/** The cumulative lift of the first non-control branch on the first goal at up to 8 moments. */
function historyRows(r: ResultsResponse): string | undefined {
  const first = r.branches.find((b) => !b.control);
  const metric = first?.metrics[0]?.name;
  const points = (r.history ?? []).filter((p) => p.lifts.some((l) => l.branch === first?.name && l.metric === metric));
  if (!first || !metric || points.length < 2) return undefined;
  const step = Math.max(1, Math.ceil(points.length / 8));
  const picked = points.filter((_, i) => i % step === 0 || i === points.length - 1);
  const rows = picked.map((p) => {
    const l = p.lifts.find((x) => x.branch === first.name && x.metric === metric)!;
    return [
      duration(p.time - r.startedAt),
      String(p.participants),
      signed(l.lift),
      l.ci[0] === null || Number.isNaN(l.ci[0]) ? 'not tested' : `${signed(l.ci[0])}..${signed(l.ci[1])}`,
    ];
  });
  return `${first.name} ${metric} over time (cumulative):\n${table(rows, ['AFTER', 'USERS', 'LIFT', 'CI'])}`;
}

export function formatResults(r: ResultsResponse): string {
  const ran = r.startedAt
    ? `${new Date(r.startedAt).toISOString().slice(0, 16).replace('T', ' ')} UTC, ${r.endedAt ? 'ran' : 'running for'} ${duration(r.durationMs)}`
    : '';
  const head = keyValues([
    [
      'experiment',
      `${r.experiment} (phase ${r.phase} of ${r.phases}, ${r.state}${r.closing ? ` -> ${r.closing.branch}: ${r.closing.reason}` : ''})`,
    ],
    ...(ran ? ([['started', ran]] as [string, string][]) : []),
    ['decision', `${r.decision}${r.winner ? ` (${r.winner})` : ''}`],
    ['participants', `${r.participants} (${r.excluded} excluded for seeing two branches)`],
    ['sample ratio', (r.srmChecks ?? [r.srm]).map((c) => c.summary).join('\n')],
    ...(r.sources
      ? ([
          ['exposures from', counted(r.sources.exposures)],
          ['conversions from', counted(r.sources.conversions)],
          ...Object.entries(r.sources.evaluations).map(([src, e]) => [`evaluations (${src})`, counted(e)] as [string, string]),
        ] as [string, string][])
      : []),
  ]);
  const branches = table(
    r.branches.map((b) => [
      b.name,
      percent(b.weight / 1000),
      String(b.participants),
      percent(b.share),
      b.control ? 'control' : (b.decision ?? ''),
    ]),
    ['BRANCH', 'WEIGHT', 'USERS', 'SHARE', 'DECISION'],
  );
  const metrics = table(r.branches.flatMap(metricRows), [
    'BRANCH',
    'METRIC',
    'CONVERTED/USERS',
    'RATE',
    'LIFT',
    `CI ${percent(1 - r.alpha, 0)} (ALWAYS VALID)`,
    'P (HOLM)',
    'OUTCOME',
  ]);
  const history = historyRows(r);
  return `${head}\n\n${branches}\n\n${metrics}${history ? `\n\n${history}` : ''}`;
}

function parsePhase(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InputError('--phase', `"${v}" is not a phase number (1, 2, ...)`);
  return Number(v);
}

export function register(program: Command): void {
  const group = program
    .command('experiments')
    .description('A/B experiments: list them, read results, close with a decision (through a running immune serve)');

  apiCommand(group.command('list').description('experiments and flags the server serves, with their state and phase')).action(
    showAnswer<ListResponse>('/api/experiments', formatList),
  );

  apiCommand(
    group
      .command('results')
      .description('readout: participants, rates, lift with always-valid CI, p-values (Holm), SRM check and the decision')
      .argument('<name>', 'experiment name')
      .option('--phase <n>', 'an earlier phase (default: the current one)', parsePhase),
    `Decisions: not started (no participants yet), desired result, undesired result, no statistical significance, invalid (sample ratio mismatch).\n${CLIENT_EXIT_CODES}`,
    'print the readout as JSON',
  ).action(
    clientAction(async (name: string, o: ClientOptions & { json?: boolean; phase?: number }) => {
      const q = o.phase === undefined ? '' : `?phase=${o.phase}`;
      printAnswer(
        o,
        await new ApiClient(o).get<ResultsResponse>(`/api/experiments/${encodeURIComponent(name)}/results${q}`),
        formatResults,
      );
    }),
  );

  apiCommand(
    group
      .command('close')
      .description('send every user to one branch (control included); recorded in the audit log, served at once')
      .argument('<name>', 'experiment name')
      .requiredOption('--branch <branch>', 'the branch everyone gets from now on')
      .requiredOption('--reason <reason>', 'why (goes in the audit log)', parseReason),
    `Needs an engineer token.\n${CLIENT_EXIT_CODES}`,
  ).action(
    clientAction(async (name: string, o: ClientOptions & { json?: boolean; branch: string; reason: string }) => {
      const r = await new ApiClient(o).post<ExperimentSummary>(`/api/experiments/${encodeURIComponent(name)}/close`, {
        branch: o.branch,
        reason: o.reason,
      });
      printAnswer(o, r, (x) => `${x.name} closed: everyone gets ${x.closing?.branch} (${x.closing?.reason})`);
    }),
  );
}
