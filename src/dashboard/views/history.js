// History: deploys with outcomes and durations, DORA figures over a chosen period, and the audit log.
import { get } from '../api.js';
import { h, s } from '../dom.js';
import { clock, duration, pct, tone, words } from '../format.js';
import { badge, card, deployLink, empty, table } from './common.js';
import { auditList } from './line.js';

export const PERIODS = [1, 7, 30, 90];

export async function render(app, _id, query) {
  const days = PERIODS.includes(Number(query.get('days'))) ? Number(query.get('days')) : 7;
  const [dora, list, audit] = await Promise.all([
    get(`/api/dora?days=${days}`),
    get('/api/deploys?limit=100'),
    get('/api/audit?limit=50').catch(() => ({ entries: [] })),
  ]);
  const since = app.fetchedAt - days * 86_400_000;
  const deploys = list.deploys.filter((d) => d.createdAt >= since);
  return h(
    'div',
    { class: 'view history-view' },
    h(
      'div',
      { class: 'period' },
      'Period: ',
      PERIODS.map((p) =>
        h('a', { href: `#/history?days=${p}`, class: p === days ? 'chip on' : 'chip', 'data-days': p }, p === 1 ? '1 day' : `${p} days`),
      ),
    ),
    h('div', { class: 'dora', id: 'dora' }, doraCards(dora)),
    card(
      `Deploys in the last ${days === 1 ? 'day' : `${days} days`} (${deploys.length})`,
      { id: 'deploys-card', class: 'card wide' },
      deploys.length ? [outcomeStrip(deploys), deployTable(deploys)] : empty('No deploys in this period.'),
    ),
    card('Audit log', { id: 'history-audit', class: 'card wide' }, auditList(audit.entries)),
  );
}

function doraCards(d) {
  const fig = (name, value, note) =>
    h(
      'div',
      { class: 'figure', 'data-figure': name },
      h('div', { class: 'value' }, value),
      h('div', { class: 'name' }, name),
      note ? h('div', { class: 'muted small' }, note) : null,
    );
  return [
    fig(
      'Deploy frequency',
      `${(d.deployFrequencyPerDay ?? 0).toFixed(d.deployFrequencyPerDay >= 10 ? 0 : 1)}/day`,
      `${d.live ?? d.deploys} live of ${d.deploys} deploys in ${d.days} day${d.days === 1 ? '' : 's'}`,
    ),
    fig('Lead time for changes', duration(d.leadTimeMs ?? d.medianLeadTimeMs), 'commit to live'),
    fig(
      'Change failure rate',
      d.changeFailureRate === null || d.changeFailureRate === undefined ? '—' : pct(d.changeFailureRate, 0, false),
      'deploys rolled back or reverted',
    ),
    fig('Time to restore', duration(d.timeToRestoreMs ?? d.medianTimeToRestoreMs), 'failure to healthy line'),
  ];
}

/** One column per deploy, oldest left: height = duration, colour = outcome. */
function outcomeStrip(deploys) {
  const rows = deploys.slice().reverse();
  const W = 720;
  const H = 70;
  const bw = Math.max(3, Math.min(18, W / rows.length - 2));
  const max = Math.max(1, ...rows.map((d) => (d.finishedAt ?? d.updatedAt) - d.createdAt));
  return s(
    'svg',
    { class: 'chart strip', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': 'deploy outcomes and durations' },
    rows.map((d, i) => {
      const ms = (d.finishedAt ?? d.updatedAt) - d.createdAt;
      const bh = Math.max(3, ((H - 6) * ms) / max);
      const o = d.outcome ?? d.status;
      return s(
        'a',
        { href: `#/deploys/${encodeURIComponent(d.id)}` },
        s(
          'rect',
          { class: `bar ${tone(o)}`, x: i * (bw + 2), y: H - bh, width: bw, height: bh, rx: 1 },
          s('title', {}, `${d.id}: ${words(o)}, ${duration(ms)}`),
        ),
      );
    }),
  );
}

function deployTable(deploys) {
  return table(
    'deploys',
    ['deploy', 'started', 'commits', 'outcome', 'duration'],
    deploys.map((d) =>
      h(
        'tr',
        { 'data-deploy': d.id },
        h('td', {}, deployLink(d.id)),
        h('td', {}, clock(d.createdAt)),
        h(
          'td',
          {},
          (d.commits ?? []).map((c) => h('div', { class: 'small' }, `${c.subject} — ${c.author}`)),
        ),
        h('td', {}, badge(d.outcome ?? d.status), d.reason ? h('div', { class: 'muted small' }, d.reason) : null),
        h('td', {}, d.finishedAt ? duration(d.finishedAt - d.createdAt) : h('span', { class: 'muted' }, 'running')),
      ),
    ),
  );
}
