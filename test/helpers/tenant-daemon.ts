import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { newToken, tokenLine } from '../../src/auth/tokens.js';
import { DaemonProcess } from './daemon-process.js';
import { FixtureFile, mixedHost } from './fixture.js';
import { QUICK_CONFIG, writeConfig } from './integration.js';

/** Whether a process runs (or is a zombie not yet reaped): a worker's pid as status named it. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

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
