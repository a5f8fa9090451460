// One deploy: the summary table of its gates first (metric × step: verdict, estimate, interval,
// samples, in the API's words), then commits, tests, and each step's charts on demand.
import { get } from '../api.js';
import { barChart, lineChart } from '../charts.js';
import { actionButton } from '../controls.js';
import { h } from '../dom.js';
import { clock, duration, formatChange, formatInterval, formatP, formatValue, shortSha, verdictLabel } from '../format.js';
import { badge, card, commitList, empty, table } from './common.js';

export async function render(app, id) {
  const { deploy: d, events = [], gates = [], summary, tests } = await get(`/api/deploys/${encodeURIComponent(id)}`);
  app.setTitle(`deploy ${d.id}`);
  return h(
    'div',
    { class: 'view deploy-view', 'data-deploy': d.id },
    h(
      'header',
      { class: 'deploy-head' },
      h(
        'h1',
        {},
        'Deploy ',
        h('span', { class: 'mono' }, d.id),
        ' ',
        badge(d.status),
        d.outcome && d.outcome !== d.status ? [' ', badge(d.outcome)] : null,
      ),
      h(
        'p',
        { class: 'muted' },
        `started ${clock(d.createdAt)}`,
        d.finishedAt
          ? ` · finished ${clock(d.finishedAt)} · took ${duration(d.finishedAt - d.createdAt)}`
          : ` · running for ${duration(app.fetchedAt - d.createdAt)}`,
        d.steps ? ` · ${d.steps} rollout steps` : '',
      ),
      d.reason ? h('p', { class: 'reason' }, d.reason) : null,
      d.revertSha ? h('p', {}, 'Reverted by commit ', h('code', { title: d.revertSha }, shortSha(d.revertSha))) : null,
      d.outcome && d.outcome !== 'live'
        ? h(
            'p',
            {},
            actionButton(
              'Retry this deploy',
              {
                title: `Retry ${d.id}`,
                help: 'Its commits go back to the head of the queue and take every stage again (a known-bad tree is held).',
                path: `/api/deploys/${encodeURIComponent(d.id)}/retry`,
              },
              (what) => {
                app.toast(`${what}: queued`);
                app.refresh();
              },
            ),
          )
        : null,
    ),
    card('Evidence', { id: 'summary-card', class: 'card wide' }, summaryTable(summary)),
    card('Commits', { id: 'commits-card' }, commitList(d.commits)),
    card('Tests', { id: 'tests-card' }, testsBlock(tests)),
    card('Rollout gates', { id: 'gates-card', class: 'card wide' }, gatesBlock(gates, d, summary)),
    card('Events', { id: 'events-card', class: 'card wide' }, eventsBlock(events)),
  );
}

function testsBlock(t) {
  if (!t) return empty('No test report (yet).');
  const cases = (title, list, cls) =>
    list?.length
      ? h(
          'div',
          { class: `cases ${cls}` },
          h('h3', {}, `${title} (${list.length})`),
          h(
            'ul',
            {},
            list.map((c) =>
              h(
                'li',
                {},
                h('span', { class: 'mono' }, c.title ?? c.id),
                ' ',
                h('span', { class: 'muted' }, `${c.file ?? ''} · ${duration(c.durationMs)}`),
                c.error ? h('pre', { class: 'test-error' }, c.error) : null,
              ),
            ),
          ),
        )
      : null;
  return h(
    'div',
    { class: 'tests' },
    h(
      'p',
      {},
      badge(t.ok ? 'pass' : 'fail', t.ok ? 'passed' : 'failed'),
      ` ${t.passed} of ${t.total} passed in ${duration(t.durationMs)} on ${t.shards?.length ?? 0} shards`,
    ),
    t.summary ? h('p', { class: 'muted' }, t.summary) : null,
    t.culprit
      ? h(
          'p',
          { class: 'culprit' },
          'Culprit: ',
          h('code', {}, shortSha(t.culprit.sha)),
          ` (found in ${t.culprit.runs} runs, ${duration(t.culprit.durationMs)})`,
        )
      : null,
    t.shards?.length
      ? h(
          'div',
          {},
          h('h3', {}, 'Shards'),
          barChart({
            rows: t.shards.map((sh) => ({
              label: `#${sh.id} ${sh.worker}`,
              value: sh.durationMs,
              cls: sh.ok ? 'good' : 'bad',
              title: `shard ${sh.id} on ${sh.worker}: ${sh.tests} tests, ${duration(sh.durationMs)}, ${sh.ok ? 'ok' : 'failed'}`,
            })),
            format: duration,
            label: 'shard durations',
          }),
        )
      : null,
    cases('Failed', t.failed, 'failed'),
    cases('Flaky (passed on re-run)', t.flaky, 'flaky'),
    cases('Slowest', t.slowest, 'slowest'),
  );
}

