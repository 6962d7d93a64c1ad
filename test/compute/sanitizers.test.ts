/**
 * Nothing leaked, nothing read out of bounds: the C libraries rebuilt with AddressSanitizer (leak
 * detection on) and UBSan (`make -C native asan`, into build/asan), under real programs:
 * - the fake vendor libraries (NVML, ROCm SMI, DCMI) under a C program that calls every entry point;
 * - the emulated driver under an unmodified driver-API program, directly;
 * - the client library under driver-API and runtime programs (static cudart) against a daemon, over
 *   TCP and over the daemon's Unix socket;
 * - the emulated driver inside a daemon, under a burst of protocol fuzzing, then the programs of
 *   cooperative launches, device asserts, mipmapped textures and textures.cu (texture views pinned for
 *   a launch, layered and cubemap sampling), and the device heap (device_heap.cu).
 * The programs are not built with ASan, so libasan comes first by LD_PRELOAD. Any report fails.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { clientLibraryDir, packageRoot } from '../../src/paths.js';
import { loadOpTable } from '../../src/protocol/client.js';
import { runFuzz } from '../../src/protocol/fuzz/run.js';
import { DaemonProcess, onTestTransport } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { buildFatbin, buildProgram } from '../helpers/programs.js';

const ASAN = join(packageRoot, 'build', 'asan');
const build = spawnSync('make', ['-C', join(packageRoot, 'native'), 'asan'], { encoding: 'utf8' });
const libasan = spawnSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim();
const fatbin = buildFatbin();
const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());

/** What makes a sanitizer's report fail the run, and keeps its stack readable. */
const SANITIZER_ENV = {
  ASAN_OPTIONS: 'detect_leaks=1:exitcode=23:abort_on_error=0',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1:exitcode=24',
};
const REPORT = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined)/;

function clean(t: Test, what: string, run: SpawnSyncReturns<string>): void {
  const output = `${run.stdout}${run.stderr}`;
  t.equal(run.status, 0, `${what} exits 0`, { output: output.slice(-6000) });
  t.notMatch(output, REPORT, `${what}: no sanitizer report`);
}

/** The environment of a program that loads sanitized libraries: libasan first, then `env`. */
function sanitized(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...process.env, ...SANITIZER_ENV, LD_PRELOAD: libasan, ...env };
}

t.test('make -C native asan builds the sanitized libraries', async (t) => {
  t.equal(build.status, 0, 'built', { output: `${build.stdout}${build.stderr}`.slice(-4000) });
  t.match(libasan, /^\/.*libasan\.so/, 'gcc names its libasan');
});

t.test('the fake vendor libraries: every entry point, good and bad arguments, init twice', async (t) => {
  const program = join(ASAN, 'test', 'vendor_calls');
  for (const [what, path] of [['the fixture', fixture.path], ['no fixture (every init fails)', join(fixture.dir, 'absent.json')]]) {
    const run = spawnSync(program, [], { encoding: 'utf8', env: { ...process.env, ...SANITIZER_ENV, GPUPOOL_SIM_FIXTURE: path }, timeout: 60_000 });
    clean(t, `vendor_calls with ${what}`, run);
    t.match(run.stdout, /every call made/);
  }
});

t.test('the emulated driver under an unmodified driver-API program', async (t) => {
  const run = spawnSync(buildProgram('driver_api.c'), [fatbin], {
    encoding: 'utf8',
    timeout: 120_000,
    env: sanitized({
      LD_LIBRARY_PATH: join(ASAN, 'fakes', 'cuda'),
      GPUPOOL_SIM_FIXTURE: fixture.path,
      GPUPOOL_EMU_KERNELS: join(ASAN, 'fakes', 'cuda', 'kernels', 'libgpupool_test_kernels.so'),
    }),
  });
  clean(t, 'driver_api on the emulated driver', run);
  t.match(run.stdout, /^PASS$/m);
});

t.test('the client library under driver-API and runtime programs, against a daemon', async (t) => {
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)]);
  t.teardown(() => daemon.stop());
  const env = sanitized({ LD_LIBRARY_PATH: join(ASAN, 'shim'), GPUPOOL_SERVERS: onTestTransport(daemon.url.replace(/^http/, 'ws')) });
  for (const [what, argv] of [
    ['driver_api', [buildProgram('driver_api.c'), fatbin]],
    ['runtime (static cudart)', [buildProgram('runtime.cu')]],
    ['pitch (2D copies, static cudart)', [buildProgram('pitch.cu')]],
    ['graph_nodes (graphs built node by node, captures made in the job)', [buildProgram('graph_nodes.cu')]],
    ['graph_conditional (conditional nodes: graphs that live on the daemon too)', [buildProgram('graph_conditional.cu')]],
  ] as const) {
    const run = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env, timeout: 120_000 });
    clean(t, what, run);
    t.match(run.stdout, /^PASS$/m, `${what} passed`);
  }
});

