import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root: dist/paths.js and src/paths.ts both sit one level below it. */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Where `make -C native` puts the fake vendor libraries (the `--simulate` backend). */
export const fakeLibraryDir = join(packageRoot, 'build', 'native', 'fakes');

/** The fixture `--simulate` uses when none is named. */
export const defaultFixture = join(packageRoot, 'native', 'fakes', 'fixtures', 'default.json');

/** The emulated CUDA driver (docs/emulator.md): the compute backend of `--simulate`. */
export const emulatedDriver = join(packageRoot, 'build', 'native', 'fakes', 'cuda', 'libcuda.so.1');

/** The emulator's test kernels, used by `--simulate` unless GPUPOOL_EMU_KERNELS names others. */
export const emulatedKernels = join(packageRoot, 'build', 'native', 'fakes', 'cuda', 'kernels', 'libgpupool_test_kernels.so');

/** Where gpupool's client library (libcuda.so.1) is built; `gpupool run` puts it first on LD_LIBRARY_PATH. */
export const clientLibraryDir = join(packageRoot, 'build', 'native', 'shim');

/** The pool dashboard's page, script and style, served as they are (src/server/dashboard.ts). */
export const dashboardAssetsDir = join(packageRoot, 'src', 'server', 'dashboard-ui');
