// PromQL series selectors (`name{label="v", label=~"re", label!="x", label!~"re"}`): parsed once,
// matched against series. Shared by the scrape source and the Prometheus source, so a metric
// definition means the same series whichever way its numbers arrive.
import { InputError } from '../errors.js';

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher {
  label: string;
  op: MatchOp;
  value: string;
  /** Compiled, fully anchored as in PromQL, for =~ and !~. */
  regex?: RegExp;
}

export interface Selector {
  /** Metric name; undefined when the selector only has label matchers (then __name__ may be one of them). */
  name?: string;
  matchers: LabelMatcher[];
  /** The selector as written, for messages. */
  source: string;
}

const NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL = /[a-zA-Z_][a-zA-Z0-9_]*/y;

/**
 * Parse a series selector. Throws InputError naming the column of the first problem, e.g.
 * `selector shop_x{code=~"5.."": col 19: expected "," or "}"`.
 */
export function parseSelector(source: string): Selector {
  let i = 0;
  const fail = (msg: string): never => {
    throw new InputError('selector', `${JSON.stringify(source)}: col ${i + 1}: ${msg}`);
  };
  const ws = () => {
    while (i < source.length && /\s/.test(source[i])) i++;
  };
  const take = (re: RegExp): string | undefined => {
    re.lastIndex = i;
    const m = re.exec(source);
    if (!m) return undefined;
    i += m[0].length;
    return m[0];
  };
  const readString = (): string => {
    const quote = source[i];
    if (quote !== '"' && quote !== "'" && quote !== '`') fail('expected a quoted value');
    i++;
    let out = '';
    while (i < source.length && source[i] !== quote) {
      const c = source[i];
      if (c === '\\' && quote !== '`') {
        const n = source[i + 1];
        if (n === undefined) break;
        out += n === 'n' ? '\n' : n === 't' ? '\t' : n;
        i += 2;
      } else {
        out += c;
        i++;
      }
    }
    if (source[i] !== quote) fail('unterminated string');
    i++;
    return out;
  };

  ws();
  const name = take(NAME);
  ws();
  const matchers: LabelMatcher[] = [];
  if (source[i] === '{') {
    i++;
    ws();
    while (source[i] !== '}') {
      if (i >= source.length) fail('expected "}"');
      const label = take(LABEL) ?? fail('expected a label name');
      ws();
      const op = (['=~', '!~', '!=', '='] as const).find((o) => source.startsWith(o, i)) ?? fail('expected =, !=, =~ or !~');
      i += op.length;
      ws();
      const value = readString();
      let regex: RegExp | undefined;
      if (op === '=~' || op === '!~') {
        try {
          regex = new RegExp(`^(?:${value})$`, 's');
        } catch (err) {
          i -= value.length + 2;
          fail(`bad regular expression: ${(err as Error).message}`);
        }
      }
      matchers.push({ label, op, value, regex });
      ws();
      if (source[i] === ',') {
        i++;
        ws();
      } else if (source[i] !== '}') fail('expected "," or "}"');
    }
    i++;
    ws();
  }
  if (i < source.length) fail(`unexpected "${source.slice(i, i + 10)}"`);
  if (name === undefined && matchers.length === 0) fail('expected a metric name or {label matchers}');
  if (name === undefined && !matchers.some((m) => !matches(m, '')))
    fail('a selector without a name needs a matcher that does not match the empty string');
  return { name, matchers, source };
}

function matches(m: LabelMatcher, actual: string): boolean {
  switch (m.op) {
    case '=':
      return actual === m.value;
    case '!=':
      return actual !== m.value;
    case '=~':
      return m.regex!.test(actual);
    case '!~':
      return !m.regex!.test(actual);
  }
}

/** True when a series (metric name and labels) is selected. A missing label reads as "", as in PromQL. */
export function matchSelector(sel: Selector, name: string, labels: Record<string, string>): boolean {
  if (sel.name !== undefined && sel.name !== name) return false;
  return sel.matchers.every((m) => matches(m, m.label === '__name__' ? name : (labels[m.label] ?? '')));
}

/** The same selector for another metric name (a histogram's `<name>_bucket`, say), keeping its matchers. */
export function withName(sel: Selector, name: string): Selector {
  return { ...sel, name };
}

/** Back to PromQL text, e.g. to put a selector in a query. */
export function formatSelector(sel: Selector): string {
  const body = sel.matchers.map((m) => `${m.label}${m.op}${JSON.stringify(m.value)}`).join(',');
  return `${sel.name ?? ''}${body || !sel.name ? `{${body}}` : ''}`;
}
