import assert from 'node:assert/strict';
import fc from 'fast-check';
import { exactGrep, isHookTitle, mochaRcSource, parseMochaLine } from '../../../../src/adapters/runner/mocha.js';

describe('adapters/runner/mocha', () => {
  it("parses json-stream events, also when glued to a test's own unterminated output", () => {
    assert.deepEqual(parseMochaLine('["pass",{"title":"t","fullTitle":"s t","file":"/x/a.js","duration":12,"currentRetry":0}]'), {
      kind: 'pass',
      title: 't',
      fullTitle: 's t',
      file: '/x/a.js',
      durationMs: 12,
    });
    const fail = parseMochaLine(
      'some output["fail",{"title":"t","fullTitle":"s t","file":"/x/a.js","duration":3,"err":"boom","stack":"Error: boom\\n at x"}]',
    );
    assert.equal(fail?.kind, 'fail');
    assert.equal(fail?.error, 'Error: boom\n at x');
    assert.equal(parseMochaLine('["start",{"total":4}]')?.total, 4);
    assert.equal(parseMochaLine('just a console.log line'), undefined);
    assert.equal(parseMochaLine('["pass",{broken'), undefined);
  });

  it('builds a grep that matches exactly the given full titles, whatever characters they hold', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1, maxLength: 20, unit: 'binary' }), { minLength: 1, maxLength: 8 }),
        fc.string({ maxLength: 20, unit: 'binary' }),
        (titles, other) => {
          const src = exactGrep(titles);
          // What mocha's grep() does with a string option.
          const arg = src.match(/^\/(.*)\/([a-z]*)$|.*/)!;
          const re = new RegExp(arg[1] || arg[0], arg[2]);
          for (const t of titles) assert.ok(re.test(t), `${JSON.stringify(t)} !~ ${src}`);
          if (!titles.includes(other)) assert.ok(!re.test(other), `${JSON.stringify(other)} =~ ${src}`);
        },
      ),
    );
  });

  it('recognises hook failures', () => {
    assert.ok(isHookTitle('"before each" hook for "x"'));
    assert.ok(isHookTitle('"after all" hook in "suite"'));
    assert.ok(!isHookTitle('before each thing'));
  });

  it("generates a config that keeps the project's options and overrides spec, grep and reporter", () => {
    const src = mochaRcSource({ spec: ['test/a.js'], grep: '^(?:x)$', reporter: 'json-stream' });
    assert.match(
      src,
      /module\.exports = \{ \.\.\.merged, \.\.\.\{"spec":\["test\/a\.js"\],"grep":"\^\(\?:x\)\$","reporter":"json-stream"\} \};/,
    );
    assert.match(src, /findConfig\(process\.cwd\(\)\)/);
  });
});
