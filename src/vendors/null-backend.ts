import type { OpenedVendor, VendorBackend } from './backend.js';
import type { SampleResult, Vendor } from './device.js';

/**
 * Stands in for a vendor whose library is absent, failed or disabled: no cards, nothing to watch.
 * Keeping a backend object for every vendor spares every caller a special case.
 */
export class NullBackend implements VendorBackend {
  constructor(readonly vendor: Vendor) {}

  async open(): Promise<OpenedVendor> {
    return { versions: { driver: null, library: null }, devices: [] };
  }

  async sample(index: number): Promise<SampleResult> {
    return { ok: false, reason: `${this.vendor} is unavailable; it has no card ${index}` };
  }

  async close(): Promise<void> {}
}