t.test('the client library over the local socket, found with no GPUPOOL_SERVERS', async (t) => {
  const socket = join(fixture.dir, 'gpupool.sock');
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG), '--local-socket', socket]);
  t.teardown(() => daemon.stop());
  const env = sanitized({ LD_LIBRARY_PATH: join(ASAN, 'shim'), GPUPOOL_LOCAL_SOCKET: socket });
  delete env.GPUPOOL_SERVERS;
  const run = spawnSync(buildProgram('driver_api.c'), [fatbin], { encoding: 'utf8', env, timeout: 120_000 });
  clean(t, 'driver_api over unix://', run);
  t.match(run.stdout, /^PASS$/m, 'driver_api passed');
  const connected = await daemon.waitFor((l) => l.msg === 'client connected');
  t.match(String(connected.peer), /^unix:pid=\d+,uid=\d+$/, 'it came through the socket');
});

t.test('every allocating API (quota_apis): the emulated driver, and the client library against a daemon', async (t) => {
  const program = buildProgram('quota_apis.c');
  const small = new FixtureFile({ nvidia: { cards: [{ ...mixedHost().nvidia!.cards[0]!, memoryTotal: 256 * 1024 ** 2 }] } });
  t.teardown(() => small.remove());
  const direct = spawnSync(program, [], { encoding: 'utf8', timeout: 120_000, env: sanitized({ LD_LIBRARY_PATH: join(ASAN, 'fakes', 'cuda'), GPUPOOL_SIM_FIXTURE: small.path }) });
  clean(t, 'quota_apis on the emulated driver', direct);
  t.match(direct.stdout, /^PASS$/m);

  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)]);
  t.teardown(() => daemon.stop());
  const env = sanitized({ LD_LIBRARY_PATH: join(ASAN, 'shim'), GPUPOOL_SERVERS: onTestTransport(daemon.url.replace(/^http/, 'ws')), GPUPOOL_REQUEST: 'mem=256MiB' });
  const remote = spawnSync(program, [], { encoding: 'utf8', env, timeout: 120_000 });
  clean(t, 'quota_apis through the client library', remote);
  t.match(remote.stdout, /^PASS$/m);
});

t.test('the emulated driver inside a daemon, under protocol fuzzing and the launch and texture programs', async (t) => {
  // Sessions as threads: the sanitized driver then runs inside the daemon, whose report this test
  // reads, and the fuzz's 1,500 connections do not each start a worker process under the sanitizer.
  const config = writeConfig(fixture.dir, { ...QUICK_CONFIG, compute: { driver: join(ASAN, 'fakes', 'cuda', 'libcuda.so.1'), sessionProcess: 'thread' } }, 'asan.json');
  // Node itself is not built for LeakSanitizer: out-of-bounds accesses and UB are what count here.
  const env = { ...sanitized({ GPUPOOL_EMU_KERNELS: join(ASAN, 'fakes', 'cuda', 'kernels', 'libgpupool_test_kernels.so') }), ASAN_OPTIONS: 'detect_leaks=0:exitcode=23' };
  // A daemon on the sanitized driver starts slower: a minute before its listening line, on a loaded host.
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', config], env, 60_000);
  const report = await runFuzz({ url: `${daemon.url.replace(/^http/, 'ws')}/v1/compute`, ops: loadOpTable(), seed: 7, cases: 1500, floods: 0, floodBytes: 0, oversized: 0, maxMessageBytes: 2 ** 30, concurrency: 2, timeoutMs: 20_000 });
  t.same(report.failures.slice(0, 5), [], `${report.cases} cases ended as they should`);
  // Cooperative grids, an assert's sticky error and printf, mipmapped textures and surfaces on levels,
  // the device heap.
  const client = sanitized({ LD_LIBRARY_PATH: join(ASAN, 'shim'), GPUPOOL_SERVERS: onTestTransport(daemon.url.replace(/^http/, 'ws')) });
  for (const program of ['coop_launch.cu', 'device_assert.cu', 'mipmaps.cu', 'textures.cu', 'device_heap.cu']) {
    const run = spawnSync(buildProgram(program), [], { encoding: 'utf8', env: client, timeout: 120_000 });
    clean(t, program, run);
    t.match(run.stdout, /^PASS$/m, `${program} passed`);
    if (program === 'textures.cu') {
      // Asserted by name: the shared program folder may hold another tree's build of textures.cu.
      t.match(run.stdout, /^a layered texture sampled layer by layer ok$/m, 'layered sampling checked');
      t.match(run.stdout, /^a cubemap sampled along each face's directions gives that face's texels ok$/m, 'cubemap sampling checked');
    }
  }
  t.equal(await daemon.stop(), 0, 'the daemon stopped cleanly');
  t.notMatch(daemon.stderr.join(''), REPORT, 'no sanitizer report from the daemon');
});

