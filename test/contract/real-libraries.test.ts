import t from 'tap';
import { messageOf } from '../../src/errors.js';
import type { VendorBackend } from '../../src/vendors/backend.js';
import { contract, openBackend, vendors } from './contract.js';

const real = process.env.GPUPOOL_CONTRACT_REAL === '1';
if (!real) {
  t.test('real vendor libraries', { skip: 'set GPUPOOL_CONTRACT_REAL=1 on a host with cards to run the contract on the real vendor libraries' }, async () => {});
} else {
  delete process.env.GPUPOOL_SIM_FIXTURE;
  for (const vendor of vendors) {
    let backend: VendorBackend;
    try {
      backend = openBackend(vendor, { dirs: [], system: true });
    } catch (err) {
      t.test(`real ${vendor} library`, { skip: `no ${vendor} library on this host: ${messageOf(err)}` }, async () => {});
      continue;
    }
    t.test(`real ${vendor} library`, (t) => contract(t, backend, vendor));
  }
}
