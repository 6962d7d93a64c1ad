/**
 * The CUDA surface NVIDIA's cuda-samples use (issue 11), each part by an unmodified program run through
 * `gpupool run` against a simulated daemon: test/programs/samples_driver.c (driver API: CUDA 13's
 * cuCtxCreate, profiler markers, occupancy with a callback and with library kernels, no host-memory
 * mapping promised, legacy unversioned symbols, a call not carried named once by its symbol, module
 * and library variables) and test/programs/samples_runtime.cu (the same through cudart: occupancy of
 * its kernel handles, the profiler, cudaMemcpyToSymbol and __constant__ memory a kernel reads, host
 * functions run in the job's process in stream order, stream and peer attributes), and
 * test/programs/device_printf.cu (a kernel's printf reaches the job's stdout at each synchronisation
 * that flushes it, never the daemon's) and test/programs/array_copies.cu (CUDA arrays, 2D and 3D copies
 * naming them, the driver's linear array copies) and test/programs/link_jit.c (JIT linking as ptxjit does
 * it, the link state in the client, the link on the daemon) and test/programs/textures.cu (texture and
 * surface objects sampled and written by kernels) and test/programs/graph_nodes.cu (graphs built node by
 * node, kept in the job's process, their host memory and host nodes in stream order) and
 * test/programs/graph_conditional.cu (conditional nodes: graphs that live on the daemon, set from
 * device code).
 */
import t, { type Test } from 'tap';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { buildFatbin, buildProgram, buildPtx } from '../helpers/programs.js';

const samplesDriver = buildProgram('samples_driver.c');
const samplesRuntime = buildProgram('samples_runtime.cu');
const devicePrintf = buildProgram('device_printf.cu');
const arrayCopies = buildProgram('array_copies.cu');
const linkJit = buildProgram('link_jit.c');
const textures = buildProgram('textures.cu');
const graphNodes = buildProgram('graph_nodes.cu');
const graphConditional = buildProgram('graph_conditional.cu');
const ptx = buildPtx();
const fatbin = buildFatbin();

const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
// One daemon for every program: each runs as a client of its own.
const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)]);
t.teardown(() => daemon.stop());
const server = daemon.url.replace(/^http/, 'ws');

/**
 * Runs `gpupool run --servers <daemon> ARGS`: the program must exit 0 and report each check
 * ("<what> ok", one assertion each) and its closing PASS.
 */
async function runPassing(t: Test, args: string[], checks: string[]): Promise<{ stdout: string; stderr: string }> {
  const run = await runCli(['run', '--servers', server, ...args]);
  t.equal(run.code, 0, `${args.join(' ')} exits 0\n${run.stdout}${run.stderr}`);
  const lines = run.stdout.split('\n');
  for (const check of checks) t.ok(lines.includes(`${check} ok`), check);
  t.match(run.stdout, /^PASS$/m);
  return run;
}

t.test('the driver-API surface of the samples', async (t) => {
  const run = await runPassing(t, ['--', samplesDriver, fatbin], [
    'cuCtxCreate_v4 makes a current context',
    'cuCtxCreate_v4 with execution affinity is refused',
    'cuProfilerStart/Stop',
    'cuCtxResetPersistingL2Cache',
    'cuLogsRegisterCallback/Unregister',
    'CAN_MAP_HOST_MEMORY 0 and no device pointer for host memory',
    'cuOccupancyMaxActiveBlocksPerMultiprocessor',
    'cuOccupancyMaxPotentialBlockSize with a callback',
    'cuOccupancyMaxPotentialBlockSizeWithFlags under a limit',
    'a library kernel as a CUfunction',
    'legacy cuCtxCreate/cuCtxDestroy by dlsym',
    'a call not carried answers CUDA_ERROR_NOT_SUPPORTED',
    'cuModuleGetGlobal: a kernel reads what the host wrote',
    'a copy past a module variable is refused',
    'an unknown variable is CUDA_ERROR_NOT_FOUND',
    'cuLibraryGetGlobal: the library\'s own variable',
    'an unloaded module\'s variable is no longer the program\'s',
  ]);
  t.notMatch(run.stderr, /a driver log callback was called/, 'a registered log callback is never called');
  // Called twice, named once, by its symbol, as gpupool's.
  t.equal(run.stderr.match(/^gpupool: cuDeviceGetLuid is not carried by gpupool\b.*CUDA_ERROR_NOT_SUPPORTED$/gm)?.length, 1, 'a call not carried is named once');
  t.equal(run.stderr.match(/^gpupool: cuMemHostGetDevicePointer_v2 is not carried by gpupool\b/gm)?.length, 1, 'so is host-memory mapping');
});

