import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StatusDocument } from '../../src/server/status.js';

/**
 * Settings that keep test daemons quick to stop. Stopping waits for the NVML event wait in flight,
 * which blocks its worker thread for up to health.xidWaitMs (1 s by default).
 */
export const QUICK_CONFIG = { health: { xidWaitMs: 100 } } as const;

/** Writes a daemon configuration file into `dir` and returns its path. */
export function writeConfig(dir: string, config: object = QUICK_CONFIG, name = 'gpupoold.json'): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(withSessionMode(config), null, 2));
  return path;
}

/**
 * GPUPOOL_TEST_SESSION_PROCESS=process (or thread) runs the daemons the tests start with their
 * sessions in that mode (config `compute.sessionProcess`; test/README.md), unless a test sets it;
 * GPUPOOL_TEST_WORKER_SCOPE=tenant (or session) their workers by tenant (`compute.workerScope`).
 */
export function withSessionMode(config: object): object {
  const mode = process.env.GPUPOOL_TEST_SESSION_PROCESS;
  const scope = process.env.GPUPOOL_TEST_WORKER_SCOPE;
  const compute = { ...(config as { compute?: Record<string, unknown> }).compute };
  const added = {
    ...((mode === 'process' || mode === 'thread') && !('sessionProcess' in compute) ? { sessionProcess: mode } : {}),
    ...((scope === 'tenant' || scope === 'session') && !('workerScope' in compute) ? { workerScope: scope } : {}),
  };
  return Object.keys(added).length === 0 ? config : { ...config, compute: { ...compute, ...added } };
}

/**
 * Polls `probe` until it returns something other than undefined, for state that is only observable
 * by asking (the daemon's status after its sampler ran). Throws with `what` when it never comes.
 */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `; last error: ${String(last)}`}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition into samples (comments skipped). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The compute section of a daemon's `/v1/status` (sessions, cards as placement sees them). */
export async function computeStatus(daemon: { url: string }): Promise<StatusDocument['compute']> {
  const res = await fetch(`${daemon.url}/v1/status`);
  return ((await res.json()) as StatusDocument).compute;
}
