/**
 * The CUDA surface NVIDIA's cuda-samples use (issue 11), each part by an unmodified program run through
 * `gpupool run` against a simulated daemon: test/programs/samples_driver.c (driver API: CUDA 13's
 * cuCtxCreate, profiler markers, occupancy with a callback and with library kernels, no host-memory
 * mapping promised, legacy unversioned symbols, a call not carried named once by its symbol).
 */
import t from 'tap';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { buildFatbin, buildProgram } from '../helpers/programs.js';

const samplesDriver = buildProgram('samples_driver.c');
const fatbin = buildFatbin();

const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());

t.test('the driver-API surface of the samples', async (t) => {
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)]);
  t.teardown(() => daemon.stop());
  const server = daemon.url.replace(/^http/, 'ws');

  const run = await runCli(['run', '--servers', server, '--', samplesDriver, fatbin]);
  t.equal(run.code, 0, `samples_driver exits 0\n${run.stdout}${run.stderr}`);
  for (const line of [
    'cuCtxCreate_v4 makes a current context',
    'cuCtxCreate_v4 with execution affinity is refused',
    'cuProfilerStart/Stop',
    'CAN_MAP_HOST_MEMORY 0 and no device pointer for host memory',
    'cuOccupancyMaxActiveBlocksPerMultiprocessor',
    'cuOccupancyMaxPotentialBlockSize with a callback',
    'cuOccupancyMaxPotentialBlockSizeWithFlags under a limit',
    'a library kernel as a CUfunction',
    'legacy cuCtxCreate/cuCtxDestroy by dlsym',
    'a call not carried answers CUDA_ERROR_NOT_SUPPORTED',
  ]) {
    t.ok(run.stdout.split('\n').includes(`${line} ok`), line);
  }
  t.match(run.stdout, /^PASS$/m);
  // Called twice, named once, by its symbol, as gpupool's.
  t.equal(run.stderr.match(/^gpupool: cuDeviceGetLuid is not carried by gpupool\b.*CUDA_ERROR_NOT_SUPPORTED$/gm)?.length, 1, 'a call not carried is named once');
  t.equal(run.stderr.match(/^gpupool: cuMemHostGetDevicePointer_v2 is not carried by gpupool\b/gm)?.length, 1, 'so is host-memory mapping');
});
