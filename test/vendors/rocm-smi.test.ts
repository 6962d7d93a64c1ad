import t from 'tap';
import { fakeLibraryDir } from '../../src/paths.js';
import { loadVendorLibrary } from '../../src/vendors/library.js';
import { decodeBdfid, RocmSmiBackend, rocmSmiLibrary } from '../../src/vendors/rocm-smi.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';

const GiB = 1024 ** 3;
const fixture = new FixtureFile(mixedHost());
process.env.GPUPOOL_SIM_FIXTURE = fixture.path;
t.teardown(() => fixture.remove());

function backend(): RocmSmiBackend {
  return new RocmSmiBackend(loadVendorLibrary(rocmSmiLibrary, { dirs: [fakeLibraryDir], system: false }).library);
}

t.test('decodes the BDFID layout ROCm SMI documents', async (t) => {
  // domain 0x0001, partition 3 (ignored), bus 0xc1, device 0x1f, function 5
  const bdfid = (1n << 32n) | (3n << 28n) | (0xc1n << 8n) | (0x1fn << 3n) | 5n;
  t.equal(decodeBdfid(bdfid), '0001:c1:1f.5');
});

t.test('reads identity: market name, unique id, PCI location', async (t) => {
  const amd = backend();
  const opened = await amd.open();
  t.equal(opened.versions.library, '7.8.0');
  t.match(opened.devices, [
    { vendor: 'amd', index: 0, name: 'AMD Instinct MI210', uuid: '0x7f1c3a9b5e2d4c60', pciBusId: '0000:83:00.0', computeCapability: null },
  ]);
  await amd.close();
});

t.test('converts ROCm SMI units: millidegrees and microwatts', async (t) => {
  const amd = backend();
  await amd.open();
  const r = await amd.sample(0);
  t.ok(r.ok);
  if (!r.ok) return;
  t.same(r.sample.memory, { totalBytes: 64 * GiB, usedBytes: 4 * GiB, freeBytes: 60 * GiB });
  t.same(r.sample.utilization, { gpuPercent: 73, memoryPercent: 21 });
  t.equal(r.sample.temperatureC, 58);
  t.equal(r.sample.powerW, 250.25);
  t.same(await amd.sample(1), { ok: false, reason: 'no AMD card 1' });
  await amd.close();
});

t.test('a missing card reads as RSMI_STATUS_NOT_FOUND', async (t) => {
  const amd = backend();
  await amd.open();
  const host = mixedHost();
  host.amd!.cards[0]!.present = false;
  fixture.write(host);
  const r = await amd.sample(0);
  t.equal(r.ok, false);
  t.match(!r.ok && r.reason, /^rsmi_dev_memory_total_get: .*\(10\)$/);
  fixture.write(mixedHost());
  await amd.close();
});

t.test('init failure carries the status string', async (t) => {
  const host = mixedHost();
  host.amd!.initError = 8;
  fixture.write(host);
  await t.rejects(backend().open(), { code: 'GPUPOOL_VENDOR_INIT_FAILED', message: /rsmi_init failed: .+ \(8\)/ });
  fixture.write(mixedHost());
});