t.test('the runtime-API surface of the samples', async (t) => {
  const run = await runPassing(t, ['--gpus', 'all', '--', samplesRuntime], [
    'occupancy of a runtime kernel',
    'a kernel reads __constant__ memory set by cudaMemcpyToSymbol',
    'a __device__ counter read back by cudaMemcpyFromSymbol',
    '__constant__ memory read back',
    'cudaGetSymbolAddress and a memset of it',
    'a copy past a variable\'s end is refused',
    'every host function ran by cudaStreamSynchronize',
    'host functions ran in stream order',
    'each host function saw the copy before it',
    'a stream callback gets the stream\'s status',
    'a host function on the default stream, by cudaDeviceSynchronize',
    'a stream attribute set and read back',
    'no peer access between a job\'s devices',
  ]);
  t.notMatch(run.stderr, /not carried/, 'every call the program makes is carried');
});

t.test('device printf reaches the job\'s stdout at the synchronisation that flushes it', async (t) => {
  const run = await runCli(['run', '--servers', server, '--', devicePrintf]);
  t.equal(run.code, 0, `device_printf exits 0\n${run.stdout}${run.stderr}`);
  const lines = run.stdout.split('\n').filter((l) => l !== '');
  /** The kernel's lines of one round: one per thread, in whatever order the card ran them. */
  const round = (n: number, blocks: number, threads: number): string[] => {
    const want: string[] = [];
    for (let b = 0; b < blocks; b++) for (let i = 0; i < threads; i++) want.push(`round ${n}: block ${b} thread ${i}`);
    return want;
  };
  // Each round's lines sit between the host line before its flush and the host line after it.
  const expected: [string, string[]][] = [
    ['host: before cudaDeviceSynchronize', round(1, 2, 2)],
    ['host: after cudaDeviceSynchronize', round(2, 1, 3)],
    ['host: after cudaStreamSynchronize', round(3, 1, 2)],
    ['host: after cudaEventSynchronize', round(4, 1, 1)],
    ['host: after cudaMemcpy', round(5, 1, 2)],
  ];
  const flushes = ['cudaDeviceSynchronize', 'cudaStreamSynchronize', 'cudaEventSynchronize', 'a blocking cudaMemcpy', 'cudaDeviceReset'];
  expected.forEach(([before, want], i) => {
    const at = lines.indexOf(before);
    t.ok(at >= 0, `the program printed "${before}"`);
    t.same(lines.slice(at + 1, at + 1 + want.length).sort(), want, `round ${i + 1} printed by ${flushes[i]}, each line once`);
  });
  t.equal(lines.indexOf('host: after cudaDeviceReset'), lines.length - 2, 'nothing printed after the last flush but the host\'s lines');
  t.equal(lines.filter((l) => l.startsWith('round ')).length, 4 + 3 + 2 + 1 + 2, 'no kernel line twice');
  t.notOk(daemon.logs.some((l) => /^round \d/.test(String(l.msg))), 'none of it in the daemon\'s stdout');
});

