// One deploy: commits and authors, tests, and every rollout step's gate with a chart per metric.
import { get } from '../api.js';
import { barChart, lineChart } from '../charts.js';
import { h } from '../dom.js';
import { clock, duration, num, pct, pValue, shortSha } from '../format.js';
import { badge, card, commitList, empty } from './common.js';

export async function render(app, id) {
  const { deploy: d, events = [], gates = [], tests } = await get(`/api/deploys/${encodeURIComponent(id)}`);
  app.setTitle(`deploy ${d.id}`);
  return h(
    'div',
    { class: 'view deploy-view', 'data-deploy': d.id },
    h(
      'header',
      { class: 'deploy-head' },
      h('h1', {}, 'Deploy ', h('span', { class: 'mono' }, d.id), ' ', badge(d.status), d.outcome && d.outcome !== d.status ? [' ', badge(d.outcome)] : null),
      h(
        'p',
        { class: 'muted' },
        `started ${clock(d.createdAt)}`,
        d.finishedAt ? ` · finished ${clock(d.finishedAt)} · took ${duration(d.finishedAt - d.createdAt)}` : ` · running for ${duration(app.fetchedAt - d.createdAt)}`,
        d.steps ? ` · ${d.steps} rollout steps` : '',
      ),
      d.reason ? h('p', { class: 'reason' }, d.reason) : null,
      d.revertSha ? h('p', {}, 'Reverted by commit ', h('code', { title: d.revertSha }, shortSha(d.revertSha))) : null,
    ),
    card('Commits', { id: 'commits-card' }, commitList(d.commits)),
    card('Tests', { id: 'tests-card' }, testsBlock(tests)),
    card('Rollout gates', { id: 'gates-card', class: 'card wide' }, gatesBlock(gates, d)),
    card('Events', { id: 'events-card', class: 'card wide' }, eventsBlock(events)),
  );
}

function testsBlock(t) {
  if (!t) return empty('No test report (yet).');
  const cases = (title, list, cls) =>
    list?.length
      ? h('div', { class: `cases ${cls}` }, h('h3', {}, `${title} (${list.length})`), h('ul', {}, list.map((c) => h('li', {}, h('span', { class: 'mono' }, c.title ?? c.id), ' ', h('span', { class: 'muted' }, `${c.file ?? ''} · ${duration(c.durationMs)}`), c.error ? h('pre', { class: 'test-error' }, c.error) : null))))
      : null;
  return h(
    'div',
    { class: 'tests' },
    h('p', {}, badge(t.ok ? 'pass' : 'fail', t.ok ? 'passed' : 'failed'), ` ${t.passed} of ${t.total} passed in ${duration(t.durationMs)} on ${t.shards?.length ?? 0} shards`),
    t.summary ? h('p', { class: 'muted' }, t.summary) : null,
    t.culprit ? h('p', { class: 'culprit' }, 'Culprit: ', h('code', {}, shortSha(t.culprit.sha)), ` (found in ${t.culprit.runs} runs, ${duration(t.culprit.durationMs)})`) : null,
    t.shards?.length
      ? h('div', {}, h('h3', {}, 'Shards'), barChart({ rows: t.shards.map((sh) => ({ label: `#${sh.id} ${sh.worker}`, value: sh.durationMs, cls: sh.ok ? 'good' : 'bad', title: `shard ${sh.id} on ${sh.worker}: ${sh.tests} tests, ${duration(sh.durationMs)}, ${sh.ok ? 'ok' : 'failed'}` })), format: duration, label: 'shard durations' }))
      : null,
    cases('Failed', t.failed, 'failed'),
    cases('Flaky (passed on re-run)', t.flaky, 'flaky'),
    cases('Slowest', t.slowest, 'slowest'),
  );
}

const stepName = (step, d) => (step < 0 ? 'Watch (whole fleet vs before)' : `Step ${step + 1}${d.steps ? ` of ${d.steps}` : ''}`);

