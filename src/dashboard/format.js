// Numbers, times and names as a person reads them.
import { bounded, formatChange, formatDuration, formatP, plain } from '../core/format/words.js';

export const shortSha = (sha) => (sha ? String(sha).slice(0, 8) : '');

/** A length of time in core's words, as the CLI prints it ("3 min 5 s"); "—" for none. */
export const duration = (ms) => formatDuration(ms, { none: '—' });

export function ago(time, now = Date.now()) {
  if (!time) return '';
  const d = now - time;
  if (d < 0) return 'just now';
  if (d < 45_000) return `${Math.max(1, Math.round(d / 1000))} s ago`;
  return `${formatDuration(d, { parts: 1 })} ago`;
}

export function clock(time) {
  if (!time) return '';
  const d = new Date(time);
  const today = new Date();
  const hms = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return d.toDateString() === today.toDateString() ? hms : `${d.toLocaleDateString()} ${hms}`;
}

// The evidence's words are core's own (src/core/format/words.js, plain JavaScript served beside
// these files): the page prints the same string for the same number as the CLI and the API.
export { formatChange, formatInterval, formatP, formatValue, plain, verdictLabel } from '../core/format/words.js';

/** A share or relative value as a percentage (experiments, figures): 0.123 -> "+12.3%"; never ±∞ or an exponent. */
export function pct(x, digits = 1, sign = true) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (sign) {
    // A relative change: the evidence's words (clamped, "×54" past +900%).
    if (x >= 9 || x <= -1) return formatChange(x);
    const v = (x * 100).toFixed(digits);
    return `${x > 0 ? '+' : ''}${v}%`;
  }
  if (!bounded(x)) return x > 0 ? 'more than 100%' : '—';
  return `${(x * 100).toFixed(digits)}%`;
}

export function num(x, digits = 3) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return plain(x, digits);
}

export const pValue = (p) => (p === null || p === undefined || !Number.isFinite(p) ? 'p=—' : formatP(p));

const STATUS_WORDS = {
  queued: 'queued',
  testing: 'testing',
  building: 'building',
  rolling_out: 'rolling out',
  baking: 'baking',
  watching: 'watching',
  live: 'live',
  rolling_back: 'rolling back',
  reverting: 'reverting',
  failed: 'failed',
  aborted: 'aborted',
  rolled_back: 'rolled back',
  reverted: 'reverted',
  tests_failed: 'tests failed',
  build_failed: 'build failed',
};
export const words = (status) => STATUS_WORDS[status] ?? String(status ?? '').replace(/_/g, ' ');

/** CSS tone for a status, outcome, verdict or decision. */
export function tone(status) {
  switch (status) {
    case 'live':
    case 'pass':
    case 'ok':
      return 'good';
    case 'failed':
    case 'fail':
    case 'rolled_back':
    case 'reverted':
    case 'tests_failed':
    case 'build_failed':
    case 'rolling_back':
    case 'reverting':
      return 'bad';
    case 'aborted':
    case 'inconclusive':
    case 'no data':
    case 'too little data':
      return 'warn';
    default:
      return 'busy';
  }
}
