// The line at a glance: blocked banner, live build, deploy in flight, queue, controls, recent actions.
import { get } from '../api.js';
import { lineChart, progress } from '../charts.js';
import { actionButton, lineControl } from '../controls.js';
import { h } from '../dom.js';
import { ago, clock, duration, formatChange, shortSha, verdictLabel } from '../format.js';
import { badge, card, commitList, deployLink, empty, since, table } from './common.js';
import { notificationsCard } from './notifications.js';

export async function render(app) {
  const [line, audit, notifications, releases] = await Promise.all([
    get('/api/line'),
    get('/api/audit?limit=8').catch(() => null),
    get('/api/notifications?limit=5').catch(() => null),
    get('/api/fleet/releases').catch(() => null),
  ]);
  app.setPipeline(line.pipeline);
  const [blockedDeploy, inFlightDetail] = await Promise.all([
    line.blocked && line.blockedDeploy ? get(`/api/deploys/${encodeURIComponent(line.blockedDeploy)}`).catch(() => null) : null,
    line.inFlight ? get(`/api/deploys/${encodeURIComponent(line.inFlight.id)}`).catch(() => null) : null,
  ]);
  const done = (what) => {
    app.toast(`${what}: done`);
    app.refresh();
  };
  return h(
    'div',
    { class: 'view line-view' },
    (line.problems ?? []).map((p) => h('div', { class: 'banner blocked problem', role: 'alert' }, h('b', {}, 'Problem: '), p)),
    line.blocked ? blockedBanner(line, blockedDeploy?.deploy, done) : null,
    line.held ? heldBanner(line.held, done) : null,
    line.inFlight?.status === 'held' ? heldRolloutBanner(line.inFlight, done) : null,
    line.paused
      ? h(
          'div',
          { class: 'banner paused', id: 'paused-banner' },
          h('b', {}, 'Line paused'),
          ' — the deploy in flight holds; nothing new starts. ',
          lineControl('resume', done, 'primary'),
        )
      : null,
    h(
      'div',
      { class: 'grid' },
      card('Live', { id: 'live-card' }, liveBlock(line.live)),
      card(
        'In flight',
        { id: 'inflight-card', class: 'card wide' },
        inFlightBlock(line.inFlight, app),
        gateGlance(line.inFlight, inFlightDetail?.gates ?? []),
      ),
      card(
        `Queue (${line.queue?.length ?? 0})`,
        { id: 'queue-card' },
        line.queue?.length
          ? [commitList(line.queue), dropButtons(line.queue, done), testsAhead(line.queue, app)]
          : empty(line.blocked ? 'Nothing waiting. New commits will wait here until the line is unblocked.' : 'Nothing waiting.'),
      ),
      card('Controls', { id: 'controls-card' }, controls(line, done)),
      card('Releases kept on the servers', { id: 'releases-card', class: 'card wide' }, releasesBlock(releases, done)),
      card('Recent actions', { id: 'audit-card', class: 'card wide' }, auditList(audit?.entries ?? [])),
      notificationsCard(notifications),
    ),
  );
}

function blockedBanner(line, deploy, done) {
  const reverted = deploy?.commits ?? [];
  return h(
    'div',
    { class: 'banner blocked', id: 'blocked-banner', role: 'alert' },
    h('h2', {}, 'Line blocked'),
    h('p', { class: 'reason' }, line.blockReason ?? 'no reason given'),
    h(
      'p',
      { class: 'muted' },
      'Blocked ',
      line.blockedBy ? `by ${line.blockedBy} ` : '',
      line.blockedAt ? `${ago(line.blockedAt)} (${clock(line.blockedAt)}) ` : '',
      line.blockedDeploy ? ['after deploy ', deployLink(line.blockedDeploy)] : '',
    ),
    reverted.length
      ? h(
          'div',
          { class: 'reverted' },
          h('b', {}, deploy.revertSha ? 'Reverted: ' : 'Failed: '),
          reverted.map((c) =>
            h(
              'span',
              { class: 'reverted-commit' },
              h('code', { title: c.sha }, shortSha(c.sha)),
              ` ${c.subject} — ${c.author}${c.email ? ` <${c.email}>` : ''}`,
            ),
          ),
          deploy.revertSha
            ? h('span', { class: 'muted' }, ' · revert commit ', h('code', { title: deploy.revertSha }, shortSha(deploy.revertSha)))
            : null,
        )
      : null,
    h(
      'p',
      {},
      'Who can unblock: a release captain or an admin (a token with role captain or admin), once the cause is understood. ',
      lineControl('unblock', done, 'primary'),
    ),
  );
}

