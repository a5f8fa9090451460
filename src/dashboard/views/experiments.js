// Experiments: start and duration, branches, participants, converted/users and lift with its interval
// per goal, the cumulative lift over time, SRM with its counts, what fed the readout, the decision;
// guarded flag rollouts; close with a branch.
import { get } from '../api.js';
import { intervalChart, lineChart } from '../charts.js';
import { ask } from '../controls.js';
import { h } from '../dom.js';
import { clock, duration, num, pct, pValue } from '../format.js';
import { badge, card, empty, errorBox, table } from './common.js';

/** A rate readable however small: 12.34%, 0.42%, 0.0042%. */
export function rate(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  if (x === 0) return '0%';
  const p = x * 100;
  return p >= 1 ? `${p.toFixed(2)}%` : `${p.toPrecision(2)}%`;
}

export async function render(app) {
  const [{ experiments = [], flags = [], errors = [] }, guarded] = await Promise.all([
    get('/api/experiments'),
    get('/api/flags').catch(() => ({ flags: [] })),
  ]);
  const results = await Promise.all(
    experiments.map((e) => get(`/api/experiments/${encodeURIComponent(e.name)}/results`).catch((err) => ({ error: err }))),
  );
  return h(
    'div',
    { class: 'view experiments-view' },
    errors.length
      ? h(
          'div',
          { class: 'error-box', id: 'experiment-errors', role: 'alert' },
          h('b', {}, 'Experiment files with errors (not served):'),
          h(
            'ul',
            {},
            errors.map((e) => h('li', { class: 'mono' }, e)),
          ),
        )
      : null,
    experiments.length
      ? experiments.map((e, i) => experimentCard(e, results[i], app))
      : empty('No experiments. Add one under experiments/*.yaml.'),
    guarded.flags?.length ? guardedCard(guarded.flags) : null,
    flags.length
      ? card(
          `Feature flags (${flags.length})`,
          { id: 'flags-card', class: 'card wide' },
          h(
            'ul',
            {},
            flags.map((f) =>
              h(
                'li',
                {},
                h('b', {}, f.name),
                ' ',
                badge(f.enabled ? 'live' : 'aborted', f.enabled ? 'on' : 'off'),
                Number.isFinite(f.rollout) ? ` rollout ${pct(f.rollout, 0, false)}` : '',
                h('span', { class: 'muted' }, ` ${f.file ?? ''}`),
              ),
            ),
          ),
        )
      : null,
  );
}

/** Branch names from the definition or the readout, control first. */
function branchNames(e, r) {
  if (r?.branches?.length) return r.branches.map((b) => b.name);
  if (Array.isArray(e.branches)) return e.branches.map((b) => (typeof b === 'string' ? b : b.name));
  return [e.control ?? 'control', ...Object.keys(e.branches ?? {})];
}

const decisionTone = (d) => (d === 'desired result' ? 'pass' : d === 'undesired result' || d === 'invalid' ? 'fail' : 'inconclusive');

function experimentCard(e, r, app) {
  const state = e.state ?? e.status ?? 'running';
  const closed = e.closing ?? (state === 'closed' ? {} : null);
  const readout = r && !r.error ? (r.readout ?? r) : null;
  const names = branchNames(e, readout);
  return card(
    null,
    { class: 'card wide experiment', 'data-experiment': e.name },
    h(
      'h2',
      {},
      e.name,
      ' ',
      closed ? badge('live', `closed → ${closed.branch ?? '?'}`) : badge(state === 'running' ? 'baking' : 'aborted', state),
    ),
    e.description ? h('p', { class: 'muted' }, e.description) : null,
    closed?.branch
      ? h(
          'p',
          { class: 'small' },
          `Closed by ${closed.actor ?? '?'}${closed.time ? ` at ${clock(closed.time)}` : ''}: ${closed.reason ?? ''}`,
        )
      : null,
    r?.error ? errorBox(r.error) : readout ? readoutBlock(readout) : empty('No readout yet.'),
    closed
      ? null
      : h(
          'p',
          {},
          h(
            'button',
            { type: 'button', class: 'control', 'data-close': e.name, onclick: () => closeDialog(e, names, app) },
            'Close experiment…',
          ),
        ),
  );
}

