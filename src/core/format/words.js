// The words for a metric's numbers and verdict, and for lengths of time, in plain JavaScript so
// that both sides can load it: core/judge/evidence.ts builds its sentences from these, and the
// dashboard (browser modules, no build step) imports this file as served by src/server/dashboard.ts;
// so the page, the CLI and the revert message print the same string for the same number. Imports
// nothing; types in words.d.ts.
// Rules: never ±∞, NaN, Infinity or an exponent; a unit on every value.

/** Relative changes beyond ×1,000 are not worth a digit more: the levels say the rest. */
export const HUGE_RATIO = 1000;

const fin = (x) => typeof x === 'number' && Number.isFinite(x);

/** Stand-ins for infinities in stored JSON (Number.MAX_VALUE) count as unbounded. */
export const bounded = (x) => fin(x) && Math.abs(x) < 1e15;

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

/** A count of events or samples: "1,957"; a fractional count keeps one decimal. */
export function count(x) {
  if (!fin(x)) return 'n/a';
  return Number.isInteger(x) ? x.toLocaleString('en-US') : x.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

/** A share as a percentage with enough digits to tell 0.01% from 0: 0.0082 -> "0.82%". */
export function percent(x) {
  if (!fin(x)) return 'n/a';
  const v = x * 100;
  if (v === 0) return '0%';
  if (Math.abs(v) < 0.0001) return v < 0 ? '-0.0001%' : '< 0.0001%';
  return `${plain(v, Math.abs(v) >= 10 ? 3 : 2)}%`;
}

/** Seconds as ms below a second, s below two minutes, then minutes, then hours. */
function seconds(x) {
  const a = Math.abs(x);
  if (a === 0) return '0 ms';
  if (a < 1) return `${plain(x * 1000, 3)} ms`;
  if (a < 120) return `${plain(x, 3)} s`;
  if (a < 7200) return `${plain(x / 60, 3)} min`;
  return `${plain(x / 3600, 3)} h`;
}

/** Units of a length of time, largest first, in milliseconds. */
const TIME_UNITS = [
  [86_400_000, 'd'],
  [3_600_000, 'h'],
  [60_000, 'min'],
  [1000, 's'],
];

/**
 * A length of time in milliseconds, in its largest unit and the next, each rounded down: 850 ->
 * "850 ms", 12_000 -> "12 s", 185_000 -> "3 min 5 s", 7_800_000 -> "2 h 10 min", 273_600_000 ->
 * "3 d 4 h"; a second part of 0 is left out ("5 min"). `parts: 1` keeps the largest unit only
 * ("3 min", as in "3 min ago"). Not a length of time (negative, not a number): `none`.
 */
export function formatDuration(ms, { parts = 2, none = 'n/a' } = {}) {
  if (!fin(ms) || ms < 0) return none;
  if (ms < 1000) return `${Math.floor(ms)} ms`;
  const i = TIME_UNITS.findIndex(([size]) => ms >= size);
  const [size, name] = TIME_UNITS[i];
  const whole = Math.floor(ms / size);
  const next = TIME_UNITS[i + 1];
  const rest = next && parts > 1 ? Math.floor((ms - whole * size) / next[0]) : 0;
  return rest ? `${whole} ${name} ${rest} ${next[1]}` : `${whole} ${name}`;
}

const BYTE_UNITS = [
  [1e12, 'TB'],
  [1e9, 'GB'],
  [1e6, 'MB'],
  [1e3, 'kB'],
];

/** Bytes in decimal units: 1.25e8 -> "125 MB". */
function bytes(x) {
  const a = Math.abs(x);
  for (const [size, name] of BYTE_UNITS) if (a >= size) return `${plain(x / size, 3)} ${name}`;
  return `${plain(x, 3)} B`;
}

/** Events per interval as events per minute when the interval is known. */
const perMinute = (x, intervalMs) =>
  fin(intervalMs) && intervalMs > 0 ? `${plain((x * 60_000) / intervalMs, 3)} per minute` : `${plain(x, 3)} per interval`;

/** The unit a metric's values are in when nothing was declared. */
export const defaultUnit = (kind) => (kind === 'ratio' ? 'fraction' : kind === 'count' ? 'count' : 'none');

/** One value of a metric with its unit: "0.82%", "412 ms", "125 MB", "3.2% CPU", "12 per minute", "0.052 per request". */
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
      return u.exposure ? `${plain(x, 3)} per ${u.exposure}` : perMinute(x, u.intervalMs);
    default:
      return plain(x, 3);
  }
}

/** A difference between two values of a metric: "+0.37 pp", "+58 ms", "-12 MB". */
export function formatDifference(d, u) {
  if (!fin(d)) return 'n/a';
  const unit = u.unit ?? defaultUnit(u.kind);
  if (unit === 'fraction') {
    const pp = d * 100;
    if (pp === 0) return '0 pp';
    if (Math.abs(pp) < 0.0001) return pp < 0 ? '-0.0001 pp' : '< +0.0001 pp';
    return `${signed(plain(pp, 2), pp)} pp`;
  }
  if (unit === 'cores') return `${signed(plain(d * 100, 2), d)} pp CPU`;
  return signed(formatValue(d, u), d);
}

/** A relative change: 0.14 -> "+14%", -0.23 -> "-23%", 53 -> "×54", beyond ×1,000 "more than ×1,000". */
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

/** A relative interval: "+4.6% to +23%", "at least +4.6%" (no upper end), "at most -3%" (no lower end). */
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

/** A p-value: "p=0.0031"; below 0.0001 "p<0.0001"; "p=1" at most. */
export function formatP(p) {
  if (!fin(p)) return 'p=n/a';
  if (p < 0.0001) return 'p<0.0001';
  if (p >= 1) return 'p=1';
  return `p=${plain(p, 2)}`;
}

/** A tolerance: 0.1 -> "10%". */
export function formatTolerance(t) {
  return fin(t) ? `${plain(t * 100, 3)}%` : 'n/a';
}

/** True when one side has no usable samples: the verdict reads "no data" whatever else it says. */
export function isNoData(m) {
  return !(m?.samples?.canary > 0) || !(m?.samples?.baseline > 0);
}

/**
 * The word for a metric's state: "fail", "pass", "no data" (a side has no samples), "too little
 * data" (samples, but too few for the test: a trend never holds a pass back), "baking" (not
 * decided yet, the gate keeps looking) or "inconclusive" (the gate ended without a decision).
 */
export function verdictLabel(m, gateDecision) {
  if (m?.verdict === 'fail') return 'fail';
  if (isNoData(m)) return 'no data';
  // A supplementary test (a trend) passes without data, since it never holds a pass back: say it was not tested.
  if (m.verdict === 'pass') return m.shortage ? 'too little data' : 'pass';
  if (gateDecision === 'continue') return 'baking';
  return String(m.verdict ?? 'n/a');
}
