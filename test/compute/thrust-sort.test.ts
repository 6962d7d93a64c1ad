/**
 * Thrust's sort and sort_by_key through `gpupool run` against a simulated daemon (issue 11: particles
 * and radixSortThrust sort so): test/programs/thrust_sort.cu, built for sm_80, sorts unsigned int and
 * float keys, alone and with values, at sizes that take each of CUB's paths (one tile; the onesweep
 * histogram, exclusive sum and scatter passes), and checks each result against std::stable_sort, on a
 * card of its architecture and on a newer one (where its kernels' PTX version must stay 80: CUB picks
 * its tuning by it). The daemon runs CUB's kernels with the conformance run's kernel library
 * (bench/cuda-samples/thrust_sort.c), built here as run.js builds it.
 */
import t from 'tap';
import { mixedHost } from '../helpers/fixture.js';
import { buildProgram } from '../helpers/programs.js';
import { runOnCard, sampleKernelLibrary } from '../helpers/sample-kernels.js';

// Thrust compiles slowly: about 30 s of CPU for this program, minutes of wall time on a loaded host.
t.setTimeout(480_000);
const program = buildProgram('thrust_sort.cu', { arch: '80' });
const sampleKernels = sampleKernelLibrary(t);

// One daemon per card: an A100 runs the sm_80 kernels as built; an H100, newer than them, as a driver
// would run their PTX.
for (const card of mixedHost().nvidia!.cards) {
  t.test(`thrust::sort and sort_by_key on each of CUB's paths, on a ${card.name}`, async (t) => {
    const run = await runOnCard(t, card, sampleKernels, program);
    t.equal(run.code, 0, `exits 0\n${run.stdout}${run.stderr}`);
    const lines = run.stdout.split('\n');
    t.ok(lines.includes(`card ${card.computeCapability!.join('.')}`), 'ran on that card');
    t.ok(lines.includes('PTX version 80, binary version the card\'s ok'), 'PTX version of the build, binary of the card');
    for (const n of [1000, 30000, 100000]) {
      for (const type of ['unsigned int', 'float']) {
        t.ok(lines.includes(`thrust::sort of ${n} ${type} keys ok`), `sort, ${n} ${type} keys`);
        t.ok(lines.includes(`thrust::sort_by_key of ${n} ${type} keys ok`), `sort_by_key, ${n} ${type} keys`);
      }
    }
    t.match(run.stdout, /^PASS$/m);
  });
}
