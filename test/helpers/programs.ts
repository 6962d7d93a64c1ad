import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientLibraryDir, packageRoot } from '../../src/paths.js';

export const CUDA_HOME = process.env.CUDA_HOME ?? '/usr/local/cuda';
export const NVCC = join(CUDA_HOME, 'bin', 'nvcc');
const OUT = join(tmpdir(), 'gpupool-test-programs');
const SOURCES = join(packageRoot, 'test', 'programs');
const KERNELS = join(packageRoot, 'native', 'fakes', 'cuda', 'kernels', 'test_kernels.cu');

function fresh(output: string, inputs: string[]): boolean {
  if (!existsSync(output)) return false;
  const built = statSync(output).mtimeMs;
  return inputs.every((i) => statSync(i).mtimeMs <= built);
}

/**
 * Builds a test program once per change of its source: `.cu` with nvcc (static cudart unless
 * `shared`), `.c` against cuda.h, linked to the name libcuda.so.1 as any CUDA program is.
 */
export function buildProgram(source: string, options: { shared?: boolean } = {}): string {
  mkdirSync(OUT, { recursive: true });
  const src = join(SOURCES, source);
  const name = `${source.replace(/\.(cu|c)$/, '')}${options.shared ? '-shared' : ''}`;
  const out = join(OUT, name);
  // Programs may include the emulator's test kernels, so that their CPU versions run them.
  if (fresh(out, [src, KERNELS])) return out;
  if (source.endsWith('.cu')) {
    execFileSync(NVCC, [...(options.shared ? ['-cudart', 'shared'] : []), '-o', out, src], { stdio: 'pipe' });
  } else {
    execFileSync('cc', ['-std=c11', '-O1', '-I', join(CUDA_HOME, 'include'), '-o', out, src, '-L', clientLibraryDir, '-l:libcuda.so.1'], { stdio: 'pipe' });
  }
  return out;
}

/** The emulator's test kernels as a real fatbin, made by nvcc from the same source the emulator mirrors. */
export function buildFatbin(): string {
  mkdirSync(OUT, { recursive: true });
  const src = join(packageRoot, 'native', 'fakes', 'cuda', 'kernels', 'test_kernels.cu');
  const out = join(OUT, 'test_kernels.fatbin');
  if (!fresh(out, [src])) execFileSync(NVCC, ['-fatbin', '-o', out, src], { stdio: 'pipe' });
  return out;
}

/** The emulator's test kernels as PTX, made by nvcc from the same source (what JIT linking takes). */
export function buildPtx(): string {
  mkdirSync(OUT, { recursive: true });
  const src = join(packageRoot, 'native', 'fakes', 'cuda', 'kernels', 'test_kernels.cu');
  const out = join(OUT, 'test_kernels.ptx');
  if (!fresh(out, [src])) execFileSync(NVCC, ['-ptx', '-o', out, src], { stdio: 'pipe' });
  return out;
}