/** The change at the queue's head has a known-bad tree: the line waits for a captain. */
function heldBanner(held, done) {
  const sha = held.shas[held.shas.length - 1];
  return h(
    'div',
    { class: 'banner blocked held', id: 'held-banner', role: 'alert' },
    h('h2', {}, 'Change held: known-bad tree'),
    h('p', { class: 'reason' }, h('code', { title: sha }, shortSha(sha)), ': ', held.reason),
    h(
      'p',
      { class: 'muted' },
      'Held ',
      ago(held.since),
      ' — failed in deploy ',
      deployLink(held.deploy),
      '. Nothing deploys until a captain drops the change or deploys it anyway.',
    ),
    h(
      'p',
      {},
      actionButton(
        'Drop it',
        {
          title: `Drop ${shortSha(sha)}`,
          help: 'The commit stays in git; the line skips it.',
          path: '/api/line/drop',
          fields: () => ({ sha }),
        },
        done,
        'primary',
      ),
      ' ',
      lineControl('override', done, 'danger'),
    ),
  );
}

/** A rollout waiting at an inconclusive gate or watch (hold policy). */
function heldRolloutBanner(d, done) {
  return h(
    'div',
    { class: 'banner paused held-rollout', id: 'held-rollout-banner', role: 'alert' },
    h('h2', {}, 'Rollout held for a captain'),
    h('p', { class: 'reason' }, d.hold?.reason ?? 'the gate was inconclusive'),
    h('p', { class: 'muted' }, deployLink(d.id), d.hold ? ` held ${ago(d.hold.since)}` : ''),
    h('p', {}, lineControl('resume', done, 'primary'), ' ', lineControl('promote', done), ' ', lineControl('abort', done, 'danger')),
  );
}

function dropButtons(queue, done) {
  return h(
    'p',
    { class: 'small drop-buttons' },
    queue.map((c) =>
      actionButton(
        `Drop ${shortSha(c.sha)}`,
        {
          title: `Drop ${shortSha(c.sha)}`,
          help: 'The commit stays in git; the line skips it (a later build of the branch still contains it).',
          path: '/api/line/drop',
          fields: () => ({ sha: c.sha }),
        },
        done,
        'small',
      ),
    ),
  );
}

/** Per server, the releases it keeps; every server keeping one makes it a rollback target. */
function releasesBlock(r, done) {
  if (!r?.servers?.length) return empty('No servers answered.');
  const ids = [...new Set(r.servers.flatMap((s) => s.releases.map((x) => x.id)))];
  const everywhere = ids.filter((id) => r.servers.every((s) => s.releases.some((x) => x.id === id)));
  const info = new Map(r.servers.flatMap((s) => s.releases.map((x) => [x.id, x])));
  return table(
    'releases',
    ['release', 'commit', 'deploy', r.servers.map((s) => s.server), ''],
    ids.map((id) => {
      const x = info.get(id);
      const current = r.servers.every((s) => s.current === id);
      return h(
        'tr',
        { 'data-release': id },
        h('td', { class: 'mono' }, id, x.knownBad ? h('span', { class: 'badge fail', title: x.knownBad }, ' known-bad') : null),
        h('td', { class: 'mono' }, x.sha ? shortSha(x.sha) : '—'),
        h('td', {}, x.deploy ? deployLink(x.deploy) : '—'),
        r.servers.map((s) => {
          const kept = s.releases.find((y) => y.id === id);
          return h('td', {}, kept ? (kept.current ? 'current' : 'kept') : '—');
        }),
        h(
          'td',
          {},
          everywhere.includes(id) && !current && !x.knownBad
            ? actionButton(
                'Roll back here',
                {
                  title: `Roll back to ${id}`,
                  help: 'Every server switches to this release; the line blocks so the branch tip does not come straight back.',
                  path: '/api/line/rollback',
                  fields: () => ({ to: id }),
                },
                done,
                'danger small',
              )
            : null,
        ),
      );
    }),
  );
}

function liveBlock(live) {
  if (!live) return empty('Nothing deployed yet.');
  return h(
    'dl',
    { class: 'kv' },
    h('dt', {}, 'commit'),
    h('dd', {}, h('code', { title: live.sha }, shortSha(live.sha))),
    h('dt', {}, 'build'),
    h('dd', {}, h('code', {}, live.artifact?.id ?? '—')),
    live.deploy ? [h('dt', {}, 'deploy'), h('dd', {}, deployLink(live.deploy))] : null,
  );
}

