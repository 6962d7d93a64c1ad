/**
 * The conformance run's heaviest CPU kernels (bench/cuda-samples/gemm.c and the inline texture fetches
 * of native/fakes/cuda/gpupool_emu_texture.h), through bench/cuda-samples/speed.js at small sizes: the
 * GEMM samples do not check their own product, so this checks the blocked kernels' product against a
 * plain one in double, at sizes that are no multiple of their tiles, for every element type.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';

t.test('the blocked GEMMs multiply as a plain product does, and the fetches run', async (t) => {
  const out = execFileSync(process.execPath, [join(packageRoot, 'bench', 'cuda-samples', 'speed.js'), '--size', '301', '--texture', '200'], {
    encoding: 'utf8',
  });
  const measured = JSON.parse(out) as {
    gemmSize: number;
    gflopsPerCpuSecond: Record<string, number>;
    gemmWorstRelativeError: number;
    nsPerFetch: Record<string, number>;
  };
  t.equal(measured.gemmSize, 301);
  t.same(Object.keys(measured.gflopsPerCpuSecond).sort(), ['bf16', 'f64', 'half', 'tf32', 'u8']);
  for (const [type, rate] of Object.entries(measured.gflopsPerCpuSecond)) t.ok(rate > 0, `${type} GEMM ran`);
  t.ok(measured.gemmWorstRelativeError < 1e-4, `every checked element within float accumulation (${measured.gemmWorstRelativeError})`);
  for (const [how, ns] of Object.entries(measured.nsPerFetch)) t.ok(ns > 0, `${how} fetches ran`);
});
