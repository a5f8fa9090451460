// The shop's own quick tests, run by immune's test stage on every commit (node --test).
// They check what the team thought of; the canary catches what they did not.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS, run without a build */
const test = require('node:test');
const assert = require('node:assert/strict');
const { checkout } = require('../lib/checkout.js');
const { home, productPage } = require('../lib/pages.js');

test('checkout returns an order with the amount', () => {
  const order = checkout({ user: 'u1', amount: 24, product: 1 });
  assert.ok(order.orderId > 0);
  assert.ok(order.amount > 0 && order.amount <= 24);
});

test('checkout refuses a bad amount with 400', () => {
  assert.throws(
    () => checkout({ user: 'u1', amount: -3 }),
    (err) => err.status === 400,
  );
});

test('pages render', () => {
  assert.match(home(), /<html/i);
  assert.match(productPage({ id: 1, name: 'Tea', price: 24 }, 'control'), /Tea/);
});
