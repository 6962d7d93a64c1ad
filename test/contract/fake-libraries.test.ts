import t from 'tap';
import { fakeLibraryDir } from '../../src/paths.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { contract, openBackend, vendors } from './contract.js';

const fixture = new FixtureFile(mixedHost());
process.env.GPUPOOL_SIM_FIXTURE = fixture.path;
t.teardown(() => fixture.remove());

for (const vendor of vendors) {
  t.test(`fake ${vendor} library`, (t) => contract(t, openBackend(vendor, { dirs: [fakeLibraryDir], system: false }), vendor));
}
