// The line from the terminal: status, log, deploy, and the captains' controls, all through the
// REST API of a running `immune serve`.
import { Command, Option } from 'commander';
import { InputError } from '../../core/errors.js';
import type { EvidenceTable } from '../../core/judge/evidence.js';
import type { AdoptAnswer, DeployAnswer, DropAnswer, ReleasesAnswer, RetryAnswer, RollbackAnswer } from '../../engine/control.js';
import type { DeploySummary, LineStatus } from '../../engine/summary.js';
import { ago, clip, duration, keyValues, shortSha, table } from '../output.js';
import { ApiClient, apiCommand, CLIENT_EXIT_CODES, clientAction, parseReason, printAnswer, showAnswer } from './client.js';
import type { ClientOptions } from './client.js';

type Json = { json?: boolean };

function parseLimit(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 1000) throw new InputError('--limit', `"${v}" is not a number from 1 to 1000`);
  return n;
}

function author(d: DeploySummary): string {
  const names = [...new Set(d.commits.map((c) => c.author))];
  return names.length <= 2 ? names.join(', ') : `${names[0]} +${names.length - 1}`;
}

/** "abc12345 Fix checkout (Dev One)" or "3 commits abc12345..def67890 (Dev One, Dev Two)". */
function change(d: DeploySummary): string {
  if (d.commits.length === 1) {
    const c = d.commits[0]!;
    return `${shortSha(c.sha)} ${clip(c.subject, 50)} (${c.author})`;
  }
  const shas = d.shas.length ? `${shortSha(d.shas[0]!)}..${shortSha(d.shas[d.shas.length - 1]!)}` : '';
  return `${d.shas.length} commits ${shas} (${author(d)})`;
}

function progress(d: DeploySummary): string {
  const parts = [d.status.replace('_', ' ')];
  if (d.step !== undefined) parts.push(`step ${d.step + 1}/${d.steps}`);
  if (d.serversOnNew !== undefined && d.serversTotal !== undefined)
    parts.push(`${d.serversOnNew}/${d.serversTotal} servers on the new build`);
  if (d.bakeElapsedMs !== undefined) parts.push(`${d.status === 'watching' ? 'watched' : 'baked'} ${duration(d.bakeElapsedMs)}`);
  return parts.join(', ');
}

export function formatStatus(s: LineStatus, now: number): string {
  const rows: [string, string][] = [];
  if (s.blocked) {
    const who = [s.blockedBy ? `by ${s.blockedBy}` : '', s.blockedAt !== undefined ? ago(s.blockedAt, now) : ''].filter(Boolean).join(' ');
    rows.push(['line', `${s.pipeline}: BLOCKED${who ? ` ${who}` : ''}`]);
    rows.push([
      'why',
      `${s.blockReason ?? '(no reason given)'}${s.blockedDeploy ? `\n(deploy ${s.blockedDeploy}; unblock with: immune unblock --reason "...")` : ''}`,
    ]);
  } else {
    rows.push(['line', `${s.pipeline}: ${s.paused ? 'paused' : 'open'}`]);
  }
  if (s.blocked && s.paused) rows.push(['paused', 'yes']);
  if (s.held) {
    rows.push([
      'HELD',
      `${s.held.shas.map(shortSha).join(',')}: ${s.held.reason}\n(drop it: immune drop ${shortSha(s.held.shas.at(-1)!)} --reason "..."; or deploy anyway: immune override --reason "...")`,
    ]);
  }
  for (const p of s.problems ?? []) rows.push(['PROBLEM', p]);
  rows.push([
    'live',
    s.live ? `${shortSha(s.live.sha)} (artifact ${s.live.artifact.id}${s.live.deploy ? `, deploy ${s.live.deploy}` : ''})` : 'nothing yet',
  ]);
  if (s.inFlight) {
    const d = s.inFlight;
    const lines = [`${d.id} ${change(d)}`, progress(d)];
    if (d.hold)
      lines.push(
        `HELD for a captain since ${ago(d.hold.since, now)}: ${clip(d.hold.reason, 160)}`,
        'immune resume (bake again) | promote (go on) | abort (roll back) --reason "..."',
      );
    else if (d.lastGate) lines.push(`gate: ${d.lastGate.decision}: ${clip(d.lastGate.explanation, 100)}`);
    for (const w of d.warnings ?? []) lines.push(`warning: ${clip(w, 160)}`);
    rows.push(['in flight', lines.join('\n')]);
  } else {
    rows.push(['in flight', 'none']);
  }
  if (s.queue.length === 0) rows.push(['queue', 'empty']);
  else {
    const q = table(s.queue.map((c) => [shortSha(c.sha), clip(c.subject, 50), c.author]));
    rows.push(['queue', `${s.queue.length} commit${s.queue.length === 1 ? '' : 's'}\n${q}`]);
  }
  const dropped = s.dropped?.at(-1);
  if (dropped)
    rows.push([
      'dropped',
      `${shortSha(dropped.sha)} by ${dropped.actor} ${ago(dropped.at, now)}: ${clip(dropped.reason, 80)} (skipped by the line, still in git)`,
    ]);
  return keyValues(rows);
}

