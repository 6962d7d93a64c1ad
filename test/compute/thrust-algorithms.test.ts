/**
 * The Thrust algorithms segmentationTreeThrust calls, through `gpupool run` against a simulated daemon
 * (issue 11): test/programs/thrust_algorithms.cu, built for sm_80 with the sample's types, runs fill,
 * sequence, inclusive_scan, inclusive_scan_by_key, the merge sort of zipped pairs, adjacent_difference
 * (copying and in place), find_if, copy_if and unique_by_key_copy at one tile and at many, and checks each
 * against the host's answer. The daemon runs CUB's kernels with the conformance run's kernel library
 * (bench/cuda-samples/segtree.c), built here as run.js builds it.
 */
import t from 'tap';
import { mixedHost } from '../helpers/fixture.js';
import { buildProgram } from '../helpers/programs.js';
import { runOnCard, sampleKernelLibrary } from '../helpers/sample-kernels.js';

// Thrust compiles slowly: about a minute of CPU for this program, minutes of wall time on a loaded host.
t.setTimeout(600_000);
const program = buildProgram('thrust_algorithms.cu', { arch: '80' });
const sampleKernels = sampleKernelLibrary(t);

t.test("segmentationTreeThrust's Thrust algorithms, each against the host's answer", async (t) => {
  const card = mixedHost().nvidia!.cards.find((c) => c.computeCapability?.[0] === 8)!;
  const run = await runOnCard(t, card, sampleKernels, program);
  t.equal(run.code, 0, `exits 0\n${run.stdout}${run.stderr}`);
  const lines = run.stdout.split('\n');
  for (const n of [1000, 300000]) {
    for (const what of [
      'thrust::fill',
      'thrust::sequence',
      'thrust::inclusive_scan',
      'thrust::inclusive_scan_by_key',
      'thrust::adjacent_difference',
      'thrust::find_if',
      'thrust::copy_if',
      'thrust::unique_by_key_copy',
    ]) {
      t.ok(lines.includes(`${what} of ${n} ok`), `${what}, ${n} items`);
    }
    t.ok(lines.includes(`thrust::sort of ${n} zipped pairs ok`), `thrust::sort of zipped pairs, ${n} items`);
    t.ok(lines.includes(`thrust::adjacent_difference of ${n} in place ok`), `thrust::adjacent_difference in place, ${n} items`);
  }
  t.match(run.stdout, /^PASS$/m);
});
