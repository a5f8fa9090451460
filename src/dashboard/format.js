// Numbers, times and names as a person reads them.

export const shortSha = (sha) => (sha ? String(sha).slice(0, 8) : '');

export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(hr / 24)}d ${hr % 24}h`;
}

export function ago(time, now = Date.now()) {
  if (!time) return '';
  const d = now - time;
  if (d < 0) return 'just now';
  if (d < 45_000) return `${Math.max(1, Math.round(d / 1000))}s ago`;
  return `${duration(d).split(' ')[0]} ago`;
}

export function clock(time) {
  if (!time) return '';
  const d = new Date(time);
  const today = new Date();
  const hms = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return d.toDateString() === today.toDateString() ? hms : `${d.toLocaleDateString()} ${hms}`;
}

// The evidence's words, mirrored from src/core/judge/evidence.ts (the browser cannot import the
// TypeScript): test/unit/dashboard/format.test.ts checks that both give the same string for the
// same number. Never ±∞, NaN or an exponent; units on every value.

const fin = (x) => typeof x === 'number' && Number.isFinite(x);
const bounded = (x) => fin(x) && Math.abs(x) < 1e15;
const HUGE_RATIO = 1000;

/** A plain number with `digits` significant digits, grouped, never in exponent form. */
export function plain(x, digits = 3) {
  if (!fin(x)) return 'n/a';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e15) return `${x < 0 ? '-' : ''}more than 1,000,000,000,000,000`;
  if (a < 1e-6) return x < 0 ? '-0.000001' : '< 0.000001';
  return x.toLocaleString('en-US', { maximumSignificantDigits: digits, maximumFractionDigits: 6 });
}

const signed = (text, x) => (x > 0 && !text.startsWith('<') ? `+${text}` : text);

export function count(x) {
  if (!fin(x)) return 'n/a';
  return Number.isInteger(x) ? x.toLocaleString('en-US') : x.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

/** A share as a percentage: 0.0082 -> "0.82%". */
export function percent(x) {
  if (!fin(x)) return 'n/a';
  const v = x * 100;
  if (v === 0) return '0%';
  if (Math.abs(v) < 0.0001) return v < 0 ? '-0.0001%' : '< 0.0001%';
  return `${plain(v, Math.abs(v) >= 10 ? 3 : 2)}%`;
}

function seconds(x) {
  const a = Math.abs(x);
  if (a === 0) return '0 ms';
  if (a < 1) return `${plain(x * 1000, 3)} ms`;
  if (a < 120) return `${plain(x, 3)} s`;
  if (a < 7200) return `${plain(x / 60, 3)} min`;
  return `${plain(x / 3600, 3)} h`;
}

const BYTE_UNITS = [
  [1e12, 'TB'],
  [1e9, 'GB'],
  [1e6, 'MB'],
  [1e3, 'kB'],
];

function bytes(x) {
  const a = Math.abs(x);
  for (const [size, name] of BYTE_UNITS) if (a >= size) return `${plain(x / size, 3)} ${name}`;
  return `${plain(x, 3)} B`;
}

const perMinute = (x, intervalMs) =>
  fin(intervalMs) && intervalMs > 0 ? `${plain((x * 60_000) / intervalMs, 3)} per minute` : `${plain(x, 3)} per interval`;

export const defaultUnit = (kind) => (kind === 'ratio' ? 'fraction' : kind === 'count' ? 'count' : 'none');

/** One value with its unit: "0.82%", "412 ms", "125 MB", "3.2% CPU", "12 per minute". u = { kind, unit, intervalMs }. */
export function formatValue(x, u = {}) {
  if (!fin(x)) return 'n/a';
  switch (u.unit ?? defaultUnit(u.kind)) {
    case 'fraction':
      return percent(x);
    case 'seconds':
      return seconds(x);
    case 'milliseconds':
      return seconds(x / 1000);
    case 'bytes':
      return bytes(x);
    case 'cores':
      return `${plain(x * 100, 3)}% CPU`;
    case 'count':
      return perMinute(x, u.intervalMs);
    default:
      return plain(x, 3);
  }
}

/** A relative change: 0.14 -> "+14%", 53 -> "×54", beyond ×1,000 "more than ×1,000". */
export function formatChange(x) {
  if (typeof x !== 'number' || Number.isNaN(x)) return 'n/a';
  if (x <= -1) return '-100%';
  if (x >= HUGE_RATIO - 1) return `more than ×${count(HUGE_RATIO)}`;
  if (x >= 9) return `×${plain(1 + x, 2)}`;
  // One decimal below 10%, whole percents above: a change of 0.03% is no change to a person.
  const v = x * 100;
  const r = Math.abs(v) < 10 ? Math.round(v * 10) / 10 : Math.round(v);
  if (r === 0) return '0%';
  return `${signed(r.toLocaleString('en-US'), r)}%`;
}

/** A relative interval: "+4.6% to +23%", "at least +4.6%", "at most -3%". */
export function formatInterval(lo, hi) {
  const loOk = bounded(lo) && lo > -1;
  const hiOk = bounded(hi) && hi < HUGE_RATIO - 1;
  if (Number.isNaN(lo) && Number.isNaN(hi)) return 'n/a';
  // A lower end at or below -100% that is a number is the floor of a share; an unbounded one says nothing.
  const floor = bounded(lo) && lo <= -1;
  if (!loOk && !hiOk) return 'unbounded (too little data)';
  if (!hiOk) return `at least ${formatChange(lo)}`;
  if (!loOk) return floor ? `-100% to ${formatChange(hi)}` : `at most ${formatChange(hi)}`;
  return `${formatChange(lo)} to ${formatChange(hi)}`;
}

/** "p=0.0031", "p<0.0001". */
export function formatP(p) {
  if (!fin(p)) return 'p=n/a';
  if (p < 0.0001) return 'p<0.0001';
  if (p >= 1) return 'p=1';
  return `p=${plain(p, 2)}`;
}

/** A metric's word, as verdictLabel in evidence.ts: "no data" when a side has no samples (never pass), "too little data" for an untested trend, "baking" while the gate keeps looking. */
export function verdictLabel(m, gateDecision) {
  if (m?.verdict === 'fail') return 'fail';
  if (!(m?.samples?.canary > 0) || !(m?.samples?.baseline > 0)) return 'no data';
  if (m.verdict === 'pass') return m.shortage ? 'too little data' : 'pass';
  if (gateDecision === 'continue') return 'baking';
  return String(m.verdict ?? 'n/a');
}

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
