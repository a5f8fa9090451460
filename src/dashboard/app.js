// The page: a hash router over the views, the token field, live updates over SSE, a ticking clock.
import { get, stream, token } from './api.js';
import { h, replace } from './dom.js';
import { duration } from './format.js';
import * as deployView from './views/deploy.js';
import * as experimentsView from './views/experiments.js';
import * as historyView from './views/history.js';
import * as lineView from './views/line.js';
import { errorBox } from './views/common.js';

const $ = (id) => document.getElementById(id);
const ROUTES = [
  [/^\/?$/, lineView, 'line'],
  [/^\/deploys\/([^/]+)$/, deployView, 'line'],
  [/^\/history$/, historyView, 'history'],
  [/^\/experiments$/, experimentsView, 'experiments'],
];

const app = {
  state: { tests: new Map(), pipeline: '' },
  fetchedAt: Date.now(),
  setPipeline(name) {
    if (name && name !== app.state.pipeline) {
      app.state.pipeline = name;
      $('pipeline').textContent = name;
    }
  },
  setTitle(t) {
    document.title = `immune — ${t}`;
  },
  toast(text) {
    const el = $('toast');
    el.textContent = text;
    el.hidden = false;
    clearTimeout(app.toastTimer);
    app.toastTimer = setTimeout(() => (el.hidden = true), 3000);
  },
  refresh: () => scheduleRender(0),
};

let renderSeq = 0;
async function renderNow() {
  const seq = ++renderSeq;
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs = ''] = raw.split('?');
  const route = ROUTES.find(([re]) => re.test(path));
  const view = $('view');
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('on', route?.[2] === a.dataset.nav);
  if (!route) {
    replace(view, h('p', {}, 'No such page. ', h('a', { href: '#/' }, 'Back to the line')));
    return;
  }
  const [re, mod] = route;
  const id = decodeURIComponent(re.exec(path)?.[1] ?? '');
  if (mod !== deployView) app.setTitle(route[2] === 'line' ? 'the line' : route[2]);
  app.fetchedAt = Date.now();
  try {
    const el = await mod.render(app, id, new URLSearchParams(qs));
    if (seq !== renderSeq) return; // a newer render started meanwhile
    replace(view, el);
    view.dataset.view = route[2];
    view.dataset.renderedAt = String(app.fetchedAt);
    tick();
  } catch (err) {
    if (seq !== renderSeq) return;
    replace(view, errorBox(err));
  }
}

// Live events arrive in bursts; re-render at most every 300 ms.
let timer = null;
let rendering = Promise.resolve();
function scheduleRender(delay = 300) {
  if (timer !== null) {
    if (delay > 0) return;
    clearTimeout(timer);
  }
  timer = setTimeout(() => {
    timer = null;
    rendering = rendering.then(renderNow, renderNow);
  }, delay);
}

function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll('[data-since]')) el.textContent = duration(now - Number(el.dataset.since));
}

function onEvent(ev) {
  if (ev.type === 'tests') app.state.tests.set(ev.deploy, ev);
  if (ev.type === 'line' && ev.pipeline) app.setPipeline(ev.pipeline);
  // An open dialog keeps its own state; the view behind it may re-render safely.
  scheduleRender();
}

function setLive(state) {
  const el = $('live');
  el.textContent = state === 'live' ? 'live' : 'offline';
  el.className = `live ${state === 'live' ? 'on' : 'off'}`;
}

async function showWho() {
  const who = $('whoami');
  try {
    const me = await get('/api/whoami');
    who.textContent = me.role ? `${me.actor} (${me.role})` : token.get() ? '' : 'no token: read only';
    who.className = 'muted';
  } catch (err) {
    who.textContent = err.message;
    who.className = 'error';
  }
}

let stopStream = () => {};
function connect() {
  stopStream();
  stopStream = stream(onEvent, setLive);
}

$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  token.set($('token').value.trim());
  $('token').value = '';
  void showWho();
  connect();
  app.refresh();
});
$('token-clear').addEventListener('click', () => {
  token.set('');
  void showWho();
  connect();
  app.refresh();
});
window.addEventListener('hashchange', () => scheduleRender(0));
setInterval(tick, 1000);

void showWho();
connect();
scheduleRender(0);
