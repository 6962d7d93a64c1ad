/**
 * Thrust's sort and sort_by_key through `gpupool run` against a simulated daemon (issue 11: particles
 * and radixSortThrust sort so): test/programs/thrust_sort.cu, built for sm_80, sorts unsigned int and
 * float keys, alone and with values, at sizes that take each of CUB's paths (one tile; the onesweep
 * histogram, exclusive sum and scatter passes), and checks each result against std::stable_sort, on a
 * card of its architecture and on a newer one (where its kernels' PTX version must stay 80: CUB picks
 * its tuning by it). The daemon runs CUB's kernels with the conformance run's kernel library
 * (bench/cuda-samples/thrust_sort.c), built here as run.js builds it.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
// @ts-expect-error bench/ is plain JavaScript
import { buildKernelLibrary } from '../../bench/cuda-samples/cflags.js';
import { emulatedKernels, packageRoot } from '../../src/paths.js';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { buildProgram, CUDA_HOME } from '../helpers/programs.js';

// Thrust compiles slowly: about 30 s of CPU for this program, minutes of wall time on a loaded host.
t.setTimeout(480_000);
const program = buildProgram('thrust_sort.cu', { arch: '80' });
const libraryDir = join(tmpdir(), 'gpupool-test-programs');
mkdirSync(libraryDir, { recursive: true });
const sampleKernels = (buildKernelLibrary as (root: string, cudaHome: string, out: string) => string)(
  packageRoot,
  CUDA_HOME,
  join(libraryDir, `libgpupool_sample_kernels-${process.pid}.so`),
);
t.teardown(() => rmSync(sampleKernels, { force: true }));

// One daemon per card: an A100 runs the sm_80 kernels as built; an H100, newer than them, as a driver
// would run their PTX.
for (const card of mixedHost().nvidia!.cards) {
  t.test(`thrust::sort and sort_by_key on each of CUB's paths, on a ${card.name}`, async (t) => {
    const fixture = new FixtureFile({ nvidia: { ...mixedHost().nvidia!, cards: [card] } });
    t.teardown(() => fixture.remove());
    const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)], {
      GPUPOOL_EMU_KERNELS: `${emulatedKernels}:${sampleKernels}`,
    });
    t.teardown(() => daemon.stop());
    const run = await runCli(['run', '--servers', daemon.url.replace(/^http/, 'ws'), '--', program]);
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
