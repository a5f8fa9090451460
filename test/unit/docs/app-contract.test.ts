// docs/app-contract.md shows the example apps the tests run: the page and the files stay the same.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers/immune-cli.js';

describe('docs/app-contract.md', () => {
  const page = readFileSync(join(ROOT, 'docs/app-contract.md'), 'utf8');
  const blocks = [...page.matchAll(/```js\n([\s\S]*?)\n```/g)].map((m) => m[1]);
  for (const [title, file] of [
    ['node:http', 'test/fixtures/app/server.js'],
    ['Express', 'test/fixtures/app-examples/express/server.js'],
    ['fastify', 'test/fixtures/app-examples/fastify/server.js'],
  ]) {
    it(`shows ${file} as the ${title} example`, () => {
      assert.ok(blocks.includes(readFileSync(join(ROOT, file), 'utf8').trimEnd()), `${file} is a js block of the page`);
    });
  }

  it('names every variable the local fleet sets', () => {
    const fleet = readFileSync(join(ROOT, 'src/adapters/fleet/local.ts'), 'utf8');
    const set = [...fleet.matchAll(/\b(PORT|HOST|SERVER_ID|RELEASE_ID|RELEASE_SHA|NODE_PATH)\b/g)].map((m) => m[1]);
    for (const v of new Set(set)) assert.match(page, new RegExp(`\\| \`${v}\` \\|`), v);
  });
});