/**
 * The deploy's summary: one row per metric, one column per step (the watch last), each cell the
 * verdict, estimate, interval and samples at the step's last look, in the API's words.
 */
function summaryTable(summary) {
  if (!summary || !summary.steps?.length) return empty('No gate has looked yet.');
  const cell = new Map(summary.rows.map((r) => [`${r.step}\u0000${r.metric}`, r]));
  return h(
    'div',
    { class: 'summary-wrap' },
    table(
      'summary',
      [
        h('th', { scope: 'col' }, 'metric'),
        summary.steps.map((st) =>
          h(
            'th',
            { scope: 'col', 'data-step': st.step, title: st.explanation },
            h('span', { class: 'step-name' }, st.name),
            ' ',
            badge(st.decision),
            h('div', { class: 'muted small' }, `after ${duration(st.elapsedMs)}, ${st.looks} look${st.looks === 1 ? '' : 's'}`),
          ),
        ),
      ],
      summary.metrics.map((name) =>
        h(
          'tr',
          { 'data-metric': name },
          h('th', { scope: 'row' }, name),
          summary.steps.map((st) => {
            const r = cell.get(`${st.step}\u0000${name}`);
            if (!r) return h('td', { class: 'none', 'data-step': st.step, 'data-metric': name }, h('span', { class: 'muted' }, '—'));
            return h(
              'td',
              { class: `cell ${r.label.replace(/ /g, '-')}`, 'data-step': st.step, 'data-metric': name, title: r.explanation },
              h('div', { class: 'verdict' }, badge(r.label)),
              h('div', { class: 'estimate' }, r.estimate || 'no data'),
              h('div', { class: 'interval muted' }, r.interval),
              h('div', { class: 'samples muted small' }, r.samples),
            );
          }),
        ),
      ),
    ),
    h(
      'p',
      { class: 'muted small' },
      "Each cell: the verdict, the estimate (change, and the levels baseline → canary), its interval, and the samples (server-intervals) at the step's last look. Hover for the full sentence.",
    ),
  );
}

function gatesBlock(gates, d, summary) {
  if (!gates.length) return empty('No gate has looked yet.');
  const bySteps = new Map();
  for (const g of gates) {
    if (!bySteps.has(g.step)) bySteps.set(g.step, []);
    bySteps.get(g.step).push(g);
  }
  const order = [...bySteps.keys()].sort((a, b) => (a < 0 ? 1e9 : a) - (b < 0 ? 1e9 : b));
  const names = new Map((summary?.steps ?? []).map((st) => [st.step, st.name]));
  const labels = new Map((summary?.rows ?? []).map((r) => [`${r.step}\u0000${r.metric}`, r]));
  return h(
    'div',
    { class: 'gates' },
    order.map((step) => {
      const looks = bySteps
        .get(step)
        .slice()
        .sort((a, b) => a.elapsedMs - b.elapsedMs);
      const last = looks[looks.length - 1];
      const metricNames = [...new Set(looks.flatMap((l) => (l.metrics ?? []).map((m) => m.name)))];
      // Charts on demand: a deploy's page opens on the summary, each step's charts fold out.
      return h(
        'details',
        // A failed step opens at once: its charts are the evidence a captain came for.
        { class: `gate-step ${last.decision}`, 'data-step': step, open: last.decision === 'fail' },
        h(
          'summary',
          {},
          h(
            'h3',
            {},
            names.get(step) ?? (step < 0 ? 'watch' : `step ${step + 1}`),
            ' ',
            badge(last.decision),
            h('span', { class: 'muted' }, ` after ${duration(last.elapsedMs)}, ${looks.length} looks, ${metricNames.length} charts`),
          ),
        ),
        h('p', { class: 'explanation' }, last.explanation),
        h(
          'div',
          { class: 'metrics' },
          metricNames.map((name) => metricPanel(name, looks, labels.get(`${step}\u0000${name}`))),
        ),
      );
    }),
  );
}