/** Exit codes of `immune status`: what a commit hook or a script reads (4 and above: the line is red). */
export const STATUS_EXIT = { open: 0, inFlight: 3, held: 4, blocked: 5 } as const;
export const STATUS_EXIT_HELP = `Exit codes: 0 the line is open and nothing is in flight; 3 a deploy is in flight; 4 held (a rollout waits for a captain, or the next change's tree is known-bad); 5 blocked; 1 the server refused or no server is running; 2 bad flags. A commit hook can refuse commits while the line is red: immune status >/dev/null; [ $? -lt 4 ]`;

export function statusExitCode(s: LineStatus): number {
  if (s.blocked) return STATUS_EXIT.blocked;
  if (s.held || s.inFlight?.status === 'held') return STATUS_EXIT.held;
  if (s.inFlight) return STATUS_EXIT.inFlight;
  return STATUS_EXIT.open;
}

export function formatReleases(r: ReleasesAnswer): string {
  if (r.servers.length === 0) return 'no servers';
  const rows = r.servers.flatMap((s) =>
    (s.releases.length ? s.releases : [{ id: '-', current: false, live: false } as ReleasesAnswer['servers'][0]['releases'][0]]).map(
      (x, i) => [
        i === 0 ? s.server : '',
        x.id,
        x.current ? 'current' : '',
        x.sha ? shortSha(x.sha) : '-',
        x.deploy ?? '-',
        x.knownBad ? `known-bad: ${clip(x.knownBad, 60)}` : (x.outcome ?? ''),
      ],
    ),
  );
  return table(rows, ['SERVER', 'RELEASE', '', 'SHA', 'DEPLOY', 'OUTCOME']);
}

export function formatLog(deploys: DeploySummary[], now: number): string {
  if (deploys.length === 0) return 'no deploys yet';
  const rows = deploys.map((d) => [
    d.id,
    d.shas.map(shortSha).join(',') || '-',
    author(d) || '-',
    d.outcome ?? d.status,
    duration((d.finishedAt ?? now) - d.createdAt),
    clip(d.reason ?? (d.revertSha ? `reverted in ${shortSha(d.revertSha)}` : ''), 80),
  ]);
  return table(rows, ['DEPLOY', 'SHAS', 'AUTHOR', 'OUTCOME', 'DURATION', 'REASON']);
}

