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

/** 0.123 -> "+12.3%". */
export function pct(x, digits = 1, sign = true) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  // Unbounded intervals arrive as ±Infinity or as huge finite stand-ins (JSON has no Infinity).
  if (x >= 1e9) return '+∞';
  if (x <= -1e9) return '−∞';
  // Past +1000% a ratio reads better: "×54".
  if (x >= 10) return `×${Number((1 + x).toPrecision(2)).toLocaleString()}`;
  const v = (x * 100).toFixed(digits);
  return `${sign && x > 0 ? '+' : ''}${v}%`;
}

export function num(x, digits = 3) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a !== 0 && (a < 0.001 || a >= 1e6)) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toLocaleString();
}

export function pValue(p) {
  if (p === null || p === undefined || !Number.isFinite(p)) return 'p=—';
  return p < 0.0001 ? 'p<0.0001' : `p=${p.toPrecision(2)}`;
}

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
      return 'warn';
    default:
      return 'busy';
  }
}