function inFlightBlock(d, app) {
  if (!d) return empty('No deploy in flight.');
  const stepNo = Number.isFinite(d.step) ? d.step + 1 : 0;
  // The run that tests this change may have started ahead of it, as "next:<last sha>".
  const tests = app.state.tests.get(d.id) ?? app.state.tests.get(`next:${shortSha(d.shas?.at(-1))}`);
  const baking = d.status === 'baking' || d.status === 'watching';
  return h(
    'div',
    { class: 'inflight', 'data-deploy': d.id, 'data-status': d.status },
    h(
      'p',
      { class: 'headline' },
      deployLink(d.id),
      ' ',
      badge(d.status),
      ' ',
      h('span', { class: 'muted' }, `started ${ago(d.createdAt)}`),
    ),
    commitList(d.commits),
    h(
      'dl',
      { class: 'kv' },
      h('dt', {}, 'step'),
      h(
        'dd',
        { class: 'step' },
        d.steps && stepNo ? [progress(stepNo, d.steps), ` ${stepNo} of ${d.steps}`] : d.steps ? `not started (${d.steps} steps)` : '—',
      ),
      h('dt', {}, 'servers on new build'),
      h(
        'dd',
        { class: 'servers' },
        Number.isFinite(d.serversOnNew) && d.serversTotal
          ? [progress(d.serversOnNew, d.serversTotal, 'servers'), ` ${d.serversOnNew} of ${d.serversTotal}`]
          : '—',
      ),
      h('dt', {}, 'time in bake'),
      h(
        'dd',
        { class: 'bake' },
        baking && Number.isFinite(d.bakeElapsedMs)
          ? since(app.fetchedAt - d.bakeElapsedMs)
          : Number.isFinite(d.bakeElapsedMs)
            ? duration(d.bakeElapsedMs)
            : '—',
      ),
      tests && d.status === 'testing' ? [h('dt', {}, 'tests'), h('dd', {}, testProgress(tests))] : null,
      d.lastGate ? [h('dt', {}, 'last gate'), h('dd', { class: 'gate' }, badge(d.lastGate.decision), ' ', d.lastGate.explanation)] : null,
    ),
  );
}

const testProgress = (t) => [
  progress(t.shardsDone, t.shardsTotal),
  ` ${t.shardsDone}/${t.shardsTotal} shards, ${t.passed} passed, ${t.failed} failed${t.etaMs ? `, ~${duration(t.etaMs)} left` : ''}`,
];

/** The engine tests the next change while one is in flight; its progress arrives as events for "next:<sha>". */
function testsAhead(queue, app) {
  const runs = queue.map((c) => [c, app.state.tests.get(`next:${String(c.sha).slice(0, 8)}`)]).filter(([, t]) => t);
  return runs.length
    ? runs.map(([c, t]) => h('p', { class: 'small tests-ahead' }, `tests ahead for ${shortSha(c.sha)}:`, testProgress(t)))
    : null;
}

/** The current step's gate at a glance: per metric, the effect over the looks with its interval, and the verdict. */
function gateGlance(d, gates) {
  if (!d || !gates.length) return null;
  const step = gates[gates.length - 1].step;
  const looks = gates.filter((g) => g.step === step).sort((a, b) => a.elapsedMs - b.elapsedMs);
  const names = [...new Set(looks.flatMap((l) => (l.metrics ?? []).map((m) => m.name)))];
  return h(
    'div',
    { class: 'glance', 'data-step': step },
    h(
      'h3',
      {},
      step < 0 ? 'Watch' : `Gate at step ${step + 1}`,
      h('span', { class: 'muted' }, ` — effect of each metric with its interval, ${looks.length} looks; `),
      deployLink(d.id),
    ),
    h(
      'div',
      { class: 'glance-grid' },
      names.map((name) => {
        const pts = looks.map((l) => [l.elapsedMs / 1000, (l.metrics ?? []).find((m) => m.name === name)]).filter(([, m]) => m);
        const last = pts[pts.length - 1][1];
        return h(
          'div',
          { class: `glance-metric ${verdictLabel(last)}`, 'data-metric': name, title: last.explanation },
          h(
            'div',
            {},
            h('b', {}, name),
            ' ',
            badge(verdictLabel(last)),
            h('span', { class: 'muted small' }, verdictLabel(last) === 'no data' ? '' : ` ${formatChange(last.effect)}`),
          ),
          lineChart({
            series: [{ name: 'effect', cls: 'canary', points: pts.map(([t, m]) => [t, m.effect]) }],
            band: { name: 'interval', cls: last.verdict, points: pts.map(([t, m]) => [t, m.ci?.[0], m.ci?.[1]]) },
            width: 150,
            height: 36,
            compact: true,
            zero: true,
            label: `${name} effect`,
          }),
        );
      }),
    ),
  );
}

function controls(line, done) {
  const inFlight = !!line.inFlight;
  return h(
    'div',
    { class: 'controls' },
    line.paused ? lineControl('resume', done) : lineControl('pause', done),
    inFlight ? lineControl('promote', done) : null,
    inFlight ? lineControl('abort', done, 'danger') : null,
    line.blocked ? lineControl('unblock', done) : lineControl('block', done, 'danger'),
    h('p', { class: 'muted small' }, 'Each asks for a reason and needs a captain token; everything is recorded in the audit log.'),
  );
}

export function auditList(entries) {
  if (!entries.length) return empty('No actions recorded yet.');
  return table(
    'audit',
    ['when', 'who', 'action', 'target', 'reason'],
    entries.map((e) =>
      h(
        'tr',
        {},
        h('td', { title: clock(e.time) }, ago(e.time)),
        h('td', {}, e.actor),
        h('td', {}, h('b', {}, e.action)),
        h('td', { class: 'mono' }, e.target),
        h('td', {}, e.reason),
      ),
    ),
  );
}
