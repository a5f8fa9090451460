// Short, aligned human output for the CLI: tables, key/value blocks, durations and times ago.
import { formatDuration } from '../core/format/words.js';

/** Columns padded to their widest cell; the last column is not padded. */
export function table(rows: string[][], header?: string[]): string {
  const all = header ? [header, ...rows] : rows;
  const widths: number[] = [];
  for (const r of all) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return all
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** "key   value" lines with the keys aligned; a value with several lines is indented under itself. */
export function keyValues(pairs: [string, string][]): string {
  const w = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(w)}  ${v.split('\n').join(`\n${' '.repeat(w + 2)}`)}`).join('\n');
}

/** A length of time in core's words, as the dashboard prints it: "450 ms", "12 s", "3 min 5 s", "2 h 10 min", "3 d 4 h"; "-" for none. */
export function duration(ms: number): string {
  return formatDuration(ms, { none: '-' });
}

export function ago(time: number, now: number): string {
  return `${duration(Math.max(0, now - time))} ago`;
}

export function shortSha(sha: string): string {
  return sha.slice(0, 8);
}

/** Cut to `max` characters with an ellipsis, on one line. */
export function clip(s: string, max: number): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}