t.test('CUDA arrays and box copies', async (t) => {
  const run = await runPassing(t, ['--', arrayCopies], [
    'cudaMemcpy2DToArray and cudaMemcpy2DFromArray round trip',
    'array to array, then array to pitched device memory',
    'a window of an array at an offset',
    'a copy past an array\'s last column is refused',
    'cudaMemcpy3D host to 3D array, array to pitched device memory and back on a stream',
    'a sub-box of a 3D array at an offset, and nothing around it',
    'a box past an array\'s last plane is refused',
    'cuMemcpyDtoA, cuMemcpyAtoA and cuMemcpyAtoD',
    'cuMemcpyAtoD past the array\'s end is refused',
  ]);
  t.notMatch(run.stderr, /not carried/, 'every call the program makes is carried');
});

t.test('JIT linking: the link state in the job, the link on the daemon', async (t) => {
  const run = await runPassing(t, ['--', linkJit, ptx], [
    'cuLinkComplete hands out an image',
    'the logs come back terminated',
    'the wall time is written',
    'a kernel of the linked image runs',
    'an image linked from a file',
    'PTX that does not compile is refused',
    'a NULL link state is an invalid handle',
  ]);
  t.notMatch(run.stderr, /not carried/, 'every call the program makes is carried');
});

t.test('texture and surface objects', async (t) => {
  const run = await runPassing(t, ['--', textures], [
    'point filtering, normalised coordinates, wrapping',
    'a texture\'s resource is the program\'s array',
    'linear filtering between texels, clamped at the edge',
    'wrap without normalised coordinates clamps, as a GPU does',
    'pitched device memory sampled, clamped',
    '8-bit texels read as normalised floats, the border outside',
    'a kernel writes an array through a surface',
    'a layered texture sampled layer by layer',
    'a cubemap sampled along each face\'s directions gives that face\'s texels',
  ]);
  t.notMatch(run.stderr, /not carried/, 'every call the program makes is carried');
});

t.test('graphs built node by node: host memory and host nodes in the job, in stream order', async (t) => {
  const run = await runPassing(t, ['--', graphNodes], [
    'nodes, roots and a node\'s type listed',
    'edges, a node\'s dependents, a host node\'s parameters, a node destroyed',
    'each launch ran its nodes in order, the host node after the copy back',
    'the host node ran once per launch, in the job\'s process',
    'a kernel node\'s parameters changed in the executable graph',
    'a clone runs the graph\'s own parameters',
    'cudaGraphExecUpdate takes the graph\'s new parameters',
    'cudaGraphAddNode and cudaGraphAddDependencies: the memset before the kernel',
    'an allocation node\'s memory filled, copied back, freed with the graph',
    'a captured memset, launch and device copy replayed in order',
    'an event record node is refused',
    'a capture with host work, forked to a second stream and joined, replays in the job',
    'host work after device work moves the capture into the job, a joined stream included',
    'a graph handle not this process\'s is refused',
  ]);
  t.match(run.stderr, /^gpupool: cuGraphAddNode: event record nodes are not carried by gpupool\b/m, 'a node kind not carried is named');
  t.notMatch(run.stderr, /is not carried by gpupool \(not supported/, 'every call the program makes is carried');
});

t.test('conditional graph nodes: IF, IF/ELSE, WHILE and SWITCH on the daemon, set from device code', async (t) => {
  const run = await runPassing(t, ['--', graphConditional], [
    'if',
    'if else',
    'second instantiation',
    'switch',
    'instantiate with params',
    'while',
    'into a graph: the capture hands out its graph',
    'into a graph: capture dependencies',
    'into a graph: the capture ends with the graph it handed out',
    'captured graph holds three nodes',
    'capture into a body',
    'captured conditional',
    'plain capture: the capture hands out its graph',
    'plain capture: capture dependencies',
    'plain capture: the capture ends with the graph it handed out',
    'captured while',
    'host node refused',
    'foreign handle refused',
  ]);
  t.match(run.stderr, /^gpupool: cuGraphInstantiate: a host node in a graph with conditional nodes is not carried by gpupool\b/m, 'the host node is named');
  t.notMatch(run.stderr, /is not carried by gpupool \(not supported/, 'every call the program makes is carried');
});
