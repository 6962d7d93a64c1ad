/**
 * A small SVG writer for the benchmarks' plots (docs/img/*.svg): line charts (linear or log axes) and
 * grouped bar charts, as standalone SVG text with its own fonts and colours, readable on GitHub's light
 * and dark pages. No dependencies; every label is XML-escaped.
 */

export const PALETTE = ['#2f6fdf', '#e0582f', '#1b9e77', '#b8860b', '#8e44ad', '#d6336c', '#17a2b8', '#6c757d'];

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function attrs(a) {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => ` ${k}="${esc(v)}"`)
    .join('');
}

const el = (tag, a, body) => (body === undefined ? `<${tag}${attrs(a)}/>` : `<${tag}${attrs(a)}>${body}</${tag}>`);
const num = (v) => Number(v.toFixed(1));

/** Round tick values covering [lo, hi]: 1, 2 or 5 times a power of ten apart. */
export function niceTicks(lo, hi, count = 5) {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Powers of `base` covering [lo, hi] (log axes); for a range of less than a decade of ten, 1-2-5 steps too. */
function logTicks(lo, hi, base) {
  const steps = base === 10 && hi / lo < 100 ? [1, 2, 5] : [1];
  const out = [];
  for (let e = Math.floor(Math.log(lo) / Math.log(base)); base ** e <= hi * 1.0001; e++) {
    for (const m of steps) if (m * base ** e >= lo * 0.9999 && m * base ** e <= hi * 1.0001) out.push(Number((m * base ** e).toPrecision(12)));
  }
  return out;
}

function scale(kind, lo, hi, from, to) {
  if (kind === 'log') {
    const a = Math.log(lo);
    const b = Math.log(hi);
    return (v) => from + ((Math.log(v) - a) / (b - a || 1)) * (to - from);
  }
  return (v) => from + ((v - lo) / (hi - lo || 1)) * (to - from);
}

function frame({ width, height, title, subtitle }, body) {
  const style = [
    'text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;fill:#1d2330}',
    '.t{font-size:15px;font-weight:600}.s{font-size:11px;fill:#5b6370}.k{font-size:11px;fill:#5b6370}.a{font-size:12px}',
    '.g{stroke:#e3e6eb}.x{stroke:#9aa1ad}',
  ].join('');
  return `${el('svg', { xmlns: 'http://www.w3.org/2000/svg', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title }, [
    el('title', {}, esc(title)),
    el('style', {}, style),
    el('rect', { width, height, fill: '#ffffff' }),
    el('text', { x: 16, y: 24, class: 't' }, esc(title)),
    subtitle ? el('text', { x: 16, y: 42, class: 's' }, esc(subtitle)) : '',
    body,
  ].join(''))}\n`;
}

function legend(items, x, y) {
  let cx = x;
  return items
    .map((it) => {
      const mark = it.bar
        ? el('rect', { x: cx, y: y - 8, width: 12, height: 10, fill: it.color })
        : el('line', { x1: cx, x2: cx + 20, y1: y - 4, y2: y - 4, stroke: it.color, 'stroke-width': 2.5, 'stroke-dasharray': it.dashed ? '6 4' : undefined });
      const text = el('text', { x: cx + (it.bar ? 16 : 25), y, class: 'k' }, esc(it.name));
      cx += (it.bar ? 22 : 31) + it.name.length * 6.2 + 12;
      return mark + text;
    })
    .join('');
}

/**
 * series: [{ name, points: [[x, y]], color?, dashed? }]; x/y: { label, kind: 'linear'|'log', base?,
 * min?, max?, format? }.
 */
export function lineChart({ title, subtitle, width = 720, height = 380, x, y, series }) {
  const pad = { left: 72, right: 40, top: subtitle ? 58 : 44, bottom: 70 };
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const xlo = x.min ?? Math.min(...xs);
  const xhi = x.max ?? Math.max(...xs);
  const ylo = y.min ?? (y.kind === 'log' ? Math.min(...ys) : 0);
  const yhi = y.max ?? Math.max(...ys) * 1.05;
  const sx = scale(x.kind, xlo, xhi, pad.left, width - pad.right);
  const sy = scale(y.kind, ylo, yhi, height - pad.bottom, pad.top);
  const fx = x.format ?? String;
  const fy = y.format ?? String;
  const xt = x.kind === 'log' ? logTicks(xlo, xhi, x.base ?? 10) : niceTicks(xlo, xhi, 6);
  const yt = y.kind === 'log' ? logTicks(ylo, yhi, y.base ?? 10) : niceTicks(ylo, yhi, 5);
  const parts = [];
  for (const v of yt) parts.push(el('line', { x1: pad.left, x2: width - pad.right, y1: num(sy(v)), y2: num(sy(v)), class: 'g' }), el('text', { x: pad.left - 6, y: num(sy(v)) + 4, 'text-anchor': 'end', class: 'k' }, esc(fy(v))));
  for (const v of xt) parts.push(el('line', { x1: num(sx(v)), x2: num(sx(v)), y1: height - pad.bottom, y2: height - pad.bottom + 4, class: 'x' }), el('text', { x: num(sx(v)), y: height - pad.bottom + 16, 'text-anchor': 'middle', class: 'k' }, esc(fx(v))));
  parts.push(el('line', { x1: pad.left, x2: width - pad.right, y1: height - pad.bottom, y2: height - pad.bottom, class: 'x' }));
  parts.push(el('text', { x: (pad.left + width - pad.right) / 2, y: height - pad.bottom + 34, 'text-anchor': 'middle', class: 'a' }, esc(x.label)));
  parts.push(el('text', { x: 14, y: (pad.top + height - pad.bottom) / 2, transform: `rotate(-90 14 ${(pad.top + height - pad.bottom) / 2})`, 'text-anchor': 'middle', class: 'a' }, esc(y.label)));
  const colored = series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length] }));
  for (const s of colored) {
    const d = s.points.map(([px, py], i) => `${i ? 'L' : 'M'}${num(sx(px))},${num(sy(py))}`).join('');
    parts.push(el('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 2.2, 'stroke-dasharray': s.dashed ? '6 4' : undefined, 'stroke-linejoin': 'round' }, el('title', {}, esc(s.name))));
    if (s.markers) for (const [px, py] of s.points) parts.push(el('circle', { cx: num(sx(px)), cy: num(sy(py)), r: 2.8, fill: s.color }));
  }
  parts.push(legend(colored, pad.left, height - 14));
  return frame({ width, height, title, subtitle }, parts.join(''));
}

/**
 * Groups of bars (one group per category), a bar per series, optionally on a log y axis.
 * series: [{ name, values: number[] (one per category), color? }]; marks: a short line per category
 * drawn over its group ({ name, values, color }).
 */
export function barChart({ title, subtitle, width = 720, height = 380, categories, series, marks, y }) {
  const pad = { left: 72, right: 20, top: subtitle ? 58 : 44, bottom: 64 };
  const vals = [...series.flatMap((s) => s.values), ...(marks?.values ?? [])];
  const ylo = y.min ?? (y.kind === 'log' ? Math.min(...vals) / 1.5 : 0);
  const yhi = y.max ?? Math.max(...vals) * (y.kind === 'log' ? 1.5 : 1.05);
  const sy = scale(y.kind, ylo, yhi, height - pad.bottom, pad.top);
  const fy = y.format ?? String;
  const yt = y.kind === 'log' ? logTicks(ylo, yhi, y.base ?? 10) : niceTicks(ylo, yhi, 5);
  const parts = [];
  for (const v of yt) parts.push(el('line', { x1: pad.left, x2: width - pad.right, y1: num(sy(v)), y2: num(sy(v)), class: 'g' }), el('text', { x: pad.left - 6, y: num(sy(v)) + 4, 'text-anchor': 'end', class: 'k' }, esc(fy(v))));
  const groupW = (width - pad.left - pad.right) / categories.length;
  const barW = (groupW * 0.7) / series.length;
  const colored = series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length], bar: true }));
  categories.forEach((c, ci) => {
    const gx = pad.left + ci * groupW + groupW * 0.15;
    colored.forEach((s, si) => {
      const v = s.values[ci];
      const top = sy(v);
      parts.push(el('rect', { x: num(gx + si * barW), y: num(top), width: num(barW - 2), height: num(height - pad.bottom - top), fill: s.color }, el('title', {}, esc(`${c} ${s.name}: ${fy(v)}`))));
    });
    if (marks) {
      const my = num(sy(marks.values[ci]));
      parts.push(el('line', { x1: num(gx - 4), x2: num(gx + groupW * 0.7 + 2), y1: my, y2: my, stroke: marks.color ?? '#1d2330', 'stroke-width': 2.5, 'stroke-dasharray': '5 3' }, el('title', {}, esc(`${c} ${marks.name}: ${fy(marks.values[ci])}`))));
    }
    parts.push(el('text', { x: num(gx + groupW * 0.35), y: height - pad.bottom + 16, 'text-anchor': 'middle', class: 'k' }, esc(c)));
  });
  parts.push(el('line', { x1: pad.left, x2: width - pad.right, y1: height - pad.bottom, y2: height - pad.bottom, class: 'x' }));
  parts.push(el('text', { x: 14, y: (pad.top + height - pad.bottom) / 2, transform: `rotate(-90 14 ${(pad.top + height - pad.bottom) / 2})`, 'text-anchor': 'middle', class: 'a' }, esc(y.label)));
  const items = [...colored, ...(marks ? [{ name: marks.name, color: marks.color ?? '#1d2330', dashed: true }] : [])];
  parts.push(legend(items, pad.left, height - 14));
  return frame({ width, height, title, subtitle }, parts.join(''));
}
