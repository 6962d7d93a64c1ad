/**
 * The test programs (test/programs) and the test kernels as the load benchmarks run them
 * (bench/pool-replay.js, bench/soak.js): built into a folder of the run, linked to the name
 * libcuda.so.1, and run with gpupool's client library first on the loader's path.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHIM_DIR = join(root, 'build', 'native', 'shim');
const CUDA_HOME = process.env.CUDA_HOME ?? '/usr/local/cuda';

/** `{NAME: path, ..., fatbin: path}` for test/programs/NAME.c and the test kernels. */
export function buildTestPrograms(dir, names) {
  const out = {};
  for (const name of names) {
    out[name] = join(dir, name);
    const src = join(root, 'test', 'programs', `${name}.c`);
    execFileSync('cc', ['-std=c11', '-O2', '-I', join(CUDA_HOME, 'include'), '-I', join(root, 'test', 'programs'), '-o', out[name], src, '-L', SHIM_DIR, '-l:libcuda.so.1']);
  }
  out.fatbin = join(dir, 'kernels.fatbin');
  execFileSync(join(CUDA_HOME, 'bin', 'nvcc'), ['-fatbin', '-o', out.fatbin, join(root, 'native', 'fakes', 'cuda', 'kernels', 'test_kernels.cu')]);
  return out;
}

/** A client's environment: the client library, the daemon, and the GPUPOOL_* settings in `extra`. */
export function clientEnv(server, extra = {}) {
  return { ...process.env, LD_LIBRARY_PATH: [SHIM_DIR, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'), GPUPOOL_SERVERS: server, ...extra };
}
