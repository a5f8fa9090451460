// The products on sale.
'use strict';

const products = [
  { id: 1, name: 'Teapot', price: 24 },
  { id: 2, name: 'Mug', price: 9 },
  { id: 3, name: 'Kettle', price: 49 },
  { id: 4, name: 'Tea sampler', price: 18 },
  { id: 5, name: 'Cosy', price: 12 },
  { id: 6, name: 'Strainer', price: 7 },
  { id: 7, name: 'Tray', price: 31 },
  { id: 8, name: 'Caddy', price: 15 },
];

function product(id) {
  return products.find((p) => p.id === Number(id));
}

module.exports = { products, product };
