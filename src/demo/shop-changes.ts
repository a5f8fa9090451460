// Realistic commits for the demo scenario to push into the demo shop's repository: each is a
// message and the files it writes (paths relative to the repository root).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ShopChange {
  message: string;
  files: Record<string, string>;
}

/** The shop's source folder (the template the demo copies into a fresh repository). */
export const SHOP_TEMPLATE_DIR = fileURLToPath(new URL('./shop/', import.meta.url));

/** The shop's initial files, path -> content, read from src/demo/shop. */
export function shopTemplateFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) files[relative(SHOP_TEMPLATE_DIR, p).split(sep).join('/')] = readFileSync(p, 'utf8');
    }
  };
  walk(SHOP_TEMPLATE_DIR);
  return files;
}

const BANNERS = [
  'Free shipping on orders over 40.',
  'New: first flush Darjeeling is in.',
  'Try our tea sampler, now with eight teas.',
  'Gift cards are back.',
  'Autumn blends: rooibos, chai and more.',
];

/** A harmless, visible change: a new home page banner. */
export function goodChange(n: number): ShopChange {
  const text = BANNERS[(((n - 1) % BANNERS.length) + BANNERS.length) % BANNERS.length];
  return {
    message: `Home page: banner "${text}" (#${n})`,
    files: {
      'lib/banner.js': `// The line on top of the home page. Small, visible changes go here.\n'use strict';\n\nmodule.exports = { banner: ${JSON.stringify(text)} };\n`,
    },
  };
}

/**
 * Checkout with a loyalty discount, shared by the bad and the fixed change, written into the
 * template's lib/checkout.js. The bad version indexes 19 tiers with hash % 20, so the ~5% of
 * users who land on tier 19 get a TypeError: HTTP 500.
 */
function loyaltyCheckout(fixed: boolean): string {
  const original = shopTemplateFiles()['lib/checkout.js'];
  const lookup = fixed
    ? `  const tier = TIERS[hash(user) % TIERS.length];\n  return tier ? tier.rate : 0;`
    : `  const tier = TIERS[hash(user) % 20];\n  return tier.rate;`;
  const helpers = `// Loyalty tiers: members get a small discount, spread over users by a hash of their id.
const TIERS = Array.from({ length: 19 }, (_, i) => ({ name: \`tier-\${i}\`, rate: i % 4 === 0 ? 0.05 : 0 }));

function hash(s) {
  let h = 0;
  for (const c of String(s)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h;
}

function loyaltyDiscount(user) {
${lookup}
}

`;
  const order = '  return { orderId: nextOrder++, amount };';
  const at = original.indexOf('/**');
  if (at < 0 || !original.includes(order))
    throw new Error('src/demo/shop/lib/checkout.js changed: update shop-changes.ts loyaltyCheckout()');
  return (original.slice(0, at) + helpers + original.slice(at)).replace(
    order,
    '  const discount = loyaltyDiscount(cart.user);\n  const total = Math.round(amount * (1 - discount) * 100) / 100;\n  return { orderId: nextOrder++, amount: total };',
  );
}

/** A plausible bug: the loyalty discount crashes checkout for about 5% of users (HTTP 500). */
export function badChange(): ShopChange {
  return { message: 'Checkout: loyalty discount for members', files: { 'lib/checkout.js': loyaltyCheckout(false) } };
}

/** The same feature without the bug. */
export function fixChange(): ShopChange {
  return {
    message: 'Checkout: loyalty discount for members, guarding the tier lookup',
    files: { 'lib/checkout.js': loyaltyCheckout(true) },
  };
}