function gatesBlock(gates, d) {
  if (!gates.length) return empty('No gate has looked yet.');
  const bySteps = new Map();
  for (const g of gates) {
    if (!bySteps.has(g.step)) bySteps.set(g.step, []);
    bySteps.get(g.step).push(g);
  }
  const order = [...bySteps.keys()].sort((a, b) => (a < 0 ? 1e9 : a) - (b < 0 ? 1e9 : b));
  return h(
    'div',
    { class: 'gates' },
    order.map((step) => {
      const looks = bySteps.get(step).slice().sort((a, b) => a.elapsedMs - b.elapsedMs);
      const last = looks[looks.length - 1];
      const names = [...new Set(looks.flatMap((l) => (l.metrics ?? []).map((m) => m.name)))];
      return h(
        'section',
        { class: `gate-step ${last.decision}`, 'data-step': step },
        h('h3', {}, stepName(step, d), ' ', badge(last.decision), h('span', { class: 'muted' }, ` after ${duration(last.elapsedMs)}, ${looks.length} looks`)),
        h('p', { class: 'explanation' }, last.explanation),
        h('div', { class: 'metrics' }, names.map((name) => metricPanel(name, looks))),
      );
    }),
  );
}

function metricPanel(name, looks) {
  const series = looks.map((l) => ({ t: l.elapsedMs / 1000, m: (l.metrics ?? []).find((x) => x.name === name) })).filter((x) => x.m);
  const last = series[series.length - 1].m;
  const hasEstimates = series.some((x) => Number.isFinite(x.m.baselineEstimate) && Number.isFinite(x.m.canaryEstimate));
  const xFormat = (s) => duration(s * 1000);
  const chart = hasEstimates
    ? lineChart({
        series: [
          { name: 'baseline', cls: 'baseline', points: series.map((x) => [x.t, x.m.baselineEstimate]) },
          { name: 'canary', cls: 'canary', points: series.map((x) => [x.t, x.m.canaryEstimate]) },
        ],
        // The effect's interval, put on the metric's scale: where the canary may truly sit relative to the baseline.
        band: { name: 'confidence band of the effect, on the baseline', cls: last.verdict, points: series.map((x) => [x.t, x.m.baselineEstimate * (1 + x.m.ci[0]), x.m.baselineEstimate * (1 + x.m.ci[1])]) },
        xFormat,
        yFormat: (v) => num(v, 3),
        label: `${name}: canary vs baseline`,
      })
    : lineChart({
        series: [{ name: 'effect', cls: 'canary', points: series.map((x) => [x.t, x.m.effect]) }],
        band: { name: 'confidence interval', cls: last.verdict, points: series.map((x) => [x.t, x.m.ci[0], x.m.ci[1]]) },
        xFormat,
        yFormat: (v) => pct(v, 0),
        label: `${name}: effect with its interval`,
      });
  return h(
    'figure',
    { class: `metric ${last.verdict}`, 'data-metric': name },
    h('figcaption', {}, h('b', {}, name), ' ', badge(last.verdict), h('span', { class: 'muted' }, ` ${pct(last.effect)} (CI ${pct(last.ci?.[0])}..${pct(last.ci?.[1])}), ${pValue(last.pValue)}, n=${last.samples?.canary ?? '?'}/${last.samples?.baseline ?? '?'}`)),
    chart,
    h('p', { class: 'legend' }, hasEstimates ? [h('span', { class: 'key baseline' }, 'baseline'), h('span', { class: 'key canary' }, 'canary'), h('span', { class: `key band ${last.verdict}` }, 'confidence band')] : [h('span', { class: 'key canary' }, 'effect'), h('span', { class: `key band ${last.verdict}` }, 'interval')]),
    h('p', { class: 'explanation' }, last.explanation),
  );
}

function eventsBlock(events) {
  if (!events.length) return empty('No events.');
  return h(
    'ol',
    { class: 'events' },
    events.map((e) => h('li', {}, h('span', { class: 'muted' }, clock(e.time)), ' ', badge(e.status), ' ', h('b', {}, e.type), eventNote(e.data))),
  );
}

/** One line from an event's data: its message, explanation or reason, whichever it has. */
function eventNote(data) {
  if (!data || typeof data !== 'object') return '';
  const r = data.result && typeof data.result === 'object' ? data.result : {};
  const text = data.message ?? r.explanation ?? data.explanation ?? data.reason ?? (data.sha ? `commit ${String(data.sha).slice(0, 8)}` : '');
  return text ? ` — ${text}` : '';
}
