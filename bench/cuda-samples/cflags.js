/**
 * How the conformance run compiles CPU kernels (run.js builds the kernel library, speed.js times the
 * heaviest kernels with the same flags): -O3 -march=native, since the kernels run on this host's CPU
 * and the heaviest samples multiply 8192-wide matrices.
 */
import { join } from 'node:path';

export function kernelFlags(root, cudaHome) {
  return ['-std=c11', '-D_POSIX_C_SOURCE=200809L', '-O3', '-march=native', '-Wall', '-Wextra', '-I', join(cudaHome, 'include'), '-I', join(root, 'native', 'fakes', 'cuda')];
}