const noData = (m) => verdictLabel({ verdict: 'pass', samples: m?.samples }) === 'no data';

function metricPanel(name, looks, row) {
  const series = looks.map((l) => ({ t: l.elapsedMs / 1000, m: (l.metrics ?? []).find((x) => x.name === name) })).filter((x) => x.m);
  const last = series[series.length - 1].m;
  const label = row?.label ?? verdictLabel(last);
  const unit = { kind: last.kind, unit: last.unit, intervalMs: last.intervalMs, exposure: last.exposure };
  const withData = series.filter((x) => !noData(x.m));
  const hasEstimates = !last.trend && withData.some((x) => Number.isFinite(x.m.baselineEstimate) && Number.isFinite(x.m.canaryEstimate));
  const xFormat = (s) => duration(s * 1000);
  const chart = !withData.length
    ? h('p', { class: 'no-data' }, 'no data: no samples on ', last.samples?.canary > 0 ? 'the baseline' : 'the canary', ' yet')
    : hasEstimates
      ? lineChart({
          series: [
            { name: 'baseline', cls: 'baseline', points: withData.map((x) => [x.t, x.m.baselineEstimate]) },
            { name: 'canary', cls: 'canary', points: withData.map((x) => [x.t, x.m.canaryEstimate]) },
          ],
          // The effect's interval, put on the metric's scale: where the canary may truly sit relative to the baseline.
          band: {
            name: 'confidence band of the effect, on the baseline',
            cls: label,
            points: withData.map((x) => [x.t, x.m.baselineEstimate * (1 + x.m.ci[0]), x.m.baselineEstimate * (1 + x.m.ci[1])]),
          },
          xFormat,
          yFormat: (v) => formatValue(v, unit),
          label: `${name}: canary vs baseline`,
        })
      : lineChart({
          series: [{ name: last.trend ? 'projected drift' : 'effect', cls: 'canary', points: withData.map((x) => [x.t, x.m.effect]) }],
          band: { name: 'confidence interval', cls: label, points: withData.map((x) => [x.t, x.m.ci[0], x.m.ci[1]]) },
          xFormat,
          yFormat: (v) => formatChange(v),
          zero: true,
          label: `${name}: ${last.trend ? 'projected drift' : 'effect'} with its interval`,
        });
  const caption = noData(last)
    ? `no data (n=${last.samples?.canary ?? 0}/${last.samples?.baseline ?? 0})`
    : `${row?.estimate ?? formatChange(last.effect)}, CI ${row?.interval ?? formatInterval(last.ci?.[0], last.ci?.[1])}, ${formatP(last.pValue)}, n=${last.samples.canary}/${last.samples.baseline}`;
  return h(
    'figure',
    { class: `metric ${label.replace(/ /g, '-')}`, 'data-metric': name },
    h('figcaption', {}, h('b', {}, name), ' ', badge(label), h('span', { class: 'muted' }, ` ${caption}`)),
    chart,
    withData.length
      ? h(
          'p',
          { class: 'legend' },
          hasEstimates
            ? [
                h('span', { class: 'key baseline' }, 'baseline'),
                h('span', { class: 'key canary' }, 'canary'),
                h('span', { class: `key band ${label}` }, 'confidence band'),
              ]
            : [
                h('span', { class: 'key canary' }, last.trend ? 'projected drift' : 'effect'),
                h('span', { class: `key band ${label}` }, 'interval'),
              ],
        )
      : null,
    h('p', { class: 'explanation' }, row?.explanation ?? last.explanation),
  );
}

function eventsBlock(events) {
  if (!events.length) return empty('No events.');
  return h(
    'ol',
    { class: 'events' },
    events.map((e) =>
      h('li', {}, h('span', { class: 'muted' }, clock(e.time)), ' ', badge(e.status), ' ', h('b', {}, e.type), eventNote(e.data)),
    ),
  );
}

/** One line from an event's data: its message, explanation or reason, whichever it has. */
function eventNote(data) {
  if (!data || typeof data !== 'object') return '';
  const r = data.result && typeof data.result === 'object' ? data.result : {};
  const text =
    data.message ?? r.explanation ?? data.explanation ?? data.reason ?? (data.sha ? `commit ${String(data.sha).slice(0, 8)}` : '');
  return text ? ` — ${text}` : '';
}
