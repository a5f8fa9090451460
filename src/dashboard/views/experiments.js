// Experiments: branches, participants, lift with its interval per goal, SRM status, decision; close with a branch.
import { get } from '../api.js';
import { intervalChart } from '../charts.js';
import { ask } from '../controls.js';
import { h } from '../dom.js';
import { clock, num, pct, pValue } from '../format.js';
import { badge, card, empty, errorBox } from './common.js';

export async function render(app) {
  const { experiments = [], flags = [], errors = [] } = await get('/api/experiments');
  const results = await Promise.all(experiments.map((e) => get(`/api/experiments/${encodeURIComponent(e.name)}/results`).catch((err) => ({ error: err }))));
  return h(
    'div',
    { class: 'view experiments-view' },
    errors.length ? h('div', { class: 'error-box', id: 'experiment-errors', role: 'alert' }, h('b', {}, 'Experiment files with errors (not served):'), h('ul', {}, errors.map((e) => h('li', { class: 'mono' }, e)))) : null,
    experiments.length ? experiments.map((e, i) => experimentCard(e, results[i], app)) : empty('No experiments. Add one under experiments/*.yaml.'),
    flags.length
      ? card(`Feature flags (${flags.length})`, { id: 'flags-card', class: 'card wide' }, h('ul', {}, flags.map((f) => h('li', {}, h('b', {}, f.name), ' ', badge(f.enabled ? 'live' : 'aborted', f.enabled ? 'on' : 'off'), Number.isFinite(f.rollout) ? ` rollout ${pct(f.rollout, 0, false)}` : '', h('span', { class: 'muted' }, ` ${f.file ?? ''}`)))))
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
    h('h2', {}, e.name, ' ', closed ? badge('live', `closed → ${closed.branch ?? '?'}`) : badge(state === 'running' ? 'baking' : 'aborted', state)),
    e.description ? h('p', { class: 'muted' }, e.description) : null,
    closed?.branch ? h('p', { class: 'small' }, `Closed by ${closed.actor ?? '?'}${closed.time ? ` at ${clock(closed.time)}` : ''}: ${closed.reason ?? ''}`) : null,
    r?.error ? errorBox(r.error) : readout ? readoutBlock(readout) : empty('No readout yet.'),
    closed ? null : h('p', {}, h('button', { type: 'button', class: 'control', 'data-close': e.name, onclick: () => closeDialog(e, names, app) }, 'Close experiment…')),
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
      h('span', { class: 'muted' }, `${r.participants ?? 0} participants${r.excluded ? `, ${r.excluded} excluded (saw two branches)` : ''}${r.phase ? `, phase ${r.phase}` : ''}`),
    ),
    r.summary ? h('p', { class: 'summary' }, r.summary) : null,
    h('p', { class: `srm ${srm.mismatch ? 'bad' : 'good'}`, 'data-srm': srm.mismatch ? 'mismatch' : 'ok' }, srm.mismatch ? `Sample ratio mismatch (${pValue(srm.pValue)}): assignment is broken, the readout is invalid.` : `Sample ratio OK (${pValue(srm.pValue)}).`),
    h(
      'table',
      { class: 'branches' },
      h('thead', {}, h('tr', {}, h('th', {}, 'branch'), h('th', {}, 'weight'), h('th', {}, 'participants'), h('th', {}, 'share'), h('th', {}, 'decision'))),
      h(
        'tbody',
        {},
        branches.map((b) =>
          h('tr', {}, h('td', {}, h('b', {}, b.name), b.control ? h('span', { class: 'muted' }, ' (control)') : null), h('td', {}, Number.isFinite(b.weight) ? pct(b.weight / 1000, 1, false) : '—'), h('td', {}, num(b.participants, 6)), h('td', {}, pct(b.share, 1, false)), h('td', {}, b.decision ? badge(decisionTone(b.decision), b.decision) : '')),
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
          .map(({ b, m }) => ({ label: b.name, est: m.lift, lo: m.ci?.[0], hi: Number.isFinite(m.ci?.[1]) ? m.ci[1] : undefined, cls: m.outcome === 'better' ? 'pass' : m.outcome === 'worse' ? 'fail' : 'inconclusive', m }));
        if (!rows.length) return null;
        return h(
          'figure',
          { class: 'metric', 'data-goal': name },
          h('figcaption', {}, h('b', {}, name), h('span', { class: 'muted' }, ` ${kind}: lift vs control with its interval`)),
          rows.some((x) => Number.isFinite(x.est))
            ? intervalChart({ rows, format: (v) => pct(v, 0), label: `${name} lift` })
            : h('p', { class: 'muted small' }, 'Not enough data for a lift yet.'),
          h('ul', { class: 'small' }, rows.map((x) => h('li', {}, `${x.label}: ${pct(x.m.lift)} (${pct(x.m.ci?.[0])}..${pct(x.m.ci?.[1])}), ${pValue(x.m.adjustedP ?? x.m.pValue)}, rate ${pct(x.m.rate, 2, false)} vs ${pct(x.m.controlRate, 2, false)} → ${x.m.outcome ?? ''}`))),
        );
      }),
    ),
  );
}

function closeDialog(e, names, app) {
  const select = h('select', { id: 'close-branch', required: true }, names.map((n) => h('option', { value: n }, n)));
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
