// Units a person reads: binary bytes, percents, durations, times of day.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function bytes(n) {
  if (n === null || n === undefined) return '–';
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < BYTE_UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${BYTE_UNITS[u]}`;
}

export function percent(p) {
  return p === null || p === undefined ? '–' : `${Math.round(p)} %`;
}

/** A share of a card (0-1) as a percent. */
export function share(s) {
  return s === null || s === undefined ? '–' : `${(s * 100).toFixed(s < 0.1 ? 1 : 0)} %`;
}

export function seconds(ns) {
  if (ns === null || ns === undefined) return '–';
  const s = ns / 1e9;
  if (s < 1) return `${(s * 1000).toFixed(s < 0.01 ? 2 : 0)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function celsius(c) {
  return c === null || c === undefined ? '–' : `${Math.round(c)} °C`;
}

export function watts(w) {
  return w === null || w === undefined ? '–' : `${w.toFixed(w < 100 ? 1 : 0)} W`;
}

export function clock(t) {
  return new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

/** The last part of a program's path: what a person recognises. */
export function programName(path) {
  const parts = String(path).split('/');
  return parts[parts.length - 1] || String(path);
}
