/**
 * Figures as a person reads them: in status tables, refusal reasons and progress lines. Scripts get
 * the raw numbers (--json, -o csv, /v1/status).
 */

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const TiB = 1024 ** 4;

/** `80.0 GiB`, `512 MiB`, `4 KiB`, `12 B`: the largest binary unit that keeps the figure at 1 or more. */
export function formatBytes(bytes: number, digits = 1): string {
  const abs = Math.abs(bytes);
  if (abs >= TiB) return `${(bytes / TiB).toFixed(digits)} TiB`;
  if (abs >= GiB) return `${(bytes / GiB).toFixed(digits)} GiB`;
  if (abs >= MiB) return `${Math.round(bytes / MiB)} MiB`;
  if (abs >= KiB) return `${Math.round(bytes / KiB)} KiB`;
  return `${bytes} B`;
}

/** A fraction (0.42) as `42%`; null: `-`. */
export function formatFraction(fraction: number | null): string {
  return fraction === null ? '-' : `${Math.round(fraction * 100)}%`;
}

/** Nanoseconds as `850 ms`, `12.4 s`, `3m 05s`, `2h 03m`. */
export function formatNs(ns: number): string {
  const ms = ns / 1e6;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.floor(s);
  if (whole < 3600) return `${Math.floor(whole / 60)}m ${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(whole / 3600)}h ${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
}
