// HTML for the pages; kept apart so page changes do not touch request handling.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS, run without a build */
const { banner } = require('./banner.js');
const { products } = require('./catalog.js');

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function layout(title, body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escape(title)}</title></head><body>${body}</body></html>\n`;
}

function home() {
  const items = products.map((p) => `<li><a href="/product/${p.id}">${escape(p.name)}</a> ${p.price}</li>`).join('');
  return layout('Tea shop', `<h1>Tea shop</h1><p class="banner">${escape(banner)}</p><ul>${items}</ul>`);
}

/** The product page; the Enhanced branch of EnhancedCheckout shows a one-click buy button. */
function productPage(p, branch) {
  const buy =
    branch === 'Enhanced'
      ? `<form method="post" action="/checkout"><button class="one-click">Buy now for ${p.price}</button></form>`
      : `<form method="post" action="/checkout"><button>Add to cart</button></form>`;
  return layout(p.name, `<h1>${escape(p.name)}</h1><p>${p.price}</p>${buy}`);
}

module.exports = { home, productPage, layout, escape };
