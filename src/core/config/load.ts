// Parse YAML text against a zod schema; every problem comes back as file:line:col path: message.
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';

export interface Parsed<T> {
  value: T;
  /** Position of a path in the source, for later (semantic) errors. */
  locate(path: (string | number)[]): { line: number; col: number };
}

/** Largest pipeline or experiment file read (bytes): a bigger one is refused before parsing, so it cannot stall the daemon. */
export const MAX_CONFIG_BYTES = 256 * 1024;

export function parseYaml<S extends z.ZodType>(text: string, file: string, schema: S, maxBytes = MAX_CONFIG_BYTES): Parsed<z.output<S>> {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) {
    throw new ConfigError([
      {
        file,
        line: 1,
        col: 1,
        path: '',
        message: `file is ${Math.round(bytes / 1024)} KiB; the limit is ${Math.round(maxBytes / 1024)} KiB`,
      },
    ]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = [];
  for (const err of [...doc.errors, ...doc.warnings]) {
    // Without prettyErrors the error carries only its offset: place it ourselves, not at 1:1.
    const pos = err.linePos?.[0] ?? lineCounter.linePos(err.pos[0]);
    issues.push({ file, line: pos.line, col: pos.col, path: '', message: err.message.split('\n')[0] ?? err.message });
  }
  if (issues.length) throw new ConfigError(issues);

  const locate = (path: (string | number)[], atKey = false): { line: number; col: number } => {
    let node: unknown = doc.contents;
    let best: YamlNode | undefined = doc.contents ?? undefined;
    for (const [i, key] of path.entries()) {
      if (isMap(node)) {
        const pair = node.items.find((p) => String((p.key as { value?: unknown } | null)?.value ?? p.key) === String(key));
        if (!pair) break;
        // Point at the key when the value is missing (or the key itself is wrong), else at the value.
        const target = atKey && i === path.length - 1 ? pair.key : (pair.value ?? pair.key);
        node = target;
        best = target as YamlNode;
      } else if (isSeq(node) && typeof key === 'number') {
        node = node.items[key];
        if (!node) break;
        best = node as YamlNode;
      } else break;
    }
    const offset = best?.range?.[0] ?? 0;
    return lineCounter.linePos(offset);
  };

  const raw = doc.toJS() ?? {};
  const result = schema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
      let message = issue.message;
      if (issue.code === 'unrecognized_keys') {
        const keys = (issue as { keys?: string[] }).keys ?? [];
        for (const k of keys) {
          const pos = locate([...path, k], true);
          issues.push({ file, line: pos.line, col: pos.col, path: [...path, k].join('.'), message: `unknown key "${k}"` });
        }
        continue;
      }
      if (message.startsWith('Invalid input: expected') && message.endsWith('received undefined')) message = 'required';
      const pos = locate(path);
      issues.push({ file, line: pos.line, col: pos.col, path: path.join('.'), message });
    }
    throw new ConfigError(issues);
  }
  return { value: result.data, locate };
}

/** "250ms", "30s", "2m", "1h", or a number of seconds, as milliseconds. */
export function parseDuration(v: string | number): number | undefined {
  if (typeof v === 'number') return v >= 0 ? v * 1000 : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h']);
}

/** "10%", "0.1" or 0.1 as a fraction; percent strings are divided by 100. */
export function parseFraction(v: string | number): number | undefined {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%)?\s*$/.exec(v);
  if (!m) return undefined;
  return m[2] ? Number(m[1]) / 100 : Number(m[1]);
}
