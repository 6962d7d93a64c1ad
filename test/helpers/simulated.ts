import type { Test } from 'tap';
import { DaemonProcess } from './daemon-process.js';
import { FixtureFile, mixedHost } from './fixture.js';
import { QUICK_CONFIG, writeConfig } from './integration.js';

/** `gpupool daemon --simulate` on the mixed host's cards for one test, stopped when it ends; `server` is its ws:// address. */
export async function startSimulatedDaemon(t: Test, config: object = QUICK_CONFIG): Promise<{ daemon: DaemonProcess; server: string }> {
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, config)]);
  t.teardown(() => daemon.stop());
  return { daemon, server: daemon.url.replace(/^http/, 'ws') };
}
