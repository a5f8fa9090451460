import assert from 'node:assert/strict';
import { formatSelector, matchSelector, parseSelector } from '../../../../src/core/config/selector.js';
import { InputError } from '../../../../src/core/errors.js';

describe('core/config/selector', () => {
  it('parses a name with every kind of matcher', () => {
    const s = parseSelector('shop_http_requests_total{code=~"5..", route!="/healthz", method="POST",x!~"a|b"}');
    assert.equal(s.name, 'shop_http_requests_total');
    assert.deepEqual(
      s.matchers.map((m) => [m.label, m.op, m.value]),
      [
        ['code', '=~', '5..'],
        ['route', '!=', '/healthz'],
        ['method', '=', 'POST'],
        ['x', '!~', 'a|b'],
      ],
    );
  });

  it('parses a bare name, empty braces and escapes', () => {
    assert.deepEqual(parseSelector(' up ').matchers, []);
    assert.equal(parseSelector('up{}').name, 'up');
    assert.equal(parseSelector('m{a="q\\"uote"}').matchers[0].value, 'q"uote');
    assert.equal(parseSelector("m{a='single'}").matchers[0].value, 'single');
  });

  it('matches regexes anchored, as PromQL does', () => {
    const s = parseSelector('m{code=~"5.."}');
    assert.equal(matchSelector(s, 'm', { code: '500' }), true);
    assert.equal(matchSelector(s, 'm', { code: '5000' }), false);
    assert.equal(matchSelector(s, 'm', { code: '200' }), false);
    assert.equal(matchSelector(s, 'other', { code: '500' }), false);
  });

  it('reads a missing label as the empty string', () => {
    assert.equal(matchSelector(parseSelector('m{route!="/x"}'), 'm', {}), true);
    assert.equal(matchSelector(parseSelector('m{route=""}'), 'm', {}), true);
    assert.equal(matchSelector(parseSelector('m{route="/"}'), 'm', {}), false);
    assert.equal(matchSelector(parseSelector('m{route!~".+"}'), 'm', { route: 'a' }), false);
  });

  it('matches __name__ and selectors without a name', () => {
    const s = parseSelector('{__name__=~"shop_.*_total"}');
    assert.equal(s.name, undefined);
    assert.equal(matchSelector(s, 'shop_visits_total', {}), true);
    assert.equal(matchSelector(s, 'process_cpu_seconds', {}), false);
  });

  it('formats back to text that parses to the same selector', () => {
    const text = 'm{a="1",b=~"x|y",c!="z"}';
    assert.equal(formatSelector(parseSelector(text)), text);
  });

  const bad: [string, RegExp][] = [
    ['m{code=~"5.."', /col 14: expected "," or "}"/],
    ['m{code="5', /unterminated string/],
    ['m{code=5}', /col 8: expected a quoted value/],
    ['m{code~"5"}', /expected =, !=, =~ or !~/],
    ['m{="5"}', /expected a label name/],
    ['m{a=~"("}', /bad regular expression/],
    ['m x', /unexpected "x"/],
    ['', /expected a metric name/],
    ['{a=""}', /does not match the empty string/],
  ];
  for (const [text, re] of bad) {
    it(`rejects ${JSON.stringify(text)} with a message naming the column`, () => {
      assert.throws(
        () => parseSelector(text),
        (err: unknown) => err instanceof InputError && re.test(err.message) && err.message.includes(JSON.stringify(text)),
      );
    });
  }
});
