import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
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
 * `shared`; relocatable device code and the device runtime with `rdc`, as kernels that launch kernels
 * need; one architecture with `arch`, where the kernels' names carry it, as CUB's do), `.c` against cuda.h, linked to the name libcuda.so.1 as any CUDA program is.
 */
export function buildProgram(source: string, options: { shared?: boolean; rdc?: boolean; arch?: string } = {}): string {
  mkdirSync(OUT, { recursive: true });
  const src = join(SOURCES, source);
  const name = `${source.replace(/\.(cu|cc|c)$/, '')}${options.shared ? '-shared' : ''}`;
  const out = join(OUT, name);
  // Programs include the headers beside them, and may include the emulator's test kernels, so that
  // their CPU versions run them.
  const headers = readdirSync(SOURCES).filter((f) => f.endsWith('.h')).map((f) => join(SOURCES, f));
  // `.cc`: a tool of the daemon's own shared state (the card scheduler's), built with that module, no driver.
  const addon = join(packageRoot, 'native', 'addon');
  const cc = source.endsWith('.cc');
  if (fresh(out, cc ? [src, join(addon, 'card_state.cc'), join(addon, 'card_state.h')] : [src, KERNELS, ...headers])) return out;
  if (cc) {
    execFileSync('c++', ['-std=c++17', '-O1', '-I', addon, '-o', out, src, join(addon, 'card_state.cc'), '-lpthread'], { stdio: 'pipe' });
  } else if (source.endsWith('.cu')) {
    const rdc = options.rdc ? ['-rdc=true', '-lcudadevrt'] : [];
    const arch = options.arch ? [`-arch=sm_${options.arch}`] : [];
    execFileSync(NVCC, [...(options.shared ? ['-cudart', 'shared'] : []), ...rdc, ...arch, '-o', out, src], { stdio: 'pipe' });
  } else {
    execFileSync('cc', ['-std=c11', '-O1', '-I', join(CUDA_HOME, 'include'), '-o', out, src, '-L', clientLibraryDir, '-l:libcuda.so.1'], { stdio: 'pipe' });
  }
  return out;
}

// The emulator's test kernels built by nvcc from the same source the emulator mirrors, once per change.
function buildKernels(kind: 'fatbin' | 'ptx'): string {
  mkdirSync(OUT, { recursive: true });
  const out = join(OUT, `test_kernels.${kind}`);
  if (!fresh(out, [KERNELS])) execFileSync(NVCC, [`-${kind}`, '-o', out, KERNELS], { stdio: 'pipe' });
  return out;
}

/** The emulator's test kernels as a real fatbin. */
export const buildFatbin = (): string => buildKernels('fatbin');

/** The emulator's test kernels as PTX (what JIT linking takes). */
export const buildPtx = (): string => buildKernels('ptx');