function readoutBlock(r) {
  const srm = r.srm ?? {};
  const branches = r.branches ?? [];
  const goals = [...new Set(branches.flatMap((b) => (b.metrics ?? []).map((m) => `${m.kind ?? 'goal'}:${m.name}`)))];
  return h(
    'div',
    { class: 'readout' },
    h(
      'p',
      { class: 'decision' },
      badge(decisionTone(r.decision), r.decision ?? 'no decision'),
      r.winner ? h('b', {}, ` winner: ${r.winner}`) : null,
      ' ',
      h(
        'span',
        { class: 'muted' },
        `${r.participants ?? 0} participants${r.excluded ? `, ${r.excluded} excluded (saw two branches)` : ''}${r.phase ? `, phase ${r.phase}` : ''}`,
      ),
    ),
    r.summary ? h('p', { class: 'summary' }, r.summary) : null,
    r.startedAt
      ? h(
          'p',
          { class: 'small', 'data-started': r.startedAt },
          `Started ${clock(r.startedAt)}; ${r.endedAt ? 'ran' : 'running for'} ${duration(r.durationMs)}.`,
        )
      : null,
    h(
      'ul',
      { class: 'srm small' },
      (r.srmChecks ?? [srm]).map((c) =>
        h(
          'li',
          {
            class: c.mismatch ? 'bad' : c.pValue === null || c.pValue === undefined ? 'muted' : 'good',
            'data-srm': c.mismatch ? 'mismatch' : c.pValue === null || c.pValue === undefined ? 'not tested' : 'ok',
          },
          c.summary ?? (c.mismatch ? `Sample ratio mismatch (${pValue(c.pValue)})` : `Sample ratio ${pValue(c.pValue)}`),
        ),
      ),
    ),
    r.sources ? h('p', { class: 'small muted', 'data-sources': '' }, sourcesLine(r.sources)) : null,
    table(
      'branches',
      ['branch', 'weight', 'participants', 'share', 'decision'],
      branches.map((b) =>
        h(
          'tr',
          {},
          h('td', {}, h('b', {}, b.name), b.control ? h('span', { class: 'muted' }, ' (control)') : null),
          h('td', {}, Number.isFinite(b.weight) ? pct(b.weight / 1000, 1, false) : '—'),
          h('td', {}, num(b.participants, 6)),
          h('td', {}, pct(b.share, 1, false)),
          h('td', {}, b.decision ? badge(decisionTone(b.decision), b.decision) : ''),
        ),
      ),
    ),
    h(
      'div',
      { class: 'lifts' },
      goals.map((key) => {
        const [kind, name] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
        const rows = branches
          .filter((b) => !b.control)
          .map((b) => ({ b, m: (b.metrics ?? []).find((m) => m.name === name && (m.kind ?? 'goal') === kind) }))
          .filter((x) => x.m)
          .map(({ b, m }) => ({
            label: b.name,
            est: m.lift,
            lo: m.ci?.[0],
            hi: Number.isFinite(m.ci?.[1]) ? m.ci[1] : undefined,
            cls: m.outcome === 'better' ? 'pass' : m.outcome === 'worse' ? 'fail' : 'inconclusive',
            m,
          }));
        if (!rows.length) return null;
        return h(
          'figure',
          { class: 'metric', 'data-goal': name },
          h('figcaption', {}, h('b', {}, name), h('span', { class: 'muted' }, ` ${kind}: lift vs control with its interval`)),
          rows.some((x) => Number.isFinite(x.est))
            ? intervalChart({ rows, format: (v) => pct(v, 0), label: `${name} lift` })
            : h('p', { class: 'muted small' }, 'Not enough data for a lift yet.'),
          h(
            'ul',
            { class: 'small' },
            rows.map((x) =>
              h(
                'li',
                {},
                `${x.label}: ${pct(x.m.lift)} (${pct(x.m.ci?.[0])}..${pct(x.m.ci?.[1])}), ${pValue(x.m.adjustedP ?? x.m.pValue)}, ${counts(x.m)} vs control ${counts(controlMetric(branches, name, kind))} → ${x.m.outcome ?? ''}`,
              ),
            ),
          ),
          historyChart(r, name),
        );
      }),
    ),
  );
}

