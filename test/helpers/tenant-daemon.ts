import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { newToken, tokenLine } from '../../src/auth/tokens.js';
import { DaemonProcess, running } from './daemon-process.js';
import { FixtureFile, mixedHost } from './fixture.js';
import { QUICK_CONFIG, computeStatus, eventually, writeConfig } from './integration.js';
import { PROMPT_MS } from './job-process.js';

/** Copies a job makes back to back while its worker is killed (fault_client's `copy` mode). */
export const COPY_BYTES = 64 << 20;
/** From a worker's failure (the signal, or the hang's detection) to its sessions ended and freed. */
export const ENDED_WITHIN_MS = 1000;
/** `compute.workerHangMs` of these tests: short, so that a hang is found quickly. */
export const HANG_MS = 2000;

/** The rounds test/programs/fault_client.c's `work` mode reported right. */
export function roundsOk(stdout: string): number {
  return stdout.match(/^round \d+ ok$/gm)?.length ?? 0;
}

/**
 * A simulated daemon whose compute clients must present a token, one per tenant named (its token
 * returned by name), with these `compute` settings; `args` are more of the daemon's flags.
 */
export async function startTenantDaemon(t: Test, tenants: string[], compute: object, args: string[] = []): Promise<{ daemon: DaemonProcess; server: string; tokens: Record<string, string>; dir: string }> {
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const tokens = Object.fromEntries(tenants.map((name) => [name, newToken()]));
  const file = join(fixture.dir, 'tokens');
  writeFileSync(file, [...tenants.map((name) => tokenLine(name, tokens[name]!)), ''].join('\n'), { mode: 0o600 });
  const config = { ...QUICK_CONFIG, auth: { tokens: file }, compute };
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, config), ...args]);
  t.teardown(() => daemon.stop('SIGKILL'));
  return { daemon, server: daemon.url.replace(/^http/, 'ws'), tokens, dir: fixture.dir };
}

/** The daemon's last session has ended: nothing is committed on its cards, and the worker that ran it is gone. */
export async function nothingLeft(t: Test, daemon: DaemonProcess, workerPid: number): Promise<void> {
  const end = await eventually('no session left', async () => {
    const c = await computeStatus(daemon);
    return c.sessions.length === 0 ? c : undefined;
  }, PROMPT_MS);
  t.same(end.cards.map((c) => c.committed), [0, 0], 'nothing committed');
  await eventually(`worker ${workerPid} gone`, () => (running(workerPid) ? undefined : true), PROMPT_MS);
  t.pass('its worker exited with its last session');
}