/** One deploy and its summary table, one block per step: the same words as the page and the API. */
export function formatDeploy(r: { deploy: DeploySummary; summary?: EvidenceTable }, now: number): string {
  const d = r.deploy;
  const rows: [string, string][] = [
    ['deploy', `${d.id} ${change(d)}`],
    [
      'status',
      `${d.outcome ?? d.status}, ${duration((d.finishedAt ?? now) - d.createdAt)}${d.revertSha ? `, reverted in ${shortSha(d.revertSha)}` : ''}`,
    ],
  ];
  if (d.reason) rows.push(['why', d.reason]);
  // What let it past a step without the data ruling a regression out (a captain's promote).
  for (const w of d.warnings ?? []) rows.push(['warning', w]);
  const out = [keyValues(rows)];
  const s = r.summary;
  if (!s || s.steps.length === 0) return [...out, '', 'no gate has looked yet'].join('\n');
  for (const st of s.steps) {
    out.push('', `${st.name}: ${st.decision} after ${duration(st.elapsedMs)}, ${st.looks} look${st.looks === 1 ? '' : 's'}`);
    const cells = s.rows.filter((x) => x.step === st.step).map((x) => [x.metric, x.label, x.estimate || 'no data', x.interval, x.samples]);
    out.push(
      table(cells, ['METRIC', 'VERDICT', 'ESTIMATE', 'INTERVAL', 'SAMPLES'])
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  }
  return out.join('\n');
}

const CONTROLS: { name: 'block' | 'unblock' | 'pause' | 'resume' | 'abort' | 'promote' | 'override'; description: string; done: string }[] =
  [
    { name: 'block', description: 'block the line: no deploy starts until it is unblocked (captain)', done: 'line blocked' },
    { name: 'unblock', description: 'unblock the line (captain)', done: 'line unblocked' },
    { name: 'pause', description: 'pause the line: the deploy in flight holds at its current step (captain)', done: 'line paused' },
    {
      name: 'resume',
      description: 'resume a paused line, and/or let a rollout held at an inconclusive gate or watch bake again at its step (captain)',
      done: 'resumed',
    },
    { name: 'abort', description: 'abort the deploy in flight and roll it back (captain)', done: 'deploy aborted' },
    {
      name: 'promote',
      description: 'skip the rest of the current bake, or a hold: go to the next step (captain)',
      done: 'deploy promoted',
    },
    {
      name: 'override',
      description: 'deploy the change held because its tree is known-bad, once (captain; audited)',
      done: 'held change released',
    },
  ];

const CAPTAIN_HELP = `Needs a token with role captain or admin (--token or $IMMUNE_TOKEN).\n${CLIENT_EXIT_CODES}`;

function checkSha(sha: string): void {
  if (!/^[0-9a-f]{4,40}$/i.test(sha)) throw new InputError('sha', `"${sha}" is not a commit sha (4 to 40 hex digits)`);
}

/** A line command: what `configure` adds, then --json, the client options and the help text after (apiCommand). */
function lineCommand(program: Command, name: string, description: string, help: string, configure = (c: Command) => c): Command {
  return apiCommand(configure(program.command(name).description(description)), help);
}

/** A captain's command: what `configure` adds, then a required --reason for the audit log. */
function captainCommand(program: Command, name: string, description: string, configure = (c: Command) => c): Command {
  return lineCommand(program, name, description, CAPTAIN_HELP, (c) =>
    configure(c).requiredOption('-r, --reason <text>', 'why (recorded in the audit log)', parseReason),
  );
}

function registerStatus(program: Command): void {
  lineCommand(
    program,
    'status',
    'show the line: what is live, the deploy in flight (step, servers, gate), the queue, and whether it is blocked and why',
    STATUS_EXIT_HELP,
  ).action(
    clientAction(async (o: ClientOptions & Json) => {
      const s = await new ApiClient(o).get<LineStatus>('/api/line');
      printAnswer(o, s, (x) => formatStatus(x, Date.now()));
      process.exitCode = statusExitCode(s);
    }),
  );
}

function registerReleases(program: Command): void {
  lineCommand(
    program,
    'releases',
    'list, per server, the releases it keeps (what immune rollback --to can switch to), the current one, and the deploy that built each',
    CLIENT_EXIT_CODES,
  ).action(showAnswer<ReleasesAnswer>('/api/fleet/releases', formatReleases));
}

function registerDrop(program: Command): void {
  captainCommand(program, 'drop', 'drop a queued commit: it stays in git, the line skips it and says so (captain)', (c) =>
    c.argument('<sha>', 'the queued commit (4 to 40 hex digits)'),
  ).action(
    clientAction(async (sha: string, o: ClientOptions & Json & { reason: string }) => {
      checkSha(sha);
      const r = await new ApiClient(o).post<DropAnswer>('/api/line/drop', { sha, reason: o.reason });
      printAnswer(o, r, (x) => x.note);
    }),
  );
}

function registerRetry(program: Command): void {
  captainCommand(program, 'retry', 'queue a failed or aborted deploy again, at the head of the line (captain)', (c) =>
    c.argument('<deploy>', 'deploy id (immune log)'),
  ).action(
    clientAction(async (id: string, o: ClientOptions & Json & { reason: string }) => {
      const r = await new ApiClient(o).post<RetryAnswer>(`/api/deploys/${encodeURIComponent(id)}/retry`, {
        reason: o.reason,
      });
      printAnswer(o, r, (x) => `queued ${x.queued.map(shortSha).join(', ')} again (deploy ${id})`);
    }),
  );
}

function registerRollback(program: Command): void {
  captainCommand(
    program,
    'rollback',
    'switch every server to an earlier release they all keep (immune releases), and block the line so the tip does not come straight back (captain)',
    (c) => c.requiredOption('--to <release|sha>', 'a release id, or a commit sha that was built and deployed'),
  ).action(
    clientAction(async (o: ClientOptions & Json & { reason: string; to: string }) => {
      if (!/^[0-9a-z][0-9a-z._-]{3,99}$/i.test(o.to)) throw new InputError('--to', `"${o.to}" is not a release id or a commit sha`);
      const r = await new ApiClient(o).post<RollbackAnswer>('/api/line/rollback', {
        to: o.to,
        reason: o.reason,
      });
      printAnswer(
        o,
        r,
        (x) =>
          `rolled back to ${x.release} (${shortSha(x.sha)}): ${x.servers} server(s) switched; the line is blocked (immune unblock --reason "..." when ready)`,
      );
    }),
  );
}

function registerLog(program: Command): void {
  lineCommand(
    program,
    'log',
    'list recent deploys: id, commits, author, outcome, duration and reason, newest first',
    CLIENT_EXIT_CODES,
    (c) => c.addOption(new Option('-n, --limit <n>', 'how many deploys (1-1000)').argParser(parseLimit).default(20)),
  ).action(
    clientAction(async (o: ClientOptions & Json & { limit: number }) => {
      const r = await new ApiClient(o).get<{ deploys: DeploySummary[] }>(`/api/deploys?limit=${o.limit}`);
      printAnswer(o, r, (x) => formatLog(x.deploys, Date.now()));
    }),
  );
}

function registerShow(program: Command): void {
  lineCommand(
    program,
    'show',
    "show one deploy and its gates' evidence: per step, each metric's verdict, estimate, interval and samples",
    CLIENT_EXIT_CODES,
    (c) => c.argument('<deploy>', 'deploy id (see immune log)'),
  ).action(
    clientAction(async (id: string, o: ClientOptions & Json) => {
      const r = await new ApiClient(o).get<{ deploy: DeploySummary; summary?: EvidenceTable }>(`/api/deploys/${encodeURIComponent(id)}`);
      printAnswer(o, r, (x) => formatDeploy(x, Date.now()));
    }),
  );
}

function registerDeploy(program: Command): void {
  lineCommand(
    program,
    'deploy',
    'queue a commit of the pipeline branch for deploy (engineer)',
    `The commit must be on the branch and ahead of the live one; --force (captain) deploys an older one.\n${CLIENT_EXIT_CODES}`,
    (c) =>
      c
        .argument('<sha>', 'commit sha (4 to 40 hex digits)')
        .option('--force', 'deploy it even though it is not ahead of the live commit (takes production back; captain)'),
  ).action(
    clientAction(async (sha: string, o: ClientOptions & Json & { force?: boolean }) => {
      checkSha(sha);
      const r = await new ApiClient(o).post<DeployAnswer>('/api/deploys', o.force ? { sha, force: true } : { sha });
      printAnswer(o, r, (x) =>
        x.ignored ? `${shortSha(x.queued ?? sha)}: ${x.ignored}` : `queued ${shortSha(x.queued ?? sha)} for deploy`,
      );
    }),
  );
}

function registerAdopt(program: Command): void {
  lineCommand(
    program,
    'adopt',
    'after the state store came up empty: confirm the commit the fleet runs, so later commits are judged against it (captain)',
    `immune refuses to deploy while its store is empty but servers run releases (or the branch has its reverts).\nNeeds a token with role captain or admin.\n${CLIENT_EXIT_CODES}`,
    (c) =>
      c
        .argument('[sha]', 'the commit every server runs now')
        .option('--fresh', 'there is nothing to adopt: deploy the tip to every server as a first deploy')
        .requiredOption('-r, --reason <text>', 'why (recorded in the audit log)', parseReason),
  ).action(
    clientAction(async (sha: string | undefined, o: ClientOptions & Json & { fresh?: boolean; reason: string }) => {
      if ((sha === undefined) === !o.fresh) throw new InputError('sha', 'give the sha the fleet runs, or --fresh (not both)');
      if (sha !== undefined) checkSha(sha);
      const r = await new ApiClient(o).post<AdoptAnswer>(
        '/api/line/adopt',
        sha ? { sha, reason: o.reason } : { fresh: true, reason: o.reason },
      );
      printAnswer(o, r, (x) =>
        x.live
          ? `adopted ${shortSha(x.live)} (artifact ${x.artifact}) as live; later commits are judged against it`
          : 'line open: the tip goes out as a first deploy',
      );
    }),
  );
}

function registerControl(program: Command, c: (typeof CONTROLS)[number]): void {
  captainCommand(program, c.name, c.description).action(
    clientAction(async (o: ClientOptions & Json & { reason: string }) => {
      const r = await new ApiClient(o).post<{ ok: true }>(`/api/line/${c.name}`, { reason: o.reason });
      printAnswer(o, r, () => `${c.done}: ${o.reason}`);
    }),
  );
}

export function register(program: Command): void {
  registerStatus(program);
  registerReleases(program);
  registerDrop(program);
  registerRetry(program);
  registerRollback(program);
  registerLog(program);
  registerShow(program);
  registerDeploy(program);
  registerAdopt(program);
  for (const c of CONTROLS) registerControl(program, c);
}
