import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { DaemonConfig } from '../config/schema.js';
import { packageRoot } from '../paths.js';
import type { Vendor } from './device.js';
import type { ProbeEvent, ProbeRequest } from './init-probe-child.js';
import type { SearchPath } from './library.js';

/**
 * Vendor libraries' init, tried first in a short-lived child process (`vendors.probeInit`,
 * docs/operations.md): a library that dies of a signal or hangs in its init would take the daemon
 * with it, or hold one of its threads for ever. Only a library whose probe succeeded is then loaded
 * into the daemon.
 */

export type InitProbeResult =
  /** Init and enumeration succeeded in the child: load it in-process. */
  | { outcome: 'ok'; library: string | null }
  /** It failed as libraries fail, with an error (absent, init error): the daemon reports that. */
  | { outcome: 'failed'; library: string | null; error: { code: string; message: string } }
  /** The child died while it ran: a signal (`SIGSEGV`) or an exit status. */
  | { outcome: 'crashed'; library: string | null; signal: NodeJS.Signals | null; status: number | null }
  /** No answer within `vendors.initTimeoutMs` of its start. */
  | { outcome: 'hung'; library: string | null; timeoutMs: number }
  /** The probe itself could not run (no child, or it died before trying): the daemon loads as without a probe. */
  | { outcome: 'unprobed'; reason: string };

export type InitProbe = (vendors: Vendor[], search: SearchPath, config: DaemonConfig) => Promise<Map<Vendor, InitProbeResult>>;

export const PROBE_CHILD = join(packageRoot, 'dist', 'vendors', 'init-probe-child.js');

/** How long the child may take to start (node, koffi) before the probe is given up as not runnable. */
const CHILD_START_MS = 30_000;

/**
 * Probes every vendor in one child, all at once. When the child dies with several inits in flight,
 * each of those is probed again alone, so that the one that crashed is named and the others are not
 * blamed for it; vendors it had not tried yet get a child of their own.
 */
export const probeInits: InitProbe = async (vendors, search, config) => {
  const results = new Map<Vendor, InitProbeResult>();
  let todo = vendors;
  while (todo.length > 0) {
    const round = await probeInChild(todo, search, config);
    for (const [v, r] of round.results) results.set(v, r);
    if (round.ambiguous.length > 1) {
      const alone = await Promise.all(round.ambiguous.map((v) => probeInChild([v], search, config)));
      for (const one of alone) for (const [v, r] of one.results) results.set(v, r);
    }
    // Each round settles at least the inits that were in flight when its child died.
    todo = round.untried;
  }
  return results;
};

type Pending = { started: boolean; library: string | null; timer: NodeJS.Timeout | null };

interface Round {
  results: Map<Vendor, InitProbeResult>;
  /** The vendors whose inits were all in flight when the child died. */
  ambiguous: Vendor[];
  /** The vendors the child had not tried yet when another one killed it: not settled. */
  untried: Vendor[];
}

function probeInChild(vendors: Vendor[], search: SearchPath, config: DaemonConfig): Promise<Round> {
  const timeoutMs = config.vendors.initTimeoutMs;
  const results = new Map<Vendor, InitProbeResult>();
  const pending = new Map<Vendor, Pending>(vendors.map((v) => [v, { started: false, library: null, timer: null }]));
  let ambiguous: Vendor[] = [];
  let untried: Vendor[] = [];
  return new Promise((resolve) => {
    // stderr is the daemon's: a library's own complaints land where they would have in-process.
    const child = spawn(process.execPath, [PROBE_CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(startTimer);
      for (const p of pending.values()) if (p.timer) clearTimeout(p.timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      resolve({ results, ambiguous, untried });
    };
    const settle = (vendor: Vendor, result: InitProbeResult) => {
      const p = pending.get(vendor);
      if (!p) return;
      if (p.timer) clearTimeout(p.timer);
      pending.delete(vendor);
      results.set(vendor, result);
      if (pending.size === 0) finish();
    };
    const giveUp = (reason: string) => {
      for (const v of [...pending.keys()]) settle(v, { outcome: 'unprobed', reason });
    };
    const startTimer = setTimeout(() => {
      if ([...pending.values()].every((p) => !p.started)) giveUp(`the probe process did not start within ${CHILD_START_MS} ms`);
    }, CHILD_START_MS);

    createInterface({ input: child.stdout }).on('line', (line) => {
      let e: ProbeEvent;
      try {
        e = JSON.parse(line) as ProbeEvent;
      } catch {
        return; // not one of ours: a library printing on stdout
      }
      const p = pending.get(e.vendor);
      if (!p) return;
      if (e.event === 'start') {
        p.started = true;
        // The init's own deadline, counted from when it began, not from the child's start-up.
        p.timer = setTimeout(() => settle(e.vendor, { outcome: 'hung', library: p.library, timeoutMs }), timeoutMs);
        p.timer.unref();
      } else if (e.event === 'loaded') {
        p.library = e.library;
      } else if (e.ok) {
        settle(e.vendor, { outcome: 'ok', library: p.library });
      } else {
        settle(e.vendor, { outcome: 'failed', library: p.library, error: e.error });
      }
    });
    child.on('error', (err) => giveUp(`the probe process could not run: ${err.message}`));
    child.on('close', (status, signal) => {
      const running = [...pending].filter(([, p]) => p.started);
      if (running.length === 0) {
        giveUp(`the probe process ended (${signal ?? `status ${status}`}) before it tried any library`);
        return;
      }
      // Several inits in flight when it died: which one did it is not known yet (probeInits asks again).
      ambiguous = running.map(([v]) => v);
      untried = [...pending].filter(([, p]) => !p.started).map(([v]) => v);
      for (const v of untried) pending.delete(v);
      for (const [v, p] of running) settle(v, { outcome: 'crashed', library: p.library, signal, status });
      if (pending.size === 0) finish();
    });
    child.stdin.on('error', () => undefined); // a child that died at once: its close says so
    const request: ProbeRequest = { vendors, search, config };
    // Left open: the child takes its end for the daemon's, and exits (probe-child's main).
    child.stdin.write(`${JSON.stringify(request)}\n`);
  });
}

/** How the daemon says a probe's verdict: `crashed during init (SIGSEGV)`, `hung during init`. */
export function describeProbeFailure(result: InitProbeResult): string | null {
  const where = 'library' in result && result.library ? `${result.library}: ` : '';
  switch (result.outcome) {
    case 'crashed':
      return `${where}crashed during init (${result.signal ?? `exit status ${result.status}`}); not loaded into the daemon`;
    case 'hung':
      return `${where}hung during init (no answer within ${result.timeoutMs} ms); not loaded into the daemon`;
    default:
      return null;
  }
}
