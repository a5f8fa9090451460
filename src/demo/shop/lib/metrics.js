// The shop's Prometheus metrics: default process metrics plus request and business counters.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS, run without a build */
const client = require('prom-client');

const register = new client.Registry();
client.collectDefaultMetrics({ register });

const requests = new client.Counter({
  name: 'shop_http_requests_total',
  help: 'HTTP requests answered, by route and status code.',
  labelNames: ['route', 'code'],
  registers: [register],
});
const duration = new client.Histogram({
  name: 'shop_http_request_duration_seconds',
  help: 'Time to answer an HTTP request, by route.',
  labelNames: ['route'],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [register],
});
const signups = new client.Counter({ name: 'shop_signups_total', help: 'Accounts created.', registers: [register] });
const checkouts = new client.Counter({ name: 'shop_checkouts_total', help: 'Orders placed.', registers: [register] });
const revenue = new client.Counter({
  name: 'shop_revenue_total',
  help: 'Revenue of placed orders, in currency units.',
  registers: [register],
});
const visits = new client.Counter({ name: 'shop_visits_total', help: 'Home page visits.', registers: [register] });

module.exports = { register, requests, duration, signups, checkouts, revenue, visits };
