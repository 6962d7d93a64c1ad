// Hand-drawn SVG charts: a sparkline for a card's tile, a line chart with axes and a legend for the
// detail views. Every label goes in as a text node, never as markup.
import { clock } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';

export const PALETTE = ['#2f6fdf', '#e0582f', '#1b9e77', '#b8860b', '#8e44ad', '#d6336c', '#17a2b8', '#6c757d'];

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** The path of points [t, v] (v null: a gap) scaled into the box. */
function pathOf(points, x, y) {
  let d = '';
  let pen = false;
  for (const [t, v] of points) {
    if (v === null || v === undefined || Number.isNaN(v)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** A small line over the last minutes, 0..max; `title` says what it is on hover. */
export function sparkline(points, { max, width = 120, height = 28, color = PALETTE[0], title = '' } = {}) {
  const el = svg('svg', { class: 'spark', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title });
  if (title) el.append(svg('title', {}, title));
  const ts = points.map((p) => p[0]);
  const t0 = Math.min(...ts);
  const t1 = Math.max(...ts);
  const top = max || Math.max(1, ...points.map((p) => p[1] ?? 0));
  const x = (t) => (t1 === t0 ? width : ((t - t0) / (t1 - t0)) * (width - 2) + 1);
  const y = (v) => height - 2 - (Math.min(v, top) / top) * (height - 4);
  el.append(svg('line', { x1: 0, x2: width, y1: height - 1.5, y2: height - 1.5, class: 'base' }));
  if (points.length > 0) el.append(svg('path', { d: pathOf(points, x, y), stroke: color, fill: 'none', 'stroke-width': 1.5 }));
  return el;
}

/**
 * A chart of several series over time: `series` [{ name, color, dashed, points: [[t, v]] }], the y
 * axis from 0 to `yMax` (or the largest value), labelled with `format`.
 */
export function lineChart(series, { yMax, format = String, width = 560, height = 180, title = '' } = {}) {
  const pad = { left: 64, right: 12, top: 10, bottom: 22 };
  const el = svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title });
  if (title) el.append(svg('title', {}, title));
  const all = series.flatMap((s) => s.points);
  const ts = all.map((p) => p[0]);
  const t0 = ts.length ? Math.min(...ts) : 0;
  const t1 = ts.length ? Math.max(...ts) : 1;
  const top = yMax ?? Math.max(1, ...all.map((p) => p[1] ?? 0)) * 1.1;
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  const x = (t) => pad.left + (t1 === t0 ? w : ((t - t0) / (t1 - t0)) * w);
  const y = (v) => pad.top + h - (Math.min(v, top) / top) * h;
  for (const frac of [0, 0.5, 1]) {
    const yy = y(top * frac);
    el.append(svg('line', { x1: pad.left, x2: width - pad.right, y1: yy, y2: yy, class: frac === 0 ? 'axis' : 'grid' }));
    el.append(svg('text', { x: pad.left - 6, y: yy + 4, 'text-anchor': 'end', class: 'tick' }, format(top * frac)));
  }
  if (ts.length) {
    el.append(svg('text', { x: pad.left, y: height - 6, class: 'tick' }, clock(t0)));
    el.append(svg('text', { x: width - pad.right, y: height - 6, 'text-anchor': 'end', class: 'tick' }, clock(t1)));
  } else {
    el.append(svg('text', { x: pad.left + w / 2, y: pad.top + h / 2, 'text-anchor': 'middle', class: 'empty' }, 'no samples yet'));
  }
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const path = svg('path', { d: pathOf(s.points, x, y), stroke: color, fill: 'none', 'stroke-width': 2, class: 'series', 'data-series': s.name });
    if (s.dashed) path.setAttribute('stroke-dasharray', '5 4');
    path.append(svg('title', {}, s.name));
    el.append(path);
  });
  return el;
}

/** The legend of a chart's series, as HTML (wraps where the SVG could not). */
export function legend(series) {
  const ul = document.createElement('ul');
  ul.className = 'legend';
  series.forEach((s, i) => {
    const li = document.createElement('li');
    const mark = document.createElement('span');
    mark.className = s.dashed ? 'mark dashed' : 'mark';
    mark.style.borderColor = s.color ?? PALETTE[i % PALETTE.length];
    li.append(mark, document.createTextNode(s.name));
    ul.append(li);
  });
  return ul;
}
