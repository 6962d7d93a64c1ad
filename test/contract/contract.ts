/**
 * One contract for every vendor backend. fake-libraries.test.ts runs it on the fakes always;
 * real-libraries.test.ts on the real libraries when GPUPOOL_CONTRACT_REAL=1 (a host with cards).
 * They are two files so each runs in its own process: a library already loaded under a soname
 * would answer a later dlopen of that bare name, and the "real" run would test a fake.
 */
import type { Test } from 'tap';
import { loadConfig } from '../../src/config/load.js';
import type { Vendor } from '../../src/config/schema.js';
import type { VendorBackend } from '../../src/vendors/backend.js';
import { loadVendorLibrary, type SearchPath } from '../../src/vendors/library.js';
import { VENDOR_DRIVERS } from '../../src/vendors/registry.js';

const PCI = /^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
const inRange = (v: number | null, lo: number, hi: number) => v === null || (v >= lo && v <= hi);

export async function contract(t: Test, backend: VendorBackend, vendor: Vendor): Promise<void> {
  const opened = await backend.open();
  t.ok(opened.versions.library === null || opened.versions.library.length > 0, 'library version is a string or unknown');
  t.same(opened.devices.map((d) => d.index), opened.devices.map((_, i) => i), 'indexes are 0..n-1');
  t.equal(new Set(opened.devices.map((d) => d.uuid)).size, opened.devices.length, 'uuids are unique');
  for (const d of opened.devices) {
    t.equal(d.vendor, vendor);
    t.ok(d.uuid.length > 0 && d.name.length > 0, `card ${d.index} has a uuid and a name`);
    t.match(d.pciBusId, PCI, `card ${d.index} PCI bus id is canonical`);
    const r = await backend.sample(d.index);
    t.ok(r.ok, `card ${d.index} reads: ${r.ok ? '' : r.reason}`);
    if (!r.ok) continue;
    const { memory, utilization, temperatureC, powerW, processes } = r.sample;
    t.ok(memory.totalBytes === null || memory.totalBytes > 0, 'memory total is positive');
    t.ok(memory.usedBytes === null || memory.totalBytes === null || memory.usedBytes <= memory.totalBytes, 'used <= total');
    t.ok(memory.freeBytes === null || memory.totalBytes === null || memory.freeBytes <= memory.totalBytes, 'free <= total');
    t.ok(inRange(utilization.gpuPercent, 0, 100) && inRange(utilization.memoryPercent, 0, 100), 'utilization is a percentage');
    t.ok(inRange(temperatureC, -40, 150), `temperature ${temperatureC} °C is plausible`);
    t.ok(inRange(powerW, 0, 3000), `power ${powerW} W is plausible`);
    t.ok(processes.every((p) => p.pid > 0), 'process ids are positive');
  }
  const beyond = await backend.sample(opened.devices.length);
  t.equal(beyond.ok, false, 'a card beyond the count is refused');
  await backend.close();
  await backend.close();
}

export const vendors = Object.keys(VENDOR_DRIVERS) as Vendor[];

export function openBackend(vendor: Vendor, search: SearchPath): VendorBackend {
  const driver = VENDOR_DRIVERS[vendor];
  return driver.create(loadVendorLibrary(driver.spec, search).library, loadConfig({ flags: { health: { xidWaitMs: 100 } } }));
}
