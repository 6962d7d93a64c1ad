import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import type { DaemonConfig } from '../../src/config/schema.js';
import { fakeLibraryDir } from '../../src/paths.js';
import { DeviceRegistry } from '../../src/vendors/registry.js';
import type { DeviceIdentity } from '../../src/vendors/device.js';
import type { HealthChange } from '../../src/vendors/health.js';
import { FAKE_FILES, FixtureFile, mixedHost } from '../helpers/fixture.js';

const fixture = new FixtureFile(mixedHost());
process.env.GPUPOOL_SIM_FIXTURE = fixture.path;
t.teardown(() => fixture.remove());
const logger = pino({ level: 'silent' });

function config(over: Parameters<typeof loadConfig>[0]['flags'] = {}): DaemonConfig {
  return loadConfig({ flags: { health: { xidWaitMs: 50, ignoredXids: [13] }, ...over } });
}

async function probe(dirs = [fakeLibraryDir], cfg = config()): Promise<DeviceRegistry> {
  const registry = await DeviceRegistry.probe({ config: cfg, logger, search: { dirs, system: false } });
  t.teardown(() => registry.close());
  return registry;
}

t.test('a mixed host: every vendor probed, cards listed with live figures after refresh', async (t) => {
  const registry = await probe();
  t.same(
    registry.vendors().map((v) => [v.vendor, v.available, v.deviceCount]),
    [['nvidia', true, 2], ['amd', true, 1], ['ascend', true, 1]],
  );
  t.match(registry.vendors()[0], { library: join(fakeLibraryDir, FAKE_FILES.nvidia), versions: { driver: '580.95.05' } });
  t.equal(registry.devices()[0]?.utilization.gpuPercent, null, 'nothing read before the first refresh');
  await registry.refresh();
  const devices = registry.devices();
  t.same(devices.map((d) => `${d.vendor}${d.index}`), ['nvidia0', 'nvidia1', 'amd0', 'ascend0']);
  t.same(devices.map((d) => d.utilization.gpuPercent), [42, 0, 73, 55]);
  t.ok(devices.every((d) => d.health.state === 'healthy'));
});

t.test('an absent library: that vendor unavailable with the reason, the others serve', async (t) => {
  const registry = await probe([fixture.libraryDir(FAKE_FILES.nvidia, FAKE_FILES.ascend)]);
  const amd = registry.vendors().find((v) => v.vendor === 'amd');
  t.match(amd, { available: false, deviceCount: 0, error: { code: 'GPUPOOL_VENDOR_UNAVAILABLE', message: /none of librocm_smi64\.so.* found in/ } });
  await registry.refresh();
  t.same(registry.devices().map((d) => d.vendor), ['nvidia', 'nvidia', 'ascend']);
});

t.test("a file that is not a library: the loader's own message is kept", async (t) => {
  const dir = fixture.libraryDir(FAKE_FILES.nvidia, FAKE_FILES.amd);
  writeFileSync(join(dir, FAKE_FILES.ascend), 'not an ELF file');
  const registry = await probe([dir]);
  t.match(registry.vendors().find((v) => v.vendor === 'ascend')?.error?.message, /libdcmi\.so: .*(invalid ELF header|file too short)/);
});

t.test('init failure and a hung init make only that vendor unavailable', async (t) => {
  const host = mixedHost();
  host.nvidia!.initError = 9;
  host.ascend!.initDelayMs = 3000;
  fixture.write(host);
  const registry = await probe([fakeLibraryDir], config({ vendors: { initTimeoutMs: 200 } }));
  const byVendor = Object.fromEntries(registry.vendors().map((v) => [v.vendor, v]));
  t.match(byVendor.nvidia, { available: false, error: { code: 'GPUPOOL_VENDOR_INIT_FAILED', message: /Driver Not Loaded|driver not loaded/i } });
  t.match(byVendor.ascend, { available: false, error: { code: 'GPUPOOL_VENDOR_INIT_TIMEOUT' } });
  t.match(byVendor.amd, { available: true, deviceCount: 1 });
  fixture.write(mixedHost());
});

t.test('a disabled vendor is not probed at all', async (t) => {
  const registry = await probe([fakeLibraryDir], config({ vendors: { enabled: ['amd'] } }));
  t.same(registry.vendors().map((v) => [v.vendor, v.enabled, v.available]), [['nvidia', false, false], ['amd', true, true], ['ascend', false, false]]);
  t.notOk(registry.vendors()[0]?.error, 'no error for a vendor nobody asked for');
});

t.test('health: polled problems clear, pushed Xids stick', async (t) => {
  const registry = await probe();
  await registry.refresh();
  const changes: [DeviceIdentity, HealthChange][] = [];
  registry.on('health', (d, c) => changes.push([d, c]));
  registry.watchHealth();

  const host = mixedHost();
  host.amd!.cards[0]!.present = false;
  fixture.write(host);
  await registry.refresh();
  const amd = () => registry.devices().find((d) => d.vendor === 'amd')!;
  t.match(amd().health, { state: 'unhealthy', reason: /rsmi_dev_memory_total_get/ });
  t.same(amd().memory, { totalBytes: null, usedBytes: null, freeBytes: null }, 'no stale figures for an unreadable card');
  fixture.write(mixedHost());
  await registry.refresh();
  t.equal(amd().health.state, 'healthy', 'recovers once it reads again');

  host.amd!.cards[0]!.present = true;
  host.nvidia!.cards[1]!.xid = [{ id: 1, xid: 79 }];
  fixture.write(host);
  const deadline = Date.now() + 5000;
  while (!changes.some(([d, c]) => d.vendor === 'nvidia' && c.xid === 79) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const nvidia1 = () => registry.devices().find((d) => d.vendor === 'nvidia' && d.index === 1)!;
  t.match(nvidia1().health, { state: 'unhealthy', reason: 'Xid 79', lastXid: 79, xidEvents: 1 });
  await registry.refresh();
  t.equal(nvidia1().health.state, 'unhealthy', 'a good poll does not clear an Xid');
  t.same(changes.map(([d, c]) => [`${d.vendor}${d.index}`, c.health.state]), [['amd0', 'unhealthy'], ['amd0', 'healthy'], ['nvidia1', 'unhealthy']]);
  fixture.write(mixedHost());
});
