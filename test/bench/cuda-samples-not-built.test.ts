/**
 * Why a sample was not built (bench/cuda-samples/not-built.js), read from a cache's build logs shaped
 * as CMake and make write them: the dependency CMake did not find, the first error the sample's
 * compilation or link stopped at, or that no log names it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
// @ts-expect-error bench/ is plain JavaScript
import { notBuiltReasons } from '../../bench/cuda-samples/not-built.js';

const cache = mkdtempSync(join(tmpdir(), 'gpupool-not-built-'));
t.teardown(() => rmSync(cache, { recursive: true, force: true }));
writeFileSync(join(cache, 'configure.log'), [
  '-- MPI not found - will not build sample \'simpleMPI\'',
  'CMake Error at Samples/0_Introduction/clock_nvrtc/CMakeLists.txt:30 (target_link_libraries):',
  '  Target "clock_nvrtc" links to:',
  '',
  '    CUDA::nvrtc',
  '',
  '  but the target was not found.  Possible reasons include:',
  '',
].join('\n'));
writeFileSync(join(cache, 'build-0_Introduction.log'), [
  '[  0%] Building CXX object Samples/0_Introduction/clock_nvrtc/CMakeFiles/clock_nvrtc.dir/clock.cpp.o',
  '/cache/src/Samples/0_Introduction/clock_nvrtc/clock.cpp:38:10: fatal error: cuda_runtime.h: No such file or directory',
  '[  3%] Linking CXX executable EGLStream_CUDA_Interop',
  '/usr/bin/ld: cannot find -lCUDA::cuda_driver: No such file or directory',
  'make[2]: *** [Samples/2_Concepts_and_Techniques/EGLStream_CUDA_Interop/CMakeFiles/EGLStream_CUDA_Interop.dir/build.make:146] Error 1',
].join('\n'));
const why = notBuiltReasons(cache);

t.test('the dependency CMake did not find, and where the build stopped', async (t) => {
  t.equal(why('0_Introduction', 'simpleMPI'), 'needs MPI, which CMake did not find on the build machine (configure.log)');
  t.equal(
    why('0_Introduction', 'clock_nvrtc'),
    'needs CUDA::nvrtc, which CMake did not find on the build machine (configure.log); its build stopped at cuda_runtime.h: No such file or directory',
  );
  t.equal(why('2_Concepts_and_Techniques', 'EGLStream_CUDA_Interop'), 'its build stopped at the link: cannot find -lCUDA::cuda_driver');
});

t.test('a sample no log names was never reached', async (t) => {
  t.equal(why('2_Concepts_and_Techniques', 'segmentationTreeThrust'), 'no build log names it: the build was cut short before it');
  t.equal(notBuiltReasons(join(cache, 'absent'))('0_Introduction', 'simpleMPI'), 'no build log names it: the build was cut short before it');
});
