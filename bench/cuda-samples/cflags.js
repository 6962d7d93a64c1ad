/**
 * How the conformance run compiles CPU kernels (run.js builds the kernel library, speed.js times the
 * heaviest kernels with the same flags, test/compute/thrust-sort.test.ts loads the library): -O3
 * -march=native, since the kernels run on this host's CPU and the heaviest samples multiply 8192-wide
 * matrices.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export function kernelFlags(root, cudaHome) {
  return ['-std=c11', '-D_POSIX_C_SOURCE=200809L', '-O3', '-march=native', '-Wall', '-Wextra', '-I', join(cudaHome, 'include'), '-I', join(root, 'native', 'fakes', 'cuda')];
}

/** The kernel library of every bench/cuda-samples/*.c, built as `out` (a GPUPOOL_EMU_KERNELS entry). */
export function buildKernelLibrary(root, cudaHome, out) {
  const sources = readdirSync(here).filter((f) => f.endsWith('.c')).map((f) => join(here, f));
  execFileSync('cc', [...kernelFlags(root, cudaHome), '-fPIC', '-shared', '-o', out, ...sources, '-lm']);
  return out;
}
