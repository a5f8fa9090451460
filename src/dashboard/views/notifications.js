// The notification targets at a glance: one line per target, dead letters in red ("slack: 3 failed, last 503").
import { h } from '../dom.js';
import { ago } from '../format.js';
import { card } from './common.js';

export function notificationsCard(status) {
  const targets = status?.targets ?? [];
  if (!targets.length) return null;
  const bad = targets.some((t) => t.dead > 0);
  return card(
    'Notifications',
    { id: 'notifications-card', class: bad ? 'card wide notify-bad' : 'card wide' },
    h(
      'ul',
      { class: 'notify-targets' },
      targets.map((t) =>
        h(
          'li',
          { class: t.dead > 0 ? 'error' : t.pending > 0 ? 'warn' : '', 'data-target': t.target },
          h('b', {}, t.target),
          ` (${t.type}) `,
          t.dead > 0 ? `${t.dead} failed` : t.pending > 0 ? `${t.pending} pending` : 'ok',
          t.lastError && (t.dead > 0 || t.pending > 0) ? `, last ${t.lastError}` : '',
          t.lastErrorAt && (t.dead > 0 || t.pending > 0) ? h('span', { class: 'muted' }, ` · ${ago(t.lastErrorAt)}`) : null,
          h('span', { class: 'muted' }, ` · ${t.delivered} delivered`),
        ),
      ),
    ),
    (status.dead ?? []).length
      ? h(
          'p',
          { class: 'muted' },
          'Dead letters: ',
          h('code', {}, 'immune notify status'),
          ' lists them; ',
          h('code', {}, 'immune notify retry <id>'),
          ' sends one again.',
        )
      : null,
  );
}
