// Small SVG charts drawn by hand: a line chart with a band, horizontal bars, and an interval plot.
import { s } from './dom.js';

const fin = (v) => typeof v === 'number' && Number.isFinite(v);

/** About `n` round tick values covering [lo, hi]. */
export function ticks(lo, hi, n = 4) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) ?? raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function extent(values, pad = 0.08) {
  const vs = values.filter(fin);
  if (!vs.length) return [0, 1];
  let lo = Math.min(...vs);
  let hi = Math.max(...vs);
  if (lo === hi) {
    const d = Math.abs(lo) * 0.1 || 1;
    lo -= d;
    hi += d;
  }
  const p = (hi - lo) * pad;
  return [lo - p, hi + p];
}

/**
 * Lines over x with an optional shaded band.
 * series: [{ name, cls, points: [[x, y], ...] }]; band: { name, cls, points: [[x, lo, hi], ...] }
 */
export function lineChart({
  series,
  band,
  width = 360,
  height = 150,
  xFormat = String,
  yFormat = String,
  title,
  label,
  compact = false,
  zero = false,
}) {
  const m = compact ? { l: 2, r: 2, t: 3, b: 3 } : { l: 52, r: 10, t: 10, b: 24 };
  const w = width - m.l - m.r;
  const hgt = height - m.t - m.b;
  const xs = [...series.flatMap((se) => se.points.map((p) => p[0])), ...(band?.points ?? []).map((p) => p[0])];
  // A band may be far wider than the lines (early looks, a zero baseline): clip it to twice the
  // lines' span so the lines stay readable; the numbers in the caption say the real interval.
  const lineYs = series.flatMap((se) => se.points.map((p) => p[1])).filter(fin);
  const [ly0, ly1] = extent(lineYs, 0);
  const span = Math.max(ly1 - ly0, Math.abs(ly1) * 0.2, 1e-9);
  const clip = (v) => (lineYs.length ? Math.min(ly1 + span, Math.max(ly0 - span, v)) : v);
  const bandPts = (band?.points ?? [])
    .filter((p) => fin(p[0]) && !Number.isNaN(p[1]) && !Number.isNaN(p[2]))
    .map((p) => [p[0], clip(p[1]), clip(p[2])]);
  const ys = [...lineYs, ...bandPts.flatMap((p) => [p[1], p[2]]), ...(zero ? [0] : [])];
  const [x0, x1] = extent(xs, 0);
  const [y0, y1] = extent(ys);
  const X = (x) => m.l + (x1 === x0 ? w / 2 : ((x - x0) / (x1 - x0)) * w);
  const Y = (y) => m.t + hgt - ((y - y0) / (y1 - y0)) * hgt;
  const path = (pts) => pts.map((p, i) => `${i ? 'L' : 'M'}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join('');

  const parts = [];
  if (!compact) {
    for (const t of ticks(y0, y1, 3)) {
      parts.push(s('line', { class: 'grid', x1: m.l, x2: m.l + w, y1: Y(t), y2: Y(t) }));
      parts.push(s('text', { class: 'tick', x: m.l - 4, y: Y(t) + 3, 'text-anchor': 'end' }, yFormat(t)));
    }
    for (const t of ticks(x0, x1, 4)) parts.push(s('text', { class: 'tick', x: X(t), y: height - 6, 'text-anchor': 'middle' }, xFormat(t)));
  }
  if (zero) parts.push(s('line', { class: 'zero', x1: m.l, x2: m.l + w, y1: Y(0), y2: Y(0) }));
  const bp = bandPts.filter((p) => fin(p[1]) && fin(p[2]));
  if (bp.length) {
    const top = bp.map((p) => [p[0], p[2]]);
    const bottom = bp.map((p) => [p[0], p[1]]).reverse();
    const d = bp.length === 1 ? null : `${path(top)}L${bottom.map((p) => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join('L')}Z`;
    if (d) parts.push(s('path', { class: `band ${band.cls ?? ''}`, d }, s('title', {}, band.name ?? '')));
    else
      parts.push(s('line', { class: `band-line ${band.cls ?? ''}`, x1: X(bp[0][0]), x2: X(bp[0][0]), y1: Y(bp[0][1]), y2: Y(bp[0][2]) }));
  }
  for (const se of series) {
    const pts = se.points.filter((p) => fin(p[0]) && fin(p[1]));
    if (!pts.length) continue;
    parts.push(s('path', { class: `line ${se.cls ?? ''}`, d: path(pts) }, s('title', {}, se.name)));
    if (!compact)
      for (const p of pts)
        parts.push(
          s(
            'circle',
            { class: `dot ${se.cls ?? ''}`, cx: X(p[0]), cy: Y(p[1]), r: 2.5 },
            s('title', {}, `${se.name}: ${yFormat(p[1])} at ${xFormat(p[0])}`),
          ),
        );
  }
  if (!compact) parts.push(s('line', { class: 'axis', x1: m.l, x2: m.l + w, y1: m.t + hgt, y2: m.t + hgt }));
  return s(
    'svg',
    { class: 'chart', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': label ?? title ?? 'chart' },
    title ? s('title', {}, title) : null,
    parts,
  );
}

/** Horizontal bars: rows [{ label, value, cls, title }]. */
export function barChart({ rows, width = 360, rowHeight = 18, format = String, label }) {
  const lw = 110;
  const max = Math.max(1e-9, ...rows.map((r) => r.value).filter(fin));
  const height = rows.length * rowHeight + 4;
  const parts = rows.flatMap((r, i) => {
    const y = i * rowHeight + 2;
    const bw = Math.max(1, ((width - lw - 70) * (fin(r.value) ? r.value : 0)) / max);
    return [
      s('text', { class: 'tick', x: lw - 6, y: y + rowHeight * 0.68, 'text-anchor': 'end' }, r.label),
      s(
        'rect',
        { class: `bar ${r.cls ?? ''}`, x: lw, y: y + 2, width: bw, height: rowHeight - 5, rx: 2 },
        s('title', {}, r.title ?? `${r.label}: ${format(r.value)}`),
      ),
      s('text', { class: 'tick', x: lw + bw + 4, y: y + rowHeight * 0.68 }, format(r.value)),
    ];
  });
  return s(
    'svg',
    { class: 'chart bars', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': label ?? 'bars' },
    parts,
  );
}

/** Point estimates with intervals around a zero line (a forest plot): rows [{ label, est, lo, hi, cls }]. */
export function intervalChart({ rows, width = 360, rowHeight = 22, format = String, label }) {
  const lw = 100;
  const vals = rows.flatMap((r) => [r.lo, r.hi, r.est]).filter(fin);
  const [a, b] = extent([...vals, 0], 0.1);
  const w = width - lw - 12;
  const X = (v) => lw + ((v - a) / (b - a)) * w;
  const height = rows.length * rowHeight + 22;
  const parts = [s('line', { class: 'zero', x1: X(0), x2: X(0), y1: 0, y2: rows.length * rowHeight + 4 })];
  rows.forEach((r, i) => {
    const y = i * rowHeight + rowHeight / 2 + 2;
    parts.push(s('text', { class: 'tick', x: lw - 6, y: y + 3, 'text-anchor': 'end' }, r.label));
    if (fin(r.lo) && fin(r.hi)) parts.push(s('line', { class: `interval ${r.cls ?? ''}`, x1: X(r.lo), x2: X(r.hi), y1: y, y2: y }));
    if (fin(r.est))
      parts.push(
        s(
          'circle',
          { class: `dot ${r.cls ?? ''}`, cx: X(r.est), cy: y, r: 4 },
          s('title', {}, `${r.label}: ${format(r.est)} (${format(r.lo)} .. ${format(r.hi)})`),
        ),
      );
  });
  for (const t of ticks(a, b, 4)) parts.push(s('text', { class: 'tick', x: X(t), y: height - 4, 'text-anchor': 'middle' }, format(t)));
  return s(
    'svg',
    { class: 'chart intervals', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': label ?? 'intervals' },
    parts,
  );
}

/** A progress bar: done of total. */
export function progress(done, total, cls = '') {
  const f = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  return s(
    'svg',
    { class: `progress ${cls}`, viewBox: '0 0 200 8', width: 200, height: 8, role: 'img', 'aria-label': `${done} of ${total}` },
    s('rect', { class: 'track', x: 0, y: 0, width: 200, height: 8, rx: 4 }),
    s('rect', { class: 'fill', x: 0, y: 0, width: 200 * f, height: 8, rx: 4 }),
  );
}
