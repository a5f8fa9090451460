// Pieces several views share: status badges, commit lines, cards.
import { h } from '../dom.js';
import { ago, shortSha, tone, words } from '../format.js';

export const badge = (status, text) => h('span', { class: `badge ${tone(status)}`, 'data-status': status }, text ?? words(status));

export const card = (title, attrs, ...children) =>
  h('section', { class: 'card', ...attrs }, title ? h('h2', {}, title) : null, ...children);

/** A table: one header row of `heads` (text, or a th element as it is) above the body's `rows` (tr elements). */
export function table(cls, heads, rows) {
  const th = heads.flat().map((x) => (x instanceof Node ? x : h('th', {}, x)));
  return h('table', { class: cls }, h('thead', {}, h('tr', {}, th)), h('tbody', {}, rows));
}

export const deployLink = (id) => h('a', { href: `#/deploys/${encodeURIComponent(id)}`, class: 'mono' }, id);

export function commitLine(c) {
  return h(
    'li',
    { class: 'commit' },
    h('code', { title: c.sha }, shortSha(c.sha)),
    ' ',
    h('span', { class: 'subject' }, c.subject ?? ''),
    ' ',
    h('span', { class: 'muted' }, `${c.author ?? ''}${c.time ? ` · ${ago(c.time)}` : ''}`),
  );
}

export const commitList = (commits) =>
  commits?.length ? h('ul', { class: 'commits' }, commits.map(commitLine)) : h('p', { class: 'muted' }, 'no commits');

/** A ticking duration: the app's clock updates every [data-since] once a second. */
export const since = (start) => h('span', { class: 'since', 'data-since': start }, '');

export const empty = (text) => h('p', { class: 'muted empty' }, text);

export function errorBox(err) {
  return h(
    'div',
    { class: 'error-box', role: 'alert' },
    h('b', {}, err.status ? `${err.status} ${err.code}` : 'Error'),
    ': ',
    err.message ?? String(err),
  );
}
