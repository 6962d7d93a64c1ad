import t from 'tap';
import { fakeLibraryDir } from '../../src/paths.js';
import { DcmiBackend, dcmiLibrary } from '../../src/vendors/dcmi.js';
import { loadVendorLibrary } from '../../src/vendors/library.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';

const MiB = 1024 ** 2;
const fixture = new FixtureFile(mixedHost());
process.env.GPUPOOL_SIM_FIXTURE = fixture.path;
t.teardown(() => fixture.remove());

function backend(): DcmiBackend {
  return new DcmiBackend(loadVendorLibrary(dcmiLibrary, { dirs: [fakeLibraryDir], system: false }).library);
}

t.test('identifies chips by card/device, VDie id and chip name', async (t) => {
  const ascend = backend();
  const opened = await ascend.open();
  t.equal(opened.versions.library, '24.1.rc3');
  t.match(opened.devices, [
    {
      vendor: 'ascend',
      index: 0,
      uuid: '0A1B2C3D-4E5F6071-8293A4B5-C6D7E8F9-13579BDF',
      name: 'Ascend910B3',
      pciBusId: '0000:c1:00.0',
      devicePath: '/dev/davinci0',
    },
  ]);
  await ascend.close();
});

t.test('converts DCMI units: MB of HBM, 0.1 W power', async (t) => {
  const ascend = backend();
  await ascend.open();
  const r = await ascend.sample(0);
  t.ok(r.ok);
  if (!r.ok) return;
  t.equal(r.sample.memory.totalBytes, 64 * 1024 * MiB);
  t.equal(r.sample.memory.usedBytes, 3 * 1024 * MiB);
  t.equal(r.sample.memory.freeBytes, 61 * 1024 * MiB);
  t.same(r.sample.utilization, { gpuPercent: 55, memoryPercent: 30 });
  t.equal(r.sample.temperatureC, 47);
  t.equal(r.sample.powerW, 213.5);
  t.notOk('problem' in r && r.problem, 'healthy chip has no problem');
});

t.test('a non-zero health code is a problem; an absent chip cannot be read', async (t) => {
  const ascend = backend();
  await ascend.open();
  const host = mixedHost();
  host.ascend!.cards[0]!.health = 2;
  fixture.write(host);
  const sick = await ascend.sample(0);
  t.ok(sick.ok, 'figures still read');
  t.equal(sick.ok && sick.problem, 'DCMI health status 2');
  host.ascend!.cards[0]!.present = false;
  fixture.write(host);
  const gone = await ascend.sample(0);
  t.equal(gone.ok, false);
  t.match(!gone.ok && gone.reason, /the device does not exist \(-8008\)/);
  fixture.write(mixedHost());
});

t.test('init failure names dcmi_init', async (t) => {
  const host = mixedHost();
  host.ascend!.initError = -8005;
  fixture.write(host);
  await t.rejects(backend().open(), { code: 'GPUPOOL_VENDOR_INIT_FAILED', message: /dcmi_init failed: internal error \(-8005\)/ });
  fixture.write(mixedHost());
});