function closeDialog(e, names, app) {
  const select = h(
    'select',
    { id: 'close-branch', required: true },
    names.map((n) => h('option', { value: n }, n)),
  );
  ask({
    title: `Close experiment ${e.name}`,
    help: 'Everyone gets the chosen branch from now on. Needs a token with role engineer or higher.',
    path: `/api/experiments/${encodeURIComponent(e.name)}/close`,
    extra: h('label', {}, 'Branch for everyone ', select),
    fields: () => ({ branch: select.value }),
    done: () => {
      app.toast(`${e.name} closed`);
      app.refresh();
    },
  });
}

const counts = (m) => (m ? `${num(m.converted, 6)}/${num(m.participants, 6)} = ${rate(m.rate)}` : '—');

function controlMetric(branches, name, kind) {
  return (branches.find((b) => b.control)?.metrics ?? []).find((m) => m.name === name && (m.kind ?? 'goal') === kind);
}

function sourcesLine(src) {
  const list = (o) =>
    Object.entries(o ?? {})
      .map(([k, n]) => `${k} ${num(n, 6)}`)
      .join(', ') || 'none';
  const evals = Object.entries(src.evaluations ?? {}).map(([k, e]) => `; SDK evaluations (${k}): ${list(e)}`);
  return `Fed by exposures from ${list(src.exposures)}; conversions from ${list(src.conversions)}${evals.join('')}.`;
}

/** The cumulative lift of each branch on one metric over the phase, with its interval as a band. */
function historyChart(r, metric) {
  const points = (r.history ?? []).filter((p) => p.lifts?.some((l) => l.metric === metric && Number.isFinite(l.lift)));
  if (points.length < 2) return null;
  const names = [...new Set(points.flatMap((p) => p.lifts.filter((l) => l.metric === metric).map((l) => l.branch)))];
  const at = (p, b) => p.lifts.find((l) => l.metric === metric && l.branch === b);
  const span = points[points.length - 1].time - r.startedAt;
  const [unit, ms] = span > 3 * 86_400_000 ? ['d', 86_400_000] : span > 3 * 3_600_000 ? ['h', 3_600_000] : ['m', 60_000];
  const x = (p) => (p.time - r.startedAt) / ms;
  const series = names.map((b, i) => ({ name: `${b} lift`, cls: `s${i}`, points: points.map((p) => [x(p), at(p, b)?.lift ?? NaN]) }));
  const first = names[0];
  const band = {
    name: `${first} interval`,
    cls: 's0',
    points: points.map((p) => [x(p), at(p, first)?.ci?.[0] ?? NaN, at(p, first)?.ci?.[1] ?? NaN]),
  };
  return h(
    'div',
    { class: 'history', 'data-history': metric },
    h('p', { class: 'small muted' }, `${metric}: cumulative lift since the start, ${first}'s interval shaded`),
    lineChart({
      series,
      band,
      zero: true,
      xFormat: (v) => `${+v.toFixed(1)}${unit}`,
      yFormat: (v) => pct(v, 0),
      label: `${metric} lift over time`,
    }),
  );
}

function guardedCard(flags) {
  const status = (f) =>
    !f.enabled
      ? 'off (kill switch)'
      : f.status === 'off'
        ? 'OFF, blocked'
        : f.status === 'held'
          ? `held at ${pct(f.served, 0, false)}`
          : f.status === 'complete'
            ? `complete at ${pct(f.served, 0, false)}`
            : `step ${f.step + 1}/${f.steps.length} at ${pct(f.served, 0, false)}`;
  const tone = (f) => (f.status === 'off' ? 'fail' : f.status === 'held' ? 'inconclusive' : f.status === 'complete' ? 'pass' : 'baking');
  return card(
    `Guarded rollouts (${flags.length})`,
    { id: 'guarded-card', class: 'card wide' },
    h(
      'ul',
      {},
      flags.map((f) =>
        h(
          'li',
          { 'data-flag': f.name },
          h('b', {}, f.name),
          ' ',
          badge(tone(f), status(f)),
          h('span', { class: 'muted' }, ` ${f.steps.map((x) => pct(x, 0, false)).join(' → ')}${f.owner ? `, owner ${f.owner}` : ''}`),
          f.reason || f.gate ? h('div', { class: 'small' }, f.reason ?? f.gate.explanation) : null,
          f.blocked ? h('div', { class: 'small muted' }, `Waiting for a person: immune flags unblock ${f.name} --reason "..."`) : null,
        ),
      ),
    ),
  );
}
