// The Prometheus text exposition format, parsed by a library into flat series (histograms as
// their _bucket/_sum/_count series), so that selectors match exactly what PromQL would see.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

export interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** NaN and infinities in any case, as Prometheus reads them (Go's ParseFloat): prom-client writes `Nan`. */
const SPECIAL = /^([+-]?)(inf|infinity|nan)$/i;

function num(v: string | undefined): number {
  if (v === undefined) return NaN;
  const special = SPECIAL.exec(v);
  if (special) return special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
  return Number(v);
}

/**
 * Every series in a scrape. Histogram and summary families are read as untyped first: the
 * library's histogram grouping drops every label but `le`, merging the series of different
 * routes, while its plain sample parsing is right. Throws on text the parser cannot read.
 */
export function parseExposition(text: string): Series[] {
  const plain = text.replace(/^#\s*TYPE\s+(\S+)\s+(?:histogram|summary|gaugehistogram)\s*$/gim, '# TYPE $1 untyped');
  // The parser drops the last sample when the text does not end with a newline.
  const out: Series[] = [];
  for (const fam of parsePrometheusTextFormat(plain.endsWith('\n') ? plain : `${plain}\n`)) {
    for (const m of fam.metrics) out.push({ name: fam.name, labels: m.labels ?? {}, value: num(m.value) });
  }
  return out;
}

/** A stable key for one series: name and sorted labels. */
export function seriesKey(s: { name: string; labels: Record<string, string> }): string {
  const keys = Object.keys(s.labels).sort();
  return `${s.name}{${keys.map((k) => `${k}=${JSON.stringify(s.labels[k])}`).join(',')}}`;
}

const SAMPLE_LINE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?[ \t]+(\S+)([ \t]+-?\d+)?[ \t]*$/;

/**
 * The first thing that makes this text not the Prometheus text format (`line 3: "<html>"`), or
 * undefined. The parser is lenient (an HTML page parses as a metric named `<html>`), so a scrape
 * checks first, to say what happened instead of judging garbage.
 */
export function expositionProblem(text: string): string | undefined {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line || line.startsWith('#')) continue;
    const m = SAMPLE_LINE.exec(line);
    const v = m?.[2];
    if (!m || v === undefined || !(SPECIAL.test(v) || Number.isFinite(Number(v)))) {
      return `line ${i + 1}: ${JSON.stringify(line.length > 60 ? `${line.slice(0, 60)}…` : line)}`;
    }
  }
  return undefined;
}
