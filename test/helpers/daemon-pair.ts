import { DaemonProcess } from './daemon-process.js';
import { type Fixture, FixtureFile } from './fixture.js';
import { QUICK_CONFIG, writeConfig } from './integration.js';

/**
 * Two simulated daemons on loopback from one fixture: they report the same cards, with the same UUIDs,
 * and hand out the same device addresses (two daemons on one host, a daemon per tenant). Returns the
 * job's server list; both stop, and the fixture goes, at the test's end.
 */
export async function sameCardDaemons(t: { teardown(fn: () => unknown): void }, host: Fixture): Promise<string> {
  const fixture = new FixtureFile(host);
  t.teardown(() => fixture.remove());
  const config = writeConfig(fixture.dir, QUICK_CONFIG);
  const daemons = await Promise.all([0, 1].map(() => DaemonProcess.start(['--simulate', fixture.path, '--config', config], {}, 60_000)));
  t.teardown(() => Promise.all(daemons.map((d) => d.stop())));
  return daemons.map((d) => d.url.replace(/^http/, 'ws')).join(',');
}
