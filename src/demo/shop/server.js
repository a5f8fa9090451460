// The demo shop: a tiny web shop immune deploys. Plain CommonJS with no build step and no
// node_modules of its own (the fleet sets NODE_PATH to immune's). Env: PORT, HOST, SERVER_ID,
// RELEASE_ID, RELEASE_SHA; IMMUNE_URL, IMMUNE_CLIENT_TOKEN, IMMUNE_SDK for experiments.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS, run without a build */
const http = require('node:http');
const metrics = require('./lib/metrics.js');
const pages = require('./lib/pages.js');
const { product } = require('./lib/catalog.js');
const { checkout } = require('./lib/checkout.js');
const { createExperiments } = require('./lib/experiments.js');

const env = process.env;
const port = Number(env.PORT || 8080);
const host = env.HOST || '127.0.0.1';
const server = env.SERVER_ID || 'local';
const release = env.RELEASE_ID || 'dev';
const sha = env.RELEASE_SHA || undefined;

function log(msg) {
  process.stdout.write(`${new Date().toISOString()} ${server} ${msg}\n`);
}

const experiments = createExperiments(env, log);

/** Simulated storage latency, so the latency histogram has something to show. */
function work(minMs, maxMs) {
  return new Promise((resolve) => setTimeout(resolve, minMs + Math.random() * (maxMs - minMs)));
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > 64 * 1024) {
        reject(Object.assign(new Error('body too large'), { status: 413 }));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text) return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        resolve(Object.fromEntries(new URLSearchParams(text)));
      }
    });
    req.on('error', reject);
  });
}

function userOf(req, body) {
  const u = (body && body.user) || req.headers['x-user-id'] || '';
  return String(u).slice(0, 64);
}

function send(res, code, type, body, headers) {
  res.writeHead(code, { 'content-type': type, ...(headers || {}) });
  res.end(body);
}
const json = (res, code, obj, headers) => send(res, code, 'application/json', JSON.stringify(obj), headers);
const html = (res, code, text, headers) => send(res, code, 'text/html; charset=utf-8', text, headers);

/** A route's label with :name for a path segment ('/product/:id'); the segment is the handler's m[1]. */
function route(method, label, handler) {
  return [method, new RegExp(`^${label.replace(/:[^/]+/g, '([^/]+)')}$`), label, handler];
}

/** Route table: [method, pattern, label, handler]. Labels keep metric cardinality bounded. */
const routes = [
  route('GET', '/', async (req, res) => {
    await work(1, 4);
    metrics.visits.inc();
    html(res, 200, pages.home());
  }),
  route('GET', '/product/:id', async (req, res, m) => {
    await work(2, 8);
    const p = product(m[1]);
    if (!p) return json(res, 404, { error: 'no such product' });
    const branch = experiments.branch(userOf(req));
    html(res, 200, pages.productPage(p, branch), { 'x-branch': branch });
  }),
  route('POST', '/signup', async (req, res) => {
    const body = await readBody(req);
    await work(3, 10);
    metrics.signups.inc();
    experiments.track(userOf(req, body), 'signup');
    json(res, 201, { ok: true });
  }),
  route('POST', '/checkout', async (req, res) => {
    const body = await readBody(req);
    await work(4, 12);
    const user = userOf(req, body);
    const order = checkout({ user, amount: body.amount, product: body.product });
    metrics.checkouts.inc();
    metrics.revenue.inc(order.amount);
    experiments.track(user, 'checkout', order.amount);
    json(res, 200, { ok: true, order: order.orderId, amount: order.amount });
  }),
];

let stopping = false;

const httpServer = http.createServer(async (req, res) => {
  // While stopping, answer what arrives on open connections but close them after it.
  if (stopping) res.setHeader('connection', 'close');
  const path = (req.url || '/').split('?')[0];
  if (req.method === 'GET' && path === '/healthz') return json(res, 200, { ok: true, server, release, ...(sha ? { sha } : {}) });
  if (req.method === 'GET' && path === '/metrics') {
    try {
      return send(res, 200, metrics.register.contentType, await metrics.register.metrics());
    } catch (err) {
      return json(res, 500, { error: String(err && err.message) });
    }
  }
  const started = process.hrtime.bigint();
  let label = 'other';
  try {
    let handled = false;
    for (const [method, pattern, name, handler] of routes) {
      const m = pattern.exec(path);
      if (!m) continue;
      label = name;
      if (req.method !== method) continue;
      handled = true;
      await handler(req, res, m);
      break;
    }
    if (!handled) json(res, label === 'other' ? 404 : 405, { error: 'not found' });
  } catch (err) {
    const status = err && err.status ? err.status : 500;
    if (status >= 500) {
      log(`error ${req.method} ${path}: ${err && err.stack ? err.stack.split('\n')[0] : err}`);
      // The experiments' guardrail: a user who hit a server error.
      experiments.track(userOf(req), 'error_rate');
    }
    if (!res.headersSent) json(res, status, { error: status >= 500 ? 'internal error' : err.message });
    else res.end();
  } finally {
    metrics.requests.inc({ route: label, code: String(res.statusCode) });
    metrics.duration.observe({ route: label }, Number(process.hrtime.bigint() - started) / 1e9);
  }
});
httpServer.keepAliveTimeout = 5000;

httpServer.on('error', (err) => {
  log(`cannot listen on ${host}:${port}: ${err.message}`);
  process.exit(1);
});
httpServer.listen(port, host, () => log(`release ${release} listening on http://${host}:${port}`));

function stop(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: stopping`);
  // Finish requests in flight, then exit; the fleet kills the group if this takes too long.
  httpServer.close(() => {
    experiments.close().finally(() => process.exit(0));
  });
  httpServer.closeIdleConnections();
  setInterval(() => httpServer.closeIdleConnections(), 50).unref();
  setTimeout(() => process.exit(0), 3000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
