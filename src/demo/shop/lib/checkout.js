// Placing an order: validates the cart and returns the order. Throwing here answers 500.
'use strict';

let nextOrder = 1;

/**
 * @param {{ user: string, amount: number, product?: number }} cart
 * @returns {{ orderId: number, amount: number }}
 */
function checkout(cart) {
  const amount = Math.round(Number(cart.amount) * 100) / 100;
  if (!Number.isFinite(amount) || amount <= 0) {
    const err = new Error('amount must be a positive number');
    err.status = 400;
    throw err;
  }
  return { orderId: nextOrder++, amount };
}

module.exports = { checkout };
