import assert from 'node:assert/strict';
import { globToRegExp, parseNodeTestLine } from '../../../../src/adapters/runner/node-test.js';

describe('adapters/runner/node-test', () => {
  it('matches globs the way test file lists are written', () => {
    const m = (g: string, p: string) => globToRegExp(g).test(p);
    assert.ok(m('test/**/*.test.js', 'test/a.test.js'));
    assert.ok(m('test/**/*.test.js', 'test/x/y/a.test.js'));
    assert.ok(!m('test/**/*.test.js', 'test/a.test.ts'));
    assert.ok(!m('test/*.test.js', 'test/x/a.test.js'));
    assert.ok(m('test/*.{js,cjs}', 'test/a.cjs'));
    assert.ok(m('t?st/a.js', 'test/a.js'));
    assert.ok(!m('test/a.js', 'test/aXjs'));
  });

  it("reads our reporter's lines and ignores everything else", () => {
    assert.deepEqual(parseNodeTestLine('@@immune-test {"kind":"pass","file":"/x/a.js","title":"A > b","durationMs":2}'), {
      kind: 'pass',
      file: '/x/a.js',
      title: 'A > b',
      durationMs: 2,
    });
    assert.equal(parseNodeTestLine('ok 1 - something'), undefined);
    assert.equal(parseNodeTestLine('@@immune-test {nope'), undefined);
  });
});
