// The input of `immune judge`: a JSON document of canary and baseline samples per metric, parsed
// and checked field by field so a bad input names its place (file:line:col, metrics[1].canary[0][3]).
import { z } from 'zod';
import { InputError } from '../errors.js';
import type { JudgeInput, MetricSeries, Sample } from './types.js';

const serverRows = z.array(
  z.array(z.unknown(), 'expected an array of samples (one per interval)'),
  'expected an array with one array per server',
);

const metricInput = z
  .object({
    name: z.string().min(1, 'expected a non-empty name'),
    kind: z.enum(['ratio', 'continuous', 'count'], 'expected "ratio", "continuous" or "count"'),
    bad: z.enum(['increase', 'decrease'], 'expected "increase" or "decrease"').default('increase'),
    tolerance: z
      .number('expected a number')
      .min(0, 'expected a share >= 0 (0.1 = 10%)')
      .lt(1, 'expected a share below 1 (0.1 = 10%)')
      .default(0.1),
    critical: z.boolean('expected true or false').optional(),
    weight: z.number('expected a number').positive('expected a weight > 0').optional(),
    /** How the values read in the explanation (never used by the statistics). */
    unit: z
      .enum(
        ['fraction', 'seconds', 'milliseconds', 'bytes', 'cores', 'count', 'none'],
        'expected one of fraction, seconds, milliseconds, bytes, cores, count, none',
      )
      .optional(),
    /** Sampling interval in ms: a count reads per minute. */
    intervalMs: z.number('expected a number').positive('expected an interval > 0 (ms)').optional(),
    /** A count judged per unit of exposure: its values read "0.052 per request". */
    exposure: z.string('expected a word, e.g. "request"').min(1, 'expected a word, e.g. "request"').optional(),
    baseline: serverRows,
    canary: serverRows,
    /** Every server's samples from before the deploy, same rows: each server is also compared with its own past. */
    before: z.object({ baseline: serverRows, canary: serverRows }).strict().optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    const check = (rows: unknown[][], path: (string | number)[]) =>
      rows.forEach((row, s) =>
        row.forEach((v, t) => {
          const problem = sampleProblem(m.kind, v);
          if (problem) ctx.addIssue({ code: 'custom', path: [...path, s, t], message: problem });
        }),
      );
    for (const side of ['baseline', 'canary'] as const) {
      if (m[side].length === 0) ctx.addIssue({ code: 'custom', path: [side], message: 'expected at least one server' });
      check(m[side], [side]);
      if (m.before) {
        if (m.before[side].length !== m[side].length)
          ctx.addIssue({
            code: 'custom',
            path: ['before', side],
            message: `expected one row per ${side} server (${m[side].length}), got ${m.before[side].length}`,
          });
        check(m.before[side], ['before', side]);
      }
    }
  });

const judgeInput = z
  .object({
    alpha: z.number('expected a number').gt(0, 'expected alpha > 0').lt(0.5, 'expected alpha < 0.5').default(0.01),
    metrics: z.array(metricInput, 'expected an array of metrics').min(1, 'expected at least one metric'),
  })
  .strict();

/** Why a sample is unusable for its kind, or undefined when it is fine (null = a missing interval). */
function sampleProblem(kind: string, v: unknown): string | undefined {
  if (v === null) return undefined;
  if (kind === 'ratio') {
    if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number' && Number.isFinite(x)))
      return 'expected [numerator, denominator]';
    if (v[0] < 0 || v[1] < 0) return 'expected a numerator and denominator >= 0';
    if (!Number.isInteger(v[0]) || !Number.isInteger(v[1])) return `expected whole numbers of events and trials, got [${v[0]}, ${v[1]}]`;
    if (v[0] > v[1]) return `expected a numerator no larger than its denominator, got ${v[0]} of ${v[1]}`;
    return undefined;
  }
  if (kind === 'count' && Array.isArray(v)) {
    // A count per unit of exposure: [events, exposure] (checkouts per request).
    if (v.length !== 2 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) return 'expected a count or [count, exposure]';
    if (v[0] < 0 || v[1] <= 0) return 'expected a count >= 0 and an exposure > 0';
    if (!Number.isInteger(v[0])) return `expected a whole count, got ${v[0]}`;
    return undefined;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) return kind === 'count' ? 'expected a count or [count, exposure]' : 'expected a number';
  if (kind === 'count' && v < 0) return 'expected a count >= 0';
  if (kind === 'count' && !Number.isInteger(v)) return `expected a whole count, got ${v}`;
  return undefined;
}

/** zod path ['metrics', 1, 'canary', 0, 3] as metrics[1].canary[0][3]. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(root)';
}

/** Offset of the first JSON syntax error in `text` (a small recursive-descent scan; V8's messages do not always say where). */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const literal = (word: string) => (text.startsWith(word, i) ? (i += word.length) : fail());
  const string = () => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      else if (text.charCodeAt(i) < 0x20) fail();
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail();
    i += m![0].length;
  };
  /** An object's members or an array's items: `item` separated by commas up to `close`, possibly none. */
  const sequence = (close: string, item: () => void): void => {
    i++;
    ws();
    if (text[i] === close) return void i++;
    for (;;) {
      item();
      ws();
      if (text[i] === ',') i++;
      else if (text[i] === close) return void i++;
      else fail();
    }
  };
  const member = () => {
    ws();
    if (text[i] !== '"') fail();
    string();
    ws();
    if (text[i] !== ':') fail();
    i++;
    value();
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') return sequence('}', member);
    if (c === '[') return sequence(']', value);
    if (c === '"') return string();
    if (c === 't') return void literal('true');
    if (c === 'f') return void literal('false');
    if (c === 'n') return void literal('null');
    number();
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
    return -1;
  } catch (at) {
    return typeof at === 'number' ? Math.min(at, text.length) : 0;
  }
}

/** Line and column (1-based) of a character offset. */
function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, offset)).split('\n');
  return { line: before.length, col: before[before.length - 1].length + 1 };
}

/** Parse and validate an input document; InputError names the file and the field. */
export function parseJudgeInput(text: string, file: string): JudgeInput {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const at = lineCol(text, jsonErrorOffset(text));
    // V8 appends an excerpt and a position; the location above says it better.
    const why = (err as Error).message.replace(/(,\s*"|,\s*\.\.\.|\s+in JSON\b|\s+after JSON\b)[\s\S]*$/, '');
    throw new InputError(`${file}:${at.line}:${at.col}`, `invalid JSON: ${why}`);
  }
  const parsed = judgeInput.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 10).map((i) => `${formatPath(i.path)}: ${i.message}`);
    const more = parsed.error.issues.length > 10 ? `\n(${parsed.error.issues.length - 10} more)` : '';
    throw new InputError(file, `${issues.join('\n')}${more}`);
  }
  return {
    alpha: parsed.data.alpha,
    metrics: parsed.data.metrics.map((m): MetricSeries => ({
      ...m,
      baseline: m.baseline as Sample[][],
      canary: m.canary as Sample[][],
      before: m.before ? { baseline: m.before.baseline as Sample[][], canary: m.before.canary as Sample[][] } : undefined,
    })),
  };
}
