import t from 'tap';
import { fakeLibraryDir } from '../../src/paths.js';
import type { HealthEvent } from '../../src/vendors/backend.js';
import { loadVendorLibrary } from '../../src/vendors/library.js';
import { NvmlBackend, nvmlLibrary } from '../../src/vendors/nvml.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';

const GiB = 1024 ** 3;
const fixture = new FixtureFile(mixedHost());
process.env.GPUPOOL_SIM_FIXTURE = fixture.path;
t.teardown(() => fixture.remove());

function backend(): NvmlBackend {
  const { library } = loadVendorLibrary(nvmlLibrary, { dirs: [fakeLibraryDir], system: false });
  return new NvmlBackend(library, { eventWaitMs: 50, ignoredXids: [13, 31, 43, 45, 68, 109] });
}

function waitFor<T>(events: T[], count: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (events.length >= count) return resolve();
      if (Date.now() > deadline) return reject(new Error(`only ${events.length} of ${count} events arrived`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

t.test('reads identity and versions through the versioned entry points', async (t) => {
  const nvml = backend();
  const opened = await nvml.open();
  t.same(opened.versions, { driver: '580.95.05', library: '13.580.95.05' });
  t.equal(opened.devices.length, 2);
  t.match(opened.devices[0], {
    vendor: 'nvidia',
    index: 0,
    uuid: 'GPU-11111111-2222-3333-4444-555555555555',
    name: 'NVIDIA H100 80GB HBM3',
    pciBusId: '0000:17:00.0',
    devicePath: '/dev/nvidia0',
    computeCapability: '9.0',
  });
  t.equal(opened.devices[1]?.computeCapability, '8.0');
  await nvml.close();
  await nvml.close(); // idempotent
});

t.test('converts NVML units: bytes, percent, °C, milliwatts to watts', async (t) => {
  const nvml = backend();
  await nvml.open();
  const result = await nvml.sample(0);
  t.ok(result.ok);
  if (!result.ok) return;
  t.same(result.sample.memory, { totalBytes: 80 * GiB, usedBytes: 3 * GiB, freeBytes: 77 * GiB });
  t.same(result.sample.utilization, { gpuPercent: 42, memoryPercent: 17 });
  t.equal(result.sample.temperatureC, 51);
  t.equal(result.sample.powerW, 312.5);
  t.same(result.sample.processes, [{ pid: 4242, memoryBytes: GiB }]);
  const idle = await nvml.sample(1);
  t.same(idle.ok && idle.sample.processes, []);
  t.same(await nvml.sample(7), { ok: false, reason: 'no NVIDIA card 7' });
  await nvml.close();
});

t.test('a card that fell off the bus reads as GPU_IS_LOST until it returns', async (t) => {
  const nvml = backend();
  await nvml.open();
  const host = mixedHost();
  host.nvidia!.cards[1]!.present = false;
  fixture.write(host);
  const lost = await nvml.sample(1);
  t.equal(lost.ok, false);
  t.match(!lost.ok && lost.reason, /\(15\)$/, 'NVML_ERROR_GPU_IS_LOST');
  t.ok((await nvml.sample(0)).ok, 'the other card is unaffected');
  fixture.write(mixedHost());
  t.ok((await nvml.sample(1)).ok);
  await nvml.close();
});

t.test('Xid events arrive on a worker thread; application Xids are dropped', async (t) => {
  const nvml = backend();
  await nvml.open();
  const events: HealthEvent[] = [];
  nvml.watchHealth((e) => events.push(e));
  const host = mixedHost();
  host.nvidia!.cards[0]!.xid = [{ id: 1, xid: 13 }];
  host.nvidia!.cards[1]!.xid = [{ id: 1, xid: 79 }, { id: 2, xid: 48 }];
  fixture.write(host);
  await waitFor(events, 2);
  t.same(events, [
    { index: 1, xid: 79, reason: 'Xid 79' },
    { index: 1, xid: 48, reason: 'Xid 48' },
  ]);
  // Each event is delivered once: a later rewrite with the same ids brings nothing new.
  fixture.write(host);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(events.length, 2);
  await nvml.close();
  fixture.write(mixedHost());
});

t.test('init failure is reported with the library code and message', async (t) => {
  const host = mixedHost();
  host.nvidia!.initError = 9;
  fixture.write(host);
  const nvml = backend();
  await t.rejects(nvml.open(), { code: 'GPUPOOL_VENDOR_INIT_FAILED', details: { vendor: 'nvidia', libraryCode: 9 } });
  fixture.write(mixedHost());
});
