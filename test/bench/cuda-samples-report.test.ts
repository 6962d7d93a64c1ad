/**
 * The conformance run's judgement of one sample (bench/cuda-samples/report.js): the samples themselves
 * are not in the repository, so this checks, on outputs shaped as the client library and the samples
 * write them, what the run reports (docs/compatibility.md).
 */
import t from 'tap';
// @ts-expect-error bench/ is plain JavaScript
import { absentFeature, judge, namedCalls, table } from '../../bench/cuda-samples/report.js';

const notCarried = (call: string) =>
  `gpupool: ${call} is not carried by gpupool (not supported by its client library); it returned CUDA_ERROR_NOT_SUPPORTED\n`;
const MANAGED =
  'gpupool: cuMemAllocManaged is not supported: managed memory must be addressable by this host, and the card is on the daemon\'s; it returned CUDA_ERROR_NOT_SUPPORTED\n';

t.test('the exit status decides a pass and a waiver of the sample\'s own', async (t) => {
  t.same(judge({ output: 'Test PASSED\n', code: 0, signal: null, timeoutSeconds: 90 }), { result: 'pass', why: '', notCarried: [] });
  const waived = judge({ output: 'Waiving execution as X server is not running\n', code: 2, signal: null, timeoutSeconds: 90 });
  t.equal(waived.result, 'waived');
  t.equal(waived.why, 'Waiving execution as X server is not running');
});

t.test('a failure names the calls gpupool refused, each once, and the sample\'s last words', async (t) => {
  const output = `${notCarried('cuGraphCreate')}${notCarried('cuGraphCreate')}${notCarried('cuMemcpy3D_v2')}Graph Launch iterations = 3\n`;
  const r = judge({ output, code: 1, signal: null, timeoutSeconds: 90 });
  t.equal(r.result, 'fail');
  t.same(r.notCarried, ['cuGraphCreate', 'cuMemcpy3D_v2']);
  t.equal(r.why, 'not carried: cuGraphCreate, cuMemcpy3D_v2; Graph Launch iterations = 3');
});

t.test('a kernel the emulator cannot run is said apart from gpupool\'s calls', async (t) => {
  const r = judge({ output: 'CUDA error code=209(cudaErrorNoKernelImageForDevice)\nRunning...\n', code: 1, signal: null, timeoutSeconds: 90 });
  t.equal(r.result, 'fail');
  t.match(r.why, /^a kernel with no CPU implementation for the emulator .*Running\.\.\.$/);
});

t.test('a failure after a documented-absent feature was refused is waived, naming it', async (t) => {
  const managed = judge({ output: `${MANAGED}CUDA error ... cudaMallocManaged\n`, code: 1, signal: null, timeoutSeconds: 90 });
  t.equal(managed.result, 'waived');
  t.match(managed.why, /^needs managed memory \(cuMemAllocManaged\), which gpupool documents as absent/);
  const ipc = judge({ output: `${notCarried('cuIpcGetMemHandle')}PP: lshmName = x\n`, code: 1, signal: null, timeoutSeconds: 90 });
  t.equal(ipc.result, 'waived');
  t.match(ipc.why, /inter-process memory handles \(cuIpcGetMemHandle\)/);
  t.equal(absentFeature('cuGraphicsGLRegisterBuffer')?.feature, 'graphics interop');
  t.equal(absentFeature('cuGraphCreate'), undefined, 'graphs are not documented absent: their samples fail');
  t.same(namedCalls(MANAGED), ['cuMemAllocManaged']);
  const glut = judge({ output: "Starting...\nfreeglut (./boxFilter): failed to open display ':0'\n", code: 1, signal: null, timeoutSeconds: 90 });
  t.equal(glut.result, 'waived');
  t.match(glut.why, /^needs an X display for OpenGL/);
});

t.test('a timeout fails, whatever was printed', async (t) => {
  const r = judge({ output: MANAGED, code: null, signal: 'SIGKILL', timeoutSeconds: 90 });
  t.same([r.result, r.why], ['fail', 'timed out after 90 s']);
});

t.test('the table counts each result and keeps cells to one printable line', async (t) => {
  const text = table([
    { cat: '0_Introduction', name: 'vectorAdd', result: 'pass', why: '' },
    { cat: '0_Introduction', name: 'simpleIPC', result: 'waived', why: 'needs a | b' },
    { cat: '3_CUDA_Features', name: 'ptxjit', result: 'fail', why: 'bytes \u0001\u00ff here' },
    { cat: '3_CUDA_Features', name: 'cdpQuadtree', result: 'not built', why: 'no executable' },
  ]);
  const lines = text.split('\n');
  t.equal(lines[0], '1 passed, 1 failed, 1 waived, 1 not built, of 4.');
  t.ok(lines.includes('| 0_Introduction/simpleIPC | waived | needs a \\| b |'));
  t.ok(lines.includes('| 3_CUDA_Features/ptxjit | fail | bytes  here |'));
});
